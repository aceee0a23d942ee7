//! `bosun serve`: the controller until interrupted, with ledger
//! checkpoints and reminders on threads of their own. It logs (through
//! `tracing`, to stderr, with times; `--log-format json`, `RUST_LOG`,
//! `-v`) rather than prints: a daemon's output is its log.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bosun_control::controller::{Controller, Progress, Tick};
use bosun_control::{Control, Result, ledger, now};
use bosun_workspace::Workspace;
use clap::Args;

use super::{Ctx, other};
use crate::output::{local, time};
use bosun_store::StepStatus;

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
    let ctl = ctx.control()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| other(format!("signal handler: {e}")))?;
    }
    let mut c = Controller::new(ctl);
    let mut said = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
        match c.acquire()? {
            Ok(l) => {
                tracing::info!(token = l.token, "controller started");
                break;
            }
            Err(other_lease) => {
                if no_wait {
                    return Err(other(format!(
                        "another controller ({}) holds the lease until {}; refusing (--no-wait)",
                        other_lease.holder,
                        local(other_lease.expires_at)
                    )));
                }
                if !said {
                    tracing::info!(
                        holder = %other_lease.holder,
                        until = %time(other_lease.expires_at),
                        "another controller holds the lease; waiting"
                    );
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    // Checkpoints and reminders on threads of their own (a long step
    // delays neither), scoped: they end with this function, the flag set
    // whichever way the dispatch loop ends.
    let ws = Workspace::open(&ctx.workspace)?;
    let stop = &*stop;
    std::thread::scope(|s| {
        s.spawn(|| checkpoints(stop, &ws, &ctx.key_dir));
        s.spawn(|| reminders(stop, &ws));
        let r = dispatch(&mut c, stop);
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    c.release_held()?;
    c.release()?;
    tracing::info!("controller stopped");
    Ok(ExitCode::SUCCESS)
}

/// Runs the controller's passes until `stop` is set.
fn dispatch(c: &mut Controller, stop: &AtomicBool) -> Result<()> {
    let mut halted_said = false;
    while !stop.load(Ordering::Relaxed) {
        match c.tick(&mut log_progress)? {
            Tick::Ran(_) => halted_said = false,
            Tick::Idle => {
                // Ops held back for locked hosts are tried again next pass.
                c.release_held()?;
                std::thread::sleep(Duration::from_millis(200));
            }
            Tick::Halted(h) => {
                if !halted_said {
                    tracing::warn!(by = %h.by, why = %h.why, "halted: waiting for `bosun resume`");
                    halted_said = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Ok(())
}

/// Signs a checkpoint every second while there are new entries, and a
/// last one when `stop` is set.
fn checkpoints(stop: &AtomicBool, ws: &Workspace, key_dir: &std::path::Path) {
    let run = || -> Result<()> {
        let ctl = Control::open(ws.clone())?;
        let signer = bosun_control::genesis::signer(&ctl, key_dir)?;
        while !stop.load(Ordering::Relaxed) {
            match ledger::checkpoint(&ctl, &signer) {
                Ok(_)
                | Err(bosun_control::ControlError::Store(bosun_store::StoreError::Conflict(_))) => {
                }
                Err(e) => tracing::warn!(error = %e, "ledger checkpoint failed"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let _ = ledger::checkpoint(&ctl, &signer);
        Ok(())
    };
    if let Err(e) = run() {
        tracing::error!(error = %e, "no ledger checkpoints from this controller");
    }
}

/// Sends the reminders that are due every 30 s until `stop` is set;
/// with the log sink, each is a log event.
fn reminders(stop: &AtomicBool, ws: &Workspace) {
    let Ok(ctl) = Control::open(ws.clone()) else {
        return;
    };
    let log = ctl
        .ws
        .config
        .notify
        .sink
        .contains(&bosun_workspace::Sink::Log);
    let mut waited = 30;
    while !stop.load(Ordering::Relaxed) {
        if waited >= 30 {
            waited = 0;
            match ctl.remind(now()) {
                Ok(sent) => {
                    for (r, d) in &sent {
                        if log {
                            tracing::info!(
                                n = r.n,
                                to = %r.to,
                                since = %time(r.since),
                                next = %r.next,
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
                }
                Err(e) => tracing::warn!(error = %e, "reminders failed"),
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        waited += 1;
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
                tracing::warn!(%jti, %step, %host, status, exit_code = ?result.exit_code, took_ms, "step ended");
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
