//! Conversions between rows and records, and the error mapping of
//! `rusqlite`, shared by every area module.

use bosun_model::{Jti, OpState, Role};
use bosun_store::{Cursor, Listed, Page, Result, StoreError};
use rusqlite::{Connection, Transaction, params};

pub(crate) fn be(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy {
            source: Box::new(e),
        },
        // SQLite answers a write that found no space `SQLITE_FULL`, and
        // a write-ahead-log index it could not grow (a new `-shm` file,
        // on a full disk) `SQLITE_IOERR_SHMSIZE`.
        Some(C::DiskFull) => StoreError::DiskFull {
            source: Box::new(e),
        },
        _ if matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE) => {
            StoreError::DiskFull {
                source: Box::new(e),
            }
        }
        Some(
            C::SystemIoFailure
            | C::CannotOpen
            | C::PermissionDenied
            | C::ReadOnly
            | C::NoLargeFileSupport,
        ) => StoreError::Io {
            what: "the SQLite database".into(),
            source: Box::new(e),
        },
        Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt {
            what: "SQLite database".into(),
            detail: e.to_string(),
        },
        _ => StoreError::backend("SQLite", e),
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Encode {
        what: "record".into(),
        source: Box::new(e),
    })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

pub(crate) fn state_of(s: &str) -> Result<OpState> {
    OpState::parse(s).ok_or_else(|| corrupt("op state", s))
}

pub(crate) fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| corrupt("role", s))
}

pub(crate) fn jti_of(s: String) -> Result<Jti> {
    Jti::try_from(s).map_err(|e| corrupt("jti", e))
}

/// The smallest string above every string that starts with `prefix`,
/// for an indexed range `col >= prefix AND col < bound`; `None` when
/// `prefix` holds a character no id may (ids are ASCII letters, digits,
/// `-`, `_` and `.`), so that it matches nothing.
pub(crate) fn prefix_bound(prefix: &str) -> Option<String> {
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
pub(crate) fn prefix_sql(table: &str, col: &str) -> String {
    format!("SELECT {col} FROM {table} WHERE {col} >= ?1 AND {col} < ?2 ORDER BY {col} LIMIT ?3")
}

/// The ids in `table`'s `col` (its primary key) that start with
/// `prefix`, in byte order, at most `limit`: a range scan of the key's
/// index.
pub(crate) fn ids_with_prefix(
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

pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `execute` through the connection's statement cache: the hot paths (a
/// step's two writes) skip re-parsing their SQL.
pub(crate) fn exec_cached(
    tx: &Transaction<'_>,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<usize> {
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(p))
        .map_err(be)
}

/// The `LIMIT` that tells whether a page of `limit` is the last: one more.
pub(crate) fn page_limit(page: &Page) -> i64 {
    i64::try_from(page.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1)
}

/// Cuts a page's rows (read with [`page_limit`]) to its limit, with the
/// cursor of its last row (made by `cursor`) when more rows follow.
pub(crate) fn paged<T>(mut items: Vec<T>, page: &Page, cursor: impl Fn(&T) -> Cursor) -> Listed<T> {
    let more = items.len() > page.limit;
    items.truncate(page.limit);
    let next = if more { items.last().map(cursor) } else { None };
    Listed { items, next }
}

/// The position of a cursor made of integers separated by `.` (`n` of
/// them), or [`StoreError::BadCursor`].
pub(crate) fn cursor_ints<const N: usize>(c: &Cursor) -> Result<[i64; N]> {
    let bad = || StoreError::BadCursor {
        cursor: c.to_string(),
    };
    let mut out = [0; N];
    let mut parts = c.as_str().split('.');
    for slot in &mut out {
        *slot = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}
