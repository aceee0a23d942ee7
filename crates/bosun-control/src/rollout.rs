//! Rollouts: one runbook applied wave by wave, canary first, each wave an
//! op of its own with the wave's bars checked on every host after its
//! change.
//!
//! The engine keeps a status document per rollout in the store (the
//! definition as started, frozen, and the list of ops it submitted) and
//! derives everything else from those ops' states and bar results, so a
//! crash at any point loses nothing and there is no second copy of the
//! truth to drift:
//!
//! ```text
//!  start ──> wave 0 (canary) op ──approve──> run + bars
//!              │ passed, baked ──(drill: rollback on the canary, then retry)──┐
//!              ▼                                                              │
//!  promote ──> wave 1 op (always needs a human: hard rule) ──> … ──> done     │
//!  a failed bar: the wave halts, host drifted, `regression` blocker filed     │
//!  an inconclusive bar: the wave pauses; promote --accept-inconclusive or retry
//!  rollback: the rollback runbook on every host changed so far; abort: stop.
//! ```
//!
//! Intake re-plans a rollout op from the frozen definition (so editing the
//! file mid-rollout changes nothing) and refuses ops of a rollout that is
//! no longer active; the controller fails, without running, an op of a
//! rollout that was aborted after the op was approved.

use std::collections::BTreeSet;

use bosun_fleet::bars::{Bar, Verdict};
use bosun_fleet::rollout::Rollout;
use bosun_model::source::parse_duration;
use bosun_model::{
    BarCheck, DepKind, Dependency, Host, Jti, KeyId, Name, OnError, OpState, Plan, PlanStep,
    RolloutAction, RolloutRef,
};
use bosun_store::{NewEvent, OpRecord, StepStatus};
use serde::{Deserialize, Serialize};

use crate::bars::parse_bar_line;
use crate::governed::Governed;
use crate::intake::Accepted;
use crate::{Control, ControlError, Result, now};

/// Where a rollout stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waves are being applied.
    Active,
    /// Stopped by a human; nothing more is submitted or run.
    Aborted,
    /// The rollback op was submitted.
    RollingBack,
    /// The last wave passed.
    Done,
    /// The rollback op succeeded (derived, never stored).
    RolledBack,
}

/// One op the rollout submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// What it does.
    pub action: RolloutAction,
    /// The wave (for a rollback: the last wave applied).
    pub wave: u32,
    /// The op.
    pub op: String,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// Submitted at (Unix seconds).
    pub at: i64,
    /// Who submitted it.
    pub by: String,
}

/// The stored status document of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// The definition as started (frozen).
    pub def: Rollout,
    /// Where it stands.
    pub phase: Phase,
    /// Ops submitted, in order.
    pub runs: Vec<RunRef>,
    /// Ops (of waves paused by an inconclusive bar) a human let pass.
    #[serde(default)]
    pub accepted_inconclusive: Vec<String>,
    /// A nonce of this start: ops of an earlier start of the same id
    /// never run.
    #[serde(default)]
    pub start: String,
    /// Started by, and when.
    pub started_by: String,
    /// Started at (Unix seconds).
    pub started_at: i64,
    /// Why it was aborted, when it was.
    #[serde(default)]
    pub note: String,
}

/// How one submitted op of a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RunStatus {
    /// Waiting for approvals.
    AwaitingApproval,
    /// Queued or running (possibly held by a blocker).
    InFlight {
        /// The op's state.
        state: OpState,
    },
    /// Every step and bar passed.
    Passed {
        /// Finished at (Unix seconds).
        finished_at: i64,
    },
    /// A bar failed (or a runbook step did): the rollout halts.
    Halted {
        /// What failed, in words.
        why: String,
    },
    /// A bar could not decide and nothing failed: a human decides.
    Paused {
        /// Which bar, in words.
        why: String,
    },
    /// Denied by the policy or a human.
    Denied,
    /// Recorded by the rollout, but intake never stored the op (a crash
    /// or a refusal in between): submit the wave again.
    NotSubmitted,
    /// An outcome is unknown: a human must look.
    NeedsAttention,
}

