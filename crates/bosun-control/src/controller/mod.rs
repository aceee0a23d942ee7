//! The controller: exactly one per workspace (a lease with a fencing
//! token), taking approved ops from the queue and running their plans.
//!
//! Durability contract: `Run{started}` is persisted before anything runs;
//! every step is persisted as started before it runs and as finished after;
//! the queue item is acked in the same transaction that ends the run. A
//! step runs under a supervisor that outlives the controller and records,
//! where the step runs, that it started and how it ended (bosun-transport's
//! step shim, or the ssh wrapper). On restart a run resumes: finished steps
//! are never run again; a step that was started but has no result is
//! adopted (`worker`): its host is asked, and the controller waits while
//! it still runs (killing it past its timeout) so nothing else runs on
//! that host meanwhile, then takes the recorded outcome (a `step.recovered`
//! ledger entry says so). Only a step that left no outcome is re-run, and
//! only when idempotent; otherwise it ends `unknown`, what is left on its
//! host waits, and the run ends `needs_attention` with a blocker until a
//! human reports the step — the report resumes the run.
//! `halt` stops dispatch: no new op and no new step starts until `resume`.

//!
//! This module holds the [`Controller`] (its lease, heartbeat and tick);
//! `run` is one op's run as a struct (admit, resume, dispatch, on_result,
//! finish), with its admission (dispatch checks, holds, `start_run`) in
//! `admit`, `schedule` the scheduler's pure parts and `worker` what a step
//! thread does. Step threads and the lease's heartbeat are scoped: none
//! outlives the run that started it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bosun_model::{Jti, OpState};
use bosun_store::{Delivery, Halt, Lease, NewEvent, StepResult};

use crate::{Control, ControlError, Result, now};

mod admit;
mod run;
mod schedule;
mod worker;

pub use worker::WAKE_TIMEOUT;

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
            if self.lease.replace(l.clone()).is_none() {
                self.prune_records();
            }
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

    /// Removes the local step records of ops that have ended for good (a
    /// run that ended while paused, without its controller forgetting
    /// them), once per lease taken. Records of ops it cannot find, and of
    /// ops that need attention (their run resumes), are left alone.
    fn prune_records(&self) {
        let dir = crate::exec::records_dir(&self.ctl.ws);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut seen = std::collections::HashSet::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some((op, _)) = name.to_str().and_then(|n| n.split_once('.')) else {
                continue;
            };
            if !seen.insert(op.to_string()) {
                continue;
            }
            let ended = Jti::parse(op)
                .ok()
                .and_then(|j| self.ctl.store.op(&j).ok().flatten())
                // An op that needs attention resumes once reported: its
                // records still count.
                .is_some_and(|o| {
                    o.summary.state.is_terminal() && o.summary.state != OpState::NeedsAttention
                });
            if ended {
                crate::exec::forget_local(&dir, op);
            }
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
    /// A lease renewed less than a third of its time to live ago is left
    /// as it is (no other controller can take a live lease), so that an
    /// idle controller writes once per third of the TTL, not every tick.
    pub fn renew(&mut self) -> Result<()> {
        if self
            .lease
            .as_ref()
            .is_some_and(|l| l.expires_at - now() > self.ttl * 2 / 3)
        {
            return Ok(());
        }
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
    fn inventory(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<std::sync::Arc<bosun_workspace::Inventory>> {
        let (inv, warning) = self.ctl.inventory_in_force()?;
        if let Some(w) = warning {
            progress(Progress::Warning(w));
        }
        Ok(inv)
    }

    /// Renews the lease every third of its time to live until `stop`.
    fn beat(&self, stop: &AtomicBool) {
        let period = Duration::from_millis(u64::try_from(self.ttl * 1000 / 3).unwrap_or(5000));
        let mut waited = Duration::ZERO;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            waited += Duration::from_millis(100);
            if waited >= period {
                waited = Duration::ZERO;
                let _ = self.ctl.store.acquire_lease(&self.holder, self.ttl, now());
            }
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
        // Keep the lease alive while the op runs; the beat ends with it.
        let stop = AtomicBool::new(false);
        let r = std::thread::scope(|s| {
            s.spawn(|| self.beat(&stop));
            let r = self.run(&lease, &d, progress);
            stop.store(true, Ordering::Relaxed);
            r
        });
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
}

/// Stops all dispatch at once and records it; returns the ops in flight.
pub(crate) fn halt(ctl: &Control, why: &str, by: &str) -> Result<Vec<bosun_store::OpSummary>> {
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
pub(crate) fn resume(ctl: &Control, by: &str) -> Result<()> {
    Ok(ctl.store.set_halt(None, by, now())?)
}
