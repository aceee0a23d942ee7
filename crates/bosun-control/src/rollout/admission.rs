//! Rollout admission: whether intake may take an op of a rollout, and the
//! controller run it ([`admits`]); and the rollout engine's side of
//! intake's [`RolloutAdmission`] hook (re-planning an op from the frozen
//! definition), so intake never imports this module.

use bosun_fleet::rollout::Rollout;
use bosun_model::{Host, OpClaims, Plan, RolloutAction, RolloutRef};

use super::document::{Doc, Phase, doc_of};
use super::plan::plan_for;
use crate::governed::Governed;
use crate::intake::{Rejected, RolloutAdmission, reject};
use crate::{Control, Result};

/// Whether the op with `claims` may be taken (intake) or run (controller)
/// as part of rollout `doc`: it must be an op this start of the rollout
/// recorded, for the same wave, action and hosts, in a phase that allows
/// its action (apply and drill while active, rollback while rolling back).
pub fn admits(doc: &Doc, claims: &bosun_model::OpClaims) -> std::result::Result<(), String> {
    let Some(r) = &claims.rollout else {
        return Ok(());
    };
    let id = &doc.def.id;
    if r.start != doc.start {
        return Err(format!(
            "the op belongs to an earlier start of rollout `{id}`"
        ));
    }
    let Some(run) = doc.runs.iter().find(|x| x.op == claims.jti.as_str()) else {
        return Err(format!(
            "rollout `{id}` did not submit this op (use `bosun rollout`)"
        ));
    };
    // Only the rollout's latest op may run: an older one was superseded
    // (a retry, a drill, a rollback) while it waited.
    if doc.runs.last().map(|x| x.op.as_str()) != Some(claims.jti.as_str()) {
        return Err(format!(
            "rollout `{id}` has moved on since this op was submitted"
        ));
    }
    let targets: Vec<&str> = claims.targets.iter().map(|t| t.as_str()).collect();
    if run.action != r.action || run.wave != r.wave || run.hosts != targets {
        return Err(format!(
            "the op does not match what rollout `{id}` recorded for it ({} of wave {} on {} host(s))",
            run.action.as_str(),
            run.wave,
            run.hosts.len()
        ));
    }
    match (doc.phase, r.action) {
        (Phase::Active, RolloutAction::Apply | RolloutAction::Drill)
        | (Phase::RollingBack, RolloutAction::Rollback) => Ok(()),
        (phase, action) => Err(format!(
            "rollout `{id}` is {}: a {} op of it does not run",
            phase.as_str(),
            action.as_str()
        )),
    }
}

impl Control {
    /// Why the controller must not run this rollout op, if it must not.
    pub fn rollout_refuses(&self, claims: &bosun_model::OpClaims) -> Result<Option<String>> {
        let Some(r) = &claims.rollout else {
            return Ok(None);
        };
        let Some(rec) = self.store.rollout(r.id.as_str())? else {
            return Ok(Some(format!("rollout `{}` does not exist", r.id)));
        };
        Ok(admits(&doc_of(&rec)?, claims).err())
    }
}

impl Control {
    /// Whether intake may take the op with `claims`, and the frozen
    /// definition to re-plan it from.
    fn rollout_for_intake(
        &self,
        claims: &bosun_model::OpClaims,
    ) -> std::result::Result<Option<Rollout>, String> {
        let Some(r) = &claims.rollout else {
            return Ok(None);
        };
        let (doc, _) = self.rollout_doc(r.id.as_str()).map_err(|e| e.to_string())?;
        admits(&doc, claims)?;
        Ok(Some(doc.def))
    }
}

impl RolloutAdmission for Control {
    fn rollout_plan(
        &self,
        gov: &Governed,
        claims: &OpClaims,
        r: &RolloutRef,
        hosts: &[Host],
    ) -> std::result::Result<Plan, Rejected> {
        let jti = || Some(claims.jti.to_string());
        let def = self
            .rollout_for_intake(claims)
            .map_err(|e| reject("rollout", e, jti()))?
            .ok_or_else(|| reject("rollout", "no rollout", jti()))?;
        plan_for(gov, &def, r, hosts).map_err(|e| reject("plan", e.to_string(), jti()))
    }
}