/// A bar result on one host, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BarResult {
    /// The host.
    pub host: String,
    /// The bar step (`bar-1-version`).
    pub bar: String,
    /// pass, fail or inconclusive.
    pub verdict: String,
    /// Why.
    pub why: String,
}

/// A rollout's derived status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The rollout id.
    pub id: String,
    /// Where it stands.
    pub phase: Phase,
    /// The waves: name, hosts selector.
    pub waves: Vec<(String, String)>,
    /// Each submitted op with its status, in order.
    pub runs: Vec<(RunRef, RunStatus)>,
    /// Bar results of the latest run.
    pub bars: Vec<BarResult>,
    /// What a human can do next, in words, with the command.
    pub next: String,
    /// The version of the stored document (for optimistic writes).
    #[serde(skip)]
    pub version: u64,
}

/// The adopted definition of rollout `id` (`rollouts/<id>.toml` as
/// operators adopted it): a rollout file's bars are commands, so the file
/// on disk changes nothing until it is adopted.
pub fn load_def(ctl: &Control, id: &str) -> Result<Rollout> {
    if Name::parse(id).is_err() {
        return Err(ControlError::Other(format!("`{id}` is not a rollout id")));
    }
    let rel = format!("rollouts/{id}.toml");
    let Some(adopted) = ctl
        .store
        .adopted(&bosun_workspace::governed::rollout_subject(id))?
    else {
        let on_disk = ctl.ws.root.join(&rel).exists();
        return Err(ControlError::Other(if on_disk {
            format!(
                "{rel} is not adopted: a rollout runs only as operators adopted it (`bosun adopt` proposes it)"
            )
        } else {
            format!(
                "no rollout `{id}`: rollouts live in the workspace's rollouts/ directory and run once adopted"
            )
        }));
    };
    Rollout::parse(&format!("adopted {rel}"), id, &adopted.content)
        .map_err(|errs| crate::located(&errs))
}

fn step_name(s: &str) -> Result<Name> {
    Name::parse(s).map_err(|e| ControlError::Other(format!("bar step name: {e}")))
}

fn secs(d: Option<&str>) -> Option<u64> {
    d.and_then(|d| parse_duration(d).ok())
        .and_then(|v| u64::try_from(v).ok())
}

