//! The rollout engine: start, promote, retry, drill, rollback and abort.
//! Each verb first decides ([`Control::rollout_decide`], which writes
//! nothing): where the rollout stands (its derived status), which op it
//! submits next, the op's plan and rollout claim. The op is then signed —
//! here with the key at hand, or by a client of the daemon
//! ([`super::signed`]) — and committed: recorded in the document under
//! the version the decision was made against (so two racing calls cannot
//! both win), then submitted through intake.

use bosun_api::requests::RolloutVerb;
use bosun_model::{Host, Jti, KeyId, Name, OpState, Plan, RolloutAction, RolloutRef};
use bosun_store::StepStatus;

use super::document::{Doc, Phase, RunRef, doc_of, fresh_nonce, load_def};
use super::plan::{plan_for, resolve, wave_hosts};
use super::status::{RunStatus, is_bar, next_move};
use crate::governed::Governed;
use crate::intake::{Accepted, Rejected};
use crate::{Control, ControlError, Result, now};

/// The op a rollout submits next: what it does, for which wave, where.
struct NewRun {
    action: RolloutAction,
    wave: u32,
    hosts: Vec<Host>,
}

/// An inconclusive pause an operator lets pass with a promote: the paused
/// op and why it paused.
struct Acceptance {
    op: String,
    why: String,
}

/// What a rollout verb is asked to do, and by whom.
#[derive(Debug, Clone, Copy)]
pub struct RolloutAsk<'a> {
    /// The rollout id.
    pub id: &'a str,
    /// The verb.
    pub verb: RolloutVerb,
    /// Who signs the op.
    pub who: &'a KeyId,
    /// For a promote: let a wave paused by an inconclusive bar count as
    /// passed (an operator's decision; recorded when the op is committed).
    pub accept_inconclusive: bool,
    /// For a start: the nonce the signed op names (`None`: a fresh one).
    pub start: Option<&'a str>,
}

/// What a rollout verb decided, before anything is signed or written.
pub enum Decided {
    /// An op to sign, then commit.
    Run(Box<NextRun>),
    /// Every wave passed: a promote marks the rollout done.
    Done(Box<Finished>),
}

/// The op a rollout verb decided to submit, and the document it was
/// decided against.
pub struct NextRun {
    doc: Doc,
    version: u64,
    run: NewRun,
    accepted: Option<Acceptance>,
    /// The rollout claim the op carries.
    pub rollout: RolloutRef,
    /// The op's plan.
    pub plan: Plan,
    /// For a rollback: hosts the rollout changed that are no longer in
    /// the inventory (not rolled back).
    pub gone: Vec<String>,
}

impl NextRun {
    /// The version of the rollout's document it was decided against (0:
    /// never started).
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A rollout whose every wave passed, as a promote found it.
pub struct Finished {
    doc: Doc,
    version: u64,
    accepted: Option<Acceptance>,
}

impl Finished {
    /// The nonce of the start whose every wave passed.
    pub fn start(&self) -> &str {
        &self.doc.start
    }
}

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

/// What a verb checked, before the op is planned: the document to record
/// it in and under which version, the op, an acceptance to record with
/// it, the hosts left out.
struct Choice {
    doc: Doc,
    version: u64,
    run: NewRun,
    accepted: Option<Acceptance>,
    gone: Vec<String>,
}

/// A promote's choice: the next wave, or the end.
enum Promotion {
    Next(Choice),
    Done(Finished),
}

fn choice(doc: Doc, version: u64, run: NewRun) -> Choice {
    Choice {
        doc,
        version,
        run,
        accepted: None,
        gone: Vec::new(),
    }
}

fn rollout_name(id: &str) -> Result<Name> {
    Name::parse(id).map_err(|e| ControlError::Other(e.to_string()))
}

impl Control {
    /// Decides what verb `ask.verb` of rollout `ask.id` submits now, as
    /// `ask.who`, under the state held now: the op's plan and rollout
    /// claim, or that the rollout is done. Writes nothing; the op is
    /// signed, then [`Control::rollout_commit`] records and submits it.
    pub fn rollout_decide(&self, gov: &Governed, ask: &RolloutAsk<'_>) -> Result<Decided> {
        let c = match ask.verb {
            RolloutVerb::Start => self.decide_start(gov, ask)?,
            RolloutVerb::Promote => match self.decide_promote(gov, ask)? {
                Promotion::Next(c) => c,
                Promotion::Done(f) => return Ok(Decided::Done(Box::new(f))),
            },
            RolloutVerb::Retry => self.decide_retry(gov, ask.id)?,
            RolloutVerb::Drill => self.decide_drill(gov, ask.id)?,
            RolloutVerb::Rollback => self.decide_rollback(gov, ask.id)?,
        };
        let rollout = RolloutRef {
            id: rollout_name(&c.doc.def.id)?,
            wave: c.run.wave,
            action: c.run.action,
            start: c.doc.start.clone(),
        };
        // Planned before anything is written: a definition that cannot be
        // planned changes nothing.
        let plan = plan_for(gov, &c.doc.def, &rollout, &c.run.hosts)?;
        Ok(Decided::Run(Box::new(NextRun {
            doc: c.doc,
            version: c.version,
            run: c.run,
            accepted: c.accepted,
            rollout,
            plan,
            gone: c.gone,
        })))
    }

