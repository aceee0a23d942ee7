//! `bosun kernel install <host>`: the only verb that installs a kernel and
//! reboots (the seed's hard rules: never auto-install; reboot only inside
//! install). It is an op of the workspace's `kernel-install` runbook (an
//! adopted runbook: its steps back up, fetch and check, install, run the
//! initramfs hook, reboot, then its bar steps verify), planned on the host
//! with the newest published, signed build of the host's current lock:
//! the package's file name and BLAKE2b digest are params, so the plan a
//! human signs or approves names exactly that package.
//!
//! Who may install is the keeper policy's: the example workspace lets an
//! operator's install run alone (consent by action) and sends an agent's
//! to an operator for approval, where the reminder ladder keeps it in
//! view until a human acts. `kernel build --as` proposes it this way once
//! it has published.

use std::collections::BTreeMap;
use std::process::ExitCode;

use bosun_control::{Result, client, now};

use super::kernel_build::read_lock;
use super::{Ctx, key_id, other, refused};
use bosun_control::kernel::KernelDirs;

/// The runbook an install runs.
pub(crate) const RUNBOOK: &str = "kernel-install";

/// The params an install gives the runbook (those it declares).
fn params_for(ctx: &Ctx, host: &str) -> Result<BTreeMap<String, String>> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let dirs = KernelDirs::of(&ws);
    let (lock, _, lock_text) = read_lock(&ws.root, host)?;
    let job = dirs
        .jobs()?
        .into_iter()
        .flatten()
        .find(|j| {
            j.host == host
                && j.status == bosun_kernel::JobStatus::Published
                && j.cumulative_b2 == lock.cumulative.b2
        })
        .ok_or_else(|| {
            other(format!(
                "{host}: no published build of its current lock: `bosun kernel build {host}` first"
            ))
        })?;
    let pkg = job
        .packages
        .iter()
        .find(|p| p.starts_with(&format!("{}-", job.pkgbase)))
        .or(job.packages.first())
        .ok_or_else(|| other(format!("job {} published no package", job.job)))?;
    let repo = dirs.repo.join(&lock.arch);
    let path = repo.join(pkg);
    // The package and the index must carry the package key's signatures,
    // checked with the key the control plane holds (not the public file
    // published beside them), and the index must list this very digest:
    // what a host installs is what bosun signed and published.
    let key = bosun_sign::find_private_key(&dirs.base.join("keys"), "packages")
        .map_err(|e| other(format!("the package key: {e}")))?
        .public();
    let verify = |st: &[u8], sig: &[u8; 64]| key.verify_bytes(st, sig);
    bosun_kernel::publish::verify_file(&path, &verify).map_err(other)?;
    let index = repo.join(bosun_kernel::publish::INDEX);
    bosun_kernel::publish::verify_file(&index, &verify).map_err(other)?;
    let bytes = bosun_kernel::tree::read_bounded(&path, 4 << 30)
        .map_err(|e| other(format!("{}: {e}", path.display())))?;
    let digest = bosun_kernel::b2(&bytes);
    let listed = bosun_kernel::tree::read_bounded(&index, bosun_kernel::publish::MAX_INDEX_BYTES)
        .map_err(|e| other(format!("{}: {e}", index.display())))
        .and_then(|t| {
            bosun_kernel::publish::parse_index(
                &index.display().to_string(),
                &String::from_utf8_lossy(&t),
            )
            .map_err(|e| other(e.to_string()))
        })?;
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
    let (rel, _, manifest, _) = super::patches::manifest_of(&ws.root, host)?;
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
        (
            "install_mode".to_string(),
            format!("{:?}", manifest.install).to_lowercase(),
        ),
    ]))
}

/// Plans and submits the install op of `host` signed by `who`; prints what
/// intake made of it.
pub(crate) fn submit(ctx: &Ctx, host: &str, who: &str, json: bool) -> Result<ExitCode> {
    if ctx.remote.is_some() {
        return Err(other(
            "`kernel install` runs on the control host, not yet through the daemon: unset BOSUN_URL",
        ));
    }
    let (params, r) = propose(ctx, host, who)?;
    match r {
        Ok(v) => {
            if !json {
                outln!(
                    "{host}: install of {} ({} {}), b2 {}…",
                    params.get("package").map_or("", String::as_str),
                    params.get("pkgname").map_or("", String::as_str),
                    params.get("version").map_or("", String::as_str),
                    params.get("b2").map_or("", |b| &b[..16.min(b.len())]),
                );
            }
            super::submit::print_submitted(&v, false, json)
        }
        Err(rej) => Ok(refused(&rej, json)),
    }
}

/// What intake made of an install op.
pub(crate) type Proposed =
    std::result::Result<bosun_api::views::SubmittedView, Box<bosun_control::intake::Rejected>>;

/// Plans, signs as `who` and submits the install op of `host`: its params
/// and what intake made of it.
pub(crate) fn propose(
    ctx: &Ctx,
    host: &str,
    who: &str,
) -> Result<(BTreeMap<String, String>, Proposed)> {
    let all = params_for(ctx, host)?;
    submit_op(ctx, RUNBOOK, host, all, &["package", "b2"], who)
}

/// Plans `runbook` on `host` with those of `all` it declares (it must
/// declare each of `needed`), signs it as `who` and hands it to intake:
/// the params used and what intake made of it.
pub(crate) fn submit_op(
    ctx: &Ctx,
    runbook: &str,
    host: &str,
    all: BTreeMap<String, String>,
    needed: &[&str],
    who: &str,
) -> Result<(BTreeMap<String, String>, Proposed)> {
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let Some(rb) = gov.runbooks.get(runbook) else {
        return Err(other(format!(
            "no adopted runbooks/{runbook}.toml: its steps are the workspace's (examples/kernel-fleet has one)"
        )));
    };
    let declared: Vec<String> = rb.runbook.params.keys().cloned().collect();
    for need in needed {
        if !declared.iter().any(|d| d == need) {
            return Err(other(format!(
                "runbooks/{runbook}.toml declares no `{need}` param: the plan must name it"
            )));
        }
    }
    let params: BTreeMap<String, String> = all
        .into_iter()
        .filter(|(k, _)| declared.contains(k))
        .collect();
    let name = bosun_model::Name::parse(host).map_err(|e| other(e.to_string()))?;
    let whom = key_id(who)?;
    let key = client::load_secret(&ctx.keys, &whom)?;
    let plan = client::plan(&gov, runbook, &[name], &params)?;
    let t = now();
    let seq = ctl.next_seq(&whom)?;
    let env = ctl.sign_op(&key, &whom, &plan, seq, t)?.1;
    let r = ctl.intake(&gov, std::slice::from_ref(&env), t)?;
    let r = match r.into_iter().next() {
        Some(Ok(a)) => Ok(bosun_control::views::submitted_view(&a)),
        Some(Err(rej)) => Err(Box::new(rej)),
        None => return Err(other("intake returned nothing")),
    };
    Ok((params, r))
}
