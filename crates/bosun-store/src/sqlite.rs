//! The embedded backend: one SQLite file (WAL, `synchronous=FULL`) holding
//! ops, decisions, approvals, runs, step results, issuer sequence numbers,
//! the queue, events, the controller lease, the halt and adoptions.
//!
//! One connection per process behind a mutex; SQLite serialises writers
//! across processes, and `busy_timeout` makes a second process wait rather
//! than fail. Every public method is one `IMMEDIATE` transaction.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bosun_ledger::merkle::{Frontier, Hash, leaf_hash};
use bosun_model::{Digest, Jti, KeyId, OpState, Role, canonical_json};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::records::*;
use crate::{Queue, Result, StoreError, SubmitConflict, UNKNOWN_OUTCOME};

/// 2: events became ledger entries (`ledger` and friends replace `events`).
/// 3: blockers, host state and rollouts (tables created on open).
/// 4: the ledger's subtree hashes keyed by their in-order position
///    (`ledger_tree` replaces `ledger_nodes`); the ops indexes an intake
///    commit writes cut to those a query uses; the queue without
///    AUTOINCREMENT (see [`migrate_to_4`]).
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = r#"
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
"#;

/// The SQLite-backed [`Backend`](crate::Backend).
pub struct SqliteStore {
    /// The writer: every transaction.
    conn: Mutex<Connection>,
    /// A second connection for reads, so that queries (budgets, lists)
    /// never wait behind a group commit; WAL lets it read while the writer
    /// writes, and it sees every committed transaction.
    reader: Mutex<Connection>,
    /// Stops the background checkpointer when the store is dropped.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Raised by the background checkpointer once the log is long (see
    /// [`CATCH_UP_FRAMES`]): the writer then backfills what was committed
    /// meanwhile, so that its next transaction starts the log over (see
    /// [`spawn_checkpointer`]).
    catch_up: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Checkpoints the WAL every `CHECKPOINT_EVERY` from a connection of its
/// own, so that no commit pays for copying the bulk of the WAL into the
/// database (the writer's automatic checkpoint is off). PASSIVE never
/// blocks writers or readers; when the last connection closes SQLite
/// checkpoints anyway.
///
/// A checkpoint alone never lets the log start over under steady load:
/// it copies the frames committed before it began, and by the time it ends
/// the writer has committed more, so the log is never wholly backfilled
/// when a transaction starts, and SQLite appends to it for as long as the
/// load lasts (348 MB in 10 s at 2,000 ops/s, so a day of it would fill a
/// disk). So once the log passes [`CATCH_UP_FRAMES`] the checkpointer
/// raises `catch_up`; the writer, before its next transaction, checkpoints
/// the few frames committed meanwhile (PASSIVE again, on its own
/// connection), and that transaction writes the log from its start (and
/// SQLite cuts the file back to `journal_size_limit`).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

fn spawn_checkpointer(
    path: &Path,
    stop: Arc<std::sync::atomic::AtomicBool>,
    catch_up: Arc<std::sync::atomic::AtomicBool>,
    every: Duration,
) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let conn = connect(path)?;
    std::thread::Builder::new()
        .name("bosun-checkpoint".into())
        .spawn(move || {
            let tick = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while !stop.load(Relaxed) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= every {
                    waited = Duration::ZERO;
                    checkpoint_once(&conn, &catch_up, CATCH_UP_FRAMES);
                }
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

/// Frames in the log past which the writer is asked to catch up and start
/// it over: 1 GiB of 4 KiB pages. A bound on the log's size, not a speed-up:
/// the catch-up holds one commit (0.4–1.5 s on this machine with a log of
/// 1 GiB, as SQLite also cuts the file back; 30–60 ms with one of 50 MB),
/// so at a sustained 2,000 ops/s it happens about every 20 s, and never in
/// a load with pauses. (Catching up after every checkpoint took intake's
/// p50 at 2,000 ops/s from 2.5–5.9 ms to 1.5–3.4 ms, as the log's syncs
/// were then overwrites rather than appends, but its p99 to 21–47 ms.)
const CATCH_UP_FRAMES: i64 = 262_144;

/// One background checkpoint. When the log has `catch_up_at` frames or
/// more, it raises `catch_up`, after going again while a round still found
/// many new frames (each PASSIVE round copies those committed before it
/// began and takes about as long as they are many, so the rounds shrink),
/// so that the writer's catch-up copies only what one short round let
/// through.
fn checkpoint_once(conn: &Connection, catch_up: &std::sync::atomic::AtomicBool, catch_up_at: i64) {
    /// Frames a writer may be left to copy (a few intake commits' worth).
    const LEAVE: i64 = 256;
    let mut copied: Option<i64> = None;
    for _ in 0..4 {
        // (busy, frames in the log, frames checkpointed)
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        let Ok((0, frames, backfilled)) = done else {
            return;
        };
        if frames <= 0 || frames < catch_up_at {
            return;
        }
        let fresh = backfilled - copied.unwrap_or(0);
        copied = Some(backfilled);
        if fresh < LEAVE {
            break;
        }
    }
    catch_up.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// How long a connection waits for another process's lock.
const BUSY_WAIT: Duration = Duration::from_secs(30);

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(be)?;
    configure(conn)
}

/// Opens the database at `path` only if the file exists (never creates
/// it), and reads nothing from it yet.
fn connect_existing(path: &Path) -> Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(be)?;
    conn.busy_timeout(BUSY_WAIT).map_err(be)?;
    Ok(conn)
}

/// The pragmas every connection of the store runs with (the first one
/// turns a new database into WAL mode: a write).
fn configure(conn: Connection) -> Result<Connection> {
    conn.busy_timeout(BUSY_WAIT).map_err(be)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(be)?;
    // A write-ahead log that grew under sustained load is cut back to
    // this once a checkpoint lets it start over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(be)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(be)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(be)?;
    // A larger page cache, and no memory-mapped reads: with the file
    // mapped, every read transaction after a commit that grew it unmapped
    // and remapped it, and each unmap stops every CPU for a TLB flush (on
    // a VM, a wait for the other vCPU to run); `bosun bench intake` and
    // `bench ledger` are faster without.
    conn.pragma_update(None, "cache_size", -65536).map_err(be)?;
    conn.pragma_update(None, "mmap_size", 0).map_err(be)?;
    Ok(conn)
}

fn be(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn state_of(s: &str) -> Result<OpState> {
    OpState::parse(s).ok_or_else(|| corrupt("op state", s))
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| corrupt("role", s))
}

fn jti_of(s: String) -> Result<Jti> {
    Jti::try_from(s).map_err(|e| corrupt("jti", e))
}

/// The smallest string above every string that starts with `prefix`,
/// for an indexed range `col >= prefix AND col < bound`; `None` when
/// `prefix` holds a character no id may (ids are ASCII letters, digits,
/// `-`, `_` and `.`), so that it matches nothing.
fn prefix_bound(prefix: &str) -> Option<String> {
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return None;
    }
    // The last byte is an ASCII letter, digit or punctuation below 0x7f:
    // one above it is still ASCII, and above every continuation.
    let mut bytes = prefix.as_bytes().to_vec();
    let last = bytes.last_mut()?;
    *last += 1;
    String::from_utf8(bytes).ok()
}

/// The range query of [`ids_with_prefix`].
fn prefix_sql(table: &str, col: &str) -> String {
    format!("SELECT {col} FROM {table} WHERE {col} >= ?1 AND {col} < ?2 ORDER BY {col} LIMIT ?3")
}

/// The ids in `table`'s `col` (its primary key) that start with
/// `prefix`, in byte order, at most `limit`: a range scan of the key's
/// index.
fn ids_with_prefix(
    c: &Connection,
    table: &str,
    col: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<Jti>> {
    let Some(bound) = prefix_bound(prefix) else {
        return Ok(Vec::new());
    };
    let mut st = c.prepare_cached(&prefix_sql(table, col)).map_err(be)?;
    let rows = st
        .query_map(
            params![prefix, bound, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get::<_, String>(0),
        )
        .map_err(be)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(jti_of(row.map_err(be)?)?);
    }
    Ok(out)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Appends a ledger entry in the caller's transaction: the canonical JSON of
/// `{at, data, jti, kind, step}`, its leaf hash, and the tree root after
/// it, with the frontier (the roots of the perfect subtrees covering the
/// log) updated in the same transaction. An entry identical in `jti`,
/// `kind`, `step` and `data` to one already recorded is not appended again
/// (jti idempotency): the existing one stands. An entry over
/// [`MAX_ENTRY_BYTES`] is refused, and with it the whole transaction.
fn event(
    tx: &Transaction<'_>,
    at: i64,
    jti: Option<&str>,
    kind: &str,
    step: Option<&str>,
    data: &serde_json::Value,
) -> Result<()> {
    let mut l = LedgerTx::default();
    l.event(tx, at, jti, kind, step, data)?;
    l.finish(tx)
}

/// The ledger appends of one transaction that records many entries (a
/// group commit of ops): the frontier is read at the first entry and
/// written once by [`LedgerTx::finish`], not once per entry. While one is
/// in use, every entry of the transaction must go through it.
#[derive(Default)]
struct LedgerTx {
    frontier: Option<Frontier>,
    dirty: bool,
}

impl LedgerTx {
    /// Appends an entry (see [`event`]).
    fn event(
        &mut self,
        tx: &Transaction<'_>,
        at: i64,
        jti: Option<&str>,
        kind: &str,
        step: Option<&str>,
        data: &serde_json::Value,
    ) -> Result<()> {
        let frontier = match &mut self.frontier {
            Some(f) => f,
            None => self.frontier.insert(load_frontier(tx)?),
        };
        if append(tx, frontier, at, jti, kind, step, data)? {
            self.dirty = true;
        }
        Ok(())
    }

    /// Stores the frontier if an entry was appended.
    fn finish(self, tx: &Transaction<'_>) -> Result<()> {
        match (&self.frontier, self.dirty) {
            (Some(f), true) => save_frontier(tx, f),
            _ => Ok(()),
        }
    }
}

/// The in-order position of the perfect subtree of `level` and index
/// `idx` (leaves at even positions, a level-`l` node between the two
/// halves it covers): `idx·2^(l+1) + 2^l − 1`. Positions only grow as the
/// log grows, so new nodes are appended. `None` past `i64`.
fn tree_pos(level: u32, idx: u64) -> Option<i64> {
    let half = 1u64.checked_shl(level)?;
    let pos = idx
        .checked_mul(half.checked_mul(2)?)?
        .checked_add(half - 1)?;
    i64::try_from(pos).ok()
}

fn load_frontier(tx: &Transaction<'_>) -> Result<Frontier> {
    let (size, hashes): (i64, Vec<u8>) = tx
        .prepare_cached("SELECT size, hashes FROM ledger_frontier WHERE name = 'ledger'")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(be)?
        .unwrap_or((0, Vec::new()));
    let size = u64::try_from(size).map_err(|_| corrupt("ledger frontier", "negative size"))?;
    Frontier::from_bytes(size, &hashes)
        .ok_or_else(|| corrupt("ledger frontier", "hash list does not match the size"))
}

fn save_frontier(tx: &Transaction<'_>, frontier: &Frontier) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO ledger_frontier (name, size, hashes) VALUES ('ledger', ?1, ?2)
         ON CONFLICT(name) DO UPDATE SET size = excluded.size, hashes = excluded.hashes",
    )
    .and_then(|mut st| st.execute(params![i64_of(frontier.size()), frontier.to_bytes()]))
    .map_err(be)?;
    Ok(())
}

/// Appends one entry against an in-memory `frontier` (the caller saves it
/// before the transaction commits). Returns whether it appended (false:
/// the same fact was already recorded).
fn append(
    tx: &Transaction<'_>,
    frontier: &mut Frontier,
    at: i64,
    jti: Option<&str>,
    kind: &str,
    step: Option<&str>,
    data: &serde_json::Value,
) -> Result<bool> {
    // Canonical JSON sorts keys, and `at` sorts first: the entry is the
    // body with `"at":<at>,` put in front, and the idempotency key is the
    // digest of the body (everything but the time).
    #[derive(serde::Serialize)]
    struct Body<'a> {
        data: &'a serde_json::Value,
        jti: Option<&'a str>,
        kind: &'a str,
        step: Option<&'a str>,
    }
    let body = canonical_json(&Body {
        data,
        jti,
        kind,
        step,
    })
    .map_err(|e| StoreError::Backend(format!("ledger entry: {e}")))?;
    let key = Digest::of(&body).short().to_string();
    let mut entry = format!("{{\"at\":{at},").into_bytes();
    entry.extend_from_slice(body.get(1..).unwrap_or_default());
    if entry.len() > MAX_ENTRY_BYTES {
        return Err(StoreError::Conflict(format!(
            "a `{kind}` ledger entry of {} bytes is over the limit of {MAX_ENTRY_BYTES}; nothing was written",
            entry.len()
        )));
    }
    // Insert first: the unique index on (jti, kind, key) refuses the same
    // fact twice, and then nothing else changes.
    let size = frontier.size();
    let leaf = leaf_hash(&entry);
    let mut next = frontier.clone();
    let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
    next.push_nodes(leaf, |level, idx, h| nodes.push((level, idx, *h)));
    let root = next.root();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ledger (idx, jti, kind, key, entry, leaf, root) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(jti, kind, key) WHERE jti IS NOT NULL DO NOTHING",
        )
        .and_then(|mut st| st.execute(params![i64_of(size), jti, kind, key, entry, &leaf[..], &root[..]]))
        .map_err(be)?;
    if inserted == 0 {
        return Ok(false);
    }
    for (level, idx, h) in &nodes {
        let pos = tree_pos(*level, *idx).ok_or_else(|| {
            StoreError::Conflict(format!(
                "the ledger is full: subtree {level}/{idx} has no position; nothing was written"
            ))
        })?;
        tx.prepare_cached("INSERT OR REPLACE INTO ledger_tree (pos, hash) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![pos, &h[..]]))
            .map_err(be)?;
    }
    *frontier = next;
    Ok(true)
}

/// An [`Event`] from a stored ledger entry (the entry is what the tree
/// hashes, so it is what is shown).
fn event_of(idx: i64, entry: &[u8]) -> Result<Event> {
    #[derive(serde::Deserialize)]
    struct E {
        at: i64,
        jti: Option<String>,
        kind: String,
        step: Option<String>,
        data: serde_json::Value,
    }
    let e: E = serde_json::from_slice(entry)
        .map_err(|err| corrupt("ledger entry", format!("index {idx}: {err}")))?;
    Ok(Event {
        id: idx,
        at: e.at,
        jti: e.jti,
        kind: e.kind,
        step: e.step,
        data: e.data,
    })
}

fn enqueue(tx: &Transaction<'_>, jti: &str, at: i64) -> Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO queue (jti, enqueued_at) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![jti, at]))
        .map_err(be)?;
    Ok(())
}

/// `execute` through the connection's statement cache: the hot paths (a
/// step's two writes) skip re-parsing their SQL.
fn exec_cached(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<usize> {
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(p))
        .map_err(be)
}

fn check_fence(tx: &Transaction<'_>, lease: &Lease) -> Result<()> {
    let cur: Option<(String, i64)> = tx
        .prepare_cached("SELECT holder, token FROM lease WHERE name = 'controller'")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(be)?;
    match cur {
        Some((h, t)) if h == lease.holder && t == i64_of(lease.token) => Ok(()),
        _ => Err(StoreError::Fenced { token: lease.token }),
    }
}

fn op_state(tx: &Transaction<'_>, jti: &Jti) -> Result<OpState> {
    let s: Option<String> = tx
        .query_row(
            "SELECT state FROM ops WHERE jti = ?1",
            [jti.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(be)?;
    match s {
        Some(s) => state_of(&s),
        None => Err(StoreError::NoSuchOp(jti.clone())),
    }
}

fn set_state(
    tx: &Transaction<'_>,
    jti: &Jti,
    state: OpState,
    detail: Option<&str>,
    now: i64,
) -> Result<()> {
    match detail {
        Some(d) => tx.execute(
            "UPDATE ops SET state = ?2, detail = ?3, updated_at = ?4 WHERE jti = ?1",
            params![jti.as_str(), state.as_str(), d, now],
        ),
        None => tx.execute(
            "UPDATE ops SET state = ?2, updated_at = ?3 WHERE jti = ?1",
            params![jti.as_str(), state.as_str(), now],
        ),
    }
    .map_err(be)?;
    Ok(())
}

fn read_steps(conn: &Connection, jti: &str) -> Result<Vec<StepResult>> {
    let mut st = conn
        .prepare_cached(
            "SELECT idx, step, host, status, exit_code, duration_ms, output, started_at, finished_at
             FROM steps WHERE jti = ?1 ORDER BY idx",
        )
        .map_err(be)?;
    let rows = st
        .query_map([jti], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i32>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })
        .map_err(be)?;
    let mut out = Vec::new();
    for row in rows {
        let (idx, step, host, status, exit_code, dur, output, s, f) = row.map_err(be)?;
        out.push(StepResult {
            idx: u32::try_from(idx).map_err(|e| corrupt("step index", e))?,
            step,
            host,
            status: StepStatus::parse(&status).ok_or_else(|| corrupt("step status", &status))?,
            exit_code,
            duration_ms: u64::try_from(dur).unwrap_or(0),
            output,
            started_at: s,
            finished_at: f,
        });
    }
    Ok(out)
}

fn read_approvals(conn: &Connection, op: &str) -> Result<Vec<ApprovalRow>> {
    let mut st = conn
        .prepare_cached("SELECT claims, role, received_at FROM approvals WHERE op = ?1 ORDER BY received_at, jti")
        .map_err(be)?;
    let rows = st
        .query_map([op], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(be)?;
    let mut out = Vec::new();
    for row in rows {
        let (c, role, at) = row.map_err(be)?;
        out.push(ApprovalRow {
            claims: from_json("approval claims", &c)?,
            role: role_of(&role)?,
            received_at: at,
        });
    }
    Ok(out)
}

fn insert_approval(tx: &Transaction<'_>, a: &NewApproval) -> Result<()> {
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO approvals (jti, op, iss, role, claims, envelope, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                a.claims.jti.as_str(),
                a.claims.op.as_str(),
                a.claims.iss.as_str(),
                a.role.as_str(),
                to_json(&a.claims)?,
                a.envelope,
                a.received_at
            ],
        )
        .map_err(be)?;
    if n == 0 {
        return Err(StoreError::ApprovalReplay(a.claims.jti.clone()));
    }
    Ok(())
}

/// The `CREATE` statement of table `name`, if there is one.
fn table_sql(tx: &Transaction<'_>, name: &str) -> Result<Option<String>> {
    tx.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
    .map_err(be)
}

/// Schema 1 kept events in a plain `events` table: they become ledger
/// entries, in their order, in one transaction, and the table goes.
fn migrate_events_to_ledger(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(be)?;
    if table_sql(&tx, "events")?.is_some() {
        /// (at, jti, kind, step, data) of a schema-1 event.
        type OldEvent = (i64, Option<String>, String, Option<String>, String);
        let rows: Vec<OldEvent> = {
            let mut st = tx
                .prepare("SELECT at, jti, kind, step, data FROM events ORDER BY id")
                .map_err(be)?;
            let it = st
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(be)?;
            it.collect::<std::result::Result<_, _>>().map_err(be)?
        };
        for (at, jti, kind, step, data) in rows {
            let data: serde_json::Value = from_json("event data", &data)?;
            event(&tx, at, jti.as_deref(), &kind, step.as_deref(), &data)?;
        }
        tx.execute("DROP TABLE events", []).map_err(be)?;
    }
    tx.commit().map_err(be)
}

/// Schema 4, in one transaction (idempotent, so two processes opening an
/// old file at once are safe): the ledger's subtree hashes move from
/// `ledger_nodes (level, idx)` to `ledger_tree (pos)` (see `tree_pos`);
/// the ops indexes that no query could use (`ops_iss_created`,
/// `ops_state`) or that every read-only op paid for (`ops_budget`, now the
/// partial `ops_budget_changing` that `SCHEMA` creates) are dropped; the
/// queue is rebuilt without AUTOINCREMENT, ids and items unchanged. A
/// subtree whose position does not fit is refused as corrupt and nothing
/// changes.
fn migrate_to_4(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(be)?;
    tx.execute_batch(
        "DROP INDEX IF EXISTS ops_iss_created;
         DROP INDEX IF EXISTS ops_budget;
         DROP INDEX IF EXISTS ops_state;
         CREATE TABLE IF NOT EXISTS ledger_tree (pos INTEGER PRIMARY KEY, hash BLOB NOT NULL);",
    )
    .map_err(be)?;
    if table_sql(&tx, "queue")?.is_some_and(|q| q.contains("AUTOINCREMENT")) {
        tx.execute_batch(
            "CREATE TABLE queue_v4 (
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
             ALTER TABLE queue_v4 RENAME TO queue;",
        )
        .map_err(be)?;
    }
    if table_sql(&tx, "ledger_nodes")?.is_some() {
        let (all, fit): (i64, i64) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(level BETWEEN 1 AND 61 AND idx >= 0 AND idx < (1 << (61 - level))), 0)
                 FROM ledger_nodes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(be)?;
        if all != fit {
            return Err(corrupt(
                "ledger subtree hashes",
                format!(
                    "{} of {all} have a level or index no ledger of this size has",
                    all - fit
                ),
            ));
        }
        tx.execute_batch(
            "INSERT OR REPLACE INTO ledger_tree (pos, hash)
                 SELECT (idx << (level + 1)) + (1 << level) - 1, hash FROM ledger_nodes;
             DROP TABLE ledger_nodes;",
        )
        .map_err(be)?;
    }
    tx.commit().map_err(be)
}

/// What [`SqliteStore::probe`] found at a database path: a database with
/// bosun's schema, or what stands in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbPresence {
    /// No file.
    Missing,
    /// A file of 0 bytes (truncated, or never written).
    Empty,
    /// An SQLite file without bosun's schema (`user_version` 0).
    NoSchema,
    /// A database with bosun's schema (of any version).
    Present,
}

