//! The daemon as the trust boundary, for real: `bosun serve` runs as one
//! Unix user (`bosun-test-daemon`) and owns the state; an agent runs as
//! another (`bosun-test-agent`, a member of the daemon's group, which the
//! API socket grants access to). From the agent's account, submitting
//! through the socket works, and every attack that needs to write the
//! state fails: flipping an op's state in the database, rewriting the
//! adopted key registry, truncating the ledger, wiping and re-bootstrapping
//! the workspace, reading the ledger key.
//!
//! Then the deploy story of docs/deploy.md, whole: the agent, still on its
//! own account, takes an op from plan to finished over MCP (`bosun mcp`
//! as a client of the daemon, driven by rmcp's client), while an operator
//! on a third account (`bosun-test-operator`) approves it with the remote
//! CLI and the daemon's controller runs it.
//!
//! Needs root (to run as those users) and the three users, which
//! `scripts/test-deps.sh` creates. Without them the test fails under CI
//! and is skipped, with the reason, elsewhere.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Lab, terminate};

const DAEMON: &str = "bosun-test-daemon";
const AGENT: &str = "bosun-test-agent";
const OPERATOR: &str = "bosun-test-operator";

/// Whether this machine can run the test; why not, when it cannot.
fn ready() -> Result<(), String> {
    if my_uid() != 0 {
        return Err("needs root, to run commands as the daemon's and the agent's users".into());
    }
    for u in [DAEMON, AGENT, OPERATOR] {
        let ok = Command::new("id")
            .arg("-u")
            .arg(u)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!("user `{u}` is missing: run scripts/test-deps.sh"));
        }
    }
    Ok(())
}

fn my_uid() -> u32 {
    // `id -u` keeps this test free of unsafe code and extra crates.
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(u32::MAX)
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, owner: &str) {
    let s = Command::new("chown")
        .arg("-R")
        .arg(owner)
        .arg(p)
        .status()
        .unwrap();
    assert!(s.success(), "chown {owner} {}", p.display());
}

/// `args` run as `user` (runuser, no shell, this environment).
fn as_user(user: &str, args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.arg("-u").arg(user).arg("--").args(args);
    c.current_dir("/");
    c
}

fn sh(user: &str, script: &str) -> Output {
    as_user(user, &["sh", "-c", script]).output().unwrap()
}

struct Site {
    lab: Lab,
    bin: PathBuf,
    daemon_keys: PathBuf,
    agent_keys: PathBuf,
    operator_keys: PathBuf,
    socket: PathBuf,
}

