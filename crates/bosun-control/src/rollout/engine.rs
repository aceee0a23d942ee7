//! The rollout engine: start, promote, retry, drill, rollback and abort.
//! Each checks where the rollout stands (its derived status), records the
//! op it submits in the document under the version it checked, then
//! submits the op through intake.

use bosun_model::{Host, Jti, KeyId, Name, OpState, RolloutAction, RolloutRef};
use bosun_store::StepStatus;

use super::document::{Doc, Phase, RunRef, doc_of, fresh_nonce, load_def};
use super::plan::{plan_for, resolve, wave_hosts};
use super::status::{RunStatus, is_bar, next_move};
use crate::governed::Governed;
use crate::intake::Accepted;
use crate::{Control, ControlError, Result, now};

/// The op a rollout submits next: what it does, for which wave, where.
struct NewRun {
    action: RolloutAction,
    wave: u32,
    hosts: Vec<Host>,
}

/// Who submits it: their signing key and key id.
#[derive(Clone, Copy)]
struct By<'a> {
    key: &'a dyn bosun_sign::Sign,
    who: &'a KeyId,
}

impl Control {
    /// Records a new op in the rollout (under the `version` its caller
    /// checked its preconditions against, so two racing calls cannot both
    /// win), then submits it through intake. The op is planned first, so
    /// a definition that cannot be planned changes nothing. An op intake
    /// refuses is taken out of the record again.
    fn push_run(
        &self,
        gov: &Governed,
        mut doc: Doc,
        version: u64,
        run: NewRun,
        by: By<'_>,
    ) -> Result<Accepted> {
        let NewRun {
            action,
            wave,
            hosts,
        } = run;
        let By { key, who } = by;
        let id = doc.def.id.clone();
        let before = doc.phase;
        let r = RolloutRef {
            id: Name::parse(&id).map_err(|e| ControlError::Other(e.to_string()))?,
            wave,
            action,
            start: doc.start.clone(),
        };
        let plan = plan_for(gov, &doc.def, &r, &hosts)?;
        let t = now();
        let (claims, env) =
            self.sign_rollout_op(key, who, &plan, Some(r), self.next_seq(who)?, t)?;
        doc.runs.push(RunRef {
            action,
            wave,
            op: claims.jti.to_string(),
            hosts: hosts.iter().map(|h| h.name.to_string()).collect(),
            at: t,
            by: who.to_string(),
        });
        if action == RolloutAction::Rollback {
            doc.phase = Phase::RollingBack;
        }
        let v = self.write_doc(
            &id,
            &doc,
            version,
            &format!("rollout.{}", action.as_str()),
            serde_json::json!({"wave": wave, "op": claims.jti, "by": who}),
        )?;
        let mut refused = |why: String| -> Result<Accepted> {
            // Take the op out again; the rollout is as before.
            if let Some(pos) = doc.runs.iter().position(|x| x.op == claims.jti.as_str()) {
                doc.runs.remove(pos);
            }
            doc.phase = before;
            let _ = self.write_doc(
                &id,
                &doc,
                v,
                "rollout.withdrawn",
                serde_json::json!({"op": claims.jti, "why": why}),
            );
            Err(ControlError::Other(format!("intake refused the op: {why}")))
        };
        let taken = match self.intake(gov, std::slice::from_ref(&env), t) {
            Ok(r) => r,
            Err(e) => return refused(e.to_string()),
        };
        match taken.into_iter().next() {
            Some(Ok(a)) => Ok(a),
            Some(Err(rej)) => refused(rej.to_string()),
            None => refused("intake returned nothing".into()),
        }
    }

