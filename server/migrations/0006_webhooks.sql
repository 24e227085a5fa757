-- onair schema, version 6: webhooks (docs/notifications.md, "Webhooks").
-- Never edit a migration that has landed; add one. Instants are Unix ms.

-- An account's webhook: where events are posted and the secret they are
-- signed with. Each delivery is an outbox item of kind 'webhook'.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,      -- JSON array of event names
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX webhooks_account ON webhooks (account_id, created_at);

-- The delivery log an admin reads: one row per attempt, the newest kept.
CREATE TABLE webhook_attempts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id     TEXT NOT NULL,  -- the outbox item's id, the body's "id"
    event           TEXT NOT NULL,
    attempted_at    INTEGER NOT NULL,
    status          INTEGER,        -- the HTTP status, when there was an answer
    error           TEXT,           -- NULL when delivered
    next_attempt_at INTEGER         -- NULL when delivered or given up
);

CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, seq);
