//! `bosun halt` and `bosun resume`: stop all dispatch at once, and lift
//! the halt; both signed statements.

use std::process::ExitCode;

use bosun_api::views::OpBrief;
use bosun_control::Result;
use bosun_model::Act;
use clap::Args;
use serde_json::json;

use super::{Ctx, other, statement};

/// Stop all dispatch at once (running steps finish; nothing new starts).
/// A statement signed by `--as`; any identity may halt, agents included.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  bosun halt --why 'disk alarms on web-2' --as claude")]
pub(crate) struct HaltArgs {
    /// Why (recorded).
    #[arg(long)]
    pub(crate) why: String,
    /// Who is halting (a registered key; the statement is signed with it).
    #[arg(long = "as")]
    pub(crate) as_: String,
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Lift the halt in force: a statement signed by `--as`, bound to that
/// halt (only operators may resume, unless keeper.toml `[statements]` says
/// otherwise).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  bosun resume --as alice")]
pub(crate) struct ResumeArgs {
    /// Who is resuming (a registered key; the statement is signed with it).
    #[arg(long = "as")]
    pub(crate) as_: String,
}

/// Runs `bosun halt`.
pub(crate) fn halt(ctx: &Ctx, a: HaltArgs) -> Result<ExitCode> {
    let HaltArgs { why, as_, json: j } = a;
    let ctl = ctx.control()?;
    let applied = match statement(&ctx.keys, &ctl, &as_, Act::Halt { why: why.clone() }, j)? {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let bosun_control::statement::Effect::Halted { in_flight } = applied.effect else {
        return Err(other("the halt statement did not halt"));
    };
    let in_flight: Vec<OpBrief> = in_flight
        .iter()
        .map(bosun_control::views::op_brief)
        .collect();
    print_halted(&why, applied.by.as_str(), &in_flight, j);
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun halt` as a client of the daemon: the statement is signed
/// here; the ops in flight are the daemon's running ops.
pub(crate) fn halt_remote(ctx: &Ctx, r: &bosun_client::Remote, a: HaltArgs) -> Result<ExitCode> {
    let HaltArgs { why, as_, json: j } = a;
    let act = Act::Halt { why: why.clone() };
    let by = match super::remote_sign::statement(ctx, r, &as_, act, j)? {
        Ok((by, _)) => by,
        Err(code) => return Ok(code),
    };
    // The halt is in force; the ops in flight are what the daemon says
    // now, when it answers (a read over TCP needs a token).
    let in_flight: Vec<OpBrief> = match r.get("/ops?state=running&limit=1000") {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            errln!(
                "halted, but the ops in flight could not be read: {}",
                e.message
            );
            Vec::new()
        }
        Err(e) => {
            errln!("halted, but the ops in flight could not be read: {e}");
            Vec::new()
        }
    };
    print_halted(&why, by.as_str(), &in_flight, j);
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun resume` as a client of the daemon: bound to the halt the
/// daemon reports.
pub(crate) fn resume_remote(
    ctx: &Ctx,
    r: &bosun_client::Remote,
    a: ResumeArgs,
) -> Result<ExitCode> {
    let st: bosun_api::views::StatusView = r.get("/status")?.map_err(|e| r.failed(e.message))?;
    let Some(h) = st.halt else {
        outln!("the fleet is not halted: nothing to resume");
        return Ok(ExitCode::SUCCESS);
    };
    let act = Act::Resume {
        since: h.since.as_second(),
    };
    if let Err(code) = super::remote_sign::statement(ctx, r, &a.as_, act, false)? {
        return Ok(code);
    }
    outln!("resumed: dispatch continues");
    Ok(ExitCode::SUCCESS)
}

/// What `halt` says it did.
fn print_halted(why: &str, by: &str, in_flight: &[OpBrief], j: bool) {
    if j {
        outln!(
            "{}",
            json!({"halted": true, "why": why, "by": by, "in_flight": in_flight})
        );
    } else {
        outln!("halted: nothing new dispatches until `bosun resume` ({why})");
        if in_flight.is_empty() {
            outln!("no op is in flight");
        } else {
            outln!("in flight (their running step finishes, then they pause):");
            for o in in_flight {
                outln!(
                    "  {}  {} on {} host(s), by {}",
                    o.jti,
                    o.runbook,
                    o.targets,
                    o.iss
                );
            }
        }
    }
}

/// Runs `bosun resume`.
pub(crate) fn resume(ctx: &Ctx, a: ResumeArgs) -> Result<ExitCode> {
    let as_ = a.as_;
    let ctl = ctx.control()?;
    let Some(h) = ctl.halt_state()? else {
        outln!("the fleet is not halted: nothing to resume");
        return Ok(ExitCode::SUCCESS);
    };
    if let Err(code) = statement(&ctx.keys, &ctl, &as_, Act::Resume { since: h.since }, false)? {
        return Ok(code);
    }
    outln!("resumed: dispatch continues");
    Ok(ExitCode::SUCCESS)
}
