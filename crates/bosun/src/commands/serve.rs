//! `bosun serve`: the controller until interrupted, with ledger
//! checkpoints and reminders on threads of their own.

use std::process::ExitCode;

use bosun_control::controller::{Controller, Tick};
use bosun_control::{Control, Result, ledger, now};
use bosun_workspace::Workspace;
use clap::Args;

use super::remind::print_reminder;
use super::work::print_progress;
use super::{Ctx, other};
use crate::output::local;

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
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
        match c.acquire()? {
            Ok(l) => {
                outln!("controller started (lease token {})", l.token);
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
                    outln!(
                        "another controller ({}) holds the lease until {}; waiting…",
                        other_lease.holder,
                        local(other_lease.expires_at)
                    );
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    }
    // Checkpoints: every second while there are new entries, on a thread
    // of their own so that a long step does not delay them.
    let cp_thread = {
        let stop = stop.clone();
        let ws = Workspace::open(&ctx.workspace)?;
        let key_dir = ctx.key_dir.clone();
        std::thread::spawn(move || {
            let run = || -> Result<()> {
                let ctl = Control::open(ws.clone())?;
                let signer = bosun_control::genesis::signer(&ctl, &key_dir)?;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match ledger::checkpoint(&ctl, &signer) {
                        Ok(_)
                        | Err(bosun_control::ControlError::Store(
                            bosun_store::StoreError::Conflict(_),
                        )) => {}
                        Err(e) => errln!("ledger checkpoint: {e}"),
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                let _ = ledger::checkpoint(&ctl, &signer);
                Ok(())
            };
            if let Err(e) = run() {
                errln!("no ledger checkpoints from this controller: {e}");
            }
        })
    };
    // Reminders: a pass every 30 s, on a thread of their own.
    let remind_thread = {
        let stop = stop.clone();
        let ws = Workspace::open(&ctx.workspace)?;
        std::thread::spawn(move || {
            let Ok(ctl) = Control::open(ws) else {
                return;
            };
            let mut waited = 30;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if waited >= 30 {
                    waited = 0;
                    match ctl.remind(now()) {
                        Ok(sent) => {
                            let log = ctl
                                .ws
                                .config
                                .notify
                                .sink
                                .contains(&bosun_workspace::Sink::Log);
                            for (r, d) in &sent {
                                if log {
                                    print_reminder(r, d);
                                }
                                for x in d.iter().filter(|x| x.error.is_some()) {
                                    errln!(
                                        "reminder {}: {} sink failed: {}",
                                        r.subject,
                                        x.sink,
                                        x.error.as_deref().unwrap_or("")
                                    );
                                }
                            }
                        }
                        Err(e) => errln!("reminders: {e}"),
                    }
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                waited += 1;
            }
        })
    };
    let mut halted_said = false;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match c.tick(&mut print_progress)? {
            Tick::Ran(_) => halted_said = false,
            Tick::Idle => {
                // Ops held back for locked hosts are tried again next pass.
                c.release_held()?;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Tick::Halted(h) => {
                if !halted_said {
                    outln!("halted by {}: {} — waiting for `bosun resume`", h.by, h.why);
                    halted_said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    c.release_held()?;
    c.release()?;
    let _ = cp_thread.join();
    let _ = remind_thread.join();
    outln!("controller stopped");
    Ok(ExitCode::SUCCESS)
}
