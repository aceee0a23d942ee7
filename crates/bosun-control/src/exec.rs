//! Running one rendered step on one host: `local` (a child process, in the
//! host's `root` directory when it has one) or `ssh` (the system OpenSSH
//! client in batch mode). Output is capped (head and tail kept) and
//! scrubbed of credentials before anyone stores it; a step that outlives
//! its timeout has its whole process group killed.
//!
//! The full DAG engine with its transports arrives with the runbook issue;
//! this executor runs steps in plan order.

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutput {
    /// Exit code; `None` when killed or never started.
    pub exit_code: Option<i32>,
    /// Captured stdout and stderr, capped and scrubbed.
    pub output: String,
    /// Wall time.
    pub duration_ms: u64,
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

fn pump(
    mut r: impl Read + Send + 'static,
    sink: Arc<Mutex<Capped>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
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

/// Builds the command that runs `cmd` on `host`.
pub fn command_for(ws_root: &Path, host: &Host, cmd: &str) -> std::io::Result<Command> {
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
            let mut c = Command::new("ssh");
            c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]);
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
            c.arg("--").arg(addr).arg(cmd);
            Ok(c)
        }
    }
}

/// Runs `cmd` on `host`, waiting at most `timeout`.
pub fn run_step(ws_root: &Path, host: &Host, cmd: &str, timeout: Duration) -> StepOutput {
    let start = Instant::now();
    let elapsed = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut c = match command_for(ws_root, host, cmd) {
        Ok(c) => c,
        Err(e) => {
            return StepOutput {
                exit_code: None,
                output: format!("cannot prepare host `{}`: {e}", host.name),
                duration_ms: 0,
            };
        }
    };
    use std::os::unix::process::CommandExt;
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return StepOutput {
                exit_code: None,
                output: format!("cannot start the step: {e}"),
                duration_ms: elapsed(start),
            };
        }
    };
    let sink = Arc::new(Mutex::new(Capped::default()));
    let mut pumps = Vec::new();
    if let Some(o) = child.stdout.take() {
        pumps.push(pump(o, sink.clone()));
    }
    if let Some(e) = child.stderr.take() {
        pumps.push(pump(e, sink.clone()));
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (exit_code, note) = match rx.recv_timeout(timeout) {
        Ok(Ok(status)) => (status.code(), String::new()),
        Ok(Err(e)) => (None, format!("\n[bosun: waiting for the step failed: {e}]")),
        Err(_) => {
            // Kill the whole process group (the step and its children) with
            // a direct syscall, never through the kill(1) binary, whose
            // parsing of `-KILL -<pgid>` differs between implementations.
            if let Some(pgid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
            let _ = rx.recv_timeout(Duration::from_secs(5));
            (
                None,
                format!("\n[bosun: killed after the {}s timeout]", timeout.as_secs()),
            )
        }
    };
    for p in pumps {
        let _ = p.join();
    }
    let mut output = sink.lock().map(|c| c.text()).unwrap_or_default();
    output.push_str(&note);
    StepOutput {
        exit_code,
        output: scrub(&output),
        duration_ms: elapsed(start),
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
