//! Consent you can read, through the real binary: `approve`, `deny` and
//! `adopt --approve` show exactly what is signed and sign nothing without
//! an answer; `ops show` renders the same plan; short ids resolve in one
//! place.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::process::Stdio;

/// A runbook whose commands are the same on hosts of one arch and differ
/// on another, and an ssh host with a user, a port and a wake command.
const RESTART: &str = r#"
id = "restart"
description = "Restart a service"
read_only = false
destructive = false
verb = "install"

[params.service]
type = "string"
pattern = "[a-z0-9-]+"
required = true

[[steps]]
id = "stop"
cmd = "systemctl stop {{ params.service }}"

[[steps]]
id = "arch"
cmd = "echo built for {{ host.arch }}"

[[steps]]
id = "start"
cmd = "systemctl start {{ params.service }}"
"#;

const DB_HOST: &str = r#"
[[host]]
name = "db-1"
address = "10.0.0.7"
transport = "ssh"
port = 2222
user = "ops"
arch = "x86_64"
tags = ["db"]
wake = "wakeonlan 00:11:22:33:44:55"
"#;

fn lab() -> Lab {
    Lab::new_with(|lab| {
        lab.write("runbooks/restart.toml", RESTART);
        let inv = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
        lab.write("fleet/hosts.toml", &format!("{inv}\n{DB_HOST}"));
    })
}

const TARGETS: [&str; 4] = ["canary-1", "db-1", "web-1", "web-2"];

fn submit_restart(lab: &Lab) -> String {
    let mut args = vec![
        "submit",
        "restart",
        "--as",
        "claude",
        "--json",
        "-p",
        "service=nginx",
    ];
    for t in TARGETS {
        args.extend(["-t", t]);
    }
    let s = lab.json(&args);
    assert_eq!(s["decision"], "pending_approval", "{s}");
    s["jti"].as_str().unwrap().to_string()
}

