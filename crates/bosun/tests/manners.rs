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
        if v[0] != "--help" {
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