    /// Commits a decided op signed by `who` (its id `jti`, its envelope
    /// `env`): records an acceptance of an inconclusive bar that came with
    /// it, records the op in the rollout under the version it was decided
    /// against, then submits it through intake. An op intake refuses is
    /// taken out of the record again (the refusal comes back as the inner
    /// error).
    pub fn rollout_commit(
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
        let ask = RolloutAsk {
            id,
            verb: RolloutVerb::Promote,
            who,
            accept_inconclusive,
            start: None,
        };
        match self.rollout_decide(gov, &ask)? {
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
        let ask = RolloutAsk {
            id,
            verb: RolloutVerb::Promote,
            who,
            accept_inconclusive,
            start: None,
        };
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

    /// Start: refused while an earlier start is under way; a fresh
    /// document for the adopted definition, its canary wave.
    fn decide_start(&self, gov: &Governed, ask: &RolloutAsk<'_>) -> Result<Choice> {
        let id = ask.id;
        let def = load_def(self, id)?;
        let (version, earlier) = match self.store.rollout(id)? {
            Some(rec) => {
                let doc = doc_of(&rec)?;
                let st = self.status_of(id, &doc, rec.version)?;
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
                (rec.version, Some(doc.start))
            }
            None => (0, None),
        };
        let start = match ask.start {
            None => fresh_nonce()?,
            // A nonce the signer's client chose: one of the nonce's form,
            // never the earlier start's.
            Some(s) if Jti::parse(s).is_ok() && earlier.as_deref() != Some(s) => s.to_string(),
            Some(s) => {
                return Err(ControlError::Other(format!(
                    "`{s}` is not a fresh start nonce for rollout `{id}`"
                )));
            }
        };
        let hosts = wave_hosts(gov, &def, 0)?;
        let doc = Doc {
            def,
            phase: Phase::Active,
            runs: Vec::new(),
            accepted_inconclusive: Vec::new(),
            start,
            started_by: ask.who.to_string(),
            started_at: now(),
            note: String::new(),
        };
        // The rollback is planned too before anything is written (the
        // canary's apply is planned by the caller): a definition that
        // cannot be planned changes nothing.
        if doc.def.rollback.is_some() {
            let r = RolloutRef {
                id: rollout_name(id)?,
                wave: 0,
                action: RolloutAction::Rollback,
                start: doc.start.clone(),
            };
            plan_for(gov, &doc.def, &r, &hosts)?;
        }
        Ok(choice(
            doc,
            version,
            NewRun {
                action: RolloutAction::Apply,
                wave: 0,
                hosts,
            },
        ))
    }

    /// Puts `who`'s acceptance of the inconclusive pause of rollout `id`'s
    /// latest wave into `doc` (not stored): refused unless `who` is an
    /// operator and the wave is paused by an inconclusive bar.
    fn accept_pause(
        &self,
        gov: &Governed,
        id: &str,
        doc: &mut Doc,
        version: u64,
        who: &KeyId,
    ) -> Result<Acceptance> {
        if gov.keys.get(who).map(|k| k.role) != Some(bosun_model::Role::Operator) {
            return Err(ControlError::Other(format!(
                "only an operator may accept an inconclusive bar; `{who}` is not one"
            )));
        }
        let st = self.status_of(id, doc, version)?;
        match st.runs.last() {
            Some((r, RunStatus::Paused { why }))
                if r.action == RolloutAction::Apply && doc.phase == Phase::Active =>
            {
                doc.accepted_inconclusive.push(r.op.clone());
                Ok(Acceptance {
                    op: r.op.clone(),
                    why: why.clone(),
                })
            }
            _ => Err(ControlError::Other(
                "accepting an inconclusive bar applies only to an active rollout's wave paused by one".into(),
            )),
        }
    }

    /// Promote: the next wave once the current one passed (and baked, and
    /// the drill passed where required); after the last wave, the end.
    fn decide_promote(&self, gov: &Governed, ask: &RolloutAsk<'_>) -> Result<Promotion> {
        let id = ask.id;
        let (mut doc, version) = self.rollout_doc(id)?;
        let accepted = if ask.accept_inconclusive {
            Some(self.accept_pause(gov, id, &mut doc, version, ask.who)?)
        } else {
            None
        };
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
            return Ok(Promotion::Done(Finished {
                doc,
                version,
                accepted,
            }));
        }
        let hosts = wave_hosts(gov, &doc.def, next)?;
        Ok(Promotion::Next(Choice {
            accepted,
            ..choice(
                doc,
                version,
                NewRun {
                    action: RolloutAction::Apply,
                    wave: next,
                    hosts,
                },
            )
        }))
    }

    /// Retry: the current wave again, on its hosts as the inventory
    /// selects them now, unless its latest op is still pending or running.
    fn decide_retry(&self, gov: &Governed, id: &str) -> Result<Choice> {
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
        let hosts = wave_hosts(gov, &doc.def, wave)?;
        Ok(choice(
            doc,
            version,
            NewRun {
                action: RolloutAction::Apply,
                wave,
                hosts,
            },
        ))
    }

    /// Drill: the rollback runbook on the canary's hosts, once the canary
    /// wave passed.
    fn decide_drill(&self, gov: &Governed, id: &str) -> Result<Choice> {
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
        let (hosts, _) = resolve(gov, &hosts);
        Ok(choice(
            doc,
            version,
            NewRun {
                action: RolloutAction::Drill,
                wave: 0,
                hosts,
            },
        ))
    }

    /// Rollback: the rollback runbook on every host the rollout changed
    /// that is still in the inventory.
    fn decide_rollback(&self, gov: &Governed, id: &str) -> Result<Choice> {
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
        let (hosts, gone) = resolve(gov, &names);
        if hosts.is_empty() {
            return Err(ControlError::Other(format!(
                "rollout `{id}` changed no host that is still in the inventory"
            )));
        }
        Ok(Choice {
            gone,
            ..choice(
                doc,
                version,
                NewRun {
                    action: RolloutAction::Rollback,
                    wave,
                    hosts,
                },
            )
        })
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
