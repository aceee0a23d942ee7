//! The step worker: what one step's thread does (for a step started
//! before a restart, or whose connection dropped, ask its host how it
//! ended or wait for it; wake its host once, run the command or the bar,
//! retry as its `on_error` allows) and the message it sends back. Workers
//! run inside the run's `std::thread::scope`, so none outlives its run;
//! whatever happens in one (a panic included), the scheduler hears back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bosun_fleet::bars::Verdict;
use bosun_model::Host;

use bosun_transport::{Probe, Record, Step, Transport};

use crate::exec::{StepOutput, controller_host, run_step_scrubbed, transport_for};

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
    /// The op as its steps' records name it (`record_op` of its jti).
    pub(super) op: String,
    /// Where local steps' records go.
    pub(super) records: PathBuf,
    /// The step shim's binary, if this process has one.
    pub(super) shim: Option<&'static std::path::Path>,
}

impl Shared {
    /// Where attempt `attempt` of plan entry `entry` is recorded.
    fn record(&self, entry: u32, attempt: u32) -> Record<'_> {
        Record {
            op: &self.op,
            entry,
            dir: &self.records,
            shim: self.shim,
            attempt,
        }
    }

    /// Removes the records the run's steps left on `hosts` (local hosts
    /// share one directory: once for all of them; remote ones 16 at a
    /// time, each a connection of its own).
    pub(super) fn forget<'h>(&self, hosts: impl Iterator<Item = &'h Host>) {
        let mut local_done = false;
        let mut todo: Vec<&Host> = Vec::new();
        for h in hosts {
            if h.transport == bosun_model::Transport::Local {
                if local_done {
                    continue;
                }
                local_done = true;
            }
            todo.push(h);
        }
        let forget = |h: &Host| {
            let step = Step {
                ws_root: &self.root,
                host: h,
                cmd: "",
                timeout: Duration::ZERO,
                patterns: &[],
                record: Some(self.record(0, 1)),
            };
            transport_for(h).forget(&step);
        };
        for chunk in todo.chunks(16) {
            std::thread::scope(|s| {
                for &h in chunk {
                    s.spawn(move || forget(h));
                }
            });
        }
    }
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
    /// When the bar's burn-in counts from (its first recorded start); for
    /// a step, when it first started.
    pub(super) hold_from: i64,
    /// It was started before the controller restarted: ask its host how
    /// it ended (or wait for it) before anything runs it again.
    pub(super) adopt: bool,
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
    /// The outcome was read from the step's record after a restart: the
    /// command was not run again.
    pub(super) recovered: bool,
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
            recovered: false,
        };
    };
    let run = std::panic::AssertUnwindSafe(|| attempt_all(shared, &job, host));
    let (out, attempt, verdict, recovered) = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        let out = StepOutput {
            exit_code: None,
            output: "bosun: the step's worker failed; its outcome is unknown".into(),
            duration_ms: 0,
            lost: true,
            ..StepOutput::default()
        };
        (out, 1, None, false)
    });
    Finished {
        entry,
        out,
        attempt,
        attempts,
        verdict,
        recovered,
    }
}

/// What became of a step started before the controller restarted.
enum Adopted {
    /// Its record says how it ended (or it outlived its timeout and was
    /// killed): that is its outcome, of attempt `.1` when the record says.
    Outcome(StepOutput, Option<u32>),
    /// How it ended cannot be known (why; `may_run`: it may still run).
    Unknown(String, bool),
    /// It never ran, or it is idempotent and left nothing: run it.
    RunAgain,
}

