//! What the controller checks about an op just before it runs anything:
//! that the stored plan is the plan that was signed and approved, that
//! every target is still reached where and how the plan says, and that the
//! approvals it ran on have not lapsed — nor the signers' keys been
//! removed since. The store is not trusted blindly: an edited plan row, a
//! host moved in the inventory after approval, approvals given long ago
//! or a key an adoption removed each stop the op with a named check.

use bosun_api::Check;
use bosun_model::{Digest, Outcome, Plan};
use bosun_policy::tally;
use bosun_store::OpRecord;
use bosun_workspace::{Inventory, KeyRegistry};

/// Why the controller will not run an op as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The check that failed: `plan_digest`, `inventory`, `expired` or
    /// `approvals_lapsed`.
    pub check: Check,
    /// What it found, in words.
    pub message: String,
}

impl Refusal {
    /// `refused by the <check> check: <message>`.
    pub fn text(&self) -> String {
        format!("refused by the {} check: {}", self.check, self.message)
    }
}

/// The stored plan's digest must be the one the op's signer signed (and
/// its approvers approved). Returns it.
pub fn check_digest(op: &OpRecord) -> Result<Digest, Refusal> {
    digest_matches(&op.plan, &op.claims.plan_digest)
}

/// `plan`'s digest, recomputed, is `signed`. Returns it.
pub fn digest_matches(plan: &Plan, signed: &Digest) -> Result<Digest, Refusal> {
    let digest = plan.digest();
    if &digest == signed {
        return Ok(digest);
    }
    Err(Refusal {
        check: Check::PlanDigest,
        message: format!(
            "the stored plan's digest is {}, but the op was signed for {}: the plan was changed after it was signed, and nothing of it runs",
            digest.short(),
            signed.short()
        ),
    })
}

/// Every host the plan runs steps on must be in `inventory` with the
/// binding (address, transport, user, port, root, ssh options and config,
/// wake) the plan recorded.
pub fn check_hosts(plan: &Plan, inventory: &Inventory) -> Result<(), Refusal> {
    let refuse = |message: String| Refusal {
        check: Check::Inventory,
        message: format!("{message}: plan the op again and have it approved again"),
    };
    let mut seen = std::collections::BTreeSet::new();
    for ps in plan.steps.iter().filter(|s| !s.controller) {
        if !seen.insert(&ps.host) {
            continue;
        }
        let Some(planned) = plan.hosts.get(&ps.host) else {
            return Err(refuse(format!(
                "the plan does not record where host `{}` runs (planned before hosts were bound to plans)",
                ps.host
            )));
        };
        let Some(now) = inventory.get(&ps.host) else {
            return Err(refuse(format!(
                "host `{}` is no longer in the inventory in force",
                ps.host
            )));
        };
        let changed = now.binding_changes(planned);
        if !changed.is_empty() {
            return Err(refuse(format!(
                "host `{}` changed in the inventory since the op was planned ({})",
                ps.host,
                changed.join(", ")
            )));
        }
    }
    Ok(())
}

/// An op that runs without a human starts only before its envelope
/// expires (`exp`): held by a blocker or a halt past it, it must be
/// submitted again.
pub fn check_expiry(op: &OpRecord, now: i64) -> Result<(), Refusal> {
    if !matches!(op.decision.outcome, Outcome::Auto) || now < op.claims.exp {
        return Ok(());
    }
    Err(Refusal {
        check: Check::Expired,
        message: format!(
            "the op expired at {} before it could start: submit it again",
            op.claims.exp
        ),
    })
}

/// The op's envelope still verifies under the key registry in force: a
/// key an adoption removed (or replaced) since the op was taken no longer
/// vouches for it, and nothing of it runs.
pub fn check_signer(op: &OpRecord, keys: &KeyRegistry) -> Result<(), Refusal> {
    match crate::approve::verify_signed::<bosun_model::OpClaims>(
        keys,
        &op.envelope,
        bosun_model::claims::OP_TYP,
    ) {
        Ok(_) => Ok(()),
        Err(rej) => Err(Refusal {
            check: rej.check,
            message: format!(
                "{}: the key that signed the op is no longer the adopted `{}`, so nothing of it runs",
                rej.message, op.claims.iss
            ),
        }),
    }
}

/// An op approved by humans runs only while enough of its approvals are
/// younger than `validity_secs` (keeper.toml `approval_validity`) — the
/// approvers consented to running it soon, not whenever — and come from
/// identities still in the key registry in force (`keys`), counted with
/// the role they hold there now: an approver whose key an adoption removed
/// or demoted no longer counts. `digest` is the plan's (from
/// [`check_digest`]).
pub fn check_approvals(
    op: &OpRecord,
    digest: &Digest,
    now: i64,
    validity_secs: i64,
    keys: &KeyRegistry,
) -> Result<(), Refusal> {
    let Outcome::Approvals(req) = &op.decision.outcome else {
        return Ok(());
    };
    let records: Vec<_> = crate::approve::approval_records(op)
        .into_iter()
        .filter_map(|mut r| {
            r.role = keys.get(&r.claims.iss)?.role;
            Some(r)
        })
        .collect();
    let t = tally(req, &op.claims.iss, digest, &records, now, validity_secs);
    if t.satisfied {
        return Ok(());
    }
    Err(Refusal {
        check: Check::ApprovalsLapsed,
        message: format!(
            "{} of the {} approval(s) it needs are still valid (approval_validity is {validity_secs} s): it waits for fresh approvals",
            t.valid.len(),
            req.m
        ),
    })
}
