//! `bosun approve` and `bosun deny` as a client of the daemon
//! (`BOSUN_URL`): the op as the daemon holds it is shown — runbook, plan
//! digest, params, every host's rendered commands, the decision and the
//! approvals so far — then the answer is signed here, bound to that plan
//! digest, and sent. The operator's key never leaves this machine.

use std::fmt::Write as _;
use std::process::ExitCode;

use bosun_api::views::OpView;
use bosun_client::Remote;
use bosun_control::Result;
use bosun_model::{Digest, Jti, Verdict};
use serde_json::json;

use super::remote_sign::RemoteSigner;
use super::{Ctx, key_id, other};

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
    let view: OpView = match r.get(&format!("/ops/{}", path_id(asked.jti)?))? {
        Ok(v) => v,
        Err(e) => return Ok(super::refused_remote(&e, js)),
    };
    let op = Jti::parse(&view.brief.jti).map_err(|e| r.failed(format!("its op id: {e}")))?;
    let digest = Digest::try_from(view.plan_digest.clone())
        .map_err(|e| r.failed(format!("the op's plan digest: {e}")))?;
    if view.plan.digest != view.plan_digest {
        return Err(r.failed(format!(
            "the plan shown (digest {}) is not the plan the op signed ({}); nothing was signed",
            view.plan.digest, view.plan_digest
        )));
    }
    let signer = RemoteSigner::new(ctx, r, asked.as_)?;
    super::consent::show(&render(&view, &r.url), js || asked.sign_only, asked.yes)?;
    let question = match verdict {
        Verdict::Approve => "approve?",
        Verdict::Deny => "deny?",
    };
    super::consent::confirm(question, asked.yes)?;
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
    let needed = after.policy_decision.approvals_needed;
    if js {
        outln!(
            "{}",
            json!({"jti": after.brief.jti, "state": after.brief.state, "approvals": approvals, "needed": needed})
        );
    } else {
        outln!(
            "{} {}: {} ({approvals} of {needed} approvals)",
            match verdict {
                Verdict::Approve => "approved",
                Verdict::Deny => "denied",
            },
            after.brief.jti,
            after.brief.state,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `given` as a path segment: an op id or prefix has only id characters.
fn path_id(given: &str) -> Result<&str> {
    Jti::parse(given).map_err(|e| other(format!("`{given}`: {e}")))?;
    Ok(given)
}

/// What an approver reads before signing, from the daemon's view of the op.
fn render(v: &OpView, url: &bosun_client::Url) -> String {
    let mut s = String::new();
    let b = &v.brief;
    let p = &v.plan;
    // Writing to a String cannot fail.
    let _ = writeln!(s, "op {} — {} (from the daemon at {url})", b.jti, b.state);
    let _ = writeln!(s, "  signed by {} ({}), seq {}", b.iss, v.role, v.seq);
    let _ = writeln!(
        s,
        "  runbook   {} (digest {}), {}",
        p.runbook, p.runbook_digest, p.kind
    );
    let _ = writeln!(s, "  plan      {}  ← what you sign", v.plan_digest);
    for (k, val) in &p.params {
        let _ = writeln!(s, "  param     {k} = {val}");
    }
    for h in &p.hosts {
        let _ = writeln!(s, "  host {}", h.host);
        for st in &h.steps {
            let who = if st.controller {
                " (on the control host)"
            } else {
                ""
            };
            let _ = writeln!(s, "    {} [{}]{who}", st.step, st.actor);
            for line in st.command.lines() {
                let _ = writeln!(s, "      $ {line}");
            }
        }
    }
    let d = &v.policy_decision;
    let _ = writeln!(
        s,
        "  decision  {}: {} approval(s) needed, rules {}",
        d.outcome,
        d.approvals_needed,
        d.rules.join(", ")
    );
    for why in &d.reasons {
        let _ = writeln!(s, "            {why}");
    }
    if v.approvals.is_empty() {
        let _ = writeln!(s, "  approvals none yet");
    }
    for a in &v.approvals {
        let _ = writeln!(s, "  approval  {} by {} ({})", a.verdict, a.by, a.role);
    }
    s
}
