//! The trust boundary (DESIGN §3a), attacked through the governed files:
//! an agent with an editor on the inventory, the rollouts, an ssh_config
//! file or an unreadable file in the workspace. Each edit changes nothing
//! until operators adopt it. The other attacks are in `trust.rs`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// `fleet/hosts.toml` with `edit` applied to web-1's table.
fn edit_web1(lab: &Lab, edit: &str) {
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    let anchor = "root = \".bosun/sim/web-1\"";
    assert!(hosts.contains(anchor));
    lab.write(
        "fleet/hosts.toml",
        &hosts.replace(anchor, &format!("{anchor}\n{edit}")),
    );
}

fn drift(lab: &Lab) -> String {
    lab.json(&["status", "--json"])["drift"].to_string()
}

#[test]
fn an_edited_inventory_changes_nothing_until_adopted() {
    let lab = Lab::new();
    let marker = lab.tmp.path().join("pwned");
    let m = marker.display();
    // A wake command (runs on the control host), then transport ssh with a
    // ProxyCommand (also runs on the control host).
    let web1 = "name = \"web-1\"\naddress = \"localhost\"\ntransport = \"local\"";
    for edit in [
        format!("{web1}\nwake = \"touch {m}\""),
        format!(
            "name = \"web-1\"\naddress = \"127.0.0.2\"\ntransport = \"ssh\"\nssh_options = [\"ProxyCommand=touch {m}\"]"
        ),
    ] {
        let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
        assert!(hosts.contains(web1));
        lab.write("fleet/hosts.toml", &hosts.replacen(web1, &edit, 1));
        assert!(
            drift(&lab).contains("differs from the adopted inventory"),
            "{}",
            drift(&lab)
        );
        let hl = lab.run(&["hosts", "list"]);
        assert!(String::from_utf8_lossy(&hl.stderr).contains("differs from the adopted inventory"));
        let s = submit(&lab, "claude", "disk-usage", "web-1", &[]);
        assert_eq!(s["decision"], "auto", "{s}");
        lab.work();
        assert_eq!(lab.state(&jti(&s)), "succeeded");
        let op = show(&lab, &jti(&s));
        assert!(
            op["steps"][0]["output"].as_str().unwrap().contains('.'),
            "ran on the adopted (local) host: {op}"
        );
        assert!(!marker.exists(), "{edit} ran");
        lab.write("fleet/hosts.toml", &hosts);
    }
    // The agent cannot adopt its own edit.
    edit_web1(&lab, &format!("wake = \"touch {m}\""));
    let r = lab.refused(&["adopt", "--yes", "--as", "claude", "--json"]);
    assert_eq!(r["check"], "approver_role", "{r}");
}

#[test]
fn infra_flags_and_tags_in_the_file_do_not_move_an_agents_scope() {
    let lab = Lab::new_with(|lab| {
        let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
        lab.write(
            "fleet/hosts.toml",
            &format!("{hosts}\n[[host]]\nname = \"nas\"\ntransport = \"local\"\nroot = \".bosun/sim/nas\"\ninfra = true\n"),
        );
        lab.ok(&[
            "key",
            "new",
            "sandboxed",
            "--role",
            "agent",
            "--scope",
            "tag:sandbox",
        ]);
    });
    // infra = false on the infra host …
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &hosts.replace("infra = true", "infra = false"),
    );
    let r = lab.refused(&[
        "submit",
        "disk-usage",
        "--target",
        "nas",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(r["check"], "scope", "{r}");
    // … and a tag that would put web-1 inside the agent's scope.
    edit_web1(&lab, "");
    let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    lab.write(
        "fleet/hosts.toml",
        &hosts.replacen("tags = [\"web\"]", "tags = [\"web\", \"sandbox\"]", 1),
    );
    let r = lab.refused(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "sandboxed",
        "--json",
    ]);
    assert_eq!(r["check"], "scope", "{r}");
    assert!(!lab.path(".bosun/sim/nas").exists());
}

