//! Intake: the gate every op passes, in two halves.
//!
//! [`Control::prepare`] writes nothing, so any number of threads may run it
//! at once: for each envelope, in order, size and format, known key,
//! envelope type, signature (batched), claims, issuer = key, validity
//! window, workspace, targets known and inside the issuer's scope, runbook
//! known, re-plan and compare digests, then the keeper's decision, which
//! notes the budget usage it counted.
//!
//! [`Control::commit`] is one transaction for whatever was prepared (group
//! commit): it records the refusals, checks replay, sequence, that what is
//! adopted is still what the ops were decided on (else they are sent back,
//! check `adoption`) and that each budget basis still holds, persists the
//! ops with their decisions and
//! enqueues the ones that may run. An op whose issuer's budget usage moved
//! in between (another batch of that issuer went in first) is decided again
//! and committed in a further transaction, so a budget holds however many
//! submitters race. Every refusal names its check and is recorded.
//! [`Control::intake`] is the two in a row.

use bosun_api::Check;
use std::collections::BTreeSet;

use bosun_model::claims::OP_TYP;
use bosun_model::{Decision, Digest, Jti, OpClaims, OpState, Outcome, Plan, Role};
use bosun_sign::{PublicKey, Unverified};
use bosun_store::{BudgetBasis, NewOp, Rejection, SubmitConflict};

use crate::governed::Governed;
use crate::{Control, Result, client};

mod admission;

use admission::HARD_RULES;
pub use admission::RolloutAdmission;

/// Fewest signatures verified as a batch.
const BATCH_VERIFY_MIN: usize = 8;

/// How many times [`Control::commit`] decides an op again when its
/// issuer's budget usage keeps moving under it before it refuses the op
/// (check `budget`; the same envelope may be submitted again).
const BUDGET_ROUNDS: usize = 4;

/// Largest clock skew tolerated for `iat` in the future, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;

/// An op intake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its id.
    pub jti: Jti,
    /// The keeper's decision.
    pub decision: Decision,
    /// `approved` (queued), `pending_approval` or `denied`.
    pub state: OpState,
    /// Active blockers that hold it (it stays queued until they are
    /// resolved), in words.
    pub held: Vec<String>,
}

/// An input a check refused, and why: the wire type, so that every face
/// reports refusals by [`bosun_api::Check`].
pub use bosun_api::Rejection as Rejected;

mod refused;
pub use refused::MAX_REFUSAL_MESSAGE;
pub(crate) use refused::reject;

/// The claims every envelope carries that intake and approvals check alike.
pub(crate) struct Stamp<'a> {
    pub iss: &'a bosun_model::KeyId,
    pub iat: i64,
    pub exp: i64,
    pub ws: &'a bosun_model::Name,
}

/// An op's numbers within bounds: `iat` not negative nor before the
/// workspace's ledger began (`created`), a lifetime
/// (`exp - iat`) within keeper.toml's `max_op_lifetime` for the issuer's
/// role, and a `seq` the store can hold (at most 2^63 − 1).
fn check_bounds(
    gov: &Governed,
    role: Role,
    c: &OpClaims,
    created: i64,
    jti: Option<&str>,
) -> std::result::Result<(), Rejected> {
    let jti = || jti.map(str::to_string);
    if c.iat < 0 {
        return Err(reject(
            Check::Iat,
            format!("the op says it was issued at {}, before 1970", c.iat),
            jti(),
        ));
    }
    // A minute of clock skew, as for `iat` in the future.
    if c.iat < created.saturating_sub(MAX_SKEW_SECS) {
        return Err(reject(
            Check::Iat,
            format!(
                "the op says it was issued at {}, before this workspace's ledger began ({created})",
                c.iat
            ),
            jti(),
        ));
    }
    let max = gov.policy.max_op_lifetime_secs(role);
    let lifetime = c.exp.saturating_sub(c.iat);
    if lifetime > max {
        return Err(reject(
            Check::Lifetime,
            format!(
                "the op lives {lifetime} s (exp − iat), over the {max} s that policy/keeper.toml's max_op_lifetime allows a {role}: sign it with a shorter expiry"
            ),
            jti(),
        ));
    }
    if i64::try_from(c.seq).is_err() {
        return Err(reject(
            Check::Seq,
            format!("seq {} is above 2^63 − 1, the largest a store holds", c.seq),
            jti(),
        ));
    }
    Ok(())
}

