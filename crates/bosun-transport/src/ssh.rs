//! The `ssh` transport: the system OpenSSH client in batch mode,
//! multiplexed over one master connection per host, so `~/.ssh/config`,
//! the agent, ProxyJump and known_hosts apply.
//!
//! The remote shell first reports its process group (the session leader
//! sshd made it) and last the command's exit status, on stderr behind a
//! record separator (0x1E) that is filtered out of the output. That tells
//! three endings apart that ssh's own exit code 255 mixes up: the host
//! could not be reached (the command never ran), the connection dropped
//! while it ran (its outcome is unknown), or the command itself exited
//! 255. A timed-out step's remote process group is killed over a
//! connection of its own.
//!
//! A plan step's wrapper also records the step on the host (see `record`)
//! under `${XDG_CACHE_HOME:-$HOME/.cache}/bosun/steps`: the command's
//! output goes through `tee -p` into a FIFO whose reader keeps the tail,
//! so a controller that dies (and takes the ssh client with it) breaks
//! neither the command nor its record; a restarted controller reads the
//! record over a connection of its own ([`Ssh::probe`](Transport::probe)).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bosun_model::Host;
use rustix::process::Pid;

use crate::child::{Ending, Process, supervise};
use crate::output::Markers;
use crate::record::{MAGIC, Probe, RECORD_TAIL, attempt_of, parse_ended, parse_started, recovered};
use crate::{Step, StepOutput, Transport};

/// The remote directory of step records, as a shell word.
const REMOTE_DIR: &str = "\"${XDG_CACHE_HOME:-$HOME/.cache}/bosun/steps\"";

/// Sets `$__bosun_b` to the host's boot id (`-` where there is none),
/// with a builtin: no process per step.
const BOOT_ID: &str =
    "{ read __bosun_b < /proc/sys/kernel/random/boot_id; } 2>/dev/null || __bosun_b=-";

/// Runs steps over the system ssh client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ssh;

impl Transport for Ssh {
    fn run_step(&self, step: &Step<'_>) -> StepOutput {
        supervise(self, step)
    }

    fn kill(&self, step: &Step<'_>, group: i32) -> bool {
        kill_remote(step.ws_root, step.host, group)
    }

    fn probe(&self, step: &Step<'_>) -> Probe {
        let Some(r) = &step.record else {
            return Probe::NotStarted;
        };
        match remote_output(step.ws_root, step.host, &probe_script(&r.key())) {
            Ok(out) => read_probe(&out, step.patterns),
            Err(why) => Probe::Unreachable(why),
        }
    }

    fn forget(&self, step: &Step<'_>) {
        if let Some(r) = &step.record {
            let script = format!("rm -f {REMOTE_DIR}/{}.*", r.op);
            let _ = remote_output(step.ws_root, step.host, &script);
        }
    }
}

/// What the probe runs on the host: its answer after a [`PROBE`] line —
/// `none`, `untrusted`, or `started <nonce> <pid>`, then `age <seconds>`
/// since that attempt started (where `stat -c` tells), `alive` while the
/// step's process group lives (in the same boot), then `ended` and the
/// `.ended` file.
fn probe_script(key: &str) -> String {
    format!(
        "printf '{PROBE}\\n'; d={REMOTE_DIR}; k=\"$d/{key}\"\nif [ -d \"$d\" ] && ! [ -O \"$d\" ]; then echo untrusted; elif [ -f \"$k.started\" ]; then read n p b < \"$k.started\"; printf 'started %s %s\\n' \"$n\" \"$p\"; m=$(stat -c %Y \"$k.started\" 2>/dev/null); case \"$m\" in ''|*[!0-9]*) ;; *) echo \"age $(( $(date +%s) - m ))\";; esac; {BOOT_ID}; [ \"$b\" = \"$__bosun_b\" ] && kill -s 0 -- -\"$p\" 2>/dev/null && echo alive; [ -f \"$k.ended\" ] && echo ended && head -c {} \"$k.ended\"; else echo none; fi; exit 0",
        RECORD_TAIL + 4096
    )
}

