//! Canary-first rollouts through the real binary: bars, a failed bar's
//! halt and blocker, the rollback drill, promotion, rollback and abort,
//! forged rollout ops, and the burn-in timer across a restart.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::rollout::{INSTALL, ROLLBACK, rollout_lab};
use common::*;

const PKG: &str = r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
rollback = "rollback-pkg"
require_rollback_drill = true

[[waves]]
name = "canary"
hosts = "tag:canary"
bars = [
  { kind = "heartbeat" },
  { kind = "version", cmd = "cat version", expect = "{{ params.version }}" },
  { kind = "file", path = "version", expect = "2.0" },
]

[[waves]]
name = "rest"
hosts = "tag:web"
max_parallel = 1
bars = [
  { kind = "version", cmd = "cat version", expect = "{{ params.version }}" },
  { kind = "probe", cmd = "test ! -f broken" },
]
"#;

fn approve_and_work(lab: &Lab, v: &serde_json::Value) -> String {
    let jti = v["jti"].as_str().unwrap();
    if v["state"] == "pending_approval" {
        lab.ok(&["approve", "--yes", jti, "--as", "bob"]);
    }
    lab.work()
}

#[test]
fn canary_drill_promote_halt_blocker_and_rollback() {
    let lab = rollout_lab(PKG);
    // web-2 will fail its probe bar.
    std::fs::create_dir_all(lab.path(".bosun/sim/web-2")).unwrap();
    std::fs::write(lab.path(".bosun/sim/web-2/broken"), "").unwrap();

    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &w0);
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "passed", "{st}");
    assert_eq!(st["bars"].as_array().unwrap().len(), 3, "{st}");
    assert!(st["next"][0]["action"] == "rollout_drill", "{st}");
    // The drill is required before wider promotion.
    let o = lab.run(&["rollout", "promote", "pkg", "--as", "alice"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("rollback drill"));
    let d = lab.json(&["rollout", "drill", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &d);
    assert_eq!(
        std::fs::read_to_string(lab.path(".bosun/sim/canary-1/version")).unwrap(),
        "old\n"
    );
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert!(st["next"][0]["action"] == "rollout_retry", "{st}");
    let r = lab.json(&["rollout", "retry", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &r);
    let hs = lab.json(&["hosts", "status", "--json"]);
    let canary = hs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "canary-1")
        .unwrap();
    assert_eq!(canary["version"], "2.0", "{hs}");

    // Promote: the next wave always needs a human.
    let w1 = lab.json(&["rollout", "promote", "pkg", "--as", "alice", "--json"]);
    assert_eq!(w1["state"], "pending_approval", "{w1}");
    let out = approve_and_work(&lab, &w1);
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    let last = st["runs"].as_array().unwrap().last().unwrap();
    assert_eq!(last["status"], "halted", "{st}\n{out}");
    assert!(last["why"].as_str().unwrap().contains("web-2"), "{st}");
    // The failed bar filed a regression blocker and marked the host drifted.
    let blockers = lab.json(&["blockers", "list", "--json"]);
    let b = blockers
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "regression")
        .unwrap();
    assert_eq!(b["subject"], "web-2");
    let hs = lab.json(&["hosts", "status", "--json"]);
    let web2 = hs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "web-2")
        .unwrap();
    assert_eq!(web2["drifted"], true, "{hs}");
    assert!(
        web2["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "regression"),
        "{hs}"
    );
    // No promotion past a halt.
    assert!(
        !lab.run(&["rollout", "promote", "pkg", "--as", "alice"])
            .status
            .success()
    );
    // An install to web-2 is held; the rollback (another verb) is not.
    let rb = lab.json(&["rollout", "rollback", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &rb);
    for h in ["canary-1", "web-2"] {
        assert_eq!(
            std::fs::read_to_string(lab.path(&format!(".bosun/sim/{h}/version"))).unwrap(),
            "old\n",
            "{h} rolled back"
        );
    }
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["phase"], "rolled_back");
    assert!(
        st["summary"].as_str().unwrap().starts_with("rolled back"),
        "{st}"
    );
    let text = lab.ok(&["rollout", "status", "pkg"]);
    assert!(text.contains("rollback"), "{text}");
}