/// The plan of a rollout op: for `apply`, the rollout's runbook on the
/// hosts with the wave's limits and, after each host's steps, the wave's
/// bars; for `rollback` and `drill`, the rollback runbook.
pub fn plan_for(gov: &Governed, def: &Rollout, r: &RolloutRef, hosts: &[Host]) -> Result<Plan> {
    let wave = usize::try_from(r.wave)
        .ok()
        .and_then(|w| def.wave(w))
        .ok_or_else(|| {
            ControlError::Other(format!("rollout `{}` has no wave {}", def.id, r.wave))
        })?;
    let (runbook, params) = match r.action {
        RolloutAction::Apply => (def.runbook.as_str(), &def.params),
        RolloutAction::Rollback | RolloutAction::Drill => (
            def.rollback.as_deref().ok_or_else(|| {
                ControlError::Other(format!("rollout `{}` names no rollback runbook", def.id))
            })?,
            def.rollback_params(),
        ),
    };
    let Some(rb) = gov.runbooks.get(runbook) else {
        return Err(ControlError::Other(format!(
            "rollout `{}` names runbook `{runbook}`, which is not in runbooks/",
            def.id
        )));
    };
    let mut plan = bosun_runbook::plan(&rb.runbook, hosts, params)?;
    if r.action != RolloutAction::Apply {
        return Ok(plan);
    }
    if wave.max_parallel.is_some() {
        plan.parallel = wave.max_parallel;
    }
    if wave.max_fail.is_some() {
        plan.max_fail = wave.max_fail;
    }
    let each_host: Vec<Name> = {
        let mut seen = BTreeSet::new();
        plan.steps
            .iter()
            .filter(|s| !s.controller && seen.insert(s.step.clone()))
            .map(|s| s.step.clone())
            .collect()
    };
    for h in hosts {
        let mut prev: Vec<Dependency> = each_host
            .iter()
            .map(|s| Dependency {
                step: s.clone(),
                kind: DepKind::Always,
            })
            .collect();
        for (i, bar) in wave.bars.iter().enumerate() {
            let render_as = |t: &str, mode| {
                bosun_runbook::render_for_host(t, h, &plan.params, mode).map_err(|e| {
                    ControlError::Other(format!(
                        "rollout `{}` wave `{}` bar {} on `{}`: {e}",
                        def.id,
                        wave.name,
                        i + 1,
                        h.name
                    ))
                })
            };
            // Commands are shell (every interpolation one word); expected
            // values and paths are text, compared or quoted here.
            let render = |t: &str| render_as(t, bosun_runbook::Mode::Shell);
            let text = |t: &str| render_as(t, bosun_runbook::Mode::Text);
            let (cmd, expect, timeout, hold) = match bar {
                Bar::Heartbeat { within } => ("true".to_string(), None, within.as_deref(), None),
                Bar::Version {
                    cmd,
                    expect,
                    timeout,
                } => (render(cmd)?, Some(text(expect)?), timeout.as_deref(), None),
                Bar::File {
                    path,
                    expect,
                    timeout,
                } => (
                    format!("cat -- {}", bosun_runbook::shell_quote(&text(path)?)),
                    Some(text(expect)?),
                    timeout.as_deref(),
                    None,
                ),
                Bar::Probe { cmd, timeout } => (render(cmd)?, None, timeout.as_deref(), None),
                Bar::BurnIn { hold, cmd, timeout } => (
                    render(cmd.as_deref().unwrap_or("true"))?,
                    None,
                    timeout.as_deref(),
                    secs(Some(hold)),
                ),
            };
            let name = step_name(&format!("bar-{}-{}", i + 1, bar.kind().replace('_', "-")))?;
            plan.steps.push(PlanStep {
                step: name.clone(),
                host: h.name.clone(),
                cmd,
                idempotent: true,
                depends_on: std::mem::take(&mut prev),
                on_error: OnError::default(),
                timeout_secs: Some(
                    secs(timeout).unwrap_or(bosun_fleet::bars::DEFAULT_TIMEOUT_SECS),
                ),
                actor: bosun_model::Actor::Agent,
                controller: false,
                max_parallel: None,
                check: None,
                bar: Some(BarCheck {
                    kind: bar.kind().to_string(),
                    expect,
                    hold_secs: hold,
                }),
            });
            prev = vec![Dependency {
                step: name,
                kind: DepKind::OnSuccess,
            }];
        }
    }
    // Host by host: a host's steps, then its bars, before the next host
    // (the scheduler starts the lowest ready entry), so a wave's
    // `max_parallel` hosts are checked before more are changed. A runbook
    // with controller steps keeps its step-major order (they are barriers
    // across hosts).
    if !plan.steps.iter().any(|s| s.controller) {
        let rank: std::collections::HashMap<&Name, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (&h.name, i))
            .collect();
        let mut steps = std::mem::take(&mut plan.steps);
        steps.sort_by_key(|s| rank.get(&s.host).copied().unwrap_or(usize::MAX));
        plan.steps = steps;
    }
    Ok(plan)
}

fn doc_of(rec: &bosun_store::RolloutRecord) -> Result<Doc> {
    serde_json::from_value(rec.body.clone()).map_err(|e| {
        ControlError::Other(format!(
            "rollout `{}`: stored status is corrupt: {e}",
            rec.id
        ))
    })
}

