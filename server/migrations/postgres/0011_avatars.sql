-- onair schema for PostgreSQL, version 11: agents' pictures (the SQLite
-- migration 0010; docs/api.md, "Avatars"). Never edit a migration that has
-- landed; add one. Instants are Unix ms.

-- At most one picture per agent, gone with the agent. `hash` is the SHA-256
-- of `bytes` in lower-case hex: the picture is served, to anyone, at
-- /api/v1/avatars/{hash}, so a new picture has a new address and an old
-- one can be cached for good.
CREATE TABLE agent_avatars (
    agent_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash         TEXT COLLATE "C" NOT NULL,
    content_type TEXT NOT NULL,   -- image/png, image/jpeg, image/webp or image/gif
    bytes        BYTEA NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX agent_avatars_hash ON agent_avatars (hash);
