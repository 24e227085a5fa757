-- onair schema for PostgreSQL, version 1: the SQLite migrations 0001 and 0002
-- in one. Never edit a migration that has landed; add one.
-- Instants are Unix milliseconds (BIGINT), as in SQLite; JSON documents are
-- JSONB. Identifiers and keys compare and sort bytewise (COLLATE "C"), as in
-- SQLite, whatever the database's collation.

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    slug               TEXT COLLATE "C" NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    timezone           TEXT NOT NULL,
    grace_seconds      BIGINT NOT NULL CHECK (grace_seconds >= 0),
    busy_message       TEXT NOT NULL,
    offline_message    TEXT NOT NULL,
    hide_when_offline  BOOLEAN NOT NULL,
    busy_after_seconds BIGINT NOT NULL CHECK (busy_after_seconds >= 0),
    allowed_origins    JSONB NOT NULL,  -- array of origins; empty = any
    office_hours       JSONB,           -- OfficeHoursSpec, NULL = none set
    -- The automatic replies: NULL for the default text in the visitor's
    -- language, '' for none.
    offline_reply      TEXT,
    busy_reply         TEXT,
    version            BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

CREATE TABLE agents (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    email         TEXT COLLATE "C" NOT NULL,  -- lower-cased
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    status        TEXT NOT NULL CHECK (status IN ('online', 'busy', 'offline')),
    password_hash TEXT NOT NULL,              -- argon2id PHC string
    created_at    BIGINT NOT NULL,
    UNIQUE (account_id, email)
);

CREATE TABLE groups (
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key          TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    office_hours JSONB,             -- OfficeHoursSpec, NULL = follows the account's
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE agent_groups (
    agent_id   TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    account_id TEXT COLLATE "C" NOT NULL,
    group_key  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (agent_id, group_key),
    FOREIGN KEY (account_id, group_key) REFERENCES groups (account_id, key) ON DELETE CASCADE
);

-- The foreign key's other side: deleting a group finds its memberships.
CREATE INDEX agent_groups_group ON agent_groups (account_id, group_key);

CREATE TABLE sessions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    agent_id   TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE, -- SHA-256 of the bearer token; the token itself is never stored
    device     TEXT NOT NULL,
    last_seen  BIGINT NOT NULL,       -- last sign of life
    streaming  BOOLEAN NOT NULL,      -- true while an agent stream was open
    created_at BIGINT NOT NULL
);

CREATE INDEX sessions_agent ON sessions (agent_id);

CREATE TABLE conversations (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    account_id         TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The group of the chat box it started in; NULL for the site. Not a foreign
    -- key: a deleted group's conversations stay (and count as the site's).
    group_key          TEXT COLLATE "C",
    state              TEXT NOT NULL CHECK (state IN ('open', 'offline', 'closed')),
    name               TEXT,
    email              TEXT,
    -- SHA-256 of the visitor's token; the token itself is never stored.
    visitor_token_hash BYTEA NOT NULL,
    lang               TEXT,            -- the chat box language, for default replies
    created_at         BIGINT NOT NULL,
    last_message_at    BIGINT NOT NULL,
    -- Automatic replies (shared/src/conversation.rs): the start of the current
    -- wait for an agent (NULL: nobody waits), whether that wait had an
    -- automatic reply, whether the conversation had its offline reply.
    waiting_since      BIGINT,
    replied_in_wait    BOOLEAN NOT NULL DEFAULT false,
    offline_replied    BOOLEAN NOT NULL DEFAULT false
);

-- An account's inbox, newest first, whole or by group.
CREATE INDEX conversations_recent ON conversations (account_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_group_recent
    ON conversations (account_id, group_key, last_message_at DESC, id DESC);
-- Conversations whose busy reply is pending, loaded at start-up.
CREATE INDEX conversations_waiting ON conversations (account_id)
    WHERE waiting_since IS NOT NULL AND NOT replied_in_wait AND state <> 'closed';

CREATE TABLE messages (
    -- Strictly increasing over the whole database: the SSE event id that
    -- Last-Event-ID resumes after. A sequence never hands out a value twice.
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author          TEXT NOT NULL CHECK (author IN ('visitor', 'agent', 'bot')),
    agent_id        TEXT COLLATE "C",   -- not a foreign key: replies outlive a deleted agent
    text            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX messages_conversation ON messages (conversation_id, seq);
