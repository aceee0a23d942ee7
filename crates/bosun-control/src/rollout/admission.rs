//! Rollout admission: whether intake may take an op of a rollout, and the
//! controller run it ([`admits`]); and the rollout engine's side of
//! intake's [`RolloutAdmission`] hook (re-planning an op from the frozen
//! definition), so intake never imports this module.

use bosun_api::Check;
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
            "rollout `{id}` did not submit this op (a rollout's ops are submitted by its own verbs)"
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
            .map_err(|e| reject(Check::Rollout, e, jti()))?
            .ok_or_else(|| reject(Check::Rollout, "no rollout", jti()))?;
        plan_for(gov, &def, r, hosts).map_err(|e| reject(Check::Plan, e.to_string(), jti()))
    }
}

#[cfg(test)]
mod tests {
    use bosun_model::{Digest, Jti, KeyId, Name};

    use super::*;
    use crate::rollout::fixture::{doc, run};

    fn claims(jti: &str, action: RolloutAction, wave: u32, start: &str) -> OpClaims {
        OpClaims {
            jti: Jti::parse(jti).unwrap(),
            iss: KeyId::parse("alice").unwrap(),
            iat: 0,
            exp: 600,
            ws: Name::parse("lab").unwrap(),
            runbook: Name::parse("install-kernel").unwrap(),
            targets: vec![Name::parse("lab-a").unwrap()],
            params: Default::default(),
            seq: 1,
            plan_digest: Digest::of(b"plan"),
            rollout: Some(RolloutRef {
                id: Name::parse("k71").unwrap(),
                wave,
                action,
                start: start.into(),
            }),
            check: false,
        }
    }

    #[test]
    fn the_latest_recorded_op_of_this_start_is_admitted() {
        let d = doc(vec![run("op1", RolloutAction::Apply, 0)], Phase::Active);
        assert_eq!(
            admits(&d, &claims("op1", RolloutAction::Apply, 0, "s1")),
            Ok(())
        );
        let mut plain = claims("op9", RolloutAction::Apply, 0, "s1");
        plain.rollout = None;
        assert_eq!(admits(&d, &plain), Ok(()), "not a rollout op: not ours");
    }

    #[test]
    fn ops_of_another_start_another_op_or_another_wave_are_refused() {
        let d = doc(
            vec![
                run("op1", RolloutAction::Apply, 0),
                run("op2", RolloutAction::Apply, 0),
            ],
            Phase::Active,
        );
        let refused = |c: OpClaims| admits(&d, &c).unwrap_err();
        assert!(refused(claims("op2", RolloutAction::Apply, 0, "s0")).contains("earlier start"));
        assert!(refused(claims("op3", RolloutAction::Apply, 0, "s1")).contains("did not submit"));
        assert!(refused(claims("op1", RolloutAction::Apply, 0, "s1")).contains("moved on"));
        assert!(refused(claims("op2", RolloutAction::Apply, 1, "s1")).contains("does not match"));
    }

    #[test]
    fn the_phase_decides_which_actions_run() {
        let apply = doc(vec![run("op1", RolloutAction::Apply, 0)], Phase::Aborted);
        let why = admits(&apply, &claims("op1", RolloutAction::Apply, 0, "s1")).unwrap_err();
        assert_eq!(
            why,
            "rollout `k71` is aborted: a apply op of it does not run"
        );
        let back = doc(
            vec![run("op2", RolloutAction::Rollback, 0)],
            Phase::RollingBack,
        );
        let c = claims("op2", RolloutAction::Rollback, 0, "s1");
        assert_eq!(admits(&back, &c), Ok(()));
        let active = doc(vec![run("op2", RolloutAction::Rollback, 0)], Phase::Active);
        assert!(admits(&active, &c).is_err());
    }
}
