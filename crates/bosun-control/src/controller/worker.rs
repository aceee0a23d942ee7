//! The step worker: what one step's thread does (wake its host once, run
//! the command or the bar, retry as its `on_error` allows) and the message
//! it sends back. Workers run inside the run's `std::thread::scope`, so
//! none outlives its run; whatever happens in one (a panic included), the
//! scheduler hears back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bosun_fleet::bars::Verdict;
use bosun_model::Host;

use crate::exec::{StepOutput, controller_host, run_step_scrubbed};

/// Longest a host's `wake` command may take.
pub const WAKE_TIMEOUT: Duration = Duration::from_secs(600);

/// What every worker of one run shares, borrowed for the run's scope.
pub(super) struct Shared {
    /// The workspace root (local steps run there or under the host's root).
    pub(super) root: PathBuf,
    /// The workspace's `scrub` patterns.
    pub(super) patterns: Vec<regex::Regex>,
    /// Hosts with a `wake` command woken in this run (once each, before
    /// their first step).
    pub(super) woken: Mutex<HashSet<String>>,
}

/// One plan entry to run, owned by its worker.
pub(super) struct Job {
    /// Plan index of the entry.
    pub(super) entry: usize,
    /// The host as the inventory has it; `None` once it left the inventory.
    pub(super) host: Option<Host>,
    /// The host's name (for the message when it is gone).
    pub(super) name: String,
    /// The rendered command.
    pub(super) cmd: String,
    /// The step's timeout.
    pub(super) timeout: Duration,
    /// Runs allowed in all (1 unless `on_error` retries).
    pub(super) attempts: u32,
    /// Wait between attempts.
    pub(super) backoff: Duration,
    /// Whether running it again is safe after a lost connection.
    pub(super) idempotent: bool,
    /// The verification bar it is, if any.
    pub(super) bar: Option<bosun_model::BarCheck>,
    /// When the bar's burn-in counts from (its first recorded start).
    pub(super) hold_from: i64,
}

/// What a worker sends back.
pub(super) struct Finished {
    /// Plan index of the entry.
    pub(super) entry: usize,
    /// What the step did (its last attempt).
    pub(super) out: StepOutput,
    /// Which attempt that was.
    pub(super) attempt: u32,
    /// Attempts allowed.
    pub(super) attempts: u32,
    /// A bar's verdict (which decides the step's status instead of the
    /// exit code).
    pub(super) verdict: Option<Verdict>,
}

/// Runs `job` to its end; never panics out (a panic is a lost outcome).
pub(super) fn work(shared: &Shared, job: Job) -> Finished {
    let Job {
        entry, attempts, ..
    } = job;
    let Some(host) = &job.host else {
        let out = StepOutput {
            exit_code: None,
            output: format!("host `{}` is no longer in the inventory", job.name),
            duration_ms: 0,
            unreachable: true,
            ..StepOutput::default()
        };
        return Finished {
            entry,
            out,
            attempt: 1,
            attempts: 1,
            verdict: None,
        };
    };
    let run = std::panic::AssertUnwindSafe(|| attempt_all(shared, &job, host));
    let (out, attempt, verdict) = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        let out = StepOutput {
            exit_code: None,
            output: "bosun: the step's worker failed; its outcome is unknown".into(),
            duration_ms: 0,
            lost: true,
            ..StepOutput::default()
        };
        (out, 1, None)
    });
    Finished {
        entry,
        out,
        attempt,
        attempts,
        verdict,
    }
}

/// Wakes the host, then runs the bar or the command, retrying while its
/// attempts last. A lost connection leaves the outcome unknown: only an
/// idempotent step may run again.
fn attempt_all(shared: &Shared, job: &Job, host: &Host) -> (StepOutput, u32, Option<Verdict>) {
    let Shared { root, patterns, .. } = shared;
    if let Some(w) = wake_once(shared, host) {
        return (w, 1, None);
    }
    if let Some(b) = &job.bar {
        let bar = crate::bars::run_bar(
            b,
            root,
            host,
            &job.cmd,
            job.timeout,
            patterns,
            job.hold_from,
        );
        return (bar.out, 1, Some(bar.verdict));
    }
    let mut out = run_step_scrubbed(root, host, &job.cmd, job.timeout, patterns);
    let mut attempt = 1;
    while !out.ok() && attempt < job.attempts && (!out.lost || job.idempotent) {
        std::thread::sleep(job.backoff);
        attempt += 1;
        out = run_step_scrubbed(root, host, &job.cmd, job.timeout, patterns);
    }
    (out, attempt, None)
}

/// Runs `host`'s `wake` command on the control host before its first step
/// of the run. Returns the failed output when waking failed (the step then
/// fails without running).
fn wake_once(shared: &Shared, host: &Host) -> Option<StepOutput> {
    let cmd = host.wake.as_deref()?;
    if shared.woken.lock().ok()?.contains(host.name.as_str()) {
        return None;
    }
    let out = run_step_scrubbed(
        &shared.root,
        &controller_host(&host.name),
        cmd,
        WAKE_TIMEOUT,
        &shared.patterns,
    );
    if out.ok() {
        // Woken only once it worked: a later step tries again.
        if let Ok(mut w) = shared.woken.lock() {
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
