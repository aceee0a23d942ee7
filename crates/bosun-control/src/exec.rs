//! Running one rendered step on one host: `local` (a child process, in the
//! host's `root` directory when it has one) or `ssh` (the system OpenSSH
//! client in batch mode, multiplexed over one master connection per host,
//! so `~/.ssh/config`, the agent, ProxyJump and known_hosts apply). Output
//! is capped (head and tail kept) and scrubbed of credentials before anyone
//! stores it; a step that outlives its timeout has its whole process group
//! killed — over ssh, the remote one.
//!
//! Over ssh the remote shell first reports its process group (the session
//! leader sshd made it) and last the command's exit status, on stderr
//! behind a record separator (0x1E) that is filtered out of the output.
//! That tells three endings apart that ssh's own exit code 255 mixes up:
//! the host could not be reached (the command never ran), the connection
//! dropped while it ran (its outcome is unknown), or the command itself
//! exited 255.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bosun_model::{Host, Transport};

/// Bytes of output kept from the start and from the end of a step's output.
pub const KEEP_HEAD: usize = 8 * 1024;
/// See [`KEEP_HEAD`].
pub const KEEP_TAIL: usize = 8 * 1024;

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
    /// For a verification bar: its verdict (which decides the step's
    /// status instead of the exit code).
    pub verdict: Option<bosun_fleet::bars::Verdict>,
}

impl StepOutput {
    /// Whether the step succeeded.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }
}

#[derive(Default)]
struct Capped {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl Capped {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.head.len() < KEEP_HEAD {
                self.head.push(b);
            } else {
                if self.tail.len() == KEEP_TAIL {
                    self.tail.pop_front();
                    self.dropped += 1;
                }
                self.tail.push_back(b);
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!("\n[… {} bytes omitted …]\n", self.dropped));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        s.push_str(&String::from_utf8_lossy(&tail));
        s
    }
}

/// What the remote wrapper reported (ssh only).
#[derive(Debug, Default, Clone, Copy)]
struct Markers {
    /// The remote process group.
    pgid: Option<i32>,
    /// The command's exit status.
    rc: Option<i32>,
}

/// The record separator that starts a marker on the remote stderr.
const RS: u8 = 0x1e;

/// Copies stderr into `sink`, taking out `RS bosun-…:<n>\n` markers.
fn pump_markers(
    mut r: impl Read + Send + 'static,
    sink: Arc<Mutex<Capped>>,
    markers: Arc<Mutex<Markers>>,
    nonce: String,
    done: mpsc::Sender<()>,
) -> std::thread::JoinHandle<()> {
    let pgid_tag = format!("bosun-{nonce}-pgid:");
    let rc_tag = format!("bosun-{nonce}-rc:");
    std::thread::spawn(move || {
        // Dropped when the pump ends: the step's waiter hears it at once.
        let _done = done;
        let mut buf = [0u8; 8192];
        let mut marker: Option<Vec<u8>> = None;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut plain = Vec::with_capacity(n);
            for &b in &buf[..n] {
                match marker.as_mut() {
                    None if b == RS => marker = Some(Vec::new()),
                    None => plain.push(b),
                    Some(m) if b == b'\n' => {
                        let text = String::from_utf8_lossy(m).into_owned();
                        let mut known = false;
                        if let Ok(mut mk) = markers.lock() {
                            if let Some(v) = text.strip_prefix(&pgid_tag) {
                                known = true;
                                // The first one only, and never 0 or 1: a
                                // process group that `kill -- -<n>` may hit.
                                if mk.pgid.is_none() {
                                    mk.pgid = v.trim().parse().ok().filter(|&g: &i32| g > 1);
                                }
                            } else if let Some(v) = text.strip_prefix(&rc_tag) {
                                known = true;
                                mk.rc = v.trim().parse().ok();
                            }
                        }
                        if !known {
                            // Not ours (no nonce): the command's own text.
                            plain.push(RS);
                            plain.append(m);
                            plain.push(b'\n');
                        }
                        marker = None;
                    }
                    // Not a marker after all (too long): give it back.
                    Some(m) if m.len() >= 64 => {
                        plain.push(RS);
                        plain.append(m);
                        plain.push(b);
                        marker = None;
                    }
                    Some(m) => m.push(b),
                }
            }
            if let Ok(mut c) = sink.lock() {
                c.push(&plain);
            }
        }
    })
}

