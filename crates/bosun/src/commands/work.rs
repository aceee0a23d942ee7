//! `bosun work --until-idle`: process the queue and exit; and how the
//! controller's progress is printed (also by `serve`, `plan --check` and
//! the demo).

use std::process::ExitCode;

use bosun_control::controller::{Controller, Progress, Tick};
use bosun_control::{Result, ledger};
use bosun_model::OpState;
use bosun_store::StepStatus;
use clap::Args;

use super::{Ctx, other};
use crate::output::{duration_ms, local};

/// Process the queue and exit when it is empty (for scripts and tests).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun work --until-idle\n  bosun work --until-idle || echo \"an op failed (exit $?)\""
)]
pub(crate) struct WorkArgs {
    /// Required: work until the queue is idle, then exit.
    #[arg(long, required = true)]
    pub(crate) until_idle: bool,
}

/// Runs `bosun work`.
pub(crate) fn run(ctx: &Ctx, a: WorkArgs) -> Result<ExitCode> {
    let WorkArgs { until_idle: _ } = a;
    let ctl = ctx.control()?;
    let mut c = Controller::new(ctl);
    if let Err(other_lease) = c.acquire()? {
        return Err(other(format!(
            "another controller ({}) holds the lease (token {}) until {}; stop it or wait",
            other_lease.holder,
            other_lease.token,
            local(other_lease.expires_at)
        )));
    }
    let mut printer = Printer::new();
    let ticks = c.work_until_idle(&mut |p| printer.on(p))?;
    drop(printer);
    c.release()?;
    checkpoint_quietly(ctx);
    let mut failed = 0;
    for t in &ticks {
        if let Tick::Ran(r) = t
            && matches!(r.state, OpState::Failed | OpState::NeedsAttention)
        {
            failed += 1;
        }
        if let Tick::Halted(h) = t {
            outln!(
                "halted by {} since {}: {} — nothing dispatched",
                h.by,
                local(h.since),
                h.why
            );
        }
    }
    if failed > 0 {
        errln!("{failed} op(s) ended failed or needing attention (exit status 4)");
        return Ok(ExitCode::from(super::OP_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress callback printing plain lines (no bar): for the demo.
pub(crate) fn progress_lines() -> impl FnMut(Progress) {
    let mut printer = Printer::plain();
    move |p| printer.on(p)
}

/// Prints what the controller reports as it works: runs started and
/// ended, each step with its count in the run (`[3/80]`), and, on a
/// terminal, a bar of the run's steps on stderr.
pub(crate) struct Printer {
    /// Steps ended in the current run.
    done: usize,
    /// Steps in the current run.
    total: usize,
    /// Draw a bar (on a terminal).
    bars: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Printer {
    /// Lines and, on a terminal, a bar.
    pub(crate) fn new() -> Printer {
        Printer {
            done: 0,
            total: 0,
            bars: true,
            bar: None,
        }
    }

    /// Lines only.
    pub(crate) fn plain() -> Printer {
        Printer {
            done: 0,
            total: 0,
            bars: false,
            bar: None,
        }
    }

    /// A line on stdout, with the bar (if any) out of its way.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| outln!("{text}")),
            None => outln!("{text}"),
        }
    }

    /// One report of the controller.
    pub(crate) fn on(&mut self, p: Progress) {
        match p {
            Progress::RunStarted {
                jti,
                runbook,
                total,
                resumed,
            } => {
                self.done = resumed;
                self.total = total;
                if self.bars {
                    let bar = crate::progress::steps(total as u64, &format!("{jti} {runbook}"));
                    bar.set_position(resumed as u64);
                    self.bar = Some(bar);
                }
                if resumed > 0 {
                    self.line(&format!(
                        "▶ {jti} {runbook}: resuming, {resumed} of {total} steps already done"
                    ));
                } else {
                    self.line(&format!("▶ {jti} {runbook}: {total} steps"));
                }
            }
            Progress::StepStarted { .. } => {}
            Progress::StepFinished { result, .. } => {
                self.done += 1;
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                let mark = match result.status {
                    StepStatus::Succeeded => "✔",
                    StepStatus::Failed => "✘",
                    StepStatus::Skipped => "·",
                    StepStatus::Unknown => "?",
                    StepStatus::Started => "…",
                    StepStatus::Waiting => "⏸",
                };
                let first = result
                    .output
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect::<String>();
                let count = format!("[{}/{}]", self.done, self.total);
                self.line(&format!(
                    "  {mark} {count:<7} {:<15} {:<10} {:>8}  {first}",
                    result.step,
                    result.host,
                    duration_ms(result.duration_ms)
                ));
            }
            Progress::RunEnded(r) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                self.line(&format!("■ {} {}: {}", r.jti, r.state, r.detail));
                // A run that waits for a human (a report, an unknown
                // outcome): `ops show` lists exactly what to report.
                if matches!(
                    r.state,
                    bosun_model::OpState::NeedsAttention | bosun_model::OpState::Running
                ) {
                    let show = bosun_api::NextAction::ShowOp {
                        op: r.jti.to_string(),
                    };
                    self.line(&format!("  next: {}", crate::next::command(&show)));
                }
            }
            Progress::Warning(w) => match &self.bar {
                Some(bar) => bar.suspend(|| errln!("warning: {w}")),
                None => errln!("warning: {w}"),
            },
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Signs a checkpoint if the ledger grew; a failure is a warning (the work
/// itself is done and recorded).
fn checkpoint_quietly(ctx: &Ctx) {
    let r = (|| -> Result<()> {
        // The store first: a lost database is reported, never re-created.
        let ctl = ctx.control()?;
        let signer = bosun_control::genesis::signer(&ctl, &ctx.key_dir)?;
        match ledger::checkpoint(&ctl, &signer) {
            Ok(_) | Err(bosun_control::ControlError::Store(bosun_store::StoreError::Stale(_))) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    })();
    if let Err(e) = r {
        errln!("warning: no ledger checkpoint: {e}");
    }
}
