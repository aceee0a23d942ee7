//! The kernel lifecycle around the build: the promote as an op (it writes
//! only the lock it names; patch blockers hold it), campaigns (a conflict
//! files one blocker; close), the reads through the daemon and MCP, and
//! `bosun demo kernel` from import to a verified install.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kernel::*;

#[test]
fn campaign_close_records_the_closure_and_refuses_imports_and_abandon() {
    if common::remote_mode() {
        return;
    }
    let (lab, _bin) = kernel_lab(THREE, "");
    let o = lab.run(&["campaign", "close", "fresnel-fourier"]);
    assert!(!o.status.success(), "--status is required");
    let out = lab.ok(&[
        "campaign",
        "close",
        "fresnel-fourier",
        "--status",
        "success",
    ]);
    assert!(out.contains("1 patchset(s) stay in the tree"), "{out}");
    let rec = std::fs::read_to_string(lab.path("campaigns/fresnel-fourier.toml")).unwrap();
    assert!(rec.contains("status = \"success\""), "{rec}");
    assert!(rec.contains("board/pinebook-pro/fresnel-fourier"), "{rec}");
    // Still promoted: closing keeps the patches in the fleet.
    let shown = lab.ok(&["patches", "promote", "fresnel"]);
    assert!(shown.contains("3 patch(es)"), "{shown}");
    for args in [
        vec![
            "campaign",
            "close",
            "fresnel-fourier",
            "--status",
            "success",
        ],
        vec![
            "campaign",
            "abandon",
            "fresnel-fourier",
            "--keep-as-archive",
        ],
        vec!["campaign", "close", "no-such", "--status", "success"],
    ] {
        let o = lab.run(&args);
        assert!(!o.status.success(), "{args:?}");
    }
    let patch = lab.path("../extra.patch");
    std::fs::copy(
        lab.path("patches/board/pinebook-pro/fresnel-fourier/0002-arm64-dts-rk3399-pinebook-pro-enable-hdmi-sound.patch"),
        &patch,
    )
    .unwrap();
    let o = lab.run(&[
        "patches",
        "import",
        "fresnel-fourier",
        patch.to_str().unwrap(),
        "--to",
        "board/pinebook-pro",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is closed"), "{}", text(&o));
}

#[test]
fn the_kernel_demo_walks_from_import_to_a_verified_install() {
    if common::remote_mode() {
        return;
    }
    let o = common::bin()
        .args(["demo", "kernel"])
        .env("NO_COLOR", "1")
        .env_remove("BOSUN_URL")
        .env_remove("BOSUN_WORKSPACE")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for said in [
        "board/pinebook-pro/fresnel-fourier: 3 written",
        "a patch without a scope is refused",
        "b2sum ",
        "boltzmann: pre-flight failed",
        "ampere: pre-flight passed (secondary)",
        "kernel-build: 1 steps",
        "published  on ampere",
        "waits for a human to install it",
        "submitted",
        "agents never approve",
        "[bar version: pass] `linux-fresnel-fourier 7.0+",
        "dtb_checks = /proc/device-tree/model == Pine64 Pinebook Pro",
        "probes = /sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq == 2184000",
        "installed linux-fresnel-fourier 7.0+",
        "Image-fresnel-fourier, initramfs-linux-fresnel-fourier.img",
    ] {
        assert!(t.contains(said), "missing {said:?}:\n{t}");
    }
}

#[test]
fn a_promote_op_writes_only_the_lock_it_names_and_a_patch_blocker_holds_it() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    let v = lab.json(&[
        "patches", "promote", "ohm", "--submit", "--as", "claude", "--json",
    ]);
    let jti = v["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    // The manifest moves after the approval (an adopted change): the op
    // writes nothing.
    let m = std::fs::read_to_string(lab.path("fleet/ohm.yaml")).unwrap();
    lab.write(
        "fleet/ohm.yaml",
        &m.replace("  - driver/bes2600/scan-filter-5ghz-danctnix\n", ""),
    );
    lab.adopt();
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(common::show(&lab, &jti)["state"], "failed", "{}", text(&o));
    assert!(
        text(&o).contains("the lock promote makes now has b2sum"),
        "{}",
        text(&o)
    );
    assert!(!lab.path("kernel/ohm/manifest.lock").exists());
    lab.write("fleet/ohm.yaml", &m);
    lab.adopt();

    // A patch-fail blocker on one of its patchsets holds the op.
    lab.ok(&[
        "blockers",
        "file",
        "patch-fail",
        "driver/bes2600/scan-filter-5ghz-danctnix",
        "--reason",
        "no longer applies on v6.19",
        "--as",
        "claude",
    ]);
    let v = lab.json(&[
        "patches", "promote", "ohm", "--submit", "--as", "claude", "--json",
    ]);
    let jti = v["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert!(text(&o).contains("patch-fail"), "{}", text(&o));
    assert_eq!(common::show(&lab, &jti)["state"], "approved");
    assert!(!lab.path("kernel/ohm/manifest.lock").exists());
}

#[test]
fn campaigns_touching_the_same_lines_file_one_campaign_conflict_blocker() {
    if common::remote_mode() {
        return;
    }
    let (lab, _bin) = kernel_lab(THREE, "");
    // Another campaign carries a change to the very lines danctnix's does.
    let from = lab.path("patches/driver/bes2600/scan-filter-5ghz-danctnix");
    let to = lab.path("patches/driver/bes2600/scan-filter-besser");
    copy_dir(&from, &to);
    std::fs::write(to.join("patchset.toml"), "campaign = \"besser\"\n").unwrap();
    let m = std::fs::read_to_string(lab.path("fleet/ohm.yaml")).unwrap();
    lab.write(
        "fleet/ohm.yaml",
        &m.replace(
            "include:\n",
            "include:\n  - driver/bes2600/scan-filter-besser\n",
        ),
    );
    lab.adopt();
    for _ in 0..2 {
        let o = lab.run(&["patches", "promote", "ohm", "--as", "claude"]);
        assert!(!o.status.success());
        assert!(text(&o).contains("campaign conflict"), "{}", text(&o));
    }
    let list = lab.ok(&["blockers", "list"]);
    assert_eq!(
        list.matches("campaign-conflict").count(),
        1,
        "filed once: {list}"
    );
    assert!(
        list.contains("driver/bes2600/scan-filter-5ghz-danctnix")
            || list.contains("driver/bes2600/scan-filter-besser"),
        "{list}"
    );
    // fresnel carries neither: its promote is not held.
    lab.ok(&["patches", "promote", "fresnel"]);
}

#[test]
fn the_kernel_reads_answer_alike_over_the_api_and_mcp_and_an_agent_proposes_a_promote() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    promote_op(&lab, &bin, "ohm");
    let here = lab.json(&["kernel", "status", "--json"]);
    assert_eq!(here[0]["host"], "fresnel");
    assert_eq!(here[1]["lock"], "current", "{here}");

    // The daemon answers the same view, and the remote CLI prints it.
    let d = common::api::daemon(&lab);
    let a = common::http::get(&d.unix, "/api/v1/kernel/status", None);
    assert_eq!(a.status, 200, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["hosts"], here);
    let o = lab
        .cmd(&["kernel", "status", "--json"])
        .env("BOSUN_URL", common::api::url(&d.unix))
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        here
    );
    let a = common::http::get(&d.unix, "/api/v1/kernel/promote/ohm", None);
    assert_eq!(a.status, 200, "{}", a.body);
    let preview: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        preview["cumulative_b2"],
        b2sum(&lab.path("kernel/ohm/cumulative.patch"))
    );
    let bad = common::http::get(&d.unix, "/api/v1/kernel/promote/no-such", None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("fleet/no-such.yaml"), "{}", bad.body);
    drop(d);

    // An agent over MCP reads the same, then proposes the promote with the
    // preview's params: it waits for an operator.
    let mcp = common::mcp::Mcp::stdio(&lab, "claude");
    let st = mcp.ok("kernel_status", serde_json::json!({}));
    assert_eq!(st["result"]["hosts"], here);
    let p = mcp.ok("kernel_promote", serde_json::json!({"host": "ohm"}));
    assert_eq!(p["result"], preview);
    let s = mcp.ok(
        "submit",
        serde_json::json!({
            "runbook": p["result"]["runbook"],
            "targets": ["ohm"],
            "params": p["result"]["params"],
        }),
    );
    assert_eq!(s["result"]["state"], "pending_approval", "{s}");
    // The build of the approved lock, as an agent asks for it: its op runs
    // alone (queued here until a controller works); no job before.
    let b = mcp.ok("kernel_build", serde_json::json!({"host": "ohm"}));
    assert_eq!(b["result"]["runbook"], "kernel-build", "{b}");
    assert_eq!(
        b["result"]["params"]["lock"],
        b2sum(&lab.path("kernel/ohm/manifest.lock")),
        "{b}"
    );
    let s = mcp.ok(
        "submit",
        serde_json::json!({
            "runbook": "kernel-build",
            "targets": ["ohm"],
            "params": b["result"]["params"],
        }),
    );
    assert_eq!(s["result"]["state"], "approved", "{s}");
    let j = mcp.ok("kernel_jobs", serde_json::json!({}));
    assert_eq!(j["result"]["jobs"], serde_json::json!([]), "{j}");
    let r = mcp.refused("kernel_promote", serde_json::json!({"host": "../etc"}));
    assert!(r.to_string().contains("host"), "{r}");
    mcp.stop();
}

