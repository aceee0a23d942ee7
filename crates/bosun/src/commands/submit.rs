//! `bosun submit`: sign an op (or take a pre-signed envelope) and hand it
//! to intake.

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_api::requests::PlanRequest;
use bosun_api::views::{PlannedOp, SubmittedView};
use bosun_control::intake::decision_word_of;
use bosun_control::{Result, client, now};
use clap::Args;
use serde_json::json;

use super::params::{parse_params, targets};
use super::plan::PlanArgs;
use super::{Ctx, key_id, other, refused};

/// Sign and submit an op (or a pre-signed envelope) to intake.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun submit pkg-upgrade -t web-1 -p version=2.0 --as claude\n  bosun submit --envelope op.jws\n  jti=$(bosun submit disk-usage -t web-1 --as claude -q)"
)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    pub(crate) plan: Option<PlanArgs>,
    /// Sign as this identity.
    #[arg(long = "as")]
    pub(crate) as_: Option<String>,
    /// Submit this pre-signed envelope file instead (`-` for stdin).
    #[arg(long, conflicts_with = "as_")]
    pub(crate) envelope: Option<PathBuf>,
    /// Print only the op's jti (for scripts: `jti=$(bosun submit … -q)`).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Sign the op and print its envelope instead of submitting it (to
    /// submit elsewhere: `--envelope FILE`, or `POST /api/v1/ops`).
    #[arg(long, requires = "as_", conflicts_with = "quiet")]
    pub(crate) sign_only: bool,
}

/// Runs `bosun submit`.
pub(crate) fn run(ctx: &Ctx, a: SubmitArgs) -> Result<ExitCode> {
    submit(ctx, a.plan, a.as_, a.envelope, a.quiet, a.sign_only)
}

fn submit(
    ctx: &Ctx,
    plan: Option<PlanArgs>,
    as_: Option<String>,
    envelope: Option<PathBuf>,
    quiet: bool,
    sign_only: bool,
) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let j = plan.as_ref().is_some_and(|p| p.json);
    let t = now();
    let env = match (envelope, as_) {
        (Some(path), _) => read_envelope(&path)?,
        (None, Some(who)) => {
            let p = plan
                .as_ref()
                .ok_or_else(|| other("name a runbook and targets, or pass --envelope FILE"))?;
            let runbook = p.runbook.as_deref().ok_or_else(|| {
                other("name a runbook: `bosun submit <runbook> --target <host> --as <you>`")
            })?;
            let who = key_id(&who)?;
            let key = client::load_secret(&ctx.keys, &who)?;
            let plan = client::plan(
                &gov,
                runbook,
                &targets(&gov.inventory, &p.targets)?,
                &parse_params(&p.params)?,
            )?;
            let seq = ctl.next_seq(&who)?;
            ctl.sign_op(&key, &who, &plan, seq, t)?.1
        }
        (None, None) => {
            return Err(other(
                "say who signs with --as <key>, or pass --envelope FILE",
            ));
        }
    };
    if sign_only {
        outln!("{env}");
        return Ok(ExitCode::SUCCESS);
    }
    let r = ctl.intake(&gov, std::slice::from_ref(&env), t)?;
    match r.into_iter().next() {
        Some(Ok(a)) => print_submitted(&bosun_control::views::submitted_view(&a), quiet, j),
        Some(Err(rej)) => Ok(refused(&rej, j)),
        None => Err(other("intake returned nothing")),
    }
}

/// A pre-signed envelope from `path` (`-`: stdin), read only up to one
/// byte past the envelope limit.
fn read_envelope(path: &std::path::Path) -> Result<String> {
    use std::io::Read as _;
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut std::io::stdin().take(bosun_sign::MAX_ENVELOPE_BYTES as u64 + 1),
            &mut s,
        )
        .map_err(|e| other(format!("stdin: {e}")))?;
        s
    } else {
        // Read at most one byte past the limit: intake refuses an
        // oversized envelope (`size`) without this process holding
        // the whole file (or reading a device forever).
        let mut s = String::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(bosun_sign::MAX_ENVELOPE_BYTES as u64 + 1)
                    .read_to_string(&mut s)
            })
            .map_err(|e| other(format!("{}: {e}", path.display())))?;
        s
    };
    Ok(text.trim().to_string())
}

