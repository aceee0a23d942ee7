//! The kernel verbs that change the tree, a campaign or the build jobs
//! without an op, as signed statements (issue 17): here with `--as`,
//! through the daemon (`POST /api/v1/kernel/changes`) and MCP; what an
//! agent may (import, keep, pause pruning) and may not (abandon, migrate,
//! resume pruning) with its own key; an import whose bytes are not those
//! it signed; and `patches check` against the daemon's configured
//! baseline checkout.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kernel::*;

const PATCH: &str = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";

const LINUX: &str = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git";

fn ledger_entries(lab: &common::Lab, kind: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    db.prepare("SELECT entry FROM ledger")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap()).unwrap())
        .filter(|e| e.contains(kind))
        .collect()
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {o:?}");
}

#[test]
fn an_agent_imports_and_pauses_with_its_own_key_but_cannot_abandon_migrate_or_resume() {
    if common::remote_mode() {
        return;
    }
    let (lab, _bin) = kernel_lab(THREE, "");
    let file = lab.tmp.path().join("0001-x.patch");
    std::fs::write(&file, PATCH).unwrap();
    let f = file.to_str().unwrap();

    // The agent imports with its own key: written, signed, in the ledger
    // with the file's digest (the statement names no path of its machine).
    let v = lab.json(&[
        "patches",
        "import",
        "wifi",
        f,
        "--to",
        "driver/bes2600",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(v["by"], "claude", "{v}");
    assert_eq!(
        v["paths"],
        serde_json::json!(["patches/driver/bes2600/wifi/0001-x.patch"])
    );
    let e = ledger_entries(&lab, "kernel.patches_import");
    assert_eq!(e.len(), 1, "{e:?}");
    // A symlink planted where an import used to write its temporary file
    // is never written through (a temporary file is made new, under a
    // name of its own; the tree reader refuses the link until it goes).
    let victim = lab.tmp.path().join("victim");
    std::fs::write(&victim, "mine\n").unwrap();
    let second = lab.tmp.path().join("0002-x.patch");
    std::fs::write(&second, PATCH.replace("+b", "+c")).unwrap();
    std::os::unix::fs::symlink(
        &victim,
        lab.path("patches/driver/bes2600/wifi/.0002-x.patch.tmp"),
    )
    .unwrap();
    lab.ok(&[
        "patches",
        "import",
        "wifi",
        second.to_str().unwrap(),
        "--to",
        "driver/bes2600",
        "--as",
        "claude",
    ]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine\n");
    let o = lab.run(&["patches", "promote", "fresnel"]);
    assert!(text(&o).contains("a symlink"), "{}", text(&o));
    std::fs::remove_file(lab.path("patches/driver/bes2600/wifi/.0002-x.patch.tmp")).unwrap();
    assert_eq!(
        std::fs::read_to_string(lab.path("patches/driver/bes2600/wifi/0002-x.patch")).unwrap(),
        PATCH.replace("+b", "+c")
    );
    assert!(e[0].contains(&b2sum(&file)), "{}", e[0]);
    assert!(!e[0].contains(lab.tmp.path().to_str().unwrap()), "{}", e[0]);

    // What reshapes the tree is an operator's: refused (exit 3, the role
    // check), nothing moved or deleted, the refusal recorded.
    let before = lab.path("patches/board/pinebook-pro/fresnel-fourier");
    for args in [
        vec![
            "campaign",
            "abandon",
            "fresnel-fourier",
            "--purge-from-fleet",
            "--as",
            "claude",
        ],
        vec![
            "patches",
            "migrate-tree",
            "--from",
            "board/pinebook-pro",
            "--to",
            "board/pbp",
            "--as",
            "claude",
        ],
        vec![
            "campaign", "close", "wifi", "--status", "success", "--as", "claude",
        ],
    ] {
        let o = lab.run(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("policy lets no agent"), "{}", text(&o));
    }
    assert!(before.join("patchset.toml").exists());
    assert!(!lab.path("patches/board/pbp").exists());
    assert!(!lab.path("campaigns/wifi.toml").exists());
    let rej = lab.json(&["ops", "rejections", "--json"]);
    assert!(rej.to_string().contains("campaign_abandon"), "{rej}");

    // Pausing pruning holds files: any role. Resuming lets deletion go on:
    // an operator's. A resume names the pause it lifts.
    lab.ok(&["kernel", "prune", "--pause", "--as", "claude"]);
    let o = lab.run(&["kernel", "prune", "--resume", "--as", "claude"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["paused"], true, "{p}");
    let jobs = lab.json(&["kernel", "jobs", "--json"]);
    assert!(jobs["prune_paused_since"].is_i64(), "{jobs}");
    lab.ok(&["kernel", "prune", "--resume", "--as", "alice"]);
    let o = lab.run(&["kernel", "prune", "--resume", "--as", "alice"]);
    assert_eq!(o.status.code(), Some(3), "not paused: {}", text(&o));
    assert!(text(&o).contains("not paused"), "{}", text(&o));
    // A keep of a job that does not exist is refused, naming it.
    let o = lab.run(&["kernel", "keep", "ohm-1-nope", "--as", "claude"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("no build job `ohm-1-nope`"),
        "{}",
        text(&o)
    );

    // The operator closes and abandons, signed and recorded.
    let v = lab.json(&[
        "campaign",
        "close",
        "wifi",
        "--status",
        "upstreamed",
        "--as",
        "alice",
        "--json",
    ]);
    assert_eq!(
        v["paths"],
        serde_json::json!(["campaigns/wifi.toml"]),
        "{v}"
    );
    let v = lab.json(&[
        "campaign",
        "abandon",
        "fresnel-fourier",
        "--keep-as-archive",
        "--as",
        "alice",
        "--json",
    ]);
    // fresnel takes the scope, not the patchset by name: no manifest
    // names it to rewrite.
    assert_eq!(v["manifests"], serde_json::json!([]), "{v}");
    assert!(
        lab.path("archive/patches/board/pinebook-pro/fresnel-fourier")
            .exists()
    );
    assert_eq!(ledger_entries(&lab, "kernel.campaign_abandon").len(), 1);
}

#[test]
fn the_tree_verbs_and_the_check_go_through_the_daemon_and_mcp() {
    if common::remote_mode() {
        return;
    }
    // The daemon's checkout of the baseline: a real git repository at the
    // manifest's ref, where the example's board patches do not apply.
    let base = tempfile::tempdir().unwrap();
    git(base.path(), &["init", "-q"]);
    std::fs::write(base.path().join("README"), "linux\n").unwrap();
    git(base.path(), &["add", "README"]);
    git(base.path(), &["commit", "-q", "-m", "base"]);
    git(base.path(), &["tag", "v7.0"]);
    let cfg = format!(
        "[kernel.baselines]\n\"{LINUX}\" = \"{}\"\n",
        base.path().display()
    );
    let (lab, _bin) = kernel_lab(THREE, &cfg);
    let d = common::api::daemon(&lab);
    let url = common::api::url(&d.unix);
    let remote = |args: &[&str]| lab.cmd(args).env("BOSUN_URL", &url).output().unwrap();
    let file = lab.tmp.path().join("0001-y.patch");
    std::fs::write(&file, PATCH.replace('x', "y")).unwrap();
    let f = file.to_str().unwrap();

    // Under BOSUN_URL the change is signed or not made.
    let o = remote(&["patches", "import", "wifi", f, "--to", "driver/bes2600"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--as"), "{}", text(&o));
    assert!(!lab.path("patches/driver/bes2600/wifi").exists());
    let o = remote(&[
        "patches",
        "import",
        "wifi",
        f,
        "--to",
        "driver/bes2600",
        "--as",
        "claude",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        lab.path("patches/driver/bes2600/wifi/0001-y.patch")
            .exists()
    );
    let o = remote(&[
        "campaign",
        "abandon",
        "wifi",
        "--purge-from-fleet",
        "--as",
        "claude",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        lab.path("patches/driver/bes2600/wifi/0001-y.patch")
            .exists()
    );

    // An agent that signs one file and sends other bytes: refused by the
    // claims check, nothing written.
    let ws = bosun_workspace::Workspace::open(&lab.ws).unwrap();
    let keys = bosun_sign::KeyDir::new(&lab.keys);
    let who = bosun_model::KeyId::parse("claude").unwrap();
    let key = bosun_control::client::load_secret(&keys, &who).unwrap();
    let signing = bosun_control::client::Signing {
        key: &key,
        iss: &who,
        ws: &ws.config.name,
        ttl_secs: 60,
        now: bosun_control::now(),
    };
    let signed = vec![("0002-z.patch".to_string(), PATCH.as_bytes().to_vec())];
    let act = bosun_control::kernel_acts::import_act("wifi", "driver/bes2600", &signed);
    let env = signing.statement(act).unwrap();
    let swapped = vec![(
        "0002-z.patch".to_string(),
        PATCH.replace("+b", "+evil").into_bytes(),
    )];
    let body = bosun_control::kernel_acts::change_body(&env, &swapped);
    let a = common::http::post(&d.unix, "/api/v1/kernel/changes", &body.to_string());
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.check(), "claims", "{}", a.body);
    assert!(
        !lab.path("patches/driver/bes2600/wifi/0002-z.patch")
            .exists()
    );
    // The same statement with the bytes it names goes in.
    let body = bosun_control::kernel_acts::change_body(&env, &signed);
    let a = common::http::post(&d.unix, "/api/v1/kernel/changes", &body.to_string());
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        lab.path("patches/driver/bes2600/wifi/0002-z.patch")
            .exists()
    );

    // The operator closes the campaign through the daemon; keep and prune
    // go through it too (its state, not this CLI's).
    let o = remote(&[
        "campaign", "close", "wifi", "--status", "success", "--as", "alice",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(lab.path("campaigns/wifi.toml").exists());
    let o = remote(&["kernel", "prune", "--pause", "--as", "claude"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(lab.path(".bosun/kernel/prune.paused").exists());
    let o = remote(&["kernel", "prune", "--resume", "--as", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!lab.path(".bosun/kernel/prune.paused").exists());

    // The check applies to the daemon's own checkout; a client names no
    // directory of the daemon's.
    let o = remote(&["patches", "check", "fresnel", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checkout"], base.path().to_str().unwrap(), "{v}");
    assert!(
        v["failed"]["patch"]
            .as_str()
            .unwrap()
            .starts_with("patches/board/pinebook-pro/fresnel-fourier/0001-"),
        "{v}"
    );
    let o = remote(&["patches", "check", "fresnel", "--baseline", "/etc"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("[kernel.baselines]"), "{}", text(&o));

    // An agent over MCP (through the daemon) imports and checks alike.
    let mcp = common::mcp::Mcp::stdio_with(&lab, "claude", &[("BOSUN_URL", url.as_str())]);
    let c = mcp.ok("kernel_check", serde_json::json!({"host": "fresnel"}));
    assert_eq!(c["result"]["failed"], v["failed"], "{c}");
    let r = mcp.refused(
        "patches_import",
        serde_json::json!({"campaign": "wifi", "scope": "driver/bes2600",
            "files": [{"name": "0003-w.patch", "text": PATCH.replace('x', "w")}]}),
    );
    assert!(r.to_string().contains("closed"), "{r}");
    // Each file by a plain name, once: a path or a name given twice is
    // refused before anything is written.
    for files in [
        serde_json::json!([{"name": "../../0001-w.patch", "text": PATCH}]),
        serde_json::json!([{"name": "0001-w.patch", "text": PATCH},
            {"name": "0001-w.patch", "text": PATCH.replace("+b", "+c")}]),
    ] {
        let r = mcp.refused(
            "patches_import",
            serde_json::json!({"campaign": "wifi-2", "scope": "driver/bes2600", "files": files}),
        );
        assert_eq!(r["check"], "claims", "{r}");
    }
    assert!(!lab.path("patches/driver/bes2600/wifi-2").exists());
    let i = mcp.ok(
        "patches_import",
        serde_json::json!({"campaign": "wifi-2", "scope": "driver/bes2600",
            "files": [{"name": "0001-w.patch", "text": PATCH.replace('x', "w")}]}),
    );
    assert_eq!(i["result"]["by"], "claude", "{i}");
    assert!(
        lab.path("patches/driver/bes2600/wifi-2/0001-w.patch")
            .exists()
    );
    mcp.stop();

    // An operator's abandon names the patchsets it saw: one an agent
    // retags into the campaign after that is not taken with the rest.
    let a = common::http::get(&d.unix, "/api/v1/kernel/campaigns/fresnel-fourier", None);
    assert_eq!(a.status, 200, "{}", a.body);
    let seen: Vec<String> = serde_json::from_value(a.json()["patchsets"].clone()).unwrap();
    assert_eq!(seen, ["board/pinebook-pro/fresnel-fourier"]);
    let alice = bosun_model::KeyId::parse("alice").unwrap();
    let key = bosun_control::client::load_secret(&keys, &alice).unwrap();
    let env = bosun_control::client::Signing {
        key: &key,
        iss: &alice,
        ws: &ws.config.name,
        ttl_secs: 60,
        now: bosun_control::now(),
    }
    .statement(bosun_model::Act::CampaignAbandon {
        campaign: "fresnel-fourier".into(),
        keep_as_archive: false,
        patchsets: seen,
    })
    .unwrap();
    let mine = "patches/driver/bes2600/wifi-2/patchset.toml";
    lab.write(mine, "campaign = \"fresnel-fourier\"\n");
    let body = bosun_control::kernel_acts::change_body(&env, &[]).to_string();
    let a = common::http::post(&d.unix, "/api/v1/kernel/changes", &body);
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body.contains("changed since they were looked at"),
        "{}",
        a.body
    );
    assert!(
        lab.path("patches/board/pinebook-pro/fresnel-fourier")
            .exists()
    );
    assert!(
        lab.path("patches/driver/bes2600/wifi-2/0001-w.patch")
            .exists()
    );
    // As it was seen, it goes: the campaign purged, the other kept.
    lab.write(mine, "campaign = \"wifi-2\"\n");
    let a = common::http::post(&d.unix, "/api/v1/kernel/changes", &body);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        !lab.path("patches/board/pinebook-pro/fresnel-fourier")
            .exists()
    );
    assert!(
        lab.path("patches/driver/bes2600/wifi-2/0001-w.patch")
            .exists()
    );
    drop(d);
    assert_eq!(ledger_entries(&lab, "kernel.patches_import").len(), 3);
}

#[test]
fn the_daemon_releases_an_idle_on_demand_build_host_by_itself() {
    if common::remote_mode() {
        return;
    }
    let (lab, _bin) = kernel_lab(THREE, "");
    // ampere was woken for a build long ago (idle_release = "1s").
    lab.write(".bosun/sim/ampere/awake", "");
    lab.write(
        ".bosun/kernel/builders.toml",
        "[host.ampere]\nlast_used = 1\n",
    );
    let d = common::api::daemon(&lab);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lab.path(".bosun/sim/ampere/awake").exists() {
        assert!(std::time::Instant::now() < end, "ampere was not released");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(d);
    let b = std::fs::read_to_string(lab.path(".bosun/kernel/builders.toml")).unwrap();
    assert!(!b.contains("ampere"), "{b}");
    let e = ledger_entries(&lab, "kernel.prune");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("\"daemon\"") && e[0].contains("ampere"),
        "{}",
        e[0]
    );
}
