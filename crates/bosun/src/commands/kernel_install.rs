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
//! view until a human acts (a published build is `installable`, reminded
//! to the operators until one runs this verb).

use std::collections::BTreeMap;
use std::process::ExitCode;

use bosun_control::{Result, client, now};

use bosun_api::views::KernelOpView;

use super::{Ctx, key_id, other, refused};

/// Plans and submits the install op of `host` signed by `who`; prints what
/// intake made of it.
pub(crate) fn submit(ctx: &Ctx, host: &str, who: &str, json: bool) -> Result<ExitCode> {
    let op: KernelOpView = match &ctx.remote {
        Some(r) => match super::answered(r.get(&format!("/kernel/install/{host}")), json)? {
            Ok(v) => v,
            Err(code) => return Ok(code),
        },
        None => ctx.control()?.install_op(host).map_err(|e| {
            other(format!(
                "{e}\n  build it: `bosun kernel build {host} --as <you>` (after an approved promote)"
            ))
        })?,
    };
    if !json {
        let p = |k: &str| op.params.get(k).map_or("", String::as_str);
        outln!(
            "{host}: install of {} ({} {}), b2 {}…",
            p("package"),
            p("pkgname"),
            p("version"),
            &p("b2")[..16.min(p("b2").len())],
        );
    }
    send(ctx, &op.runbook, host, op.params, who, json)
}

/// Submits `runbook` on `host` with `params`, signed as `who`: here
/// through intake, or to the daemon (which plans it; this CLI checks the
/// plan's digest and signs it, as `bosun submit` does). Prints what intake
/// made of it.
pub(crate) fn send(
    ctx: &Ctx,
    runbook: &str,
    host: &str,
    params: BTreeMap<String, String>,
    who: &str,
    json: bool,
) -> Result<ExitCode> {
    if let Some(r) = &ctx.remote {
        let a = super::submit::SubmitArgs {
            plan: Some(super::plan::PlanArgs {
                runbook: Some(runbook.to_string()),
                targets: vec![host.to_string()],
                params: params.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                json,
            }),
            as_: Some(who.to_string()),
            envelope: None,
            quiet: false,
            sign_only: false,
        };
        return super::submit::remote(ctx, r, a);
    }
    let names: Vec<&str> = params.keys().map(String::as_str).collect();
    let (_, r) = submit_op(ctx, runbook, host, params.clone(), &names, who)?;
    match r {
        Ok(v) => super::submit::print_submitted(&v, false, json),
        Err(rej) => Ok(refused(&rej, json)),
    }
}

/// What intake made of an install op.
pub(crate) type Proposed =
    std::result::Result<bosun_api::views::SubmittedView, Box<bosun_control::intake::Rejected>>;

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
    let params = ctl.kernel_op(runbook, host, all, needed)?.params;
    let gov = ctl.governed()?;
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
