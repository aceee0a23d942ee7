//! The schema (`sql/schema.sql`, created on every open) and the
//! migrations from older versions (`sql/4_*.sql` and the ledger rebuild of
//! schema 1), each in one transaction.

use bosun_store::Result;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::ledger::event;
use crate::sql::{be, corrupt, from_json};

/// 2: events became ledger entries (`ledger` and friends replace `events`).
/// 3: blockers, host state and rollouts (tables created on open).
/// 4: the ledger's subtree hashes keyed by their in-order position
///    (`ledger_tree` replaces `ledger_nodes`); the ops indexes an intake
///    commit writes cut to those a query uses; the queue without
///    AUTOINCREMENT (see [`migrate_to_4`]).
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// The schema, created on open (`CREATE … IF NOT EXISTS`: idempotent).
pub(crate) const SCHEMA: &str = include_str!("sql/schema.sql");

/// Reads the schema version of an opened connection without writing.
pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(be)
}

/// The `CREATE` statement of table `name`, if there is one.
pub(crate) fn table_sql(tx: &Transaction<'_>, name: &str) -> Result<Option<String>> {
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
pub(crate) fn migrate_events_to_ledger(conn: &mut Connection) -> Result<()> {
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
pub(crate) fn migrate_to_4(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(be)?;
    tx.execute_batch(include_str!("sql/4_indexes.sql"))
        .map_err(be)?;
    if table_sql(&tx, "queue")?.is_some_and(|q| q.contains("AUTOINCREMENT")) {
        tx.execute_batch(include_str!("sql/4_queue.sql"))
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
        tx.execute_batch(include_str!("sql/4_ledger_tree.sql"))
            .map_err(be)?;
    }
    tx.commit().map_err(be)
}
