//! One op's run as a struct with steps: [`Run::admit`] (in `admit`)
//! checks that the op may start (or go on) and takes its hosts, [`Run::resume`] rebuilds
//! where every plan entry stands from the store, [`Run::dispatch`] starts
//! every entry that is ready, [`Run::on_result`] records what a worker
//! reports, and [`Run::finish`] ends the run. [`Controller::run`] drives
//! them, with every step thread inside one `std::thread::scope`.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread::Scope;
use std::time::{Duration, Instant};

use bosun_model::{Jti, OpState, PlanStep, Strategy};
use bosun_store::{Delivery, Lease, OpRecord, StepResult, StepStatus};

use super::admit::{Admitted, Next};
use super::schedule::{Accounting, Ready, Slot, dependency_entries, readiness, sequence};
use super::worker::{Finished, Job, Shared, work};
use super::{Controller, Progress, RunReport};
use crate::exec::controller_host;
use crate::{ControlError, Result, now};

/// One op's run while it is under way.
pub(super) struct Run<'c> {
    ctl: &'c Controller,
    lease: &'c Lease,
    delivery: &'c Delivery,
    op: OpRecord,
    hosts: bosun_workspace::Inventory,
    /// Results the store held when the run (re)started, by plan index.
    done: BTreeMap<u32, StepResult>,
    /// Where every entry of the plan stands.
    slots: Vec<Slot>,
    /// Entries started before a restart: their host is asked how they
    /// ended (or they are waited for) before anything runs them again.
    adopt: Vec<bool>,
    deps: Vec<Vec<(bosun_model::DepKind, String, Vec<usize>)>>,
    order: Vec<Vec<usize>>,
    parallel: usize,
    max_fail: usize,
    acct: Accounting,
    /// When the rollout was last asked whether it still wants the op.
    rollout_checked: Option<Instant>,
    running: usize,
    running_step: HashMap<String, usize>,
    ran: usize,
    skipped: usize,
    /// Steps whose outcome became unknown in this run.
    attention: Vec<String>,
}

impl Controller {
    /// Runs (or resumes, or pauses) the op of delivery `d`.
    pub(super) fn run(
        &self,
        lease: &Lease,
        d: &Delivery,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RunReport> {
        let admitted = match Run::admit(self, lease, d, progress)? {
            Next::Go(a) => a,
            Next::Stop(r) => return Ok(r),
        };
        let mut run = match Run::resume(self, lease, d, admitted, progress)? {
            Next::Go(r) => r,
            Next::Stop(r) => return Ok(r),
        };
        let shared = Shared {
            root: self.ctl.ws.root.clone(),
            patterns: self.ctl.ws.config.scrub_patterns(),
            woken: Default::default(),
            op: crate::exec::record_op(d.jti.as_str()),
            records: crate::exec::records_dir(&self.ctl.ws),
            shim: crate::exec::step_shim(),
        };
        // Every step thread is joined before the run returns, whichever
        // way it returns.
        let paused = std::thread::scope(|s| run.drive(s, &shared, progress))?;
        match paused {
            Some(r) => Ok(r),
            None => {
                let hosts = run.hosts_run();
                let r = run.finish()?;
                // The steps' records served their purpose.
                shared.forget(hosts.iter());
                Ok(r)
            }
        }
    }
}

pub(super) fn report(jti: &Jti, state: OpState, detail: String) -> RunReport {
    RunReport {
        jti: jti.clone(),
        state,
        detail,
    }
}

fn idx_of(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| ControlError::Other("plan too long".into()))
}

