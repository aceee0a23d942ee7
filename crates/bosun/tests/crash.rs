//! Invariants 5 and 10, and durable step outcomes: kill -9 the controller
//! mid-step and restart it. Finished steps never run again; an
//! interrupted step goes on under its supervisor (the step shim), and the
//! restarted controller waits for it and takes the outcome it recorded —
//! nothing else runs on that host meanwhile; a step whose supervisor died
//! too is re-run when idempotent, else ends `unknown` and the op
//! `needs_attention` until a human reports it, which resumes the run.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::time::{Duration, Instant};

use common::*;

const RB: &str = r#"
id = "slow"
description = "three steps, the second slow"
[[steps]]
id = "first"
cmd = "echo ran >> first.count"
[[steps]]
id = "second"
cmd = "echo $$ >> second.count; touch second.started; while ! test -f second.release; do sleep 0.05; done; echo done >> second.done"
idempotent = false
timeout = "60s"
[[steps]]
id = "third"
cmd = "test -f second.done && echo ran >> third.count"
"#;

/// Submits and approves `slow` on web-1, runs `serve` until the second
/// step started, and kills it with SIGKILL: the step goes on.
fn crash_mid_second_step(rb: &str) -> (Lab, String) {
    crash_mid_second_step_on(rb, &["web-1"])
}

/// As [`crash_mid_second_step`], on `hosts` (the second step started on
/// each).
fn crash_mid_second_step_on(rb: &str, hosts: &[&str]) -> (Lab, String) {
    let lab = Lab::new();
    lab.write("runbooks/slow.toml", rb);
    let mut args = vec!["submit", "slow", "--as", "claude", "--json"];
    for h in hosts {
        args.extend(["--target", h]);
    }
    let s = lab.json(&args);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for h in hosts {
        let started = lab.path(&format!(".bosun/sim/{h}/second.started"));
        assert!(
            wait_for(&started, 30),
            "the second step never started on {h}"
        );
    }
    serve.kill().unwrap(); // SIGKILL
    serve.wait().unwrap();
    assert_eq!(lab.state(&jti), "running");
    (lab, jti)
}

fn count(lab: &Lab, f: &str) -> usize {
    std::fs::read_to_string(lab.path(&format!(".bosun/sim/web-1/{f}")))
        .unwrap_or_default()
        .lines()
        .count()
}

/// How often web-1's first, second and third steps ran.
fn counts(lab: &Lab) -> [usize; 3] {
    ["first.count", "second.count", "third.count"].map(|f| count(lab, f))
}