fn pump(
    mut r: impl Read + Send + 'static,
    sink: Arc<Mutex<Capped>>,
    done: mpsc::Sender<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _done = done;
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut c) = sink.lock() {
                        c.push(&buf[..n]);
                    }
                }
            }
        }
    })
}

/// Builds the command that runs `cmd` on `host`. Over ssh, `cmd` is
/// wrapped so the remote shell reports its process group and the command's
/// exit status (see the module docs).
pub fn command_for(
    ws_root: &Path,
    host: &Host,
    cmd: &str,
    nonce: &str,
) -> std::io::Result<Command> {
    match host.transport {
        Transport::Local => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(cmd);
            let dir = match &host.root {
                Some(r) => ws_root.join(r),
                None => ws_root.to_path_buf(),
            };
            std::fs::create_dir_all(&dir)?;
            c.current_dir(dir);
            c.env("BOSUN_HOST", host.name.as_str());
            Ok(c)
        }
        Transport::Ssh => {
            let mut c = ssh_base(ws_root, host);
            let wrapped = format!(
                "printf '\\036bosun-{nonce}-pgid:%s\\n' \"$$\" >&2\n(\n{cmd}\n)\n__bosun_rc=$?\nprintf '\\036bosun-{nonce}-rc:%s\\n' \"$__bosun_rc\" >&2\nexit $__bosun_rc"
            );
            c.arg(wrapped);
            Ok(c)
        }
    }
}