/// A key directory of `user`'s own holding `name`'s key from the lab.
fn own_keys(lab: &Lab, root: &Path, user: &str, name: &str) -> PathBuf {
    let dir = root.join(format!("{name}-keys"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = format!("{name}.jwk");
    std::fs::copy(lab.keys.join(&file), dir.join(&file)).unwrap();
    chmod(&dir.join(&file), 0o600);
    chmod(&dir, 0o700);
    chown(&dir, user);
    dir
}

/// The production layout of docs/deploy.md in a temporary directory:
/// the workspace readable by all, its state and the ledger key the
/// daemon's alone, the socket in a directory of the daemon's group, the
/// agent's key the agent's alone.
fn site() -> Site {
    let lab = Lab::new();
    let root = lab.tmp.path().to_path_buf();
    chmod(&root, 0o755);
    // The binary where both users can run it (the build tree may sit in a
    // private directory).
    let bin = root.join("bin/bosun");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_bosun"), &bin).unwrap();
    chmod(bin.parent().unwrap(), 0o755);
    chmod(&bin, 0o755);
    // The daemon's keys: the ledger key (made at init) and nothing else.
    let daemon_keys = root.join("daemon-keys");
    std::fs::create_dir_all(&daemon_keys).unwrap();
    for e in std::fs::read_dir(&lab.keys).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("lab-ledger")
        {
            std::fs::rename(&p, daemon_keys.join(p.file_name().unwrap())).unwrap();
        }
    }
    chmod(&daemon_keys, 0o700);
    chown(&daemon_keys, DAEMON);
    // The agent's key, and the operator's: each in its user's own directory.
    let agent_keys = own_keys(&lab, &root, AGENT, "claude");
    let operator_keys = own_keys(&lab, &root, OPERATOR, "alice");
    // The state: the daemon's, private.
    chown(&lab.path(".bosun"), DAEMON);
    chmod(&lab.path(".bosun"), 0o700);
    // The socket's directory: the daemon's group may enter.
    let run = root.join("run");
    std::fs::create_dir_all(&run).unwrap();
    chown(&run, &format!("{DAEMON}:{DAEMON}"));
    chmod(&run, 0o750);
    let socket = run.join("bosun.sock");
    Site {
        lab,
        bin,
        daemon_keys,
        agent_keys,
        operator_keys,
        socket,
    }
}

impl Site {
    fn bosun(&self) -> &str {
        self.bin.to_str().unwrap()
    }

    fn ws(&self) -> &str {
        self.lab.ws.to_str().unwrap()
    }

    /// `user`'s CLI with the key directory `keys`, a client of the daemon.
    fn client(&self, user: &str, keys: &Path, args: &[&str]) -> Command {
        let mut c = as_user(user, &[self.bosun(), "--key-dir", keys.to_str().unwrap()]);
        c.args(args)
            .env("BOSUN_URL", format!("unix://{}", self.socket.display()))
            .env_remove("BOSUN_WORKSPACE")
            .env_remove("BOSUN_KEY_DIR");
        c
    }

    /// The agent's CLI, a client of the daemon.
    fn agent(&self, args: &[&str]) -> Output {
        self.client(AGENT, &self.agent_keys, args).output().unwrap()
    }

    /// The operator's CLI, a client of the daemon.
    fn operator(&self, args: &[&str]) -> Output {
        self.client(OPERATOR, &self.operator_keys, args)
            .output()
            .unwrap()
    }
}

#[test]
fn an_agent_on_another_account_can_submit_and_cannot_touch_the_state() {
    if let Err(why) = ready() {
        if std::env::var_os("CI").is_some() {
            panic!("the two-user test cannot run: {why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    let s = site();
    let mut serve = as_user(
        DAEMON,
        &[
            s.bosun(),
            "-w",
            s.ws(),
            "--key-dir",
            s.daemon_keys.to_str().unwrap(),
            "serve",
            "--socket",
            s.socket.to_str().unwrap(),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while !s.socket.exists() {
        if let Ok(Some(st)) = serve.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(serve.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("serve exited ({st}): {err}");
        }
        assert!(Instant::now() < end, "the daemon never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ws = s.ws().to_string();
    let state = format!("{ws}/.bosun");
    let db = format!("{state}/bosun.db");

    // Submitting through the socket works.
    let o = s.agent(&[
        "submit",
        "pkg-upgrade",
        "-t",
        "web-1",
        "-p",
        "version=2.0",
        "--as",
        "claude",
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "pending_approval", "{v}");
    let jti = v["jti"].as_str().unwrap().to_string();

    // The attacks that need write access to the state all fail.
    let attacks: &[(&str, String)] = &[
        (
            "flip the op's state in the database",
            format!("echo \"UPDATE ops SET state='approved'\" >> {db}"),
        ),
        ("truncate the ledger", format!("truncate -s 0 {db}")),
        (
            "replace the database",
            format!("cp /dev/null {db}.new && mv {db}.new {db}"),
        ),
        ("wipe the state to re-bootstrap", format!("rm -rf {state}")),
        (
            "read the ledger key",
            format!("cat {}/lab-ledger.jwk", s.daemon_keys.display()),
        ),
        ("list the state", format!("ls {state}")),
        (
            "rewrite the key registry in force",
            format!("echo x >> {ws}/keys/keys.toml"),
        ),
    ];
    for (what, script) in attacks {
        let o = sh(AGENT, script);
        assert!(!o.status.success(), "the agent could {what}: {o:?}");
    }
    // The CLI on the workspace itself (embedded mode) cannot open the
    // state either: not to read, not to approve, not to re-initialise.
    for args in [
        vec!["ops", "list"],
        vec!["approve", &jti, "--as", "claude", "--yes"],
        vec!["init", "--reinit", &ws],
    ] {
        let mut c = as_user(
            AGENT,
            &[
                s.bosun(),
                "-w",
                &ws,
                "--key-dir",
                s.agent_keys.to_str().unwrap(),
            ],
        );
        let o = c.args(&args).env_remove("BOSUN_URL").output().unwrap();
        assert!(
            !o.status.success(),
            "the agent ran `{}` on the state: {o:?}",
            args.join(" ")
        );
    }
    // And through the socket, no verb but what the API allows: the
    // approval of an agent is refused by the pipeline.
    let o = s.agent(&["approve", &jti, "--as", "claude", "--yes"]);
    assert!(!o.status.success(), "{o:?}");

    // Nothing changed: the op still waits for a human; the daemon's
    // ledger verifies.
    let o = s.agent(&["ops", "show", &jti, "--json"]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "pending_approval", "{v}");

    plan_to_finished_over_mcp(&s);

    // Stopped as systemd would (runuser passes the signal on): the daemon
    // stops cleanly and takes its socket away.
    terminate(&serve);
    let _ = serve.wait();
    let end = Instant::now() + Duration::from_secs(15);
    while s.socket.exists() {
        assert!(Instant::now() < end, "the daemon left its socket behind");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = as_user(
        DAEMON,
        &[
            s.bosun(),
            "-w",
            &ws,
            "--key-dir",
            s.daemon_keys.to_str().unwrap(),
            "ledger",
            "verify",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "ledger verify as the daemon: {o:?}");
}

/// The agent's MCP server (`bosun mcp --as claude`, run as the agent's
/// user, a client of the daemon) driven by rmcp's client: plan, submit,
/// wait; the operator approves from their own account with the remote
/// CLI; the daemon's controller runs the op to `succeeded`.
fn plan_to_finished_over_mcp(s: &Site) {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use serde_json::{Value, json};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cmd: Command = s.client(AGENT, &s.agent_keys, &["mcp", "--as", "claude"]);
    let client = rt
        .block_on(async {
            let t = rmcp::transport::TokioChildProcess::new(tokio::process::Command::from(cmd))
                .unwrap();
            ().serve(t).await
        })
        .unwrap();
    let call = |tool: &str, args: Value| -> Value {
        let mut p = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            p = p.with_arguments(m);
        }
        let r = rt.block_on(client.call_tool(p)).unwrap();
        let v = r.structured_content.clone().unwrap_or(Value::Null);
        assert_eq!(r.is_error, Some(false), "{tool}: {v}");
        v
    };
    let ask = json!({"runbook": "pkg-upgrade", "targets": ["web-2"], "params": {"version": "3.0"}});
    let plan = call("plan", ask.clone());
    let digest = plan["result"]["plan_digest"].as_str().unwrap().to_string();
    let sub = call("submit", ask);
    let jti = sub["result"]["jti"].as_str().unwrap().to_string();
    assert_eq!(sub["result"]["state"], "pending_approval", "{sub}");

    // The operator, on their own account, sees the plan digest and approves.
    let o = s.operator(&["approve", &jti, "--as", "alice", "--yes"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&digest),
        "{o:?}"
    );
    // The operator's account holds only her key: it cannot sign as the agent.
    let o = s.operator(&["approve", &jti, "--as", "claude", "--yes"]);
    assert!(
        !o.status.success(),
        "the operator's account has no agent key"
    );

    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let v = call("op_status", json!({"op": jti}));
        if v["result"]["state"] == "succeeded" {
            assert!(v["waiting"].is_null(), "{v}");
            break;
        }
        assert!(Instant::now() < end, "the op did not finish: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    rt.block_on(client.cancel()).unwrap();
}