    /// Starts a rollout from `rollouts/<id>.toml`: freezes the definition
    /// and submits the canary wave. Returns the canary op. Refused while an
    /// earlier start is under way.
    pub fn rollout_start(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
        let def = load_def(self, id)?;
        let gov = self.governed()?;
        self.prove_signer(&gov, key, who)?;
        let version = match self.store.rollout(id)? {
            Some(rec) => {
                let st = self.status_of(id, &doc_of(&rec)?, rec.version)?;
                if matches!(st.phase, Phase::Active | Phase::RollingBack) {
                    return Err(ControlError::Next {
                        message: format!(
                            "rollout `{id}` is under way; abort it first to start over"
                        ),
                        next: vec![
                            bosun_api::NextAction::RolloutStatus {
                                rollout: id.to_string(),
                            },
                            bosun_api::NextAction::RolloutAbort {
                                rollout: id.to_string(),
                            },
                        ],
                    });
                }
                rec.version
            }
            None => 0,
        };
        let hosts = wave_hosts(&gov, &def, 0)?;
        let doc = Doc {
            def,
            phase: Phase::Active,
            runs: Vec::new(),
            accepted_inconclusive: Vec::new(),
            start: fresh_nonce()?,
            started_by: who.to_string(),
            started_at: now(),
            note: String::new(),
        };
        // Plan every wave's runbook and the rollback before anything is
        // written: a definition that cannot be planned changes nothing.
        let rid = Name::parse(id).map_err(|e| ControlError::Other(e.to_string()))?;
        let r = |wave, action| RolloutRef {
            id: rid.clone(),
            wave,
            action,
            start: doc.start.clone(),
        };
        plan_for(&gov, &doc.def, &r(0, RolloutAction::Apply), &hosts)?;
        if doc.def.rollback.is_some() {
            plan_for(&gov, &doc.def, &r(0, RolloutAction::Rollback), &hosts)?;
        }
        self.push_run(
            &gov,
            doc,
            version,
            NewRun {
                action: RolloutAction::Apply,
                wave: 0,
                hosts,
            },
            By { key, who },
        )
    }

