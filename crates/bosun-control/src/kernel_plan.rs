//! The params of the kernel ops, for every face: the lock as an approved
//! promote wrote it ([`read_lock`]) and an install's
//! ([`Control::install_params`]), so the CLI here and the daemon's
//! `GET /kernel/install/{host}` plan the same op.

use std::collections::BTreeMap;
use std::path::Path;

use bosun_kernel::Lock;

use crate::kernel::KernelDirs;
use crate::{Control, ControlError, Result};

/// The runbook an install op runs.
pub const INSTALL_RUNBOOK: &str = "kernel-install";

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

/// The lock and cumulative patch `patches promote --write` left in
/// `kernel/<host>/`, checked against each other and against what promote
/// makes now.
pub fn read_lock(ctl: &Control, host: &str) -> Result<(Lock, Vec<u8>, String)> {
    let root: &Path = &ctl.ws.root;
    let name = bosun_model::Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
    let rel = format!("kernel/{name}");
    for f in ["manifest.lock", "cumulative.patch"] {
        bosun_kernel::no_symlinks(root, &format!("{rel}/{f}")).map_err(|e| other(e.to_string()))?;
    }
    let text = bosun_kernel::tree::read_bounded(
        &root.join(&rel).join("manifest.lock"),
        bosun_kernel::promote::MAX_LOCK_BYTES,
    )
    .map_err(|e| {
        other(format!(
            "{rel}/manifest.lock: {e} (not promoted yet: an approved kernel-promote op writes it)"
        ))
    })?;
    let text =
        String::from_utf8(text).map_err(|_| other(format!("{rel}/manifest.lock: not UTF-8")))?;
    let lock =
        Lock::parse(&format!("{rel}/manifest.lock"), &text).map_err(|e| other(e.to_string()))?;
    let cumulative = bosun_kernel::tree::read_bounded(
        &root.join(&rel).join("cumulative.patch"),
        bosun_kernel::series::MAX_PATCH_BYTES * 64,
    )
    .map_err(|e| other(format!("{rel}/cumulative.patch: {e}")))?;
    if bosun_kernel::b2(&cumulative) != lock.cumulative.b2 {
        return Err(other(format!(
            "{rel}/cumulative.patch is not the one its lock names (b2sum differs): promote again"
        )));
    }
    let (mrel, mtext, _, tree) = ctl.manifest_of(host)?;
    let now = bosun_kernel::promote(&tree, name.as_str(), &mrel, &mtext)
        .map_err(|e| other(e.to_string()))?;
    if now.lock != lock {
        return Err(other(format!(
            "{rel}/manifest.lock is not what promote makes now (the tree or the adopted {mrel} changed): promote again (a new kernel-promote op)"
        )));
    }
    Ok((lock, cumulative, text))
}

