//! `bosun serve`: the daemon (`bosun_control::daemon`: the controller
//! until interrupted, with ledger checkpoints and reminders on scoped
//! threads of their own). It logs its events (through
//! `tracing`, to stderr, with times; `--log-format json`, `RUST_LOG`,
//! `-v`) rather than prints: a daemon's output is its log.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use bosun_control::Result;
use bosun_control::controller::Progress;
use bosun_control::daemon::{self, Daemon, Event, Options};
use bosun_control::notify::next_text;
use bosun_store::StepStatus;
use clap::Args;

use super::{Ctx, other};
use crate::output::time;

/// Run the controller until interrupted (Ctrl-C).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun serve\n  RUST_LOG=debug bosun serve --log-format json 2>> bosun.log"
)]
pub(crate) struct ServeArgs {
    /// Refuse instead of waiting when another controller holds the lease.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// Runs `bosun serve`.
pub(crate) fn run(ctx: &Ctx, a: ServeArgs) -> Result<ExitCode> {
    serve(ctx, a.no_wait)
}

fn serve(ctx: &Ctx, no_wait: bool) -> Result<ExitCode> {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| other(format!("signal handler: {e}")))?;
    }
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    // On a full disk, waits for space rather than exiting.
    let Some(ctl) = daemon::open_store(&ws, "controller", &stop, &|e| log_event(e, false))? else {
        return Ok(ExitCode::SUCCESS);
    };
    let log_reminders = ctl
        .ws
        .config
        .notify
        .sink
        .contains(&bosun_workspace::Sink::Log);
    let daemon = Daemon::new(
        ctl,
        Options {
            no_wait,
            key_dir: ctx.key_dir.clone(),
            spell: crate::next::command,
        },
    );
    daemon.run(&stop, &|e| log_event(e, log_reminders))?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon's events as log events.
fn log_event(e: Event<'_>, log_reminders: bool) {
    match e {
        Event::Waiting(l) => tracing::info!(
            holder = %l.holder,
            until = %time(l.expires_at),
            "another controller holds the lease; waiting"
        ),
        Event::Started(l) => tracing::info!(token = l.token, "controller started"),
        Event::Progress(p) => log_progress(p),
        Event::Halted(h) => {
            tracing::warn!(by = %h.by, why = %h.why, "halted: waiting for `bosun resume`");
        }
        Event::Reminded(r, d) => {
            if log_reminders {
                tracing::info!(
                    n = r.n,
                    to = %r.to,
                    since = %time(r.since),
                    next = %next_text(r, &crate::next::command),
                    "reminder: {}",
                    r.title
                );
            }
            for x in d.iter().filter(|x| x.error.is_some()) {
                tracing::warn!(
                    subject = %r.subject,
                    sink = %x.sink,
                    error = x.error.as_deref().unwrap_or(""),
                    "reminder sink failed"
                );
            }
        }
        Event::Failed { what, error } => tracing::warn!(error = %error, "{what} failed"),
        Event::DiskFull {
            what,
            error,
            retry_in,
        } => tracing::warn!(
            error = %error,
            "disk full: {what} retrying in {}s",
            retry_in.as_secs()
        ),
        Event::Stopped => tracing::info!("controller stopped"),
    }
}

/// The controller's reports as log events: runs and steps at `info`
/// (a failed step at `warn`), warnings at `warn`.
fn log_progress(p: Progress) {
    match p {
        Progress::RunStarted {
            jti,
            runbook,
            total,
            resumed,
        } => tracing::info!(%jti, %runbook, total, resumed, "run started"),
        Progress::StepStarted { .. } => {}
        Progress::StepFinished { jti, result } => {
            let status = result.status.as_str();
            let took_ms = result.duration_ms;
            let (step, host) = (&result.step, &result.host);
            if result.status == StepStatus::Failed {
                tracing::warn!(%jti, %step, %host, status, exit_code = result.exit_code.unwrap_or(-1), took_ms, "step ended");
            } else {
                tracing::info!(%jti, %step, %host, status, took_ms, "step ended");
            }
        }
        Progress::RunEnded(r) => {
            tracing::info!(jti = %r.jti, state = %r.state, detail = %r.detail, "run ended");
        }
        Progress::Warning(w) => tracing::warn!("{w}"),
    }
}
