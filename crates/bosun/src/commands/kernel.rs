//! `bosun kernel`: build a host's promoted kernel (`build`, an op, in
//! kernel_build.rs), install it (`install`, kernel_install.rs), keep a failed build (`keep`), prune old builds and
//! release idle build hosts (`prune`), and each host's kernel at a glance
//! (`status`, the seed's `ka-status`).
//!
//! Jobs live in `<state_dir>/kernel/jobs/<job>/` (job.toml, PKGBUILD,
//! cumulative.patch, manifest.lock, build.log, the packages); the package
//! key in `<state_dir>/kernel/keys/packages.jwk`; the published repository
//! in `kernel.repo` (default `<state_dir>/kernel/repo`), one directory per
//! arch with `Packages`, the packages and their `.sig`, and the public key
//! beside them (`bosun-packages.pub`).

use std::path::Path;
use std::process::ExitCode;

use bosun_control::Result;
use bosun_control::kernel::KernelDirs;
use bosun_kernel::{Builders, Job};
use clap::Subcommand;

use super::{Ctx, other};

/// `bosun kernel`.
#[derive(Subcommand, Debug)]
pub enum KernelCmd {
    /// Build `<host>`'s promoted kernel, as an op of the workspace's
    /// `kernel-build` runbook: its step routes by arch to a build host
    /// (primary, then secondary, then fallback; an on-demand host is
    /// woken), builds under the wall-clock cap, signs and publishes the
    /// packages. Only a lock an approved promote op wrote is built.
    #[command(
        after_help = "Examples:\n  bosun kernel build ohm --as kernel-agent\n  bosun work --until-idle          # no daemon: run it here\n  bosun kernel status              # the newest build, and whether it waits to be installed\n\nThe keeper policy decides (examples/kernel-fleet: a build runs alone, its lock was\napproved when promoted). A failed pre-flight files `host-changed` on its build host\nand the next one is tried; a failed build files `build-fail` and is kept\n(`kernel.keep_failed`, default 7d); a signing failure files the global\n`signing-fail`, which holds every build op. A halt holds build ops not yet started;\na running build ends at its end or its cap. A rebuild of a published lock whose\npackage bytes differ is refused: installs name the published digest."
    )]
    Build {
        /// The host whose `kernel/<host>/manifest.lock` to build.
        host: String,
        /// Who signs the op.
        #[arg(long = "as", value_name = "WHO", required_unless_present = "step")]
        as_: Option<String>,
        /// What intake made of it (with `--step`: the job record), as JSON.
        #[arg(long)]
        json: bool,
        /// Run the build itself: only as the step of a running
        /// `kernel-build` op (the runbook's command; `BOSUN_OP` names the op).
        #[arg(long, hide = true, requires = "expect", conflicts_with = "as_")]
        step: bool,
        /// With `--step`: the lock digest the op names.
        #[arg(long, hide = true, value_name = "B2")]
        expect: Option<String>,
    },
    /// Install `<host>`'s newest published build of its current lock: an
    /// op of the workspace's `kernel-install` runbook (backup, fetch and
    /// check the digest, install, initramfs hook, reboot, then its bars),
    /// with the package and its digest in the plan. The only verb that
    /// installs and reboots.
    #[command(
        after_help = "Examples:\n  bosun kernel install ohm --as alice        # an operator: consent by action\n  bosun kernel install ohm --as kernel-agent # waits for an operator's approval\n\nWho may install is the keeper policy's (examples/kernel-fleet: operators run it\nalone, agents wait for an operator). A failed bar marks the host drifted and files\n`regression`, which holds further installs to it."
    )]
    Install {
        /// The host.
        host: String,
        /// Who signs the op.
        #[arg(long = "as", value_name = "WHO")]
        as_: String,
        /// What intake made of it, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Keep a build job (its directory, log and packages) for longer than
    /// its retention.
    #[command(after_help = "Examples:\n  bosun kernel keep ohm-1796630400-4f1c2a9b --for 30d")]
    Keep {
        /// The job id (`bosun kernel status` and `kernel build` name it).
        job: String,
        /// How long from now (`7d`, `12h`).
        #[arg(long = "for", value_name = "DURATION", default_value = "7d")]
        for_: String,
    },
    /// Delete build jobs past their retention (unless pruning is paused)
    /// and release on-demand build hosts idle past their `idle_release`.
    #[command(
        after_help = "Examples:\n  bosun kernel prune\n  bosun kernel prune --pause     # keep everything while you investigate\n  bosun kernel prune --resume"
    )]
    #[command(group(clap::ArgGroup::new("mode").args(["pause", "resume"])))]
    Prune {
        /// Stop pruning until --resume.
        #[arg(long)]
        pause: bool,
        /// Prune again.
        #[arg(long)]
        resume: bool,
        /// What was pruned and released, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The build jobs kept in the control plane's state, newest first:
    /// host, build host, status, version, the op that ran each, why a
    /// failed one failed and where its files (build.log) are.
    #[command(after_help = "Examples:\n  bosun kernel jobs\n  bosun kernel jobs ohm --json")]
    Jobs {
        /// Only this host's jobs.
        host: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per host with a manifest: its digest, the lock, the newest build,
    /// the installed version, drift and blockers.
    #[command(after_help = "Examples:\n  bosun kernel status\n  bosun kernel status --json")]
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(ctx: &Ctx, c: KernelCmd) -> Result<ExitCode> {
    match c {
        KernelCmd::Build {
            host,
            as_,
            json,
            step,
            expect,
        } => match (step, expect, as_) {
            (true, Some(expect), _) => super::kernel_build::step(ctx, &host, &expect, json),
            (_, _, Some(who)) => super::kernel_build::submit(ctx, &host, &who, json),
            _ => Err(other("`kernel build` needs `--as <who>`")),
        },
        KernelCmd::Install { host, as_, json } => {
            super::kernel_install::submit(ctx, &host, &as_, json)
        }
        KernelCmd::Keep { job, for_ } => keep(ctx, &job, &for_),
        KernelCmd::Prune {
            pause,
            resume,
            json,
        } => prune(ctx, pause, resume, json),
        KernelCmd::Status { json } => super::kernel_status::status(ctx, json),
        KernelCmd::Jobs { host, json } => super::kernel_status::jobs(ctx, host.as_deref(), json),
    }
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn save_job(dir: &Path, job: &Job) -> Result<()> {
    let text = job.to_toml().map_err(|e| other(e.to_string()))?;
    let p = dir.join("job.toml");
    bosun_kernel::publish::write_atomic(&p, text.as_bytes())
        .map_err(|e| other(format!("{}: {e}", p.display())))
}

pub(crate) fn save_builders(dirs: &KernelDirs, b: &Builders) -> Result<()> {
    let text = toml::to_string(b).map_err(|e| other(e.to_string()))?;
    std::fs::create_dir_all(&dirs.base).map_err(|e| other(e.to_string()))?;
    let p = dirs.builders_path();
    bosun_kernel::publish::write_atomic(&p, text.as_bytes())
        .map_err(|e| other(format!("{}: {e}", p.display())))
}

/// The package key: made on first use (0600 in a 0700 directory) with its
/// public half written beside the repository; a key that exists and
/// cannot be read is a signing failure.
fn package_key(dirs: &KernelDirs) -> std::result::Result<bosun_sign::SecretKey, String> {
    let keys = dirs.base.join("keys");
    match bosun_sign::find_private_key(&keys, "packages") {
        Ok(k) => Ok(k),
        Err(bosun_sign::SignError::NoPrivateKey { .. }) => {
            let k = bosun_sign::SecretKey::generate().map_err(|e| e.to_string())?;
            bosun_sign::write_private_key(&keys, "packages", &k).map_err(|e| e.to_string())?;
            Ok(k)
        }
        Err(e) => Err(format!("the package key: {e}")),
    }
}

/// The public key file published with the repository.
pub(crate) const PUBLIC_KEY: &str = "bosun-packages.pub";

/// Signs `packages` with the package key and publishes them into `repo`.
pub(crate) fn sign_and_publish(
    dirs: &KernelDirs,
    repo: &Path,
    job: &Job,
    packages: &[(String, Vec<u8>)],
) -> std::result::Result<Vec<bosun_kernel::publish::Entry>, bosun_kernel::publish::PublishError> {
    use bosun_kernel::publish::{Entry, Package, PublishError, publish};
    let key = package_key(dirs).map_err(PublishError::Signing)?;
    let list: Vec<Package<'_>> = packages
        .iter()
        .map(|(n, b)| Package { name: n, bytes: b })
        .collect();
    let meta = |name: &str, size: u64, b2: &str| Entry {
        filename: name.to_string(),
        package: job.pkgbase.clone(),
        version: format!("{}-1", job.pkgver),
        host: job.host.clone(),
        job: job.job.clone(),
        size,
        b2: b2.to_string(),
    };
    let sign = |msg: &[u8]| Ok(key.sign_bytes(msg));
    let out = publish(repo, &list, &meta, &sign)?;
    let public: String = key
        .public()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(parent) = repo.parent() {
        let p = parent.join(PUBLIC_KEY);
        bosun_kernel::publish::write_atomic(&p, format!("ed25519 {public}\n").as_bytes())
            .map_err(|e| PublishError::Io(format!("{}: {e}", p.display())))?;
    }
    Ok(out)
}

fn keep(ctx: &Ctx, id: &str, for_: &str) -> Result<ExitCode> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let dirs = KernelDirs::of(&ws);
    if !bosun_kernel::build::valid_job_id(id) {
        return Err(other(format!("`{id}` is not a job id")));
    }
    let secs = bosun_model::source::parse_duration(for_)
        .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
    let dir = dirs.jobs.join(id);
    let p = dir.join("job.toml");
    let text = std::fs::read_to_string(&p).map_err(|e| {
        other(format!(
            "job `{id}`: {e} (`bosun kernel status` lists jobs)"
        ))
    })?;
    let mut job = Job::parse(&p.display().to_string(), &text).map_err(|e| other(e.to_string()))?;
    job.keep_until = now().saturating_add(secs);
    save_job(&dir, &job)?;
    outln!("job {id} kept for {for_} (until unix {})", job.keep_until);
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct Pruned {
    paused: bool,
    pruned: Vec<String>,
    released: Vec<String>,
    problems: Vec<String>,
}

fn prune(ctx: &Ctx, pause: bool, resume: bool, json: bool) -> Result<ExitCode> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let dirs = KernelDirs::of(&ws);
    let marker = dirs.paused_path();
    if pause || resume {
        std::fs::create_dir_all(&dirs.base).map_err(|e| other(e.to_string()))?;
        let r = if pause {
            std::fs::write(&marker, b"paused by `bosun kernel prune --pause`\n")
        } else {
            std::fs::remove_file(&marker).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
        };
        r.map_err(|e| other(format!("{}: {e}", marker.display())))?;
        outln!("pruning {}", if pause { "paused" } else { "resumed" });
        return Ok(ExitCode::SUCCESS);
    }
    let paused = marker.exists();
    let t = now();
    let mut out = Pruned {
        paused,
        pruned: Vec::new(),
        released: Vec::new(),
        problems: Vec::new(),
    };
    let jobs = dirs.jobs()?;
    // Removing a build directory on a build host changes that host: never
    // while halted. Idle on-demand build hosts bosun woke are released
    // after: never one a build is running on, and nothing while halted.
    let ctl = ctx.reader()?;
    let halt = ctl.halt_state()?;
    let (inventory, _) = ctl.inventory_in_force()?;
    let patterns = ws.config.scrub_patterns();
    let mut building = std::collections::BTreeSet::new();
    for j in &jobs {
        match j {
            Ok(j) if j.status == bosun_kernel::JobStatus::Running => {
                building.insert(j.build_host.clone());
            }
            Ok(j) if !paused && halt.is_none() && j.prunable(t) => {
                let dir = dirs.jobs.join(&j.job);
                if has_artifacts(&dir, j)
                    && let Some(problem) = clean_remote(&ws.root, &inventory.hosts, j, &patterns)
                {
                    out.problems.push(problem);
                }
                match prune_job(&dir, j) {
                    Ok(true) => out.pruned.push(j.job.clone()),
                    Ok(false) => {}
                    Err(e) => out.problems.push(e),
                }
            }
            Ok(_) => {}
            Err(e) => out.problems.push(e.clone()),
        }
    }
    if let Some(h) = halt {
        out.problems.push(format!(
            "halted by {}: {}; no job pruned, no build host released",
            h.by, h.why
        ));
        return finish(&out, json);
    }
    let mut builders = dirs.builders()?;
    let timeout = ws
        .config
        .kernel
        .times()
        .map_err(|(_, m)| other(m))?
        .wake_timeout;
    for (h, release) in builders.due(&inventory.hosts, t) {
        if building.contains(h.name.as_str()) {
            continue;
        }
        let ok = match release {
            Some(cmd) => {
                let me = bosun_transport::controller_host(&h.name);
                let o = bosun_control::exec::run_step_scrubbed(
                    &ws.root,
                    &me,
                    cmd,
                    std::time::Duration::from_secs(u64::try_from(timeout).unwrap_or(300)),
                    &patterns,
                );
                if !o.ok() {
                    out.problems.push(format!(
                        "releasing {}: `{cmd}` failed: {}",
                        h.name,
                        o.output.trim()
                    ));
                }
                o.ok()
            }
            None => true,
        };
        if ok {
            out.released.push(h.name.to_string());
        }
    }
    builders.host.retain(|h, _| !out.released.contains(h));
    save_builders(&dirs, &builders)?;
    finish(&out, json)
}

/// Whether pruning `j` would delete anything (a published job keeps its
/// `job.toml` once pruned).
fn has_artifacts(dir: &Path, j: &Job) -> bool {
    j.status != bosun_kernel::JobStatus::Published
        || std::fs::read_dir(dir)
            .map(|rd| rd.flatten().any(|e| e.file_name() != "job.toml"))
            .unwrap_or(false)
}

/// Removes `j`'s build directory on its build host (`<dir>/<job>`, the
/// inventory entry's `dir` for the job's arch), as the build made it;
/// what went wrong, if anything (an asleep or unreachable host leaves
/// it: the local job is pruned all the same, and the message names what
/// is left).
fn clean_remote(
    root: &Path,
    hosts: &[bosun_model::Host],
    j: &Job,
    patterns: &[regex::Regex],
) -> Option<String> {
    let host = hosts.iter().find(|h| h.name.as_str() == j.build_host)?;
    let build = host.builds.iter().find(|b| b.arch == j.arch)?;
    let remote = format!("{}/{}", build.dir().trim_end_matches('/'), j.job);
    let o = bosun_control::exec::run_step_scrubbed(
        root,
        host,
        &format!("rm -rf -- {}", bosun_transport::sh_quote(&remote)),
        std::time::Duration::from_secs(60),
        patterns,
    );
    (!o.ok()).then(|| {
        format!(
            "{}: {remote} left on the build host ({})",
            host.name,
            o.output.trim()
        )
    })
}

/// Prunes one job past its keep: a failed job's directory goes; a
/// published one keeps its `job.toml` (the install finds its package by
/// it) and loses the rest. Whether anything was deleted.
fn prune_job(dir: &Path, j: &Job) -> std::result::Result<bool, String> {
    let gone = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    if j.status != bosun_kernel::JobStatus::Published {
        return std::fs::remove_dir_all(dir)
            .map(|()| true)
            .map_err(|e| gone(dir, e));
    }
    let mut any = false;
    for e in std::fs::read_dir(dir).map_err(|e| gone(dir, e))?.flatten() {
        if e.file_name() == "job.toml" {
            continue;
        }
        let p = e.path();
        let r = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        r.map_err(|err| gone(&p, err))?;
        any = true;
    }
    Ok(any)
}

fn finish(out: &Pruned, json: bool) -> Result<ExitCode> {
    let paused = out.paused;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(out).map_err(|e| other(e.to_string()))?
        );
    } else {
        if paused {
            outln!("pruning is paused (`bosun kernel prune --resume`): no job deleted");
        }
        outln!(
            "{} job(s) pruned, {} build host(s) released",
            out.pruned.len(),
            out.released.len()
        );
        for p in &out.pruned {
            outln!("  pruned {p}");
        }
        for r in &out.released {
            outln!("  released {r}");
        }
        for p in &out.problems {
            errln!("  {p}");
        }
    }
    Ok(if out.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