impl DbPresence {
    /// In words, for messages: "is missing", "is empty (0 bytes)", …
    pub fn as_str(self) -> &'static str {
        match self {
            DbPresence::Missing => "is missing",
            DbPresence::Empty => "is empty (0 bytes)",
            DbPresence::NoSchema => "has no bosun schema",
            DbPresence::Present => "is present",
        }
    }
}

impl std::fmt::Display for DbPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the schema version of an opened connection without writing.
fn schema_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(be)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, CHECKPOINT_EVERY)
    }

    /// What is at `path`, looked at without creating or writing anything:
    /// no file, an empty file, a file without bosun's schema, or a
    /// database.
    pub fn probe(path: &Path) -> Result<DbPresence> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DbPresence::Missing),
            Err(e) => return Err(StoreError::Backend(format!("{}: {e}", path.display()))),
            Ok(m) if m.len() == 0 => return Ok(DbPresence::Empty),
            Ok(_) => {}
        }
        let conn = match connect_existing(path) {
            Ok(c) => c,
            // Deleted between the two looks.
            Err(_) if !path.exists() => return Ok(DbPresence::Missing),
            Err(e) => return Err(e),
        };
        Ok(if schema_version(&conn)? == 0 {
            DbPresence::NoSchema
        } else {
            DbPresence::Present
        })
    }

    /// Opens the store at `path` only if a database with bosun's schema is
    /// there: a missing, empty or schema-less file is refused
    /// ([`StoreError::NotInitialised`]) and left exactly as it was —
    /// nothing is created or written.
    pub fn open_existing(path: &Path) -> Result<SqliteStore> {
        let found = SqliteStore::probe(path)?;
        if found != DbPresence::Present {
            return Err(StoreError::NotInitialised {
                path: path.to_path_buf(),
                found,
            });
        }
        SqliteStore::open_from(connect_existing(path)?, path, CHECKPOINT_EVERY)
    }

    /// [`SqliteStore::open`] with the background checkpoint every
    /// `checkpoint_every`.
    fn open_with(path: &Path, checkpoint_every: Duration) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(be)?;
        SqliteStore::open_from(conn, path, checkpoint_every)
    }

    /// Sets up the store over `conn`, a fresh connection to `path`:
    /// pragmas, migrations, schema, the reader and the checkpointer.
    fn open_from(conn: Connection, path: &Path, checkpoint_every: Duration) -> Result<SqliteStore> {
        let conn = configure(conn)?;
        let v = schema_version(&conn)?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "{} has schema version {v}, newer than this bosun understands ({SCHEMA_VERSION}); upgrade bosun",
                path.display()
            )));
        }
        let mut conn = conn;
        if (1..4).contains(&v) {
            migrate_to_4(&mut conn)?;
        }
        conn.execute_batch(SCHEMA).map_err(be)?;
        if v == 1 {
            migrate_events_to_ledger(&mut conn)?;
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(be)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(be)?;
        let reader = connect(path)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let catch_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        spawn_checkpointer(path, stop.clone(), catch_up.clone(), checkpoint_every)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            stop,
            catch_up,
        })
    }

    fn with_tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Backend("store mutex poisoned".into()))?;
        if self
            .catch_up
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // Best effort: a busy checkpoint only means the log grows a
            // little longer, until the next one.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be)?;
        let out = f(&tx)?;
        tx.commit().map_err(be)?;
        Ok(out)
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| StoreError::Backend("store mutex poisoned".into()))?;
        f(&conn)
    }
}

