//! The controller: exactly one per workspace (a lease with a fencing
//! token), taking approved ops from the queue and running their plans.
//!
//! Durability contract: `Run{started}` is persisted before anything runs;
//! every step is persisted as started before it runs and as finished after;
//! the queue item is acked in the same transaction that ends the run. On
//! restart a run resumes: finished steps are never run again; a step that
//! was started but has no result is re-run only when idempotent, otherwise
//! the run ends `needs_attention` with a blocker, never retried blindly.
//! `halt` stops dispatch: no new op and no new step starts until `resume`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use bosun_model::{Jti, OpState, Strategy};
use bosun_store::{Delivery, Halt, Lease, NewEvent, RunStart, StepResult, StepStatus};

use crate::exec::{StepOutput, controller_host, run_step_scrubbed};

mod schedule;
use crate::{Control, ControlError, Result, now};
use schedule::{Accounting, Ready, Slot, dependency_entries, readiness, sequence};

/// Default lease time-to-live in seconds (renewed every third of it).
pub const LEASE_TTL_SECS: i64 = 15;
/// Default step timeout.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Progress a controller reports while it works.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A run started or resumed.
    RunStarted {
        /// The op.
        jti: Jti,
        /// Its runbook.
        runbook: String,
        /// Steps in its plan.
        total: usize,
        /// Steps already finished before (a resumed run).
        resumed: usize,
    },
    /// A step starts.
    StepStarted {
        /// The op.
        jti: Jti,
        /// Plan index.
        idx: usize,
        /// Step id.
        step: String,
        /// Host.
        host: String,
    },
    /// A step ended.
    StepFinished {
        /// The op.
        jti: Jti,
        /// Its result.
        result: StepResult,
    },
    /// A run ended (or paused: `state` is `running` when halted).
    RunEnded(RunReport),
    /// Something the operator should know that stops nothing (a file on
    /// disk that no longer parses while its last good version is used).
    Warning(String),
}

/// How a run ended this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The op.
    pub jti: Jti,
    /// Its state now (`running` when paused by a halt or a lock).
    pub state: OpState,
    /// Why, in words.
    pub detail: String,
}

/// What one [`Controller::tick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Ran (or resumed, or paused) one op.
    Ran(RunReport),
    /// Nothing to do.
    Idle,
    /// The fleet is halted; nothing was dispatched.
    Halted(Halt),
}

/// The single active controller of a workspace.
pub struct Controller {
    ctl: Control,
    holder: String,
    ttl: i64,
    lease: Option<Lease>,
    /// Deliveries whose targets were locked: kept (so this pass moves on
    /// to the next queue item) and put back by [`Controller::release_held`].
    held: Vec<Delivery>,
    /// Step timeout.
    pub step_timeout: Duration,
    /// Steps of one run executing at once when its runbook sets no
    /// `parallel`.
    pub parallel: usize,
}

