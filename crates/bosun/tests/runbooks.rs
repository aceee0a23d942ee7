//! The step-DAG semantics through the real binary: dependency kinds,
//! `on_error` strategies, retries, timeouts, and the seed 002 mode as a
//! runbook that loads, plans and runs.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn run_op(lab: &Lab, runbook: &str) -> serde_json::Value {
    let s = lab.json(&[
        "submit", runbook, "--target", "web-1", "--as", "claude", "--json",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    if s["state"] == "pending_approval" {
        lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    }
    lab.work();
    lab.json(&["ops", "show", &jti, "--json"])
}

fn status_of(show: &serde_json::Value, step: &str) -> String {
    show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no step {step}: {show}"))
}

#[test]
fn dependency_kinds_strategies_retries_and_timeouts() {
    let lab = Lab::new();
    lab.write(
        "runbooks/dag.toml",
        r#"
id = "dag"
[[steps]]
id = "a"
cmd = "exit 1"
on_error = { strategy = "continue" }
[[steps]]
id = "on-fail"
cmd = "echo recovered > recovered.txt"
depends_on = [{ step = "a", kind = "on_failure" }]
[[steps]]
id = "on-ok"
cmd = "echo never > never.txt"
depends_on = [{ step = "a" }]
[[steps]]
id = "always"
cmd = "true"
depends_on = [{ step = "a", kind = "always" }]
[[steps]]
id = "flaky"
cmd = "test -f tried || { touch tried; exit 1; }"
on_error = { strategy = "retry", max = 2, backoff = "1s" }
[[steps]]
id = "slow"
cmd = "sleep 5"
timeout = "1s"
on_error = { strategy = "continue" }
[[steps]]
id = "after-slow"
cmd = "true"
depends_on = [{ step = "slow" }]
"#,
    );
    let show = run_op(&lab, "dag");
    assert_eq!(status_of(&show, "a"), "failed");
    assert_eq!(status_of(&show, "on-fail"), "succeeded");
    assert_eq!(status_of(&show, "on-ok"), "skipped");
    assert_eq!(status_of(&show, "always"), "succeeded");
    assert_eq!(
        status_of(&show, "flaky"),
        "succeeded",
        "retried once: {show}"
    );
    assert_eq!(status_of(&show, "slow"), "failed", "killed by its timeout");
    assert_eq!(status_of(&show, "after-slow"), "skipped");
    assert_eq!(show["state"], "failed", "a run with failed steps fails");
    assert!(lab.path(".bosun/sim/web-1/recovered.txt").exists());
    assert!(!lab.path(".bosun/sim/web-1/never.txt").exists());
    let slow = show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "slow")
        .unwrap();
    assert!(
        slow["duration_ms"].as_u64().unwrap() < 4000,
        "the timeout killed it: {slow}"
    );
}

#[test]
fn stop_cancels_what_has_not_started() {
    let lab = Lab::new();
    lab.write("runbooks/stops.toml", "id = \"stops\"\n[[steps]]\nid = \"bad\"\ncmd = \"exit 3\"\n[[steps]]\nid = \"next\"\ncmd = \"touch next.txt\"\n");
    let show = run_op(&lab, "stops");
    assert_eq!(show["state"], "failed");
    assert_eq!(status_of(&show, "next"), "skipped");
    assert!(
        show["steps"][1]["output"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );
    assert!(!lab.path(".bosun/sim/web-1/next.txt").exists());
}

#[test]
fn the_seed_002_mode_plans_and_runs() {
    let lab = Lab::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/runbooks/ops-radicle-build-info.toml"
    ))
    .unwrap();
    lab.write("runbooks/ops-radicle-build-info.toml", &text);
    let plan = lab.json(&[
        "plan",
        "ops-radicle-build-info",
        "--target",
        "web-1",
        "--json",
    ]);
    assert_eq!(plan["plan"]["steps"].as_array().unwrap().len(), 10);
    let show = run_op(&lab, "ops-radicle-build-info");
    assert_eq!(status_of(&show, "plane_topology"), "succeeded");
    assert!(
        show["steps"][0]["output"]
            .as_str()
            .unwrap()
            .contains("\"planes\"")
    );
    // The dependent steps ran after their dependencies, whatever they did.
    assert_ne!(status_of(&show, "constraints_and_edge_cases"), "skipped");
}

