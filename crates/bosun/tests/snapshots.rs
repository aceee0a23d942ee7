//! The human output of every read verb, as a user sees it, kept as insta
//! snapshots (`tests/snapshots/`). Filters blank what changes from run to
//! run: ids, digests, hashes, thumbprints, times, durations and paths.
//! After an intended change: `INSTA_UPDATE=always cargo test -p bosun
//! --test snapshots`, then read the diff of the `.snap` files.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// A lab with something to show: three ops run, one waiting for approval,
/// a refused approval, a blocker and a started rollout.
fn shown_lab() -> (Lab, String) {
    let lab = Lab::busy();
    let s = lab.json(&[
        "submit",
        "pkg-upgrade",
        "-t",
        "web-2",
        "-p",
        "version=2.0",
        "--as",
        "claude",
        "--json",
    ]);
    let pending = s["jti"].as_str().unwrap().to_string();
    lab.refused(&["approve", &pending, "--as", "claude", "--yes", "--json"]);
    lab.ok(&[
        "blockers",
        "file",
        "host-drifted",
        "web-2",
        "--reason",
        "kernel differs from the image",
        "--as",
        "alice",
    ]);
    lab.ok(&["rollout", "start", "pkg-upgrade", "--as", "alice"]);
    lab.ok(&["ledger", "checkpoint"]);
    (lab, pending)
}

fn filters(lab: &Lab) -> Vec<(String, String)> {
    let tmp = lab.tmp.path().display().to_string();
    vec![
        (regex_escape(&tmp), "[TMP]".into()),
        (r"sha256:[0-9a-f]{64}".into(), "[DIGEST]".into()),
        (r"\b[0-9a-f]{64}\b".into(), "[HASH]".into()),
        (r"\b[0-9a-f]{32}\b".into(), "[JTI]".into()),
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( ?UTC|Z)?".into(),
            "[TIME]".into(),
        ),
        (r" +\d+(\.\d)? m?s\b".into(), " [DUR]".into()),
        (r"[A-Za-z0-9+/]{43}=".into(), "[B64]".into()),
        (r"[A-Za-z0-9_-]{43}".into(), "[B64]".into()),
        (r"\(([0-9a-f]{8})\)".into(), "([ID])".into()),
        (r"\b[0-9a-f]{6}\.\.\.[0-9a-f]{6}\b".into(), "[SHORT]".into()),
        (r"\b[0-9a-f]{12}\b".into(), "[SHORT]".into()),
    ]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn read_verbs_as_a_user_reads_them() {
    let (lab, pending) = shown_lab();
    let verbs: Vec<(&str, Vec<&str>)> = vec![
        ("status", vec!["status"]),
        ("key_list", vec!["key", "list"]),
        ("ops_list", vec!["ops", "list"]),
        ("ops_show", vec!["ops", "show", &pending]),
        ("ops_rejections", vec!["ops", "rejections"]),
        ("policy_lint", vec!["policy", "lint"]),
        ("policy_explain", vec!["policy", "explain", &pending]),
        (
            "plan",
            vec!["plan", "pkg-upgrade", "-t", "web-*", "-p", "version=2.0"],
        ),
        ("runbook_list", vec!["runbook", "list"]),
        ("runbook_show", vec!["runbook", "show", "pkg-upgrade"]),
        ("runbook_validate", vec!["runbook", "validate"]),
        ("runbook_graph", vec!["runbook", "graph", "pkg-upgrade"]),
        ("hosts_list", vec!["hosts", "list"]),
        ("hosts_show", vec!["hosts", "show", "web-2"]),
        ("hosts_status", vec!["hosts", "status"]),
        ("blockers_kinds", vec!["blockers", "kinds"]),
        ("blockers_list", vec!["blockers", "list"]),
        ("blockers_show", vec!["blockers", "show", "1"]),
        ("rollout_list", vec!["rollout", "list"]),
        ("rollout_status", vec!["rollout", "status", "pkg-upgrade"]),
        ("ledger_checkpoints", vec!["ledger", "checkpoints"]),
        ("ledger_verify", vec!["ledger", "verify"]),
        ("remind_dry_run", vec!["remind", "--dry-run"]),
    ];
    let mut settings = insta::Settings::clone_current();
    for (re, with) in filters(&lab) {
        settings.add_filter(&re, with);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, args) in verbs {
            let o = lab.cmd(&args).env("TZ", "UTC").output().unwrap();
            assert!(
                o.status.success(),
                "bosun {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            insta::assert_snapshot!(name, String::from_utf8_lossy(&o.stdout));
        }
    });
}
