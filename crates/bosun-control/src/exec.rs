//! Which transport runs a step on a host ([`transport_for`]), and running
//! one through it. The transports themselves (local, ssh; output capping,
//! scrubbing, killing on timeout; the step shim and the records that let
//! a restarted controller learn how a step ended) live in
//! bosun-transport: a new way of reaching hosts is a new implementation of
//! its `Transport` trait and one arm here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use bosun_model::Host;
use bosun_transport::{Local, Ssh, Step, Transport};

pub use bosun_transport::{
    Probe, Record, SHIM_ARG, StepOutput, controller_host, forget_local, private_file, record_op,
    scrub, shim_main,
};

/// The transport `host` is reached over, as the adopted inventory binds it.
pub fn transport_for(host: &Host) -> &'static dyn Transport {
    match host.transport {
        bosun_model::Transport::Local => &Local,
        bosun_model::Transport::Ssh => &Ssh,
    }
}

static SHIM: OnceLock<PathBuf> = OnceLock::new();

/// Says which binary the controller re-executes as the step shim of local
/// steps (`<binary> __step-shim …`): the bosun binary, which calls this
/// at start. A process that never says (a library embedding the
/// controller) runs local steps without a shim, and so without a record a
/// restarted controller could read.
pub fn set_step_shim(binary: PathBuf) {
    let _ = SHIM.set(binary);
}

/// The step shim's binary, when one was set.
pub(crate) fn step_shim() -> Option<&'static Path> {
    SHIM.get().map(PathBuf::as_path)
}

/// Where local steps' records go: the workspace's state directory.
pub(crate) fn records_dir(ws: &bosun_workspace::Workspace) -> PathBuf {
    ws.state_dir().join("steps")
}

/// Runs `cmd` on `host` over its transport, waiting at most `timeout`, and
/// replaces matches of the workspace's `scrub` patterns (bosun.toml) in
/// the output with `***`. No record is kept: for what is safe to run again
/// (bars, wake commands).
pub fn run_step_scrubbed(
    ws_root: &Path,
    host: &Host,
    cmd: &str,
    timeout: Duration,
    patterns: &[regex::Regex],
) -> StepOutput {
    transport_for(host).run_step(&Step {
        ws_root,
        host,
        cmd,
        timeout,
        patterns,
        record: None,
    })
}