/// Steps of one run executing at once by default (all hosts together).
pub const DEFAULT_PARALLEL: usize = 16;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether a lease holder named `host:pid` is a dead process on this host.
fn holder_is_dead_here(holder: &str) -> bool {
    let Some((h, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    h == hostname()
        && pid.parse::<u32>().is_ok()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Controller {
    /// A controller for `ctl`, named after this host and process.
    pub fn new(ctl: Control) -> Controller {
        Controller {
            ctl,
            holder: format!("{}:{}", hostname(), std::process::id()),
            ttl: LEASE_TTL_SECS,
            lease: None,
            held: Vec::new(),

            step_timeout: STEP_TIMEOUT,
            parallel: DEFAULT_PARALLEL,
        }
    }

    /// Takes the lease, or returns the live lease of another holder. A lease
    /// left by a dead process on this host is broken at once.
    pub fn acquire(&mut self) -> Result<std::result::Result<Lease, Lease>> {
        let t = now();
        if let Some(l) = self.ctl.store.acquire_lease(&self.holder, self.ttl, t)? {
            self.lease = Some(l.clone());
            return Ok(Ok(l));
        }
        match self.ctl.store.lease_holder(t)? {
            Some(other) if holder_is_dead_here(&other.holder) => {
                self.ctl.store.break_lease(&other)?;
                self.ctl.store.record_event(&NewEvent {
                    at: t,
                    jti: None,
                    kind: "controller.lease_broken".into(),
                    data: serde_json::json!({"stale": other.holder, "token": other.token, "by": self.holder}),
                })?;
                self.acquire()
            }
            Some(other) => Ok(Err(other)),
            None => self.acquire(),
        }
    }

    /// Gives the lease up.
    pub fn release(&mut self) -> Result<()> {
        if let Some(l) = self.lease.take() {
            self.ctl.store.release_lease(&l)?;
        }
        Ok(())
    }

    fn lease(&self) -> Result<Lease> {
        self.lease
            .clone()
            .ok_or_else(|| ControlError::Other("the controller does not hold the lease".into()))
    }

    /// Renews the lease; fails when it was lost to another controller.
    pub fn renew(&mut self) -> Result<()> {
        match self.acquire()? {
            Ok(_) => Ok(()),
            Err(other) => Err(ControlError::Other(format!(
                "the controller lease was taken by {} (token {}); stopping",
                other.holder, other.token
            ))),
        }
    }

    /// The inventory in force (see [`Control::inventory_in_force`]),
    /// reporting a file that no longer parses.
    fn inventory(&self, progress: &mut dyn FnMut(Progress)) -> Result<bosun_workspace::Inventory> {
        let (inv, warning) = self.ctl.inventory_in_force()?;
        if let Some(w) = warning {
            progress(Progress::Warning(w));
        }
        Ok(inv)
    }

    /// Dispatches at most one op: renews the lease, honours a halt, takes
    /// the next queue item and runs it.
    pub fn tick(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<Tick> {
        self.renew()?;
        if let Some(h) = self.ctl.store.halt()? {
            return Ok(Tick::Halted(h));
        }
        let lease = self.lease()?;
        let Some(d) = self.ctl.store.dequeue(&lease, now())? else {
            return Ok(Tick::Idle);
        };
        // Keep the lease alive while the op runs.
        let stop = Arc::new(AtomicBool::new(false));
        let beat = {
            let store = self.ctl.store.clone();
            let holder = self.holder.clone();
            let ttl = self.ttl;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let period = Duration::from_millis(u64::try_from(ttl * 1000 / 3).unwrap_or(5000));
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                    if waited >= period {
                        waited = Duration::ZERO;
                        let _ = store.acquire_lease(&holder, ttl, now());
                    }
                }
            })
        };
        let r = self.run(&lease, &d, progress);
        stop.store(true, Ordering::Relaxed);
        let _ = beat.join();
        let report = r?;
        if report.state == OpState::Approved {
            // Its hosts are locked by another op: try it again next pass.
            self.held.push(d);
        }
        progress(Progress::RunEnded(report.clone()));
        Ok(Tick::Ran(report))
    }

    /// Puts the deliveries held back for locked targets back on the queue.
    pub fn release_held(&mut self) -> Result<()> {
        let lease = self.lease()?;
        for d in self.held.drain(..) {
            self.ctl.store.release(&lease, &d)?;
        }
        Ok(())
    }

    /// Runs ticks until every queue item was tried once in this pass (or the
    /// fleet is halted); ops whose hosts are locked stay queued.
    pub fn work_until_idle(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<Vec<Tick>> {
        let mut out = Vec::new();
        loop {
            match self.tick(progress)? {
                Tick::Idle => break,
                t @ Tick::Halted(_) => {
                    out.push(t);
                    break;
                }
                t @ Tick::Ran(_) => out.push(t),
            }
        }
        self.release_held()?;
        Ok(out)
    }

    /// Ends an op that must not run as failed, with `detail` (its run
    /// starts and ends in the store, with nothing run), once its hosts are
    /// free.
    fn fail_unrun(&self, lease: &Lease, jti: &Jti, detail: String) -> Result<RunReport> {
        let store = &self.ctl.store;
        let report = |state: OpState, detail: String| RunReport {
            jti: jti.clone(),
            state,
            detail,
        };
        match store.start_run(lease, jti, now())? {
            RunStart::Started { .. } => {
                store.finish_run(lease, jti, OpState::Failed, &detail, now())?;
                Ok(report(OpState::Failed, detail))
            }
            RunStart::Locked { host, by } => Ok(report(
                OpState::Approved,
                format!("waiting: host `{host}` is locked by op {by}"),
            )),
            RunStart::AlreadyEnded(s) => Ok(report(s, "already ended".into())),
        }
    }

    fn run(
        &self,
        lease: &Lease,
        d: &Delivery,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RunReport> {
        let store = &self.ctl.store;
        let jti = &d.jti;
        let report = |state: OpState, detail: String| RunReport {
            jti: jti.clone(),
            state,
            detail,
        };
        let Some(op) = store.op(jti)? else {
            return Err(ControlError::Other(format!(
                "queued op `{jti}` is not in the store"
            )));
        };
        // The store is not trusted blindly: the plan must be the one that
        // was signed; a fresh dispatch also needs approvals still valid and
        // every host where the plan says it is.
        let mut hosts = self.inventory(progress)?;
        let (digest, mut refusal) = match crate::dispatch::check_digest(&op) {
            Ok(d) => (Some(d), None),
            Err(r) => (None, Some(r)),
        };
        if let Some(digest) = digest
            .as_ref()
            .filter(|_| op.summary.state == OpState::Approved)
        {
            // Only an op that waited for humans has approvals to lapse; one
            // that runs alone must start before it expires.
            let validity = match op.decision.outcome {
                bosun_model::Outcome::Approvals(_) => {
                    self.ctl.governed()?.policy.approval_validity_secs()
                }
                _ => i64::MAX,
            };
            if let Err(r) = crate::dispatch::check_approvals(&op, digest, now(), validity) {
                let text = r.text();
                return match store.lapse_approvals(lease, jti, &text, now()) {
                    Ok(()) => Ok(report(OpState::PendingApproval, text)),
                    Err(bosun_store::StoreError::WrongState { state, .. }) => {
                        Ok(report(state, "already moved on".into()))
                    }
                    Err(e) => Err(e.into()),
                };
            }
            refusal = crate::dispatch::check_expiry(&op, now()).err();
        }
        // Every (re)dispatch, a resumed run's too: the hosts are where the
        // plan says, and ssh reads only the adopted ssh_config, copied.
        if refusal.is_none() && digest.is_some() {
            refusal = crate::dispatch::check_hosts(&op.plan, &hosts).err();
        }
        if refusal.is_none()
            && let Err(message) = self.ctl.adopted_ssh_configs(&mut hosts)?
        {
            refusal = Some(crate::dispatch::Refusal {
                check: "inventory",
                message,
            });
        }
        if let Some(r) = refusal {
            return self.fail_unrun(lease, jti, r.text());
        }
        // Active blockers hold exactly the ops their kinds say; a run
        // already under way (resumed) is not held.
        if op.summary.state == OpState::Approved {
            match self.ctl.holds(None, &op.plan) {
                Ok(holds) => {
                    if let Some(h) = holds.first() {
                        return Ok(report(OpState::Approved, format!("held: {}", h.text())));
                    }
                }
                // Fail closed, and keep serving: the op waits until the
                // blockers can be judged again.
                Err(e) => {
                    return Ok(report(
                        OpState::Approved,
                        format!("held: the active blockers cannot be judged ({e})"),
                    ));
                }
            }
        }
        // An op of a rollout runs only while the rollout still wants it
        // (not aborted, not rolled back, not from an earlier start).
        if op.summary.state == OpState::Approved
            && let Some(why) = self.ctl.rollout_refuses(&op.claims)?
        {
            let detail = format!("{why}: the op did not run");
            return self.fail_unrun(lease, jti, detail);
        }
        let done = match store.start_run(lease, jti, now())? {
            RunStart::Started { steps } => steps,
            RunStart::Locked { host, by } => {
                let why = match store.op(&by)? {
                    Some(o) if o.summary.state == OpState::NeedsAttention => format!(
                        "held: host `{host}` needs attention after op {by} (a step's outcome is unknown); once checked, report it with `bosun step report {by} <step> --host {host} --status pass|fail`"
                    ),
                    _ => format!("waiting: host `{host}` is locked by op {by}"),
                };
                return Ok(report(OpState::Approved, why));
            }
            RunStart::AlreadyEnded(s) => return Ok(report(s, "already ended".into())),
        };
        let plan = &op.plan;
        let n = plan.steps.len();
        let idx_of =
            |i: usize| u32::try_from(i).map_err(|_| ControlError::Other("plan too long".into()));
        let done: BTreeMap<u32, StepResult> = done.into_iter().map(|s| (s.idx, s)).collect();
        progress(Progress::RunStarted {
            jti: jti.clone(),
            runbook: plan.runbook.to_string(),
            total: n,
            resumed: done
                .values()
                .filter(|s| s.status == StepStatus::Succeeded)
                .count(),
        });

        // Where every entry of the plan stands.
        let mut slots = vec![Slot::Pending; n];
        let mut rerun = vec![false; n];
        let mut unknown: Vec<usize> = Vec::new();
        for (i, ps) in plan.steps.iter().enumerate() {
            match done.get(&idx_of(i)?).map(|s| s.status) {
                None => {}
                Some(StepStatus::Started) if ps.idempotent => rerun[i] = true,
                Some(StepStatus::Started) | Some(StepStatus::Unknown) => unknown.push(i),
                Some(StepStatus::Waiting) => slots[i] = Slot::Waiting,
                Some(s) => slots[i] = Slot::Done(s),
            }
        }
        if !unknown.is_empty() {
            return self.unknown_outcome(lease, jti, plan, &done, &unknown, progress);
        }

        let deps = dependency_entries(plan);
        let patterns = Arc::new(self.ctl.ws.config.scrub_patterns());
        // Hosts with a `wake` command woken in this run (once each, before
        // their first step).
        let woken: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Arc::default();
        let order = sequence(plan);
        let parallel = plan
            .parallel
            .map_or(self.parallel, |p| usize::try_from(p).unwrap_or(usize::MAX))
            .max(1);
        let max_fail = usize::try_from(plan.max_fail.unwrap_or(0)).unwrap_or(usize::MAX);
        let mut acct = Accounting::default();
        for (i, ps) in plan.steps.iter().enumerate() {
            if slots[i] == Slot::Done(StepStatus::Failed) {
                acct.failed(ps, max_fail, false);
            }
        }
        // A rollout op stops starting steps once its rollout no longer
        // wants it (aborted, rolling back, restarted): checked now, for a
        // resumed run, and about every second while it runs.
        let mut rollout_checked: Option<std::time::Instant> = None;
        let (tx, rx) = mpsc::channel::<(usize, StepOutput, u32, u32)>();
        let mut running = 0usize;
        let mut running_step: HashMap<&str, usize> = HashMap::new();
        let (mut ran, mut skipped) = (0usize, 0usize);
        // Steps whose outcome became unknown in this run.
        let mut attention: Vec<String> = Vec::new();
        loop {
            if op.claims.rollout.is_some()
                && acct.run_stopped.is_none()
                && rollout_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                rollout_checked = Some(std::time::Instant::now());
                if let Some(why) = self.ctl.rollout_refuses(&op.claims)? {
                    acct.failures.push(format!("the rollout stopped it: {why}"));
                    acct.run_stopped = Some(why);
                }
            }
            let halted = store.halt()?;
            if halted.is_none() {
                for i in 0..n {
                    if slots[i] != Slot::Pending {
                        continue;
                    }
                    let ps = &plan.steps[i];
                    let idx = idx_of(i)?;
                    let verdict = match acct.cancelled(ps) {
                        Some(why) => Ready::Skip(format!("cancelled: {why}")),
                        None if order[i].iter().any(|&j| !matches!(slots[j], Slot::Done(_))) => {
                            Ready::NotYet
                        }
                        None => readiness(plan, &deps[i], &slots),
                    };
                    match verdict {
                        Ready::NotYet => continue,
                        Ready::Skip(reason) => {
                            let t = now();
                            let result = no_run(idx, ps, StepStatus::Skipped, reason, t, t);
                            store.step_finished(lease, jti, &result)?;
                            slots[i] = Slot::Done(StepStatus::Skipped);
                            skipped += 1;
                            progress(Progress::StepFinished {
                                jti: jti.clone(),
                                result,
                            });
                        }
                        Ready::Go if ps.needs_report() => {
                            let t = now();
                            let waiting =
                                no_run(idx, ps, StepStatus::Waiting, waiting_text(jti, ps), t, 0);
                            store.step_finished(lease, jti, &waiting)?;
                            slots[i] = Slot::Waiting;
                            progress(Progress::StepFinished {
                                jti: jti.clone(),
                                result: waiting,
                            });
                        }
                        Ready::Go => {
                            let per_step = running_step.get(ps.step.as_str()).copied().unwrap_or(0);
                            let step_cap = ps
                                .max_parallel
                                .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
                            if running >= parallel || per_step >= step_cap {
                                continue;
                            }
                            let host = if ps.controller {
                                Some(controller_host(&ps.host))
                            } else {
                                hosts.get(&ps.host).cloned()
                            };
                            let started = now();
                            if !rerun[i] {
                                store.step_started(
                                    lease,
                                    jti,
                                    idx,
                                    ps.step.as_str(),
                                    ps.host.as_str(),
                                    started,
                                )?;
                            }
                            progress(Progress::StepStarted {
                                jti: jti.clone(),
                                idx: i,
                                step: ps.step.to_string(),
                                host: ps.host.to_string(),
                            });
                            slots[i] = Slot::Running(started);
                            running += 1;
                            *running_step.entry(ps.step.as_str()).or_default() += 1;
                            let tx = tx.clone();
                            let root = self.ctl.ws.root.clone();
                            let timeout = ps
                                .timeout_secs
                                .map_or(self.step_timeout, Duration::from_secs);
                            let cmd = ps.cmd.clone();
                            let attempts = if ps.on_error.strategy == Strategy::Retry {
                                1 + ps.on_error.max
                            } else {
                                1
                            };
                            let backoff = Duration::from_secs(ps.on_error.backoff_secs);
                            let name = ps.host.to_string();
                            let idempotent = ps.idempotent;
                            let patterns = patterns.clone();
                            let bar = ps.bar.clone();
                            let woken = woken.clone();
                            // A burn-in counts from the bar's first recorded
                            // start: the timer survives restarts.
                            let hold_from = done.get(&idx).map_or(started, |r| r.started_at);
                            std::thread::spawn(move || {
                                let Some(host) = host else {
                                    let out = StepOutput {
                                        exit_code: None,
                                        output: format!(
                                            "host `{name}` is no longer in the inventory"
                                        ),
                                        duration_ms: 0,
                                        unreachable: true,
                                        ..StepOutput::default()
                                    };
                                    let _ = tx.send((i, out, 1, 1));
                                    return;
                                };
                                // Whatever happens in here, the scheduler
                                // hears back (a panic is a lost outcome).
                                let work = std::panic::AssertUnwindSafe(|| {
                                    if let Some(w) = wake_once(&root, &host, &woken, &patterns) {
                                        return (w, 1);
                                    }
                                    if let Some(b) = &bar {
                                        return (
                                            crate::bars::run_bar(
                                                b, &root, &host, &cmd, timeout, &patterns,
                                                hold_from,
                                            ),
                                            1,
                                        );
                                    }
                                    let mut out =
                                        run_step_scrubbed(&root, &host, &cmd, timeout, &patterns);
                                    let mut attempt = 1;
                                    // A lost connection leaves the outcome
                                    // unknown: only an idempotent step may
                                    // run again.
                                    while !out.ok()
                                        && attempt < attempts
                                        && (!out.lost || idempotent)
                                    {
                                        std::thread::sleep(backoff);
                                        attempt += 1;
                                        out = run_step_scrubbed(
                                            &root, &host, &cmd, timeout, &patterns,
                                        );
                                    }
                                    (out, attempt)
                                });
                                let (out, attempt) = std::panic::catch_unwind(work)
                                    .unwrap_or_else(|_| {
                                        (
                                            StepOutput {
                                                exit_code: None,
                                                output: "bosun: the step's worker failed; its outcome is unknown".into(),
                                                duration_ms: 0,
                                                lost: true,
                                                ..StepOutput::default()
                                            },
                                            1,
                                        )
                                    });
                                let _ = tx.send((i, out, attempt, attempts));
                            });
                        }
                    }
                }
            }
            if running == 0 {
                if let Some(h) = halted {
                    store.release(lease, d)?;
                    return Ok(report(
                        OpState::Running,
                        format!("paused by halt ({}): resumes after `bosun resume`", h.why),
                    ));
                }
                if !attention.is_empty() {
                    // An unknown outcome ends the run now, even with human
                    // steps waiting: it needs attention first.
                    break;
                }
                if let Some(w) = slots.iter().position(|s| *s == Slot::Waiting) {
                    let ps = &plan.steps[w];
                    let idx = idx_of(w)?;
                    let t = now();
                    // The same row the step's `waiting` result wrote.
                    let parked = no_run(
                        idx,
                        ps,
                        StepStatus::Waiting,
                        waiting_text(jti, ps),
                        done.get(&idx).map_or(t, |r| r.started_at),
                        0,
                    );
                    store.park_run(lease, jti, &parked)?;
                    let waiting: Vec<String> = plan
                        .steps
                        .iter()
                        .zip(&slots)
                        .filter(|(_, s)| **s == Slot::Waiting)
                        .map(|(p, _)| format!("`{}` on `{}`", p.step, p.host))
                        .collect();
                    return Ok(report(
                        OpState::Running,
                        format!(
                            "waiting for a {:?} to report {}: bosun step report {jti} {} --host {} --status pass|fail --as <name>",
                            ps.actor,
                            cap(waiting),
                            ps.step,
                            ps.host
                        ),
                    ));
                }
                if slots.iter().all(|s| matches!(s, Slot::Done(_))) {
                    break;
                }
                // Pending entries that can never become ready would be a
                // planner bug; end rather than spin.
                let stuck: Vec<String> = plan
                    .steps
                    .iter()
                    .zip(&slots)
                    .filter(|(_, s)| **s == Slot::Pending)
                    .map(|(p, _)| format!("`{}` on `{}`", p.step, p.host))
                    .collect();
                let detail = format!("steps that can never run: {}", cap(stuck));
                store.finish_run(lease, jti, OpState::Failed, &detail, now())?;
                return Ok(report(OpState::Failed, detail));
            }
            let Ok((i, mut out, attempt, attempts)) = rx.recv() else {
                return Err(ControlError::Other("step workers vanished".into()));
            };
            let ps = &plan.steps[i];
            running -= 1;
            if let Some(c) = running_step.get_mut(ps.step.as_str()) {
                *c = c.saturating_sub(1);
            }
            if attempts > 1 {
                out.output = format!("[attempt {attempt} of {attempts}]\n{}", out.output);
            }
            ran += 1;
            let ok = match out.verdict {
                Some(v) => v == bosun_fleet::bars::Verdict::Pass,
                None => out.ok(),
            };
            let verdict = out.verdict;
            let unknown = out.lost && !ps.idempotent;
            let started = match slots[i] {
                Slot::Running(t) => t,
                _ => now(),
            };
            let result = StepResult {
                idx: idx_of(i)?,
                step: ps.step.to_string(),
                host: ps.host.to_string(),
                status: if ok {
                    StepStatus::Succeeded
                } else if unknown {
                    StepStatus::Unknown
                } else {
                    StepStatus::Failed
                },
                exit_code: out.exit_code,
                duration_ms: out.duration_ms,
                output: out.output,
                started_at: started,
                finished_at: now(),
            };
            // A failed bar's blocker and drift are recorded before the
            // bar's result: after a crash in between, the bar (idempotent)
            // runs again and files the same blocker, once.
            if let (Some(v), Some(b)) = (verdict, &ps.bar) {
                // The host's change steps all ended well (a `continue`
                // failure lets bars run, but the change did not happen).
                let changed = plan.steps.iter().zip(&slots).all(|(p, sl)| {
                    p.host != ps.host
                        || p.bar.is_some()
                        || matches!(sl, Slot::Done(StepStatus::Succeeded | StepStatus::Skipped))
                });
                crate::bars::record_effects(&self.ctl, plan, jti, ps, b, v, &result, changed)?;
            }
            // An unknown outcome's blocker is filed by the store in the same
            // transaction.
            store.step_finished(lease, jti, &result)?;
            if unknown {
                attention.push(format!("step `{}` on `{}`", ps.step, ps.host));
            }
            slots[i] = Slot::Done(result.status);
            progress(Progress::StepFinished {
                jti: jti.clone(),
                result,
            });
            if !ok {
                acct.failed(ps, max_fail, unknown);
            }
        }
        let t = now();
        // Details name steps; a run over many hosts must not make its
        // `op.finished` ledger entry too large.
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
        if !attention.is_empty() {
            let detail = format!(
                "the connection was lost while {} ran and it is not idempotent: its outcome is unknown. Nothing more runs on that host until a human checks it and reports: bosun step report {jti} <step> --host <host> --status pass|fail",
                cap(attention)
            );
            store.finish_run(lease, jti, OpState::NeedsAttention, &detail, t)?;
            return Ok(report(OpState::NeedsAttention, detail));
        }
        if acct.failures.is_empty() {
            // A rollback (or drill) put the hosts back: the version a bar
            // saw before no longer holds.
            if let Some(r) = &op.claims.rollout
                && r.action != bosun_model::RolloutAction::Apply
            {
                for h in &plan.targets {
                    store.set_host_version(h.as_str(), "(rolled back)", t)?;
                }
            }
            let detail = format!("{n} steps: {ran} ran and succeeded, {skipped} skipped");
            store.finish_run(lease, jti, OpState::Succeeded, &detail, t)?;
            Ok(report(OpState::Succeeded, detail))
        } else {
            let only = (acct.failures.len() == 1).then(|| format!("{} failed", acct.failures[0]));
            let mut detail = format!("failed: {}", cap(acct.failures));
            if let Some(why) = &acct.run_stopped
                && only.as_ref() != Some(why)
            {
                detail.push_str(&format!(" (then {why})"));
            }
            store.finish_run(lease, jti, OpState::Failed, &detail, t)?;
            Ok(report(OpState::Failed, detail))
        }
    }

    /// Ends a resumed run whose steps were interrupted and cannot be re-run
    /// (not idempotent): each is recorded `unknown` with a blocker on its
    /// host, and the run ends `needs_attention`. Those hosts stay locked
    /// until a human reports each step.
    fn unknown_outcome(
        &self,
        lease: &Lease,
        jti: &Jti,
        plan: &bosun_model::Plan,
        done: &BTreeMap<u32, StepResult>,
        entries: &[usize],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RunReport> {
        let store = &self.ctl.store;
        let t = now();
        let mut what = Vec::new();
        for &i in entries {
            let ps = &plan.steps[i];
            let idx = u32::try_from(i).map_err(|_| ControlError::Other("plan too long".into()))?;
            let prev = done.get(&idx);
            what.push(format!("step `{}` on `{}`", ps.step, ps.host));
            if prev.is_some_and(|p| p.status == StepStatus::Unknown) {
                continue;
            }
            let unknown = no_run(
                idx,
                ps,
                StepStatus::Unknown,
                "the controller stopped while this step ran; its outcome cannot be known".into(),
                prev.map_or(t, |p| p.started_at),
                t,
            );
            // The store files the blocker in the same transaction.
            store.step_finished(lease, jti, &unknown)?;
            progress(Progress::StepFinished {
                jti: jti.clone(),
                result: unknown,
            });
        }
        let detail = format!(
            "{} was running when the controller stopped and is not idempotent: its outcome is unknown. Nothing was retried and nothing more runs on that host until a human checks it and reports: bosun step report {jti} <step> --host <host> --status pass|fail",
            what.join(", ")
        );
        store.finish_run(lease, jti, OpState::NeedsAttention, &detail, t)?;
        Ok(RunReport {
            jti: jti.clone(),
            state: OpState::NeedsAttention,
            detail,
        })
    }
}

/// The result of a plan entry that ran no command (skipped, waiting for
/// a report, outcome unknown).
/// Runs `host`'s `wake` command on the control host before its first step
/// of the run. Returns the failed output when waking failed (the step then
/// fails without running).
fn wake_once(
    root: &std::path::Path,
    host: &bosun_model::Host,
    woken: &std::sync::Mutex<std::collections::HashSet<String>>,
    patterns: &[regex::Regex],
) -> Option<StepOutput> {
    let cmd = host.wake.as_deref()?;
    if woken.lock().ok()?.contains(host.name.as_str()) {
        return None;
    }
    let out = run_step_scrubbed(
        root,
        &controller_host(&host.name),
        cmd,
        WAKE_TIMEOUT,
        patterns,
    );
    if out.ok() {
        // Woken only once it worked: a later step tries again.
        if let Ok(mut w) = woken.lock() {
            w.insert(host.name.to_string());
        }
        return None;
    }
    Some(StepOutput {
        output: format!(
            "bosun: could not wake `{}` (`{cmd}` on the control host): {}",
            host.name, out.output
        ),
        unreachable: true,
        ..out
    })
}

/// Longest a host's `wake` command may take.
pub const WAKE_TIMEOUT: Duration = Duration::from_secs(600);

fn no_run(
    idx: u32,
    ps: &bosun_model::PlanStep,
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
fn waiting_text(jti: &Jti, ps: &bosun_model::PlanStep) -> String {
    format!(
        "waiting for `bosun step report {jti} {} --host {} --status pass|fail --as <name>`",
        ps.step, ps.host
    )
}

/// Stops all dispatch at once and records it; returns the ops in flight.
pub fn halt(ctl: &Control, why: &str, by: &str) -> Result<Vec<bosun_store::OpSummary>> {
    let t = now();
    ctl.store.set_halt(
        Some(&Halt {
            why: why.to_string(),
            by: by.to_string(),
            since: t,
        }),
        by,
        t,
    )?;
    Ok(ctl.store.list_ops(Some(OpState::Running), 1000)?)
}

/// Lifts the halt and records who did.
pub fn resume(ctl: &Control, by: &str) -> Result<()> {
    Ok(ctl.store.set_halt(None, by, now())?)
}