/// The ledger kinds recorded for `jti`, in order.
fn ledger_kinds(lab: &Lab, jti: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    let mut st = c
        .prepare("SELECT kind FROM ledger WHERE jti = ?1 ORDER BY idx")
        .unwrap();
    st.query_map([jti], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Whether process `pid` lives (a zombie nobody reaped does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Kills the interrupted step's supervisor and everything it started,
/// as a host restart would: its record then says it started, not how it
/// ended.
fn kill_the_step(lab: &Lab, jti: &str) {
    kill_entry(lab, jti, 1);
}

/// As [`kill_the_step`], for plan entry `entry`.
fn kill_entry(lab: &Lab, jti: &str, entry: u32) {
    let rec = lab.path(&format!(".bosun/steps/{jti}.{entry}.started"));
    let text = std::fs::read_to_string(&rec).expect("the step's record");
    let pid = text.split_whitespace().nth(1).unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < end, "the supervisor did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_step_is_waited_for_and_its_outcome_recovered() {
    let (lab, jti) = crash_mid_second_step(RB);
    // The restarted controller finds the step still running: it waits,
    // and nothing else runs on the host meanwhile.
    let mut work = lab
        .cmd(&["work", "--until-idle"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(work.try_wait().unwrap().is_none(), "it waits for the step");
    assert_eq!(count(&lab, "third.count"), 0, "nothing else ran meanwhile");
    std::fs::write(lab.path(".bosun/sim/web-1/second.release"), "").unwrap();
    assert!(work.wait().unwrap().success());
    assert_eq!(lab.state(&jti), "succeeded");
    // A finished step never runs again, the interrupted one ran once, the
    // third after it ended.
    assert_eq!(counts(&lab), [1, 1, 1]);
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["steps"][1]["status"], "succeeded", "{show}");
    let out = show["steps"][1]["output"].as_str().unwrap();
    assert!(out.contains("recorded how it ended"), "{out}");
    let detail = show["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("3 steps: 3 ran and succeeded (1 before the run was resumed)"),
        "the summary counts the whole run: {detail}"
    );
    let kinds = ledger_kinds(&lab, &jti);
    assert!(kinds.iter().any(|k| k == "step.recovered"), "{kinds:?}");
    // The records are gone once the run ended.
    let left = std::fs::read_dir(lab.path(".bosun/steps")).unwrap().count();
    assert_eq!(left, 0);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "{v}");
}

#[test]
fn a_failed_outcome_is_recovered_too() {
    let rb = RB.replace("echo done >> second.done", "exit 7");
    let (lab, jti) = crash_mid_second_step(&rb);
    std::fs::write(lab.path(".bosun/sim/web-1/second.release"), "").unwrap();
    // Let the step end on its own before the controller comes back.
    std::thread::sleep(Duration::from_millis(500));
    lab.work();
    assert_eq!(lab.state(&jti), "failed");
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["steps"][1]["status"], "failed");
    assert_eq!(show["steps"][1]["exit_code"], 7, "{show}");
    assert_eq!(count(&lab, "second.count"), 1, "not run again");
    assert_eq!(count(&lab, "third.count"), 0);
}

#[test]
fn an_interrupted_step_past_its_timeout_is_killed_before_anything_else_runs() {
    let rb = RB.replace("timeout = \"60s\"", "timeout = \"2s\"");
    let (lab, jti) = crash_mid_second_step(&rb);
    let pid = std::fs::read_to_string(lab.path(&format!(".bosun/steps/{jti}.1.started")))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    lab.work();
    assert!(!alive(&pid), "the old step's supervisor was killed");
    assert_eq!(lab.state(&jti), "failed");
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    let out = show["steps"][1]["output"].as_str().unwrap();
    assert!(out.contains("ran past its 2s timeout"), "{out}");
    assert_eq!(count(&lab, "third.count"), 0);
}

#[test]
fn an_idempotent_step_whose_supervisor_died_is_rerun() {
    let rb = RB.replace("idempotent = false", "idempotent = true");
    let (lab, jti) = crash_mid_second_step(&rb);
    kill_the_step(&lab, &jti);
    std::fs::write(lab.path(".bosun/sim/web-1/second.release"), "").unwrap();
    lab.work();
    assert_eq!(lab.state(&jti), "succeeded");
    // A finished step never runs again; the idempotent one ran again.
    assert_eq!(counts(&lab), [1, 2, 1]);
}

#[test]
fn a_lost_non_idempotent_step_needs_attention_until_reported_then_resumes() {
    let (lab, jti) = crash_mid_second_step(RB);
    kill_the_step(&lab, &jti);
    std::fs::write(lab.path(".bosun/sim/web-1/second.release"), "").unwrap();
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "needs_attention", "{show}");
    assert_eq!(show["steps"][1]["status"], "unknown");
    assert_eq!(
        count(&lab, "first.count"),
        1,
        "a finished step never runs again"
    );
    assert_eq!(count(&lab, "second.count"), 1, "not retried blindly");
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
    // An agent cannot clear it; an operator can, and the run resumes.
    let r = lab.refused(&[
        "step", "report", &jti, "second", "--host", "web-1", "--status", "pass", "--as", "claude",
        "--json",
    ]);
    assert_eq!(r["check"], "reporter_role", "{r}");
    // The operator checked the host, and finished the step by hand.
    std::fs::write(lab.path(".bosun/sim/web-1/second.done"), "").unwrap();
    let said = lab.ok(&[
        "step",
        "report",
        &jti,
        "second",
        "--host",
        "web-1",
        "--status",
        "pass",
        "--note",
        "checked by hand: it finished",
        "--as",
        "alice",
    ]);
    assert!(said.contains("the run resumes"), "{said}");
    assert_eq!(lab.state(&jti), "running", "resumed at the next pass");
    let st = lab.json(&["status", "--json"]);
    assert!(
        st["needs_attention"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "status no longer lists it: {st}"
    );
    lab.work();
    assert_eq!(lab.state(&jti), "succeeded");
    assert_eq!(lab.state(&held), "succeeded");
    assert_eq!(count(&lab, "third.count"), 1, "the rest of the run ran");
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(
        show["steps"][1]["status"], "succeeded",
        "the report is recorded"
    );
    assert!(
        show["steps"][1]["output"]
            .as_str()
            .unwrap()
            .contains("by hand")
    );
    let kinds = ledger_kinds(&lab, &jti);
    assert!(kinds.iter().any(|k| k == "op.resumed"), "{kinds:?}");
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

#[test]
fn every_interrupted_step_ends_somewhere_on_every_host() {
    // Two hosts mid-step: web-1's step dies with its supervisor (unknown),
    // web-2's goes on (recovered). No step is left `started`, web-2's run
    // goes on, and only web-1 waits for a report.
    let (lab, jti) = crash_mid_second_step_on(RB, &["web-1", "web-2"]);
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    // The plan index of web-1's `second`, as the started row records it.
    let entry = |host: &str, step: &str| -> u32 {
        let rows = show["steps"].as_array().unwrap();
        let row = rows.iter().find(|s| s["host"] == host && s["step"] == step);
        row.map(|s| s["idx"].as_u64().unwrap() as u32)
            .unwrap_or_else(|| panic!("no {step} on {host}: {show}"))
    };
    kill_entry(&lab, &jti, entry("web-1", "second"));
    for h in ["web-1", "web-2"] {
        std::fs::write(lab.path(&format!(".bosun/sim/{h}/second.release")), "").unwrap();
    }
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "needs_attention", "{show}");
    let status = |host: &str, step: &str| -> String {
        show["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["host"] == host && s["step"] == step)
            .map_or("none".into(), |s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("web-1", "second"), "unknown");
    assert_eq!(status("web-1", "third"), "none", "waits for the report");
    assert_eq!(status("web-2", "second"), "succeeded");
    assert_eq!(status("web-2", "third"), "succeeded");
    assert!(
        !show["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == "started"),
        "no step is left started: {show}"
    );
}

#[test]
fn records_of_ended_ops_are_pruned_when_a_controller_starts() {
    let lab = Lab::new();
    let done = lab.approved_upgrade("web-1", "2");
    lab.work();
    assert_eq!(lab.state(&done), "succeeded");
    // Left behind (a run that ended while paused, say), and one of an op
    // the store does not know.
    lab.write(&format!(".bosun/steps/{done}.0.started"), "n1 4242\n");
    lab.write(".bosun/steps/0123abcd.0.started", "n1 4242\n");
    lab.work();
    assert!(!lab.path(&format!(".bosun/steps/{done}.0.started")).exists());
    assert!(lab.path(".bosun/steps/0123abcd.0.started").exists());
}

/// The status of `step` on `host` in op `jti` ("none" before it started).
fn step_status(lab: &Lab, jti: &str, host: &str, step: &str) -> String {
    let show = lab.json(&["ops", "show", jti, "--json"]);
    show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["host"] == host && s["step"] == step)
        .map_or("none".into(), |s| s["status"].as_str().unwrap().to_string())
}

/// Waits until `step` on `host` has status `want`.
fn wait_status(lab: &Lab, jti: &str, host: &str, step: &str, want: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while step_status(lab, jti, host, step) != want {
        assert!(Instant::now() < end, "{step} on {host} never became {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The plan index of `step` on `host`, as its started row records it.
fn step_idx(lab: &Lab, jti: &str, host: &str, step: &str) -> u32 {
    let show = lab.json(&["ops", "show", jti, "--json"]);
    let rows = show["steps"].as_array().unwrap();
    let row = rows.iter().find(|s| s["host"] == host && s["step"] == step);
    u32::try_from(row.unwrap()["idx"].as_u64().unwrap()).unwrap()
}

#[test]
fn a_kill_during_adoption_still_adopts_every_interrupted_step() {
    // web-1's step dies with its supervisor and is recorded unknown by a
    // second controller, which is killed while it waits for web-2's step:
    // the third adopts web-2's step too (it does not end the run at the
    // stored unknown), so it is never left started nor overlapped.
    let (lab, jti) = crash_mid_second_step_on(RB, &["web-1", "web-2"]);
    kill_entry(&lab, &jti, step_idx(&lab, &jti, "web-1", "second"));
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_status(&lab, &jti, "web-1", "second", "unknown");
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut work = lab
        .cmd(&["work", "--until-idle"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        work.try_wait().unwrap().is_none(),
        "it waits for web-2's step"
    );
    std::fs::write(lab.path(".bosun/sim/web-2/second.release"), "").unwrap();
    work.wait().unwrap();
    assert_eq!(lab.state(&jti), "needs_attention");
    assert_eq!(step_status(&lab, &jti, "web-2", "second"), "succeeded");
    assert_eq!(step_status(&lab, &jti, "web-2", "third"), "succeeded");
    assert_eq!(step_status(&lab, &jti, "web-1", "third"), "none");
    // The report resumes the run, which finishes web-1.
    std::fs::write(lab.path(".bosun/sim/web-1/second.done"), "").unwrap();
    lab.ok(&[
        "step", "report", &jti, "second", "--host", "web-1", "--status", "pass", "--as", "alice",
    ]);
    lab.work();
    assert_eq!(lab.state(&jti), "succeeded");
}

#[test]
fn a_failure_that_stops_the_run_still_waits_for_an_interrupted_step() {
    // max_fail = 0: web-1's step fails while web-2's runs; the controller
    // dies. The restarted one must not record web-2's step skipped while
    // it still runs: it waits for it and takes its outcome.
    let rb = RB.replace(
        "touch second.started;",
        // web-1 fails only once web-2's step runs (as the scenario says):
        // on a slow disk web-2 could otherwise start after the failure
        // stopped the run, and never start at all.
        "touch second.started; if [ {{ host.name }} = web-1 ]; then while ! test -f ../web-2/second.started; do sleep 0.05; done; exit 1; fi;",
    );
    let lab = Lab::new();
    lab.write("runbooks/slow.toml", &rb);
    let s = lab.json(&[
        "submit", "slow", "--as", "claude", "--json", "--target", "web-1", "--target", "web-2",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&lab.path(".bosun/sim/web-2/second.started"), 30));
    wait_status(&lab, &jti, "web-1", "second", "failed");
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut work = lab
        .cmd(&["work", "--until-idle"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(step_status(&lab, &jti, "web-2", "second"), "started");
    std::fs::write(lab.path(".bosun/sim/web-2/second.release"), "").unwrap();
    work.wait().unwrap();
    assert_eq!(lab.state(&jti), "failed");
    assert_eq!(step_status(&lab, &jti, "web-2", "second"), "succeeded");
    assert_eq!(step_status(&lab, &jti, "web-2", "third"), "skipped");
}

#[test]
fn a_retried_step_is_adopted_as_the_attempt_it_is() {
    // Attempt 1 fails after 3.5 s; attempt 2 runs when the controller
    // dies. Its 6 s timeout counts from its own start (not the first
    // attempt's), and the attempts go on counting from 2.
    let rb = r#"
id = "retry"
description = "a step that fails once, slowly"
[[steps]]
id = "s"
timeout = "6s"
idempotent = false
on_error = { strategy = "retry", max = 2, backoff = "1s" }
cmd = "echo $$ >> s.count; n=$(wc -l < s.count); if [ $n -eq 1 ]; then sleep 3.5; exit 1; fi; touch s.started2; while ! test -f s.release; do sleep 0.05; done"
"#;
    let lab = Lab::new();
    lab.write("runbooks/retry.toml", rb);
    let s = lab.json(&[
        "submit", "retry", "--as", "claude", "--json", "--target", "web-1",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&lab.path(".bosun/sim/web-1/s.started2"), 30));
    serve.kill().unwrap();
    serve.wait().unwrap();
    // Released 3 s later: past the first attempt's 6 s, within the second's.
    let release = lab.path(".bosun/sim/web-1/s.release");
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        std::fs::write(release, "").unwrap();
    });
    lab.work();
    later.join().unwrap();
    assert_eq!(lab.state(&jti), "succeeded");
    assert_eq!(count(&lab, "s.count"), 2, "two attempts in all");
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    let out = show["steps"][0]["output"].as_str().unwrap();
    assert!(out.starts_with("[attempt 2 of 3]"), "{out}");
}