#[test]
fn runbook_catalog_verbs() {
    let lab = Lab::new();
    let list = lab.json(&["runbook", "list", "--json"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["disk-usage", "pkg-rollback", "pkg-upgrade"]);
    let show = lab.ok(&["runbook", "show", "pkg-upgrade"]);
    assert!(
        show.contains("install") && show.contains("version"),
        "{show}"
    );
    let g = lab.ok(&["runbook", "graph", "pkg-upgrade", "--format", "dot"]);
    assert!(g.starts_with("digraph"), "{g}");
    lab.write(
        "runbooks/broken.toml",
        "id = \"broken\"\n[[steps]]\nid = \"a\"\ncmd = \"true\"\ndepends_on = [{ step = \"b\" }]\n",
    );
    let o = lab.run(&["runbook", "validate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("runbooks/broken.toml:5:"), "{err}");
    lab.ok(&["runbook", "validate", "pkg-upgrade"]);
}

const HUMAN: &str = r#"
id = "with-human"
[[steps]]
id = "prep"
cmd = "echo prepared >> prep.txt"
[[steps]]
id = "confirm"
actor = "human"
note = "check the console shows the new kernel"
depends_on = [{ step = "prep" }]
[[steps]]
id = "finish"
cmd = "echo done > finish.txt"
depends_on = [{ step = "confirm" }]
"#;

fn start_human_run(lab: &Lab) -> String {
    lab.write("runbooks/with-human.toml", HUMAN);
    let s = lab.json(&[
        "submit",
        "with-human",
        "--target",
        "web-1",
        "--as",
        "claude",
        "--json",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "running", "{show}");
    assert_eq!(status_of(&show, "confirm"), "waiting");
    assert!(
        !lab.path(".bosun/sim/web-1/finish.txt").exists(),
        "nothing after the human step runs before the report"
    );
    // Working again does not move it: it is off the queue until reported.
    lab.work();
    assert_eq!(lab.state(&jti), "running");
    jti
}

#[test]
fn a_human_step_waits_for_a_signed_report_then_the_run_resumes() {
    let lab = Lab::new();
    let jti = start_human_run(&lab);
    let r = lab.refused(&[
        "step", "report", &jti, "confirm", "--status", "pass", "--as", "claude", "--json",
    ]);
    assert_eq!(
        r["check"], "reporter_role",
        "agents never report human steps"
    );
    let r = lab.refused(&[
        "step", "report", &jti, "finish", "--status", "pass", "--as", "alice", "--json",
    ]);
    assert_eq!(r["check"], "step", "only a waiting step takes a report");
    let ok = lab.json(&[
        "step",
        "report",
        &jti,
        "confirm",
        "--status",
        "pass",
        "--note",
        "console ok",
        "--as",
        "alice",
        "--json",
    ]);
    assert_eq!(ok["hosts"][0], "web-1");
    let r = lab.refused(&[
        "step", "report", &jti, "confirm", "--status", "pass", "--as", "bob", "--json",
    ]);
    assert_eq!(r["check"], "step", "a step is reported once");
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "succeeded", "{show}");
    assert!(status_of(&show, "confirm") == "succeeded");
    assert!(lab.path(".bosun/sim/web-1/finish.txt").exists());
    assert_eq!(
        std::fs::read_to_string(lab.path(".bosun/sim/web-1/prep.txt"))
            .unwrap()
            .lines()
            .count(),
        1,
        "prep ran once"
    );
}

#[test]
fn a_failed_human_step_skips_its_dependents_and_fails_the_run() {
    let lab = Lab::new();
    let jti = start_human_run(&lab);
    lab.ok(&[
        "step", "report", &jti, "confirm", "--status", "fail", "--as", "bob",
    ]);
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "failed");
    assert_eq!(status_of(&show, "finish"), "skipped");
}

#[test]
fn a_waiting_run_survives_a_killed_controller() {
    let lab = Lab::new();
    lab.write("runbooks/with-human.toml", HUMAN);
    let s = lab.json(&[
        "submit",
        "with-human",
        "--target",
        "web-1",
        "--as",
        "claude",
        "--json",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lab.json(&["ops", "show", &jti, "--json"])["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] != "waiting")
    {
        assert!(
            std::time::Instant::now() < end,
            "the run never reached the human step"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    serve.kill().unwrap(); // SIGKILL while it waits
    serve.wait().unwrap();
    lab.ok(&[
        "step", "report", &jti, "confirm", "--status", "pass", "--as", "alice",
    ]);
    lab.work();
    assert_eq!(lab.state(&jti), "succeeded");
    assert_eq!(
        std::fs::read_to_string(lab.path(".bosun/sim/web-1/prep.txt"))
            .unwrap()
            .lines()
            .count(),
        1,
        "prep was not run again"
    );
}

fn run_on(lab: &Lab, runbook: &str, hosts: &[&str]) -> serde_json::Value {
    let mut args = vec!["submit", runbook];
    for h in hosts {
        args.extend(["--target", h]);
    }
    args.extend(["--as", "claude", "--json"]);
    let s = lab.json(&args);
    let jti = s["jti"].as_str().unwrap().to_string();
    if s["state"] == "pending_approval" {
        lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    }
    lab.work();
    lab.json(&["ops", "show", &jti, "--json"])
}

fn status_on(show: &serde_json::Value, step: &str, host: &str) -> String {
    show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step && s["host"] == host)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no step {step} on {host}: {show}"))
}

/// (start, end) in ms of a step whose command wrote `date +%s%3N` into
/// `<name>.start` and `<name>.end` under each host's root.
fn span(lab: &Lab, host: &str, name: &str) -> (u64, u64) {
    let read = |f: &str| -> u64 {
        std::fs::read_to_string(lab.path(&format!(".bosun/sim/{host}/{name}.{f}")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (read("start"), read("end"))
}

#[test]
fn hosts_run_in_parallel_within_the_limits() {
    let lab = Lab::new();
    lab.write(
        "runbooks/fan.toml",
        r#"
id = "fan"
parallel = 3
[[steps]]
id = "wide"
cmd = "date +%s%3N > wide.start; sleep 1; date +%s%3N > wide.end"
[[steps]]
id = "narrow"
max_parallel = 1
cmd = "date +%s%3N > narrow.start; sleep 0.3; date +%s%3N > narrow.end"
"#,
    );
    let hosts = ["canary-1", "web-1", "web-2"];
    let show = run_on(&lab, "fan", &hosts);
    assert_eq!(show["state"], "succeeded", "{show}");
    let wide: Vec<(u64, u64)> = hosts.iter().map(|h| span(&lab, h, "wide")).collect();
    let last_start = wide.iter().map(|s| s.0).max().unwrap();
    let first_end = wide.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_start < first_end,
        "all three hosts ran `wide` at once: {wide:?}"
    );
    let mut narrow: Vec<(u64, u64)> = hosts.iter().map(|h| span(&lab, h, "narrow")).collect();
    narrow.sort_unstable();
    for w in narrow.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "max_parallel = 1: one host at a time: {narrow:?}"
        );
    }
    // Each host ran its own steps in order.
    for h in hosts {
        assert!(span(&lab, h, "wide").1 <= span(&lab, h, "narrow").0);
    }
}

const FAILS_ON_WEB1: &str = r#"
id = "flaky-fleet"
{MAX_FAIL}
[[steps]]
id = "probe"
cmd = "test {{ host.name }} != web-1 || exit 7; sleep 0.5"
[[steps]]
id = "apply"
cmd = "touch applied"
"#;

#[test]
fn a_failed_host_cancels_the_rest_unless_max_fail_allows_it() {
    // max_fail = 0 (the default): the first failed host stops everything
    // that has not started, on every host.
    let lab = Lab::new();
    lab.write(
        "runbooks/flaky-fleet.toml",
        &FAILS_ON_WEB1.replace("{MAX_FAIL}", ""),
    );
    let hosts = ["canary-1", "web-1", "web-2"];
    let show = run_on(&lab, "flaky-fleet", &hosts);
    assert_eq!(show["state"], "failed");
    assert_eq!(status_on(&show, "probe", "web-1"), "failed");
    for h in ["canary-1", "web-2"] {
        assert_eq!(status_on(&show, "apply", h), "skipped", "{show}");
        assert!(!lab.path(&format!(".bosun/sim/{h}/applied")).exists());
    }

    // max_fail = 1: web-1 is dropped, the others carry on.
    let lab = Lab::new();
    lab.write(
        "runbooks/flaky-fleet.toml",
        &FAILS_ON_WEB1.replace("{MAX_FAIL}", "max_fail = 1"),
    );
    let show = run_on(&lab, "flaky-fleet", &hosts);
    assert_eq!(show["state"], "failed", "a run with a failed host fails");
    assert_eq!(status_on(&show, "apply", "web-1"), "skipped");
    for h in ["canary-1", "web-2"] {
        assert_eq!(status_on(&show, "apply", h), "succeeded", "{show}");
        assert!(lab.path(&format!(".bosun/sim/{h}/applied")).exists());
    }
}

#[test]
fn a_controller_step_runs_once_between_the_hosts_steps() {
    let lab = Lab::new();
    lab.write(
        "runbooks/gather.toml",
        r#"
id = "gather"
[[steps]]
id = "collect"
cmd = "echo {{ host.name }} > ../../collected.{{ host.name }}"
[[steps]]
id = "summarize"
target = "controller"
cmd = "cat .bosun/collected.* | sort > .bosun/summary; echo on {{ host.name }}"
depends_on = [{ step = "collect" }]
[[steps]]
id = "distribute"
cmd = "cp ../../summary summary"
depends_on = [{ step = "summarize" }]
"#,
    );
    let plan = lab.json(&[
        "plan", "gather", "--target", "web-1", "--target", "web-2", "--json",
    ]);
    let steps = plan["plan"]["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        5,
        "two hosts × two steps + one controller step"
    );
    assert_eq!(steps[2]["host"], "controller");
    assert_eq!(steps[2]["controller"], true);
    let show = run_on(&lab, "gather", &["web-1", "web-2"]);
    assert_eq!(show["state"], "succeeded", "{show}");
    for h in ["web-1", "web-2"] {
        assert_eq!(
            std::fs::read_to_string(lab.path(&format!(".bosun/sim/{h}/summary"))).unwrap(),
            "web-1\nweb-2\n"
        );
    }
    let summarize = show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "summarize")
        .unwrap();
    assert!(
        summarize["output"]
            .as_str()
            .unwrap()
            .contains("on controller")
    );
}

#[test]
fn yaml_and_json_runbooks_load_plan_and_run() {
    let lab = Lab::new();
    lab.write(
        "runbooks/hello-yaml.yaml",
        "id: hello-yaml\nread_only: true\nsteps:\n  - id: hi\n    cmd: echo hi from {{ host.name }}\n",
    );
    lab.write(
        "runbooks/hello-json.json",
        r#"{"id": "hello-json", "read_only": true, "steps": [{"id": "hi", "cmd": "echo json on {{ host.name }}"}]}"#,
    );
    let out = lab.ok(&["runbook", "validate"]);
    assert!(out.contains("ok  runbooks/hello-yaml.yaml"), "{out}");
    assert!(out.contains("ok  runbooks/hello-json.json"), "{out}");
    for (id, want) in [
        ("hello-yaml", "hi from web-1"),
        ("hello-json", "json on web-1"),
    ] {
        let show = run_op(&lab, id);
        assert_eq!(show["state"], "succeeded", "{show}");
        assert!(show["steps"][0]["output"].as_str().unwrap().contains(want));
    }
    // Two files for one id are refused, naming both.
    lab.write(
        "runbooks/hello-yaml.toml",
        "id = \"hello-yaml\"\n[[steps]]\nid = \"a\"\ncmd = \"true\"\n",
    );
    let o = lab.run(&["runbook", "list"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("hello-yaml.toml and runbooks/hello-yaml.yaml"),
        "{err}"
    );
    // A YAML error is located.
    std::fs::remove_file(lab.path("runbooks/hello-yaml.toml")).unwrap();
    lab.write(
        "runbooks/bad.yml",
        "id: bad\nsteps:\n  - id: a\n    cmd: [unclosed\n",
    );
    let o = lab.run(&["runbook", "validate", "bad"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("runbooks/bad.yml:"));
}

#[test]
fn targets_are_selectors_and_infra_hosts_need_their_name() {
    let lab = Lab::new();
    let mut hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    hosts.push_str("\n[[host]]\nname = \"nas\"\ntransport = \"local\"\nroot = \".bosun/sim/nas\"\ntags = [\"web\"]\ninfra = true\n");
    lab.write("fleet/hosts.toml", &hosts);
    lab.adopt();
    let plan = |sel: &[&str]| {
        let mut args = vec!["plan", "disk-usage"];
        for s in sel {
            args.extend(["--target", s]);
        }
        args.push("--json");
        lab.run(&args)
    };
    let targets = |o: std::process::Output| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
        v["plan"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(targets(plan(&["web-*"])), ["web-1", "web-2"]);
    assert_eq!(targets(plan(&["arch:aarch64"])), ["web-2"]);
    assert_eq!(targets(plan(&["tag:web", "!nas", "!web-1"])), ["web-2"]);
    assert_eq!(targets(plan(&["nas"])), ["nas"]);
    let o = plan(&["tag:web"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`nas` is an infra host"), "{err}");
    let o = plan(&["nope"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown host `nope`"));
}
