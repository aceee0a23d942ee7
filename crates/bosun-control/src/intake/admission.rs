//! Intake's admission checks beyond the signature and the plan: the hard
//! rules that make an op the keeper would let run alone need a human
//! ([`HARD_RULES`]), and the hook through which intake asks the rollout
//! engine about a rollout op ([`RolloutAdmission`]), so that intake never
//! imports the rollout module.

use bosun_model::{OpClaims, Plan};

use super::{Rejected, Subject};
use crate::governed::Governed;

/// A hard rule: why an op the keeper would let run alone needs a human
/// anyway, if it does. Rules only ever add a human, never remove one.
pub(super) type HardRule = fn(&Governed, &Subject<'_>) -> Option<String>;

/// Intake's admission checks on the keeper's decision, in order; the first
/// that fires decides (its reason is recorded with the decision). A rule
/// of another part of the pipeline (a rollout's promotion) is registered
/// here, owned by intake, and reads only the op's claims and what is in
/// force.
pub(super) const HARD_RULES: &[HardRule] = &[
    never_auto_promote,
    raw_needs_a_human,
    unadopted_inventory_needs_a_human,
    unadopted_runbook_needs_a_human,
];

/// Seed 001's "never auto-promote": a wave after the canary needs a human
/// unless keeper.toml visibly lifts the rule.
fn never_auto_promote(gov: &Governed, c: &Subject<'_>) -> Option<String> {
    let r = c.claims.rollout.as_ref()?;
    (r.action == bosun_model::RolloutAction::Apply
        && r.wave > 0
        && !gov.policy.allow_auto_promotion())
    .then(|| {
        format!(
            "wave {} of rollout `{}` is a promotion: it never runs without a human (hard rule; `allow_auto_promotion = true` in policy/keeper.toml lifts it)",
            r.wave, r.id
        )
    })
}

/// A runbook that writes a value unquoted (`| raw`) never runs alone.
fn raw_needs_a_human(gov: &Governed, c: &Subject<'_>) -> Option<String> {
    gov.runbooks
        .get(c.claims.runbook.as_str())
        .is_none_or(|r| r.runbook.writes_raw())
        .then(|| {
            format!(
                "runbook `{}` writes a value unquoted (`| raw`): it never runs without a human",
                c.claims.runbook
            )
        })
}

/// Nothing runs alone on an inventory that was never adopted.
fn unadopted_inventory_needs_a_human(gov: &Governed, _: &Subject<'_>) -> Option<String> {
    (!gov.inventory_adopted).then(|| {
        "fleet/hosts.toml is not adopted: nothing runs without a human until an adoption brings it into force".into()
    })
}

/// A runbook not adopted (or differing from its adopted version) never
/// runs alone.
fn unadopted_runbook_needs_a_human(_: &Governed, c: &Subject<'_>) -> Option<String> {
    (!c.adopted).then(|| {
        format!(
            "runbook `{}` is not adopted (or differs from its adopted version): it never runs without a human",
            c.claims.runbook
        )
    })
}

/// What intake asks of the rollout engine about an op of a rollout. The
/// rollout engine implements it for [`crate::Control`] (`rollout::admission`):
/// the dependency runs one way, rollout → intake, and intake never names
/// the rollout module.
pub trait RolloutAdmission {
    /// The plan of the op with `claims` (an op of rollout `r` on `hosts`),
    /// made again from the rollout's frozen definition; refused (check
    /// `rollout` or `plan`) when the rollout does not admit the op or its
    /// plan cannot be made.
    fn rollout_plan(
        &self,
        gov: &Governed,
        claims: &OpClaims,
        r: &bosun_model::RolloutRef,
        hosts: &[bosun_model::Host],
    ) -> std::result::Result<Plan, Rejected>;
}
