//! Every verb in both modes: the reads print the same bytes with the same
//! exit status whether the CLI opens the workspace or asks the daemon
//! (`BOSUN_URL`), and the remote changes — blockers, adoption, snoozes, a
//! rollout's abort — are signed here and land as the embedded ones do.
//! (What a lying daemon's adoption views meet is in bosun-control's
//! `tests/intake.rs`: every digest, both sides of each change, is bound.)

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use common::api::daemon;

use common::api::{json_of as json, run_at as run, url};
use common::rollout::INSTALL;

const PKG: &str = r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }

[[waves]]
name = "canary"
hosts = "tag:canary"
bars = [{ kind = "heartbeat" }]

[[waves]]
name = "rest"
hosts = "tag:web"
"#;

#[test]
fn every_read_prints_the_same_in_both_modes() {
    let lab = Lab::new_with(|lab| {
        lab.write("runbooks/install-pkg.toml", INSTALL);
        lab.write("rollouts/pkg.toml", PKG);
    });
    let d = daemon(&lab);
    let (unix, tcp) = (url(&d.unix), url(&d.tcp));
    // Halted, so that nothing moves between the two reads of a pair.
    lab.ok(&["halt", "--why", "parity", "--as", "alice"]);
    let op = common::jti(&common::submit(
        &lab,
        "claude",
        "pkg-upgrade",
        "web-1",
        &["version=2.0"],
    ));
    lab.ok(&["approve", &op, "--as", "alice", "--yes"]);
    let held = common::jti(&common::submit(
        &lab,
        "claude",
        "pkg-upgrade",
        "web-2",
        &["version=2.0"],
    ));
    lab.ok(&[
        "blockers",
        "file",
        "host-drifted",
        "web-2",
        "--reason",
        "kernel differs",
        "--as",
        "alice",
    ]);
    lab.ok(&[
        "blockers",
        "file",
        "regression",
        "web-1",
        "--reason",
        "slow",
        "--as",
        "bob",
    ]);
    lab.ok(&[
        "blockers", "resolve", "2", "--how", "fixed", "--as", "alice",
    ]);
    lab.ok(&["blockers", "snooze", "1", "--for", "6h", "--as", "alice"]);
    lab.ok(&["rollout", "start", "pkg", "--as", "alice"]);
    // A rejected input: claude approves.
    assert_eq!(
        run(
            &lab,
            None,
            None,
            &["approve", &held, "--as", "claude", "--yes"]
        )
        .status
        .code(),
        Some(3)
    );

    let reads: Vec<Vec<&str>> = vec![
        vec!["hosts", "list"],
        vec!["hosts", "list", "--json"],
        vec!["hosts", "show", "web-2"],
        vec!["hosts", "show", "web-1", "--json"],
        vec!["hosts", "show", "nosuch"],
        vec!["hosts", "status"],
        vec!["blockers", "kinds"],
        vec!["blockers", "kinds", "--json"],
        vec!["blockers", "list"],
        vec!["blockers", "list", "--all"],
        vec!["blockers", "list", "--all", "--board"],
        vec!["blockers", "list", "--all", "--json"],
        vec!["blockers", "show", "1"],
        vec!["blockers", "show", "2", "--json"],
        vec!["blockers", "show", "99"],
        vec!["ops", "list"],
        vec!["ops", "rejections"],
        vec!["ops", "rejections", "--json", "--limit", "5"],
        vec!["ops", "show", &op, "--envelope"],
        vec!["ops", "show", &held, "--json"],
        vec!["policy", "explain", &held],
        vec!["policy", "explain", &op, "--json"],
        vec!["plan", "pkg-upgrade", "-t", "web-*", "-p", "version=2.0"],
        vec![
            "plan",
            "pkg-upgrade",
            "-t",
            "tag:canary",
            "-p",
            "version=3.0",
            "--json",
        ],
        vec!["rollout", "list"],
        vec!["rollout", "list", "--json"],
        vec!["rollout", "status", "pkg"],
        vec!["rollout", "status", "pkg", "--json"],
        vec!["runbook", "validate"],
    ];
    for args in &reads {
        let here = run(&lab, None, None, args);
        for (via, remote) in [
            ("the socket", run(&lab, Some(&unix), None, args)),
            ("TCP", run(&lab, Some(&tcp), Some("alice"), args)),
        ] {
            assert_eq!(
                here.status.code(),
                remote.status.code(),
                "{args:?} over {via}: {here:?} vs {remote:?}"
            );
            assert_eq!(
                String::from_utf8_lossy(&here.stdout),
                String::from_utf8_lossy(&remote.stdout),
                "{args:?} over {via}"
            );
        }
    }
    // Not the same bytes, the same op: the approver's view of it, its plan
    // checked against its digest here.
    let shown = run(&lab, Some(&unix), None, &["ops", "show", &op]);
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains(&op) && text.contains("echo"), "{text}");
    // The daemon's own work stays the daemon's.
    for args in [&["work", "--until-idle"][..], &["remind"][..]] {
        let o = run(&lab, Some(&unix), None, args);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("the daemon at"),
            "{o:?}"
        );
    }
}

