//! The rollout engine: start, promote, retry, drill, rollback and abort.
//! Each verb that submits an op first decides (`decide`:
//! [`Control::rollout_decide`], which writes nothing); the op is then
//! signed — here with the key at hand, or by a client of the daemon
//! (`signed`) — and committed ([`Control::rollout_commit`]): recorded in
//! the document under the version the decision was made against (so two
//! racing calls cannot both win), then submitted through intake. A
//! promote after the last wave signs a `rollout_done` statement instead.

use bosun_api::requests::RolloutVerb;
use bosun_model::{Jti, KeyId, RolloutAction};

use super::decide::{Acceptance, Decided, Finished, NextRun, RolloutAsk, rollout_name};
use super::document::{Doc, Phase, RunRef, load_def};
use crate::governed::Governed;
use crate::intake::{Accepted, Rejected};
use crate::{Control, ControlError, Result, now};

/// What a refused statement marking a rollout done says: the rollout's
/// state in its own words, any other check named.
pub fn done_refused(rej: &Rejected) -> String {
    if rej.check == bosun_api::Check::State {
        rej.message.clone()
    } else {
        rej.to_string()
    }
}

/// What a rollout verb submitted: the op as intake took it, and for a
/// rollback the hosts left out (no longer in the inventory).
#[derive(Debug)]
pub struct Submitted {
    /// The op.
    pub accepted: Accepted,
    /// Hosts a rollback could not roll back: no longer in the inventory.
    pub gone: Vec<String>,
}

impl Control {
    /// Commits a decided op signed by `who` (its id `jti`, its envelope
    /// `env`): records an acceptance of an inconclusive bar that came with
    /// it, records the op in the rollout under the version it was decided
    /// against, then submits it through intake. An op intake refuses is
    /// taken out of the record again (the refusal comes back as the inner
    /// error).
    pub(crate) fn rollout_commit(
        &self,
        gov: &Governed,
        next: NextRun,
        who: &KeyId,
        jti: &Jti,
        env: &str,
    ) -> Result<std::result::Result<Submitted, Rejected>> {
        let NextRun {
            mut doc,
            mut version,
            run,
            accepted,
            gone,
            ..
        } = next;
        let id = doc.def.id.clone();
        if let Some(a) = accepted {
            version = self.record_acceptance(&doc, version, &a, who)?;
        }
        let before = doc.phase;
        let t = now();
        doc.runs.push(RunRef {
            action: run.action,
            wave: run.wave,
            op: jti.to_string(),
            hosts: run.hosts.iter().map(|h| h.name.to_string()).collect(),
            at: t,
            by: who.to_string(),
        });
        if run.action == RolloutAction::Rollback {
            doc.phase = Phase::RollingBack;
        }
        let v = self.write_doc(
            &id,
            &doc,
            version,
            &format!("rollout.{}", run.action.as_str()),
            serde_json::json!({"wave": run.wave, "op": jti, "by": who}),
        )?;
        let mut withdraw = |why: String| {
            // Take the op out again; the rollout is as before.
            if let Some(pos) = doc.runs.iter().position(|x| x.op == jti.as_str()) {
                doc.runs.remove(pos);
            }
            doc.phase = before;
            let _ = self.write_doc(
                &id,
                &doc,
                v,
                "rollout.withdrawn",
                serde_json::json!({"op": jti, "why": why}),
            );
        };
        let taken = match self.intake(gov, &[env.to_string()], t) {
            Ok(r) => r,
            Err(e) => {
                withdraw(e.to_string());
                return Err(ControlError::Other(format!("intake refused the op: {e}")));
            }
        };
        match taken.into_iter().next() {
            Some(Ok(accepted)) => Ok(Ok(Submitted { accepted, gone })),
            Some(Err(rej)) => {
                withdraw(rej.to_string());
                Ok(Err(rej))
            }
            None => {
                withdraw("intake returned nothing".into());
                Err(ControlError::Other(
                    "intake refused the op: intake returned nothing".into(),
                ))
            }
        }
    }

    /// Marks rollout `id` done as `who` stated it (a verified signed
    /// statement, `Act::RolloutDone`): refused unless a promote by `who`
    /// now finds every wave of start `start` passed.
    pub(crate) fn rollout_mark_done(
        &self,
        gov: &Governed,
        id: &str,
        start: &str,
        accept_inconclusive: bool,
        who: &KeyId,
    ) -> Result<()> {
        match self.rollout_decide(gov, &RolloutAsk::promote(id, who, accept_inconclusive))? {
            Decided::Done(f) if f.start() == start => self.rollout_finish(*f, who),
            Decided::Done(_) => Err(ControlError::Other(format!(
                "the statement marks an earlier start of rollout `{id}` done"
            ))),
            Decided::Run(_) => Err(ControlError::Other(format!(
                "rollout `{id}` has a wave left: a promote submits it"
            ))),
        }
    }