impl<'c> Run<'c> {
    /// Rebuilds where every plan entry stands from the results the store
    /// holds. Entries started but not finished are adopted: their host is
    /// asked how they ended (see `worker`). Entries already recorded
    /// unknown end the run here.
    fn resume(
        c: &'c Controller,
        lease: &'c Lease,
        delivery: &'c Delivery,
        a: Admitted,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Next<Run<'c>>> {
        let plan = &a.op.plan;
        let n = plan.steps.len();
        let done: BTreeMap<u32, StepResult> = a.done.into_iter().map(|s| (s.idx, s)).collect();
        progress(Progress::RunStarted {
            jti: delivery.jti.clone(),
            runbook: plan.runbook.to_string(),
            total: n,
            resumed: done
                .values()
                .filter(|s| s.status == StepStatus::Succeeded)
                .count(),
        });
        let mut slots = vec![Slot::Pending; n];
        let mut adopt = vec![false; n];
        for i in 0..n {
            match done.get(&idx_of(i)?).map(|s| s.status) {
                None => {}
                Some(StepStatus::Started) => adopt[i] = true,
                Some(StepStatus::Waiting) => slots[i] = Slot::Waiting,
                Some(s) => slots[i] = Slot::Done(s),
            }
        }
        let parallel = plan
            .parallel
            .map_or(c.parallel, |p| usize::try_from(p).unwrap_or(usize::MAX))
            .max(1);
        let max_fail = usize::try_from(plan.max_fail.unwrap_or(0)).unwrap_or(usize::MAX);
        // What the stored results account for: failures cancel as they
        // did; an unknown outcome (recorded before this restart) holds its
        // host and ends the run `needs_attention` — once every interrupted
        // step (on any host) has been adopted.
        let mut acct = Accounting::default();
        let mut attention = Vec::new();
        for (i, ps) in plan.steps.iter().enumerate() {
            match slots[i] {
                Slot::Done(StepStatus::Failed) => acct.failed(ps, max_fail, false),
                Slot::Done(StepStatus::Unknown) => {
                    acct.failed(ps, max_fail, true);
                    attention.push(format!("step `{}` on `{}`", ps.step, ps.host));
                }
                _ => {}
            }
        }
        Ok(Next::Go(Run {
            ctl: c,
            lease,
            delivery,
            deps: dependency_entries(&plan.steps),
            order: sequence(&plan.steps),
            op: a.op,
            hosts: a.hosts,
            done,
            slots,
            adopt,
            parallel,
            max_fail,
            acct,
            rollout_checked: None,
            running: 0,
            running_step: HashMap::new(),
            ran: 0,
            skipped: 0,
            attention,
        }))
    }

