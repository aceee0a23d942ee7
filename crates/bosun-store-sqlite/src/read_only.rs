//! Opening the store read-only, for the verbs that only read: no pragma,
//! schema or migration is written, so that they work on a full disk.
//!
//! A read-only SQLite connection to a WAL database still needs the
//! write-ahead log's index (`bosun.db-shm`): when it and the log are
//! there (as bosun leaves them) it maps them and reads; when they are
//! not, SQLite must create the index, which a full disk refuses ("disk
//! I/O error"). The log is then absent or empty, so everything committed
//! is in the main file, and the connection opens it again as `immutable`
//! (no index, no locks). A writer cannot commit meanwhile: its commit
//! must grow the log on the same full disk.

use std::path::Path;

use bosun_store::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};

use crate::schema::{SCHEMA_VERSION, schema_version};
use crate::sql::be;
use crate::{BUSY_WAIT, SqliteStore};

/// A read-only connection to the database at `path` and its schema
/// version, read without writing anything (see the module's doc).
pub(crate) fn connect(path: &Path) -> Result<(Connection, i64)> {
    let conn = open(path, false)?;
    match schema_version(&conn) {
        Ok(v) => Ok((conn, v)),
        Err(e) if cannot_map_the_log(&e) && log_is_empty(path) => {
            drop(conn);
            let conn = open(path, true)?;
            let v = schema_version(&conn)?;
            Ok((conn, v))
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` read-only (`immutable`: without the log's index).
fn open(path: &Path, immutable: bool) -> Result<Connection> {
    let mut uri = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        // Percent-encode everything a URI path may not hold as it is.
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(b) {
            uri.push(char::from(*b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(be)?;
    conn.busy_timeout(BUSY_WAIT).map_err(be)?;
    // Connection settings, not writes; `query_only` refuses any write
    // even if a statement tried one.
    conn.pragma_update(None, "query_only", "ON").map_err(be)?;
    conn.pragma_update(None, "mmap_size", 0).map_err(be)?;
    Ok(conn)
}

/// The error SQLite gives a read-only connection that cannot create or
/// grow the log's index.
fn cannot_map_the_log(e: &StoreError) -> bool {
    matches!(e, StoreError::Io { .. } | StoreError::DiskFull { .. })
}

/// Whether the write-ahead log next to `path` is absent or empty (all
/// that was committed is in the main file).
fn log_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(true, |m| m.len() == 0)
}

impl SqliteStore {
    /// Opens the store at `path` read-only, for a command that only
    /// reads: nothing is created, migrated or written (no pragma, no
    /// schema, no checkpointer), so it works on a full disk; every write
    /// method answers [`StoreError::ReadOnly`]. A missing, empty or
    /// schema-less file is [`StoreError::NotInitialised`], a schema newer
    /// than this build [`StoreError::TooNew`], an older one
    /// [`StoreError::Outdated`] (a migration is a write).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        SqliteStore::require_present(path)?;
        let (conn, v) = connect(path)?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        if v < SCHEMA_VERSION {
            return Err(StoreError::Outdated {
                path: path.to_path_buf(),
                found: v,
                current: SCHEMA_VERSION,
            });
        }
        let (reader, _) = connect(path)?;
        Ok(SqliteStore {
            conn: std::sync::Mutex::new(conn),
            reader: std::sync::Mutex::new(reader),
            stop: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            catch_up: std::sync::Arc::default(),
            read_only: true,
        })
    }
}
