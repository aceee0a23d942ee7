//! `bosun patches promote <host> --submit`: the promote as an op (the
//! seed's "never auto-promote"). The op is the workspace's
//! `kernel-promote` runbook on the host, naming the lock's digest (the
//! whole `manifest.lock`: baseline, suffix, arch, the manifest's digest and
//! every patch's) and the patches it carries (so a `patch-fail` or
//! `campaign-conflict` blocker on any of them holds it); its step writes
//! `kernel/<host>/` with `patches promote --write --expect <digest>`, so
//! what is written is what was approved, or nothing. `kernel build` builds
//! only a lock such an op wrote (`Control::approved_promote`).

use std::process::ExitCode;

use bosun_control::Result;
use bosun_control::kernel::PROMOTE_RUNBOOK as RUNBOOK;

use super::kernel_install::submit_op;
use super::{Ctx, refused};

/// Submits the promote of `host` as an op signed by `who`.
pub(crate) fn submit(ctx: &Ctx, host: &str, who: &str, json: bool) -> Result<ExitCode> {
    if let Some(r) = &ctx.remote {
        // The daemon resolves the tree it holds; this CLI signs the op.
        let v: bosun_api::views::PromotePreviewView =
            match super::answered(r.get(&format!("/kernel/promote/{host}")), json)? {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
        if !json {
            outln!(
                "{host}: promote of {} patch(es) on {}, cumulative b2sum {}\n  manifest.lock b2sum {}",
                v.patches.len(),
                v.baseline,
                v.cumulative_b2,
                v.lock_b2
            );
        }
        return super::kernel_install::send(ctx, &v.runbook, host, v.params, who, json);
    }
    let (rel, text, _, tree) = ctx.reader()?.manifest_of(host)?;
    let p = super::patches::promote_or_file(ctx, &tree, host, &rel, &text, Some(who))?;
    let (lock_b2, all) = bosun_control::kernel::promote_params(host, &p)?;
    let (_, r) = submit_op(ctx, RUNBOOK, host, all, &["host", "lock", "patches"], who)?;
    match r {
        Ok(v) => {
            if !json {
                outln!(
                    "{host}: promote of {} patch(es) on {} {}, cumulative b2sum {}\n  manifest.lock b2sum {lock_b2}",
                    p.lock.patch.len(),
                    p.lock.baseline_tree,
                    p.lock.baseline_ref,
                    p.lock.cumulative.b2
                );
            }
            super::submit::print_submitted(&v, false, json)
        }
        Err(rej) => Ok(refused(&rej, json)),
    }
}