/// Asks the host where an interrupted step stands and waits while it
/// still runs — past its timeout (counted from the start of the attempt
/// that runs, or from the step's first start where the host cannot tell)
/// its process group is killed — so nothing else runs on the host
/// meanwhile.
fn adopt(t: &dyn Transport, step: &Step<'_>, job: &Job) -> Adopted {
    let timeout = job.timeout.as_secs();
    let deadline = job
        .hold_from
        .saturating_add(i64::try_from(timeout).unwrap_or(i64::MAX));
    let mut pause = Duration::from_millis(20);
    let mut unreachable = 0;
    loop {
        match t.probe(step) {
            Probe::Ended { out, attempt } => return Adopted::Outcome(out, attempt),
            Probe::Running {
                group,
                attempt,
                age,
            } if age.map_or(crate::now() >= deadline, |a| a >= timeout) => {
                let killed = t.kill(step, group);
                // Wait for the supervisor to be gone before anything else
                // runs on the host; it may have recorded its end meanwhile.
                let mut gone = false;
                for _ in 0..50 {
                    match t.probe(step) {
                        Probe::Ended { out, attempt } => return Adopted::Outcome(out, attempt),
                        Probe::Running { .. } => std::thread::sleep(Duration::from_millis(100)),
                        _ => {
                            gone = true;
                            break;
                        }
                    }
                }
                let stopped = killed && gone;
                let out = StepOutput {
                    output: format!(
                        "[bosun: the step went on after the controller lost sight of it and ran past its {timeout}s timeout: its process group {group} {}]",
                        if stopped { "was killed" } else { "could not be killed: it may still run; check the host" }
                    ),
                    timed_out: true,
                    lost: !stopped,
                    may_run: !stopped,
                    ..StepOutput::default()
                };
                return Adopted::Outcome(out, attempt);
            }
            Probe::Running { .. } => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Probe::NotStarted | Probe::Vanished if job.idempotent => return Adopted::RunAgain,
            Probe::NotStarted => return Adopted::Unknown(
                "the step has no record on its host: the controller lost sight of it before its supervisor started, so it most likely did not run, but that cannot be proved and it is not idempotent".into(),
                false,
            ),
            Probe::Vanished => return Adopted::Unknown(
                "the controller lost sight of this step while it ran (it restarted, or the connection dropped), and the step's supervisor is gone too (killed, or the host restarted) without recording how it ended".into(),
                false,
            ),
            Probe::Unreachable(why) => {
                unreachable += 1;
                if unreachable >= 5 {
                    return Adopted::Unknown(
                        format!(
                            "the controller lost sight of this step while it ran, and `{}` cannot be asked how it ended (it may still run): {why}",
                            step.host.name
                        ),
                        true,
                    );
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Wakes the host, then runs the bar or the command, retrying while its
/// attempts last. A lost connection leaves the outcome unknown: only an
/// idempotent step may run again.
fn attempt_all(
    shared: &Shared,
    job: &Job,
    host: &Host,
) -> (StepOutput, u32, Option<Verdict>, bool) {
    let Shared { root, patterns, .. } = shared;
    let entry = u32::try_from(job.entry).unwrap_or(u32::MAX);
    let step = |attempt: u32| Step {
        ws_root: root,
        host,
        cmd: &job.cmd,
        timeout: job.timeout,
        patterns,
        record: Some(shared.record(entry, attempt)),
    };
    let t = transport_for(host);
    // A bar is unrecorded and safe to run again.
    if job.adopt && job.bar.is_none() {
        match adopt(t, &step(1), job) {
            Adopted::Outcome(out, attempt) => {
                // The attempt the record names; a failure with attempts
                // left goes on from there.
                let attempt = attempt.unwrap_or(1).max(1);
                return retry(t, &step, job, (out, attempt, true));
            }
            Adopted::Unknown(why, may_run) => {
                let out = StepOutput {
                    output: why,
                    lost: true,
                    may_run,
                    ..StepOutput::default()
                };
                return (out, 1, None, false);
            }
            Adopted::RunAgain => {}
        }
    }
    if let Some(w) = wake_once(shared, host) {
        return (w, 1, None, false);
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
        return (bar.out, 1, Some(bar.verdict), false);
    }
    let first = step(1);
    let (out, recovered) = settle(t, &first, job, t.run_step(&first));
    retry(t, &step, job, (out, 1, recovered))
}

/// A step whose connection was lost while it ran went on under its
/// supervisor: asks its host how it ended (waiting while it runs), as a
/// restarted controller would. The outcome stays lost (unknown, for a
/// step that is not idempotent) only when the host cannot tell.
fn settle(t: &dyn Transport, step: &Step<'_>, job: &Job, out: StepOutput) -> (StepOutput, bool) {
    if !out.lost || out.timed_out || step.record.is_none() {
        return (out, false);
    }
    match adopt(t, step, job) {
        Adopted::Outcome(o, _) => (o, true),
        Adopted::Unknown(why, may_run) => {
            let output = format!("{}\n[bosun: {why}]", out.output);
            (
                StepOutput {
                    output,
                    may_run,
                    ..out
                },
                false,
            )
        }
        Adopted::RunAgain => (out, false),
    }
}

/// Runs the step again while it failed and its attempts last: `first` is
/// (what attempt `n` did, `n`, whether that was read from its record);
/// `step(n)` is attempt `n`'s step, recorded under its own nonce. A
/// timeout is final only when the attempts are used up, as in a live run;
/// a lost connection leaves the outcome unknown: only an idempotent step
/// may run again.
fn retry<'a>(
    t: &dyn Transport,
    step: &impl Fn(u32) -> Step<'a>,
    job: &Job,
    first: (StepOutput, u32, bool),
) -> (StepOutput, u32, Option<Verdict>, bool) {
    let (mut out, mut attempt, mut recovered) = first;
    while !out.ok() && !out.may_run && attempt < job.attempts && (!out.lost || job.idempotent) {
        std::thread::sleep(job.backoff);
        attempt += 1;
        let s = step(attempt);
        (out, recovered) = settle(t, &s, job, t.run_step(&s));
    }
    (out, attempt, None, recovered)
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