/// The checks shared by op and approval envelopes: the issuer is the
/// signing key, the envelope is within its validity window (with
/// [`MAX_SKEW_SECS`] of clock skew), and it is for this workspace.
/// `what` names the envelope in messages (`op`, `approval`).
pub(crate) fn check_envelope(
    what: &str,
    kid: Option<&str>,
    c: &Stamp<'_>,
    ws: &bosun_model::Name,
    now: i64,
    jti: Option<String>,
) -> std::result::Result<(), Rejected> {
    let kid = kid.unwrap_or("");
    if c.iss.as_str() != kid {
        return Err(reject(
            Check::Issuer,
            format!("iss `{}` is not the signing key `{kid}`", c.iss),
            jti,
        ));
    }
    if now >= c.exp {
        return Err(reject(
            Check::Expired,
            format!("the {what} expired at {} (now {now})", c.exp),
            jti,
        ));
    }
    if c.iat > now + MAX_SKEW_SECS {
        return Err(reject(
            Check::NotYetValid,
            format!(
                "the {what} was issued at {}, in the future (now {now})",
                c.iat
            ),
            jti,
        ));
    }
    if c.ws != ws {
        return Err(reject(
            Check::Workspace,
            format!("the {what} is for workspace `{}`, this is `{ws}`", c.ws),
            jti,
        ));
    }
    Ok(())
}

/// The answer for an op whose commit failed after an earlier transaction of
/// the same [`Control::commit`] went in: this op was not written.
fn later_failure(e: &bosun_store::StoreError) -> Rejected {
    // The message is all the submitter sees: the error with its causes.
    let mut why = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        why.push_str(&format!(": {c}"));
        cause = c.source();
    }
    reject(
        Check::Store,
        format!(
            "the store failed while this op was decided again; nothing of it was written ({why}); submit it again"
        ),
        None,
    )
}

/// The decision as `submit --json` names it.
pub fn decision_word(d: &Decision) -> &'static str {
    decision_word_of(d.outcome.kind())
}

/// [`decision_word`] of an outcome's stored kind (`auto`, `approvals`,
/// `deny`): what an op list shows from its summary.
pub fn decision_word_of(kind: &str) -> &str {
    match kind {
        "approvals" => "pending_approval",
        "deny" => "denied",
        other => other,
    }
}

/// Budget usage within one intake batch: what the store said per issuer
/// and window start, and the hosts of ops accepted earlier in the batch
/// (not yet stored), so that a batch cannot slip past a budget.
#[derive(Default)]
struct BatchUsage {
    stored: std::collections::HashMap<(bosun_model::KeyId, i64), u64>,
    added: std::collections::HashMap<bosun_model::KeyId, u64>,
}

struct Checked {
    claims: OpClaims,
    role: Role,
    plan: Plan,
    adopted: bool,
}

/// A batch of envelopes through the checks that write nothing
/// ([`Control::prepare`]), waiting for [`Control::commit`]. Batches
/// prepared apart (on other threads) may be [`Prepared::merge`]d into one
/// commit.
#[must_use = "nothing is stored until the batch is committed"]
pub struct Prepared {
    slots: Vec<Slot>,
}

enum Slot {
    Op(Box<Judged>),
    Refused(Rejected, Rejection),
}

/// An op that passed every check, with the keeper's decision: what the
/// store is handed, and whether its runbook is adopted (to decide it
/// again).
struct Judged {
    op: NewOp,
    adopted: bool,
}

/// What the keeper decides on.
struct Subject<'a> {
    claims: &'a OpClaims,
    role: Role,
    plan: &'a Plan,
    adopted: bool,
    now: i64,
}

impl Judged {
    fn subject(&self) -> Subject<'_> {
        Subject {
            claims: &self.op.claims,
            role: self.op.role,
            plan: &self.op.plan,
            adopted: self.adopted,
            now: self.op.received_at,
        }
    }
}

