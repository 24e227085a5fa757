-- onair schema, version 2: conversations and messages (CONTRACT §3), and the
-- automatic replies' texts. Never edit a migration that has landed; add one.
-- Instants are Unix milliseconds (INTEGER).

-- NULL: the default text in the visitor's language; '': no automatic reply.
ALTER TABLE accounts ADD COLUMN offline_reply TEXT;
ALTER TABLE accounts ADD COLUMN busy_reply TEXT;

CREATE TABLE conversations (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The group of the chat box it started in; NULL for the site. Not a foreign
    -- key: a deleted group's conversations stay (and count as the site's).
    group_key          TEXT,
    state              TEXT NOT NULL CHECK (state IN ('open', 'offline', 'closed')),
    name               TEXT,
    email              TEXT,
    -- SHA-256 of the visitor's token; the token itself is never stored.
    visitor_token_hash BLOB NOT NULL,
    lang               TEXT,            -- the chat box language, for default replies
    created_at         INTEGER NOT NULL,
    last_message_at    INTEGER NOT NULL,
    -- Automatic replies (shared/src/conversation.rs): the start of the current
    -- wait for an agent (NULL: nobody waits), whether that wait had an
    -- automatic reply, whether the conversation had its offline reply.
    waiting_since      INTEGER,
    replied_in_wait    INTEGER NOT NULL DEFAULT 0,
    offline_replied    INTEGER NOT NULL DEFAULT 0
);

-- An account's inbox, newest first, whole or by group.
CREATE INDEX conversations_recent ON conversations (account_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_group_recent
    ON conversations (account_id, group_key, last_message_at DESC, id DESC);
-- Conversations whose busy reply is pending, loaded at start-up.
CREATE INDEX conversations_waiting ON conversations (account_id)
    WHERE waiting_since IS NOT NULL AND replied_in_wait = 0 AND state <> 'closed';

CREATE TABLE messages (
    -- Strictly increasing over the whole database: the SSE event id that
    -- Last-Event-ID resumes after. AUTOINCREMENT never reuses a value.
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author          TEXT NOT NULL CHECK (author IN ('visitor', 'agent', 'bot')),
    agent_id        TEXT,               -- not a foreign key: replies outlive a deleted agent
    text            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE INDEX messages_conversation ON messages (conversation_id, seq);