impl Control {
    /// The params of `host`'s install op: the newest published build of
    /// its current lock (its package, that package's BLAKE2b-512, the
    /// lock's digest, the job), after the package's and the index's
    /// signatures are checked with the key the control plane holds and the
    /// index lists that very digest for that job; the manifest's initramfs
    /// preset. All of them; the caller keeps those the runbook declares.
    pub fn install_params(&self, host: &str) -> Result<BTreeMap<String, String>> {
        let ws = &self.ws;
        let dirs = KernelDirs::of(ws);
        let (lock, _, lock_text) = read_lock(self, host)?;
        let published: Vec<bosun_kernel::Job> = dirs
            .jobs()?
            .into_iter()
            .flatten()
            .filter(|j| {
                j.host == host && j.status == bosun_kernel::JobStatus::Published && j.builds(&lock)
            })
            .collect();
        if published.is_empty() {
            return Err(other(format!(
                "{host}: no published build of its current lock (build it first)"
            )));
        }
        let repo = dirs.repo.join(&lock.arch);
        // The package and the index must carry the package key's signatures,
        // checked with the key the control plane holds (not the public file
        // published beside them), and the index must list this very digest:
        // what a host installs is what bosun signed and published.
        let key = bosun_sign::find_private_key(&dirs.base.join("keys"), "packages")
            .map_err(|e| other(format!("the package key: {e}")))?
            .public();
        let verify = |st: &[u8], sig: &[u8; 64]| key.verify_bytes(st, sig);
        let index = repo.join(bosun_kernel::publish::INDEX);
        bosun_kernel::publish::verify_file(&index, &verify).map_err(other)?;
        let listed =
            bosun_kernel::tree::read_bounded(&index, bosun_kernel::publish::MAX_INDEX_BYTES)
                .map_err(|e| other(format!("{}: {e}", index.display())))
                .and_then(|t| {
                    bosun_kernel::publish::parse_index(
                        &index.display().to_string(),
                        &String::from_utf8_lossy(&t),
                    )
                    .map_err(|e| other(e.to_string()))
                })?;
        // The newest of them whose package the index lists for it (a
        // rebuild of the lock with the same bytes takes the entry over).
        let (job, pkg) = published
            .iter()
            .find_map(|j| {
                let pkg = j
                    .packages
                    .iter()
                    .find(|p| p.starts_with(&format!("{}-", j.pkgbase)))
                    .or(j.packages.first())?;
                listed
                    .iter()
                    .any(|e| e.filename == *pkg && e.job == j.job)
                    .then_some((j, pkg))
            })
            .ok_or_else(|| {
                other(format!(
                    "{host}: the signed index lists no package of a published build of its current lock"
                ))
            })?;
        let path = repo.join(pkg);
        bosun_kernel::publish::verify_file(&path, &verify).map_err(other)?;
        let bytes = bosun_kernel::tree::read_bounded(&path, 4 << 30)
            .map_err(|e| other(format!("{}: {e}", path.display())))?;
        let digest = bosun_kernel::b2(&bytes);
        if !listed
            .iter()
            .any(|e| e.filename == *pkg && e.b2 == digest && e.job == job.job)
        {
            return Err(other(format!(
                "{}: not the package the signed index lists for job {}",
                path.display(),
                job.job
            )));
        }
        let (rel, _, manifest, _) = self.manifest_of(host)?;
        let (dtb_checks, probes) = checks(&rel, &manifest, &lock)?;
        let mut preset = String::new();
        for hook in &manifest.post_install {
            match hook.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["mkinitcpio", "-p", p] => preset = p.to_string(),
                _ => {
                    return Err(other(format!(
                        "{rel}: post_install `{hook}` is not a hook bosun runs (only `mkinitcpio -p <preset>`, the initramfs an ARM `Image` install misses)"
                    )));
                }
            }
        }
        Ok(BTreeMap::from([
            ("package".to_string(), pkg.clone()),
            ("b2".to_string(), digest),
            ("lock".to_string(), bosun_kernel::b2(lock_text.as_bytes())),
            ("job".to_string(), job.job.clone()),
            ("pkgname".to_string(), job.pkgbase.clone()),
            ("version".to_string(), format!("{}-1", job.pkgver)),
            ("suffix".to_string(), lock.suffix.clone()),
            ("repo".to_string(), repo.display().to_string()),
            ("initramfs_preset".to_string(), preset),
            ("dtb_checks".to_string(), dtb_checks),
            ("probes".to_string(), probes),
            (
                "install_mode".to_string(),
                format!("{:?}", manifest.install).to_lowercase(),
            ),
        ]))
    }

    /// `host`'s install op: runbook `kernel-install` and those of
    /// [`Control::install_params`] it declares (it must declare `package`
    /// and `b2`, so the plan names the package and its digest).
    pub fn install_op(&self, host: &str) -> Result<bosun_api::views::KernelOpView> {
        let all = self.install_params(host)?;
        self.kernel_op(INSTALL_RUNBOOK, host, all, &["package", "b2"])
    }

    /// An op of the adopted `runbook` on `host`: those of `all` it
    /// declares, once it declares each of `needs` (so the plan names them).
    pub fn kernel_op(
        &self,
        runbook: &str,
        host: &str,
        all: BTreeMap<String, String>,
        needs: &[&str],
    ) -> Result<bosun_api::views::KernelOpView> {
        let gov = self.governed()?;
        let rb = gov.runbooks.get(runbook).ok_or_else(|| {
            other(format!(
                "no adopted runbooks/{runbook}.toml: its steps are the workspace's (examples/kernel-fleet has one)"
            ))
        })?;
        for need in needs {
            if !rb.runbook.params.contains_key(*need) {
                return Err(other(format!(
                    "runbooks/{runbook}.toml declares no `{need}` param: the plan must name it"
                )));
            }
        }
        Ok(bosun_api::views::KernelOpView {
            host: host.to_string(),
            runbook: runbook.into(),
            params: all
                .into_iter()
                .filter(|(k, _)| rb.runbook.params.contains_key(k))
                .collect(),
        })
    }
}

/// Bars 3 and 4 of `lock`'s install, one check a line (canonical, see
/// [`bosun_kernel::probe`]): the adopted manifest's `verify:` lines, and,
/// when it sets `probes: true`, the probe each locked patch carries.
fn checks(rel: &str, manifest: &bosun_kernel::Manifest, lock: &Lock) -> Result<(String, String)> {
    let dtb = bosun_kernel::probe::parse_all(manifest.verify.iter().map(String::as_str))
        .map_err(|e| other(format!("{rel}: verify: {e}")))?;
    // Bar 4, when the manifest opts in: the probes the lock carries (the
    // approved promote bound them, and the manifest's digest is in the
    // lock too).
    let probes: Vec<&str> = lock
        .patch
        .iter()
        .filter(|_| manifest.probes)
        .filter_map(|p| p.probe.as_deref())
        .collect();
    let probes = bosun_kernel::probe::parse_all(probes)
        .map_err(|e| other(format!("the locked patches' probes: {e}")))?;
    let lines = |c: Vec<bosun_kernel::probe::Check>| {
        c.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok((lines(dtb), lines(probes)))
}
