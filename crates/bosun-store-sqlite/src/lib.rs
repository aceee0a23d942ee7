//! The embedded backend of `bosun-store`: one SQLite file (WAL,
//! `synchronous=FULL`) holding ops, decisions, approvals, runs, step
//! results, issuer sequence numbers, the queue, the ledger, the controller
//! lease, the halt, adoptions, blockers, host states, rollouts and notices.
//!
//! One connection per process behind a mutex; SQLite serialises writers
//! across processes, and `busy_timeout` makes a second process wait rather
//! than fail. Every public method is one `IMMEDIATE` transaction. One module
//! per area trait of `bosun-store`; the schema and its migrations are the
//! `.sql` files under `src/sql/` (`schema.rs`).
#![deny(missing_docs)]

mod checkpoint;
mod fleet;
mod governance;
mod ledger;
mod notices;
mod ops;
mod read_only;
mod runs;
mod schema;
mod sql;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bosun_store::{DbPresence, Result, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::checkpoint::{CHECKPOINT_EVERY, spawn_checkpointer};
use crate::schema::{
    SCHEMA, SCHEMA_VERSION, migrate_events_to_ledger, migrate_to_4, schema_version,
};
use crate::sql::be;

/// The SQLite-backed [`Backend`](bosun_store::Backend).
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
    /// Opened read-only ([`SqliteStore::open_read_only`]): every write is
    /// refused before it starts.
    read_only: bool,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long a connection waits for another process's lock.
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(30);

pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(be)?;
    configure(conn)
}

/// Opens the database at `path` only if the file exists (never creates
/// it), and reads nothing from it yet.
pub(crate) fn connect_existing(path: &Path) -> Result<Connection> {
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
pub(crate) fn configure(conn: Connection) -> Result<Connection> {
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
            Err(e) => {
                return Err(StoreError::Io {
                    what: format!("cannot look at {}", path.display()),
                    source: Box::new(e),
                });
            }
            Ok(m) if m.len() == 0 => return Ok(DbPresence::Empty),
            Ok(_) => {}
        }
        let version = match read_only::connect(path) {
            Ok((_, v)) => v,
            // Deleted between the two looks.
            Err(_) if !path.exists() => return Ok(DbPresence::Missing),
            Err(e) => return Err(e),
        };
        Ok(if version == 0 {
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
        SqliteStore::require_present(path)?;
        SqliteStore::open_from(connect_existing(path)?, path, CHECKPOINT_EVERY)
    }

    /// [`StoreError::NotInitialised`] unless a database with bosun's
    /// schema is at `path` ([`SqliteStore::probe`]).
    fn require_present(path: &Path) -> Result<()> {
        match SqliteStore::probe(path)? {
            DbPresence::Present => Ok(()),
            found => Err(StoreError::NotInitialised {
                path: path.to_path_buf(),
                found,
            }),
        }
    }

    /// [`SqliteStore::open`] with the background checkpoint every
    /// `checkpoint_every`.
    fn open_with(path: &Path, checkpoint_every: Duration) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            // The state directory is private to its user whatever the
            // umask (`serve` refuses one that others can write).
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| StoreError::Io {
                    what: format!("cannot create {}", dir.display()),
                    source: Box::new(e),
                })?;
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
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        let mut conn = conn;
        if (1..4).contains(&v) {
            migrate_to_4(&mut conn)?;
        }
        conn.execute_batch(SCHEMA).map_err(be)?;
        if v == 1 {
            migrate_events_to_ledger(&mut conn)?;
        }
        // Only when it changes: an open of a current database writes
        // nothing, so that it works on a full disk.
        if v != SCHEMA_VERSION {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(be)?;
        }
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
            read_only: false,
        })
    }

    fn with_tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut conn = self.conn.lock().map_err(|_| poisoned())?;
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
        let conn = self.reader.lock().map_err(|_| poisoned())?;
        f(&conn)
    }
}

/// A connection's mutex was poisoned: a thread panicked mid-transaction
/// (which SQLite rolled back).
fn poisoned() -> StoreError {
    StoreError::backend(
        "a thread panicked while it held the connection",
        "store mutex poisoned",
    )
}
