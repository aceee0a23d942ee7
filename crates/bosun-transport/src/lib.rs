//! Running one rendered step on one host. A [`Transport`] runs a command
//! and reports what happened ([`StepOutput`]): its exit code, its output
//! (capped, head and tail kept, and scrubbed of credentials before anyone
//! stores it), and the endings a caller must tell apart — timed out, host
//! unreachable (the command never ran), connection lost while it ran (its
//! outcome is unknown).
//!
//! Two transports today, one file each: [`Local`] (a child process in the
//! host's `root` directory) and [`Ssh`] (the system OpenSSH client,
//! multiplexed).
//!
//! A plan step carries a [`Record`]: its supervisor — the step shim
//! (`shim`, the bosun binary re-executed) locally, a shell wrapper on a
//! remote host — records where it runs that it started and how it ended
//! (`record`), so that a controller that died meanwhile asks the host
//! ([`Transport::probe`]) instead of guessing. Both run a child process supervised by the same code
//! (`child`: pumping, timeout, killing, draining); a transport that is not
//! a local process (an on-host agent, NATS) implements [`Transport`]
//! directly and reuses [`scrub`] and the output cap. Which transport a
//! host uses is the caller's choice (bosun-control's `transport_for`).
#![deny(missing_docs)]

use std::path::Path;
use std::time::Duration;

use bosun_model::Host;

mod child;
mod files;
mod local;
mod output;
mod record;
mod shim;
mod ssh;

pub use files::{get_file, put_file, sh_quote};
pub use local::{Local, controller_host};
pub use output::{KEEP_HEAD, KEEP_TAIL, scrub};
pub use record::{Probe, Record, forget_local, record_op};
pub use shim::{SHIM_ARG, shim_main};
pub use ssh::{Ssh, private_file};

/// One step to run: a rendered command for one host.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The workspace root: local steps run there (or under the host's
    /// `root`), and relative ssh config paths are resolved against it.
    pub ws_root: &'a Path,
    /// The host, as the adopted inventory binds it.
    pub host: &'a Host,
    /// The rendered shell command.
    pub cmd: &'a str,
    /// Longest it may run before what it started is killed.
    pub timeout: Duration,
    /// The workspace's `scrub` patterns: matches in the output become `***`.
    pub patterns: &'a [regex::Regex],
    /// Where its supervisor records it: plan steps have one (their
    /// outcome must survive the controller); bars and wake commands,
    /// which are safe to run again, have none.
    pub record: Option<Record<'a>>,
}

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepOutput {
    /// Exit code; `None` when killed or never started.
    pub exit_code: Option<i32>,
    /// Captured stdout and stderr, capped and scrubbed.
    pub output: String,
    /// Wall time.
    pub duration_ms: u64,
    /// The connection to the host was lost after the command started: it
    /// may have run to the end, partly, or still be running.
    pub lost: bool,
    /// It was killed at its timeout.
    pub timed_out: bool,
    /// The host could not be reached: the command did not run.
    pub unreachable: bool,
    /// It may still be running (its kill at the timeout was not
    /// confirmed, or its host could not be asked): whatever it is, its
    /// host must stay held until a human says how it ended.
    pub may_run: bool,
}

impl StepOutput {
    /// Whether the step succeeded.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A way of running steps on hosts. Implementations never panic on a
/// step's failure: every ending is a [`StepOutput`].
pub trait Transport: Send + Sync {
    /// Runs `step` to its end, or until its timeout (then kills what it
    /// started), and reports what it did, output capped and scrubbed.
    fn run_step(&self, step: &Step<'_>) -> StepOutput;

    /// Kills process group `group` that a step started on `step`'s host
    /// (best effort, bounded); whether that was confirmed.
    fn kill(&self, step: &Step<'_>, group: i32) -> bool;

    /// Asks `step`'s host where the step recorded by `step.record` stands
    /// (a controller that restarted while it ran); [`Probe::NotStarted`]
    /// for a step without a record.
    fn probe(&self, step: &Step<'_>) -> Probe;

    /// Removes the records of `step`'s op on `step`'s host once its run
    /// ended (best effort).
    fn forget(&self, step: &Step<'_>);
}
