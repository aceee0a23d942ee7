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
    let log = lab.tmp.path().join("serve.log");
    let err = std::fs::File::create(&log).unwrap();
    let child = lab.serve(
        &["--listen", "127.0.0.1:0"],
        std::process::Stdio::null(),
        err.into(),
    );
    let end = Instant::now() + Duration::from_secs(20);
    let tcp = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(i) = text.find("url=http://") {
            let rest = &text[i + "url=http://".len()..];
            break rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < end, "no TCP listener logged: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    Daemon {
        child,
        unix: Target::Unix(lab.path(".bosun/bosun.sock")),
        tcp: Target::Tcp(tcp),
    }
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