/// The hosts `iss`'s changing, not denied ops touched since `since`, as
/// the transaction sees them (ops written earlier in it included).
fn hosts_changed_in(conn: &Connection, iss: &str, since: i64) -> Result<u64> {
    let v: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(targets), 0) FROM ops
             WHERE iss = ?1 AND created_at >= ?2 AND read_only = 0 AND state != 'denied'",
        )
        .and_then(|mut st| st.query_row(params![iss, since], |r| r.get(0)))
        .map_err(be)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// Budget usage as one `submit_ops` transaction sees it: read once per
/// issuer and window, then kept up to date as the batch's ops go in.
#[derive(Default)]
struct TxUsage(std::collections::HashMap<(KeyId, i64), u64>);

impl TxUsage {
    fn get(&mut self, tx: &Transaction<'_>, iss: &KeyId, since: i64) -> Result<u64> {
        if let Some(v) = self.0.get(&(iss.clone(), since)) {
            return Ok(*v);
        }
        let v = hosts_changed_in(tx, iss.as_str(), since)?;
        self.0.insert((iss.clone(), since), v);
        Ok(v)
    }

    /// Counts a stored op (as `hosts_changed_in` would).
    fn add(&mut self, op: &NewOp) {
        if op.plan.read_only || op.state == OpState::Denied {
            return;
        }
        let n = u64::try_from(op.claims.targets.len()).unwrap_or(u64::MAX);
        for ((iss, since), v) in &mut self.0 {
            if *iss == op.claims.iss && op.received_at >= *since {
                *v = v.saturating_add(n);
            }
        }
    }
}

/// Whether `op`'s budget basis no longer holds in `tx`, or an earlier op
/// of its issuer in the batch already found its basis moved (then this
/// one waits too, to keep the issuer's ops in `seq` order).
fn budget_moved(
    tx: &Transaction<'_>,
    usage: &mut TxUsage,
    op: &NewOp,
    moved: &[&KeyId],
) -> Result<Option<SubmitConflict>> {
    let iss = &op.claims.iss;
    let behind = moved.contains(&iss);
    for b in &op.budget_basis {
        let now = usage.get(tx, iss, b.since)?;
        if behind || now != b.used {
            return Ok(Some(SubmitConflict::BudgetMoved {
                iss: iss.clone(),
                since: b.since,
                decided: b.used,
                now,
            }));
        }
    }
    Ok(behind.then(|| SubmitConflict::BudgetMoved {
        iss: iss.clone(),
        since: op.received_at,
        decided: 0,
        now: 0,
    }))
}

fn rejection_in_tx(tx: &Transaction<'_>, ledger: &mut LedgerTx, r: &Rejection) -> Result<()> {
    tx.execute(
        "INSERT INTO rejections (at, chk, message, jti, iss, input_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![r.at, r.check, r.message, r.jti, r.iss, r.input_digest.as_str()],
    )
    .map_err(be)?;
    ledger.event(
        tx,
        r.at,
        r.jti.as_deref(),
        "op.rejected",
        None,
        &serde_json::json!({"check": r.check, "message": r.message, "iss": r.iss, "input_digest": r.input_digest}),
    )
}