impl Prepared {
    /// Appends another prepared batch; its ops commit after this one's.
    pub fn merge(&mut self, other: Prepared) {
        self.slots.extend(other.slots);
    }

    /// How many envelopes the batch holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl Control {
    /// Runs intake on a batch of envelopes: [`Control::prepare`], then
    /// [`Control::commit`]. The outer error is a store failure (nothing of
    /// the batch was written); the inner results say, per envelope,
    /// accepted or rejected (and the rejection is recorded).
    pub fn intake(
        &self,
        gov: &Governed,
        envelopes: &[String],
        now: i64,
    ) -> Result<Vec<std::result::Result<Accepted, Rejected>>> {
        let p = self.prepare(gov, envelopes, now);
        self.commit(gov, p)
    }

    /// The checks of intake that write nothing, and the keeper's decision,
    /// for a batch of envelopes received at `now`. Safe to run on many
    /// threads at once; nothing is stored until [`Control::commit`].
    pub fn prepare(&self, gov: &Governed, envelopes: &[String], now: i64) -> Prepared {
        // 1. Decode and find keys.
        let mut decoded: Vec<std::result::Result<(Unverified, &PublicKey, Role), Rejected>> =
            envelopes
                .iter()
                .map(|env| {
                    let u = bosun_sign::decode(env).map_err(|e| {
                        let check = if matches!(e, bosun_sign::SignError::TooLarge { .. }) {
                            Check::Size
                        } else {
                            Check::Format
                        };
                        reject(check, e.to_string(), None)
                    })?;
                    let kid = u.kid().unwrap_or_default().to_string();
                    let entry = bosun_model::KeyId::parse(&kid)
                        .ok()
                        .and_then(|k| gov.keys.get(&k))
                        .and_then(|e| e.public.as_ref().map(|p| (p, e.role)));
                    let Some((public, role)) = entry else {
                        return Err(reject(
                            Check::UnknownKey,
                            format!("key `{kid}` is not in the adopted key registry"),
                            None,
                        ));
                    };
                    if u.header().typ.as_deref() != Some(OP_TYP) {
                        return Err(reject(
                            Check::Type,
                            format!(
                                "envelope type is `{}`, not `{OP_TYP}`",
                                u.header().typ.as_deref().unwrap_or("(none)")
                            ),
                            None,
                        ));
                    }
                    Ok((u, public, role))
                })
                .collect();
        // 2. Signatures: one batch verification, falling back to single
        //    verification to find the bad ones.
        let pairs: Vec<(&Unverified, &PublicKey)> = decoded
            .iter()
            .filter_map(|d| d.as_ref().ok().map(|(u, p, _)| (u, *p)))
            .collect();
        // Batch verification pays off from a handful of signatures on; below
        // that, single verification is cheaper.
        let batch_ok = pairs.len() >= BATCH_VERIFY_MIN && bosun_sign::verify_batch(&pairs).is_ok();
        if !batch_ok {
            for d in decoded.iter_mut() {
                if let Ok((u, p, _)) = d
                    && let Err(e) = u.verify(p)
                {
                    *d = Err(reject(Check::Signature, e.to_string(), None));
                }
            }
        }
        // 3. Claims, scope, re-plan, decide.
        let mut usage = BatchUsage::default();
        let slots = decoded
            .into_iter()
            .zip(envelopes)
            .map(
                |(d, env)| match d.and_then(|(u, _, role)| self.check(gov, &u, role, now)) {
                    Ok(c) => {
                        let subject = Subject {
                            claims: &c.claims,
                            role: c.role,
                            plan: &c.plan,
                            adopted: c.adopted,
                            now,
                        };
                        let (decision, state, budget_basis) = self.judge(gov, &subject, &mut usage);
                        Slot::Op(Box::new(Judged {
                            op: NewOp {
                                envelope: env.clone(),
                                claims: c.claims,
                                role: c.role,
                                plan: c.plan,
                                decision,
                                state,
                                received_at: now,
                                budget_basis,
                                adopted_basis: Some(gov.basis.clone()),
                            },
                            adopted: c.adopted,
                        }))
                    }
                    Err(rej) => {
                        let row = Rejection {
                            at: now,
                            check: rej.check.as_str().to_string(),
                            message: rej.message.clone(),
                            jti: rej.jti.clone(),
                            iss: None,
                            input_digest: Digest::of(env.as_bytes()),
                        };
                        Slot::Refused(rej, row)
                    }
                },
            )
            .collect();
        Prepared { slots }
    }

