//! Intake: the gate every op passes. For each envelope, in order: size and
//! format, known key, envelope type, signature (batched), claims, issuer =
//! key, validity window, workspace, targets known and inside the issuer's
//! scope, runbook known, re-plan and compare digests, then the keeper's
//! decision; then one transaction for the whole batch (group commit) that
//! checks replay and sequence, persists the ops with their decisions and
//! enqueues the ones that may run. Every refusal names its check and is
//! recorded.

use std::collections::BTreeSet;

use bosun_model::claims::OP_TYP;
use bosun_model::{Decision, Digest, Jti, OpClaims, OpState, Outcome, Plan, Role};
use bosun_sign::{PublicKey, Unverified};
use bosun_store::{NewOp, Rejection};

use crate::governed::Governed;
use crate::{Control, Result, client};

/// Fewest signatures verified as a batch.
const BATCH_VERIFY_MIN: usize = 8;

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

/// An op intake refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected by the {check} check: {message}")]
pub struct Rejected {
    /// The check that failed (`size`, `format`, `unknown_key`, `type`,
    /// `signature`, `claims`, `issuer`, `expired`, `not_yet_valid`,
    /// `workspace`, `targets`, `scope`, `runbook`, `plan_digest`, `replay`,
    /// `seq`).
    pub check: String,
    /// What it found.
    pub message: String,
    /// The op's jti, when it could be read.
    pub jti: Option<String>,
}

pub(crate) fn reject(check: &str, message: impl Into<String>, jti: Option<String>) -> Rejected {
    Rejected {
        check: check.into(),
        message: message.into(),
        jti,
    }
}

/// The claims every envelope carries that intake and approvals check alike.
pub(crate) struct Stamp<'a> {
    pub iss: &'a bosun_model::KeyId,
    pub iat: i64,
    pub exp: i64,
    pub ws: &'a bosun_model::Name,
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
            "issuer",
            format!("iss `{}` is not the signing key `{kid}`", c.iss),
            jti,
        ));
    }
    if now >= c.exp {
        return Err(reject(
            "expired",
            format!("the {what} expired at {} (now {now})", c.exp),
            jti,
        ));
    }
    if c.iat > now + MAX_SKEW_SECS {
        return Err(reject(
            "not_yet_valid",
            format!(
                "the {what} was issued at {}, in the future (now {now})",
                c.iat
            ),
            jti,
        ));
    }
    if c.ws != ws {
        return Err(reject(
            "workspace",
            format!("the {what} is for workspace `{}`, this is `{ws}`", c.ws),
            jti,
        ));
    }
    Ok(())
}

/// The decision as `submit --json` names it.
pub fn decision_word(d: &Decision) -> &'static str {
    match d.outcome {
        Outcome::Auto => "auto",
        Outcome::Approvals(_) => "pending_approval",
        Outcome::Deny { .. } => "denied",
    }
}

/// Budget usage within one intake batch: what the store said per issuer
/// and window, and the hosts of ops accepted earlier in the batch (not yet
/// stored), so that a batch cannot slip past a budget.
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

