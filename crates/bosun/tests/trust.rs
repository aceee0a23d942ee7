//! The trust boundary (DESIGN §3a), attacked as an agent would: with its
//! own key, the CLI, a text editor on the workspace and `sqlite3` on the
//! database. Each attack must be refused with a named check and leave no
//! side effect (a marker file the injected command would create must not
//! exist).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn submit(lab: &Lab, who: &str, runbook: &str, target: &str, params: &[&str]) -> serde_json::Value {
    let mut args = vec!["submit", runbook, "--as", who, "--json", "--target", target];
    for p in params {
        args.extend(["--param", p]);
    }
    lab.json(&args)
}

fn jti(v: &serde_json::Value) -> String {
    v["jti"].as_str().unwrap().to_string()
}

fn show(lab: &Lab, jti: &str) -> serde_json::Value {
    lab.json(&["ops", "show", jti, "--json"])
}

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
        lab.ok(&["work", "--until-idle"]);
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
    lab.ok(&["work", "--until-idle"]);
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
    lab.ok(&["work", "--until-idle"]);
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
    // After the approval, the agent points web-1 elsewhere and adds a wake
    // command that runs on the control host.
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
    lab.ok(&["work", "--until-idle"]);
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
    let cases: [(&str, Edit); 3] = [
        (
            "lifetime",
            Box::new(move |c| c["exp"] = (now + 10 * 365 * 86_400).into()),
        ),
        ("iat", Box::new(|c| c["iat"] = (-1).into())),
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
    lab.ok(&["work", "--until-idle"]);
    let op = show(&lab, &j);
    assert_eq!(op["state"], "pending_approval", "{op}");
    assert!(
        op["detail"].as_str().unwrap().contains("approvals_lapsed"),
        "{op}"
    );
    assert!(!lab.path(".bosun/sim/web-1/pkgs").exists());
    // A fresh approval lets it run.
    lab.ok(&["approve", "--yes", &j, "--as", "bob"]);
    lab.ok(&["work", "--until-idle"]);
    assert_eq!(lab.state(&j), "succeeded");
}
