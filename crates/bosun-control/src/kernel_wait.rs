//! The seed's `installable`: a kernel that is built, signed and published
//! for a host's current lock, waiting for a human to install it (never
//! auto-install). It is not a blocker (it holds nothing); it is a wait on
//! the consent ladder ([`crate::notify`]), reminded at once, +1h, +6h,
//! daily, until an install op for that build exists: one an operator
//! submitted with the install verb, or one an agent proposed (then that
//! op's own approval wait is what reminds). It ends by itself when the
//! host runs that version or a newer promote makes the build stale.

use bosun_kernel::{Job, JobStatus};

use crate::kernel::{INSTALL_RUNBOOK, KernelDirs};
use crate::{Control, Result};

/// A published build that waits for a human to install it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installable {
    /// The host it is for.
    pub host: String,
    /// The build job.
    pub job: String,
    /// Its package base (`linux-ohm`).
    pub pkgbase: String,
    /// The version the host will report (`<pkgver>-1`).
    pub version: String,
    /// When it was published (Unix seconds): the wait's start.
    pub since: i64,
}

/// An install op's target and the build job it installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstallOp {
    /// The host it installs on.
    pub host: String,
    /// The job whose package it installs.
    pub job: String,
    /// The op.
    pub jti: String,
}

/// Whether the host's recorded version (`pacman -Q`'s `<pkg> <version>`
/// or the version alone, as the version bar records it) is `j`'s.
pub(crate) fn runs(installed: Option<&str>, j: &Job) -> bool {
    let v = format!("{}-1", j.pkgver);
    installed.is_some_and(|i| i == v || i == format!("{} {v}", j.pkgbase))
}

/// `kernel/<host>/manifest.lock` as it is on disk, without re-promoting
/// or reading a patch: `None` when there is none to read, an error when it
/// is a link, not UTF-8 or does not parse (a regular file, bounded).
pub(crate) fn lock_on_disk(
    root: &std::path::Path,
    host: &str,
) -> Option<std::result::Result<bosun_kernel::Lock, String>> {
    let rel = format!(
        "kernel/{}/manifest.lock",
        bosun_model::Name::parse(host).ok()?
    );
    let b =
        bosun_kernel::tree::read_bounded(&root.join(&rel), bosun_kernel::promote::MAX_LOCK_BYTES)
            .ok()?;
    Some(
        bosun_kernel::no_symlinks(root, &rel)
            .map_err(|e| e.to_string())
            .and_then(|()| String::from_utf8(b).map_err(|_| format!("{rel}: not UTF-8")))
            .and_then(|t| bosun_kernel::Lock::parse(&rel, &t).map_err(|e| e.to_string())),
    )
}

impl Control {
    /// Every host's newest published build of the lock it has now
    /// (`kernel/<host>/manifest.lock`) that it does not run and no install
    /// op names (in any state: waiting, running, done, failed (a failed
    /// bar's `regression` blocker reminds instead) or denied). Reads only
    /// the job records, the locks and the op log: cheap enough for every
    /// reminder pass.
    pub fn installable(&self) -> Result<Vec<Installable>> {
        let dirs = KernelDirs::of(&self.ws);
        // Newest first: per host, the newest published build of the lock
        // it has now (a newer failed or running build hides nothing).
        let jobs: Vec<Job> = dirs.jobs()?.into_iter().flatten().collect();
        let mut locks: std::collections::BTreeMap<&str, Option<bosun_kernel::Lock>> =
            Default::default();
        let mut newest: Vec<&Job> = Vec::new();
        for j in &jobs {
            if j.status != JobStatus::Published || newest.iter().any(|n| n.host == j.host) {
                continue;
            }
            let lock = locks
                .entry(j.host.as_str())
                .or_insert_with(|| lock_on_disk(&self.ws.root, &j.host).and_then(|r| r.ok()));
            if lock.as_ref().is_some_and(|l| j.builds(l)) {
                newest.push(j);
            }
        }
        if newest.is_empty() {
            return Ok(Vec::new());
        }
        let (inv, _) = self.inventory_in_force()?;
        let views = self.host_views(&inv.hosts)?;
        let named = self.install_ops(None, 10_000)?;
        let mut out = Vec::new();
        for j in newest {
            let Some(view) = views.iter().find(|v| v.host == j.host) else {
                continue;
            };
            if runs(view.version.as_deref(), j) {
                continue;
            }
            if named.iter().any(|o| o.host == j.host && o.job == j.job) {
                continue;
            }
            out.push(Installable {
                host: j.host.clone(),
                job: j.job.clone(),
                pkgbase: j.pkgbase.clone(),
                version: format!("{}-1", j.pkgver),
                since: j.ended.unwrap_or(j.started),
            });
        }
        Ok(out)
    }

    /// The install ops in `state` (any when `None`), newest first, at most
    /// `limit`: one entry per target, naming the job it installs.
    pub(crate) fn install_ops(
        &self,
        state: Option<bosun_model::OpState>,
        limit: usize,
    ) -> Result<Vec<InstallOp>> {
        let mut out = Vec::new();
        for o in self.ops(state, limit)? {
            if o.runbook != INSTALL_RUNBOOK {
                continue;
            }
            if let Some(rec) = self.op_record(&o.jti)? {
                let job = rec.plan.params.get("job").cloned().unwrap_or_default();
                for t in &rec.plan.targets {
                    out.push(InstallOp {
                        host: t.to_string(),
                        job: job.clone(),
                        jti: o.jti.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }
}