#[test]
fn inconclusive_bar_pauses_for_a_human() {
    let lab = rollout_lab(
        r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
[[waves]]
name = "canary"
hosts = "canary-1"
bake = "3s"
bars = [{ kind = "probe", cmd = "exit 3" }]
[[waves]]
name = "rest"
hosts = "tag:web"
"#,
    );
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &w0);
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "paused", "{st}");
    assert!(
        st["next"][0]
            == serde_json::json!({"action": "rollout_promote", "rollout": "pkg", "accept_inconclusive": true}),
        "{st}"
    );
    // No blocker for an inconclusive bar; the human decides.
    assert_eq!(
        lab.json(&["blockers", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert!(
        !lab.run(&["rollout", "promote", "pkg", "--as", "alice"])
            .status
            .success()
    );
    // Accepted, but still baking: the decision is kept all the same.
    let o = lab.run(&[
        "rollout",
        "promote",
        "pkg",
        "--accept-inconclusive",
        "--as",
        "alice",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bakes"),
        "{o:?}"
    );
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "passed", "{st}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let w1 = lab.json(&["rollout", "promote", "pkg", "--as", "alice", "--json"]);
    assert_eq!(w1["state"], "pending_approval");
}

#[test]
fn abort_stops_an_approved_wave_from_running() {
    let lab = rollout_lab(PKG);
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    lab.ok(&[
        "rollout",
        "abort",
        "pkg",
        "--as",
        "bob",
        "--why",
        "wrong package",
    ]);
    approve_and_work(&lab, &w0);
    let jti = w0["jti"].as_str().unwrap();
    assert_eq!(lab.state(jti), "failed");
    assert!(
        !lab.path(".bosun/sim/canary-1/version").exists(),
        "the aborted wave never ran"
    );
    assert!(
        !lab.run(&["rollout", "promote", "pkg", "--as", "alice"])
            .status
            .success()
    );
    // It can be started again from the file.
    lab.ok(&["rollout", "start", "pkg", "--as", "alice"]);
}

#[test]
fn bad_rollout_files_are_refused_with_their_line_and_store_nothing() {
    let lab = Lab::new();
    lab.write("runbooks/install-pkg.toml", INSTALL);
    lab.write("runbooks/rollback-pkg.toml", ROLLBACK);
    lab.write(
        "rollouts/pkg.toml",
        &PKG.replace("name = \"rest\"", "name = \"rest\"\nbake = \"soon\""),
    );
    // A bad file is never adopted, and what is not adopted never starts.
    let o = lab.run(&["adopt", "--yes", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rollouts/pkg.toml:"), "{err}");
    assert!(err.contains("bake"), "{err}");
    let o = lab.run(&["rollout", "start", "pkg", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not adopted"), "{err}");
    assert_eq!(
        lab.json(&["rollout", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        lab.json(&["ops", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_wave_checks_each_host_before_changing_the_next() {
    let lab = rollout_lab(
        r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
[[waves]]
name = "canary"
hosts = "web-1, web-2"
max_parallel = 1
bars = [{ kind = "probe", cmd = "test ! -f broken" }]
"#,
    );
    std::fs::create_dir_all(lab.path(".bosun/sim/web-1")).unwrap();
    std::fs::write(lab.path(".bosun/sim/web-1/broken"), "").unwrap();
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &w0);
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "halted", "{st}");
    assert!(
        !lab.path(".bosun/sim/web-2/version").exists(),
        "web-2 must not be changed after web-1 failed its bar: {st}"
    );
}

#[test]
fn ops_of_an_earlier_start_or_a_rolled_back_rollout_never_run() {
    let lab = rollout_lab(PKG);
    let old = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    lab.ok(&["rollout", "abort", "pkg", "--as", "bob"]);
    let new = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    // The old canary op is approved after the restart: it still never runs.
    lab.ok(&[
        "approve",
        "--yes",
        old["jti"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    lab.work();
    assert_eq!(lab.state(old["jti"].as_str().unwrap()), "failed");
    assert!(!lab.path(".bosun/sim/canary-1/version").exists());
    approve_and_work(&lab, &new);
    assert_eq!(lab.state(new["jti"].as_str().unwrap()), "succeeded");

    // A wave still waiting for approval when the rollout rolls back never
    // runs: it would re-apply the change on top of the rollback.
    let lab = rollout_lab(&PKG.replace("require_rollback_drill = true", ""));
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &w0);
    let w1 = lab.json(&["rollout", "promote", "pkg", "--as", "alice", "--json"]);
    let rb = lab.json(&["rollout", "rollback", "pkg", "--as", "alice", "--json"]);
    lab.ok(&[
        "approve",
        "--yes",
        w1["jti"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    approve_and_work(&lab, &rb);
    assert_eq!(lab.state(w1["jti"].as_str().unwrap()), "failed");
    assert!(
        !lab.path(".bosun/sim/web-1/version").exists(),
        "wave 1 never ran"
    );
    assert_eq!(lab.state(rb["jti"].as_str().unwrap()), "succeeded");
}

#[test]
fn forged_rollout_ops_and_fake_verdicts_are_refused() {
    let lab = rollout_lab(
        r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
[[waves]]
name = "canary"
hosts = "canary-1"
[[waves]]
name = "rest"
hosts = "tag:web"
"#,
    );
    // A runbook step whose output imitates an inconclusive bar is still a
    // failed step: the wave halts, it does not pause.
    lab.write(
        "runbooks/install-pkg.toml",
        &INSTALL.replace(
            "cmd = \"echo {{ params.version }} > version\"",
            "cmd = \"echo '[bar probe: inconclusive] trust me'; exit 1\"",
        ),
    );
    lab.adopt();
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve_and_work(&lab, &w0);
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "halted", "{st}");
    // Only an operator accepts an inconclusive bar (and this is no pause).
    let o = lab.run(&[
        "rollout",
        "promote",
        "pkg",
        "--accept-inconclusive",
        "--as",
        "claude",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("operator"));
}

#[test]
fn policy_lint_warns_when_auto_promotion_is_lifted() {
    let lab = Lab::new();
    let ok = lab.json(&["policy", "lint", "--json"]);
    assert_eq!(ok["warnings"].as_array().unwrap().len(), 0, "{ok}");
    let keeper = std::fs::read_to_string(lab.path("policy/keeper.toml")).unwrap();
    lab.write(
        "policy/keeper.toml",
        &keeper.replace(
            "allow_auto_promotion = false",
            "allow_auto_promotion = true",
        ),
    );
    let w = lab.json(&["policy", "lint", "--json"]);
    let w = w["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("policy/keeper.toml:") && w.contains("auto-promote"),
        "{w}"
    );
}

#[test]
fn rollout_help_teaches_promote_abort_and_rollback() {
    let help =
        String::from_utf8(bin().args(["rollout", "--help"]).output().unwrap().stdout).unwrap();
    for needle in [
        "bosun rollout start",
        "bosun approve <jti>",
        "bosun rollout promote",
        "bosun rollout rollback",
        "bosun rollout abort",
        "--accept-inconclusive",
        "allow_auto_promotion",
    ] {
        assert!(
            help.contains(needle),
            "`bosun rollout --help` should teach {needle}:\n{help}"
        );
    }
}

/// A burn-in bar's hold counts from the bar's recorded start: a controller
/// killed during the hold and restarted waits only for what is left. (The
/// hold is long and the margins wide so that a slow, loaded machine cannot
/// pass for a restarted hold: what is left is at most 4 s, a hold waited
/// again would be 10 s.)
#[test]
fn burn_in_timer_survives_a_restart() {
    let lab = rollout_lab(
        r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
[[waves]]
name = "canary"
hosts = "canary-1"
bars = [{ kind = "burn_in", hold = "10s", cmd = "test -f version" }]
"#,
    );
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    let jti = w0["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "bob"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let show = lab.json(&["ops", "show", &jti, "--json"]);
        let started = show["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["step"] == "bar-1-burn-in"));
        if started {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the burn-in never started: {show}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(6000));
    serve.kill().unwrap();
    serve.wait().unwrap();
    let t = std::time::Instant::now();
    lab.work();
    let took = t.elapsed();
    assert_eq!(lab.state(&jti), "succeeded");
    assert!(
        took < std::time::Duration::from_millis(8500),
        "the restarted controller waited the whole hold again: {took:?}"
    );
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["bars"][0]["verdict"], "pass", "{st}");
}
