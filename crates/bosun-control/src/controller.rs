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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bosun_model::{DepKind, Jti, OpState, Strategy};
use bosun_store::{Delivery, Halt, Lease, NewEvent, RunStart, StepResult, StepStatus};

use crate::exec::run_step;
use crate::{Control, ControlError, Result, now};

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
}

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
        let done = match store.start_run(lease, jti, now())? {
            RunStart::Started { steps } => steps,
            RunStart::Locked { host, by } => {
                return Ok(report(
                    OpState::Approved,
                    format!("waiting: host `{host}` is locked by op {by}"),
                ));
            }
            RunStart::AlreadyEnded(s) => return Ok(report(s, "already ended".into())),
        };
        let done: BTreeMap<u32, StepResult> = done.into_iter().map(|s| (s.idx, s)).collect();
        let resumed = done
            .values()
            .filter(|s| s.status == StepStatus::Succeeded)
            .count();
        progress(Progress::RunStarted {
            jti: jti.clone(),
            runbook: op.plan.runbook.to_string(),
            total: op.plan.steps.len(),
            resumed,
        });
        let hosts = self.ctl.ws.inventory()?;
        // How each (host, step) ended, in this run and before a restart.
        let mut outcome: HashMap<(String, String), StepStatus> = done
            .values()
            .map(|s| ((s.host.clone(), s.step.clone()), s.status))
            .collect();
        // Why the rest of the run is cancelled (a `stop` step failed).
        let mut stopped: Option<String> = None;
        let mut failures: Vec<String> = Vec::new();
        let (mut ran, mut skipped) = (0usize, 0usize);
        for (i, ps) in op.plan.steps.iter().enumerate() {
            let idx = u32::try_from(i).map_err(|_| ControlError::Other("plan too long".into()))?;
            let what = format!("step `{}` on `{}`", ps.step, ps.host);
            if let Some(h) = store.halt()? {
                store.release(lease, d)?;
                return Ok(report(
                    OpState::Running,
                    format!("paused by halt ({}): resumes after `bosun resume`", h.why),
                ));
            }
            let mut rerun = false;
            match done.get(&idx).map(|s| s.status) {
                Some(StepStatus::Succeeded) => continue,
                Some(StepStatus::Skipped) => {
                    skipped += 1;
                    continue;
                }
                Some(StepStatus::Failed) => {
                    failures.push(what.clone());
                    if ps.on_error.strategy != Strategy::Continue {
                        stopped.get_or_insert(format!("{what} failed"));
                    }
                    continue;
                }
                Some(StepStatus::Waiting) => {
                    return Ok(report(
                        OpState::Running,
                        format!("waiting for a report of {what}"),
                    ));
                }
                Some(StepStatus::Unknown) => {
                    let detail = format!("{what} has an unknown outcome");
                    store.finish_run(lease, jti, OpState::NeedsAttention, &detail, now())?;
                    return Ok(report(OpState::NeedsAttention, detail));
                }
                Some(StepStatus::Started) if ps.idempotent => rerun = true,
                Some(StepStatus::Started) => {
                    let t = now();
                    let prev = done.get(&idx);
                    let unknown = StepResult {
                        idx,
                        step: ps.step.to_string(),
                        host: ps.host.to_string(),
                        status: StepStatus::Unknown,
                        exit_code: None,
                        duration_ms: 0,
                        output: "the controller stopped while this step ran; its outcome cannot be known".into(),
                        started_at: prev.map_or(t, |p| p.started_at),
                        finished_at: t,
                    };
                    store.step_finished(lease, jti, &unknown)?;
                    let detail = format!(
                        "{what} was running when the controller stopped and is not idempotent: its outcome is unknown. Check the host by hand; nothing was retried."
                    );
                    store.record_event(&NewEvent {
                        at: t,
                        jti: Some(jti.to_string()),
                        kind: "blocker.filed".into(),
                        data: serde_json::json!({"kind": "unknown-outcome", "host": ps.host, "step": ps.step, "halts": ["changes to this host"]}),
                    })?;
                    store.finish_run(lease, jti, OpState::NeedsAttention, &detail, t)?;
                    progress(Progress::StepFinished {
                        jti: jti.clone(),
                        result: unknown,
                    });
                    return Ok(report(OpState::NeedsAttention, detail));
                }
                None => {}
            }
            // Does it run? Not after a `stop`; otherwise when every
            // dependency ended the way its kind asks.
            let skip = match &stopped {
                Some(why) => Some(format!("cancelled: {why}")),
                None => ps.depends_on.iter().find_map(|dep| {
                    let st = outcome
                        .get(&(ps.host.to_string(), dep.step.to_string()))
                        .copied();
                    let holds = matches!(
                        (dep.kind, st),
                        (DepKind::Always, Some(_))
                            | (DepKind::OnSuccess, Some(StepStatus::Succeeded))
                            | (DepKind::OnFailure, Some(StepStatus::Failed))
                    );
                    (!holds).then(|| {
                        format!(
                            "skipped: it runs {} `{}`, which {}",
                            match dep.kind {
                                DepKind::Always => "after",
                                DepKind::OnSuccess => "when it succeeds:",
                                DepKind::OnFailure => "when it fails:",
                            },
                            dep.step,
                            st.map_or("did not run", |s| s.as_str())
                        )
                    })
                }),
            };
            if let Some(reason) = skip {
                let t = now();
                let result = StepResult {
                    idx,
                    step: ps.step.to_string(),
                    host: ps.host.to_string(),
                    status: StepStatus::Skipped,
                    exit_code: None,
                    duration_ms: 0,
                    output: reason,
                    started_at: t,
                    finished_at: t,
                };
                store.step_finished(lease, jti, &result)?;
                outcome.insert(
                    (result.host.clone(), result.step.clone()),
                    StepStatus::Skipped,
                );
                skipped += 1;
                progress(Progress::StepFinished {
                    jti: jti.clone(),
                    result,
                });
                continue;
            }
            if ps.needs_report() {
                let t = now();
                let waiting = StepResult {
                    idx,
                    step: ps.step.to_string(),
                    host: ps.host.to_string(),
                    status: StepStatus::Waiting,
                    exit_code: None,
                    duration_ms: 0,
                    output: format!(
                        "waiting for `bosun step report {jti} {} --status pass|fail --as <name>`",
                        ps.step
                    ),
                    started_at: t,
                    finished_at: 0,
                };
                store.park_run(lease, jti, &waiting)?;
                progress(Progress::StepFinished {
                    jti: jti.clone(),
                    result: waiting,
                });
                return Ok(report(
                    OpState::Running,
                    format!(
                        "waiting for a {:?} to report {what}: bosun step report {jti} {} --status pass|fail --as <name>",
                        ps.actor, ps.step
                    ),
                ));
            }
            let Some(host) = hosts.get(&ps.host) else {
                let detail = format!("host `{}` is no longer in the inventory", ps.host);
                store.finish_run(lease, jti, OpState::Failed, &detail, now())?;
                return Ok(report(OpState::Failed, detail));
            };
            let started = now();
            if !rerun {
                store.step_started(lease, jti, idx, ps.step.as_str(), ps.host.as_str(), started)?;
            }
            progress(Progress::StepStarted {
                jti: jti.clone(),
                idx: i,
                step: ps.step.to_string(),
                host: ps.host.to_string(),
            });
            let timeout = ps
                .timeout_secs
                .map_or(self.step_timeout, Duration::from_secs);
            let attempts = if ps.on_error.strategy == Strategy::Retry {
                1 + ps.on_error.max
            } else {
                1
            };
            let mut out = run_step(&self.ctl.ws.root, host, &ps.cmd, timeout);
            let mut attempt = 1;
            while !out.ok() && attempt < attempts {
                std::thread::sleep(Duration::from_secs(ps.on_error.backoff_secs));
                attempt += 1;
                out = run_step(&self.ctl.ws.root, host, &ps.cmd, timeout);
            }
            if attempts > 1 {
                out.output = format!("[attempt {attempt} of {attempts}]\n{}", out.output);
            }
            ran += 1;
            let ok = out.ok();
            let result = StepResult {
                idx,
                step: ps.step.to_string(),
                host: ps.host.to_string(),
                status: if ok {
                    StepStatus::Succeeded
                } else {
                    StepStatus::Failed
                },
                exit_code: out.exit_code,
                duration_ms: out.duration_ms,
                output: out.output,
                started_at: started,
                finished_at: now(),
            };
            store.step_finished(lease, jti, &result)?;
            outcome.insert((result.host.clone(), result.step.clone()), result.status);
            progress(Progress::StepFinished {
                jti: jti.clone(),
                result,
            });
            if !ok {
                failures.push(format!("{what} (exit {:?})", out.exit_code));
                if ps.on_error.strategy != Strategy::Continue {
                    stopped = Some(format!("{what} failed"));
                }
            }
        }
        let t = now();
        if failures.is_empty() {
            let detail = format!(
                "{} steps: {ran} ran and succeeded, {skipped} skipped",
                op.plan.steps.len()
            );
            store.finish_run(lease, jti, OpState::Succeeded, &detail, t)?;
            Ok(report(OpState::Succeeded, detail))
        } else {
            let detail = format!("failed: {}", failures.join("; "));
            store.finish_run(lease, jti, OpState::Failed, &detail, t)?;
            Ok(report(OpState::Failed, detail))
        }
    }
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
        t,
    )?;
    Ok(ctl.store.list_ops(Some(OpState::Running), 1000)?)
}

/// Lifts the halt and records it.
pub fn resume(ctl: &Control) -> Result<()> {
    Ok(ctl.store.set_halt(None, now())?)
}