#[test]
fn the_op_verbs_go_through_the_daemon() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    // The daemon's controller runs the build step: the stand-ins on its PATH.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (d, _) = common::api::daemon_env(
        &lab,
        &["--listen", "127.0.0.1:0"],
        "http",
        1,
        &[("PATH", path)],
    );
    let url = common::api::url(&d.unix);
    let remote = |args: &[&str]| lab.cmd(args).env("BOSUN_URL", &url).output().unwrap();
    let json = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(o)))
    };
    // Nothing promoted yet: the daemon says so.
    let o = remote(&["kernel", "install", "ohm", "--as", "alice"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not promoted yet"), "{}", text(&o));

    // The agent proposes the promote through the daemon; an operator
    // approves through it; the daemon's controller writes the lock.
    let v = json(&remote(&[
        "patches", "promote", "ohm", "--submit", "--as", "claude", "--json",
    ]));
    assert_eq!(v["decision"], "pending_approval", "{v}");
    let jti = v["jti"].as_str().unwrap().to_string();
    let o = remote(&["approve", "--yes", &jti, "--as", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while common::show(&lab, &jti)["state"] != "succeeded" {
        assert!(
            std::time::Instant::now() < end,
            "{}",
            common::show(&lab, &jti)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(lab.path("kernel/ohm/manifest.lock").exists());

    // Built through the daemon (an op its controller runs), then installed
    // through it: the plan it signs names the published package.
    let v = json(&remote(&[
        "kernel", "build", "ohm", "--as", "alice", "--json",
    ]));
    assert_eq!(v["decision"], "auto", "{v}");
    let built = v["jti"].as_str().unwrap().to_string();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while common::show(&lab, &built)["state"] != "succeeded" {
        assert!(
            std::time::Instant::now() < end,
            "{}",
            common::show(&lab, &built)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The step started the builder; the job says when the build ends.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (jobs, job) = loop {
        let jobs = json(&remote(&["kernel", "jobs", "--json"]));
        let job = jobs["jobs"][0].clone();
        if job["status"] != "running" {
            break (jobs, job);
        }
        assert!(std::time::Instant::now() < end, "{jobs}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(job["op"], built.as_str(), "{jobs}");
    assert_eq!(job["status"], "published", "{jobs}");
    let pkg = lab.path(&format!(
        ".bosun/kernel/repo/aarch64/{}",
        job["packages"][0].as_str().unwrap()
    ));
    // The seed's `installable`: the built kernel waits for a human, on the
    // reminder ladder, naming the install verb.
    let waits = |lab: &common::Lab| -> Vec<serde_json::Value> {
        lab.json(&["remind", "--dry-run", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reminder"].clone())
            .filter(|r| r["subject"].as_str().unwrap().starts_with("installable:"))
            .collect()
    };
    let w = waits(&lab);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        w[0]["subject"],
        format!("installable:ohm:{}", job["job"].as_str().unwrap())
    );
    assert_eq!(w[0]["to"], "operator", "{w:?}");
    assert_eq!(w[0]["next"][0]["action"], "kernel_install", "{w:?}");
    assert!(
        w[0]["title"]
            .as_str()
            .unwrap()
            .contains("waits for a human to install it"),
        "{w:?}"
    );
    // Snoozed through the daemon, it is not reminded; a wait that does not
    // exist cannot be snoozed.
    let subject = w[0]["subject"].as_str().unwrap().to_string();
    let o = remote(&[
        "snooze",
        "installable:ohm:nope",
        "--for",
        "1d",
        "--as",
        "alice",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("nothing waits as"), "{}", text(&o));
    let o = remote(&["snooze", &subject, "--for", "1d", "--as", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(waits(&lab).is_empty());
    assert!(
        remote(&["halt", "--why", "look before it runs", "--as", "alice"])
            .status
            .success()
    );
    let v = json(&remote(&[
        "kernel", "install", "ohm", "--as", "alice", "--json",
    ]));
    assert_eq!(v["decision"], "auto", "{v}");
    let op = common::show(&lab, v["jti"].as_str().unwrap());
    assert_eq!(op["plan"]["params"]["b2"], b2sum(&pkg), "{op}");
    assert_eq!(op["plan"]["params"]["job"], job["job"], "{op}");
    // An install op names the build now: the wait has ended (not only
    // snoozed: there is nothing left to snooze).
    let o = remote(&["snooze", &subject, "--for", "1d", "--as", "alice"]);
    assert!(text(&o).contains("nothing waits as"), "{}", text(&o));
    drop(d);
}

#[test]
fn an_edit_to_an_adopted_manifest_changes_nothing_until_the_operators_adopt_it() {
    let (lab, _bin) = kernel_lab(THREE, "");
    let before = lab.json(&["patches", "promote", "ohm", "--json"]);
    let carried = |lock: &serde_json::Value| -> Vec<String> {
        lock["patch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["patchset"].as_str().unwrap().to_string())
            .collect()
    };
    let dropped = "driver/bes2600/scan-filter-5ghz-danctnix";
    assert!(carried(&before).iter().any(|p| p == dropped), "{before}");
    // Whoever can write the workspace (an agent with an editor) drops a
    // patchset from the manifest.
    let m = std::fs::read_to_string(lab.path("fleet/ohm.yaml")).unwrap();
    lab.write(
        "fleet/ohm.yaml",
        &m.replace(&format!("  - {dropped}\n"), ""),
    );
    let o = lab.run(&["patches", "promote", "ohm", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let now: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(now, before, "the adopted manifest is the one in force");
    let (st, row) = status_of(&lab, "ohm");
    assert!(
        row["manifest_drift"]
            .as_str()
            .is_some_and(|d| d.contains("differs from its adopted version")),
        "{st}"
    );
    assert!(
        text(&o).contains("fleet/ohm.yaml on disk differs from its adopted version"),
        "{}",
        text(&o)
    );
    // Its promote op carries what is adopted, dropped patchset included.
    let v = lab.json(&[
        "patches", "promote", "ohm", "--submit", "--as", "claude", "--json",
    ]);
    let op = common::show(&lab, v["jti"].as_str().unwrap());
    assert!(
        op["plan"]["params"]["patches"]
            .as_str()
            .unwrap()
            .contains(dropped),
        "{op}"
    );
    // The agent cannot bring its edit into force.
    let o = lab.run(&["adopt", "--yes", "--as", "claude"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(lab.json(&["patches", "promote", "ohm", "--json"]), before);
    // An operator adopts it (the diff names the file): now it is in force.
    let o = lab.run(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("manifest:ohm"), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    if p["adopted"] == false {
        let id = p["proposal"].as_str().unwrap();
        lab.ok(&["adopt", "--approve", id, "--as", "bob", "--yes"]);
    }
    let after = lab.json(&["patches", "promote", "ohm", "--json"]);
    assert!(!carried(&after).iter().any(|p| p == dropped), "{after}");
    assert_ne!(after["manifest_b2"], before["manifest_b2"]);
    assert_eq!(
        status_of(&lab, "ohm").1["manifest_drift"],
        serde_json::Value::Null
    );
    // A deleted manifest stays in force until adopted away, and says so.
    std::fs::remove_file(lab.path("fleet/fresnel.yaml")).unwrap();
    let (st, row) = status_of(&lab, "fresnel");
    let d = row["manifest_drift"].as_str().unwrap_or_default();
    assert!(
        d.contains("fleet/fresnel.yaml") && d.contains("the adopted one is in force"),
        "{st}"
    );
}

#[test]
fn bars_3_and_4_read_the_manifests_checks_and_the_locked_patches_probes() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    // A probe for one of ohm's locked patches (bar 4): whoever edits the
    // tree writes it, the install op's plan names it.
    let set = lab.path("patches/driver/bes2600/scan-filter-5ghz-danctnix");
    let patch = std::fs::read_dir(&set)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".patch"))
        .unwrap();
    let probe = "/sys/module/bes2600/parameters/scan_5ghz == N";
    let toml =
        |check: &str| format!("campaign = \"danctnix\"\n[probe]\n\"{patch}\" = \"{check}\"\n");
    // A probe that is shell, not a check, is refused where it is written.
    std::fs::write(set.join("patchset.toml"), toml("/sys/x == $(reboot)")).unwrap();
    let o = lab.run(&["patches", "promote", "ohm"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("scan-filter-5ghz-danctnix/patchset.toml:3: probe for"),
        "{}",
        text(&o)
    );
    // One for a file the patchset does not hold is a typo, refused too.
    let typo = toml(probe).replace(&patch, "0009-nope.patch");
    std::fs::write(set.join("patchset.toml"), typo).unwrap();
    let o = lab.run(&["patches", "promote", "ohm"]);
    assert!(
        text(&o).contains("probe for `0009-nope.patch`, which is no patch of this patchset"),
        "{}",
        text(&o)
    );
    std::fs::write(set.join("patchset.toml"), toml(probe)).unwrap();
    // Bar 4 is the manifest's opt-in (`probes: true`, seed 001): without
    // it, the install's plan names no probe; bar 3 stays.
    let m = std::fs::read_to_string(lab.path("fleet/ohm.yaml")).unwrap();
    assert!(m.contains("probes: true\n"));
    lab.write("fleet/ohm.yaml", &m.replace("probes: true\n", ""));
    lab.adopt();
    promote_op(&lab, &bin, "ohm");
    let b = build(&lab, &bin, "ohm", "alice");
    assert!(b.ok(), "{}", b.out);
    let v = lab.json(&["kernel", "install", "ohm", "--as", "claude", "--json"]);
    let op = common::show(&lab, v["jti"].as_str().unwrap());
    assert_eq!(op["plan"]["params"]["probes"], "", "{op}");
    assert_eq!(
        op["plan"]["params"]["dtb_checks"],
        "/proc/device-tree/model contains PineTab2"
    );
    lab.write("fleet/ohm.yaml", &m);
    lab.adopt();
    promote_op(&lab, &bin, "ohm");
    let b = build(&lab, &bin, "ohm", "alice");
    assert!(b.ok(), "{}", b.out);
    // The lock carries the probe: one changed after the approved promote
    // makes the lock stale, and nothing installs.
    std::fs::write(
        set.join("patchset.toml"),
        toml("/sys/module/bes2600 exists"),
    )
    .unwrap();
    let o = lab.run(&["kernel", "install", "ohm", "--as", "alice"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not what promote makes now"),
        "{}",
        text(&o)
    );
    std::fs::write(set.join("patchset.toml"), toml(probe)).unwrap();
    // Nor can a preview's export write the host's lock directory.
    let into = lab.path("kernel/ohm");
    let o = lab.run(&[
        "patches",
        "promote",
        "ohm",
        "--write",
        "--out",
        into.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("kernel/ is written only by a promote op"),
        "{}",
        text(&o)
    );
    let v = lab.json(&["kernel", "install", "ohm", "--as", "alice", "--json"]);
    let jti = v["jti"].as_str().unwrap().to_string();
    let op = common::show(&lab, &jti);
    let params = &op["plan"]["params"];
    assert_eq!(
        params["dtb_checks"],
        "/proc/device-tree/model contains PineTab2"
    );
    assert_eq!(params["probes"], probe);
    // The booted board shows the device tree (bar 3 passes) but not the
    // probed value: bar 4 fails, the host is drifted, regression files.
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(lab.state(&jti), "failed", "{}", text(&o));
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    let step = |id: &str| {
        show["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no step {id}: {show}"))
    };
    assert_eq!(step("dtb-sysfs")["status"], "succeeded", "{show}");
    let failed = step("patch-probes");
    assert_eq!(failed["status"], "failed", "{show}");
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("FAIL /sys/module/bes2600/parameters/scan_5ghz: unreadable"),
        "{failed}"
    );
    let (st, ohm) = status_of(&lab, "ohm");
    assert_eq!(ohm["drifted"], true, "{st}");
    assert!(ohm["blockers"].to_string().contains("regression"), "{st}");
}

#[test]
fn a_device_trees_nul_separated_strings_are_checked_one_by_one() {
    // The install runbook's bar 3 command, as the example writes it, over
    // a board whose device tree holds NUL-separated strings.
    let rb: toml::Value = toml::from_str(
        &std::fs::read_to_string(example().join("runbooks/kernel-install.toml")).unwrap(),
    )
    .unwrap();
    let cmd = rb["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("dtb-sysfs"))
        .unwrap()["cmd"]
        .as_str()
        .unwrap()
        .to_string();
    let root = tempfile::tempdir().unwrap();
    let dt = root.path().join("proc/device-tree");
    std::fs::create_dir_all(&dt).unwrap();
    std::fs::write(
        dt.join("compatible"),
        b"pine64,pinebook-pro\0rockchip,rk3399\0",
    )
    .unwrap();
    std::fs::write(dt.join("model"), b"Pine64 Pinebook Pro\0").unwrap();
    let run = |checks: &str| {
        let c = cmd
            .replace(
                "{{ params.sysroot }}",
                &format!("'{}'", root.path().display()),
            )
            .replace("{{ params.dtb_checks }}", &format!("'{checks}'"));
        std::process::Command::new("sh")
            .args(["-c", &c])
            .output()
            .unwrap()
    };
    let ok = run(
        "/proc/device-tree/model == Pine64 Pinebook Pro\n/proc/device-tree/compatible contains rockchip,rk3399\n/proc/device-tree/compatible contains pinebook-pro",
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("3 check(s), 0 failed"), "{}", text(&ok));
    // Across the NUL between two strings is no match.
    let across = run("/proc/device-tree/compatible contains prorockchip");
    assert!(!across.status.success(), "{}", text(&across));
    assert!(
        text(&across).contains("lacks [prorockchip]"),
        "{}",
        text(&across)
    );
    for unreadable in [
        "/proc/device-tree/serial-number contains x",
        "/proc/device-tree == x",
    ] {
        let o = run(unreadable);
        assert!(!o.status.success(), "{unreadable}: {}", text(&o));
        assert!(text(&o).contains("unreadable"), "{}", text(&o));
    }
}
