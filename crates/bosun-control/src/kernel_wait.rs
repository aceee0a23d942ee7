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
    /// Every host's newest build when it is published, of the lock the
    /// host has now (`kernel/<host>/manifest.lock`), not what the host
    /// runs, and named by no install op (in any state: waiting, running,
    /// done, failed or denied). Reads only the job records, the locks and
    /// the op log: cheap enough for every reminder pass.
    pub fn installable(&self) -> Result<Vec<Installable>> {
        let dirs = KernelDirs::of(&self.ws);
        // Newest first: the first job of a host is its newest.
        let jobs: Vec<Job> = dirs.jobs()?.into_iter().flatten().collect();
        let mut seen = std::collections::BTreeSet::new();
        let newest: Vec<&Job> = jobs.iter().filter(|j| seen.insert(&j.host)).collect();
        if !newest.iter().any(|j| j.status == JobStatus::Published) {
            return Ok(Vec::new());
        }
        let (inv, _) = self.inventory_in_force()?;
        let views = self.host_views(&inv.hosts)?;
        let named = self.install_ops_named()?;
        let mut out = Vec::new();
        for j in newest {
            if j.status != JobStatus::Published {
                continue;
            }
            let Some(view) = views.iter().find(|v| v.host == j.host) else {
                continue;
            };
            let current = locked_b2(&self.ws.root, &j.host).is_some_and(|b| b == j.cumulative_b2);
            if !current || runs(view.version.as_deref(), j) {
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