/// How an op of a rollout stands, from its state and its bar steps (only
/// steps the plan marks as bars count as bars: a runbook step's output
/// cannot pass itself off as a verdict).
fn run_status(op: &OpRecord, accepted: bool) -> RunStatus {
    match op.summary.state {
        OpState::PendingApproval | OpState::Submitted => RunStatus::AwaitingApproval,
        OpState::Approved | OpState::Running => RunStatus::InFlight {
            state: op.summary.state,
        },
        OpState::Succeeded => RunStatus::Passed {
            finished_at: op.summary.updated_at,
        },
        OpState::Denied => RunStatus::Denied,
        OpState::NeedsAttention => RunStatus::NeedsAttention,
        OpState::Failed => {
            let mut failed = None;
            let mut paused = None;
            let mut step_failed = None;
            let skipped = !every_host_checked(op);
            for s in &op.steps {
                if s.status != StepStatus::Failed {
                    continue;
                }
                match parse_bar_line(&s.output).filter(|_| is_bar(op, s)) {
                    Some((kind, Verdict::Fail, why)) => {
                        failed.get_or_insert(format!("bar {kind} failed on `{}`: {why}", s.host));
                    }
                    Some((kind, Verdict::Inconclusive, why)) => {
                        paused.get_or_insert(format!(
                            "bar {kind} was inconclusive on `{}`: {why}",
                            s.host
                        ));
                    }
                    _ => {
                        step_failed
                            .get_or_insert(format!("step `{}` failed on `{}`", s.step, s.host));
                    }
                }
            }
            match (failed.or(step_failed), paused) {
                (Some(why), _) => RunStatus::Halted { why },
                // Accepting a pause covers the hosts that were checked,
                // never hosts the pause kept from being changed.
                (None, Some(_)) if accepted && !skipped => RunStatus::Passed {
                    finished_at: op.summary.updated_at,
                },
                (None, Some(why)) if skipped => RunStatus::Paused {
                    why: format!(
                        "{why} (some hosts were not changed or not checked: retry the wave to finish them)"
                    ),
                },
                (None, Some(why)) => RunStatus::Paused { why },
                (None, None) => RunStatus::Halted {
                    why: if op.detail.is_empty() {
                        "the op failed".into()
                    } else {
                        op.detail.clone()
                    },
                },
            }
        }
    }
}

/// Whether step result `s` is one of the op's bars (only those yield
/// verdicts; a runbook step's output cannot pass itself off as one).
fn is_bar(op: &OpRecord, s: &bosun_store::StepResult) -> bool {
    usize::try_from(s.idx)
        .ok()
        .and_then(|i| op.plan.steps.get(i))
        .is_some_and(|p| p.bar.is_some())
}

/// Whether every host of the op was changed (one of its change steps ran)
/// and got a verdict from each of its bars: only then may an inconclusive
/// pause be accepted as a pass.
fn every_host_checked(op: &OpRecord) -> bool {
    let result = |i: usize| {
        op.steps
            .iter()
            .find(|s| usize::try_from(s.idx).ok() == Some(i))
    };
    op.plan.targets.iter().all(|h| {
        let mine: Vec<(usize, &bosun_model::PlanStep)> = op
            .plan
            .steps
            .iter()
            .enumerate()
            .filter(|(_, p)| &p.host == h)
            .collect();
        let changed = mine.iter().any(|(i, p)| {
            p.bar.is_none() && result(*i).is_some_and(|r| r.status != StepStatus::Skipped)
        });
        let checked = mine
            .iter()
            .filter(|(_, p)| p.bar.is_some())
            .all(|(i, _)| result(*i).is_some_and(|r| parse_bar_line(&r.output).is_some()));
        changed && checked
    })
}

impl Phase {
    /// The name used in output and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Active => "active",
            Phase::Aborted => "aborted",
            Phase::RollingBack => "rolling_back",
            Phase::Done => "done",
            Phase::RolledBack => "rolled_back",
        }
    }
}

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

fn fresh_nonce() -> Result<String> {
    Ok(crate::fresh_jti()?.to_string())
}

impl Control {
    /// The rollout's document, refused when it names no rollback runbook.
    fn rollout_with_rollback(&self, id: &str) -> Result<(Doc, u64)> {
        let (doc, version) = self.rollout_doc(id)?;
        if doc.def.rollback.is_none() {
            return Err(ControlError::Other(format!(
                "rollout `{id}` names no rollback runbook"
            )));
        }
        Ok((doc, version))
    }