impl crate::OpStore for SqliteStore {
    fn submit_ops(
        &self,
        ops: &[NewOp],
        rejected: &[Rejection],
    ) -> Result<Vec<std::result::Result<(), SubmitConflict>>> {
        self.with_tx(|tx| {
            let mut out = Vec::with_capacity(ops.len());
            let mut ledger = LedgerTx::default();
            for r in rejected {
                rejection_in_tx(tx, &mut ledger, r)?;
            }
            // Issuers whose budget moved: their later ops wait too.
            let mut moved: Vec<&KeyId> = Vec::new();
            let mut usage = TxUsage::default();
            let mut seen_st = tx.prepare_cached("SELECT 1 FROM ops WHERE jti = ?1").map_err(be)?;
            let mut seq_st = tx.prepare_cached("SELECT last_seq FROM issuer_seq WHERE iss = ?1").map_err(be)?;
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO ops (jti, iss, seq, role, runbook, targets, read_only, envelope, claims, plan, decision, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                )
                .map_err(be)?;
            let mut up_seq = tx
                .prepare_cached(
                    "INSERT INTO issuer_seq (iss, last_seq) VALUES (?1, ?2)
                     ON CONFLICT(iss) DO UPDATE SET last_seq = excluded.last_seq",
                )
                .map_err(be)?;
            for op in ops {
                let c = &op.claims;
                let seen = seen_st.exists([c.jti.as_str()]).map_err(be)?;
                if seen {
                    let conflict = SubmitConflict::Replay(c.jti.clone());
                    rejection_in_tx(tx, &mut ledger, &conflict_rejection(op, &conflict, "replay"))?;
                    out.push(Err(conflict));
                    continue;
                }
                if let Some(conflict) = budget_moved(tx, &mut usage, op, &moved)? {
                    moved.push(&c.iss);
                    out.push(Err(conflict));
                    continue;
                }
                let last: Option<i64> = seq_st.query_row([c.iss.as_str()], |r| r.get(0)).optional().map_err(be)?;
                if let Some(last) = last
                    && i64_of(c.seq) <= last
                {
                    let conflict = SubmitConflict::SeqNotAbove {
                        iss: c.iss.clone(),
                        seq: c.seq,
                        last: u64::try_from(last).unwrap_or(0),
                    };
                    rejection_in_tx(tx, &mut ledger, &conflict_rejection(op, &conflict, "seq"))?;
                    out.push(Err(conflict));
                    continue;
                }
                ins.execute(params![
                    c.jti.as_str(),
                    c.iss.as_str(),
                    i64_of(c.seq),
                    op.role.as_str(),
                    c.runbook.as_str(),
                    i64::try_from(c.targets.len()).unwrap_or(i64::MAX),
                    op.plan.read_only,
                    op.envelope,
                    to_json(c)?,
                    to_json(&op.plan)?,
                    to_json(&op.decision)?,
                    op.state.as_str(),
                    op.received_at,
                ])
                .map_err(be)?;
                up_seq.execute(params![c.iss.as_str(), i64_of(c.seq)]).map_err(be)?;
                usage.add(op);
                ledger.event(
                    tx,
                    op.received_at,
                    Some(c.jti.as_str()),
                    "op.submitted",
                    None,
                    &serde_json::json!({"iss": c.iss, "seq": c.seq, "runbook": c.runbook, "targets": c.targets, "plan_digest": c.plan_digest}),
                )?;
                ledger.event(
                    tx,
                    op.received_at,
                    Some(c.jti.as_str()),
                    "op.decided",
                    None,
                    &serde_json::to_value(&op.decision).map_err(|e| StoreError::Backend(e.to_string()))?,
                )?;
                if op.state == OpState::Approved {
                    enqueue(tx, c.jti.as_str(), op.received_at)?;
                }
                out.push(Ok(()));
            }
            ledger.finish(tx)?;
            Ok(out)
        })
    }

    fn record_rejection(&self, r: &Rejection) -> Result<()> {
        self.with_tx(|tx| {
            let mut l = LedgerTx::default();
            rejection_in_tx(tx, &mut l, r)?;
            l.finish(tx)
        })
    }

