//! `bosun status`: what is in force, what drifted, the halt, the queue,
//! the controller.

use std::process::ExitCode;

use bosun_control::Result;
use clap::Args;

use super::Ctx;
use crate::output::local;

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
    let ctl = ctx.reader()?;
    let v = ctl.overview()?;
    render(
        &v,
        j,
        "embedded (this CLI opens the workspace's database itself)",
    )
}

/// `bosun status` as a client of the daemon (`BOSUN_URL`).
pub(crate) fn remote(r: &bosun_client::Remote, a: StatusArgs) -> Result<ExitCode> {
    match r.get::<bosun_api::views::StatusView>("/status")? {
        Ok(v) => render(&v, a.json, &format!("client of {}", r.url)),
        Err(e) => Ok(super::refused_remote(&e, a.json)),
    }
}

/// Prints the overview (`mode` says where it came from).
fn render(v: &bosun_api::views::StatusView, j: bool, mode: &str) -> Result<ExitCode> {
    if j {
        outln!("{}", serde_json::to_string(&v).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    outln!("workspace  {}", v.workspace);
    outln!("mode       {mode}");
    match &v.halt {
        Some(h) => outln!(
            "HALTED     by {} since {}: {}",
            h.by,
            local(h.since.as_second()),
            h.why
        ),
        None => outln!("dispatch   running"),
    }
    match &v.controller {
        Some(l) => outln!(
            "controller {} (token {}, lease until {})",
            l.holder,
            l.token,
            local(l.expires_at.as_second())
        ),
        None => {
            outln!("controller none (start one with `bosun serve`, or `bosun work --until-idle`)")
        }
    }
    outln!("queue      {} op(s) waiting", v.queue_depth);
    outln!(
        "pending    {} op(s) waiting for approval",
        v.pending_approval.len()
    );
    if !v.active_blockers.is_empty() {
        outln!(
            "BLOCKERS   {} active: {} (bosun blockers list)",
            v.active_blockers.len(),
            v.active_blockers
                .iter()
                .take(5)
                .map(|b| format!("{}#{} on {}", b.kind, b.id, b.subject))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for r in &v.active_rollouts {
        outln!("rollout    {}: {}", r.id, r.summary);
    }
    if !v.needs_attention.is_empty() {
        outln!(
            "ATTENTION  {} op(s) need a human: {}",
            v.needs_attention.len(),
            v.needs_attention
                .iter()
                .map(|o| o.jti.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    outln!("in force:");
    for a in &v.adopted {
        outln!(
            "  {:<24} {}  adopted {}",
            a.subject,
            bosun_model::Digest::try_from(a.digest.clone())
                .map_or_else(|_| a.digest.clone(), |d| d.short().to_string()),
            local(a.at.as_second())
        );
    }
    for p in &v.open_proposals {
        outln!(
            "open proposal {} by {} ({} item(s))",
            p.id,
            p.proposer,
            p.items
        );
    }
    if v.drift.is_empty() {
        outln!("drift      none: the files on disk are what is in force");
    } else {
        outln!("drift (ignored until adopted):");
        for d in &v.drift {
            outln!("  - {d}");
        }
    }
    let mut next: Vec<String> = v
        .next
        .iter()
        .filter(|a| !matches!(a, bosun_api::NextAction::StartController))
        .map(crate::next::command)
        .collect();
    next.extend(
        v.active_rollouts
            .iter()
            .flat_map(|r| r.next.iter().map(crate::next::command)),
    );
    let mut seen = std::collections::BTreeSet::new();
    next.retain(|n| seen.insert(n.clone()));
    for n in next.iter().take(MAX_NEXT) {
        outln!("next: {n}");
    }
    if next.len() > MAX_NEXT {
        outln!(
            "next: … and {} more (bosun status --json)",
            next.len() - MAX_NEXT
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The most next actions the human overview lists.
const MAX_NEXT: usize = 8;
