//! [`RunStore`](bosun_store::RunStore) and [`Queue`](bosun_store::Queue):
//! the controller lease, target locks, runs and steps, the halt, and the
//! queue of approved ops.

use bosun_model::{Jti, OpState};
use bosun_store::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::fleet::file_blocker_in_tx;
use crate::ledger::event;
use crate::ops::{op_state, set_state};
use crate::sql::*;

pub(crate) fn check_fence(tx: &Transaction<'_>, lease: &Lease) -> Result<()> {
    let cur: Option<(String, i64)> = tx
        .prepare_cached("SELECT holder, token FROM lease WHERE name = 'controller'")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(be)?;
    match cur {
        Some((h, t)) if h == lease.holder && t == i64_of(lease.token) => Ok(()),
        _ => Err(StoreError::Fenced { token: lease.token }),
    }
}

pub(crate) fn read_steps(conn: &Connection, jti: &str) -> Result<Vec<StepResult>> {
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

impl bosun_store::RunStore for SqliteStore {
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
                // A run under way (after a restart, or resumed once a
                // human reported the steps whose outcome was unknown):
                // its hosts are taken again below if they were let go.
                OpState::Running => {}
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
            if state == OpState::Running {
                return Ok(RunStart::Started { steps: read_steps(tx, jti.as_str())? });
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
                event(
                    tx,
                    r.finished_at,
                    Some(jti.as_str()),
                    "blocker.resolved",
                    Some(&r.step),
                    &serde_json::json!({"kind": "unknown-outcome", "host": r.host, "released": still == 0}),
                )?;
                // The last unknown outcome of the op is known now: its run
                // goes on at the controller's next pass (it takes its
                // hosts again first).
                let left: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM steps WHERE jti = ?1 AND status = 'unknown'",
                        [jti.as_str()],
                        |row| row.get(0),
                    )
                    .map_err(be)?;
                if left == 0 {
                    let detail = "resumed: every step whose outcome was unknown has been reported";
                    set_state(tx, jti, OpState::Running, Some(detail), r.finished_at)?;
                    tx.execute(
                        "UPDATE queue SET acked = 0, delivered_token = NULL WHERE jti = ?1",
                        [jti.as_str()],
                    )
                    .map_err(be)?;
                    event(tx, r.finished_at, Some(jti.as_str()), "op.resumed", None, &serde_json::json!({"detail": detail}))?;
                }
                return Ok(());
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

impl bosun_store::Queue for SqliteStore {
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

    fn release_unacked(&self, lease: &Lease) -> Result<u64> {
        self.with_tx(|tx| {
            check_fence(tx, lease)?;
            let n = tx
                .execute(
                    "UPDATE queue SET delivered_token = NULL WHERE delivered_token = ?1 AND acked = 0",
                    [i64_of(lease.token)],
                )
                .map_err(be)?;
            Ok(u64::try_from(n).unwrap_or(0))
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
