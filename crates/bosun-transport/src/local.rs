//! The `local` transport: the step is a `sh -c` child process in the
//! host's `root` directory (relative to the workspace) or the workspace
//! root; a timed-out step's whole process group is killed. A plan step
//! runs under the step shim (`shim`), which records it in the workspace's
//! state directory; [`Local::probe`](Transport::probe) reads that record.

use std::process::Command;

use bosun_model::Host;
use rustix::process::{Pid, Signal};

use crate::child::{Process, supervise};
use crate::record::{Probe, forget_local, probe_local};
use crate::{Step, StepOutput, Transport};

/// Runs steps as local child processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Transport for Local {
    fn run_step(&self, step: &Step<'_>) -> StepOutput {
        supervise(self, step)
    }

    fn kill(&self, _step: &Step<'_>, group: i32) -> bool {
        // The whole process group (the step and its children), with a
        // direct syscall, never through the kill(1) binary, whose parsing
        // of `-KILL -<pgid>` differs between implementations.
        Pid::from_raw(group)
            .is_some_and(|g| rustix::process::kill_process_group(g, Signal::KILL).is_ok())
    }

    fn probe(&self, step: &Step<'_>) -> Probe {
        match &step.record {
            Some(r) => probe_local(r.dir, &r.key(), step.patterns),
            None => Probe::NotStarted,
        }
    }

    fn forget(&self, step: &Step<'_>) {
        if let Some(r) = &step.record {
            forget_local(r.dir, r.op);
        }
    }
}

impl Process for Local {
    fn command(&self, step: &Step<'_>, nonce: &str) -> std::io::Result<Command> {
        let shim = step.record.and_then(|r| r.shim.map(|s| (r, s)));
        let mut c = match shim {
            Some((r, shim)) => {
                let mut c = Command::new(shim);
                c.arg(crate::SHIM_ARG).arg(r.dir).arg(r.key()).arg(nonce);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.arg("-c");
                c
            }
        };
        c.arg(step.cmd);
        let dir = match &step.host.root {
            Some(r) => step.ws_root.join(r),
            None => step.ws_root.to_path_buf(),
        };
        std::fs::create_dir_all(&dir)?;
        c.current_dir(dir);
        c.env("BOSUN_HOST", step.host.name.as_str());
        // The bosun binary, for a step that runs a bosun verb (the kernel
        // promote runbook's `"$BOSUN" patches promote …`), and the op it is
        // a step of (`kernel build --step` checks it is that op's step).
        // Anything else (a bar, a wake or build command a step runs) gets
        // neither, even when its parent was such a step.
        match step.record {
            Some(r) => {
                match r.shim {
                    Some(shim) => c.env("BOSUN", shim),
                    None => c.env_remove("BOSUN"),
                };
                c.env("BOSUN_OP", r.op);
            }
            None => {
                c.env_remove("BOSUN").env_remove("BOSUN_OP");
            }
        }
        Ok(c)
    }

    fn timed_out(
        &self,
        step: &Step<'_>,
        pid: Option<Pid>,
        _group: Option<i32>,
        _note: &mut String,
    ) -> bool {
        // The child leads its own process group.
        if let Some(p) = pid {
            self.kill(step, p.as_raw_nonzero().get());
        }
        false
    }
}

/// The control host, as a `local` host for `target = "controller"` steps:
/// commands run in the workspace root.
pub fn controller_host(name: &bosun_model::Name) -> Host {
    Host {
        name: name.clone(),
        address: "localhost".into(),
        transport: bosun_model::Transport::Local,
        port: None,
        user: None,
        arch: std::env::consts::ARCH.into(),
        tags: Default::default(),
        infra: false,
        root: None,
        ssh_config: None,
        ssh_options: Vec::new(),
        runbooks: Vec::new(),
        builds: Vec::new(),
        wake: None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{KEEP_HEAD, KEEP_TAIL};

    fn local(dir: &Path) -> Host {
        let mut h = controller_host(&bosun_model::Name::parse("t").unwrap());
        h.root = Some(dir.display().to_string());
        h
    }

    fn run(dir: &Path, cmd: &str, timeout: Duration, patterns: &[regex::Regex]) -> StepOutput {
        let h = local(dir);
        Local.run_step(&Step {
            ws_root: dir,
            host: &h,
            cmd,
            timeout,
            patterns,
            record: None,
        })
    }

    #[test]
    fn huge_binary_and_endless_output_stay_bounded() {
        let d = tempfile::tempdir().unwrap();
        // 64 MiB of random bytes: kept head and tail only, lossily decoded.
        let o = run(
            d.path(),
            "head -c 67108864 /dev/urandom",
            Duration::from_secs(60),
            &[],
        );
        assert!(o.ok());
        assert!(
            o.output.len() < 4 * (KEEP_HEAD + KEEP_TAIL),
            "{}",
            o.output.len()
        );
        assert!(o.output.contains("bytes omitted"));
        // Output that never ends: the timeout ends it; memory stays capped.
        let o = run(d.path(), "yes bosun", Duration::from_secs(1), &[]);
        assert_eq!(o.exit_code, None);
        assert!(o.timed_out);
        assert!(o.output.contains("killed after the 1s timeout"));
        assert!(o.output.len() < 4 * (KEEP_HEAD + KEEP_TAIL));
    }

    #[test]
    fn a_background_child_holding_the_output_does_not_stall() {
        let d = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let o = run(
            d.path(),
            "echo started; (sleep 30; echo late) & true",
            Duration::from_secs(60),
            &[],
        );
        assert!(o.ok());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(o.output.contains("started"));
        assert!(o.output.contains("stopped reading"), "{}", o.output);
        assert!(!o.output.contains("late"));
    }

    #[test]
    fn configured_patterns_are_scrubbed() {
        let d = tempfile::tempdir().unwrap();
        let p = [regex::Regex::new("AKIA[0-9A-Z]{16}").unwrap()];
        let o = run(
            d.path(),
            "echo key AKIAABCDEFGHIJKLMNOP here",
            Duration::from_secs(10),
            &p,
        );
        assert_eq!(o.output.trim(), "key *** here");
    }
}
