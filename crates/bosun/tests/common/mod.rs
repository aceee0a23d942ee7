#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Shared fixture: a fresh workspace and key dir per test, and a runner for
//! the real `bosun` binary.
#![allow(dead_code)]

pub mod api;
pub mod browser;
pub mod disk;
pub mod http;
pub mod kernel;
pub mod mcp;
pub mod rollout;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Lab {
    /// With `BOSUN_TEST_MODE=remote`: the daemon every command but
    /// `serve` talks to (`BOSUN_URL`), stopped before `tmp` goes.
    pub daemon: Option<api::Daemon>,
    pub tmp: tempfile::TempDir,
    pub ws: PathBuf,
    pub keys: PathBuf,
}

/// Whether the CLI tests run through a daemon (`BOSUN_TEST_MODE=remote`:
/// each [`Lab`] starts `bosun serve` once set up, and its commands carry
/// `BOSUN_URL`), or open the workspace themselves (the default).
pub fn remote_mode() -> bool {
    std::env::var("BOSUN_TEST_MODE").is_ok_and(|m| m == "remote")
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
        let mut lab = Lab {
            daemon: None,
            tmp,
            ws,
            keys,
        };
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
        if remote_mode() {
            lab.daemon = Some(api::daemon(&lab));
            // As embedded, nothing runs until the test says `work`.
            lab.ok(&["halt", "--why", "the lab works on cue", "--as", "alice"]);
        }
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
        match &self.daemon {
            Some(d) if args.first() != Some(&"serve") => {
                c.env("BOSUN_URL", api::url(&d.unix));
            }
            _ => {
                c.env_remove("BOSUN_URL");
            }
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        // Embedded, `plan --check` runs the controller itself; through the
        // lab's daemon it is let work for the call.
        let checks = args.first() == Some(&"plan") && args.contains(&"--check");
        if checks && self.daemon.is_some() {
            self.as_an_operator(&["resume"]);
            let o = self.cmd(args).output().unwrap();
            self.as_an_operator(&["halt", "--why", "the lab works on cue"]);
            return o;
        }
        self.cmd(args).output().unwrap()
    }

    /// `args` signed by alice, or by bob when alice's key was taken out.
    fn as_an_operator(&self, args: &[&str]) {
        for who in ["alice", "bob"] {
            let mut a = args.to_vec();
            a.extend(["--as", who]);
            if self.cmd(&a).output().unwrap().status.success() {
                return;
            }
        }
        panic!("no operator could sign {args:?}");
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
    ///
    /// Through a daemon (halted between calls, so that nothing runs until
    /// the test says so, as embedded) its controller does the work: this
    /// resumes it, waits until no op runs and the ops have not changed for
    /// a second, halts it again, and returns nothing.
    pub fn work(&self) -> String {
        if self.daemon.is_some() {
            self.as_an_operator(&["resume"]);
            self.settle();
            self.as_an_operator(&["halt", "--why", "the lab works on cue"]);
            return String::new();
        }
        let o = self.run(&["work", "--until-idle"]);
        assert!(
            matches!(o.status.code(), Some(0 | 4)),
            "bosun work failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the daemon's ops have not changed for a second and none
    /// runs.
    fn settle(&self) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut last = serde_json::Value::Null;
        let mut since = std::time::Instant::now();
        loop {
            let now = self.json(&["ops", "list", "--limit", "1000", "--json"]);
            let running = now
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["state"] == "running");
            if now != last || running {
                last = now;
                since = std::time::Instant::now();
            } else if since.elapsed() > std::time::Duration::from_secs(1) {
                return;
            }
            assert!(
                std::time::Instant::now() < end,
                "the daemon never went idle: {last}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
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
        self.serve_env(extra, out, err, &[])
    }

    /// [`Lab::serve`] with `envs` set for the daemon (and the steps its
    /// controller runs).
    pub fn serve_env(
        &self,
        extra: &[&str],
        out: std::process::Stdio,
        err: std::process::Stdio,
        envs: &[(&str, String)],
    ) -> std::process::Child {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut c = self.cmd(&args);
        for (k, v) in envs {
            c.env(k, v);
        }
        let serve = c.stdout(out).stderr(err).spawn().unwrap();
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
