//! `bosun demo kernel`: issue 17's kernel lifecycle in a throwaway copy of
//! `examples/kernel-fleet/` (built into the binary): a campaign's patches
//! imported at their scope, the host's manifest promoted to a cumulative
//! patch and a lock, the build routed past a changed build host to a
//! woken on-demand one, signed and published, the install proposed by the
//! agent and held for a human, approved, run on the simulated host and
//! verified by its bars. Every step is the `bosun` command a user would
//! type, run as a child process and shown with what it printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use bosun_control::{ControlError, Result};

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

/// The example workspace, as the repository holds it.
const FILES: &[(&str, &[u8])] = &[
    (
        "bosun.toml",
        include_bytes!("../../../../examples/kernel-fleet/bosun.toml"),
    ),
    (
        "fleet/fresnel.yaml",
        include_bytes!("../../../../examples/kernel-fleet/fleet/fresnel.yaml"),
    ),
    (
        "fleet/hosts.toml",
        include_bytes!("../../../../examples/kernel-fleet/fleet/hosts.toml"),
    ),
    (
        "fleet/ohm.yaml",
        include_bytes!("../../../../examples/kernel-fleet/fleet/ohm.yaml"),
    ),
    (
        "patches/arch/arm64/xor-neon-ffixed-x18-scs-build-fix-danctnix/0001-arm64-lib-xor-neon-build-with-ffixed-x18-under-SCS.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/arch/arm64/xor-neon-ffixed-x18-scs-build-fix-danctnix/0001-arm64-lib-xor-neon-build-with-ffixed-x18-under-SCS.patch"
        ),
    ),
    (
        "patches/arch/arm64/xor-neon-ffixed-x18-scs-build-fix-danctnix/patchset.toml",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/arch/arm64/xor-neon-ffixed-x18-scs-build-fix-danctnix/patchset.toml"
        ),
    ),
    (
        "patches/board/pinebook-pro/fresnel-fourier/0001-arm64-dts-rk3399-pinebook-pro-add-OC-OPP-tables-1704.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/board/pinebook-pro/fresnel-fourier/0001-arm64-dts-rk3399-pinebook-pro-add-OC-OPP-tables-1704.patch"
        ),
    ),
    (
        "patches/board/pinebook-pro/fresnel-fourier/0002-arm64-dts-rk3399-pinebook-pro-enable-hdmi-sound.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/board/pinebook-pro/fresnel-fourier/0002-arm64-dts-rk3399-pinebook-pro-enable-hdmi-sound.patch"
        ),
    ),
    (
        "patches/board/pinebook-pro/fresnel-fourier/0003-arm64-dts-rk3399-pinebook-pro-spi1-max-frequency-10-.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/board/pinebook-pro/fresnel-fourier/0003-arm64-dts-rk3399-pinebook-pro-spi1-max-frequency-10-.patch"
        ),
    ),
    (
        "patches/board/pinebook-pro/fresnel-fourier/patchset.toml",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/board/pinebook-pro/fresnel-fourier/patchset.toml"
        ),
    ),
    (
        "patches/driver/bes2600/cumulative-c5x-danctnix/0001-staging-bes2600-cumulative-c5x-fixes-danctnix.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/cumulative-c5x-danctnix/0001-staging-bes2600-cumulative-c5x-fixes-danctnix.patch"
        ),
    ),
    (
        "patches/driver/bes2600/cumulative-c5x-danctnix/patchset.toml",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/cumulative-c5x-danctnix/patchset.toml"
        ),
    ),
    (
        "patches/driver/bes2600/queue-pending-record-lock-bh-danctnix/0001-staging-bes2600-take-the-pending-record-lock-with-bo.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/queue-pending-record-lock-bh-danctnix/0001-staging-bes2600-take-the-pending-record-lock-with-bo.patch"
        ),
    ),
    (
        "patches/driver/bes2600/queue-pending-record-lock-bh-danctnix/patchset.toml",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/queue-pending-record-lock-bh-danctnix/patchset.toml"
        ),
    ),
    (
        "patches/driver/bes2600/scan-filter-5ghz-danctnix/0001-staging-bes2600-skip-5-GHz-scans-without-a-5-GHz-rad.patch",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/scan-filter-5ghz-danctnix/0001-staging-bes2600-skip-5-GHz-scans-without-a-5-GHz-rad.patch"
        ),
    ),
    (
        "patches/driver/bes2600/scan-filter-5ghz-danctnix/patchset.toml",
        include_bytes!(
            "../../../../examples/kernel-fleet/patches/driver/bes2600/scan-filter-5ghz-danctnix/patchset.toml"
        ),
    ),
    (
        "policy/keeper.toml",
        include_bytes!("../../../../examples/kernel-fleet/policy/keeper.toml"),
    ),
    (
        "policy/rules.cedar",
        include_bytes!("../../../../examples/kernel-fleet/policy/rules.cedar"),
    ),
    (
        "runbooks/kernel-install.toml",
        include_bytes!("../../../../examples/kernel-fleet/runbooks/kernel-install.toml"),
    ),
    (
        "runbooks/kernel-promote.toml",
        include_bytes!("../../../../examples/kernel-fleet/runbooks/kernel-promote.toml"),
    ),
    (
        "runbooks/kernel-build.toml",
        include_bytes!("../../../../examples/kernel-fleet/runbooks/kernel-build.toml"),
    ),
    (
        "sim/boards/fresnel/proc/device-tree/compatible",
        include_bytes!(
            "../../../../examples/kernel-fleet/sim/boards/fresnel/proc/device-tree/compatible"
        ),
    ),
    (
        "sim/boards/fresnel/proc/device-tree/model",
        include_bytes!(
            "../../../../examples/kernel-fleet/sim/boards/fresnel/proc/device-tree/model"
        ),
    ),
    (
        "sim/boards/fresnel/sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq",
        include_bytes!(
            "../../../../examples/kernel-fleet/sim/boards/fresnel/sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq"
        ),
    ),
    (
        "sim/boards/ohm/proc/device-tree/model",
        include_bytes!("../../../../examples/kernel-fleet/sim/boards/ohm/proc/device-tree/model"),
    ),
    (
        "sim/bin/makepkg",
        include_bytes!("../../../../examples/kernel-fleet/sim/bin/makepkg"),
    ),
    (
        "sim/bin/mkinitcpio",
        include_bytes!("../../../../examples/kernel-fleet/sim/bin/mkinitcpio"),
    ),
    (
        "sim/bin/pacman",
        include_bytes!("../../../../examples/kernel-fleet/sim/bin/pacman"),
    ),
    (
        "sim/bin/systemd-run",
        include_bytes!("../../../../examples/kernel-fleet/sim/bin/systemd-run"),
    ),
    (
        "sim/bin/uname",
        include_bytes!("../../../../examples/kernel-fleet/sim/bin/uname"),
    ),
];

