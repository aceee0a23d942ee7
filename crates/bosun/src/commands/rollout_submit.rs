//! The rollout verbs that submit an op (`start`, `promote`, `retry`,
//! `drill`, `rollback`): how both modes report what they submitted, and
//! the verbs as a client of the daemon (`BOSUN_URL`). Remotely the daemon
//! decides the op (`POST /api/v1/rollouts/{id}/prepare`), this CLI checks
//! it is the op asked for and signs it with the `--as` key, which never
//! leaves here, and the daemon takes it (`POST /api/v1/rollouts/{id}/runs`)
//! only if it is still the op the verb submits. A promote after the last
//! wave signs a `rollout_done` statement here instead (`POST
//! /api/v1/statements`). Output, `--json`, `-q` and exit statuses are the
//! embedded ones.

use std::process::ExitCode;

use bosun_api::Check;
use bosun_api::requests::{RolloutPrepareRequest, RolloutRunRequest, RolloutVerb};
use bosun_api::views::{PreparedRun, RolloutSubmitted, StatusView, SubmittedView};
use bosun_client::Remote;
use bosun_control::intake::{Rejected, decision_word_of};
use bosun_control::rollout::done_refused;
use bosun_control::{Result, client, now};
use bosun_model::{Act, Name, RolloutRef};
use serde_json::json;

use super::remote_sign::RemoteSigner;
use super::rollout::{OpOut, RolloutCmd};
use super::{Ctx, other};

/// What a rollout verb that submits an op was asked.
pub(crate) struct Asked {
    /// The rollout id.
    pub(crate) id: String,
    /// The verb.
    pub(crate) verb: RolloutVerb,
    /// Who signs.
    pub(crate) as_: String,
    /// For promote: accept an inconclusive pause.
    pub(crate) accept_inconclusive: bool,
    /// How to report.
    pub(crate) out: OpOut,
}

impl RolloutCmd {
    /// What the verb asks, when it submits an op.
    pub(crate) fn asked(&self) -> Option<Asked> {
        let asked = |id: &String, verb, as_: &String, accept_inconclusive, out: &OpOut| Asked {
            id: id.clone(),
            verb,
            as_: as_.clone(),
            accept_inconclusive,
            out: *out,
        };
        match self {
            RolloutCmd::Start { id, as_, out } => {
                Some(asked(id, RolloutVerb::Start, as_, false, out))
            }
            RolloutCmd::Promote {
                id,
                accept_inconclusive,
                as_,
                out,
            } => Some(asked(
                id,
                RolloutVerb::Promote,
                as_,
                *accept_inconclusive,
                out,
            )),
            RolloutCmd::Retry { id, as_, out } => {
                Some(asked(id, RolloutVerb::Retry, as_, false, out))
            }
            RolloutCmd::Drill { id, as_, out } => {
                Some(asked(id, RolloutVerb::Drill, as_, false, out))
            }
            RolloutCmd::Rollback { id, as_, out } => {
                Some(asked(id, RolloutVerb::Rollback, as_, false, out))
            }
            _ => None,
        }
    }
}

/// Prints what verb `verb` of rollout `id` submitted (`None`: a promote
/// that marked the rollout done), and for a rollback the hosts left out.
pub(crate) fn report(
    verb: RolloutVerb,
    id: &str,
    op: Option<&SubmittedView>,
    gone: &[String],
    out: OpOut,
) -> ExitCode {
    let Some(op) = op else {
        if out.json {
            outln!("{}", json!({"rollout": id, "done": true}));
        } else if !out.quiet {
            outln!("rollout {id} is done: every wave passed");
        }
        return ExitCode::SUCCESS;
    };
    let what = match verb {
        RolloutVerb::Start => format!("rollout {id} started, canary wave submitted"),
        RolloutVerb::Promote => format!("rollout {id} promoted"),
        RolloutVerb::Retry => format!("rollout {id}: wave submitted again"),
        RolloutVerb::Drill => format!("rollout {id}: rollback drill on the canary"),
        RolloutVerb::Rollback => format!("rollout {id}: rollback submitted"),
    };
    print_submitted(&what, op, out);
    if !gone.is_empty() && !out.json && !out.quiet {
        outln!(
            "  not rolled back (no longer in the inventory): {}",
            gone.join(", ")
        );
    }
    ExitCode::SUCCESS
}