    fn rejections(&self, limit: usize) -> Result<Vec<Rejection>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT at, chk, message, jti, iss, input_digest FROM rejections ORDER BY id DESC LIMIT ?1")
                .map_err(be)?;
            let rows = st
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (at, check, message, jti, iss, d) = row.map_err(be)?;
                out.push(Rejection {
                    at,
                    check,
                    message,
                    jti,
                    iss,
                    input_digest: Digest::try_from(d).map_err(|e| corrupt("rejection digest", e))?,
                });
            }
            Ok(out)
        })
    }

    fn op(&self, jti: &Jti) -> Result<Option<OpRecord>> {
        self.with_conn(|c| {
            let row = c
                .query_row(
                    "SELECT iss, runbook, targets, state, decision, created_at, updated_at, envelope, claims, role, plan, detail
                     FROM ops WHERE jti = ?1",
                    [jti.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, String>(8)?,
                            r.get::<_, String>(9)?,
                            r.get::<_, String>(10)?,
                            r.get::<_, String>(11)?,
                        ))
                    },
                )
                .optional()
                .map_err(be)?;
            let Some((iss, runbook, targets, state, decision, created, updated, envelope, claims, role, plan, detail)) = row else {
                return Ok(None);
            };
            let decision: bosun_model::Decision = from_json("decision", &decision)?;
            Ok(Some(OpRecord {
                summary: OpSummary {
                    jti: jti.clone(),
                    iss: KeyId::try_from(iss).map_err(|e| corrupt("issuer", e))?,
                    runbook,
                    targets: u32::try_from(targets).unwrap_or(u32::MAX),
                    state: state_of(&state)?,
                    decision: decision.outcome.kind().to_string(),
                    created_at: created,
                    updated_at: updated,
                },
                envelope,
                claims: from_json("op claims", &claims)?,
                role: role_of(&role)?,
                plan: from_json("plan", &plan)?,
                decision,
                approvals: read_approvals(c, jti.as_str())?,
                steps: read_steps(c, jti.as_str())?,
                detail,
            }))
        })
    }

    fn list_ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpSummary>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare(
                    "SELECT jti, iss, runbook, targets, state, json_extract(decision, '$.outcome.kind'), created_at, updated_at
                     FROM ops WHERE (?1 IS NULL OR state = ?1) ORDER BY created_at DESC, rowid DESC LIMIT ?2",
                )
                .map_err(be)?;
            let rows = st
                .query_map(params![state.map(|s| s.as_str()), i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (jti, iss, runbook, targets, state, decision, created_at, updated_at) = row.map_err(be)?;
                out.push(OpSummary {
                    jti: jti_of(jti)?,
                    iss: KeyId::try_from(iss).map_err(|e| corrupt("issuer", e))?,
                    runbook,
                    targets: u32::try_from(targets).unwrap_or(u32::MAX),
                    state: state_of(&state)?,
                    decision: decision.unwrap_or_default(),
                    created_at,
                    updated_at,
                });
            }
            Ok(out)
        })
    }

    fn op_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>> {
        self.with_conn(|c| ids_with_prefix(c, "ops", "jti", prefix, limit))
    }

    fn last_seq(&self, iss: &KeyId) -> Result<Option<u64>> {
        self.with_conn(|c| {
            let v: Option<i64> = c
                .query_row(
                    "SELECT last_seq FROM issuer_seq WHERE iss = ?1",
                    [iss.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(be)?;
            Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
        })
    }

    fn hosts_changed_since(&self, iss: &KeyId, since: i64) -> Result<u64> {
        self.with_conn(|c| hosts_changed_in(c, iss.as_str(), since))
    }

    fn add_approval(&self, a: &NewApproval, transition: Option<OpState>) -> Result<()> {
        self.with_tx(|tx| {
            let op = &a.claims.op;
            let state = op_state(tx, op)?;
            if state != OpState::PendingApproval {
                return Err(StoreError::WrongState {
                    jti: op.clone(),
                    state,
                    what: "only an op pending approval takes approvals".into(),
                });
            }
            insert_approval(tx, a)?;
            let kind = match a.claims.verdict {
                bosun_model::Verdict::Approve => "op.approval",
                bosun_model::Verdict::Deny => "op.denial",
            };
            event(
                tx,
                a.received_at,
                Some(op.as_str()),
                kind,
                None,
                &serde_json::json!({"by": a.claims.iss, "role": a.role, "approval": a.claims.jti, "plan_digest": a.claims.plan_digest, "reason": a.claims.reason}),
            )?;
            if let Some(to) = transition {
                let detail = match to {
                    OpState::Denied => a.claims.reason.clone(),
                    _ => None,
                };
                set_state(tx, op, to, detail.as_deref(), a.received_at)?;
                let kind = if to == OpState::Approved { "op.approved" } else { "op.denied" };
                event(tx, a.received_at, Some(op.as_str()), kind, None, &serde_json::json!({"by": a.claims.iss}))?;
                if to == OpState::Approved {
                    enqueue(tx, op.as_str(), a.received_at)?;
                }
            }
            Ok(())
        })
    }
}

impl crate::RunStore for SqliteStore {
    fn acquire_lease(&self, holder: &str, ttl_secs: i64, now: i64) -> Result<Option<Lease>> {
        self.with_tx(|tx| {
            let cur: Option<(String, i64, i64)> = tx
                .query_row("SELECT holder, token, expires_at FROM lease WHERE name = 'controller'", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(be)?;
            let token = match cur {
                Some((h, t, _)) if h == holder => t,
                Some((_, _, exp)) if exp > now => return Ok(None),
                Some((_, t, _)) => t + 1,
                None => 1,
            };
            let expires_at = now.saturating_add(ttl_secs);
            tx.execute(
                "INSERT INTO lease (name, holder, token, expires_at) VALUES ('controller', ?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at",
                params![holder, token, expires_at],
            )
            .map_err(be)?;
            Ok(Some(Lease { holder: holder.to_string(), token: u64::try_from(token).unwrap_or(0), expires_at }))
        })
    }

    fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE lease SET expires_at = 0 WHERE name = 'controller' AND holder = ?1 AND token = ?2",
                params![lease.holder, i64_of(lease.token)],
            )
            .map_err(be)?;
            Ok(())
        })
    }

    fn break_lease(&self, stale: &Lease) -> Result<()> {
        self.release_lease(stale)
    }

    fn lease_holder(&self, now: i64) -> Result<Option<Lease>> {
        self.with_conn(|c| {
            let cur: Option<(String, i64, i64)> = c
                .query_row(
                    "SELECT holder, token, expires_at FROM lease WHERE name = 'controller'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(be)?;
            Ok(cur
                .filter(|(_, _, exp)| *exp > now)
                .map(|(holder, token, expires_at)| Lease {
                    holder,
                    token: u64::try_from(token).unwrap_or(0),
                    expires_at,
                }))
        })
    }

    fn start_run(&self, lease: &Lease, jti: &Jti, now: i64) -> Result<RunStart> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let state = op_state(tx, jti)?;
            match state {
                OpState::Running => {
                    return Ok(RunStart::Started { steps: read_steps(tx, jti.as_str())? });
                }
                OpState::Approved => {}
                s if s.is_terminal() => return Ok(RunStart::AlreadyEnded(s)),
                s => {
                    return Err(StoreError::WrongState {
                        jti: jti.clone(),
                        state: s,
                        what: "only an approved op can start a run".into(),
                    });
                }
            }
            let (plan, read_only): (String, bool) = tx
                .query_row("SELECT plan, read_only FROM ops WHERE jti = ?1", [jti.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(be)?;
            let plan: bosun_model::Plan = from_json("plan", &plan)?;
            for host in &plan.targets {
                // Conflicting: any other lock when we want exclusive; an
                // exclusive one when we want shared.
                let held: Option<String> = tx
                    .query_row(
                        "SELECT jti FROM host_locks WHERE host = ?1 AND jti != ?2 AND (?3 = 0 OR shared = 0) LIMIT 1",
                        params![host.as_str(), jti.as_str(), read_only],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(be)?;
                if let Some(by) = held {
                    return Ok(RunStart::Locked { host: host.to_string(), by: jti_of(by)? });
                }
            }
            for host in &plan.targets {
                tx.execute(
                    "INSERT OR IGNORE INTO host_locks (host, jti, shared) VALUES (?1, ?2, ?3)",
                    params![host.as_str(), jti.as_str(), read_only],
                )
                .map_err(be)?;
            }
            set_state(tx, jti, OpState::Running, None, now)?;
            event(tx, now, Some(jti.as_str()), "run.started", None, &serde_json::json!({"lease": lease.token}))?;
            Ok(RunStart::Started { steps: Vec::new() })
        })
    }

    fn step_started(
        &self,
        lease: &Lease,
        jti: &Jti,
        idx: u32,
        step: &str,
        host: &str,
        now: i64,
    ) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let n = exec_cached(
                tx,
                "INSERT OR IGNORE INTO steps (jti, idx, step, host, status, started_at) VALUES (?1, ?2, ?3, ?4, 'started', ?5)",
                params![jti.as_str(), idx, step, host, now],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "step {idx} ({step} on {host}) of op {jti} was already started; refusing to run it twice"
                )));
            }
            event(tx, now, Some(jti.as_str()), "step.started", Some(step), &serde_json::json!({"idx": idx, "host": host}))
        })
    }

    fn step_finished(&self, lease: &Lease, jti: &Jti, r: &StepResult) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            exec_cached(
                tx,
                "INSERT INTO steps (jti, idx, step, host, status, exit_code, duration_ms, output, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(jti, idx) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code,
                   duration_ms = excluded.duration_ms, output = excluded.output, finished_at = excluded.finished_at",
                params![
                    jti.as_str(),
                    r.idx,
                    r.step,
                    r.host,
                    r.status.as_str(),
                    r.exit_code,
                    i64_of(r.duration_ms),
                    r.output,
                    r.started_at,
                    r.finished_at
                ],
            )?;
            event(
                tx,
                r.finished_at,
                Some(jti.as_str()),
                &format!("step.{}", r.status.as_str()),
                Some(&r.step),
                &serde_json::json!({"idx": r.idx, "host": r.host, "exit_code": r.exit_code, "duration_ms": r.duration_ms}),
            )?;
            if r.status == StepStatus::Unknown {
                // The blocker is filed with the outcome it is about.
                file_blocker_in_tx(
                    tx,
                    &NewBlocker {
                        kind: UNKNOWN_OUTCOME.into(),
                        subject: r.host.clone(),
                        reason: format!("the outcome of step `{}` (#{}) is unknown", r.step, r.idx),
                        owner: "operator".into(),
                        filed_by: "controller".into(),
                        op: Some(jti.to_string()),
                        at: r.finished_at,
                    },
                )?;
            }
            Ok(())
        })
    }

    fn park_run(&self, lease: &Lease, jti: &Jti, r: &StepResult) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            tx.execute(
                "INSERT INTO steps (jti, idx, step, host, status, output, started_at)
                 VALUES (?1, ?2, ?3, ?4, 'waiting', ?5, ?6)
                 ON CONFLICT(jti, idx) DO UPDATE SET status = 'waiting', output = excluded.output",
                params![jti.as_str(), r.idx, r.step, r.host, r.output, r.started_at],
            )
            .map_err(be)?;
            tx.execute("UPDATE queue SET acked = 1 WHERE jti = ?1", [jti.as_str()])
                .map_err(be)?;
            event(
                tx,
                r.started_at,
                Some(jti.as_str()),
                "step.waiting",
                Some(&r.step),
                &serde_json::json!({"idx": r.idx, "host": r.host}),
            )
        })
    }

    fn report_step(&self, jti: &Jti, r: &StepResult, data: &serde_json::Value) -> Result<()> {
        self.with_tx(|tx| {
            let cur: Option<String> = tx
                .query_row(
                    "SELECT status FROM steps WHERE jti = ?1 AND idx = ?2",
                    params![jti.as_str(), r.idx],
                    |row| row.get(0),
                )
                .optional()
                .map_err(be)?;
            let resolves = match cur.as_deref() {
                Some("waiting") => false,
                Some("unknown") => true,
                Some(other) => {
                    return Err(StoreError::Conflict(format!(
                        "step `{}` on `{}` of op {jti} is {other}, not waiting for a report",
                        r.step, r.host
                    )));
                }
                None => {
                    return Err(StoreError::Conflict(format!(
                        "step `{}` on `{}` of op {jti} has not been reached yet",
                        r.step, r.host
                    )));
                }
            };
            tx.execute(
                "UPDATE steps SET status = ?3, output = ?4, finished_at = ?5 WHERE jti = ?1 AND idx = ?2",
                params![jti.as_str(), r.idx, r.status.as_str(), r.output, r.finished_at],
            )
            .map_err(be)?;
            if resolves {
                // The outcome of an interrupted step is now known: its host
                // is free again once no other unknown step holds it.
                let still: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM steps WHERE jti = ?1 AND host = ?2 AND status = 'unknown'",
                        params![jti.as_str(), r.host],
                        |row| row.get(0),
                    )
                    .map_err(be)?;
                if still == 0 {
                    tx.execute(
                        "DELETE FROM host_locks WHERE jti = ?1 AND host = ?2",
                        params![jti.as_str(), r.host],
                    )
                    .map_err(be)?;
                    tx.execute(
                        "UPDATE blockers SET resolved_at = ?3, resolved_by = 'step report', resolution = 'the outcome was reported'
                         WHERE kind = ?4 AND op = ?1 AND subject = ?2 AND resolved_at IS NULL",
                        params![jti.as_str(), r.host, r.finished_at, UNKNOWN_OUTCOME],
                    )
                    .map_err(be)?;
                }
                event(tx, r.finished_at, Some(jti.as_str()), "step.reported", Some(&r.step), data)?;
                return event(
                    tx,
                    r.finished_at,
                    Some(jti.as_str()),
                    "blocker.resolved",
                    Some(&r.step),
                    &serde_json::json!({"kind": "unknown-outcome", "host": r.host, "released": still == 0}),
                );
            }
            tx.execute(
                "UPDATE queue SET acked = 0, delivered_token = NULL WHERE jti = ?1",
                [jti.as_str()],
            )
            .map_err(be)?;
            event(tx, r.finished_at, Some(jti.as_str()), "step.reported", Some(&r.step), data)
        })
    }

    fn finish_run(
        &self,
        lease: &Lease,
        jti: &Jti,
        state: OpState,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let cur = op_state(tx, jti)?;
            if cur.is_terminal() {
                return Err(StoreError::WrongState {
                    jti: jti.clone(),
                    state: cur,
                    what: "the run already ended".into(),
                });
            }
            set_state(tx, jti, state, Some(detail), now)?;
            // A run that needs attention keeps (exclusively) the hosts where
            // a step's outcome is unknown: nothing more runs there until a
            // human reports that step.
            tx.execute(
                "DELETE FROM host_locks WHERE jti = ?1 AND host NOT IN
                   (SELECT host FROM steps WHERE jti = ?1 AND status = 'unknown' AND ?2)",
                params![jti.as_str(), state == OpState::NeedsAttention],
            )
            .map_err(be)?;
            tx.execute(
                "UPDATE host_locks SET shared = 0 WHERE jti = ?1",
                [jti.as_str()],
            )
            .map_err(be)?;
            tx.execute("UPDATE queue SET acked = 1 WHERE jti = ?1", [jti.as_str()])
                .map_err(be)?;
            event(
                tx,
                now,
                Some(jti.as_str()),
                "op.finished",
                None,
                &serde_json::json!({"state": state, "detail": detail}),
            )
        })
    }

    fn lapse_approvals(&self, lease: &Lease, jti: &Jti, detail: &str, now: i64) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let cur = op_state(tx, jti)?;
            if cur != OpState::Approved {
                return Err(StoreError::WrongState {
                    jti: jti.clone(),
                    state: cur,
                    what: "only an approved op that has not started can lapse".into(),
                });
            }
            set_state(tx, jti, OpState::PendingApproval, Some(detail), now)?;
            tx.execute("DELETE FROM queue WHERE jti = ?1", [jti.as_str()])
                .map_err(be)?;
            event(
                tx,
                now,
                Some(jti.as_str()),
                "op.approvals_lapsed",
                None,
                &serde_json::json!({"detail": detail}),
            )
        })
    }

    fn set_halt(&self, halt: Option<&Halt>, by: &str, now: i64) -> Result<()> {
        self.with_tx(|tx| {
            match halt {
                Some(h) => {
                    tx.execute(
                        "INSERT INTO halt (name, why, by, since) VALUES ('fleet', ?1, ?2, ?3)
                         ON CONFLICT(name) DO UPDATE SET why = excluded.why, by = excluded.by, since = excluded.since",
                        params![h.why, h.by, h.since],
                    )
                    .map_err(be)?;
                    event(tx, now, None, "fleet.halted", None, &serde_json::json!({"why": h.why, "by": h.by}))
                }
                None => {
                    tx.execute("DELETE FROM halt WHERE name = 'fleet'", []).map_err(be)?;
                    event(tx, now, None, "fleet.resumed", None, &serde_json::json!({"by": by}))
                }
            }
        })
    }

    fn halt(&self) -> Result<Option<Halt>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT why, by, since FROM halt WHERE name = 'fleet'",
                [],
                |r| {
                    Ok(Halt {
                        why: r.get(0)?,
                        by: r.get(1)?,
                        since: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(be)
        })
    }
}

