-- Schema 4: the queue without AUTOINCREMENT, ids and items unchanged.
CREATE TABLE queue_v4 (
    id INTEGER PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    enqueued_at INTEGER NOT NULL,
    delivered_token INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    acked INTEGER NOT NULL DEFAULT 0
);
INSERT INTO queue_v4 (id, jti, enqueued_at, delivered_token, attempts, acked)
    SELECT id, jti, enqueued_at, delivered_token, attempts, acked FROM queue;
DROP TABLE queue;
ALTER TABLE queue_v4 RENAME TO queue;
