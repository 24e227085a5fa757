-- onair schema for PostgreSQL, version 2: cluster mode (docs/cluster.md).
-- Never edit a migration that has landed; add one. Instants are Unix ms.

-- The nodes of a cluster, one row per process start (its incarnation). A
-- node whose heartbeat is older than the membership timeout is dead; the
-- streams it held count as the sessions' last sign of life at that heartbeat.
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped      BOOLEAN NOT NULL DEFAULT false
);

-- Open agent streams per session and node.
CREATE TABLE session_streams (
    session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    node_id    TEXT COLLATE "C" NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    streams    INTEGER NOT NULL CHECK (streams > 0),
    PRIMARY KEY (session_id, node_id)
);
CREATE INDEX session_streams_node ON session_streams (node_id);

-- What each scope's chat boxes were last told, with the account's version at
-- that change: derived under the account row's lock, so that a change is
-- published once for the whole cluster and versions rise strictly.
-- scope: '' for the whole site, else the group's key.
CREATE TABLE scope_status (
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    scope      TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    snapshot   TEXT NOT NULL,
    PRIMARY KEY (account_id, scope)
);
