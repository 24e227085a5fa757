-- onair schema for PostgreSQL, version 8: open visitor streams per node
-- (cluster mode; docs/notifications.md, "Replies to absent visitors").
-- Never edit a migration that has landed; add one.

-- How many visitor streams of a conversation a node has open. A reply emails
-- the visitor only when no live node has one. Rows of a node go with it.
CREATE TABLE visitor_streams (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    node_id         TEXT COLLATE "C" NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    streams         INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, node_id)
);
CREATE INDEX visitor_streams_node ON visitor_streams (node_id);
