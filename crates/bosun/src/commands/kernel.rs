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
use bosun_kernel::Job;
use bosun_model::Act;
use clap::Subcommand;

use super::{Ctx, other};

/// `bosun kernel`.
#[derive(Subcommand, Debug)]
pub enum KernelCmd {
    /// Build `<host>`'s promoted kernel, as an op of the workspace's
    /// `kernel-build` runbook: its step hands the job to a builder beside
    /// the controller, which routes by arch to a build host (primary, then
    /// secondary, then fallback; an on-demand host is woken), builds under
    /// the wall-clock cap, signs and publishes the packages. The op
    /// succeeds once the build has started; `kernel jobs` follows it. Only
    /// a lock an approved promote op wrote is built.
    #[command(
        after_help = "Examples:\n  bosun kernel build ohm --as kernel-agent\n  bosun work --until-idle          # no daemon: run it here (starts the builder)\n  bosun kernel jobs ohm            # follow the build\n  bosun kernel status              # the newest build, and whether it waits to be installed\n\nThe keeper policy decides (examples/kernel-fleet: a build runs alone, its lock was\napproved when promoted). A failed pre-flight files `host-changed` on its build host\nand the next one is tried; a failed build files `build-fail` and is kept\n(`kernel.keep_failed`, default 7d); a signing failure files the global\n`signing-fail`, which holds every build op. A halt holds build ops not yet started;\na running build ends at its end or its cap. The op's step hands the job to a builder\nbeside the controller and ends (the op succeeds once the build started); other ops\nrun meanwhile, and `bosun kernel jobs` follows the build. A rebuild of a published lock whose\npackage bytes differ is refused: installs name the published digest."
    )]
    Build {
        /// The host whose `kernel/<host>/manifest.lock` to build.
        host: String,
        /// Who signs the op.
        #[arg(long = "as", value_name = "WHO", required_unless_present_any = ["step", "run_job"])]
        as_: Option<String>,
        /// What intake made of it (with `--step`: the job record), as JSON.
        #[arg(long)]
        json: bool,
        /// Start the build: only as the step of a running `kernel-build`
        /// op (the runbook's command; `BOSUN_OP` names the op).
        #[arg(long, hide = true, requires = "expect", conflicts_with = "as_")]
        step: bool,
        /// With `--step`: the lock digest the op names.
        #[arg(long, hide = true, value_name = "B2")]
        expect: Option<String>,
        /// Be the builder of job `<JOB>` (what the build op's step
        /// starts; a job is run once).
        #[arg(long, hide = true, value_name = "JOB", conflicts_with_all = ["as_", "step"])]
        run_job: Option<String>,
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
    #[command(
        after_help = "Examples:\n  bosun kernel keep ohm-1796630400-4f1c2a9b --for 30d\n  bosun kernel keep ohm-1796630400-4f1c2a9b --for 0s --as alice   # let prune take it"
    )]
    Keep {
        /// The job id (`bosun kernel jobs` lists them).
        job: String,
        /// How long from now (`7d`, `12h`; `0s` lets prune take it).
        #[arg(long = "for", value_name = "DURATION", default_value = "7d")]
        for_: String,
        /// Sign it as this identity (any role may keep, by default
        /// policy; recorded in the ledger); required under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// What changed, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete build jobs past their retention (unless pruning is paused)
    /// and release on-demand build hosts idle past their `idle_release`.
    #[command(
        after_help = "Examples:\n  bosun kernel prune\n  bosun kernel prune --pause --as kernel-agent   # keep everything while you investigate\n  bosun kernel prune --resume --as alice"
    )]
    #[command(group(clap::ArgGroup::new("mode").args(["pause", "resume"])))]
    Prune {
        /// Stop pruning until --resume.
        #[arg(long)]
        pause: bool,
        /// Prune again (the pause in force is lifted; an operator's, by
        /// default policy).
        #[arg(long)]
        resume: bool,
        /// Sign it as this identity (recorded in the ledger); required
        /// under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
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
            run_job,
        } => match (step, expect, as_, run_job) {
            (_, _, _, Some(id)) => super::kernel_builder::run_job(ctx, &host, &id, json),
            (true, Some(expect), _, _) => super::kernel_build::step(ctx, &host, &expect, json),
            (_, _, Some(who), _) => super::kernel_build::submit(ctx, &host, &who, json),
            _ => Err(other("`kernel build` needs `--as <who>`")),
        },
        KernelCmd::Install { host, as_, json } => {
            super::kernel_install::submit(ctx, &host, &as_, json)
        }
        KernelCmd::Keep {
            job,
            for_,
            as_,
            json,
        } => {
            let secs = bosun_model::source::parse_duration(&for_)
                .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
            let act = Act::KernelKeep {
                job,
                until: now().saturating_add(secs),
            };
            super::kernel_change::change(ctx, act, as_.as_deref(), &[], json)
        }
        KernelCmd::Prune {
            pause,
            resume,
            as_,
            json,
        } => {
            let act = if pause {
                Act::PrunePause
            } else if resume {
                Act::PruneResume {
                    since: super::kernel_change::paused_since(ctx)?,
                }
            } else {
                Act::Prune
            };
            super::kernel_change::change(ctx, act, as_.as_deref(), &[], json)
        }
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