impl crate::LedgerStore for SqliteStore {
    fn events(&self, jti: Option<&Jti>) -> Result<Vec<Event>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare(
                    "SELECT idx, entry FROM ledger WHERE (?1 IS NULL OR jti = ?1) ORDER BY idx",
                )
                .map_err(be)?;
            let rows = st
                .query_map([jti.map(|j| j.as_str())], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, entry) = row.map_err(be)?;
                out.push(event_of(id, &entry)?);
            }
            Ok(out)
        })
    }

    fn record_event(&self, e: &NewEvent) -> Result<()> {
        self.with_tx(|tx| event(tx, e.at, e.jti.as_deref(), &e.kind, None, &e.data))
    }

    fn record_events(&self, events: &[NewEvent]) -> Result<()> {
        self.with_tx(|tx| {
            let mut frontier = load_frontier(tx)?;
            for e in events {
                append(
                    tx,
                    &mut frontier,
                    e.at,
                    e.jti.as_deref(),
                    &e.kind,
                    None,
                    &e.data,
                )?;
            }
            save_frontier(tx, &frontier)
        })
    }

    fn ledger_rows(&self, from: u64, limit: usize) -> Result<Vec<LedgerRow>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT idx, jti, kind, entry, leaf, root FROM ledger WHERE idx >= ?1 ORDER BY idx LIMIT ?2")
                .map_err(be)?;
            let rows = st
                .query_map(params![i64_of(from), i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(LedgerRow {
                        idx: r.get(0)?,
                        jti: r.get(1)?,
                        kind: r.get(2)?,
                        entry: r.get(3)?,
                        leaf: r.get(4)?,
                        root: r.get(5)?,
                    })
                })
                .map_err(be)?;
            rows.collect::<std::result::Result<Vec<_>, _>>().map_err(be)
        })
    }

    fn ledger_size(&self) -> Result<u64> {
        self.with_conn(|c| {
            let n: Option<i64> = c
                .query_row(
                    "SELECT size FROM ledger_frontier WHERE name = 'ledger'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(be)?;
            Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
        })
    }

    fn ledger_node(&self, level: u32, idx: u64) -> Result<Option<Hash>> {
        self.with_conn(|c| {
            let h: Option<Vec<u8>> = if level == 0 {
                c.prepare_cached("SELECT leaf FROM ledger WHERE idx = ?1")
                    .and_then(|mut st| st.query_row([i64_of(idx)], |r| r.get(0)).optional())
            } else {
                let Some(pos) = tree_pos(level, idx) else {
                    return Ok(None);
                };
                c.prepare_cached("SELECT hash FROM ledger_tree WHERE pos = ?1")
                    .and_then(|mut st| st.query_row([pos], |r| r.get(0)).optional())
            }
            .map_err(be)?;
            h.map(|h| {
                Hash::try_from(h.as_slice()).map_err(|_| corrupt("ledger node", "not 32 bytes"))
            })
            .transpose()
        })
    }

    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<()> {
        self.with_tx(|tx| {
            let last: Option<i64> = tx
                .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
                .map_err(be)?;
            if last.is_some_and(|l| l >= i64_of(cp.size)) {
                return Err(StoreError::Conflict(format!(
                    "a checkpoint of size {} or larger exists; checkpoints only grow",
                    cp.size
                )));
            }
            tx.execute(
                "INSERT INTO checkpoints (size, root, note, at) VALUES (?1, ?2, ?3, ?4)",
                params![i64_of(cp.size), &cp.root[..], cp.note, cp.at],
            )
            .map_err(be)?;
            Ok(())
        })
    }

    fn set_checkpoint_note(&self, size: u64, note: &str) -> Result<()> {
        self.with_tx(|tx| {
            let n = tx
                .execute(
                    "UPDATE checkpoints SET note = ?2 WHERE size = ?1",
                    params![i64_of(size), note],
                )
                .map_err(be)?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "no checkpoint of size {size}"
                )));
            }
            Ok(())
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT size, root, note, at FROM checkpoints ORDER BY size")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (size, root, note, at) = row.map_err(be)?;
                out.push(StoredCheckpoint {
                    size: u64::try_from(size)
                        .map_err(|_| corrupt("checkpoint", "negative size"))?,
                    root: Hash::try_from(root.as_slice())
                        .map_err(|_| corrupt("checkpoint", "root is not 32 bytes"))?,
                    note,
                    at,
                });
            }
            Ok(out)
        })
    }
}

impl crate::GovernanceStore for SqliteStore {
    fn adopted(&self, subject: &str) -> Result<Option<Adopted>> {
        Ok(self
            .adopted_all()?
            .into_iter()
            .find(|a| a.subject == subject))
    }