    fn jti(&self) -> &'c Jti {
        &self.delivery.jti
    }

    /// Dispatches and collects results until nothing more can start.
    /// `Some` is a run paused (halt) or waiting for a human's report;
    /// `None`: the run is over and [`Run::finish`] says how.
    fn drive<'s>(
        &mut self,
        s: &'s Scope<'s, '_>,
        shared: &'s Shared,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<RunReport>> {
        let (tx, rx) = mpsc::channel::<Finished>();
        loop {
            self.check_rollout()?;
            let halted = self.ctl.ctl.store.halt()?;
            if halted.is_none() {
                self.dispatch(s, shared, &tx, progress)?;
            }
            if self.running == 0 {
                if let Some(h) = halted {
                    self.ctl.ctl.store.release(self.lease, self.delivery)?;
                    let why = format!(
                        "paused by halt ({}): resumes once an operator resumes dispatch",
                        h.why
                    );
                    return Ok(Some(report(self.jti(), OpState::Running, why)));
                }
                return self.idle();
            }
            let Ok(f) = rx.recv() else {
                return Err(ControlError::Other("step workers vanished".into()));
            };
            self.on_result(f, progress)?;
        }
    }

    /// A rollout op stops starting steps once its rollout no longer wants
    /// it (aborted, rolling back, restarted): checked at once, for a
    /// resumed run, and about every second while it runs.
    fn check_rollout(&mut self) -> Result<()> {
        if self.op.claims.rollout.is_some()
            && self.acct.run_stopped.is_none()
            && self
                .rollout_checked
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.rollout_checked = Some(Instant::now());
            if let Some(why) = self.ctl.ctl.rollout_refuses(&self.op.claims)? {
                self.acct
                    .failures
                    .push(format!("the rollout stopped it: {why}"));
                self.acct.run_stopped = Some(why);
            }
        }
        Ok(())
    }

    /// Starts (or skips, or parks for a report) every pending entry that
    /// is ready, within the run's and each step's parallelism.
    fn dispatch<'s>(
        &mut self,
        s: &'s Scope<'s, '_>,
        shared: &'s Shared,
        tx: &mpsc::Sender<Finished>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let plan = &self.op.plan;
        for i in 0..plan.steps.len() {
            if self.slots[i] != Slot::Pending {
                continue;
            }
            let ps = &self.op.plan.steps[i];
            // A step started before a restart is always asked after (and
            // waited for): it may still run, whatever stopped the rest.
            if self.adopt[i] {
                if let Some(job) = self.start(i, progress)? {
                    let tx = tx.clone();
                    s.spawn(move || {
                        let _ = tx.send(work(shared, job));
                    });
                }
                continue;
            }
            if self.acct.held(ps) {
                continue;
            }
            let verdict = match self.acct.cancelled(ps) {
                Some(why) => Ready::Skip(format!("cancelled: {why}")),
                None if self.order[i]
                    .iter()
                    .any(|&j| !matches!(self.slots[j], Slot::Done(_))) =>
                {
                    Ready::NotYet
                }
                None => readiness(&self.op.plan.steps, &self.deps[i], &self.slots),
            };
            let t = now();
            let idx = idx_of(i)?;
            let result = match verdict {
                Ready::NotYet => continue,
                Ready::Skip(reason) => {
                    self.skipped += 1;
                    self.slots[i] = Slot::Done(StepStatus::Skipped);
                    no_run(idx, ps, StepStatus::Skipped, reason, t, t)
                }
                Ready::Go if ps.needs_report() => {
                    self.slots[i] = Slot::Waiting;
                    let text = waiting_text(self.jti(), ps);
                    no_run(idx, ps, StepStatus::Waiting, text, t, 0)
                }
                Ready::Go => {
                    if let Some(job) = self.start(i, progress)? {
                        let tx = tx.clone();
                        s.spawn(move || {
                            let _ = tx.send(work(shared, job));
                        });
                    }
                    continue;
                }
            };
            self.ctl
                .ctl
                .store
                .step_finished(self.lease, self.jti(), &result)?;
            progress(Progress::StepFinished {
                jti: self.jti().clone(),
                result,
            });
        }
        Ok(())
    }

    /// Records entry `i` as started and returns its job, or `None` when
    /// the run's or the step's parallelism is used up.
    fn start(&mut self, i: usize, progress: &mut dyn FnMut(Progress)) -> Result<Option<Job>> {
        let ps = &self.op.plan.steps[i];
        let per_step = self.running_step.get(ps.step.as_str()).copied();
        let step_cap = ps
            .max_parallel
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        if self.running >= self.parallel || per_step.unwrap_or(0) >= step_cap {
            return Ok(None);
        }
        let idx = idx_of(i)?;
        let host = if ps.controller {
            Some(controller_host(&ps.host))
        } else {
            self.hosts.get(&ps.host).cloned()
        };
        let started = now();
        if !self.adopt[i] {
            let (step, on) = (ps.step.as_str(), ps.host.as_str());
            let store = &self.ctl.ctl.store;
            store.step_started(self.lease, self.jti(), idx, step, on, started)?;
        }
        progress(Progress::StepStarted {
            jti: self.jti().clone(),
            idx: i,
            step: ps.step.to_string(),
            host: ps.host.to_string(),
        });
        self.slots[i] = Slot::Running(started);
        self.running += 1;
        *self.running_step.entry(ps.step.to_string()).or_default() += 1;
        Ok(Some(Job {
            entry: i,
            host,
            name: ps.host.to_string(),
            cmd: ps.cmd.clone(),
            timeout: ps
                .timeout_secs
                .map_or(self.ctl.step_timeout, Duration::from_secs),
            attempts: if ps.on_error.strategy == Strategy::Retry {
                1 + ps.on_error.max
            } else {
                1
            },
            backoff: Duration::from_secs(ps.on_error.backoff_secs),
            idempotent: ps.idempotent,
            bar: ps.bar.clone(),
            // A burn-in counts from the bar's first recorded start: the
            // timer survives restarts (and so does a step's timeout).
            hold_from: self.done.get(&idx).map_or(started, |r| r.started_at),
            adopt: self.adopt[i],
        }))
    }

    /// Records what a worker reported: the step's result, a failed bar's
    /// effects, and what the failure cancels.
    fn on_result(&mut self, f: Finished, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        let Finished {
            entry: i,
            mut out,
            attempt,
            attempts,
            verdict,
            recovered,
        } = f;
        let plan = &self.op.plan;
        let ps = &plan.steps[i];
        self.running -= 1;
        if let Some(c) = self.running_step.get_mut(ps.step.as_str()) {
            *c = c.saturating_sub(1);
        }
        if attempts > 1 {
            out.output = format!("[attempt {attempt} of {attempts}]\n{}", out.output);
        }
        self.ran += 1;
        let ok = match verdict {
            Some(v) => v == bosun_fleet::bars::Verdict::Pass,
            None => out.ok(),
        };
        // Unknown: lost and not safe to run again, or possibly still
        // running (then even an idempotent step holds its host).
        let unknown = out.may_run || (out.lost && !ps.idempotent);
        let started = match self.slots[i] {
            Slot::Running(t) => t,
            _ => now(),
        };
        let status = if ok {
            StepStatus::Succeeded
        } else if unknown {
            StepStatus::Unknown
        } else {
            StepStatus::Failed
        };
        let result = StepResult {
            exit_code: out.exit_code,
            duration_ms: out.duration_ms,
            output: out.output,
            ..no_run(idx_of(i)?, ps, status, String::new(), started, now())
        };
        // A failed bar's blocker and drift are recorded before the bar's
        // result: after a crash in between, the bar (idempotent) runs again
        // and files the same blocker, once.
        if let (Some(v), Some(b)) = (verdict, &ps.bar) {
            // The host's change steps all ended well (a `continue` failure
            // lets bars run, but the change did not happen).
            let changed = plan.steps.iter().zip(&self.slots).all(|(p, sl)| {
                p.host != ps.host
                    || p.bar.is_some()
                    || matches!(sl, Slot::Done(StepStatus::Succeeded | StepStatus::Skipped))
            });
            let jti = self.jti();
            crate::bars::record_effects(&self.ctl.ctl, plan, jti, ps, b, v, &result, changed)?;
        }
        if recovered {
            self.ctl.ctl.store.record_event(&bosun_store::NewEvent {
                at: now(),
                jti: Some(self.jti().to_string()),
                kind: "step.recovered".into(),
                data: serde_json::json!({
                    "idx": result.idx, "step": result.step, "host": result.host,
                    "exit_code": result.exit_code,
                    "detail": "the controller restarted while the step ran; its outcome was read from the step's record, and it was not run again",
                }),
            })?;
        }
        // An unknown outcome's blocker is filed by the store in the same
        // transaction.
        self.ctl
            .ctl
            .store
            .step_finished(self.lease, self.jti(), &result)?;
        if unknown {
            (self.attention).push(format!("step `{}` on `{}`", ps.step, ps.host));
        }
        self.slots[i] = Slot::Done(result.status);
        progress(Progress::StepFinished {
            jti: self.jti().clone(),
            result,
        });
        if !ok {
            self.acct.failed(ps, self.max_fail, unknown);
        }
        Ok(())
    }

    /// Nothing runs and nothing more can start: parks a run waiting for a
    /// human's report (`Some`), fails one whose pending entries can never
    /// run, or says the run is over (`None`).
    fn idle(&self) -> Result<Option<RunReport>> {
        let (plan, jti) = (&self.op.plan, self.jti());
        // An unknown outcome ends the run now, even with human steps
        // waiting: it needs attention first.
        if !self.attention.is_empty() || self.slots.iter().all(|s| matches!(s, Slot::Done(_))) {
            return Ok(None);
        }
        let entries = |which: Slot| -> Vec<String> {
            plan.steps
                .iter()
                .zip(&self.slots)
                .filter(|(_, s)| **s == which)
                .map(|(p, _)| format!("`{}` on `{}`", p.step, p.host))
                .collect()
        };
        if let Some(w) = self.slots.iter().position(|s| *s == Slot::Waiting) {
            let ps = &plan.steps[w];
            let idx = idx_of(w)?;
            let started = self.done.get(&idx).map_or(now(), |r| r.started_at);
            // The same row the step's `waiting` result wrote.
            let text = waiting_text(jti, ps);
            let parked = no_run(idx, ps, StepStatus::Waiting, text, started, 0);
            self.ctl.ctl.store.park_run(self.lease, jti, &parked)?;
            let detail = format!(
                "waiting for a {} to report {}",
                match ps.actor {
                    bosun_model::plan::Actor::Agent => "agent",
                    bosun_model::plan::Actor::Human => "human",
                    bosun_model::plan::Actor::Both => "human or agent",
                },
                cap(entries(Slot::Waiting)),
            );
            return Ok(Some(report(jti, OpState::Running, detail)));
        }
        // Pending entries that can never become ready would be a planner
        // bug; end rather than spin.
        let detail = format!("steps that can never run: {}", cap(entries(Slot::Pending)));
        (self.ctl.ctl.store).finish_run(self.lease, jti, OpState::Failed, &detail, now())?;
        Ok(Some(report(jti, OpState::Failed, detail)))
    }

    /// The hosts this run started steps on (the control host as a local
    /// host), for forgetting their records.
    fn hosts_run(&self) -> Vec<bosun_model::Host> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (ps, slot) in self.op.plan.steps.iter().zip(&self.slots) {
            if !matches!(slot, Slot::Done(_)) || !seen.insert((ps.controller, ps.host.as_str())) {
                continue;
            }
            let h = if ps.controller {
                Some(controller_host(&ps.host))
            } else {
                self.hosts.get(&ps.host).cloned()
            };
            out.extend(h);
        }
        out
    }

    /// Ends the run: needs attention, succeeded or failed.
    fn finish(self) -> Result<RunReport> {
        let (store, jti, t) = (&self.ctl.ctl.store, self.jti(), now());
        let end = |state: OpState, detail: String| -> Result<RunReport> {
            store.finish_run(self.lease, jti, state, &detail, t)?;
            Ok(report(jti, state, detail))
        };
        if !self.attention.is_empty() {
            return end(
                OpState::NeedsAttention,
                format!(
                    "the outcome of {} is unknown and it is not idempotent (its output says why). Nothing more runs on that host until a human checks it and reports how it ended; the run then resumes",
                    cap(self.attention)
                ),
            );
        }
        if self.acct.failures.is_empty() {
            // A rollback (or drill) put the hosts back: the version a bar
            // saw before no longer holds.
            if let Some(r) = &self.op.claims.rollout
                && r.action != bosun_model::RolloutAction::Apply
            {
                for h in &self.op.plan.targets {
                    store.set_host_version(h.as_str(), "(rolled back)", t)?;
                }
            }
            // The whole run's count, a resumed run's earlier passes included.
            let before = |s: StepStatus| self.done.values().filter(|r| r.status == s).count();
            let earlier = before(StepStatus::Succeeded);
            let (n, ran) = (self.op.plan.steps.len(), self.ran + earlier);
            let skipped = self.skipped + before(StepStatus::Skipped);
            let detail = if earlier > 0 {
                format!(
                    "{n} steps: {ran} ran and succeeded ({earlier} before the run was resumed), {skipped} skipped"
                )
            } else {
                format!("{n} steps: {ran} ran and succeeded, {skipped} skipped")
            };
            return end(OpState::Succeeded, detail);
        }
        let acct = self.acct;
        let only = (acct.failures.len() == 1).then(|| format!("{} failed", acct.failures[0]));
        let mut detail = format!("failed: {}", cap(acct.failures));
        if let Some(why) = &acct.run_stopped
            && only.as_ref() != Some(why)
        {
            detail.push_str(&format!(" (then {why})"));
        }
        end(OpState::Failed, detail)
    }
}

/// The result of a plan entry that ran no command (skipped, waiting for
/// a report, outcome unknown).
fn no_run(
    idx: u32,
    ps: &PlanStep,
    status: StepStatus,
    output: String,
    started_at: i64,
    finished_at: i64,
) -> StepResult {
    StepResult {
        idx,
        step: ps.step.to_string(),
        host: ps.host.to_string(),
        status,
        exit_code: None,
        duration_ms: 0,
        output,
        started_at,
        finished_at,
    }
}

/// What a step waiting for a human's report says.
fn waiting_text(jti: &Jti, ps: &PlanStep) -> String {
    format!(
        "waiting for a signed report of step `{}` on `{}` of op {jti}",
        ps.step, ps.host
    )
}

/// Details name steps; a run over many hosts must not make its
/// `op.finished` ledger entry too large.
fn cap(mut list: Vec<String>) -> String {
    const MAX: usize = 20;
    let more = list.len().saturating_sub(MAX);
    list.truncate(MAX);
    let mut s = list.join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}
