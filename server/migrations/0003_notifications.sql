-- onair schema, version 3: email notifications (docs/notifications.md).
-- Never edit a migration that has landed; add one. Instants are Unix ms.

-- Whether the agent gets an email for each offline message of its scopes.
ALTER TABLE agents ADD COLUMN email_notifications INTEGER NOT NULL DEFAULT 1;

-- Notifications waiting to be sent, written in the same transaction as the
-- message that causes them. A worker claims due items by moving
-- next_attempt_at forward (a lease), sends them and sets sent_at; a failure
-- counts an attempt and schedules the next one; failed_at ends retrying.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,      -- 'email'
    payload         TEXT NOT NULL,      -- JSON, as the kind defines it
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT
);

-- The items still to send, by when they are due.
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