fn print_submitted(what: &str, a: &SubmittedView, out: OpOut) {
    let d = &a.policy_decision;
    if out.quiet {
        outln!("{}", a.jti);
        return;
    }
    if out.json {
        outln!(
            "{}",
            json!({"jti": a.jti, "state": a.state, "decision": decision_word_of(&d.outcome), "reasons": d.reasons, "held": a.held})
        );
        return;
    }
    outln!("{what}: op {} is {}", a.jti, a.state);
    match d.outcome.as_str() {
        "approvals" => {
            for why in &d.reasons {
                outln!("  {why}");
            }
            outln!(
                "  it needs {} approval(s): bosun approve {} --as <operator>",
                d.approvals_needed,
                a.jti
            );
        }
        "deny" => outln!(
            "  denied: {}",
            d.denied_because.as_deref().unwrap_or_default()
        ),
        _ => outln!("  the policy lets it run alone"),
    }
    for h in &a.held {
        outln!("  held by {h}");
    }
}

/// Runs a rollout verb that submits an op as a client of the daemon `r`:
/// the daemon decides the op, it is checked and signed here, the daemon
/// takes it. Errors print as the embedded verb's do (status 1).
pub(crate) fn remote(ctx: &Ctx, r: &Remote, c: &RolloutCmd) -> Result<ExitCode> {
    let a = c
        .asked()
        .ok_or_else(|| other("this rollout verb submits no op"))?;
    let Asked {
        id,
        verb,
        as_,
        accept_inconclusive,
        out,
    } = a;
    let name = Name::parse(&id).map_err(|_| other(format!("`{id}` is not a rollout id")))?;
    let signer = RemoteSigner::new(ctx, r, &as_)?;
    let who = signer.who.clone();
    let asked = RolloutPrepareRequest {
        action: verb,
        issuer: who.to_string(),
        accept_inconclusive,
    };
    let prepared: PreparedRun = match r.post(&format!("/rollouts/{name}/prepare"), &asked)? {
        Ok(p) => p,
        // What the rollout's state, or its plan, says: as embedded.
        Err(e) if matches!(e.check, Some(Check::State | Check::Plan)) => {
            return Err(other(e.message));
        }
        // The request itself refused (a token over TCP, its form).
        Err(e) => return Ok(super::refused_remote(&e, out.json)),
    };
    let here = bosun_workspace::Workspace::open(&ctx.workspace).ok();
    let ws = here.as_ref().map(|w| w.config.name.as_str());
    let Some(op) = bosun_client::check_prepared(&id, verb, &prepared, ws)? else {
        return done(r, &signer, name, prepared.start, accept_inconclusive, out);
    };
    let p = &op.planned;
    let seq = p
        .next_seq
        .ok_or_else(|| other("the daemon's op has no sequence number for the signer"))?;
    let claim = RolloutRef {
        id: name.clone(),
        wave: op.wave,
        action: op.action,
        start: prepared.start.clone(),
    };
    errln!(
        "signing as {who}: {} of rollout {id} (wave {}): {} on {} (plan {}, seq {seq}) for workspace {}",
        op.action.as_str(),
        op.wave,
        p.runbook,
        p.targets.join(", "),
        p.plan_digest,
        p.workspace
    );
    let s = signer.signing();
    let draft = client::OpDraft::planned(p)?;
    let (_, env) = client::sign_op_draft(s.key, s.iss, &draft, Some(claim), seq, now())?;
    let sent = RolloutRunRequest {
        action: verb,
        accept_inconclusive,
        envelope: env,
    };
    match r.post::<_, RolloutSubmitted>(&format!("/rollouts/{name}/runs"), &sent)? {
        Ok(v) => Ok(report(verb, &id, Some(&v.op), &v.not_in_inventory, out)),
        // The rollout moved on since it was prepared: as embedded.
        Err(e) if e.check == Some(Check::State) => Err(other(e.message)),
        Err(e) => Err(other(format!("intake refused the op: {}", rejection(e)))),
    }
}

/// A refusal the daemon answered, as the pipeline names it.
fn rejection(e: bosun_client::ErrorDetail) -> Rejected {
    Rejected {
        check: e.check.unwrap_or(Check::Other),
        message: e.message,
        jti: None,
    }
}

/// Every wave of rollout `id` passed: signs the statement marking start
/// `start` done here and posts it (the daemon decides the promote again
/// as its signer, and the policy says who may).
fn done(
    r: &Remote,
    signer: &RemoteSigner,
    id: Name,
    start: String,
    accept_inconclusive: bool,
    out: OpOut,
) -> Result<ExitCode> {
    let rollout = id.to_string();
    errln!(
        "signing as {}: rollout {rollout} done (every wave of its start {start} passed)",
        signer.who
    );
    let act = Act::RolloutDone {
        id,
        start,
        accept_inconclusive,
    };
    let env = signer.signing().statement(act)?;
    match r.post::<_, StatusView>("/statements", &json!({ "envelope": env }))? {
        Ok(_) => Ok(report(RolloutVerb::Promote, &rollout, None, &[], out)),
        Err(e) => Err(other(done_refused(&rejection(e)))),
    }
}