#[test]
fn an_edited_rollout_runs_as_adopted_and_a_new_one_not_at_all() {
    let lab = Lab::new();
    let marker = lab.tmp.path().join("pwned");
    let r = std::fs::read_to_string(lab.path("rollouts/pkg-upgrade.toml")).unwrap();
    let bar = format!(
        "  {{ kind = \"probe\", cmd = \"touch {}\" }},\n",
        marker.display()
    );
    lab.write(
        "rollouts/pkg-upgrade.toml",
        &r.replacen(
            "  { kind = \"heartbeat\", within = \"30s\" },\n",
            &format!("  {{ kind = \"heartbeat\", within = \"30s\" }},\n{bar}"),
            1,
        ),
    );
    assert_ne!(
        std::fs::read_to_string(lab.path("rollouts/pkg-upgrade.toml")).unwrap(),
        r
    );
    assert!(
        drift(&lab).contains("rollouts/pkg-upgrade.toml differs"),
        "{}",
        drift(&lab)
    );
    let w0 = lab.json(&["rollout", "start", "pkg-upgrade", "--as", "alice", "--json"]);
    let j = jti(&w0);
    if lab.state(&j) == "pending_approval" {
        lab.ok(&["approve", "--yes", &j, "--as", "bob"]);
    }
    lab.work();
    assert_eq!(lab.state(&j), "succeeded");
    assert!(!marker.exists(), "the agent's bar ran");
    // A rollout file nobody adopted does not start.
    lab.write(
        "rollouts/mine.toml",
        &r.replace("id = \"pkg-upgrade\"", "id = \"mine\""),
    );
    let o = lab.run(&["rollout", "start", "mine", "--as", "alice"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not adopted"));
}

#[test]
fn each_kind_of_subject_has_its_own_quorum() {
    let lab = Lab::new_with(|lab| {
        let k = std::fs::read_to_string(lab.path("policy/keeper.toml")).unwrap();
        lab.write(
            "policy/keeper.toml",
            &k.replace(
                "# A quorum per kind of file",
                "[adoption.subjects]\ninventory = { m = 1, roles = [\"operator\"] }\n# A quorum per kind of file",
            ),
        );
    });
    // The inventory needs one operator …
    edit_web1(&lab, "user = \"ops\"");
    let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert_eq!(
        (p["needed"].as_u64(), p["adopted"].as_bool()),
        (Some(1), Some(true)),
        "{p}"
    );
    // … a runbook with it, the strictest, two.
    edit_web1(&lab, "port = 2222");
    let rb = std::fs::read_to_string(lab.path("runbooks/disk-usage.toml")).unwrap();
    lab.write("runbooks/disk-usage.toml", &rb.replace("du -sh", "du -s"));
    let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert_eq!(
        (p["needed"].as_u64(), p["adopted"].as_bool()),
        (Some(2), Some(false)),
        "{p}"
    );
}

#[test]
fn an_edited_ssh_config_file_is_never_read_until_adopted() {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "fleet/ssh_config",
            "Host box\n  HostName 127.0.0.1\n  Port 1\n",
        );
        let hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
        lab.write(
            "fleet/hosts.toml",
            &format!("{hosts}\n[[host]]\nname = \"box\"\naddress = \"box\"\ntransport = \"ssh\"\nssh_config = \"fleet/ssh_config\"\n"),
        );
    });
    let marker = lab.tmp.path().join("pwned");
    lab.write(
        "fleet/ssh_config",
        &format!(
            "Host box\n  HostName 127.0.0.1\n  Port 1\n  ProxyCommand sh -c 'touch {}'\n",
            marker.display()
        ),
    );
    assert!(
        drift(&lab).contains("ssh_config file it names"),
        "{}",
        drift(&lab)
    );
    let s = submit(&lab, "claude", "disk-usage", "box", &[]);
    assert_eq!(s["decision"], "auto", "{s}");
    lab.work();
    // ssh read the adopted copy (port 1: nothing listens), never the file.
    let op = show(&lab, &jti(&s));
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        op["steps"][0]["output"]
            .as_str()
            .unwrap()
            .contains("port 1"),
        "{op}"
    );
    assert!(!marker.exists(), "the edited ssh_config's ProxyCommand ran");
    // The adoption shows the file's new content, line by line.
    let o = lab.run(&["adopt", "--as", "alice"]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(shown.contains("+#|   ProxyCommand sh -c"), "{shown}");
}

#[test]
fn an_unreadable_file_in_the_workspace_stops_nothing() {
    let lab = Lab::new();
    let fifo = lab.path("runbooks/zz.toml");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    lab.write("rollouts/big.toml", &"#".repeat(2 << 20));
    let d = drift(&lab);
    assert!(d.contains("runbooks/") && d.contains("rollouts/"), "{d}");
    let s = submit(&lab, "claude", "disk-usage", "web-1", &[]);
    assert_eq!(s["decision"], "auto", "{s}");
    lab.work();
    assert_eq!(lab.state(&jti(&s)), "succeeded");
}

#[test]
fn proposing_without_consent_signs_nothing() {
    let lab = Lab::new();
    edit_web1(&lab, "user = \"ops\"");
    let o = lab.run(&["adopt", "--as", "alice"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--yes"), "{err}");
    // The diff was shown, and no proposal was made.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("user = \"ops\"")
            || err.contains("user = \"ops\"")
    );
    let st = lab.json(&["status", "--json"]);
    assert!(
        drift(&lab).contains("differs from the adopted inventory"),
        "{st}"
    );
    let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert_eq!(
        p["adopted"], false,
        "a fresh proposal, waiting for bob: {p}"
    );
}
