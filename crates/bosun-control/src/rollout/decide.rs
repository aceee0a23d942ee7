//! A rollout verb's decision ([`Control::rollout_decide`]): where the
//! rollout stands (its derived status), which op the verb submits next,
//! its plan and rollout claim — or, for a promote after the last wave,
//! that the rollout is done. Nothing is written here; the engine
//! commits what was decided once the op is signed.

use bosun_api::requests::RolloutVerb;
use bosun_model::{Host, Jti, KeyId, Name, OpState, Plan, RolloutAction, RolloutRef};
use bosun_store::StepStatus;

use super::document::{Doc, Phase, doc_of, fresh_nonce, load_def};
use super::plan::{plan_for, resolve, wave_hosts};
use super::status::{RunStatus, is_bar, next_move};
use crate::governed::Governed;
use crate::{Control, ControlError, Result, now};

/// The op a rollout submits next: what it does, for which wave, where.
pub(super) struct NewRun {
    pub(super) action: RolloutAction,
    pub(super) wave: u32,
    pub(super) hosts: Vec<Host>,
}

/// An inconclusive pause an operator lets pass with a promote: the paused
/// op and why it paused.
pub(super) struct Acceptance {
    pub(super) op: String,
    pub(super) why: String,
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

impl<'a> RolloutAsk<'a> {
    /// A promote of rollout `id` by `who`.
    pub fn promote(id: &'a str, who: &'a KeyId, accept_inconclusive: bool) -> RolloutAsk<'a> {
        RolloutAsk {
            id,
            verb: RolloutVerb::Promote,
            who,
            accept_inconclusive,
            start: None,
        }
    }
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
    pub(super) doc: Doc,
    pub(super) version: u64,
    pub(super) run: NewRun,
    pub(super) accepted: Option<Acceptance>,
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
    pub(super) doc: Doc,
    pub(super) version: u64,
    pub(super) accepted: Option<Acceptance>,
}

impl Finished {
    /// The nonce of the start whose every wave passed.
    pub fn start(&self) -> &str {
        &self.doc.start
    }
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

pub(super) fn rollout_name(id: &str) -> Result<Name> {
    Name::parse(id).map_err(|e| ControlError::Other(e.to_string()))
}

impl Control {
    /// Decides what verb `ask.verb` of rollout `ask.id` submits now, as
    /// `ask.who`, under the state held now: the op's plan and rollout
    /// claim, or that the rollout is done. Writes nothing; the op is
    /// signed, then [`Control::rollout_commit`] records and submits it.
    pub(crate) fn rollout_decide(&self, gov: &Governed, ask: &RolloutAsk<'_>) -> Result<Decided> {
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
    pub(super) fn accept_pause(
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
}
