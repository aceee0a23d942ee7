//! The supervision every child-process transport shares: spawn the
//! transport's command in a process group of its own, pump stdout and
//! stderr into one capped buffer, wait at most the step's timeout, let the
//! transport kill what the step started, drain what is left, let the
//! transport read how the step ended, scrub.
//!
//! Three threads per step are detached on purpose: the two pumps and the
//! child's waiter. A step may leave a background process holding its
//! output open for ever, so a pump may never see the end of its pipe; the
//! supervisor stops waiting for them after a short grace period (noting it
//! in the output) and they end on their own when the pipe closes. None of
//! them touches anything but its pipe and the buffer it shares with the
//! supervisor.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustix::process::Pid;

use crate::output::{Capped, Markers, pump, pump_markers, scrub_all};
use crate::{Step, StepOutput};

/// How a step ended, before its output is assembled; a transport adjusts
/// it in [`Process::ended`].
pub(crate) struct Ending {
    /// The exit code, `None` when killed or unknown.
    pub(crate) exit_code: Option<i32>,
    /// The connection was lost while the command ran.
    pub(crate) lost: bool,
    /// The host could not be reached: the command did not run.
    pub(crate) unreachable: bool,
    /// Notes appended to the output.
    pub(crate) note: String,
}

/// A transport that runs a step as a local child process (the command
/// itself, or a client that runs it remotely).
pub(crate) trait Process {
    /// The command that runs `step`; `nonce` marks the lines of a remote
    /// wrapper on stderr (see [`Process::markers`]).
    fn command(&self, step: &Step<'_>, nonce: &str) -> std::io::Result<Command>;

    /// Whether stderr carries the wrapper's markers (process group, exit
    /// status) to take out.
    fn markers(&self) -> bool {
        false
    }

    /// Kills what a timed-out step started: the child `pid` (the leader of
    /// its own process group) and, when the wrapper reported it, the remote
    /// `group`. Appends to `note`; returns whether the step may still run.
    fn timed_out(
        &self,
        step: &Step<'_>,
        pid: Option<Pid>,
        group: Option<i32>,
        note: &mut String,
    ) -> bool;

    /// Reads how a step that was not killed ended, from its exit code and
    /// the wrapper's markers.
    fn ended(&self, _step: &Step<'_>, _ending: &mut Ending, _markers: Markers) {}
}

/// A fresh nonce per run marks the wrapper's own lines, so output that
/// merely looks like a marker is never taken for one.
fn nonce() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `step` as a child process of `p` (see the module docs).
pub(crate) fn supervise(p: &impl Process, step: &Step<'_>) -> StepOutput {
    let start = Instant::now();
    let elapsed = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
    let failed = |output: String, s: Instant| StepOutput {
        exit_code: None,
        output,
        duration_ms: elapsed(s),
        ..StepOutput::default()
    };
    let nonce = match &step.record {
        Some(r) => crate::record::attempt_nonce(r.attempt, &nonce()),
        None => nonce(),
    };
    let mut c = match p.command(step, &nonce) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot prepare host `{}`: {e}", step.host.name);
            return failed(why, start);
        }
    };
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return failed(format!("cannot start the step: {e}"), start),
    };
    let sink = Arc::new(Mutex::new(Capped::default()));
    let markers = Arc::new(Mutex::new(Markers::default()));
    let (pumped, pumps_done) = mpsc::channel::<()>();
    if let Some(o) = child.stdout.take() {
        pump(o, sink.clone(), pumped.clone());
    }
    if let Some(e) = child.stderr.take() {
        if p.markers() {
            pump_markers(e, sink.clone(), markers.clone(), nonce, pumped.clone());
        } else {
            pump(e, sink.clone(), pumped.clone());
        }
    }
    drop(pumped);
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let mut ending = Ending {
        exit_code: None,
        lost: false,
        unreachable: false,
        note: String::new(),
    };
    let mut timed_out = false;
    match rx.recv_timeout(step.timeout) {
        Ok(Ok(status)) => ending.exit_code = status.code(),
        Ok(Err(e)) => ending.note = format!("\n[bosun: waiting for the step failed: {e}]"),
        Err(_) => {
            timed_out = true;
            let secs = step.timeout.as_secs();
            ending.note = format!("\n[bosun: killed after the {secs}s timeout]");
            let group = markers.lock().ok().and_then(|m| m.pgid);
            // Over ssh, a timed-out command whose remote group could not
            // be killed: its outcome is unknown.
            ending.lost = p.timed_out(step, pid, group, &mut ending.note);
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }
    if !drain(&pumps_done) {
        ending.note.push_str("\n[bosun: the step exited but something it started still holds its output open; stopped reading]");
    }
    if !timed_out {
        let m = markers.lock().map(|m| *m).unwrap_or_default();
        p.ended(step, &mut ending, m);
    }
    let mut output = sink.lock().map(|c| c.text()).unwrap_or_default();
    output.push_str(&ending.note);
    StepOutput {
        exit_code: ending.exit_code,
        output: scrub_all(&output, step.patterns),
        duration_ms: elapsed(start),
        lost: ending.lost,
        timed_out,
        unreachable: ending.unreachable,
        // Timed out and its kill not confirmed (ssh): it may still run.
        may_run: timed_out && ending.lost,
    }
}

/// A step may leave a background process holding its output open: reads
/// on for a moment, then stops waiting for it. Every pump holds a sender:
/// the channel disconnects the moment the last one ends (no polling), or
/// the wait gives up at its deadline. Whether every pump ended.
fn drain(pumps_done: &mpsc::Receiver<()>) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        match pumps_done.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Disconnected) => return true,
            _ if Instant::now() >= end => return false,
            _ => {}
        }
    }
}
