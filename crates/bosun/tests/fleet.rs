//! Fleet through the real binary: the built-in blocker table, row by row
//! (each kind halts exactly what it says and nothing else), infra hosts'
//! opt-in, wake commands and the last good inventory. Rollouts are in
//! `rollout.rs`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn verb_runbooks(lab: &Lab) {
    for verb in ["install", "build", "promote", "sign"] {
        lab.write(
            &format!("runbooks/{verb}.toml"),
            &format!(
                r#"
id = "{verb}"
verb = "{verb}"
[params.patches]
type = "string"
default = ""
[params.build_host]
type = "string"
default = ""
[[steps]]
id = "do"
cmd = "echo {verb} > {verb}.done"
"#
            ),
        );
    }
}

/// Submits as alice, approves as bob; returns the jti.
fn op(lab: &Lab, runbook: &str, target: &str, params: &[&str]) -> String {
    let mut args = vec![
        "submit", runbook, "--target", target, "--as", "alice", "--json",
    ];
    for p in params {
        args.extend(["--param", p]);
    }
    let s = lab.json(&args);
    let jti = s["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "bob"]);
    jti
}

type OpSpec = (&'static str, &'static str, &'static [&'static str]);

/// One row of the seed's table: a blocker of `kind` on `subject` holds
/// `held` and none of `free`; once resolved, the held op runs.
fn row(kind: &str, subject: &str, held: OpSpec, free: &[OpSpec]) {
    let lab = Lab::new();
    verb_runbooks(&lab);
    let filed = lab.json(&[
        "blockers", "file", kind, subject, "--reason", "test", "--as", "alice", "--json",
    ]);
    let id = filed["id"].as_u64().unwrap().to_string();
    let h = op(&lab, held.0, held.1, held.2);
    let f: Vec<String> = free.iter().map(|o| op(&lab, o.0, o.1, o.2)).collect();
    let work = lab.work();
    assert_eq!(
        lab.state(&h),
        "approved",
        "{kind} on {subject} must hold {held:?}: {work}"
    );
    let shown = lab.ok(&["ops", "show", &h]);
    assert!(
        shown.contains(&format!("held by   blocker {id} ({kind}")),
        "the held op says which blocker holds it: {shown} {work}"
    );
    for (j, o) in f.iter().zip(free) {
        assert_eq!(
            lab.state(j),
            "succeeded",
            "{kind} on {subject} must not hold {o:?}: {work}"
        );
    }
    let list = lab.json(&["blockers", "list", "--json"]);
    let b = &list[0];
    for field in ["kind", "subject", "halts", "since", "owner"] {
        assert!(
            !b[field].is_null(),
            "blockers list --json has `{field}`: {b}"
        );
    }
    // Agents cannot resolve blockers.
    assert!(
        !lab.run(&["blockers", "resolve", &id, "--as", "claude"])
            .status
            .success()
    );
    lab.ok(&["blockers", "resolve", &id, "--as", "bob", "--how", "fixed"]);
    lab.work();
    assert_eq!(
        lab.state(&h),
        "succeeded",
        "resolving {kind} releases what it held"
    );
}

#[test]
fn row_patch_fail_halts_only_that_patchs_promotes() {
    row(
        "patch-fail",
        "p1",
        ("promote", "web-1", &["patches=p0,p1"]),
        &[
            ("promote", "web-1", &["patches=p2"]),
            ("install", "web-1", &["patches=p1"]),
        ],
    );
}

#[test]
fn row_campaign_conflict_halts_those_patches() {
    row(
        "campaign-conflict",
        "p1,p2",
        ("promote", "web-2", &["patches=p2"]),
        &[
            ("promote", "web-2", &["patches=p3"]),
            ("build", "web-2", &["patches=p1"]),
        ],
    );
}

#[test]
fn row_host_drifted_halts_installs_to_that_host_builds_ok() {
    row(
        "host-drifted",
        "web-1",
        ("install", "web-1", &[]),
        &[("install", "web-2", &[]), ("build", "web-1", &[])],
    );
}

#[test]
fn row_build_fail_halts_builds_routing_to_that_build_host() {
    row(
        "build-fail",
        "web-1",
        ("build", "web-2", &["build_host=web-1"]),
        &[
            ("build", "web-2", &["build_host=web-2"]),
            ("install", "web-1", &[]),
        ],
    );
}

#[test]
fn row_bootstrap_missing_halts_builds_for_that_build_host() {
    row(
        "bootstrap-missing",
        "web-2",
        ("build", "web-2", &[]),
        &[("build", "web-1", &[]), ("install", "web-2", &[])],
    );
}

#[test]
fn row_host_changed_halts_builds_to_that_host() {
    row(
        "host-changed",
        "web-1",
        ("build", "web-1", &["build_host=web-2"]),
        &[("build", "web-2", &[]), ("install", "web-1", &[])],
    );
}

#[test]
fn row_signing_fail_halts_every_build() {
    row(
        "signing-fail",
        "",
        ("build", "web-2", &[]),
        &[("install", "web-1", &[]), ("promote", "web-2", &[])],
    );
}