#[test]
fn blockers_adoption_snoozes_and_aborts_are_signed_here() {
    let lab = Lab::new_with(|lab| {
        lab.write("runbooks/install-pkg.toml", INSTALL);
        lab.write("rollouts/pkg.toml", PKG);
    });
    let d = daemon(&lab);
    let unix = url(&d.unix);
    let remote = |args: &[&str]| run(&lab, Some(&unix), None, args);

    // A blocker filed through the daemon, by alice's key here.
    let o = remote(&[
        "blockers",
        "file",
        "host-drifted",
        "web-2",
        "--reason",
        "disk",
        "--as",
        "alice",
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let id = json(&o)["id"].as_u64().unwrap();
    let b = lab.json(&["blockers", "show", &id.to_string(), "--json"]);
    assert_eq!(b["filed_by"], "alice", "{b}");
    // claude may not resolve it; alice may.
    let o = remote(&["blockers", "resolve", &id.to_string(), "--as", "claude"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = remote(&[
        "blockers",
        "resolve",
        &id.to_string(),
        "--how",
        "done",
        "--as",
        "alice",
    ]);
    assert!(o.status.success(), "{o:?}");
    let b = lab.json(&["blockers", "show", &id.to_string(), "--json"]);
    assert_eq!(b["resolved_by"], "alice", "{b}");

    // An op's reminders snoozed through the daemon, by its prefix.
    let op = common::jti(&common::submit(
        &lab,
        "claude",
        "pkg-upgrade",
        "web-1",
        &["version=2.0"],
    ));
    let o = remote(&["snooze", &op[..10], "--for", "2h", "--as", "alice"]);
    assert!(o.status.success(), "{o:?}");

    // Adoption: a new host written in the daemon's workspace, proposed by
    // alice and approved by bob, both through the daemon.
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &format!("{hosts}\n[[host]]\nname = \"web-9\"\ntags = [\"web\"]\n"),
    );
    // An agent proposes nothing.
    let o = remote(&["adopt", "--as", "claude", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(json(&o)["check"], "approver_role", "{o:?}");
    let st = lab.json(&["status", "--json"]);
    assert_eq!(
        st["open_proposals"],
        serde_json::json!([]),
        "nothing proposed: {st}"
    );
    let o = remote(&["adopt", "--as", "alice", "--yes", "--json"]);
    assert!(o.status.success(), "{o:?}");
    let p = json(&o);
    assert_eq!(p["adopted"], false, "{p}");
    assert_eq!(
        (p["approvals"].as_u64(), p["needed"].as_u64()),
        (Some(1), Some(2)),
        "{p}"
    );
    let pid = p["proposal"].as_str().unwrap().to_string();
    let listed = lab.json(&["hosts", "list", "--json"]);
    assert!(
        !listed.to_string().contains("web-9"),
        "not yet in force: {listed}"
    );
    // bob's approval, through the daemon, by a prefix: adopted.
    let o = remote(&[
        "adopt",
        "--approve",
        &pid[..20],
        "--as",
        "bob",
        "--yes",
        "-q",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), pid);
    let listed = lab.json(&["hosts", "list", "--json"]);
    assert!(listed.to_string().contains("web-9"), "in force: {listed}");
    // Nothing differs now: said as embedded says it.
    let o = remote(&["adopt", "--as", "alice", "--yes"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        lab.ok(&["adopt", "--as", "alice", "--yes"])
    );

    // A rollout aborted through the daemon.
    lab.ok(&["rollout", "start", "pkg", "--as", "alice"]);
    let o = remote(&[
        "rollout", "abort", "pkg", "--why", "enough", "--as", "claude",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = remote(&["rollout", "abort", "pkg", "--why", "enough", "--as", "bob"]);
    assert!(o.status.success(), "{o:?}");
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["phase"], "aborted", "{st}");
}
