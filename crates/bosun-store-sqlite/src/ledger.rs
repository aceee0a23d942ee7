//! [`LedgerStore`](bosun_store::LedgerStore): the ledger's rows, subtree
//! hashes, frontier and checkpoints.

use bosun_ledger::merkle::{Frontier, Hash};
use bosun_model::Jti;
use bosun_store::append::{AppendRow, EntryFacts, LedgerBatch, LedgerTx, decode_entry};
use bosun_store::*;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::sql::*;

/// Appends a ledger entry in the caller's transaction (see
/// [`bosun_store::append`]: the encoding, the idempotency key, the cap and
/// the hashes are the store's; this backend stores them).
pub(crate) fn event(
    tx: &Transaction<'_>,
    at: i64,
    jti: Option<&str>,
    kind: &str,
    step: Option<&str>,
    data: &serde_json::Value,
) -> Result<()> {
    let mut l = Appends::default();
    l.event(tx, at, jti, kind, step, data)?;
    l.finish(tx)
}

/// The ledger appends of one transaction ([`LedgerBatch`] over this
/// backend's [`LedgerTx`]).
#[derive(Default)]
pub(crate) struct Appends(LedgerBatch);

impl Appends {
    /// Appends an entry (see [`event`]).
    pub(crate) fn event(
        &mut self,
        tx: &Transaction<'_>,
        at: i64,
        jti: Option<&str>,
        kind: &str,
        step: Option<&str>,
        data: &serde_json::Value,
    ) -> Result<()> {
        let facts = EntryFacts {
            at,
            jti,
            kind,
            step,
            data,
        };
        self.0.append(&mut SqlLedger(tx), &facts)
    }

    /// Stores the frontier if an entry was appended.
    pub(crate) fn finish(self, tx: &Transaction<'_>) -> Result<()> {
        self.0.finish(&mut SqlLedger(tx))
    }
}

/// The in-order position of the perfect subtree of `level` and index
/// `idx` (leaves at even positions, a level-`l` node between the two
/// halves it covers): `idx·2^(l+1) + 2^l − 1`. Positions only grow as the
/// log grows, so new nodes are appended. `None` past `i64`.
pub(crate) fn tree_pos(level: u32, idx: u64) -> Option<i64> {
    let half = 1u64.checked_shl(level)?;
    let pos = idx
        .checked_mul(half.checked_mul(2)?)?
        .checked_add(half - 1)?;
    i64::try_from(pos).ok()
}

/// The ledger's storage primitives in one SQLite transaction.
struct SqlLedger<'a, 'c>(&'a Transaction<'c>);

impl LedgerTx for SqlLedger<'_, '_> {
    fn load_frontier(&mut self) -> Result<Frontier> {
        let (size, hashes): (i64, Vec<u8>) = self
            .0
            .prepare_cached("SELECT size, hashes FROM ledger_frontier WHERE name = 'ledger'")
            .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(be)?
            .unwrap_or((0, Vec::new()));
        let size = u64::try_from(size).map_err(|_| corrupt("ledger frontier", "negative size"))?;
        Frontier::from_bytes(size, &hashes)
            .ok_or_else(|| corrupt("ledger frontier", "hash list does not match the size"))
    }

    fn save_frontier(&mut self, frontier: &Frontier) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO ledger_frontier (name, size, hashes) VALUES ('ledger', ?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET size = excluded.size, hashes = excluded.hashes",
            )
            .and_then(|mut st| st.execute(params![i64_of(frontier.size()), frontier.to_bytes()]))
            .map_err(be)?;
        Ok(())
    }

    fn insert_row(&mut self, row: &AppendRow<'_>) -> Result<bool> {
        // The unique index on (jti, kind, key) refuses the same fact twice.
        let n = self
            .0
            .prepare_cached(
                "INSERT INTO ledger (idx, jti, kind, key, entry, leaf, root) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(jti, kind, key) WHERE jti IS NOT NULL DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute(params![
                    i64_of(row.idx),
                    row.jti,
                    row.kind,
                    row.key,
                    row.entry,
                    &row.leaf[..],
                    &row.root[..]
                ])
            })
            .map_err(be)?;
        Ok(n > 0)
    }

    fn put_node(&mut self, level: u32, idx: u64, hash: &Hash) -> Result<()> {
        let pos = tree_pos(level, idx).ok_or_else(|| {
            StoreError::Conflict(format!(
                "the ledger is full: subtree {level}/{idx} has no position; nothing was written"
            ))
        })?;
        self.0
            .prepare_cached("INSERT OR REPLACE INTO ledger_tree (pos, hash) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![pos, &hash[..]]))
            .map_err(be)?;
        Ok(())
    }
}

impl bosun_store::LedgerStore for SqliteStore {
    fn events_page(&self, jti: Option<&Jti>, page: &Page) -> Result<Listed<Event>> {
        // In ledger order; the cursor is the last entry's index.
        let after = page.after.as_ref().map(cursor_ints::<1>).transpose()?;
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT idx, entry FROM ledger WHERE (?1 IS NULL OR jti = ?1) AND (?2 IS NULL OR idx > ?2)
                     ORDER BY idx LIMIT ?3",
                )
                .map_err(be)?;
            let rows = st
                .query_map(params![jti.map(|j| j.as_str()), after.map(|a| a[0]), page_limit(page)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, entry) = row.map_err(be)?;
                out.push(decode_entry(id, &entry)?);
            }
            Ok(paged(out, page, |e| Cursor::new(e.id.to_string())))
        })
    }

    fn record_event(&self, e: &NewEvent) -> Result<()> {
        self.with_tx(|tx| event(tx, e.at, e.jti.as_deref(), &e.kind, None, &e.data))
    }

    fn record_events(&self, events: &[NewEvent]) -> Result<()> {
        self.with_tx(|tx| {
            let mut l = Appends::default();
            for e in events {
                l.event(tx, e.at, e.jti.as_deref(), &e.kind, None, &e.data)?;
            }
            l.finish(tx)
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
                return Err(StoreError::Stale(format!(
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
                return Err(StoreError::NotFound(format!(
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