    fn rollout_doc(&self, id: &str) -> Result<(Doc, u64)> {
        let rec = self.store.rollout(id)?.ok_or_else(|| {
            ControlError::Other(format!(
                "no rollout `{id}` was started (`bosun rollout start {id} --as <you>`)"
            ))
        })?;
        Ok((doc_of(&rec)?, rec.version))
    }

    /// Whether intake may take the op with `claims`, and the frozen
    /// definition to re-plan it from.
    pub fn rollout_for_intake(
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

    /// A rollout's status, derived from its ops.
    pub fn rollout_status(&self, id: &str) -> Result<Status> {
        let (doc, version) = self.rollout_doc(id)?;
        self.status_of(id, &doc, version)
    }

    fn status_of(&self, id: &str, doc: &Doc, version: u64) -> Result<Status> {
        let mut runs = Vec::new();
        let mut bars = Vec::new();
        for (i, r) in doc.runs.iter().enumerate() {
            let op = match Jti::try_from(r.op.clone()) {
                Ok(jti) => self.store.op(&jti)?,
                Err(_) => None,
            };
            let Some(op) = op else {
                runs.push((r.clone(), RunStatus::NotSubmitted));
                continue;
            };
            let accepted = doc.accepted_inconclusive.contains(&r.op);
            if i + 1 == doc.runs.len() {
                for s in &op.steps {
                    if let Some((_, v, why)) = parse_bar_line(&s.output).filter(|_| is_bar(&op, s))
                    {
                        bars.push(BarResult {
                            host: s.host.clone(),
                            bar: s.step.clone(),
                            verdict: v.as_str().into(),
                            why: why.into(),
                        });
                    }
                }
            }
            runs.push((r.clone(), run_status(&op, accepted)));
        }
        let mut st = Status {
            id: id.to_string(),
            phase: doc.phase,
            waves: doc
                .def
                .waves
                .iter()
                .map(|w| (w.name.clone(), w.hosts.clone()))
                .collect(),
            runs,
            bars,
            next: String::new(),
            version,
        };
        st.next = match next_move(doc, &st) {
            Ok(s) | Err(s) => s,
        };
        if doc.phase == Phase::RollingBack
            && matches!(st.runs.last(), Some((r, RunStatus::Passed { .. })) if r.action == RolloutAction::Rollback)
        {
            st.phase = Phase::RolledBack;
        }
        Ok(st)
    }

    fn write_doc(
        &self,
        id: &str,
        doc: &Doc,
        version: u64,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<u64> {
        let body = serde_json::to_value(doc)
            .map_err(|e| ControlError::Other(format!("encode rollout: {e}")))?;
        let mut data = data;
        if let Some(m) = data.as_object_mut() {
            m.insert("rollout".into(), serde_json::Value::String(id.into()));
        }
        Ok(self.store.put_rollout(
            id,
            &body,
            version,
            &NewEvent {
                at: now(),
                jti: None,
                kind: kind.into(),
                data,
            },
        )?)
    }

    fn wave_hosts(gov: &Governed, def: &Rollout, wave: u32) -> Result<Vec<Host>> {
        let w = usize::try_from(wave)
            .ok()
            .and_then(|i| def.wave(i))
            .ok_or_else(|| ControlError::Other(format!("no wave {wave}")))?;
        gov.inventory.select(&w.selectors()).map_err(|e| {
            ControlError::Other(format!("rollout `{}` wave `{}`: {e}", def.id, w.name))
        })
    }

    /// Records a new op in the rollout (under the `version` its caller
    /// checked its preconditions against, so two racing calls cannot both
    /// win), then submits it through intake. The op is planned first, so
    /// a definition that cannot be planned changes nothing. An op intake
    /// refuses is taken out of the record again.
    #[allow(clippy::too_many_arguments)]
    fn push_run(
        &self,
        gov: &Governed,
        mut doc: Doc,
        version: u64,
        action: RolloutAction,
        wave: u32,
        hosts: Vec<Host>,
        key: &dyn bosun_sign::Sign,
        who: &KeyId,
    ) -> Result<Accepted> {
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
                    return Err(ControlError::Other(format!(
                        "rollout `{id}` is under way (`bosun rollout status {id}`); abort it first to start over"
                    )));
                }
                rec.version
            }
            None => 0,
        };
        let hosts = Self::wave_hosts(&gov, &def, 0)?;
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
        self.push_run(&gov, doc, version, RolloutAction::Apply, 0, hosts, key, who)
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
                        "--accept-inconclusive applies only to an active rollout's wave paused by an inconclusive bar".into(),
                    ));
                }
            }
        }
        let st = self.status_of(id, &doc, version)?;
        if let Err(why) = next_move(&doc, &st) {
            return Err(ControlError::Other(format!("cannot promote `{id}`: {why}")));
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
        let hosts = Self::wave_hosts(&gov, &doc.def, next)?;
        self.push_run(
            &gov,
            doc,
            version,
            RolloutAction::Apply,
            next,
            hosts,
            key,
            who,
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
                return Err(ControlError::Other(format!(
                    "rollout `{id}`: the latest op is still pending or running: {}",
                    st.next
                )));
            }
            Some((r, _)) => r.wave,
            None => 0,
        };
        let hosts = Self::wave_hosts(&gov, &doc.def, wave)?;
        self.push_run(
            &gov,
            doc,
            version,
            RolloutAction::Apply,
            wave,
            hosts,
            key,
            who,
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
                return Err(ControlError::Other(format!(
                    "the drill runs once the canary wave passed; now: {}",
                    st.next
                )));
            }
        };
        let (hosts, _) = resolve(&gov, &hosts);
        self.push_run(&gov, doc, version, RolloutAction::Drill, 0, hosts, key, who)
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
            RolloutAction::Rollback,
            wave,
            hosts,
            key,
            who,
        )?;
        Ok((a, gone))
    }

    /// Aborts a rollout: nothing more is submitted, and an op of it that
    /// was not started yet fails without running (one already running
    /// finishes its steps; `bosun halt` stops dispatch at once).
    pub fn rollout_abort(&self, id: &str, who: &str, why: &str) -> Result<()> {
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

/// What may happen next: `Ok(what promote does)` when promotion is allowed
/// now, `Err(why not, and what to do)` otherwise.
fn next_move(doc: &Doc, st: &Status) -> std::result::Result<String, String> {
    let id = &doc.def.id;
    match doc.phase {
        Phase::Aborted => {
            return Err(format!(
                "aborted ({}); `bosun rollout start {id}` starts it over",
                doc.note
            ));
        }
        Phase::Done => return Err("done: every wave passed".into()),
        Phase::RolledBack => return Err("rolled back".into()),
        Phase::RollingBack => {
            return Err(match st.runs.last() {
                Some((r, RunStatus::Passed { .. })) if r.action == RolloutAction::Rollback => {
                    format!("rolled back; `bosun rollout start {id}` starts it over")
                }
                Some((r, s)) => format!("rollback op {}: {}", r.op, status_words(s)),
                None => "rolling back".into(),
            });
        }
        Phase::Active => {}
    }
    let Some((last, status)) = st.runs.last() else {
        return Err(format!(
            "nothing submitted yet: `bosun rollout retry {id} --as <you>`"
        ));
    };
    let wave_name = |w: u32| {
        usize::try_from(w)
            .ok()
            .and_then(|i| doc.def.wave(i))
            .map_or("?", |w| w.name.as_str())
            .to_string()
    };
    match (last.action, status) {
        (_, RunStatus::AwaitingApproval) => Err(format!(
            "wave `{}` ({}) waits for approval: `bosun approve {} --as <operator>`",
            wave_name(last.wave),
            last.action.as_str(),
            last.op
        )),
        (_, RunStatus::InFlight { state }) => Err(format!(
            "wave `{}` ({}) is {state}; `bosun ops show {}` for details",
            wave_name(last.wave),
            last.action.as_str(),
            last.op
        )),
        (_, RunStatus::Halted { why }) => Err(format!(
            "HALTED: {why}. Roll back with `bosun rollout rollback {id} --as <you>`, or fix and `bosun rollout retry {id} --as <you>`, or `bosun rollout abort {id} --as <you>`"
        )),
        (_, RunStatus::Paused { why }) => Err(format!(
            "PAUSED: {why}. Decide: `bosun rollout promote {id} --accept-inconclusive --as <operator>`, `bosun rollout retry {id} --as <you>`, or `bosun rollout abort {id} --as <you>`"
        )),
        (_, RunStatus::Denied | RunStatus::NotSubmitted) => Err(format!(
            "op {} was {}: `bosun rollout retry {id} --as <you>` or `bosun rollout abort {id} --as <you>`",
            last.op,
            status_words(status)
        )),
        (_, RunStatus::NeedsAttention) => Err(format!(
            "op {} needs attention (an outcome is unknown): `bosun ops show {}`",
            last.op, last.op
        )),
        (RolloutAction::Drill, RunStatus::Passed { .. }) => Err(format!(
            "the rollback drill passed; the canary is rolled back: re-apply it with `bosun rollout retry {id} --as <you>`"
        )),
        (RolloutAction::Rollback, RunStatus::Passed { .. }) => Err("rolled back".into()),
        (RolloutAction::Apply, RunStatus::Passed { finished_at }) => {
            let wave = usize::try_from(last.wave).unwrap_or(usize::MAX);
            let Some(w) = doc.def.wave(wave) else {
                return Err("unknown wave".into());
            };
            let bake_left = finished_at
                .saturating_add(w.bake_secs())
                .saturating_sub(now());
            if bake_left > 0 {
                return Err(format!(
                    "wave `{}` passed and bakes for {bake_left}s more; then `bosun rollout promote {id} --as <you>`",
                    w.name
                ));
            }
            if doc.def.require_rollback_drill
                && !st.runs.iter().any(|(r, s)| {
                    r.action == RolloutAction::Drill && matches!(s, RunStatus::Passed { .. })
                })
            {
                return Err(format!(
                    "wave `{}` passed, but this rollout requires a rollback drill on the canary first: `bosun rollout drill {id} --as <you>`",
                    w.name
                ));
            }
            match doc.def.wave(wave + 1) {
                Some(next) => Ok(format!(
                    "wave `{}` passed: `bosun rollout promote {id} --as <you>` submits wave `{}` ({})",
                    w.name, next.name, next.hosts
                )),
                None => Ok(format!(
                    "the last wave `{}` passed: `bosun rollout promote {id} --as <you>` marks the rollout done",
                    w.name
                )),
            }
        }
    }
}

/// The named hosts still in the inventory, and the names that are not.
fn resolve(gov: &Governed, names: &[String]) -> (Vec<Host>, Vec<String>) {
    let mut hosts = Vec::new();
    let mut gone = Vec::new();
    for n in names {
        match Name::parse(n).ok().and_then(|n| gov.inventory.get(&n)) {
            Some(h) => hosts.push(h.clone()),
            None => gone.push(n.clone()),
        }
    }
    (hosts, gone)
}

/// A run status in a few words.
pub fn status_words(s: &RunStatus) -> String {
    match s {
        RunStatus::AwaitingApproval => "awaiting approval".into(),
        RunStatus::InFlight { state } => state.to_string(),
        RunStatus::Passed { .. } => "passed".into(),
        RunStatus::Halted { why } => format!("HALTED: {why}"),
        RunStatus::Paused { why } => format!("PAUSED: {why}"),
        RunStatus::Denied => "denied".into(),
        RunStatus::NotSubmitted => "not submitted".into(),
        RunStatus::NeedsAttention => "needs attention".into(),
    }
}
