//! `bosun approve` and `bosun deny` as a client of the daemon
//! (`BOSUN_URL`). The op's whole plan is fetched (`GET
//! /api/v1/ops/{id}/plan`) and its digest recomputed here: it must be the
//! digest the op signed, or nothing is signed — so what is shown (params,
//! every host with its binding, every command, as the embedded consent
//! view shows them) is exactly what the approval binds to, whatever
//! answers at `BOSUN_URL`. Then the decision and the approvals so far,
//! the question, and the answer signed here. The operator's key never
//! leaves this machine.

use std::fmt::Write as _;
use std::process::ExitCode;

use bosun_api::views::OpView;
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
    let (view, plan) = match fetch_checked(r, asked.jti, js)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let op = Jti::parse(&view.brief.jti).map_err(|e| r.failed(format!("its op id: {e}")))?;
    let digest = plan.digest();
    let signer = RemoteSigner::new(ctx, r, asked.as_)?;
    super::approve::show_and_ask(
        &render(&view, &plan, &r.url),
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
) -> Result<std::result::Result<(OpView, Plan), ExitCode>> {
    let view: OpView =
        match super::answered(r.get(&format!("/ops/{}", super::op_path_id(given)?)), js)? {
            Ok(v) => v,
            Err(code) => return Ok(Err(code)),
        };
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
    Ok(Ok((view, plan)))
}

/// What an approver reads before signing: the op as the daemon reports
/// it, and its plan (whose digest was recomputed here) as the embedded
/// consent view shows it.
pub(crate) fn render(v: &OpView, plan: &Plan, url: &bosun_client::Url) -> String {
    let mut s = String::new();
    let b = &v.brief;
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "op        {}  ({}; from the daemon at {url})",
        b.jti, b.state
    );
    let _ = writeln!(s, "issuer    {} ({}), seq {}", b.iss, v.role, v.seq);
    let _ = writeln!(
        s,
        "runbook   {} — {}, verb `{}`",
        plan.runbook,
        crate::output::plan_kind(plan),
        plan.verb()
    );
    let _ = writeln!(s, "          definition {}", plan.runbook_digest);
    let _ = writeln!(
        s,
        "plan      {}  (an approval signs exactly this plan; its digest checked here)",
        plan.digest()
    );
    s.push_str(&super::consent::render_plan(plan));
    let d = &v.policy_decision;
    let _ = writeln!(
        s,
        "decision  {}: {} approval(s) needed, rules {}",
        d.outcome,
        d.approvals_needed,
        d.rules.join(", ")
    );
    for why in &d.reasons {
        let _ = writeln!(s, "          {why}");
    }
    if v.approvals.is_empty() {
        let _ = writeln!(s, "approvals none yet");
    }
    for a in &v.approvals {
        let _ = writeln!(s, "approval  {} by {} ({})", a.verdict, a.by, a.role);
    }
    s
}
