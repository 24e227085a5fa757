-- onair schema, version 7: Web Push subscriptions of the agent's app
-- (docs/notifications.md). Never edit a migration that has landed; add one.
-- Instants are Unix ms. (Version 6 is the webhooks migration.)

-- At most one subscription per session (device): the browser's push
-- endpoint and the keys its messages are encrypted for. It ends with the
-- session (logout, a revoked device, a deleted agent).
CREATE TABLE push_subscriptions (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL,
    p256dh     TEXT NOT NULL,   -- base64url, 65 bytes: the device's P-256 public key
    auth       TEXT NOT NULL,   -- base64url, 16 bytes: its authentication secret
    created_at INTEGER NOT NULL
);

CREATE INDEX push_subscriptions_account ON push_subscriptions (account_id);