    /// Marks a rollout whose every wave passed done, as `who` decided.
    fn rollout_finish(&self, f: Finished, who: &KeyId) -> Result<()> {
        let Finished {
            mut doc,
            mut version,
            accepted,
        } = f;
        if let Some(a) = accepted {
            version = self.record_acceptance(&doc, version, &a, who)?;
        }
        doc.phase = Phase::Done;
        self.write_doc(
            &doc.def.id.clone(),
            &doc,
            version,
            "rollout.done",
            serde_json::json!({"by": who}),
        )?;
        Ok(())
    }

    /// Records `who`'s acceptance of an inconclusive pause (already in
    /// `doc`) under `version`; the new version.
    fn record_acceptance(
        &self,
        doc: &Doc,
        version: u64,
        a: &Acceptance,
        who: &KeyId,
    ) -> Result<u64> {
        self.write_doc(
            &doc.def.id,
            doc,
            version,
            "rollout.accepted_inconclusive",
            serde_json::json!({"op": a.op, "why": a.why, "by": who}),
        )
    }

    /// Runs verb `verb` of rollout `id` with `key`, `who`'s key: proves
    /// the key is `who`'s in the adopted registry, decides, signs here,
    /// commits. `None`: the rollout is done.
    fn rollout_here(
        &self,
        ask: &RolloutAsk<'_>,
        key: &dyn bosun_sign::Sign,
    ) -> Result<Option<Submitted>> {
        let gov = self.governed()?;
        self.prove_signer(&gov, key, ask.who)?;
        let mut ask = *ask;
        if ask.accept_inconclusive {
            // Recorded at once: a promotion refused for another reason
            // (bake time, the drill) keeps the decision.
            let (mut doc, version) = self.rollout_doc(ask.id)?;
            let a = self.accept_pause(&gov, ask.id, &mut doc, version, ask.who)?;
            self.record_acceptance(&doc, version, &a, ask.who)?;
            ask.accept_inconclusive = false;
        }
        let next = match self.rollout_decide(&gov, &ask)? {
            Decided::Done(f) => {
                // Marked done by a signed statement, as a client of the
                // daemon marks it: the policy says who may.
                let act = bosun_model::Act::RolloutDone {
                    id: rollout_name(ask.id)?,
                    start: f.start().to_string(),
                    accept_inconclusive: false,
                };
                let env = self.sign_statement(key, ask.who, act, now())?;
                return match self.apply_statement(&env, now())? {
                    Ok(_) => Ok(None),
                    Err(rej) => Err(ControlError::Other(done_refused(&rej))),
                };
            }
            Decided::Run(next) => next,
        };
        let (claims, env) = self.sign_rollout_op(
            key,
            ask.who,
            &next.plan,
            Some(next.rollout.clone()),
            self.next_seq(ask.who)?,
            now(),
        )?;
        match self.rollout_commit(&gov, *next, ask.who, &claims.jti, &env)? {
            Ok(s) => Ok(Some(s)),
            Err(rej) => Err(ControlError::Other(format!("intake refused the op: {rej}"))),
        }
    }

    /// [`Control::rollout_here`] of a verb that always submits an op.
    fn rollout_op_here(
        &self,
        id: &str,
        verb: RolloutVerb,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Submitted> {
        let ask = RolloutAsk {
            id,
            verb,
            who,
            accept_inconclusive: false,
            start: None,
        };
        self.rollout_here(&ask, key)?
            .ok_or_else(|| ControlError::Other(format!("rollout `{id}` submitted no op")))
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
        load_def(self, id)?;
        Ok(self
            .rollout_op_here(id, RolloutVerb::Start, key, who)?
            .accepted)
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
        let ask = RolloutAsk::promote(id, who, accept_inconclusive);
        Ok(self.rollout_here(&ask, key)?.map(|s| s.accepted))
    }

    /// Submits the current wave again (after a fix, a denial, a pause or
    /// the drill), on its hosts as the inventory selects them now.
    pub fn rollout_retry(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
        Ok(self
            .rollout_op_here(id, RolloutVerb::Retry, key, who)?
            .accepted)
    }

    /// Runs the rollback runbook on the canary's hosts to prove it works
    /// (required before wave 2 by `require_rollback_drill`).
    pub fn rollout_drill(
        &self,
        id: &str,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
        Ok(self
            .rollout_op_here(id, RolloutVerb::Drill, key, who)?
            .accepted)
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
        let s = self.rollout_op_here(id, RolloutVerb::Rollback, key, who)?;
        Ok((s.accepted, s.gone))
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