/// The rendered command of `step` on `host`, as `bosun plan` makes it.
fn planned_cmd(lab: &Lab, host: &str, step: &str) -> String {
    let p = lab.json(&[
        "plan",
        "restart",
        "-t",
        host,
        "-p",
        "service=nginx",
        "--json",
    ]);
    p["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .unwrap()["cmd"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs with stdin closed (no terminal).
fn run_no_tty(lab: &Lab, args: &[&str]) -> (bool, String, String) {
    let o = lab.cmd(args).stdin(Stdio::null()).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn approvals(lab: &Lab, jti: &str) -> usize {
    lab.json(&["ops", "show", jti, "--json"])["approvals"]
        .as_array()
        .unwrap()
        .len()
}

/// Checks the plan rendering of the restart op in `out`: the params,
/// every host's binding, every rendered command, grouped by identical
/// commands, and the rule that asked for approval.
fn assert_renders_the_plan(lab: &Lab, out: &str) {
    assert!(out.contains("service = nginx"), "{out}");
    assert!(out.contains("restart"), "{out}");
    // Where each host runs, and the wake command on the control host.
    assert!(out.contains("ssh ops@10.0.0.7:2222"), "{out}");
    assert!(
        out.contains("wake: wakeonlan 00:11:22:33:44:55  (runs on the control host"),
        "{out}"
    );
    assert!(out.contains("root .bosun/sim/web-2"), "{out}");
    // Hosts with identical commands are one group (in inventory order);
    // web-2 (aarch64) differs.
    assert!(
        out.contains("canary-1, web-1, db-1: 3 step(s), the same on each"),
        "{out}"
    );
    assert!(out.contains("web-2: 3 step(s)\n"), "{out}");
    for host in TARGETS {
        for step in ["stop", "arch", "start"] {
            let cmd = planned_cmd(lab, host, step);
            assert!(out.contains(&cmd), "{host}/{step}: `{cmd}` not in\n{out}");
        }
    }
    assert!(out.contains("echo built for aarch64"), "{out}");
    assert!(out.contains("echo built for x86_64"), "{out}");
    // The decision and the rule that asked for approval.
    assert!(out.contains("needs 1 approval(s) from: operator"), "{out}");
    assert!(out.contains("agent-changes-need-an-operator"), "{out}");
    assert!(out.contains("approvals 0 of 1 so far"), "{out}");
}

#[test]
fn approve_without_a_terminal_shows_the_plan_and_signs_nothing_without_yes() {
    let lab = lab();
    let jti = submit_restart(&lab);
    let (ok, out, err) = run_no_tty(&lab, &["approve", &jti, "--as", "alice"]);
    assert!(!ok, "approved from a pipe without --yes: {out}{err}");
    assert!(
        err.contains("nothing was signed") && err.contains("--yes"),
        "{err}"
    );
    assert_renders_the_plan(&lab, &out);
    assert_eq!(lab.state(&jti), "pending_approval");
    assert_eq!(approvals(&lab, &jti), 0, "no approval was stored");
    // --json without --yes is refused the same way; stdout stays empty
    // (the plan went to stderr).
    let (ok, out, err) = run_no_tty(&lab, &["approve", &jti, "--as", "alice", "--json"]);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("service = nginx") && err.contains("--yes"),
        "{err}"
    );
    // deny asks too.
    let (ok, _, err) = run_no_tty(&lab, &["deny", &jti, "--why", "no", "--as", "bob"]);
    assert!(!ok);
    assert!(err.contains("`deny?`"), "{err}");
    assert_eq!(lab.state(&jti), "pending_approval");
    assert_eq!(approvals(&lab, &jti), 0);
    // With --yes it signs; the JSON is unchanged for scripts.
    let a = lab.json(&["approve", &jti, "--as", "alice", "--yes", "--json"]);
    assert_eq!(a["state"], "approved");
    assert_eq!(approvals(&lab, &jti), 1);
}

#[test]
fn ops_show_renders_the_same_plan_for_any_op() {
    let lab = lab();
    let jti = submit_restart(&lab);
    let out = lab.ok(&["ops", "show", &jti]);
    assert_renders_the_plan(&lab, &out);
    assert!(
        out.contains("definition sha256:") && out.contains("the adopted version"),
        "{out}"
    );
    // The budget its issuer draws on.
    assert!(
        out.contains("budget    claude (agent) changed 4 of at most"),
        "{out}"
    );
    // An active blocker that holds it is named, for approvers to see.
    lab.ok(&[
        "blockers",
        "file",
        "regression",
        "web-2",
        "--reason",
        "bar failed",
        "--as",
        "alice",
    ]);
    let out = lab.ok(&["ops", "show", &jti]);
    assert!(out.contains("held by   blocker"), "{out}");
    assert!(out.contains("regression on `web-2`"), "{out}");
}

#[test]
fn a_read_only_op_shows_its_commands_too() {
    let lab = Lab::new();
    let s = lab.json(&[
        "submit",
        "disk-usage",
        "-t",
        "web-1",
        "-t",
        "web-2",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(s["decision"], "auto");
    let jti = s["jti"].as_str().unwrap();
    let out = lab.ok(&["ops", "show", jti]);
    assert!(out.contains("runs without a human (auto)"), "{out}");
    assert!(out.contains("web-1, web-2: "), "{out}");
    assert!(out.contains("du -sh"), "{out}");
}

#[test]
fn adopt_approve_shows_the_diff_and_signs_nothing_without_yes() {
    let lab = Lab::new();
    let rb = std::fs::read_to_string(lab.path("runbooks/disk-usage.toml")).unwrap();
    let edited = rb.replace("du -sh", "du -sh --apparent-size");
    assert_ne!(rb, edited);
    lab.write("runbooks/disk-usage.toml", &edited);
    let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert_eq!(p["adopted"], false, "{p}");
    let id = p["proposal"].as_str().unwrap().to_string();
    let short = &id[..20];
    let (ok, out, err) = run_no_tty(&lab, &["adopt", "--approve", short, "--as", "bob"]);
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("nothing was signed") && err.contains("--yes"),
        "{err}"
    );
    // A unified diff of the runbook: the old line out, the new line in.
    let old_line = rb.lines().find(|l| l.contains("du -sh")).unwrap();
    let new_line = edited
        .lines()
        .find(|l| l.contains("--apparent-size"))
        .unwrap();
    assert!(out.contains(&format!("-{old_line}\n")), "{out}");
    assert!(out.contains(&format!("+{new_line}\n")), "{out}");
    assert!(out.contains("@@"), "{out}");
    assert!(out.contains("runbook:disk-usage"), "{out}");
    let st = lab.json(&["status", "--json"]);
    assert!(
        st["open_proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str()),
        "still open: {st}"
    );
    let p = lab.json(&[
        "adopt",
        "--approve",
        short,
        "--as",
        "bob",
        "--yes",
        "--json",
    ]);
    assert_eq!(p["adopted"], true, "{p}");
}

#[test]
fn short_ids_resolve_in_one_place() {
    let lab = lab();
    let a = submit_restart(&lab);
    let b = submit_restart(&lab);
    // An unambiguous prefix names the op for ops show and approve.
    let out = lab.ok(&["ops", "show", &a[..16]]);
    assert!(out.contains(&a), "{out}");
    let r = lab.json(&["approve", &b[..16], "--as", "alice", "--yes", "--json"]);
    assert_eq!(r["jti"], b.as_str());
    assert_eq!(lab.state(&b), "approved");
    assert!(lab.ok(&["policy", "explain", &a[..16]]).contains(&a));
    // A prefix both share is ambiguous: the candidates are listed.
    let common: String = a
        .chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    if common.len() >= 6 {
        let o = lab.run(&["ops", "show", &common]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("more than one op") && err.contains(&a) && err.contains(&b),
            "{err}"
        );
        let (ok, _, err) = run_no_tty(&lab, &["approve", &common, "--as", "alice", "--yes"]);
        assert!(!ok && err.contains("more than one op"), "{err}");
    }
    // Fewer than 6 characters is refused, even when it would match one op.
    let o = lab.run(&["ops", "show", &a[..5]]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("too short") && err.contains("at least 6"),
        "{err}"
    );
    // No match says so.
    let o = lab.run(&["ops", "show", "zzzzzzzz"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no op has an id starting with `zzzzzzzz`")
    );
    assert_eq!(
        lab.state(&a),
        "pending_approval",
        "nothing was approved by a bad id"
    );
}

/// On a terminal (a pseudo-terminal from util-linux `script`), the
/// question defaults to no; `y` signs.
#[test]
fn on_a_terminal_the_question_decides() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to give the binary a terminal");
        return;
    }
    let lab = lab();
    let jti = submit_restart(&lab);
    let run = |answer: &str| -> String {
        let cmd = format!("{} approve {jti} --as alice", env!("CARGO_BIN_EXE_bosun"));
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("BOSUN_WORKSPACE", &lab.ws)
            .env("BOSUN_KEY_DIR", &lab.keys)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for no in ["\n", "n\n", "sure\n"] {
        let out = run(no);
        assert!(out.contains("approve? [y/N]"), "{out}");
        assert!(out.contains("nothing was signed"), "{out}");
        assert_eq!(lab.state(&jti), "pending_approval");
    }
    let out = run("y\n");
    assert!(out.contains("approved"), "{out}");
    // Approved (through a daemon its controller may have run it since).
    assert_ne!(lab.state(&jti), "pending_approval");
}
