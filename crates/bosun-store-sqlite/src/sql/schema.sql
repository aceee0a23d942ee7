CREATE TABLE IF NOT EXISTS ops (
    jti TEXT PRIMARY KEY,
    iss TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    runbook TEXT NOT NULL,
    targets INTEGER NOT NULL,
    read_only INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    claims TEXT NOT NULL,
    plan TEXT NOT NULL,
    decision TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Budgets sum the hosts of an issuer's changing ops in a window: covering,
-- and partial, so that a read-only op (which no budget counts) never
-- writes it.
CREATE INDEX IF NOT EXISTS ops_budget_changing ON ops(iss, created_at, targets)
    WHERE read_only = 0 AND state != 'denied';
CREATE TABLE IF NOT EXISTS issuer_seq (iss TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (
    jti TEXT PRIMARY KEY,
    op TEXT NOT NULL,
    iss TEXT NOT NULL,
    role TEXT NOT NULL,
    claims TEXT NOT NULL,
    envelope TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_op ON approvals(op);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    chk TEXT NOT NULL,
    message TEXT NOT NULL,
    jti TEXT,
    iss TEXT,
    input_digest TEXT NOT NULL
);
-- Rows are never deleted, so plain rowids only grow (no AUTOINCREMENT,
-- whose counter table every enqueue would write).
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    enqueued_at INTEGER NOT NULL,
    delivered_token INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_pending ON queue(acked, id);
CREATE TABLE IF NOT EXISTS steps (
    jti TEXT NOT NULL,
    idx INTEGER NOT NULL,
    step TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    output TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (jti, idx)
);
CREATE TABLE IF NOT EXISTS host_locks (
    host TEXT NOT NULL,
    jti TEXT NOT NULL,
    shared INTEGER NOT NULL,
    PRIMARY KEY (host, jti)
);
CREATE TABLE IF NOT EXISTS ledger (
    idx INTEGER PRIMARY KEY,
    jti TEXT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    entry BLOB NOT NULL,
    leaf BLOB NOT NULL,
    root BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_once ON ledger(jti, kind, key) WHERE jti IS NOT NULL;
-- The perfect subtrees' hashes (level >= 1), keyed by in-order position
-- (see `tree_pos`): the ones an append completes sit at the end of the
-- table, so a commit writes one or two of its pages, not one per level.
CREATE TABLE IF NOT EXISTS ledger_tree (
    pos INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_frontier (
    name TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    hashes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS halt (
    name TEXT PRIMARY KEY,
    why TEXT NOT NULL,
    by TEXT NOT NULL,
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    proposer TEXT NOT NULL,
    digest TEXT NOT NULL,
    items TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blockers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    owner TEXT NOT NULL,
    filed_by TEXT NOT NULL,
    op TEXT,
    since INTEGER NOT NULL,
    snoozed_until INTEGER NOT NULL DEFAULT 0,
    resolved_at INTEGER,
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS blockers_active ON blockers(resolved_at, kind, subject);
CREATE TABLE IF NOT EXISTS host_state (
    host TEXT PRIMARY KEY,
    drifted_since INTEGER,
    drift_reason TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    version_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS remembered (
    name TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reminders (
    subject TEXT PRIMARY KEY,
    sent INTEGER NOT NULL DEFAULT 0,
    last_at INTEGER NOT NULL DEFAULT 0,
    snoozed_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS adopted (
    subject TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    content TEXT NOT NULL,
    proposal TEXT NOT NULL,
    adopted_at INTEGER NOT NULL
);
