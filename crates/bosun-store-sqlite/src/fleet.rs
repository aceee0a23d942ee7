//! [`FleetStore`](bosun_store::FleetStore): blockers, host states and
//! rollouts.

use std::collections::BTreeMap;

use bosun_model::OpState;
use bosun_store::*;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::ledger::event;
use crate::sql::*;

pub(crate) const BLOCKER_COLS: &str = "id, kind, subject, reason, owner, filed_by, op, since, snoozed_until, resolved_at, resolved_by, resolution";

pub(crate) fn blocker_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlockerRow> {
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

pub(crate) fn active_blocker(tx: &Transaction<'_>, id: u64) -> Result<BlockerRow> {
    let b = tx
        .query_row(
            &format!("SELECT {BLOCKER_COLS} FROM blockers WHERE id = ?1"),
            [i64_of(id)],
            blocker_of,
        )
        .optional()
        .map_err(be)?
        .ok_or_else(|| StoreError::NotFound(format!("no blocker {id}")))?;
    if !b.active() {
        return Err(StoreError::Conflict(format!(
            "blocker {id} was already resolved by {}",
            b.resolved_by
        )));
    }
    Ok(b)
}

pub(crate) fn file_blocker_in_tx(tx: &Transaction<'_>, b: &NewBlocker) -> Result<u64> {
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

pub(crate) fn rollout_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RolloutRecord>> {
    let id: String = r.get(0)?;
    let body: String = r.get(1)?;
    let version: i64 = r.get(2)?;
    Ok(from_json("rollout", &body).map(|body| RolloutRecord {
        id,
        body,
        version: u64::try_from(version).unwrap_or(0),
    }))
}

impl bosun_store::FleetStore for SqliteStore {
    fn file_blocker(&self, b: &NewBlocker) -> Result<u64> {
        self.with_tx(|tx| file_blocker_in_tx(tx, b))
    }

    fn blockers_page(&self, all: bool, page: &Page) -> Result<Listed<BlockerRow>> {
        // Newest first by number; the cursor is the last one's.
        let after = page.after.as_ref().map(cursor_ints::<1>).transpose()?;
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {BLOCKER_COLS} FROM blockers WHERE (?1 IS NULL OR id < ?1) {} ORDER BY id DESC LIMIT ?2",
                if all { "" } else { "AND resolved_at IS NULL" }
            );
            let mut st = c.prepare_cached(&sql).map_err(be)?;
            let rows = st
                .query_map(params![after.map(|a| a[0]), page_limit(page)], blocker_of)
                .map_err(be)?;
            let out = rows.map(|r| r.map_err(be)).collect::<Result<Vec<_>>>()?;
            Ok(paged(out, page, |b| Cursor::new(b.id.to_string())))
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
                    "blocker {id} is an unknown step outcome: it is resolved by reporting how the step of op {} on host `{}` ended",
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
                return Err(StoreError::Stale(if expect == 0 {
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