    fn adopted_all(&self) -> Result<Vec<Adopted>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached("SELECT subject, digest, content, proposal, adopted_at FROM adopted ORDER BY subject")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (subject, digest, content, proposal, adopted_at) = row.map_err(be)?;
                let digest = Digest::try_from(digest).map_err(|e| corrupt("adopted digest", e))?;
                if Digest::of(content.as_bytes()) != digest {
                    return Err(corrupt("adopted content", format!("{subject} does not match its digest")));
                }
                out.push(Adopted { subject, digest, content, proposal: jti_of(proposal)?, adopted_at });
            }
            Ok(out)
        })
    }

    fn propose(&self, p: &Proposal) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO proposals (id, proposer, digest, items, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![p.id.as_str(), p.proposer.as_str(), p.digest.as_str(), to_json(&p.items)?, p.state, p.created_at],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict(format!("proposal {} exists already", p.id))
                }
                e => be(e),
            })?;
            let subjects: Vec<&str> = p.items.iter().map(|i| i.subject.as_str()).collect();
            event(tx, p.created_at, Some(p.id.as_str()), "adoption.proposed", None, &serde_json::json!({"by": p.proposer, "digest": p.digest, "subjects": subjects}))
        })
    }

    fn proposal(&self, id: &Jti) -> Result<Option<Proposal>> {
        Ok(self.proposals_where(Some(id))?.into_iter().next())
    }

    fn proposals(&self) -> Result<Vec<Proposal>> {
        Ok(self
            .proposals_where(None)?
            .into_iter()
            .filter(|p| p.state == "open")
            .collect())
    }

    fn proposal_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>> {
        self.with_conn(|c| ids_with_prefix(c, "proposals", "id", prefix, limit))
    }

    fn approve_proposal(&self, a: &NewApproval, adopt: bool) -> Result<()> {
        self.with_tx(|tx| {
            let id = &a.claims.op;
            let row: Option<(String, String)> = tx
                .query_row("SELECT items, state FROM proposals WHERE id = ?1", [id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(be)?;
            let Some((items, state)) = row else {
                return Err(StoreError::Conflict(format!("no proposal `{id}`")));
            };
            if state != "open" {
                return Err(StoreError::Conflict(format!("proposal `{id}` is {state}, not open")));
            }
            insert_approval(tx, a)?;
            event(tx, a.received_at, Some(id.as_str()), "adoption.approval", None, &serde_json::json!({"by": a.claims.iss, "role": a.role}))?;
            if adopt {
                let items: Vec<ProposalItem> = from_json("proposal items", &items)?;
                for it in &items {
                    tx.execute(
                        "INSERT INTO adopted (subject, digest, content, proposal, adopted_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(subject) DO UPDATE SET digest = excluded.digest, content = excluded.content,
                           proposal = excluded.proposal, adopted_at = excluded.adopted_at",
                        params![it.subject, it.digest.as_str(), it.content, id.as_str(), a.received_at],
                    )
                    .map_err(be)?;
                }
                tx.execute("UPDATE proposals SET state = 'adopted' WHERE id = ?1", [id.as_str()]).map_err(be)?;
                // Other open proposals were made against the old versions.
                tx.execute("UPDATE proposals SET state = 'superseded' WHERE state = 'open'", []).map_err(be)?;
                let subjects: Vec<&str> = items.iter().map(|i| i.subject.as_str()).collect();
                event(tx, a.received_at, Some(id.as_str()), "adoption.adopted", None, &serde_json::json!({"subjects": subjects}))?;
            }
            Ok(())
        })
    }

    fn proposal_approvals(&self, id: &Jti) -> Result<Vec<ApprovalRow>> {
        self.with_conn(|c| read_approvals(c, id.as_str()))
    }
}

impl crate::FleetStore for SqliteStore {
    fn file_blocker(&self, b: &NewBlocker) -> Result<u64> {
        self.with_tx(|tx| file_blocker_in_tx(tx, b))
    }

    fn blockers(&self, all: bool) -> Result<Vec<BlockerRow>> {
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {BLOCKER_COLS} FROM blockers {} ORDER BY id DESC",
                if all { "" } else { "WHERE resolved_at IS NULL" }
            );
            let mut st = c.prepare(&sql).map_err(be)?;
            let rows = st.query_map([], blocker_of).map_err(be)?;
            rows.map(|r| r.map_err(be)).collect()
        })
    }

    fn blocker(&self, id: u64) -> Result<Option<BlockerRow>> {
        self.with_conn(|c| {
            c.query_row(
                &format!("SELECT {BLOCKER_COLS} FROM blockers WHERE id = ?1"),
                [i64_of(id)],
                blocker_of,
            )
            .optional()
            .map_err(be)
        })
    }

    fn resolve_blocker(&self, id: u64, by: &str, how: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            let b = active_blocker(tx, id)?;
            if b.kind == UNKNOWN_OUTCOME {
                return Err(StoreError::Conflict(format!(
                    "blocker {id} is an unknown step outcome: it is resolved by reporting what happened, `bosun step report {} <step> --host {} --status pass|fail`",
                    b.op.unwrap_or_default(),
                    b.subject
                )));
            }
            tx.execute(
                "UPDATE blockers SET resolved_at = ?2, resolved_by = ?3, resolution = ?4 WHERE id = ?1",
                params![i64_of(id), at, by, how],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                b.op.as_deref(),
                "blocker.resolved",
                None,
                &serde_json::json!({"id": id, "kind": b.kind, "subject": b.subject, "by": by, "how": how}),
            )
        })
    }

    fn snooze_blocker(&self, id: u64, until: i64, by: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            let b = active_blocker(tx, id)?;
            tx.execute(
                "UPDATE blockers SET snoozed_until = ?2 WHERE id = ?1",
                params![i64_of(id), until],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                b.op.as_deref(),
                "blocker.snoozed",
                None,
                &serde_json::json!({"id": id, "until": until, "by": by}),
            )
        })
    }

    fn set_host_drift(&self, host: &str, reason: Option<&str>, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            let was: Option<Option<i64>> = tx
                .query_row("SELECT drifted_since FROM host_state WHERE host = ?1", [host], |r| r.get(0))
                .optional()
                .map_err(be)?;
            let drifted = matches!(was, Some(Some(_)));
            match reason {
                Some(why) => {
                    tx.execute(
                        "INSERT INTO host_state (host, drifted_since, drift_reason) VALUES (?1, ?2, ?3)
                         ON CONFLICT(host) DO UPDATE SET drifted_since = COALESCE(host_state.drifted_since, excluded.drifted_since), drift_reason = excluded.drift_reason",
                        params![host, at, why],
                    )
                    .map_err(be)?;
                    event(tx, at, None, "host.drifted", None, &serde_json::json!({"host": host, "why": why}))
                }
                None if drifted => {
                    tx.execute(
                        "UPDATE host_state SET drifted_since = NULL, drift_reason = '' WHERE host = ?1",
                        [host],
                    )
                    .map_err(be)?;
                    event(tx, at, None, "host.converged", None, &serde_json::json!({"host": host}))
                }
                None => Ok(()),
            }
        })
    }

    fn set_host_version(&self, host: &str, version: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO host_state (host, version, version_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(host) DO UPDATE SET version = excluded.version, version_at = excluded.version_at",
                params![host, version, at],
            )
            .map_err(be)?;
            Ok(())
        })
    }

    fn host_states(&self) -> Result<Vec<HostState>> {
        self.with_conn(|c| {
            let mut out: BTreeMap<String, HostState> = BTreeMap::new();
            let mut st = c
                .prepare("SELECT host, drifted_since, drift_reason, version, version_at FROM host_state")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok(HostState {
                        host: r.get(0)?,
                        drifted_since: r.get(1)?,
                        drift_reason: r.get(2)?,
                        version: r.get(3)?,
                        version_at: r.get(4)?,
                        last_op: None,
                        pending_approvals: 0,
                    })
                })
                .map_err(be)?;
            for r in rows {
                let h = r.map_err(be)?;
                out.insert(h.host.clone(), h);
            }
            // One pass over every op's targets, oldest first: the last op
            // seen for a host is its latest.
            let mut st = c
                .prepare(
                    "SELECT t.value, o.jti, o.runbook, o.state FROM ops o, json_each(o.claims, '$.targets') t
                     ORDER BY o.created_at, o.rowid",
                )
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(be)?;
            for r in rows {
                let (host, jti, runbook, state) = r.map_err(be)?;
                let state = state_of(&state)?;
                let h = out.entry(host.clone()).or_insert_with(|| HostState {
                    host,
                    ..HostState::default()
                });
                if state == OpState::PendingApproval {
                    h.pending_approvals = h.pending_approvals.saturating_add(1);
                }
                h.last_op = Some((jti, runbook, state));
            }
            Ok(out.into_values().collect())
        })
    }

    fn rollout(&self, id: &str) -> Result<Option<RolloutRecord>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT id, body, version FROM rollouts WHERE id = ?1",
                [id],
                rollout_of,
            )
            .optional()
            .map_err(be)?
            .transpose()
        })
    }

    fn rollouts(&self) -> Result<Vec<RolloutRecord>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT id, body, version FROM rollouts ORDER BY updated_at DESC, id")
                .map_err(be)?;
            let rows = st.query_map([], rollout_of).map_err(be)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(be)??);
            }
            Ok(out)
        })
    }

    fn put_rollout(
        &self,
        id: &str,
        body: &serde_json::Value,
        expect: u64,
        ev: &NewEvent,
    ) -> Result<u64> {
        self.with_tx(|tx| {
            let cur: Option<i64> = tx
                .query_row("SELECT version FROM rollouts WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(be)?;
            let cur = cur.map_or(0, |v| u64::try_from(v).unwrap_or(0));
            if cur != expect {
                return Err(StoreError::Conflict(if expect == 0 {
                    format!("rollout `{id}` already exists")
                } else {
                    format!("rollout `{id}` was changed meanwhile (version {cur}, not {expect}); try again")
                }));
            }
            let next = cur + 1;
            tx.execute(
                "INSERT INTO rollouts (id, body, version, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body, version = excluded.version, updated_at = excluded.updated_at",
                params![id, to_json(body)?, i64_of(next), ev.at],
            )
            .map_err(be)?;
            event(tx, ev.at, ev.jti.as_deref(), &ev.kind, None, &ev.data)?;
            Ok(next)
        })
    }
}

impl crate::NoticeStore for SqliteStore {
    fn remember(&self, name: &str, content: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            let cur: Option<String> = tx
                .query_row(
                    "SELECT content FROM remembered WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(be)?;
            if cur.as_deref() == Some(content) {
                return Ok(());
            }
            tx.execute(
                "INSERT INTO remembered (name, content, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET content = excluded.content, at = excluded.at",
                params![name, content, at],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                None,
                &format!("{name}.changed"),
                None,
                &serde_json::json!({"digest": Digest::of(content.as_bytes())}),
            )
        })
    }

    fn remembered(&self, name: &str) -> Result<Option<String>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT content FROM remembered WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(be)
        })
    }

    fn reminders(&self) -> Result<Vec<ReminderRow>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT subject, sent, last_at, snoozed_until FROM reminders")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok(ReminderRow {
                        subject: r.get(0)?,
                        sent: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                        last_at: r.get(2)?,
                        snoozed_until: r.get(3)?,
                    })
                })
                .map_err(be)?;
            rows.map(|r| r.map_err(be)).collect()
        })
    }

    fn note_reminder(&self, subject: &str, sent: u32, at: i64, jti: Option<&str>) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO reminders (subject, sent, last_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(subject) DO UPDATE SET sent = excluded.sent, last_at = excluded.last_at",
                params![subject, sent, at],
            )
            .map_err(be)?;
            event(tx, at, jti, "reminder.sent", None, &serde_json::json!({"subject": subject, "n": sent}))
        })
    }

    fn snooze_reminder(&self, subject: &str, until: i64, by: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO reminders (subject, snoozed_until) VALUES (?1, ?2)
                 ON CONFLICT(subject) DO UPDATE SET snoozed_until = excluded.snoozed_until",
                params![subject, until],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                None,
                "reminder.snoozed",
                None,
                &serde_json::json!({"subject": subject, "until": until, "by": by}),
            )
        })
    }
}