/// Prints what intake made of an op, as `submit` does in both modes.
pub(crate) fn print_submitted(v: &SubmittedView, quiet: bool, j: bool) -> Result<ExitCode> {
    let d = &v.policy_decision;
    if quiet {
        outln!("{}", v.jti);
    } else if j {
        outln!(
            "{}",
            json!({"jti": v.jti, "decision": decision_word_of(&d.outcome), "state": v.state, "policy_ids": d.rules, "reasons": d.reasons})
        );
    } else {
        outln!("submitted {}: {}", v.jti, v.state);
        match d.outcome.as_str() {
            "auto" => outln!("the policy lets it run alone; the controller will pick it up"),
            "approvals" => outln!(
                "it needs {} approval(s) from {}: bosun approve {} --as <operator>",
                d.approvals_needed,
                d.approver_roles
                    .iter()
                    .map(crate::output::word)
                    .collect::<Vec<_>>()
                    .join(" or "),
                v.jti
            ),
            _ => outln!("denied: {}", d.denied_because.as_deref().unwrap_or("")),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bosun submit` as a client of the daemon (`BOSUN_URL`): the daemon
/// plans, this CLI signs with its own key, the daemon's intake decides.
/// Asks the daemon to plan `req` for `who` (the plan whole), checks it is
/// what was asked (its digest recomputed here, the workspace here when
/// there is one), says on stderr what is signed, and signs the op with
/// `who`'s key here: the plan and the envelope.
pub(crate) fn sign_planned(
    ctx: &Ctx,
    r: &bosun_client::Remote,
    who: &bosun_model::KeyId,
    mut req: PlanRequest,
) -> Result<(PlannedOp, String)> {
    let key = client::load_secret(&ctx.keys, who)?;
    req.issuer = Some(who.to_string());
    req.whole = true;
    // A plan the daemon cannot make is an error here, as it is when the
    // CLI plans itself (not a refusal of an op).
    let planned: PlannedOp = r.post("/plan", &req)?.map_err(|e| other(e.message))?;
    let here = bosun_workspace::Workspace::open(&ctx.workspace).ok();
    bosun_client::check_planned(
        &req,
        &planned,
        here.as_ref().map(|w| w.config.name.as_str()),
    )?;
    let seq = planned
        .next_seq
        .ok_or_else(|| other("the daemon's plan has no sequence number for the signer"))?;
    let draft = client::OpDraft::planned(&planned)?;
    errln!(
        "signing as {who}: {}{} on {} with {} (plan {}, seq {seq}) for workspace {}",
        if planned.check { "the checks of " } else { "" },
        planned.runbook,
        planned.targets.join(", "),
        bosun_client::shown_params(&req, &planned),
        planned.plan_digest,
        planned.workspace
    );
    let env = client::sign_op_draft(&key, who, &draft, None, seq, now())?.1;
    Ok((planned, env))
}

pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, a: SubmitArgs) -> Result<ExitCode> {
    let j = a.plan.as_ref().is_some_and(|p| p.json);
    let env = match (a.envelope, a.as_) {
        (Some(path), _) => read_envelope(&path)?,
        (None, Some(who)) => {
            let p = a
                .plan
                .as_ref()
                .ok_or_else(|| other("name a runbook and targets, or pass --envelope FILE"))?;
            let runbook = p.runbook.clone().ok_or_else(|| {
                other("name a runbook: `bosun submit <runbook> --target <host> --as <you>`")
            })?;
            if p.targets.is_empty() {
                return Err(other(
                    "no target hosts: give at least one `--target <selector>` (a host, web-*, tag:x, arch:aarch64, !tag:x)",
                ));
            }
            let req = PlanRequest {
                runbook,
                targets: p.targets.clone(),
                params: parse_params(&p.params)?,
                issuer: None,
                check: false,
                whole: true,
            };
            sign_planned(ctx, r, &key_id(&who)?, req)?.1
        }
        (None, None) => {
            return Err(other(
                "say who signs with --as <key>, or pass --envelope FILE",
            ));
        }
    };
    if a.sign_only {
        outln!("{env}");
        return Ok(ExitCode::SUCCESS);
    }
    match r.post::<_, SubmittedView>("/ops", &json!({ "envelope": env }))? {
        Ok(v) => print_submitted(&v, a.quiet, j),
        Err(e) => Ok(super::refused_remote(&e, j)),
    }
}