/// `ssh … -- <address>` for `host`, multiplexed, ready for a remote command.
fn ssh_base(ws_root: &Path, host: &Host) -> Command {
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

/// Runs `cmd` on `host`, waiting at most `timeout`.
pub fn run_step(ws_root: &Path, host: &Host, cmd: &str, timeout: Duration) -> StepOutput {
    run_step_scrubbed(ws_root, host, cmd, timeout, &[])
}

/// [`run_step`], also replacing matches of the workspace's `scrub`
/// patterns (bosun.toml) in the output with `***`.
pub fn run_step_scrubbed(
    ws_root: &Path,
    host: &Host,
    cmd: &str,
    timeout: Duration,
    patterns: &[regex::Regex],
) -> StepOutput {
    let start = Instant::now();
    let elapsed = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
    let failed = |output: String, s: Instant| StepOutput {
        exit_code: None,
        output,
        duration_ms: elapsed(s),
        ..StepOutput::default()
    };
    // A fresh nonce per run marks the wrapper's own lines, so output that
    // merely looks like a marker is never taken for one.
    let nonce = {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    let mut c = match command_for(ws_root, host, cmd, &nonce) {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot prepare host `{}`: {e}", host.name), start),
    };
    use std::os::unix::process::CommandExt;
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return failed(format!("cannot start the step: {e}"), start),
    };
    let ssh = host.transport == Transport::Ssh;
    let sink = Arc::new(Mutex::new(Capped::default()));
    let markers = Arc::new(Mutex::new(Markers::default()));
    let mut pumps = Vec::new();
    let (pumped, pumps_done) = mpsc::channel::<()>();
    if let Some(o) = child.stdout.take() {
        pumps.push(pump(o, sink.clone(), pumped.clone()));
    }
    if let Some(e) = child.stderr.take() {
        pumps.push(if ssh {
            pump_markers(
                e,
                sink.clone(),
                markers.clone(),
                nonce.clone(),
                pumped.clone(),
            )
        } else {
            pump(e, sink.clone(), pumped.clone())
        });
    }
    drop(pumped);
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let mut timed_out = false;
    // Over ssh, a timed-out command whose remote group could not be killed.
    let mut unconfirmed = false;
    let (mut exit_code, mut note) = match rx.recv_timeout(timeout) {
        Ok(Ok(status)) => (status.code(), String::new()),
        Ok(Err(e)) => (None, format!("\n[bosun: waiting for the step failed: {e}]")),
        Err(_) => {
            timed_out = true;
            let mut note = format!("\n[bosun: killed after the {}s timeout]", timeout.as_secs());
            if ssh {
                // The remote group first, over a connection of its own;
                // then the local client alone (not its group: a
                // multiplexing master may share it).
                let remote = markers.lock().ok().and_then(|m| m.pgid);
                match remote {
                    Some(g) if kill_remote(ws_root, host, g) => {
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
            } else if let Some(p) = pid {
                // The whole process group (the step and its children), with
                // a direct syscall, never through the kill(1) binary, whose
                // parsing of `-KILL -<pgid>` differs between implementations.
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
            }
            let _ = rx.recv_timeout(Duration::from_secs(5));
            (None, note)
        }
    };
    // A step may leave a background process holding its output open: read
    // on for a moment, then stop waiting for it.
    // Every pump holds a sender: the channel disconnects the moment the
    // last one ends (no polling), or the wait gives up at its deadline.
    let end = Instant::now() + Duration::from_secs(2);
    let mut drained = false;
    loop {
        match pumps_done.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                drained = true;
                break;
            }
            _ if Instant::now() >= end => break,
            _ => {}
        }
    }
    if !drained {
        note.push_str("\n[bosun: the step exited but something it started still holds its output open; stopped reading]");
    }
    let mut lost = unconfirmed;
    let mut unreachable = false;
    if ssh && !timed_out {
        let m = markers.lock().map(|m| *m).unwrap_or_default();
        match (m.pgid, m.rc) {
            // The remote shell said how the command ended: that is the
            // command's exit code, whatever ssh's own is.
            (_, Some(rc)) => exit_code = Some(rc),
            (None, None) if exit_code != Some(255) => note.push_str(
                "\n[bosun: the remote shell reported no exit status; is the login shell a POSIX sh?]",
            ),
            (Some(_), None) if exit_code != Some(255) => {}
            (None, None) => {
                exit_code = None;
                unreachable = true;
                note.push_str(&format!(
                    "\n[bosun: could not reach `{}` over ssh; the command did not run]",
                    host.name
                ));
            }
            (Some(_), None) => {
                exit_code = None;
                lost = true;
                note.push_str(&format!(
                    "\n[bosun: the connection to `{}` was lost while the command ran; its outcome is unknown]",
                    host.name
                ));
            }
        }
    }
    let mut output = sink.lock().map(|c| c.text()).unwrap_or_default();
    output.push_str(&note);
    let mut output = scrub(&output);
    for p in patterns {
        if p.is_match(&output) {
            output = p.replace_all(&output, "***").into_owned();
        }
    }
    StepOutput {
        exit_code,
        output,
        duration_ms: elapsed(start),
        lost,
        timed_out,
        unreachable,
        verdict: None,
    }
}

/// The control host, as a `local` host for `target = "controller"` steps:
/// commands run in the workspace root.
pub fn controller_host(name: &bosun_model::Name) -> Host {
    Host {
        name: name.clone(),
        address: "localhost".into(),
        transport: Transport::Local,
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

const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
];

/// Removes credentials from step output: the password of `scheme://user:pass@host`
/// URLs and the value of `password=…`/`token: …`-style assignments.
pub fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&scrub_assignments(&scrub_urls(line)));
    }
    out
}