/// The line the probe script starts its answer with: what a login script
/// prints before it is skipped.
const PROBE: &str = "bosun-probe 1";

/// Reads what the probe script printed (see [`Ssh::probe`](Transport::probe)).
fn read_probe(out: &[u8], patterns: &[regex::Regex]) -> Probe {
    let tag = format!("{PROBE}\n");
    let Some(at) = out.windows(tag.len()).position(|w| w == tag.as_bytes()) else {
        return Probe::Unreachable("the host's answer to the probe has no probe line".into());
    };
    let out = &out[at + tag.len()..];
    let nl = out.iter().position(|&b| b == b'\n').unwrap_or(out.len());
    let first = String::from_utf8_lossy(&out[..nl]);
    if first == "none" {
        return Probe::NotStarted;
    }
    if first == "untrusted" {
        return Probe::Unreachable(
            "the host's record directory is not the login user's own: its records are not trusted"
                .into(),
        );
    }
    let Some((nonce, pid)) = first.strip_prefix("started ").and_then(parse_started) else {
        return Probe::Unreachable(format!("the host answered the probe with `{first}`"));
    };
    let attempt = attempt_of(nonce);
    let mut rest = out.get(nl + 1..).unwrap_or_default();
    let mut age = None;
    if let Some(after) = rest.strip_prefix(b"age ") {
        let end = after
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(after.len());
        age = std::str::from_utf8(&after[..end])
            .ok()
            .and_then(|a| a.parse().ok());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    let alive = rest.starts_with(b"alive\n");
    if alive {
        rest = &rest[6..];
    }
    if let Some(ended) = rest.strip_prefix(b"ended\n")
        && let Some((rc, output)) = parse_ended(ended, nonce)
    {
        return Probe::Ended {
            out: recovered(rc, &output, patterns),
            attempt,
        };
    }
    if alive {
        Probe::Running {
            group: pid,
            attempt,
            age,
        }
    } else {
        Probe::Vanished
    }
}

/// Runs `script` on `host` over a connection of its own (bounded) and
/// returns its stdout; `Err` when ssh itself failed.
fn remote_output(ws_root: &Path, host: &Host, script: &str) -> Result<Vec<u8>, String> {
    let mut c = ssh_base(ws_root, host);
    c.arg(script);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = c.spawn().map_err(|e| format!("cannot start ssh: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(o)) if o.status.success() => Ok(o.stdout),
        Ok(Ok(o)) => Err(format!("ssh to `{}` failed ({})", host.name, o.status)),
        Ok(Err(e)) => Err(format!("ssh to `{}` failed: {e}", host.name)),
        Err(_) => {
            if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
            Err(format!("ssh to `{}` did not answer in 30s", host.name))
        }
    }
}

impl Process for Ssh {
    /// `cmd` wrapped so the remote shell reports its process group and the
    /// command's exit status (see the module docs).
    fn command(&self, step: &Step<'_>, nonce: &str) -> std::io::Result<Command> {
        let mut c = ssh_base(step.ws_root, step.host);
        let cmd = step.cmd;
        let pgid = format!("printf '\\036bosun-{nonce}-pgid:%s\\n' \"$$\" >&2");
        let rc =
            format!("printf '\\036bosun-{nonce}-rc:%s\\n' \"$__bosun_rc\" >&2\nexit $__bosun_rc");
        let wrapped = match &step.record {
            None => format!("{pgid}\n(\n{cmd}\n)\n__bosun_rc=$?\n{rc}"),
            Some(r) => recorded(&pgid, cmd, &rc, &r.key(), nonce),
        };
        c.arg(wrapped);
        Ok(c)
    }

    fn markers(&self) -> bool {
        true
    }

    fn timed_out(
        &self,
        step: &Step<'_>,
        pid: Option<Pid>,
        group: Option<i32>,
        note: &mut String,
    ) -> bool {
        // The remote group first, over a connection of its own; then the
        // local client alone (not its group: a multiplexing master may
        // share it).
        let mut unconfirmed = false;
        match group {
            Some(g) if self.kill(step, g) => {
                note.push_str(&format!(" [remote process group {g} killed]"));
            }
            Some(g) => {
                // It may still be running: its outcome is unknown.
                unconfirmed = true;
                note.push_str(&format!(
                    " [could not kill remote process group {g}: it may still run; check the host]"
                ));
            }
            None => {}
        }
        if let Some(p) = pid {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
        unconfirmed
    }

    fn ended(&self, step: &Step<'_>, e: &mut Ending, m: Markers) {
        let name = &step.host.name;
        match (m.pgid, m.rc) {
            // The remote shell said how the command ended: that is the
            // command's exit code, whatever ssh's own is.
            (_, Some(rc)) => e.exit_code = Some(rc),
            (None, None) if e.exit_code != Some(255) => e.note.push_str(
                "\n[bosun: the remote shell reported no exit status; is the login shell a POSIX sh?]",
            ),
            (Some(_), None) if e.exit_code != Some(255) => {}
            (None, None) => {
                e.exit_code = None;
                e.unreachable = true;
                e.note.push_str(&format!(
                    "\n[bosun: could not reach `{name}` over ssh; the command did not run]"
                ));
            }
            (Some(_), None) => {
                e.exit_code = None;
                e.lost = true;
                e.note.push_str(&format!(
                    "\n[bosun: the connection to `{name}` was lost while the command ran; its outcome is unknown]"
                ));
            }
        }
    }
}

/// The remote wrapper of a recorded step: the command becomes a function
/// (so it is written once); the record's `.started` before it runs (its
/// new nonce before an earlier attempt's `.ended` goes), its output
/// through `tee -p` (which outlives a broken stdout) into a FIFO whose
/// reader keeps the tail, then `.ended` renamed into place and synced,
/// before the exit status marker. Builtins where they do (`read`, `[`),
/// and whether `tee` has `-p` found once per host: each process it starts
/// costs the step about a millisecond. Where the record cannot be kept
/// (a directory it cannot write, not its own) the command runs as it did
/// unrecorded; where `tee` has no `-p` (busybox, BSD) it runs recorded
/// but writes no `.ended`, since a dead ssh client would kill it through
/// `tee`. A crash before the sync leaves no `.ended`, or one that does not
/// parse: the outcome is then unknown, never wrong.
fn recorded(pgid: &str, cmd: &str, rc: &str, key: &str, nonce: &str) -> String {
    format!(
        "{pgid}
__bosun_step() {{ (
{cmd}
) </dev/null; }}
__bosun_d={REMOTE_DIR}; __bosun_k=\"$__bosun_d/{key}\"; {BOOT_ID}
[ -d \"$__bosun_d\" ] || mkdir -p -m 700 \"$__bosun_d\" 2>/dev/null
if ! [ -O \"$__bosun_d\" ] || ! {{ printf '%s %s %s\\n' {nonce} \"$$\" \"$__bosun_b\" > \"$__bosun_k.started\"; }} 2>/dev/null || ! rm -f \"$__bosun_k.ended\" \"$__bosun_k.fifo\" || ! mkfifo -m 600 \"$__bosun_k.fifo\" 2>/dev/null; then
  echo \"[bosun: cannot keep the step's record in $__bosun_d: it runs unrecorded]\"
  __bosun_step 2>&1; __bosun_rc=$?
  {rc}
fi
__bosun_rec=1
if [ -e \"$__bosun_d/.tee-p\" ]; then __bosun_tee='tee -p'; elif [ -e \"$__bosun_d/.tee\" ]; then __bosun_tee=tee; __bosun_rec=; elif tee -p </dev/null >/dev/null 2>&1; then __bosun_tee='tee -p'; : > \"$__bosun_d/.tee-p\"; else __bosun_tee=tee; __bosun_rec=; : > \"$__bosun_d/.tee\"; fi
tail -c {RECORD_TAIL} < \"$__bosun_k.fifo\" > \"$__bosun_k.tail\" &
{{ __bosun_step 2>&1; echo $? > \"$__bosun_k.rc\"; }} | $__bosun_tee \"$__bosun_k.fifo\"
wait
{{ read __bosun_rc < \"$__bosun_k.rc\"; }} 2>/dev/null || __bosun_rc=125
if [ -n \"$__bosun_rec\" ]; then {{ printf '{MAGIC} %s %s\\n' {nonce} \"$__bosun_rc\"; cat \"$__bosun_k.tail\"; }} > \"$__bosun_k.tmp\" && mv \"$__bosun_k.tmp\" \"$__bosun_k.ended\" && {{ sync \"$__bosun_k.ended\" \"$__bosun_d\" 2>/dev/null || sync; }}; fi
rm -f \"$__bosun_k.fifo\" \"$__bosun_k.tail\" \"$__bosun_k.rc\"
{rc}"
    )
}

/// `ssh … -- <address>` for `host`, multiplexed, ready for a remote command.
pub(crate) fn ssh_base(ws_root: &Path, host: &Host) -> Command {
    let mut c = Command::new("ssh");
    if let Some(cfg) = &host.ssh_config {
        c.arg("-F").arg(ws_root.join(cfg));
    }
    c.args([
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
    ]);
    if let Some(dir) = control_dir() {
        // One master per inventory host (not per address: two aliases of
        // one machine get a connection each, as `MaxSessions` expects).
        let id = format!(
            "{}\n{}\n{:?}\n{:?}\n{:?}\n{:?}",
            host.name, host.address, host.port, host.user, host.ssh_config, host.ssh_options
        );
        let hash = bosun_model::Digest::of(id.as_bytes());
        let short: String = hash.as_str().chars().rev().take(16).collect();
        c.arg("-o").arg("ControlMaster=auto");
        c.arg("-o")
            .arg(format!("ControlPath={}/{short}", dir.display()));
        c.arg("-o").arg("ControlPersist=60");
    }
    for o in &host.ssh_options {
        c.arg("-o").arg(o);
    }
    if let Some(p) = host.port {
        c.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &host.user {
        c.arg("-l").arg(u);
    }
    let addr = if host.address.is_empty() {
        host.name.as_str()
    } else {
        host.address.as_str()
    };
    c.arg("--").arg(addr);
    c
}

/// The directory for ssh master sockets: `$TMPDIR/bosun-ssh-<uid>`, mode
/// 0700 and ours, or none (no multiplexing) when it cannot be made safe. A
/// short path, because a socket path is limited to about 100 bytes.
fn control_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let uid = rustix::process::getuid().as_raw();
        let dir = std::env::temp_dir().join(format!("bosun-ssh-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        (meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0)
            .then_some(dir)
    })
    .clone()
}

/// Writes `content` to a file named `name` in this user's private bosun
/// directory (0700, the ControlMaster sockets' one), 0600, atomically, and
/// returns its path: where the controller puts the adopted copy of an
/// ssh_config, so that ssh never reads a file in the workspace.
pub fn private_file(name: &str, content: &str) -> Result<std::path::PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = control_dir().ok_or("no private directory for ssh files (TMPDIR)")?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Kills the remote process group `pgid` on `host` (best effort, bounded).
fn kill_remote(ws_root: &Path, host: &Host, pgid: i32) -> bool {
    let mut c = ssh_base(ws_root, host);
    c.arg(format!("kill -s KILL -- -{pgid}"));
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = c.spawn() else {
        return false;
    };
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ended_text;
    use proptest::prelude::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn reads_what_the_probe_printed() {
        let p = |s: &str| read_probe(format!("motd from .bashrc\n{PROBE}\n{s}").as_bytes(), &[]);
        assert_eq!(p("none\n"), Probe::NotStarted);
        assert_eq!(p("started n1 77\n"), Probe::Vanished);
        assert_eq!(
            p("started 2-n1 77\nage 5\nalive\n"),
            Probe::Running {
                group: 77,
                attempt: Some(2),
                age: Some(5)
            }
        );
        assert_eq!(
            p("started n1 77\nalive\n"),
            Probe::Running {
                group: 77,
                attempt: None,
                age: None
            }
        );
        assert!(matches!(p("untrusted\n"), Probe::Unreachable(_)));
        assert!(matches!(read_probe(b"none\n", &[]), Probe::Unreachable(_)));
        let mut out = format!("{PROBE}\nstarted n1 77\nalive\nended\n").into_bytes();
        out.extend(ended_text("n1", 4, b"tail"));
        let Probe::Ended { out: o, .. } = read_probe(&out, &[]) else {
            panic!("not ended");
        };
        assert_eq!(o.exit_code, Some(4));
        assert!(o.output.starts_with("tail\n"));
        // An earlier attempt's outcome says nothing about this one.
        let mut out = format!("{PROBE}\nstarted n2 77\nended\n").into_bytes();
        out.extend(ended_text("n1", 0, b""));
        assert_eq!(read_probe(&out, &[]), Probe::Vanished);
        assert!(matches!(read_probe(b"", &[]), Probe::Unreachable(_)));
    }

    /// Runs `script` under the system's `sh` (dash on Debian) with its
    /// cache in `cache`; (exit code, stdout).
    fn sh(script: &str, cache: &std::path::Path) -> (i32, Vec<u8>) {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), o.stdout)
    }

    #[test]
    fn the_wrapper_records_under_posix_sh_and_the_probe_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        let wrapped = |cmd: &str| recorded("", cmd, "exit $__bosun_rc", "op.0", "n1");
        // Recorded: the output reaches stdout and the record; `exit` in the
        // command ends only the command.
        let (rc, out) = sh(&wrapped("echo out; echo err >&2; exit 4"), &cache);
        assert_eq!(rc, 4);
        assert_eq!(String::from_utf8_lossy(&out), "out\nerr\n");
        let (_, probe) = sh(&probe_script("op.0"), &cache);
        let Probe::Ended { out: o, .. } = read_probe(&probe, &[]) else {
            panic!("{}", String::from_utf8_lossy(&probe));
        };
        assert_eq!(o.exit_code, Some(4));
        assert!(o.output.starts_with("out\nerr\n"), "{}", o.output);
        assert_eq!(
            read_probe(&sh(&probe_script("op.9"), &cache).1, &[]),
            Probe::NotStarted
        );
        // While it runs, the probe finds its process group alive.
        let mut running = std::process::Command::new("sh")
            .arg("-c")
            .arg(wrapped("sleep 2"))
            .env("XDG_CACHE_HOME", &cache)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        let probe = loop {
            let p = read_probe(&sh(&probe_script("op.0"), &cache).1, &[]);
            if matches!(p, Probe::Running { .. }) || Instant::now() > end {
                break p;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            matches!(probe, Probe::Running { age: Some(_), .. }),
            "{probe:?}"
        );
        assert!(running.wait().unwrap().success());
        // Without `tee -p` (cached as found): it runs, but records no end.
        let steps = cache.join("bosun/steps");
        std::fs::remove_file(steps.join(".tee-p")).unwrap();
        std::fs::write(steps.join(".tee"), "").unwrap();
        let (rc, _) = sh(&wrapped("exit 3"), &cache);
        assert_eq!(rc, 3);
        assert_eq!(
            read_probe(&sh(&probe_script("op.0"), &cache).1, &[]),
            Probe::Vanished
        );
        // A directory it cannot keep records in: it runs unrecorded.
        let blocked = d.path().join("file-not-dir");
        std::fs::write(&blocked, "").unwrap();
        let (rc, out) = sh(&wrapped("echo ran; exit 5"), &blocked);
        assert_eq!(rc, 5);
        assert!(String::from_utf8_lossy(&out).contains("ran"));
    }

    proptest! {
        #[test]
        fn probe_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_probe(&bytes, &[]);
            let _ = crate::record::parse_ended(&bytes, "n");
            let _ = crate::record::parse_started(&String::from_utf8_lossy(&bytes));
        }
    }
}