    /// Promotes a rollout: when the current wave passed (and baked, and
    /// the drill passed where required), submits the next wave, which
    /// always needs a human's approval unless the policy lifts that
    /// visibly. After the last wave, marks the rollout done. Returns the
    /// new wave's op, if one was submitted. `accept_inconclusive` (an
    /// operator's decision, recorded) lets a wave paused by an
    /// inconclusive bar count as passed.
    pub fn rollout_promote(
        &self,
        id: &str,
        accept_inconclusive: bool,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Option<Accepted>> {
        let gov = self.governed()?;
        self.prove_signer(&gov, key, who)?;
        let (mut doc, mut version) = self.rollout_doc(id)?;
        if accept_inconclusive {
            if gov.keys.get(who).map(|k| k.role) != Some(bosun_model::Role::Operator) {
                return Err(ControlError::Other(format!(
                    "only an operator may accept an inconclusive bar; `{who}` is not one"
                )));
            }
            let st = self.status_of(id, &doc, version)?;
            match st.runs.last() {
                Some((r, RunStatus::Paused { why }))
                    if r.action == RolloutAction::Apply && doc.phase == Phase::Active =>
                {
                    // Recorded at once: a promotion refused for another
                    // reason (bake time, the drill) keeps the decision.
                    doc.accepted_inconclusive.push(r.op.clone());
                    self.write_doc(
                        id,
                        &doc,
                        version,
                        "rollout.accepted_inconclusive",
                        serde_json::json!({"op": r.op, "why": why, "by": who}),
                    )?;
                    (doc, version) = self.rollout_doc(id)?;
                }
                _ => {
                    return Err(ControlError::Other(
                        "accepting an inconclusive bar applies only to an active rollout's wave paused by one".into(),
                    ));
                }
            }
        }
        let st = self.status_of(id, &doc, version)?;
        if let Err(why) = next_move(&doc, &st) {
            return Err(ControlError::Next {
                message: format!("cannot promote `{id}`: {}", why.summary),
                next: why.next,
            });
        }
        let Some((last, _)) = st.runs.last() else {
            return Err(ControlError::Other("nothing to promote".into()));
        };
        let next = last.wave + 1;
        if usize::try_from(next)
            .ok()
            .and_then(|i| doc.def.wave(i))
            .is_none()
        {
            doc.phase = Phase::Done;
            self.write_doc(
                id,
                &doc,
                version,
                "rollout.done",
                serde_json::json!({"by": who}),
            )?;
            return Ok(None);
        }
        let hosts = wave_hosts(&gov, &doc.def, next)?;
        self.push_run(
            &gov,
            doc,
            version,
            NewRun {
                action: RolloutAction::Apply,
                wave: next,
                hosts,
            },
            By { key, who },
        )
        .map(Some)
    }

    /// Submits the current wave again (after a fix, a denial, a pause or
    /// the drill), on its hosts as the inventory selects them now.
    pub fn rollout_retry(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
        let gov = self.governed()?;
        self.prove_signer(&gov, key, who)?;
        let (doc, version) = self.rollout_doc(id)?;
        if doc.phase != Phase::Active {
            return Err(ControlError::Other(format!(
                "rollout `{id}` is {}",
                doc.phase.as_str()
            )));
        }
        let st = self.status_of(id, &doc, version)?;
        let wave = match st.runs.last() {
            Some((_, RunStatus::AwaitingApproval | RunStatus::InFlight { .. })) => {
                return Err(ControlError::Next {
                    message: format!(
                        "rollout `{id}`: the latest op is still pending or running: {}",
                        st.summary
                    ),
                    next: st.next,
                });
            }
            Some((r, _)) => r.wave,
            None => 0,
        };
        let hosts = wave_hosts(&gov, &doc.def, wave)?;
        self.push_run(
            &gov,
            doc,
            version,
            NewRun {
                action: RolloutAction::Apply,
                wave,
                hosts,
            },
            By { key, who },
        )
    }

    /// Runs the rollback runbook on the canary's hosts to prove it works
    /// (required before wave 2 by `require_rollback_drill`).
    pub fn rollout_drill(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
        let gov = self.governed()?;
        self.prove_signer(&gov, key, who)?;
        let (doc, version) = self.rollout_with_rollback(id)?;
        let st = self.status_of(id, &doc, version)?;
        let hosts = match st.runs.last() {
            Some((r, RunStatus::Passed { .. }))
                if r.action == RolloutAction::Apply
                    && r.wave == 0
                    && doc.phase == Phase::Active =>
            {
                r.hosts.clone()
            }
            _ => {
                return Err(ControlError::Next {
                    message: format!(
                        "the drill runs once the canary wave passed; now: {}",
                        st.summary
                    ),
                    next: st.next,
                });
            }
        };
        let (hosts, _) = resolve(&gov, &hosts);
        self.push_run(
            &gov,
            doc,
            version,
            NewRun {
                action: RolloutAction::Drill,
                wave: 0,
                hosts,
            },
            By { key, who },
        )
    }

    /// Runs the rollback runbook on every host the rollout changed (where
    /// an apply step ran). Apply ops of the rollout that have not started
    /// never will: the controller refuses them once it rolls back. Returns
    /// the rollback op and the hosts no longer in the inventory.
    pub fn rollout_rollback(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<(Accepted, Vec<String>)> {
        let gov = self.governed()?;
        self.prove_signer(&gov, key, who)?;
        let (doc, version) = self.rollout_with_rollback(id)?;
        let st = self.status_of(id, &doc, version)?;
        let again = doc.phase == Phase::RollingBack
            && matches!(
                st.runs.last(),
                Some((r, RunStatus::NotSubmitted | RunStatus::Denied | RunStatus::Halted { .. }))
                    if r.action == RolloutAction::Rollback
            );
        if !matches!(doc.phase, Phase::Active | Phase::Done) && !again {
            return Err(ControlError::Other(format!(
                "rollout `{id}` is {}",
                doc.phase.as_str()
            )));
        }
        let mut names: Vec<String> = Vec::new();
        for r in doc.runs.iter().filter(|r| r.action == RolloutAction::Apply) {
            let Some(op) = Jti::try_from(r.op.clone())
                .ok()
                .map(|j| self.store.op(&j))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            // An apply still queued or running may change any of its
            // hosts before it notices the rollback: take them all.
            let in_flight = matches!(op.summary.state, OpState::Approved | OpState::Running);
            for h in op.plan.targets.iter().map(|t| t.to_string()) {
                let touched = in_flight
                    || op
                        .steps
                        .iter()
                        .any(|s| s.host == h && s.status != StepStatus::Skipped && !is_bar(&op, s));
                if touched && !names.contains(&h) {
                    names.push(h);
                }
            }
        }
        let wave = doc.runs.iter().map(|r| r.wave).max().unwrap_or(0);
        let (hosts, gone) = resolve(&gov, &names);
        if hosts.is_empty() {
            return Err(ControlError::Other(format!(
                "rollout `{id}` changed no host that is still in the inventory"
            )));
        }
        let a = self.push_run(
            &gov,
            doc,
            version,
            NewRun {
                action: RolloutAction::Rollback,
                wave,
                hosts,
            },
            By { key, who },
        )?;
        Ok((a, gone))
    }

    /// Aborts a rollout: nothing more is submitted, and an op of it that
    /// was not started yet fails without running (one already running
    /// finishes its steps; `bosun halt` stops dispatch at once).
    pub(crate) fn rollout_abort(&self, id: &str, who: &str, why: &str) -> Result<()> {
        let (mut doc, version) = self.rollout_doc(id)?;
        if doc.phase == Phase::Aborted {
            return Err(ControlError::Other(format!(
                "rollout `{id}` is already aborted"
            )));
        }
        doc.phase = Phase::Aborted;
        doc.note = format!("by {who}: {why}");
        self.write_doc(
            id,
            &doc,
            version,
            "rollout.aborted",
            serde_json::json!({"by": who, "why": why}),
        )?;
        Ok(())
    }
}
