//! `bosun kernel build|keep|prune|status` and `campaign close` on the
//! kernel fleet example, with build hosts simulated as `local` hosts (a
//! directory each) and stand-ins for `uname` (each host's arch is a file
//! in its directory) and `makepkg` (it checks the PKGBUILD's b2sum of the
//! patch as makepkg does, then writes a package). Routing, waking,
//! pre-flight, the wall-clock cap, signing, publishing and retention are
//! bosun's own and real.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::Lab;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kernel-fleet")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A lab with the example's tree, manifests, install runbook and policy;
/// `hosts` as its inventory, `kernel` as bosun.toml's `[kernel]`. The
/// stand-ins are the example's `sim/bin`.
fn kernel_lab(hosts: &str, kernel: &str) -> (Lab, PathBuf) {
    let lab = Lab::new_with(|lab| {
        copy_dir(&example().join("patches"), &lab.path("patches"));
        for f in [
            "fleet/ohm.yaml",
            "fleet/fresnel.yaml",
            "runbooks/kernel-install.toml",
            "runbooks/kernel-promote.toml",
            "policy/rules.cedar",
        ] {
            std::fs::copy(example().join(f), lab.path(f)).unwrap();
        }
        lab.write("fleet/hosts.toml", hosts);
        let cfg = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
        lab.write("bosun.toml", &format!("{cfg}\n[kernel]\n{kernel}"));
    });
    (lab, example().join("sim/bin"))
}

