//! A running `bosun serve` for the API tests, and the signed inputs they
//! send it: the daemon on a [`Lab`] with a loopback TCP listener (its port
//! parsed from the log), tokens, envelopes signed with `--sign-only`, and
//! what is stored as the CLI reads it.

use std::time::{Duration, Instant};

use super::http::Target;
use super::{Lab, terminate};

/// A running daemon and where it answers.
pub struct Daemon {
    pub child: std::process::Child,
    pub unix: Target,
    pub tcp: Target,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&self.child);
        let _ = self.child.wait();
    }
}

/// `bosun serve --listen 127.0.0.1:0`, and the port it logged.
pub fn daemon(lab: &Lab) -> Daemon {
    daemon_with(lab, &["--listen", "127.0.0.1:0"], "http", 1).0
}

/// `bosun serve` with `args`, and the `n` TCP addresses (`ADDR:PORT`) it
/// logged listening with `scheme` (`http` or `https`); the first is the
/// daemon's `tcp`.
pub fn daemon_with(lab: &Lab, args: &[&str], scheme: &str, n: usize) -> (Daemon, Vec<String>) {
    daemon_env(lab, args, scheme, n, &[])
}

/// [`daemon_with`] with `envs` set for the daemon (and the steps its
/// controller runs: a `PATH` with stand-ins, say).
pub fn daemon_env(
    lab: &Lab,
    args: &[&str],
    scheme: &str,
    n: usize,
    envs: &[(&str, String)],
) -> (Daemon, Vec<String>) {
    let log = lab.tmp.path().join("serve.log");
    let err = std::fs::File::create(&log).unwrap();
    let child = lab.serve_env(args, std::process::Stdio::null(), err.into(), envs);
    let end = Instant::now() + Duration::from_secs(20);
    let mark = format!("url={scheme}://");
    let tcp = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found: Vec<String> = text
            .match_indices(&mark)
            .map(|(i, _)| {
                let rest = &text[i + mark.len()..];
                rest.split_whitespace().next().unwrap().to_string()
            })
            .collect();
        if found.len() >= n {
            break found;
        }
        assert!(Instant::now() < end, "no {scheme} listener logged: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let d = Daemon {
        child,
        unix: Target::Unix(lab.path(".bosun/bosun.sock")),
        tcp: Target::Tcp(tcp[0].clone()),
    };
    (d, tcp)
}

pub fn token(lab: &Lab, who: &str, ttl: &str) -> String {
    lab.ok(&["key", "token", who, "--ttl", ttl])
        .trim()
        .to_string()
}

/// claude's signed op envelope for pkg-upgrade on `host` (not submitted).
pub fn signed_op(lab: &Lab, host: &str) -> String {
    lab.ok(&[
        "submit",
        "pkg-upgrade",
        "--target",
        host,
        "--param",
        "version=2.0",
        "--as",
        "claude",
        "--sign-only",
    ])
}

pub fn approval(lab: &Lab, jti: &str, who: &str) -> String {
    lab.ok(&["approve", jti, "--as", who, "--yes", "--sign-only"])
}

/// What is stored, as the CLI reads it: the ops with their states.
pub fn stored(lab: &Lab) -> serde_json::Value {
    lab.json(&["ops", "list", "--json"])
}

/// A target as `BOSUN_URL` names it.
pub fn url(t: &Target) -> String {
    match t {
        Target::Unix(p) => format!("unix://{}", p.display()),
        Target::Tcp(a) => format!("http://{a}"),
    }
}

/// `bosun args` against `url` (None: embedded), as `as_` for TCP tokens;
/// whatever `BOSUN_URL`, `BOSUN_AS` and `BOSUN_TOKEN` the test runs with
/// is not passed on.
pub fn run_at(
    lab: &Lab,
    url: Option<&str>,
    as_: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut c = lab.cmd(args);
    c.env_remove("BOSUN_URL")
        .env_remove("BOSUN_AS")
        .env_remove("BOSUN_TOKEN");
    if let Some(u) = url {
        c.env("BOSUN_URL", u);
    }
    if let Some(a) = as_ {
        c.env("BOSUN_AS", a);
    }
    c.output().unwrap()
}

/// A command's stdout as JSON (its output in the panic when it is not).
pub fn json_of(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}
