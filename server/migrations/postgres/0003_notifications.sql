-- onair schema for PostgreSQL, version 3: email notifications (the SQLite
-- migration 0003; docs/notifications.md). Never edit a migration that has
-- landed; add one. Instants are Unix ms.

-- Whether the agent gets an email for each offline message of its scopes.
ALTER TABLE agents ADD COLUMN email_notifications BOOLEAN NOT NULL DEFAULT true;

-- Notifications waiting to be sent, written in the same transaction as the
-- message that causes them. Nodes claim due items with FOR UPDATE SKIP LOCKED
-- by moving next_attempt_at forward (a lease: a node that dies mid-send lets
-- it fall due again), send them and set sent_at; a failure counts an attempt
-- and schedules the next one; failed_at ends retrying.
CREATE TABLE outbox (
    id              TEXT COLLATE "C" PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,      -- 'email'
    payload         JSONB NOT NULL,     -- as the kind defines it
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);

-- The items still to send, by when they are due.
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
