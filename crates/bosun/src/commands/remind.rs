//! `bosun remind` and `bosun snooze`: send the reminders that are due,
//! and mute those of an op or a blocker for a while.

use std::process::ExitCode;

use bosun_control::{Result, now};
use bosun_model::Act;
use clap::Args;
use serde_json::json;

use super::{Ctx, other, statement};
use crate::output::{json_times, local};

/// Send the reminders that are due to the `[notify]` sinks.
///
/// What waits on a human (ops waiting for approval or a step report,
/// active blockers, a kernel built for a host and not yet installed)
/// goes to the sinks of bosun.toml's `[notify]`: the
/// log, webhooks, ntfy. `serve` does this every 30 s;
/// run it from cron without a controller. The ladder (default: at
/// once, +1h, +6h, +1d, then daily) counts from when the wait began.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun remind --dry-run\n  */5 * * * * bosun -w /srv/lab remind   # from cron"
)]
pub(crate) struct RemindArgs {
    /// Show what is due without sending or recording anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Mute the reminders of an op (its jti), a blocker (its number) or a
/// kernel waiting to be installed (`installable:<host>:<job>`, as
/// `bosun remind` names it) for a while. A snoozed blocker still halts
/// what it halts.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun snooze 01a24c --for 6h --as alice\n  bosun snooze 3 --for 1d --as alice    # blocker 3\n  bosun snooze installable:ohm:ohm-1765000000-48609aea --for 7d --as alice"
)]
pub(crate) struct SnoozeArgs {
    /// An op's jti, a blocker's number or `installable:<host>:<job>`.
    pub(crate) target: String,
    /// For how long (`6h`, `1d`).
    #[arg(long = "for")]
    pub(crate) for_: String,
    /// Who snoozes it (an operator key).
    #[arg(long = "as")]
    pub(crate) as_: String,
}

/// Runs `bosun remind`.
pub(crate) fn remind(ctx: &Ctx, a: RemindArgs) -> Result<ExitCode> {
    let RemindArgs { dry_run, json: j } = a;
    let ctl = ctx.control()?;
    let t = now();
    let sent: Vec<(
        bosun_control::notify::Reminder,
        Vec<bosun_control::notify::Delivery>,
    )> = if dry_run {
        ctl.reminders_due(t)?
            .into_iter()
            .map(|r| (r, Vec::new()))
            .collect()
    } else {
        ctl.remind(t, &crate::next::command)?
    };
    if j {
        let v: Vec<_> = sent
            .iter()
            .map(|(r, d)| json!({"reminder": json_times(json!(r), &["since"]), "deliveries": d}))
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        if sent.is_empty() {
            outln!("no reminder is due");
        }
        for (r, d) in &sent {
            print_reminder(r, d);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun snooze`.
pub(crate) fn snooze(ctx: &Ctx, a: SnoozeArgs) -> Result<ExitCode> {
    let SnoozeArgs { target, for_, as_ } = a;
    let ctl = ctx.control()?;
    let secs = bosun_model::source::parse_duration(&for_)
        .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
    let until = now().saturating_add(secs);
    let act = match target.parse::<u64>() {
        Ok(id) => Act::BlockerSnooze { id, until },
        Err(_) if target.starts_with("installable:") => Act::WaitSnooze {
            subject: target.clone(),
            until,
        },
        Err(_) => Act::Snooze {
            op: ctl.resolve_op(&target)?,
            until,
        },
    };
    if let Err(code) = statement(&ctx.keys, &ctl, &as_, act, false)? {
        return Ok(code);
    }
    outln!("{target}: reminders muted until {}", local(until));
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun snooze` as a client of the daemon: the op's full id from
/// its view, the statement signed here.
pub(crate) fn snooze_remote(
    ctx: &Ctx,
    r: &bosun_client::Remote,
    a: SnoozeArgs,
) -> Result<ExitCode> {
    let SnoozeArgs { target, for_, as_ } = a;
    let secs = bosun_model::source::parse_duration(&for_)
        .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
    let until = now().saturating_add(secs);
    let act = match target.parse::<u64>() {
        Ok(id) => Act::BlockerSnooze { id, until },
        Err(_) if target.starts_with("installable:") => Act::WaitSnooze {
            subject: target.clone(),
            until,
        },
        Err(_) => {
            let path = format!("/ops/{}", super::op_path_id(&target)?);
            let v: bosun_api::views::OpView = match super::answered(r.get(&path), false)? {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
            if !v.brief.jti.starts_with(&target) {
                return Err(r.failed(format!(
                    "asked for op `{target}`, it answered op `{}`; nothing was signed",
                    v.brief.jti
                )));
            }
            Act::Snooze {
                op: bosun_model::Jti::parse(&v.brief.jti)
                    .map_err(|e| r.failed(format!("its op id: {e}")))?,
                until,
            }
        }
    };
    if let Err(code) = super::remote_sign::statement(ctx, r, &as_, act, false)? {
        return Ok(code);
    }
    outln!("{target}: reminders muted until {}", local(until));
    Ok(ExitCode::SUCCESS)
}

/// One reminder as the log sink writes it.
pub(crate) fn print_reminder(
    r: &bosun_control::notify::Reminder,
    d: &[bosun_control::notify::Delivery],
) {
    outln!(
        "reminder #{} to {}: {} (waiting since {}); next: {}",
        r.n,
        r.to,
        r.title,
        local(r.since),
        bosun_control::notify::next_text(r, &crate::next::command)
    );
    for x in d {
        if let Some(e) = &x.error {
            outln!("  {} sink failed: {e}", x.sink);
        }
    }
}