impl Control {
    /// Runs intake on a batch of envelopes. The outer error is a store
    /// failure (nothing of the batch was written); the inner results say,
    /// per envelope, accepted or rejected (and the rejection is recorded).
    pub fn intake(
        &self,
        gov: &Governed,
        envelopes: &[String],
        now: i64,
    ) -> Result<Vec<std::result::Result<Accepted, Rejected>>> {
        // 1. Decode and find keys.
        let mut decoded: Vec<std::result::Result<(Unverified, &PublicKey, Role), Rejected>> =
            envelopes
                .iter()
                .map(|env| {
                    let u = bosun_sign::decode(env).map_err(|e| {
                        let check = if matches!(e, bosun_sign::SignError::TooLarge { .. }) {
                            "size"
                        } else {
                            "format"
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
                            "unknown_key",
                            format!("key `{kid}` is not in the adopted key registry"),
                            None,
                        ));
                    };
                    if u.header().typ.as_deref() != Some(OP_TYP) {
                        return Err(reject(
                            "type",
                            format!("envelope type is {:?}, not `{OP_TYP}`", u.header().typ),
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
                    *d = Err(reject("signature", e.to_string(), None));
                }
            }
        }
        // 3. Claims, scope, re-plan, decide.
        let mut results: Vec<std::result::Result<Checked, Rejected>> =
            Vec::with_capacity(envelopes.len());
        for d in decoded {
            results.push(d.and_then(|(u, _, role)| self.check(gov, &u, role, now)));
        }
        let mut new_ops = Vec::new();
        let mut slots = Vec::with_capacity(results.len());
        let mut usage = BatchUsage::default();
        for (r, env) in results.into_iter().zip(envelopes) {
            match r {
                Ok(c) => {
                    let decision = self.decide(gov, &c, now, &mut usage);
                    let state = match decision.outcome {
                        Outcome::Auto => OpState::Approved,
                        Outcome::Approvals(_) => OpState::PendingApproval,
                        Outcome::Deny { .. } => OpState::Denied,
                    };
                    if state != OpState::Denied && !c.plan.read_only {
                        *usage.added.entry(c.claims.iss.clone()).or_default() +=
                            u64::try_from(c.claims.targets.len()).unwrap_or(u64::MAX);
                    }
                    slots.push(Ok(new_ops.len()));
                    new_ops.push(NewOp {
                        envelope: env.clone(),
                        claims: c.claims,
                        role: c.role,
                        plan: c.plan,
                        decision,
                        state,
                        received_at: now,
                    });
                }
                Err(rej) => {
                    self.store.record_rejection(&Rejection {
                        at: now,
                        check: rej.check.clone(),
                        message: rej.message.clone(),
                        jti: rej.jti.clone(),
                        iss: None,
                        input_digest: Digest::of(env.as_bytes()),
                    })?;
                    slots.push(Err(rej));
                }
            }
        }
        // 4. One transaction for the batch: replay and seq checks, persist,
        //    enqueue.
        let stored = self.store.submit_ops(&new_ops)?;
        // Blockers do not refuse an op: they hold it, and say so.
        let active = self.store.blockers(false)?;
        let held: Vec<Vec<String>> = new_ops
            .iter()
            .map(|op| {
                crate::blockers::holding(&gov.blocker_kinds, &active, &op.plan)
                    .iter()
                    .map(crate::blockers::Hold::text)
                    .collect()
            })
            .collect();
        Ok(slots
            .into_iter()
            .map(|slot| {
                let i = slot?;
                let op = &new_ops[i];
                match &stored[i] {
                    Ok(()) => Ok(Accepted {
                        jti: op.claims.jti.clone(),
                        decision: op.decision.clone(),
                        state: op.state,
                        held: held[i].clone(),
                    }),
                    Err(c) => Err(reject(
                        match c {
                            bosun_store::SubmitConflict::Replay(_) => "replay",
                            bosun_store::SubmitConflict::SeqNotAbove { .. } => "seq",
                        },
                        c.to_string(),
                        Some(op.claims.jti.to_string()),
                    )),
                }
            })
            .collect())
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
            .map_err(|e| reject("claims", e.to_string(), None))?;
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
        if claims.targets.is_empty() {
            return Err(reject("targets", "the op names no target host", jti));
        }
        let hosts = client::resolve_targets(gov, &claims.targets)
            .map_err(|e| reject("targets", e.to_string(), jti.clone()))?;
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
                "scope",
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
                "scope",
                format!(
                    "infra host `{}` has not opted in to runbook `{}`: list it in the host's `runbooks` in fleet/hosts.toml",
                    h.name, claims.runbook
                ),
                jti,
            ));
        }
        let Some(rb) = gov.runbooks.get(claims.runbook.as_str()) else {
            return Err(reject(
                "runbook",
                format!("unknown runbook `{}`", claims.runbook),
                jti,
            ));
        };
        let plan = match &claims.rollout {
            None => bosun_runbook::plan(&rb.runbook, &hosts, &claims.params)
                .map_err(|e| reject("plan", e.to_string(), jti.clone()))?,
            Some(r) => {
                let def = self
                    .rollout_for_intake(&claims)
                    .map_err(|e| reject("rollout", e, jti.clone()))?
                    .ok_or_else(|| reject("rollout", "no rollout", jti.clone()))?;
                let p = crate::rollout::plan_for(gov, &def, r, &hosts)
                    .map_err(|e| reject("plan", e.to_string(), jti.clone()))?;
                if p.runbook != claims.runbook || p.params != claims.params {
                    return Err(reject(
                        "rollout",
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
                "plan_digest",
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

    fn decide(&self, gov: &Governed, c: &Checked, now: i64, usage: &mut BatchUsage) -> Decision {
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
        // Hosts changed before this batch (asked once per issuer and window)
        // plus those of ops accepted earlier in this batch. Fail closed: a
        // store error counts as an exhausted budget.
        let changed = |secs: i64| {
            let Ok(mut cache) = stored.try_borrow_mut() else {
                return u64::MAX;
            };
            let before = *cache.entry((iss.clone(), secs)).or_insert_with(|| {
                store
                    .hosts_changed_since(iss, now.saturating_sub(secs))
                    .unwrap_or(u64::MAX)
            });
            before.saturating_add(added)
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
        // Hard rule (seed 001: "never auto-promote"): a wave after the
        // canary needs a human unless keeper.toml visibly lifts the rule.
        if let Some(r) = &c.claims.rollout
            && r.action == bosun_model::RolloutAction::Apply
            && r.wave > 0
            && d.outcome == Outcome::Auto
            && !gov.policy.allow_auto_promotion()
        {
            d.outcome = Outcome::Approvals(gov.policy.default_requirement());
            d.reasons.push(format!(
                "wave {} of rollout `{}` is a promotion: it never runs without a human (hard rule; `allow_auto_promotion = true` in policy/keeper.toml lifts it)",
                r.wave, r.id
            ));
        }
        if d.outcome == Outcome::Auto && !c.adopted {
            d.outcome = Outcome::Approvals(gov.policy.default_requirement());
            d.reasons.push(format!(
                "runbook `{}` is not adopted (or differs from its adopted version): it never runs without a human",
                c.claims.runbook
            ));
        }
        d
    }
}
