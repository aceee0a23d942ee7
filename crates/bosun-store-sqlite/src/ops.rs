//! [`OpStore`](bosun_store::OpStore): ops, intake's group commit and its
//! budget check, approvals and rejections.

use bosun_model::{Digest, Jti, KeyId, OpState};
use bosun_store::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::ledger::{Appends, event};
use crate::runs::read_steps;
use crate::sql::*;

pub(crate) fn enqueue(tx: &Transaction<'_>, jti: &str, at: i64) -> Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO queue (jti, enqueued_at) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![jti, at]))
        .map_err(be)?;
    Ok(())
}

pub(crate) fn op_state(tx: &Transaction<'_>, jti: &Jti) -> Result<OpState> {
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

pub(crate) fn set_state(
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

pub(crate) fn read_approvals(conn: &Connection, op: &str) -> Result<Vec<ApprovalRow>> {
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

pub(crate) fn insert_approval(tx: &Transaction<'_>, a: &NewApproval) -> Result<()> {
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

/// The hosts `iss`'s changing, not denied ops touched since `since`, as
/// the transaction sees them (ops written earlier in it included).
pub(crate) fn hosts_changed_in(conn: &Connection, iss: &str, since: i64) -> Result<u64> {
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
pub(crate) struct TxUsage(std::collections::HashMap<(KeyId, i64), u64>);

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
pub(crate) fn budget_moved(
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

/// [`bosun_store::adopted_basis`] of what is adopted, read in `tx`.
fn adopted_basis_in_tx(tx: &Transaction<'_>) -> Result<Digest> {
    let mut st = tx
        .prepare_cached("SELECT subject, digest FROM adopted ORDER BY subject")
        .map_err(be)?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(be)?;
    let mut all = Vec::new();
    for row in rows {
        let (subject, digest) = row.map_err(be)?;
        let digest =
            Digest::try_from(digest).map_err(|e| crate::sql::corrupt("adopted digest", e))?;
        all.push((subject, digest));
    }
    Ok(bosun_store::adopted_basis(
        all.iter().map(|(s, d)| (s.as_str(), d)),
    ))
}

pub(crate) fn rejection_in_tx(
    tx: &Transaction<'_>,
    ledger: &mut Appends,
    r: &Rejection,
) -> Result<()> {
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

pub(crate) fn conflict_rejection(op: &NewOp, c: &SubmitConflict, check: &str) -> Rejection {
    Rejection {
        at: op.received_at,
        check: check.to_string(),
        message: c.to_string(),
        jti: Some(op.claims.jti.to_string()),
        iss: Some(op.claims.iss.to_string()),
        input_digest: Digest::of(op.envelope.as_bytes()),
    }
}

impl bosun_store::OpStore for SqliteStore {
    fn submit_ops(
        &self,
        ops: &[NewOp],
        rejected: &[Rejection],
    ) -> Result<Vec<std::result::Result<(), SubmitConflict>>> {
        self.with_tx(|tx| {
            let mut out = Vec::with_capacity(ops.len());
            let mut ledger = Appends::default();
            for r in rejected {
                rejection_in_tx(tx, &mut ledger, r)?;
            }
            // What is adopted now, read once in this transaction when an op
            // says what it was decided on.
            let adopted_now = (ops.iter().any(|o| o.adopted_basis.is_some()))
                .then(|| adopted_basis_in_tx(tx))
                .transpose()?;
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
                if let Some(basis) = &op.adopted_basis
                    && Some(basis) != adopted_now.as_ref()
                {
                    out.push(Err(SubmitConflict::AdoptionMoved));
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
                    &serde_json::to_value(&op.decision).map_err(|e| StoreError::Encode { what: "decision".into(), source: Box::new(e) })?,
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
            let mut l = Appends::default();
            rejection_in_tx(tx, &mut l, r)?;
            l.finish(tx)
        })
    }

    fn rejections_page(&self, page: &Page) -> Result<Listed<Rejection>> {
        // Newest first by id; the cursor is the last row's id.
        let after = page.after.as_ref().map(cursor_ints::<1>).transpose()?;
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT at, chk, message, jti, iss, input_digest, id FROM rejections
                     WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
                )
                .map_err(be)?;
            let rows = st
                .query_map(params![after.map(|a| a[0]), page_limit(page)], |r| {
                    Ok((
                        (
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get::<_, String>(5)?,
                        ),
                        r.get::<_, i64>(6)?,
                    ))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let ((at, check, message, jti, iss, d), id) = row.map_err(be)?;
                let r = Rejection {
                    at,
                    check,
                    message,
                    jti,
                    iss,
                    input_digest: Digest::try_from(d)
                        .map_err(|e| corrupt("rejection digest", e))?,
                };
                out.push((r, id));
            }
            let l = paged(out, page, |(_, id)| Cursor::new(id.to_string()));
            Ok(Listed {
                items: l.items.into_iter().map(|(r, _)| r).collect(),
                next: l.next,
            })
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

    fn ops_page(&self, state: Option<OpState>, page: &Page) -> Result<Listed<OpSummary>> {
        // Newest first: (created_at, rowid) descending; the cursor is the
        // last row's pair.
        let after = page.after.as_ref().map(cursor_ints::<2>).transpose()?;
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT jti, iss, runbook, targets, state, json_extract(decision, '$.outcome.kind'), created_at, updated_at, rowid
                     FROM ops WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR (created_at, rowid) < (?2, ?3))
                     ORDER BY created_at DESC, rowid DESC LIMIT ?4",
                )
                .map_err(be)?;
            let rows = st
                .query_map(
                    params![state.map(|s| s.as_str()), after.map(|a| a[0]), after.map(|a| a[1]), page_limit(page)],
                    |r| {
                        Ok((
                            (
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, i64>(3)?,
                                r.get::<_, String>(4)?,
                                r.get::<_, Option<String>>(5)?,
                            ),
                            r.get::<_, i64>(6)?,
                            r.get::<_, i64>(7)?,
                            r.get::<_, i64>(8)?,
                        ))
                    },
                )
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let ((jti, iss, runbook, targets, state, decision), created_at, updated_at, rowid) = row.map_err(be)?;
                let summary = OpSummary {
                    jti: jti_of(jti)?,
                    iss: KeyId::try_from(iss).map_err(|e| corrupt("issuer", e))?,
                    runbook,
                    targets: u32::try_from(targets).unwrap_or(u32::MAX),
                    state: state_of(&state)?,
                    decision: decision.unwrap_or_default(),
                    created_at,
                    updated_at,
                };
                out.push((summary, rowid));
            }
            let l = paged(out, page, |(o, rowid)| Cursor::new(format!("{}.{rowid}", o.created_at)));
            Ok(Listed {
                items: l.items.into_iter().map(|(o, _)| o).collect(),
                next: l.next,
            })
        })
    }

    fn op_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>> {
        self.with_conn(|c| ids_with_prefix(c, "ops", "jti", prefix, limit))
    }

    fn count_ops_by_state(&self) -> Result<Vec<(OpState, u64)>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached("SELECT state, count(*) FROM ops GROUP BY state ORDER BY state")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (state, n) = row.map_err(be)?;
                // A state this build does not know is left out, not fatal.
                if let Some(s) = OpState::parse(&state) {
                    out.push((s, u64::try_from(n).unwrap_or(0)));
                }
            }
            Ok(out)
        })
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
                &approval_detail(a),
            )?;
            if let Some(to) = transition {
                let detail = match to {
                    OpState::Denied => a.claims.reason.clone(),
                    _ => None,
                };
                set_state(tx, op, to, detail.as_deref(), a.received_at)?;
                let kind = if to == OpState::Approved {
                    "op.approved"
                } else {
                    "op.denied"
                };
                event(
                    tx,
                    a.received_at,
                    Some(op.as_str()),
                    kind,
                    None,
                    &serde_json::json!({"by": a.claims.iss}),
                )?;
                if to == OpState::Approved {
                    enqueue(tx, op.as_str(), a.received_at)?;
                }
            }
            Ok(())
        })
    }
}

/// What the ledger records of an approval: who, as what, which approval of
/// which plan, why; and, when a passkey signed it, which credential and
/// the digest of the whole envelope (claims and assertion) the store keeps.
fn approval_detail(a: &NewApproval) -> serde_json::Value {
    let mut d = serde_json::json!({"by": a.claims.iss, "role": a.role, "approval": a.claims.jti, "plan_digest": a.claims.plan_digest, "reason": a.claims.reason});
    if let (Some(cred), Some(m)) = (&a.passkey, d.as_object_mut()) {
        m.insert("passkey".into(), serde_json::json!(cred));
        m.insert(
            "envelope_digest".into(),
            serde_json::json!(bosun_model::Digest::of(a.envelope.as_bytes())),
        );
    }
    d
}
