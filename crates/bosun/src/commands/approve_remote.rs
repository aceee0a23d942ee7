//! `bosun approve` and `bosun deny` as a client of the daemon
//! (`BOSUN_URL`), and what `ops show` reads from it. The op's consent view
//! (`GET /api/v1/ops/{id}/consent`) and its whole plan (`/ops/{id}/plan`)
//! are fetched, and the plan's digest recomputed here: it must be the
//! digest the op signed, or nothing is signed — so what is shown (params,
//! every host with its binding, every command) is exactly what the
//! approval binds to, whatever answers at `BOSUN_URL`. It is rendered as
//! embedded renders it, byte for byte; then the question, and the answer
//! signed here. The operator's key never leaves this machine.

use std::process::ExitCode;

use bosun_api::views::{ConsentView, OpView};
use bosun_client::Remote;
use bosun_control::Result;
use bosun_model::{Digest, Jti, Plan, Verdict};
use serde_json::json;

use super::remote_sign::RemoteSigner;
use super::{Ctx, key_id};

/// What `approve`/`deny` were asked, for the remote path.
pub(crate) struct Asked<'a> {
    /// The op (an id or a unique prefix).
    pub(crate) jti: &'a str,
    /// Who signs.
    pub(crate) as_: &'a str,
    /// Sign without asking.
    pub(crate) yes: bool,
    /// JSON out.
    pub(crate) json: bool,
    /// Print the envelope instead of sending it.
    pub(crate) sign_only: bool,
}

/// Shows the op the daemon holds, asks, signs here and sends the answer.
pub(crate) fn answer(
    ctx: &Ctx,
    r: &Remote,
    asked: &Asked<'_>,
    verdict: Verdict,
    why: Option<String>,
) -> Result<ExitCode> {
    let js = asked.json;
    key_id(asked.as_)?;
    let (c, plan) = match fetch_checked(r, asked.jti, js)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let op = Jti::parse(&c.op.brief.jti).map_err(|e| r.failed(format!("its op id: {e}")))?;
    let digest = plan.digest();
    let signer = RemoteSigner::new(ctx, r, asked.as_)?;
    super::approve::show_and_ask(
        &super::consent::render(&c, &plan),
        js || asked.sign_only,
        asked.yes,
        verdict,
    )?;
    // Signed when answered: the question may have waited a while.
    let (_, env) = signer.signing().approval(&op, &digest, verdict, why)?;
    if asked.sign_only {
        outln!("{env}");
        return Ok(ExitCode::SUCCESS);
    }
    let after: OpView = match r.post("/approvals", &json!({ "envelope": env }))? {
        Ok(v) => v,
        Err(e) => return Ok(super::refused_remote(&e, js)),
    };
    let approvals = after
        .approvals
        .iter()
        .filter(|a| a.verdict == "approve" && a.plan_digest == after.plan_digest)
        .count();
    super::approve::print_answered(
        verdict,
        &after.brief.jti,
        after.brief.state,
        approvals,
        after.policy_decision.approvals_needed,
        js,
    )
}

/// The op `given` names (an id or a unique prefix) as the daemon reports
/// it, and its whole plan, whose digest is recomputed here: it must be
/// the digest the op signed, or the answer is refused — what is shown
/// from it is what an approval binds to. A refusal of the daemon is
/// printed, and its exit status returned.
pub(crate) fn fetch_checked(
    r: &Remote,
    given: &str,
    js: bool,
) -> Result<std::result::Result<(ConsentView, Plan), ExitCode>> {
    let path = format!("/ops/{}/consent", super::op_path_id(given)?);
    let c: ConsentView = match super::answered(r.get(&path), js)? {
        Ok(v) => v,
        Err(code) => return Ok(Err(code)),
    };
    let view = &c.op;
    if !view.brief.jti.starts_with(given) {
        return Err(r.failed(format!(
            "asked for op `{given}`, it answered op `{}`; nothing was signed",
            view.brief.jti
        )));
    }
    let op = Jti::parse(&view.brief.jti).map_err(|e| r.failed(format!("its op id: {e}")))?;
    let digest = Digest::try_from(view.plan_digest.clone())
        .map_err(|e| r.failed(format!("the op's plan digest: {e}")))?;
    let plan: Plan = match super::answered(r.get(&format!("/ops/{op}/plan")), js)? {
        Ok(v) => v,
        Err(code) => return Ok(Err(code)),
    };
    if plan.digest() != digest {
        return Err(r.failed(format!(
            "the plan it sent has digest {}, not the {digest} op {op} signed; nothing was signed",
            plan.digest()
        )));
    }
    Ok(Ok((c, plan)))
}
