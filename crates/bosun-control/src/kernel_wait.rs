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

/// Whether the host's recorded version (`pacman -Q`'s `<pkg> <version>`
/// or the version alone, as the version bar records it) is `j`'s.
pub(crate) fn runs(installed: Option<&str>, j: &Job) -> bool {
    let v = format!("{}-1", j.pkgver);
    installed.is_some_and(|i| i == v || i == format!("{} {v}", j.pkgbase))
}

/// The cumulative digest `kernel/<host>/manifest.lock` names, if it reads
/// and parses (a regular file, bounded: no re-promote, no patch read).
fn locked_b2(root: &std::path::Path, host: &str) -> Option<String> {
    let rel = format!("kernel/{}", bosun_model::Name::parse(host).ok()?);
    bosun_kernel::no_symlinks(root, &format!("{rel}/manifest.lock")).ok()?;
    let b = bosun_kernel::tree::read_bounded(
        &root.join(&rel).join("manifest.lock"),
        bosun_kernel::promote::MAX_LOCK_BYTES,
    )
    .ok()?;
    let text = String::from_utf8(b).ok()?;
    let lock = bosun_kernel::Lock::parse(&format!("{rel}/manifest.lock"), &text).ok()?;
    Some(lock.cumulative.b2)
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
        let mut locks: std::collections::BTreeMap<&str, Option<String>> = Default::default();
        let mut newest: Vec<&Job> = Vec::new();
        for j in &jobs {
            if j.status != JobStatus::Published || newest.iter().any(|n| n.host == j.host) {
                continue;
            }
            let lock = locks
                .entry(j.host.as_str())
                .or_insert_with(|| locked_b2(&self.ws.root, &j.host));
            if lock.as_deref() == Some(j.cumulative_b2.as_str()) {
                newest.push(j);
            }
        }
        if newest.is_empty() {
            return Ok(Vec::new());
        }
        let (inv, _) = self.inventory_in_force()?;
        let views = self.host_views(&inv.hosts)?;
        let named = self.install_ops_named()?;
        let mut out = Vec::new();
        for j in newest {
            let Some(view) = views.iter().find(|v| v.host == j.host) else {
                continue;
            };
            if runs(view.version.as_deref(), j) {
                continue;
            }
            if named.iter().any(|(h, job)| *h == j.host && *job == j.job) {
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

    /// (host, job) of every install op in the log.
    fn install_ops_named(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for o in self.ops(None, 10_000)? {
            if o.runbook != INSTALL_RUNBOOK {
                continue;
            }
            if let Some(rec) = self.op_record(&o.jti)? {
                let job = rec.plan.params.get("job").cloned().unwrap_or_default();
                for t in &rec.plan.targets {
                    out.push((t.to_string(), job.clone()));
                }
            }
        }
        Ok(out)
    }
}