/// The fresnel campaign's patches, imported by the demo (not copied).
const CAMPAIGN: &str = "patches/board/pinebook-pro/fresnel-fourier/";

struct Demo {
    exe: PathBuf,
    ws: PathBuf,
    keys: PathBuf,
    path: String,
}

impl Demo {
    /// Runs `bosun <args>`, shows it and what it printed; `Err` unless it
    /// exits as `ok` says.
    fn run(&self, args: &[&str], ok: bool) -> Result<String> {
        self.run_shown(args, ok, usize::MAX)
    }

    /// As [`Demo::run`], showing only the last `tail` lines it printed.
    fn run_shown(&self, args: &[&str], ok: bool, tail: usize) -> Result<String> {
        outln!("\n$ bosun {}", args.join(" "));
        let o = Command::new(&self.exe)
            .args(args)
            .current_dir(self.ws.parent().unwrap_or(&self.ws))
            .env("BOSUN_WORKSPACE", &self.ws)
            .env("BOSUN_KEY_DIR", &self.keys)
            .env("PATH", &self.path)
            .env("NO_COLOR", "1")
            .env_remove("BOSUN_URL")
            .output()
            .map_err(|e| other(format!("{}: {e}", self.exe.display())))?;
        // Progress (stderr) first: it happened before the answer; a
        // refusal (stderr) last: it is the answer.
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        let text = if o.status.success() {
            format!("{err}{out}")
        } else {
            format!("{out}{err}")
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > tail {
            outln!("  … ({} lines)", lines.len() - tail);
        }
        for l in &lines[lines.len().saturating_sub(tail)..] {
            outln!("  {l}");
        }
        if o.status.success() != ok {
            return Err(other(format!(
                "`bosun {}` {}",
                args.join(" "),
                if ok {
                    "failed"
                } else {
                    "should have been refused"
                }
            )));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }
}

impl Demo {
    /// Waits (at most two minutes) until the job op `op` started has
    /// ended; its id. `Err` when it did not publish.
    fn wait_for_build(&self, op: &str) -> Result<String> {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let o = Command::new(&self.exe)
                .args(["kernel", "jobs", "--json"])
                .env("BOSUN_WORKSPACE", &self.ws)
                .env_remove("BOSUN_URL")
                .output()
                .map_err(|e| other(format!("{}: {e}", self.exe.display())))?;
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                .map_err(|e| other(format!("kernel jobs --json: {e}")))?;
            let job = v["jobs"]
                .as_array()
                .and_then(|a| a.iter().find(|j| j["op"] == op))
                .cloned()
                .unwrap_or_default();
            match job["status"].as_str() {
                Some("published") => {
                    let id = job["job"].as_str().unwrap_or("").to_string();
                    // Until the builder has exited: its log is whole then.
                    let lock = self.ws.join(format!(".bosun/kernel/jobs/{id}/runner.lock"));
                    let _ =
                        bosun_kernel::publish::lock_file(&lock, std::time::Duration::from_secs(30));
                    return Ok(id);
                }
                Some("running") | None if std::time::Instant::now() < end => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                _ => {
                    return Err(other(format!(
                        "the build of op {op} did not publish: {job}"
                    )));
                }
            }
        }
    }
}

/// The word after `marker` in `out` (an op id), without a trailing `:`.
fn word_after(out: &str, marker: &str) -> Result<String> {
    out.split_whitespace()
        .skip_while(|w| *w != marker)
        .nth(1)
        .map(|w| w.trim_end_matches(':').to_string())
        .ok_or_else(|| other(format!("no `{marker} <op>` in what bosun printed")))
}

fn say(title: &str) {
    outln!("\n{}", crate::output::bold(&format!("== {title}")));
}

fn write(path: &Path, bytes: &[u8], exec: bool) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| other(format!("{}: {e}", p.display())))?;
    }
    std::fs::write(path, bytes).map_err(|e| other(format!("{}: {e}", path.display())))?;
    if exec {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| other(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Runs the kernel demo in a temporary directory.
pub(crate) fn run() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let exe = std::env::current_exe().map_err(|e| other(format!("this binary: {e}")))?;
    let ws = tmp.path().join("kernel-fleet");
    let incoming = tmp.path().join("incoming");
    let sim = tmp.path().join("sim/bin");
    let d = Demo {
        exe,
        ws: ws.clone(),
        keys: tmp.path().join("keys"),
        path: format!(
            "{}:{}",
            sim.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        ),
    };
    say(
        "1. The seed's fleet as a workspace: kernel hosts, build hosts (simulated), operators and an agent; alice adopts it, manifests included",
    );
    d.run(&["init", &ws.display().to_string()], true)?;
    for (name, role) in [
        ("alice", "operator"),
        ("bob", "operator"),
        ("kernel-agent", "agent"),
    ] {
        let mut a = vec!["key", "new", name, "--role", role];
        if role == "operator" {
            a.push("--insecure-plaintext");
        }
        d.run(&a, true)?;
    }
    let mut imported = Vec::new();
    let mut meta = Vec::new();
    for (rel, bytes) in FILES {
        if let Some(name) = rel.strip_prefix(CAMPAIGN) {
            if name.ends_with(".patch") {
                let p = incoming.join(name);
                write(&p, bytes, false)?;
                // The demo's commands run in the temporary directory.
                imported.push(format!("incoming/{name}"));
            } else {
                // The campaign's own patchset.toml (its description, and
                // the OPP patch's probe for bar 4), written once imported.
                meta.push((rel, bytes));
            }
        } else if let Some(tool) = rel.strip_prefix("sim/bin/") {
            write(&sim.join(tool), bytes, true)?;
        } else if let Some(board) = rel.strip_prefix("sim/boards/") {
            // What the simulated board reports once booted (bars 3, 4).
            write(&ws.join(".bosun/sim").join(board), bytes, false)?;
        } else {
            write(&ws.join(rel), bytes, false)?;
        }
    }
    // The scaffold's example runbooks and rollout are not this fleet's.
    for rel in [
        "runbooks/pkg-upgrade.toml",
        "runbooks/pkg-rollback.toml",
        "rollouts/pkg-upgrade.toml",
    ] {
        let _ = std::fs::remove_file(ws.join(rel));
    }
    d.run_shown(&["adopt", "--yes", "--as", "alice"], true, 1)?;
    d.run(&["hosts", "list"], true)?;

    say(
        "2. A campaign's patches land in the tree at their narrowest scope (the agent imports: signed, in the ledger)",
    );
    let mut a = vec!["patches", "import", "fresnel-fourier"];
    a.extend(imported.iter().map(String::as_str));
    a.extend(["--to", "board/pinebook-pro", "--as", "kernel-agent"]);
    d.run(&a, true)?;
    for (rel, bytes) in meta {
        write(&ws.join(rel), bytes, false)?;
    }
    // A patch without its narrowest scope (`<kind>/<name>`) is refused.
    d.run(
        &[
            "patches",
            "import",
            "fresnel-fourier",
            &imported[0],
            "--to",
            "board",
        ],
        false,
    )?;

    say(
        "3. Promote: fresnel's manifest resolved into one cumulative patch and a lock (b2sum digests)",
    );
    d.run(&["patches", "promote", "fresnel"], true)?;
    outln!(
        "\n  … as an op (never auto-promote): the agent proposes it, an operator approves that very digest"
    );
    let out = d.run(
        &[
            "patches",
            "promote",
            "fresnel",
            "--submit",
            "--as",
            "kernel-agent",
        ],
        true,
    )?;
    let promote = word_after(&out, "submitted")?;
    d.run_shown(&["approve", "--yes", &promote, "--as", "alice"], true, 1)?;
    d.run(&["work", "--until-idle"], true)?;

    say(
        "4. Build: routed by arch. boltzmann was reinstalled as x86_64, so its pre-flight fails (host-changed) and on-demand ampere is woken",
    );
    write(&ws.join(".bosun/sim/boltzmann/arch"), b"x86_64\n", false)?;
    write(&ws.join(".bosun/sim/ampere/asleep"), b"", false)?;
    outln!(
        "\n  … as an op of the kernel-build runbook: it runs alone (its lock was approved when promoted), the controller runs its step"
    );
    let out = d.run(
        &["kernel", "build", "fresnel", "--as", "kernel-agent"],
        true,
    )?;
    let build = word_after(&out, "submitted")?;
    d.run(&["work", "--until-idle"], true)?;
    // What the build step said (`bosun ops show <op> --json`, its steps' output).
    let shown = d.run_shown(&["ops", "show", &build, "--json"], true, 0)?;
    let v: serde_json::Value =
        serde_json::from_str(&shown).map_err(|e| other(format!("ops show --json: {e}")))?;
    outln!("\n  the build step's output (`bosun ops show {build} --json`):");
    for line in v["steps"][0]["output"].as_str().unwrap_or("").lines() {
        outln!("    {line}");
    }
    // The step handed the job to the builder, which builds beside the
    // controller: wait for it (what `bosun kernel jobs` shows).
    let job = d.wait_for_build(&build)?;
    let log = ws.join(format!(".bosun/kernel/jobs/{job}/runner.log"));
    outln!("\n  the builder's log ({}):", log.display());
    for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
        outln!("    {line}");
    }
    d.run(&["kernel", "jobs", "fresnel"], true)?;

    say(
        "5. Never auto-install: the build is `installable`, reminded to the operators; the agent's install op waits for a human, and the agent cannot approve it",
    );
    d.run(&["remind", "--dry-run"], true)?;
    let out = d.run(
        &["kernel", "install", "fresnel", "--as", "kernel-agent"],
        true,
    )?;
    let jti = word_after(&out, "submitted")?;
    d.run(&["kernel", "status"], true)?;
    d.run(&["work", "--until-idle"], true)?;
    d.run_shown(
        &["approve", "--yes", &jti, "--as", "kernel-agent"],
        false,
        1,
    )?;

    say(
        "6. alice approves: backup, fetch and b2sum check, install, initramfs hook, reboot, then the five bars (heartbeat, version, device tree, patch probes, burn-in)",
    );
    d.run(&["approve", "--yes", &jti, "--as", "alice"], true)?;
    d.run(&["work", "--until-idle"], true)?;

    say(
        "7. Verified: installed = locked, no install pending; the build host left held is on the board",
    );
    d.run(&["kernel", "status"], true)?;
    d.run(&["blockers", "list"], true)?;
    let boot = ws.join(".bosun/sim/fresnel/boot");
    let mut names: Vec<String> = std::fs::read_dir(&boot)
        .map_err(|e| other(format!("{}: {e}", boot.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    outln!("\nfresnel's /boot (simulated): {}", names.join(", "));
    Ok(())
}