    /// Stores a prepared batch in one transaction: its refusals, and its
    /// ops that are neither replays nor out of sequence, with their
    /// decisions, events and (when they may run) queue items. Ops whose
    /// issuer's budget usage moved since they were decided are decided
    /// again on what is stored and committed in a further transaction. The
    /// outer error is a failure of the first transaction: nothing was
    /// written. When a further one fails, the ops it held are answered by
    /// the `store` check (not written, not recorded) and the others stand.
    pub fn commit(
        &self,
        gov: &Governed,
        prepared: Prepared,
    ) -> Result<Vec<std::result::Result<Accepted, Rejected>>> {
        let mut out: Vec<Option<std::result::Result<Accepted, Rejected>>> = Vec::new();
        // The ops to store (handed to the store as they are, no copies) and,
        // beside them, each one's slot and whether its runbook is adopted.
        let mut ops: Vec<NewOp> = Vec::new();
        let mut meta: Vec<(usize, bool)> = Vec::new();
        let mut refused = Vec::new();
        for (i, slot) in prepared.slots.into_iter().enumerate() {
            match slot {
                Slot::Op(j) => {
                    out.push(None);
                    meta.push((i, j.adopted));
                    ops.push(j.op);
                }
                Slot::Refused(rej, row) => {
                    if self.records(rej.check) {
                        refused.push(row);
                    }
                    out.push(Some(Err(rej)));
                }
            }
        }
        for round in 0..=BUDGET_ROUNDS {
            if round == BUDGET_ROUNDS {
                // Still moving: refuse them, recorded like any refusal.
                refused = ops
                    .iter()
                    .zip(&meta)
                    .map(|(op, (i, _))| {
                        let c = &op.claims;
                        let rej = reject(
                            Check::Budget,
                            format!(
                                "{}'s budget usage kept changing while the op was decided ({BUDGET_ROUNDS} times); submit it again",
                                c.iss
                            ),
                            Some(c.jti.to_string()),
                        );
                        let row = Rejection {
                            at: op.received_at,
                            check: rej.check.as_str().to_string(),
                            message: rej.message.clone(),
                            jti: rej.jti.clone(),
                            iss: Some(c.iss.to_string()),
                            input_digest: Digest::of(op.envelope.as_bytes()),
                        };
                        out[*i] = Some(Err(rej));
                        row
                    })
                    .collect();
                if let Err(e) = self.store.submit_ops(&[], &refused) {
                    for (i, _) in &meta {
                        out[*i] = Some(Err(later_failure(&e)));
                    }
                }
                break;
            }
            let stored = match self.store.submit_ops(&ops, &refused) {
                Ok(s) => s,
                // Nothing of this commit is written yet: the caller's error.
                Err(e) if round == 0 => return Err(e.into()),
                // Earlier rounds are stored and answered; these ops are not.
                Err(e) => {
                    for (i, _) in &meta {
                        out[*i] = Some(Err(later_failure(&e)));
                    }
                    break;
                }
            };
            refused.clear();
            // Blockers do not refuse an op: they hold it, and say so. The op
            // is stored whatever this read says; the controller checks the
            // blockers again before it runs anything.
            let active = if stored.iter().any(|r| r.is_ok()) {
                self.store.blockers(false).map_err(|e| e.to_string())
            } else {
                Ok(Vec::new())
            };
            let mut again = Vec::new();
            for ((op, (i, adopted)), r) in ops.into_iter().zip(meta).zip(stored) {
                out[i] = Some(match r {
                    Ok(()) => Ok(Accepted {
                        held: match &active {
                            Ok(active) => {
                                crate::blockers::holding(&gov.blocker_kinds, active, &op.plan)
                                    .iter()
                                    .map(crate::blockers::Hold::text)
                                    .collect()
                            }
                            Err(e) => vec![format!(
                                "unknown: the active blockers could not be read ({e}); the controller checks them before it runs anything"
                            )],
                        },
                        jti: op.claims.jti,
                        decision: op.decision,
                        state: op.state,
                    }),
                    Err(SubmitConflict::BudgetMoved { .. }) => {
                        again.push((Judged { op, adopted }, i));
                        continue;
                    }
                    Err(conflict) => Err(reject(
                        match conflict {
                            SubmitConflict::SeqNotAbove { .. } => Check::Seq,
                            SubmitConflict::AdoptionMoved => Check::Adoption,
                            _ => Check::Replay,
                        },
                        conflict.to_string(),
                        Some(op.claims.jti.to_string()),
                    )),
                });
            }
            if again.is_empty() {
                break;
            }
            // Decide them again, in order, on what is stored now.
            let mut usage = BatchUsage::default();
            ops = Vec::with_capacity(again.len());
            meta = Vec::with_capacity(again.len());
            for (mut j, i) in again {
                (j.op.decision, j.op.state, j.op.budget_basis) =
                    self.judge(gov, &j.subject(), &mut usage);
                meta.push((i, j.adopted));
                ops.push(j.op);
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(reject(Check::Store, "no answer for this op", None))))
            .collect())
    }

    /// Decides an op with the keeper, counting the budget usage of ops
    /// judged before it in this batch (`usage`): its decision, the state it
    /// enters and the budget usage the decision counted.
    fn judge(
        &self,
        gov: &Governed,
        c: &Subject<'_>,
        usage: &mut BatchUsage,
    ) -> (Decision, OpState, Vec<BudgetBasis>) {
        let (decision, basis) = self.decide(gov, c, usage);
        let state = match decision.outcome {
            Outcome::Auto => OpState::Approved,
            Outcome::Approvals(_) => OpState::PendingApproval,
            Outcome::Deny { .. } => OpState::Denied,
        };
        if state != OpState::Denied && !c.plan.read_only {
            *usage.added.entry(c.claims.iss.clone()).or_default() +=
                u64::try_from(c.claims.targets.len()).unwrap_or(u64::MAX);
        }
        (decision, state, basis)
    }

    fn check(
        &self,
        gov: &Governed,
        u: &Unverified,
        role: Role,
        now: i64,
    ) -> std::result::Result<Checked, Rejected> {
        let claims: OpClaims = u
            .claims()
            .map_err(|e| reject(Check::Claims, e.to_string(), None))?;
        let jti = Some(claims.jti.to_string());
        check_envelope(
            "op",
            u.kid(),
            &Stamp {
                iss: &claims.iss,
                iat: claims.iat,
                exp: claims.exp,
                ws: &claims.ws,
            },
            &self.ws.config.name,
            now,
            jti.clone(),
        )?;
        let created = self.created_at().unwrap_or(0);
        check_bounds(gov, role, &claims, created, jti.as_deref())?;
        if claims.targets.is_empty() {
            return Err(reject(Check::Targets, "the op names no target host", jti));
        }
        let hosts = client::resolve_targets(gov, &claims.targets)
            .map_err(|e| reject(Check::Targets, e.to_string(), jti.clone()))?;
        let scope = gov
            .keys
            .get(&claims.iss)
            .map(|e| e.scope.clone())
            .unwrap_or_default();
        if let Some(h) = hosts
            .iter()
            .find(|h| !bosun_workspace::scope_allows(&scope, h))
        {
            return Err(reject(
                Check::Scope,
                format!(
                    "host `{}` is outside {}'s scope ({})",
                    h.name,
                    claims.iss,
                    scope.join(", ")
                ),
                jti,
            ));
        }
        // Infra hosts opt in per runbook (seed 001: "never targets infra
        // hosts without explicit fleet/ manifest opt-in").
        if let Some(h) = hosts
            .iter()
            .find(|h| h.infra && !h.runbooks.iter().any(|r| r == claims.runbook.as_str()))
        {
            return Err(reject(
                Check::Scope,
                format!(
                    "infra host `{}` has not opted in to runbook `{}`: list it in the host's `runbooks` in fleet/hosts.toml",
                    h.name, claims.runbook
                ),
                jti,
            ));
        }
        let Some(rb) = gov.runbooks.get(claims.runbook.as_str()) else {
            return Err(reject(
                Check::Runbook,
                format!("unknown runbook `{}`", claims.runbook),
                jti,
            ));
        };
        let plan = match &claims.rollout {
            None if claims.check => {
                // Checks are ops: only an adopted runbook's checks run.
                if !rb.adopted {
                    return Err(reject(
                        Check::Runbook,
                        format!(
                            "runbook `{}` is not adopted (or differs from its adopted version): only an adopted runbook's checks run",
                            claims.runbook
                        ),
                        jti,
                    ));
                }
                bosun_runbook::plan(&rb.runbook, &hosts, &claims.params)
                    .and_then(bosun_runbook::check_plan)
                    .map_err(|e| reject(Check::Plan, e.to_string(), jti.clone()))?
            }
            None => bosun_runbook::plan(&rb.runbook, &hosts, &claims.params)
                .map_err(|e| reject(Check::Plan, e.to_string(), jti.clone()))?,
            Some(_) if claims.check => {
                return Err(reject(
                    Check::Rollout,
                    "a rollout op is never a check op",
                    jti,
                ));
            }
            Some(r) => {
                let p = self.rollout_plan(gov, &claims, r, &hosts)?;
                if p.runbook != claims.runbook || p.params != claims.params {
                    return Err(reject(
                        Check::Rollout,
                        format!(
                            "a {} op of rollout `{}` runs `{}` with its params, not `{}`",
                            r.action.as_str(),
                            r.id,
                            p.runbook,
                            claims.runbook
                        ),
                        jti,
                    ));
                }
                p
            }
        };
        let fresh = plan.digest();
        if fresh != claims.plan_digest {
            return Err(reject(
                Check::PlanDigest,
                format!(
                    "the op was signed for plan {} but the plan now is {}: re-plan and sign again",
                    claims.plan_digest.short(),
                    fresh.short()
                ),
                jti,
            ));
        }
        Ok(Checked {
            claims,
            role,
            plan,
            adopted: rb.adopted,
        })
    }

    fn decide(
        &self,
        gov: &Governed,
        c: &Subject<'_>,
        usage: &mut BatchUsage,
    ) -> (Decision, Vec<BudgetBasis>) {
        let now = c.now;
        let mut tags = BTreeSet::new();
        let mut infra = false;
        for t in &c.claims.targets {
            if let Some(h) = gov.inventory.get(t) {
                tags.extend(h.tags.iter().cloned());
                infra |= h.infra;
            }
        }
        let store = &self.store;
        let iss = &c.claims.iss;
        let added = usage.added.get(iss).copied().unwrap_or(0);
        let stored = std::cell::RefCell::new(&mut usage.stored);
        let basis = std::cell::RefCell::new(Vec::new());
        // Hosts changed before this batch (asked once per issuer and window)
        // plus those of ops accepted earlier in this batch, noted as the
        // decision's basis for the commit to check. Fail closed: a store
        // error counts as an exhausted budget.
        let changed = |secs: i64| {
            let (Ok(mut cache), Ok(mut basis)) = (stored.try_borrow_mut(), basis.try_borrow_mut())
            else {
                return u64::MAX;
            };
            let since = now.saturating_sub(secs);
            let before = *cache
                .entry((iss.clone(), since))
                .or_insert_with(|| store.hosts_changed_since(iss, since).unwrap_or(u64::MAX));
            let used = before.saturating_add(added);
            basis.push(BudgetBasis { since, used });
            used
        };
        let req = bosun_policy::Request {
            issuer: iss,
            role: c.role,
            runbook: &c.claims.runbook,
            read_only: c.plan.read_only,
            destructive: c.plan.destructive,
            targets: &c.claims.targets,
            target_tags: &tags,
            infra_targets: infra,
            now: jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            hosts_changed: &changed,
        };
        let mut d = gov.policy.decide(&req);
        for rule in HARD_RULES {
            if d.outcome != Outcome::Auto {
                break;
            }
            if let Some(why) = rule(gov, c) {
                d.outcome = Outcome::Approvals(gov.policy.default_requirement());
                d.reasons.push(why);
            }
        }
        (d, basis.into_inner())
    }
}
