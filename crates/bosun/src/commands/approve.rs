//! `bosun approve` and `bosun deny`: show the op as it will run, ask, and
//! sign the answer bound to its plan digest.

use std::process::ExitCode;

use bosun_control::{Result, client, now};
use bosun_model::Verdict;
use clap::Args;
use serde_json::json;

use super::{Ctx, key_id, refused};

/// Approve an op pending approval (signed; binds to its plan digest).
///
/// First shows exactly what will run — the runbook and its digest, the
/// params, every host with where it runs and its rendered commands,
/// the decision and the rules that asked for approval, the approvals
/// so far, the blockers and budgets that apply — then asks
/// `approve? [y/N]`. Without a terminal nothing is signed unless
/// `--yes` is given.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun approve 01a24c --as alice\n  bosun approve 01a24c --as alice --yes --json   # scripts"
)]
pub(crate) struct ApproveArgs {
    #[command(flatten)]
    answer: AnswerArgs,
}

/// Deny an op pending approval. Shows the op as `approve` does, then
/// asks `deny? [y/N]`; without a terminal, only with `--yes`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  bosun deny 01a24c --why 'not during the freeze' --as alice")]
pub(crate) struct DenyArgs {
    #[command(flatten)]
    answer: AnswerArgs,
    /// Why (recorded).
    #[arg(long)]
    why: String,
}

/// What `approve` and `deny` both take.
#[derive(Args, Debug)]
struct AnswerArgs {
    /// The op's jti, or an unambiguous prefix of at least 6 characters.
    jti: String,
    /// Sign as this identity (a human operator).
    #[arg(long = "as")]
    as_: String,
    /// Sign without asking (for scripts; required when stdin is not a
    /// terminal).
    #[arg(long)]
    yes: bool,
    /// Output JSON (what is shown before signing goes to stderr).
    #[arg(long)]
    json: bool,
    /// Sign the answer and print its envelope instead of sending it (to
    /// send elsewhere: `POST /api/v1/approvals`).
    #[arg(long)]
    sign_only: bool,
}

/// Runs `bosun approve`.
pub(crate) fn approve(ctx: &Ctx, a: ApproveArgs) -> Result<ExitCode> {
    answer(ctx, &a.answer, Verdict::Approve, None)
}

/// Runs `bosun deny`.
pub(crate) fn deny(ctx: &Ctx, a: DenyArgs) -> Result<ExitCode> {
    answer(ctx, &a.answer, Verdict::Deny, Some(a.why))
}

/// Runs `bosun approve` as a client of the daemon.
pub(crate) fn approve_remote(
    ctx: &Ctx,
    r: &bosun_client::Remote,
    a: ApproveArgs,
) -> Result<ExitCode> {
    super::approve_remote::answer(ctx, r, &a.answer.remote(), Verdict::Approve, None)
}

/// Runs `bosun deny` as a client of the daemon.
pub(crate) fn deny_remote(ctx: &Ctx, r: &bosun_client::Remote, a: DenyArgs) -> Result<ExitCode> {
    super::approve_remote::answer(ctx, r, &a.answer.remote(), Verdict::Deny, Some(a.why))
}

impl AnswerArgs {
    fn remote(&self) -> super::approve_remote::Asked<'_> {
        super::approve_remote::Asked {
            jti: &self.jti,
            as_: &self.as_,
            yes: self.yes,
            json: self.json,
            sign_only: self.sign_only,
        }
    }
}

/// Shows the op, asks, and signs the answer bound to the plan shown.
fn answer(
    ctx: &Ctx,
    asked: &AnswerArgs,
    verdict: Verdict,
    why: Option<String>,
) -> Result<ExitCode> {
    let js = asked.json;
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let op = ctl.resolve_op(&asked.jti)?;
    let who = key_id(&asked.as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let t = now();
    // What is shown is what is signed: the digest of the plan rendered here.
    let view = ctl.consent(&op, t)?;
    show_and_ask(
        &super::consent::render(&view.view(), &view.op.plan),
        asked.json || asked.sign_only,
        asked.yes,
        verdict,
    )?;
    // Signed when answered: the question may have waited a while.
    let t = now();
    let (_, env) = ctl.sign_approval(&key, &who, &op, &view.plan_digest, verdict, why, t)?;
    if asked.sign_only {
        outln!("{env}");
        return Ok(ExitCode::SUCCESS);
    }
    match ctl.accept_approval(&gov, &env, t)? {
        Ok(out) => print_answered(
            verdict,
            out.op.as_str(),
            out.state,
            out.approvals,
            out.needed,
            js,
        ),
        Err(rej) => Ok(refused(&rej, js)),
    }
}

/// Shows what is about to be signed (on stderr when `quiet`: with --json
/// or --sign-only stdout carries only the answer), then asks unless
/// `yes`.
pub(super) fn show_and_ask(text: &str, quiet: bool, yes: bool, verdict: Verdict) -> Result<()> {
    super::consent::show(text, quiet, yes)?;
    let question = match verdict {
        Verdict::Approve => "approve?",
        Verdict::Deny => "deny?",
    };
    super::consent::confirm(question, yes)
}

/// What `approve`/`deny` print once the answer is taken.
pub(super) fn print_answered(
    verdict: Verdict,
    jti: &str,
    state: bosun_model::OpState,
    approvals: usize,
    needed: u32,
    js: bool,
) -> Result<ExitCode> {
    if js {
        outln!(
            "{}",
            json!({"jti": jti, "state": state, "approvals": approvals, "needed": needed})
        );
    } else {
        outln!(
            "{} {jti}: {state} ({approvals} of {needed} approvals)",
            match verdict {
                Verdict::Approve => "approved",
                Verdict::Deny => "denied",
            },
        );
    }
    Ok(ExitCode::SUCCESS)
}
