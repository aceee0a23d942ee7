//! `bosun status`: what is in force, what drifted, the halt, the queue,
//! the controller.

use std::process::ExitCode;

use bosun_control::{Result, now};
use bosun_model::OpState;
use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::output::{local, time};

/// What is in force, what drifted, the halt, the queue, the controller.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  bosun status\n  bosun status --json")]
pub(crate) struct StatusArgs {
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `bosun status`.
pub(crate) fn run(ctx: &Ctx, a: StatusArgs) -> Result<ExitCode> {
    status(ctx, a.json)
}

fn status(ctx: &Ctx, j: bool) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let adopted = ctl.store.adopted_all()?;
    let drift = match ctl.governed() {
        Ok(g) => g.drift,
        Err(e) => vec![e.to_string()],
    };
    let halt = ctl.store.halt()?;
    let depth = ctl.store.depth()?;
    let lease = ctl.store.lease_holder(now())?;
    let pending = ctl.store.list_ops(Some(OpState::PendingApproval), 1000)?;
    let attention = ctl.store.list_ops(Some(OpState::NeedsAttention), 1000)?;
    let proposals = ctl.store.proposals()?;
    let blockers = ctl.store.blockers(false)?;
    let rollouts: Vec<(String, String)> = ctl
        .store
        .rollouts()?
        .iter()
        .filter_map(|r| ctl.rollout_status(&r.id).ok())
        .filter(|st| st.phase == bosun_control::rollout::Phase::Active)
        .map(|st| (st.id, st.next))
        .collect();
    if j {
        outln!(
            "{}",
            json!({
                "workspace": ctl.ws.config.name,
                "adopted": adopted.iter().map(|a| json!({"subject": a.subject, "digest": a.digest, "at": time(a.adopted_at)})).collect::<Vec<_>>(),
                "drift": drift,
                "halt": halt.as_ref().map(|h| json!({"by": h.by, "why": h.why, "since": time(h.since)})),
                "queue_depth": depth,
                "controller": lease.map(|l| json!({"holder": l.holder, "token": l.token, "expires_at": time(l.expires_at)})),
                "pending_approval": pending.iter().map(|o| o.jti.to_string()).collect::<Vec<_>>(),
                "needs_attention": attention.iter().map(|o| o.jti.to_string()).collect::<Vec<_>>(),
                "open_proposals": proposals.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(),
                "active_blockers": blockers.iter().map(|b| json!({"id": b.id, "kind": b.kind, "subject": b.subject})).collect::<Vec<_>>(),
                "active_rollouts": rollouts.iter().map(|(id, next)| json!({"id": id, "next": next})).collect::<Vec<_>>(),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!("workspace  {}", ctl.ws.config.name);
    match &halt {
        Some(h) => outln!("HALTED     by {} since {}: {}", h.by, local(h.since), h.why),
        None => outln!("dispatch   running"),
    }
    match &lease {
        Some(l) => outln!(
            "controller {} (token {}, lease until {})",
            l.holder,
            l.token,
            local(l.expires_at)
        ),
        None => {
            outln!("controller none (start one with `bosun serve`, or `bosun work --until-idle`)")
        }
    }
    outln!("queue      {depth} op(s) waiting");
    outln!("pending    {} op(s) waiting for approval", pending.len());
    if !blockers.is_empty() {
        outln!(
            "BLOCKERS   {} active: {} (bosun blockers list)",
            blockers.len(),
            blockers
                .iter()
                .take(5)
                .map(|b| format!("{}#{} on {}", b.kind, b.id, b.subject))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (id, next) in &rollouts {
        outln!("rollout    {id}: {next}");
    }
    if !attention.is_empty() {
        outln!(
            "ATTENTION  {} op(s) need a human: {}",
            attention.len(),
            attention
                .iter()
                .map(|o| o.jti.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    outln!("in force:");
    for a in &adopted {
        outln!(
            "  {:<24} {}  adopted {}",
            a.subject,
            a.digest.short(),
            local(a.adopted_at)
        );
    }
    for p in &proposals {
        outln!(
            "open proposal {} by {} ({} item(s))",
            p.id,
            p.proposer,
            p.items.len()
        );
    }
    if drift.is_empty() {
        outln!("drift      none: the files on disk are what is in force");
    } else {
        outln!("drift (ignored until adopted):");
        for d in &drift {
            outln!("  - {d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
