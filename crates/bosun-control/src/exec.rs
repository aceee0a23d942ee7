//! Which transport runs a step on a host ([`transport_for`]), and running
//! one through it. The transports themselves (local, ssh; output capping,
//! scrubbing, killing on timeout) live in bosun-transport: a new way of
//! reaching hosts is a new implementation of its `Transport` trait and one
//! arm here.

use std::path::Path;
use std::time::Duration;

use bosun_model::Host;
use bosun_transport::{Local, Ssh, Step, Transport};

pub use bosun_transport::{StepOutput, controller_host, private_file, scrub};

/// The transport `host` is reached over, as the adopted inventory binds it.
pub fn transport_for(host: &Host) -> &'static dyn Transport {
    match host.transport {
        bosun_model::Transport::Local => &Local,
        bosun_model::Transport::Ssh => &Ssh,
    }
}

/// Runs `cmd` on `host` over its transport, waiting at most `timeout`, and
/// replaces matches of the workspace's `scrub` patterns (bosun.toml) in
/// the output with `***`.
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
    })
}
