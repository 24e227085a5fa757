-- onair schema, version 4: agents an admin disabled (docs/hardening.md).
-- Never edit a migration that has landed; add one.

-- A disabled agent cannot log in and counts for no chat box; it keeps its
-- records (replies it wrote, its settings) until it is deleted.
ALTER TABLE agents ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