impl SqliteStore {
    fn proposals_where(&self, id: Option<&Jti>) -> Result<Vec<Proposal>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT id, proposer, digest, items, state, created_at FROM proposals WHERE (?1 IS NULL OR id = ?1) ORDER BY created_at, id")
                .map_err(be)?;
            let rows = st
                .query_map([id.map(|j| j.as_str())], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, proposer, digest, items, state, created_at) = row.map_err(be)?;
                out.push(Proposal {
                    id: jti_of(id)?,
                    proposer: KeyId::try_from(proposer).map_err(|e| corrupt("proposer", e))?,
                    digest: Digest::try_from(digest).map_err(|e| corrupt("proposal digest", e))?,
                    items: from_json("proposal items", &items)?,
                    state,
                    created_at,
                });
            }
            Ok(out)
        })
    }
}

const BLOCKER_COLS: &str = "id, kind, subject, reason, owner, filed_by, op, since, snoozed_until, resolved_at, resolved_by, resolution";

fn blocker_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlockerRow> {
    Ok(BlockerRow {
        id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        kind: r.get(1)?,
        subject: r.get(2)?,
        reason: r.get(3)?,
        owner: r.get(4)?,
        filed_by: r.get(5)?,
        op: r.get(6)?,
        since: r.get(7)?,
        snoozed_until: r.get(8)?,
        resolved_at: r.get(9)?,
        resolved_by: r.get(10)?,
        resolution: r.get(11)?,
    })
}

fn active_blocker(tx: &Transaction<'_>, id: u64) -> Result<BlockerRow> {
    let b = tx
        .query_row(
            &format!("SELECT {BLOCKER_COLS} FROM blockers WHERE id = ?1"),
            [i64_of(id)],
            blocker_of,
        )
        .optional()
        .map_err(be)?
        .ok_or_else(|| {
            StoreError::Conflict(format!("no blocker {id} (see `bosun blockers list --all`)"))
        })?;
    if !b.active() {
        return Err(StoreError::Conflict(format!(
            "blocker {id} was already resolved by {}",
            b.resolved_by
        )));
    }
    Ok(b)
}

fn file_blocker_in_tx(tx: &Transaction<'_>, b: &NewBlocker) -> Result<u64> {
    let existing: Option<i64> = tx
        .query_row(
            "SELECT id FROM blockers WHERE kind = ?1 AND subject = ?2 AND op IS ?3 AND resolved_at IS NULL",
            params![b.kind, b.subject, b.op],
            |r| r.get(0),
        )
        .optional()
        .map_err(be)?;
    if let Some(id) = existing {
        return Ok(u64::try_from(id).unwrap_or(0));
    }
    tx.execute(
        "INSERT INTO blockers (kind, subject, reason, owner, filed_by, op, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![b.kind, b.subject, b.reason, b.owner, b.filed_by, b.op, b.at],
    )
    .map_err(be)?;
    let id = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
    event(
        tx,
        b.at,
        b.op.as_deref(),
        "blocker.filed",
        None,
        &serde_json::json!({"id": id, "kind": b.kind, "subject": b.subject, "reason": b.reason, "owner": b.owner, "by": b.filed_by}),
    )?;
    Ok(id)
}

fn rollout_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RolloutRecord>> {
    let id: String = r.get(0)?;
    let body: String = r.get(1)?;
    let version: i64 = r.get(2)?;
    Ok(from_json("rollout", &body).map(|body| RolloutRecord {
        id,
        body,
        version: u64::try_from(version).unwrap_or(0),
    }))
}

fn conflict_rejection(op: &NewOp, c: &SubmitConflict, check: &str) -> Rejection {
    Rejection {
        at: op.received_at,
        check: check.to_string(),
        message: c.to_string(),
        jti: Some(op.claims.jti.to_string()),
        iss: Some(op.claims.iss.to_string()),
        input_digest: Digest::of(op.envelope.as_bytes()),
    }
}

impl Queue for SqliteStore {
    fn dequeue(&self, lease: &Lease, _now: i64) -> Result<Option<Delivery>> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let row: Option<(i64, String, i64)> = tx
                .query_row(
                    "SELECT id, jti, attempts FROM queue
                     WHERE acked = 0 AND (delivered_token IS NULL OR delivered_token != ?1)
                     ORDER BY id LIMIT 1",
                    [i64_of(lease.token)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(be)?;
            let Some((id, jti, attempts)) = row else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE queue SET delivered_token = ?2, attempts = attempts + 1 WHERE id = ?1",
                params![id, i64_of(lease.token)],
            )
            .map_err(be)?;
            Ok(Some(Delivery {
                id,
                jti: jti_of(jti)?,
                attempts: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
            }))
        })
    }

    fn release(&self, lease: &Lease, d: &Delivery) -> Result<()> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            tx.execute(
                "UPDATE queue SET delivered_token = NULL WHERE id = ?1 AND acked = 0",
                [d.id],
            )
            .map_err(be)?;
            Ok(())
        })
    }

    fn depth(&self) -> Result<u64> {
        self.with_conn(|c| {
            let n: i64 = c
                .query_row("SELECT COUNT(*) FROM queue WHERE acked = 0", [], |r| {
                    r.get(0)
                })
                .map_err(be)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tree_pos;
    use crate::prelude::*;

    #[test]
    fn prefix_lookups_search_the_key_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bosun.db");
        let _store = super::SqliteStore::open(&path).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        for (table, col) in [("ops", "jti"), ("proposals", "id")] {
            let mut st = c
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    super::prefix_sql(table, col)
                ))
                .unwrap();
            let plan: Vec<String> = st
                .query_map(rusqlite::params!["abc", "abd", 11], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(
                plan.iter()
                    .any(|d| d.starts_with("SEARCH") && d.contains("INDEX")),
                "{table}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|d| d.starts_with("SCAN")),
                "{table}: {plan:?}"
            );
        }
        assert_eq!(super::prefix_bound("0192ab").as_deref(), Some("0192ac"));
        assert_eq!(super::prefix_bound("a-z").as_deref(), Some("a-{"));
        assert_eq!(super::prefix_bound("a%"), None);
        assert_eq!(super::prefix_bound(""), None);
    }

    /// The first salt of a WAL header (bytes 16..20): SQLite draws a new
    /// one each time the log starts over from its beginning.
    fn wal_salt(path: &std::path::Path) -> Option<[u8; 4]> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let bytes = std::fs::read(wal).ok()?;
        bytes.get(16..20)?.try_into().ok()
    }

    #[test]
    fn the_writer_starts_the_log_over_after_each_checkpoint() {
        // Under steady load frames are always committed while the
        // background checkpoint runs, so the log is never wholly backfilled
        // when a transaction begins and SQLite would append to it forever
        // (348 MB in 10 s of intake). The writer catches up first.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bosun.db");
        // No background checkpoints: the test plays the checkpointer.
        let store = super::SqliteStore::open_with(&path, std::time::Duration::from_secs(3600))
            .unwrap_or_else(|e| panic!("{e}"));
        let write = |n: u32| {
            store
                .remember(&format!("probe-{n}"), &"x".repeat(16 * 1024), 0)
                .unwrap_or_else(|e| panic!("{e}"));
        };
        write(0);
        write(1);
        let checkpointer = super::connect(&path).unwrap_or_else(|e| panic!("{e}"));
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        for round in 0..3 {
            // The background checkpoint copies what was committed when it
            // began, the writer commits meanwhile, then it raises the flag.
            let during = std::sync::atomic::AtomicBool::new(false);
            super::checkpoint_once(&checkpointer, &during, 0);
            assert!(
                during.load(relaxed),
                "a checkpoint of frames raises the flag"
            );
            write(2 * round + 1);
            let before = wal_salt(&path);
            store.catch_up.store(true, relaxed);
            // The log is not wholly backfilled; the writer catches up and
            // its transaction starts the log over.
            write(2 * round + 2);
            let after = wal_salt(&path);
            assert_ne!(after, before, "round {round}: the log did not start over");
            // Without a checkpoint since, the next appends.
            write(100 + round);
            assert_eq!(wal_salt(&path), after, "round {round}: started over again");
        }
        for n in (0..7).chain(100..103) {
            assert!(
                store
                    .remembered(&format!("probe-{n}"))
                    .unwrap_or_else(|e| panic!("{e}"))
                    .is_some()
            );
        }
    }

    #[test]
    fn tree_positions_are_in_order_and_grow_with_the_log() {
        // Leaves 0..4 sit at 0, 2, 4, 6; their parents at 1 and 5; the root at 3.
        assert_eq!(tree_pos(1, 0), Some(1));
        assert_eq!(tree_pos(1, 1), Some(5));
        assert_eq!(tree_pos(2, 0), Some(3));
        assert_eq!(tree_pos(3, 1), Some(23));
        assert_eq!(tree_pos(64, 0), None);
        assert_eq!(tree_pos(1, u64::MAX / 2), None);
        // Each append's new nodes get fresh positions inside the tree, and
        // the largest of them is past every earlier one: appends land at
        // the table's end.
        let mut f = bosun_ledger::merkle::Frontier::default();
        let mut seen = std::collections::HashSet::new();
        let mut last_max = -1i64;
        for n in 0..5000i64 {
            let mut got = Vec::new();
            f.push_nodes([0; 32], |l, i, _| got.push(tree_pos(l, i).unwrap_or(-1)));
            for p in &got {
                assert!(*p >= 0 && *p < 2 * (n + 1), "{n}: {p}");
                assert!(seen.insert(*p), "{n}: {p} twice");
            }
            if let Some(m) = got.iter().max() {
                assert!(*m > last_max, "{n}: {m} after {last_max}");
                last_max = *m;
            }
        }
    }
}
