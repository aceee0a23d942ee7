//! Invariants 5 and 10: kill -9 the controller mid-step and restart it.
//! Finished steps never run again; an interrupted idempotent step is re-run;
//! an interrupted non-idempotent step ends the run as `needs_attention`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const RB: &str = r#"
id = "slow"
description = "two steps, the second slow"
[params.idem]
type = "bool"
default = false
[[steps]]
id = "first"
cmd = "echo ran >> first.count"
[[steps]]
id = "second"
cmd = "echo ran >> second.count; touch second.started; test -f second.release || sleep 30"
idempotent = false
"#;

fn crash_mid_second_step(idempotent: bool) -> (Lab, String) {
    let lab = Lab::new();
    let rb = if idempotent {
        RB.replace("idempotent = false", "idempotent = true")
    } else {
        RB.to_string()
    };
    lab.write("runbooks/slow.toml", &rb);
    let s = lab.json(&[
        "submit", "slow", "--target", "web-1", "--as", "claude", "--json",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = lab.path(".bosun/sim/web-1/second.started");
    assert!(wait_for(&started, 30), "the second step never started");
    serve.kill().unwrap(); // SIGKILL
    serve.wait().unwrap();
    // Let the restarted step finish quickly.
    std::fs::write(lab.path(".bosun/sim/web-1/second.release"), "").unwrap();
    assert_eq!(lab.state(&jti), "running");
    lab.work();
    (lab, jti)
}

fn count(lab: &Lab, f: &str) -> usize {
    std::fs::read_to_string(lab.path(&format!(".bosun/sim/web-1/{f}")))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn non_idempotent_step_with_unknown_outcome_needs_attention() {
    let (lab, jti) = crash_mid_second_step(false);
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "needs_attention", "{show}");
    assert_eq!(show["steps"][1]["status"], "unknown");
    assert_eq!(
        count(&lab, "first.count"),
        1,
        "a finished step is never run again"
    );
    assert_eq!(
        count(&lab, "second.count"),
        1,
        "an unknown-outcome step is not retried blindly"
    );
    let st = lab.json(&["status", "--json"]);
    assert_eq!(st["needs_attention"][0]["jti"], jti.as_str());

    // Nothing more runs on that host until a human reports the step; an
    // op on another host is not held.
    let submit = |host: &str| {
        let s = lab.json(&[
            "submit",
            "pkg-upgrade",
            "--target",
            host,
            "--param",
            "version=2",
            "--as",
            "claude",
            "--json",
        ]);
        let j = s["jti"].as_str().unwrap().to_string();
        lab.ok(&["approve", "--yes", &j, "--as", "alice"]);
        j
    };
    let held = submit("web-1");
    let free = submit("web-2");
    let out = lab.work();
    assert!(
        out.contains("needs attention"),
        "says why it is held: {out}"
    );
    assert_eq!(lab.state(&held), "approved", "held by the unknown step");
    assert_eq!(lab.state(&free), "succeeded");
    // An agent cannot clear it; an operator can, and the held op then runs.
    let r = lab.refused(&[
        "step", "report", &jti, "second", "--host", "web-1", "--status", "pass", "--as", "claude",
        "--json",
    ]);
    assert_eq!(r["check"], "reporter_role", "{r}");
    lab.ok(&[
        "step",
        "report",
        &jti,
        "second",
        "--host",
        "web-1",
        "--status",
        "fail",
        "--note",
        "checked by hand: half-applied, rolled back",
        "--as",
        "alice",
    ]);
    assert_eq!(
        lab.state(&jti),
        "needs_attention",
        "the op's own record stands"
    );
    lab.work();
    assert_eq!(lab.state(&held), "succeeded");
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(
        show["steps"][1]["status"], "failed",
        "the report is recorded"
    );
    assert!(
        show["steps"][1]["output"]
            .as_str()
            .unwrap()
            .contains("rolled back")
    );
}

#[test]
fn idempotent_step_is_rerun_after_a_crash() {
    let (lab, jti) = crash_mid_second_step(true);
    assert_eq!(lab.state(&jti), "succeeded");
    assert_eq!(
        count(&lab, "first.count"),
        1,
        "a finished step is never run again"
    );
    assert_eq!(
        count(&lab, "second.count"),
        2,
        "the idempotent step ran again"
    );
    // The summary counts the whole run, not only the pass after the restart.
    let detail = lab.json(&["ops", "show", &jti, "--json"])["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with("2 steps: 2 ran and succeeded (1 before the run was resumed)"),
        "{detail}"
    );
}

#[test]
fn a_second_controller_waits_or_refuses() {
    let lab = Lab::new();
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it holds the lease.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = lab.json(&["status", "--json"]);
        if !st["controller"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the controller never took the lease"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = lab.run(&["serve", "--no-wait"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds the lease"));
    let o = lab.run(&["work", "--until-idle"]);
    assert!(!o.status.success());
    // SIGTERM stops it cleanly and releases the lease.
    std::process::Command::new("kill")
        .arg(serve.id().to_string())
        .status()
        .unwrap();
    serve.wait().unwrap();
    assert!(lab.json(&["status", "--json"])["controller"].is_null());
}
