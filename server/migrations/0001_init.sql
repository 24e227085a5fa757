-- onair schema, version 1. Never edit a migration that has landed; add one.
-- Instants are Unix milliseconds (INTEGER); JSON documents are TEXT.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    slug               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    timezone           TEXT NOT NULL,
    grace_seconds      INTEGER NOT NULL,
    busy_message       TEXT NOT NULL,
    offline_message    TEXT NOT NULL,
    hide_when_offline  INTEGER NOT NULL,
    busy_after_seconds INTEGER NOT NULL,
    allowed_origins    TEXT NOT NULL,   -- JSON array of origins; empty = any
    office_hours       TEXT,            -- JSON OfficeHoursSpec, NULL = none set
    version            INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,    -- lower-cased
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    status        TEXT NOT NULL CHECK (status IN ('online', 'busy', 'offline')),
    password_hash TEXT NOT NULL,    -- argon2id PHC string
    created_at    INTEGER NOT NULL,
    UNIQUE (account_id, email)
);

CREATE TABLE groups (
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    office_hours TEXT,              -- JSON OfficeHoursSpec, NULL = follows the account's
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE agent_groups (
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    PRIMARY KEY (agent_id, group_key),
    FOREIGN KEY (account_id, group_key) REFERENCES groups (account_id, key) ON DELETE CASCADE
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE, -- SHA-256 of the bearer token; the token itself is never stored
    device     TEXT NOT NULL,
    last_seen  INTEGER NOT NULL,     -- last sign of life
    streaming  INTEGER NOT NULL,     -- 1 while an agent stream was open
    created_at INTEGER NOT NULL
);

CREATE INDEX sessions_agent ON sessions (agent_id);