/// The promote as an op: the agent submits, an operator approves, the
/// controller writes the lock.
fn promote_op(lab: &Lab, bin: &Path, host: &str) -> String {
    let v = lab.json(&[
        "patches", "promote", host, "--submit", "--as", "claude", "--json",
    ]);
    assert_eq!(v["decision"], "pending_approval", "never auto-promote: {v}");
    let jti = v["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    let o = k(lab, bin, &["work", "--until-idle"]);
    assert_eq!(
        common::show(lab, &jti)["state"],
        "succeeded",
        "{}",
        text(&o)
    );
    jti
}

fn k(lab: &Lab, bin: &Path, args: &[&str]) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    lab.cmd(args).env("PATH", path).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sim(lab: &Lab, host: &str, file: &str, content: Option<&str>) {
    let p = lab.path(&format!(".bosun/sim/{host}/{file}"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    match content {
        Some(c) => std::fs::write(p, c).unwrap(),
        None => {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn b2sum(p: &Path) -> String {
    let o = std::process::Command::new("b2sum").arg(p).output().unwrap();
    String::from_utf8(o.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

const THREE: &str = r#"
[[host]]
name = "ohm"
transport = "local"
root = ".bosun/sim/ohm"

[[host]]
name = "boltzmann"
transport = "local"
root = ".bosun/sim/boltzmann"
builds = [{ arch = "aarch64", role = "primary", ccache = "/var/cache/ccache" }]

[[host]]
name = "ampere"
transport = "local"
root = ".bosun/sim/ampere"
wake = "mkdir -p .bosun/sim/ampere && touch .bosun/sim/ampere/awake"
builds = [{ arch = "aarch64", role = "secondary", on_demand = true, idle_release = "1s", release = "rm .bosun/sim/ampere/awake" }]

[[host]]
name = "fermi"
transport = "local"
root = ".bosun/sim/fermi"
builds = [{ arch = "aarch64", role = "fallback" }]

[[host]]
name = "kbuild-x86"
transport = "local"
root = ".bosun/sim/kbuild-x86"
builds = ["x86_64"]
"#;

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
    promote_op(&lab, &bin, "ohm");

    let o = k(
        &lab,
        &bin,
        &["kernel", "build", "ohm", "--as", "claude", "--json"],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("boltzmann: pre-flight failed: `uname -m` says x86_64, the build needs aarch64"),
        "{t}"
    );
    assert!(t.contains("ampere: waking"), "{t}");
    assert!(t.contains("ampere: pre-flight passed (secondary)"), "{t}");
    let job: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(job["build_host"], "ampere");
    assert_eq!(job["status"], "published");
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
    let version = job["pkgver"].as_str().unwrap().to_string();
    assert!(version.starts_with("6.19.danctnix1+"), "{job}");
    let pkg = format!("linux-pinetab2-ohm-{version}-1-aarch64.pkg.tar.zst");
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
        list.iter()
            .any(|b| b["kind"] == "host-changed" && b["subject"] == "boltzmann"),
        "{blockers}"
    );
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("skipping build host boltzmann: blocker"), "{t}");
    assert!(t.contains("host-changed"), "{t}");

    // Status: the lock is current, the build published, the install pending.
    let st = lab.json(&["kernel", "status", "--json"]);
    let ohm = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "ohm")
        .unwrap();
    assert_eq!(ohm["lock"], "current", "{st}");
    assert_eq!(ohm["build"]["status"], "published", "{st}");
    assert_eq!(ohm["build"]["of_current_lock"], true, "{st}");
    assert_eq!(ohm["install_pending"], true, "{st}");
    let fresnel = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "fresnel")
        .unwrap();
    assert_eq!(fresnel["lock"], "none", "{st}");
    let plain = lab.ok(&["kernel", "status"]);
    assert!(
        plain.contains("install pending (`bosun kernel install ohm --as <operator>`)"),
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
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{t}"
    );
    assert!(
        t.contains("sleepy: `sleep 1000` did not return in 1s"),
        "{t}"
    );
    assert!(t.contains("killed at the wall-clock cap (2s)"), "{t}");
    let hung = t
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .unwrap()
        .to_string();
    let blockers = lab.ok(&["blockers", "list"]);
    assert!(
        blockers.contains("build-fail") && blockers.contains("fermi"),
        "{blockers}"
    );

    // Held now: fermi by its blocker, sleepy does not wake.
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(!o.status.success());
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
    let p = lab.json(&["kernel", "prune", "--json"]);
    assert_eq!(p["pruned"].as_array().unwrap().len(), 1, "{p}");
    assert_ne!(p["pruned"][0].as_str().unwrap(), hung, "{p}");
    assert!(
        lab.path(&format!(".bosun/kernel/jobs/{hung}/build.log"))
            .exists()
    );
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
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("the package key"), "{t}");
    assert!(
        !lab.path(".bosun/kernel/repo/aarch64/Packages").exists(),
        "nothing published"
    );
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("every build is held by blocker") && t.contains("signing-fail"),
        "{t}"
    );
}

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

    // The agent's build publishes and proposes the install: it waits for a human.
    let o = k(
        &lab,
        &bin,
        &["kernel", "build", "ohm", "--as", "claude", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let job: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(job["build_host"], "boltzmann");
    let jti = job["install_op"].as_str().unwrap().to_string();
    let op = common::show(&lab, &jti);
    assert_eq!(op["state"], "pending_approval", "{op}");
    // The plan names the package and its digest, exactly.
    let plan = serde_json::to_string(&op["plan"]).unwrap();
    let version = job["pkgver"].as_str().unwrap().to_string();
    assert!(version.starts_with("6.19.danctnix1+"), "{job}");
    let pkg = format!("linux-pinetab2-ohm-{version}-1-aarch64.pkg.tar.zst");
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
    let st = lab.json(&["kernel", "status", "--json"]);
    let ohm = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "ohm")
        .unwrap()
        .clone();
    assert_eq!(
        ohm["installed"],
        format!("linux-pinetab2-ohm {version}-1"),
        "{st}"
    );
    assert_eq!(ohm["install_pending"], false, "{st}");
    assert_eq!(ohm["drifted"], false, "{st}");

    // An operator's build proposes no install (never auto-install: the
    // operator installs with the install verb); a halt stops builds.
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("install proposed"), "{}", text(&o));
    assert!(
        text(&o).contains("install with `bosun kernel install ohm"),
        "{}",
        text(&o)
    );
    lab.ok(&["halt", "--why", "kernel freeze", "--as", "claude"]);
    let o = k(&lab, &bin, &["kernel", "build", "ohm", "--as", "claude"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("halted by claude: kernel freeze"),
        "{}",
        text(&o)
    );
    lab.ok(&["resume", "--as", "alice"]);

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
    let st = lab.json(&["kernel", "status", "--json"]);
    let ohm = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "ohm")
        .unwrap()
        .clone();
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
        "install proposed: op",
        "agents never approve",
        "[bar version: pass] `linux-fresnel-fourier 7.0+",
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
    // The tree moves after the approval: the op writes nothing.
    let m = std::fs::read_to_string(lab.path("fleet/ohm.yaml")).unwrap();
    lab.write(
        "fleet/ohm.yaml",
        &m.replace("  - driver/bes2600/scan-filter-5ghz-danctnix\n", ""),
    );
    let o = k(&lab, &bin, &["work", "--until-idle"]);
    assert_eq!(common::show(&lab, &jti)["state"], "failed", "{}", text(&o));
    assert!(
        text(&o).contains("the lock promote makes now has b2sum"),
        "{}",
        text(&o)
    );
    assert!(!lab.path("kernel/ohm/manifest.lock").exists());
    lab.write("fleet/ohm.yaml", &m);

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
    let r = mcp.refused("kernel_promote", serde_json::json!({"host": "../etc"}));
    assert!(r.to_string().contains("host"), "{r}");
    mcp.stop();
}