#[test]
fn row_regression_halts_installs_to_that_host() {
    row(
        "regression",
        "web-2",
        ("install", "web-2", &[]),
        &[("install", "web-1", &[]), ("build", "web-2", &[])],
    );
}

#[test]
fn blocker_kinds_default_to_the_seed_table_and_bad_files_change_nothing() {
    let lab = Lab::new();
    let k = lab.json(&["blockers", "kinds", "--json"]);
    assert_eq!(k["kinds"].as_array().unwrap().len(), 8);
    // A malformed blockers.toml is refused with file:line at adoption; the
    // kinds in force stay the seed's.
    lab.write(
        "policy/blockers.toml",
        "[[kind]]\nname = \"x\"\nhalts = [\"instal\"]\nscope = \"host\"\ndescription = \"d\"\n",
    );
    let o = lab.run(&["adopt", "--yes", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("policy/blockers.toml:3:"), "{err}");
    assert_eq!(
        lab.json(&["blockers", "kinds", "--json"])["kinds"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // An unknown kind cannot be filed.
    assert!(
        !lab.run(&[
            "blockers", "file", "nope", "web-1", "--reason", "r", "--as", "alice"
        ])
        .status
        .success()
    );
}

#[test]
fn infra_hosts_need_a_per_runbook_opt_in() {
    let lab = Lab::new();
    verb_runbooks(&lab);
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &format!(
            "{hosts}\n[[host]]\nname = \"nas\"\ntransport = \"local\"\ninfra = true\nroot = \".bosun/sim/nas\"\nrunbooks = [\"build\"]\n"
        ),
    );
    lab.adopt();
    let r = lab.refused(&[
        "submit", "install", "--target", "nas", "--as", "alice", "--json",
    ]);
    assert_eq!(r["check"], "scope", "{r}");
    assert!(r["message"].as_str().unwrap().contains("opted in"), "{r}");
    lab.ok(&[
        "submit", "build", "--target", "nas", "--as", "alice", "--json",
    ]);
}

#[test]
fn misspelt_verbs_and_unknown_blocker_subjects_are_refused() {
    let lab = Lab::new();
    lab.write(
        "runbooks/typo.toml",
        "id = \"typo\"\nverb = \"instal\"\n[[steps]]\nid = \"s\"\ncmd = \"true\"\n",
    );
    let o = lab.run(&["runbook", "validate", "typo"]);
    assert!(!o.status.success());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("typo.toml:2:"), "{out}");
    let o = lab.run(&[
        "blockers",
        "file",
        "host-drifted",
        "web-9",
        "--reason",
        "r",
        "--as",
        "alice",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("web-9"));
}

#[test]
fn a_host_with_a_wake_command_is_woken_before_its_first_step() {
    let lab = Lab::new();
    verb_runbooks(&lab);
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &format!(
            "{hosts}\n[[host]]\nname = \"sleepy\"\ntransport = \"local\"\nroot = \".bosun/sim/sleepy\"\nwake = \"echo woken >> woke-sleepy\"\nbuilds = [\"aarch64\"]\n\n[[host]]\nname = \"comatose\"\ntransport = \"local\"\nroot = \".bosun/sim/comatose\"\nwake = \"exit 7\"\n"
        ),
    );
    lab.adopt();
    let a = op(&lab, "install", "sleepy", &[]);
    let b = op(&lab, "install", "comatose", &[]);
    lab.work();
    assert_eq!(lab.state(&a), "succeeded");
    assert_eq!(
        std::fs::read_to_string(lab.path("woke-sleepy")).unwrap(),
        "woken\n",
        "woken once, on the control host"
    );
    assert_eq!(lab.state(&b), "failed");
    let show = lab.json(&["ops", "show", &b, "--json"]);
    assert!(
        show["steps"][0]["output"]
            .as_str()
            .unwrap()
            .contains("could not wake"),
        "{show}"
    );
}

/// A malformed inventory is refused with file:line where it is read for
/// the first time, and afterwards the last one that parsed stays in force:
/// approvals and the controller keep working, and say why.
#[test]
fn a_malformed_inventory_leaves_the_last_good_one_in_force() {
    let lab = Lab::new();
    verb_runbooks(&lab);
    let s = lab.json(&[
        "submit", "install", "--target", "web-1", "--as", "alice", "--json",
    ]);
    let jti = s["jti"].as_str().unwrap().to_string();
    let good = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &format!("{good}\n[[host]]\nname = \"web-1\"\n"),
    );
    // New submissions that read the file say where it is wrong…
    let st = lab.run(&["status"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(out.contains("fleet/hosts.toml:"), "{out}");
    // … while the approval and the run use the adopted inventory.
    lab.ok(&["approve", "--yes", &jti, "--as", "bob"]);
    if common::remote_mode() {
        // The daemon's controller warns in its own log.
        lab.work();
    } else {
        let o = lab.run(&["work", "--until-idle"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("the adopted inventory is in force"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(lab.state(&jti), "succeeded");
}
