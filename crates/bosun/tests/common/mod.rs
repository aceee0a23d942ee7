#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Shared fixture: a fresh workspace and key dir per test, and a runner for
//! the real `bosun` binary.
#![allow(dead_code)]

pub mod api;
pub mod disk;
pub mod http;
pub mod mcp;
pub mod rollout;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Lab {
    pub tmp: tempfile::TempDir,
    pub ws: PathBuf,
    pub keys: PathBuf,
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bosun"))
}

impl Lab {
    /// init + alice, bob (operators) + claude (agent) + adopted.
    pub fn new() -> Lab {
        Lab::new_with(|_| {})
    }

    /// As [`Lab::new`], with `edit` run on the workspace's files before
    /// the first adoption (so what it writes is in force).
    pub fn new_with(edit: impl FnOnce(&Lab)) -> Lab {
        Lab::setup(tempfile::tempdir().unwrap(), edit)
    }

    /// As [`Lab::new`], in a directory made under `parent` (a small
    /// filesystem of the test's own).
    pub fn new_in(parent: &Path) -> Lab {
        Lab::setup(tempfile::tempdir_in(parent).unwrap(), |_| {})
    }

    fn setup(tmp: tempfile::TempDir, edit: impl FnOnce(&Lab)) -> Lab {
        let ws = tmp.path().join("lab");
        let keys = tmp.path().join("keys");
        let lab = Lab { tmp, ws, keys };
        lab.ok(&["init", lab.ws.to_str().unwrap()]);
        lab.ok(&[
            "key",
            "new",
            "alice",
            "--role",
            "operator",
            "--insecure-plaintext",
        ]);
        lab.ok(&[
            "key",
            "new",
            "bob",
            "--role",
            "operator",
            "--insecure-plaintext",
        ]);
        lab.ok(&["key", "new", "claude", "--role", "agent"]);
        edit(&lab);
        lab.ok(&["adopt", "--yes", "--as", "alice"]);
        lab
    }

    /// Brings what was edited on disk into force: alice proposes, bob
    /// approves when the quorum asks for a second operator.
    pub fn adopt(&self) {
        let p = self.json(&["adopt", "--yes", "--as", "alice", "--json"]);
        if p["adopted"] == false {
            let id = p["proposal"].as_str().unwrap();
            let p = self.json(&["adopt", "--approve", id, "--as", "bob", "--yes", "--json"]);
            assert_eq!(p["adopted"], true, "{p}");
        }
    }

    /// A lab with three ops (one per host) approved and run, so the
    /// ledger has entries.
    pub fn busy() -> Lab {
        let lab = Lab::new();
        for (i, host) in ["web-1", "web-2", "canary-1"].iter().enumerate() {
            lab.approved_upgrade(host, &format!("1.{i}"));
            lab.work();
        }
        lab
    }

    /// claude submits `pkg-upgrade` of `version` to `host` and alice
    /// approves it: its jti (the controller has not run it yet).
    pub fn approved_upgrade(&self, host: &str, version: &str) -> String {
        let s = self.json(&[
            "submit",
            "pkg-upgrade",
            "--target",
            host,
            "--param",
            &format!("version={version}"),
            "--as",
            "claude",
            "--json",
        ]);
        let jti = s["jti"].as_str().unwrap().to_string();
        self.ok(&["approve", "--yes", &jti, "--as", "alice"]);
        jti
    }

    /// `bosun ledger verify --json` with `extra` arguments: whether it
    /// passed, and its report.
    pub fn ledger_verify(&self, extra: &[&str]) -> (bool, serde_json::Value) {
        let mut args = vec!["ledger", "verify", "--json"];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
            panic!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.success(), v)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.args(args)
            .env("BOSUN_WORKSPACE", &self.ws)
            .env("BOSUN_KEY_DIR", &self.keys)
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "bosun {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `bosun work --until-idle`, which exits 0 when every op it ran
    /// succeeded and 4 when one ended failed or needing attention: both
    /// are a finished pass here. Returns its stdout.
    pub fn work(&self) -> String {
        let o = self.run(&["work", "--until-idle"]);
        assert!(
            matches!(o.status.code(), Some(0 | 4)),
            "bosun work failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bosun {args:?}: not JSON ({e}): {out}"))
    }

    /// Runs expecting a refusal (exit 3) and returns the refusal JSON.
    pub fn refused(&self, args: &[&str]) -> serde_json::Value {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(3),
            "bosun {args:?} should be refused: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| serde_json::json!({"stderr": String::from_utf8_lossy(&o.stderr)}))
    }

    /// Starts `bosun serve` with `extra` arguments, its stdout and stderr
    /// going to `out` and `err`, and waits until it holds the lease.
    pub fn serve(
        &self,
        extra: &[&str],
        out: std::process::Stdio,
        err: std::process::Stdio,
    ) -> std::process::Child {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let serve = self.cmd(&args).stdout(out).stderr(err).spawn().unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.json(&["status", "--json"])["controller"].is_null() {
            assert!(
                std::time::Instant::now() < end,
                "serve never took the lease"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        serve
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.ws.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn state(&self, jti: &str) -> String {
        self.json(&["ops", "show", jti, "--json"])["state"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Stops a daemon as Ctrl-C or systemd would (SIGTERM).
pub fn terminate(child: &std::process::Child) {
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
}

pub fn wait_for(p: &Path, secs: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Submits `runbook` on `target` as `who` with `params`: intake's JSON answer.
pub fn submit(
    lab: &Lab,
    who: &str,
    runbook: &str,
    target: &str,
    params: &[&str],
) -> serde_json::Value {
    let mut args = vec!["submit", runbook, "--as", who, "--json", "--target", target];
    for p in params {
        args.extend(["--param", p]);
    }
    lab.json(&args)
}

/// The `jti` of a JSON answer.
pub fn jti(v: &serde_json::Value) -> String {
    v["jti"].as_str().unwrap().to_string()
}

/// `ops show --json` of op `jti`.
pub fn show(lab: &Lab, jti: &str) -> serde_json::Value {
    lab.json(&["ops", "show", jti, "--json"])
}