fn scrub_urls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn scrub_assignments(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut cut: Option<usize> = None;
    for w in SECRET_WORDS {
        let mut from = 0;
        while let Some(p) = lower[from..].find(w) {
            let after = from + p + w.len();
            let rest = &line[after..];
            let trimmed = rest.trim_start_matches(['"', '\'', ' ']);
            if let Some(v) = trimmed.strip_prefix(['=', ':']) {
                let start = line.len() - v.len();
                let v_trim = v.trim_start();
                let start = start + (v.len() - v_trim.len());
                if !v_trim.is_empty() {
                    cut = Some(cut.map_or(start, |c: usize| c.min(start)));
                }
            }
            from = after;
        }
    }
    match cut {
        Some(c) => {
            let value_end = line[c..]
                .find(char::is_whitespace)
                .map_or(line.len(), |e| c + e);
            let mut s = line[..c].to_string();
            s.push_str("***");
            s.push_str(&scrub_assignments(&line[value_end..]));
            s
        }
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs() {
        assert_eq!(
            scrub("git clone https://bob:hunter2@git.lan/x"),
            "git clone https://bob:***@git.lan/x"
        );
        assert_eq!(scrub("TOKEN=abc123 next"), "TOKEN=*** next");
        assert_eq!(scrub("db password: s3cret"), "db password: ***");
        assert_eq!(
            scrub("nothing here http://host:8080/"),
            "nothing here http://host:8080/"
        );
        assert_eq!(scrub("a\npassword=x\nb"), "a\npassword=***\nb");
    }

    fn local(dir: &Path) -> Host {
        let mut h = controller_host(&bosun_model::Name::parse("t").unwrap());
        h.root = Some(dir.display().to_string());
        h
    }

    #[test]
    fn huge_binary_and_endless_output_stay_bounded() {
        let d = tempfile::tempdir().unwrap();
        let h = local(d.path());
        // 64 MiB of random bytes: kept head and tail only, lossily decoded.
        let o = run_step(
            d.path(),
            &h,
            "head -c 67108864 /dev/urandom",
            Duration::from_secs(60),
        );
        assert!(o.ok());
        assert!(
            o.output.len() < 4 * (KEEP_HEAD + KEEP_TAIL),
            "{}",
            o.output.len()
        );
        assert!(o.output.contains("bytes omitted"));
        // Output that never ends: the timeout ends it; memory stays capped.
        let o = run_step(d.path(), &h, "yes bosun", Duration::from_secs(1));
        assert_eq!(o.exit_code, None);
        assert!(o.output.contains("killed after the 1s timeout"));
        assert!(o.output.len() < 4 * (KEEP_HEAD + KEEP_TAIL));
    }

    #[test]
    fn a_background_child_holding_the_output_does_not_stall() {
        let d = tempfile::tempdir().unwrap();
        let h = local(d.path());
        let t = Instant::now();
        let o = run_step(
            d.path(),
            &h,
            "echo started; (sleep 30; echo late) & true",
            Duration::from_secs(60),
        );
        assert!(o.ok());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(o.output.contains("started"));
        assert!(o.output.contains("stopped reading"), "{}", o.output);
        assert!(!o.output.contains("late"));
    }

    #[test]
    fn markers_are_taken_out_of_stderr() {
        let sink = Arc::new(Mutex::new(Capped::default()));
        let mk = Arc::new(Mutex::new(Markers::default()));
        let input: &[u8] = b"\x1ebosun-n1-pgid:4242\nwarn: x\x1ebosun-n1-pgid:1\npartial\x1ebosun-n1-rc:3\n\x1ebosun-other-pgid:7\n\x1enot a marker but a long line of text that goes on and on and on and on\n";
        pump_markers(
            input,
            sink.clone(),
            mk.clone(),
            "n1".into(),
            mpsc::channel().0,
        )
        .join()
        .unwrap();
        let m = *mk.lock().unwrap();
        assert_eq!((m.pgid, m.rc), (Some(4242), Some(3)));
        let text = sink.lock().unwrap().text();
        assert_eq!(
            text,
            "warn: xpartial\u{1e}bosun-other-pgid:7\n\u{1e}not a marker but a long line of text that goes on and on and on and on\n"
        );
    }

    #[test]
    fn configured_patterns_are_scrubbed() {
        let d = tempfile::tempdir().unwrap();
        let h = local(d.path());
        let p = [regex::Regex::new("AKIA[0-9A-Z]{16}").unwrap()];
        let o = run_step_scrubbed(
            d.path(),
            &h,
            "echo key AKIAABCDEFGHIJKLMNOP here",
            Duration::from_secs(10),
            &p,
        );
        assert_eq!(o.output.trim(), "key *** here");
    }

    #[test]
    fn caps_output() {
        let mut c = Capped::default();
        c.push(&vec![b'a'; KEEP_HEAD]);
        c.push(&vec![b'b'; 100_000]);
        c.push(b"END");
        let t = c.text();
        assert!(t.len() < KEEP_HEAD + KEEP_TAIL + 100);
        assert!(t.ends_with("END"));
        assert!(t.contains("bytes omitted"));
    }
}
