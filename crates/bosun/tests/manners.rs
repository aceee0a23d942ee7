//! The CLI's manners, tried as a new user would, through the real binary:
//! a closed pipe never panics, long cells are cut, `NO_COLOR` and
//! `--color` are obeyed, and the exit statuses are the documented ones
//! (3 refused by a check, 4 an op ended failed).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// Every read verb, with what it needs from a busy lab.
fn read_verbs(jti: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        v(&["--help"]),
        v(&["status"]),
        v(&["key", "list"]),
        v(&["ops", "list"]),
        v(&["ops", "show", jti]),
        v(&["ops", "rejections"]),
        v(&["policy", "lint"]),
        v(&["policy", "explain", jti]),
        v(&["plan", "pkg-upgrade", "-t", "web-1", "-p", "version=2"]),
        v(&["runbook", "list"]),
        v(&["runbook", "show", "pkg-upgrade"]),
        v(&["runbook", "validate"]),
        v(&["runbook", "graph", "pkg-upgrade"]),
        v(&["hosts", "list"]),
        v(&["hosts", "show", "web-1"]),
        v(&["hosts", "status"]),
        v(&["blockers", "kinds"]),
        v(&["blockers", "list"]),
        v(&["rollout", "list"]),
        v(&["ledger", "verify"]),
        v(&["ledger", "prove", jti]),
        v(&["remind", "--dry-run"]),
        v(&["completions", "bash"]),
        v(&["man"]),
        v(&["demo"]),
    ]
}

#[test]
fn a_closed_pipe_ends_every_read_verb_quietly() {
    let lab = Lab::busy();
    let jti = lab.json(&["ops", "list", "--json"])[0]["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let mut verbs = read_verbs(&jti);
    for v in verbs.clone() {
        if !["--help", "completions", "man", "demo"].contains(&v[0].as_str()) {
            let mut j = v.clone();
            j.push("--json".into());
            verbs.push(j);
        }
    }
    for args in verbs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = lab
            .cmd(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(101), "bosun {args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "bosun {args:?}: {err}"
        );
    }
}

#[test]
fn a_long_cell_is_cut_not_a_panic() {
    let lab = Lab::new();
    let long = "x".repeat(70_000);
    lab.write(
        "runbooks/long.toml",
        &format!(
            "id = \"long\"\ndescription = \"{long}\"\n\n[[steps]]\nid = \"a\"\ncmd = \"true\"\n"
        ),
    );
    let out = lab.ok(&["runbook", "list"]);
    let row = out.lines().find(|l| l.starts_with("long")).unwrap();
    assert!(row.ends_with('…'), "{row}");
    assert!(row.chars().count() < 400, "{row}");
}

#[test]
fn no_colour_into_a_pipe_or_with_no_color_and_colour_when_asked() {
    let plain = bin().arg("demo").env_remove("NO_COLOR").output().unwrap();
    assert!(plain.status.success());
    assert!(!plain.stdout.contains(&0x1b), "escapes into a pipe");
    let forced = bin()
        .args(["--color", "always", "demo"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(forced.stdout.contains(&0x1b), "--color always colours");
}

#[test]
fn a_role_refusal_exits_3() {
    let lab = Lab::new();
    lab.ok(&[
        "blockers",
        "file",
        "host-drifted",
        "web-1",
        "--reason",
        "drifted",
        "--as",
        "alice",
    ]);
    let o = lab.run(&["blockers", "resolve", "1", "--as", "claude"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("role"));
}

#[test]
fn a_failed_op_makes_work_and_plan_check_exit_4() {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/boom.toml",
            "id = \"boom\"\n\n[[steps]]\nid = \"fail\"\ncmd = \"exit 7\"\ncheck = \"exit 7\"\n",
        );
    });
    let s = lab.json(&[
        "submit", "boom", "--target", "web-1", "--as", "claude", "--json",
    ]);
    let jti = s["jti"].as_str().unwrap();
    lab.ok(&["approve", "--yes", jti, "--as", "alice"]);
    let o = lab.run(&["work", "--until-idle"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing left to do: idle is success.
    assert_eq!(lab.run(&["work", "--until-idle"]).status.code(), Some(0));
    let o = lab.run(&[
        "plan", "boom", "--target", "web-1", "--check", "--as", "claude",
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_workspace_is_found_from_a_subdirectory() {
    let lab = Lab::new();
    let o = bin()
        .args(["status", "--json"])
        .current_dir(lab.path("runbooks"))
        .env_remove("BOSUN_WORKSPACE")
        .env("BOSUN_KEY_DIR", &lab.keys)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["workspace"], "lab");
    // Outside any workspace, the error says what to do.
    let o = bin()
        .arg("status")
        .current_dir(lab.tmp.path())
        .env_remove("BOSUN_WORKSPACE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bosun init"));
}

#[test]
fn params_from_a_file_and_the_hint_keeps_them() {
    let lab = Lab::new();
    lab.write("params.yaml", "version: '2.5'\n");
    let p = lab.path("params.yaml");
    let out = lab.ok(&[
        "plan",
        "pkg-upgrade",
        "-t",
        "web-1",
        "-p",
        &format!("@{}", p.display()),
    ]);
    assert!(out.contains("version = 2.5"), "{out}");
    assert!(out.contains("-t web-1 -p @"), "{out}");
    let o = lab.run(&["plan", "pkg-upgrade", "-t", "web-1", "-p", "@nope.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.toml"));
}

#[test]
fn version_completions_and_man_pages() {
    let v = bin().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(v.starts_with("bosun ") && v.contains(" ("), "{v}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(o.status.success() && !o.stdout.is_empty(), "{shell}");
    }
    let o = bin().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(".TH bosun 1"));
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["man", "--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(dir.path().join("bosun-ops-list.1").is_file());
}

/// Runs `serve` with `extra` arguments until it holds the lease, stops it
/// with SIGTERM, and returns its stdout and stderr.
fn serve_briefly(lab: &Lab, extra: &[&str]) -> (String, String) {
    let serve = lab.serve(
        extra,
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
    );
    terminate(&serve);
    let o = serve.wait_with_output().unwrap();
    assert!(o.status.success());
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn serve_logs_timed_lines_to_stderr_as_text_or_json() {
    let lab = Lab::new();
    let (out, err) = serve_briefly(&lab, &[]);
    assert!(out.is_empty(), "serve prints nothing to stdout: {out}");
    let started = err
        .lines()
        .find(|l| l.contains("controller started"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        started.starts_with("20") && started.contains("INFO"),
        "{started}"
    );
    assert!(err.contains("controller stopped"), "{err}");
    let (_, err) = serve_briefly(&lab, &["--log-format", "json"]);
    for line in err.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"));
        assert!(v["timestamp"].is_string(), "{line}");
    }
    assert!(err.contains("controller started"));
}

#[test]
fn work_counts_the_steps_of_a_run() {
    let lab = Lab::new();
    lab.approved_upgrade("web-1", "2");
    let out = lab.work();
    assert!(out.contains("[1/2]") && out.contains("[2/2]"), "{out}");
}
