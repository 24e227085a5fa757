-- onair schema, version 10: agents' pictures (docs/api.md, "Avatars").
-- Never edit a migration that has landed; add one. Instants are Unix ms.

-- At most one picture per agent, gone with the agent. `hash` is the SHA-256
-- of `bytes` in lower-case hex: the picture is served, to anyone, at
-- /api/v1/avatars/{hash}, so a new picture has a new address and an old
-- one can be cached for good.
CREATE TABLE agent_avatars (
    agent_id     TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash         TEXT NOT NULL,
    content_type TEXT NOT NULL,   -- image/png, image/jpeg, image/webp or image/gif
    bytes        BLOB NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX agent_avatars_hash ON agent_avatars (hash);
