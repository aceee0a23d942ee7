//! The daemon: one controller holding the lease and running the queue, a
//! checkpointer signing the ledger every second while entries arrive, and
//! a reminder pass every 30 s (with the kernel's housekeeping every 60 s:
//! build jobs past retention pruned, idle on-demand build hosts released)
//! — the threads of `serve`, owned here so that
//! every face (the CLI's `serve`, the HTTP server) runs the same thing.
//!
//! The helper threads are scoped: none outlives [`Daemon::run`]. What the
//! daemon does is reported to the caller as [`Event`]s; it prints nothing.
//!
//! A full disk stops nothing for good: a write that fails because the
//! disk holding the store is full ([`StoreError::is_disk_full`]) is
//! reported ([`Event::DiskFull`]) and tried again after a backoff (1 s,
//! doubling to 16 s), by the controller and each helper; reads (the CLI's
//! read verbs) never needed a write. A run the full disk cut short is put
//! back on the queue once writes work again, and resumes as after a
//! restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bosun_store::{Halt, Lease, StoreError};

use crate::controller::{Controller, Progress, Tick};
use crate::notify::{Delivery, Reminder};
use crate::{Control, ControlError, Result, now};

/// How often the checkpointer looks for new entries.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often reminders are sent (in checkpointer-sized sleeps).
const REMIND_EVERY_SECS: u32 = 30;
/// How often the kernel's build jobs are pruned and idle on-demand build
/// hosts released (in checkpointer-sized sleeps).
const HOUSEKEEP_EVERY_SECS: u32 = 60;
/// How long an idle or halted controller waits before looking again.
const IDLE: Duration = Duration::from_millis(200);
/// How long a daemon waiting for the lease waits between tries.
const LEASE_RETRY: Duration = Duration::from_millis(500);

/// What the daemon did, for the caller to log.
#[derive(Debug)]
pub enum Event<'a> {
    /// Another controller holds the lease; this one waits (said once).
    Waiting(&'a Lease),
    /// This daemon holds the lease.
    Started(&'a Lease),
    /// A run made progress.
    Progress(Progress),
    /// Dispatch is halted (said once per halt).
    Halted(&'a Halt),
    /// A reminder was sent, with what each sink did.
    Reminded(&'a Reminder, &'a [Delivery]),
    /// The kernel's housekeeping pruned build jobs or released build
    /// hosts (or could not, said in its problems).
    Housekept(&'a bosun_api::views::KernelChangeView),
    /// A helper thread failed: at one pass (it tries again at the next),
    /// or, for a `what` that says so, for good.
    Failed {
        /// What failed: `checkpoint`, `reminders`, or one that ends the
        /// helper (`ledger checkpoints from this controller`).
        what: &'static str,
        /// The error.
        error: &'a ControlError,
    },
    /// A write failed because the disk holding the store is full;
    /// `what` is tried again in `retry_in`.
    DiskFull {
        /// What waits: `controller`, `checkpoint`, `reminders`.
        what: &'static str,
        /// The error.
        error: &'a ControlError,
        /// When it is tried again.
        retry_in: Duration,
    },
    /// The daemon released the lease and stopped.
    Stopped,
}

/// Whether `e` is a write refused because the disk is full.
fn disk_full(e: &ControlError) -> bool {
    matches!(e, ControlError::Store(s) if s.is_disk_full())
}

/// The waits between tries of a write the full disk refused: 1 s,
/// doubling to 16 s; back to 1 s after a success.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MOST: Duration = Duration::from_secs(16);

    fn new() -> Backoff {
        Backoff(Backoff::FIRST)
    }

    /// Reports `error` for `what` and waits (until `stop`), longer each
    /// time.
    fn wait(
        &mut self,
        what: &'static str,
        error: &ControlError,
        stop: &AtomicBool,
        on: &(dyn Fn(Event<'_>) + Sync),
    ) {
        on(Event::DiskFull {
            what,
            error,
            retry_in: self.0,
        });
        let mut left = self.0;
        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
            let nap = left.min(Duration::from_millis(100));
            std::thread::sleep(nap);
            left -= nap;
        }
        self.0 = (self.0 * 2).min(Backoff::MOST);
    }
}

/// Opens `ws`'s store for a daemon thread, waiting while the disk is
/// full; `None` when stopped first.
pub fn open_store(
    ws: &bosun_workspace::Workspace,
    what: &'static str,
    stop: &AtomicBool,
    on: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Option<Control>> {
    let mut backoff = Backoff::new();
    while !stop.load(Ordering::Relaxed) {
        match Control::open(ws.clone()) {
            Ok(c) => return Ok(Some(c)),
            Err(e) if disk_full(&e) => backoff.wait(what, &e, stop, on),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse, instead of waiting, when another controller holds the lease.
    pub no_wait: bool,
    /// Where the ledger key is (the checkpointer signs with it).
    pub key_dir: PathBuf,
    /// How reminders spell what ends a wait (the face's words).
    pub spell: fn(&bosun_api::NextAction) -> String,
}

/// The daemon of one workspace.
pub struct Daemon {
    ctl: Control,
    opts: Options,
}

impl Daemon {
    /// A daemon over `ctl`'s workspace.
    pub fn new(ctl: Control, opts: Options) -> Daemon {
        Daemon { ctl, opts }
    }

    /// Runs until `stop` is set: takes the lease (waiting for it, or
    /// refusing with `no_wait`), then runs the queue, signs checkpoints
    /// and sends reminders; on stop, releases the lease and returns once
    /// every thread has ended.
    pub fn run(&self, stop: &AtomicBool, on: &(dyn Fn(Event<'_>) + Sync)) -> Result<()> {
        let mut c = Controller::new(self.ctl.clone());
        if !self.acquire(&mut c, stop, on)? {
            return Ok(());
        }
        std::thread::scope(|s| {
            s.spawn(|| self.checkpointer(stop, on));
            s.spawn(|| self.reminders(stop, on));
            s.spawn(|| self.housekeeper(stop, on));
            let ran = self.dispatch(&mut c, stop, on);
            if ran.is_err() {
                // The helpers stop with the controller.
                stop.store(true, Ordering::Relaxed);
            }
            ran
        })?;
        match c.release_held().and_then(|()| c.release()) {
            Err(error) if disk_full(&error) => on(Event::Failed {
                what: "releasing the lease (it expires by itself)",
                error: &error,
            }),
            released => released?,
        }
        on(Event::Stopped);
        Ok(())
    }

    /// Takes the lease; `false` when stopped before it was free.
    fn acquire(
        &self,
        c: &mut Controller,
        stop: &AtomicBool,
        on: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<bool> {
        let mut said = false;
        let mut backoff = Backoff::new();
        while !stop.load(Ordering::Relaxed) {
            let tried = match c.acquire() {
                Err(e) if disk_full(&e) => {
                    backoff.wait("controller", &e, stop, on);
                    continue;
                }
                tried => tried?,
            };
            match tried {
                Ok(l) => {
                    on(Event::Started(&l));
                    return Ok(true);
                }
                Err(held) if self.opts.no_wait => {
                    return Err(ControlError::Other(format!(
                        "another controller ({}) holds the lease until {}; refusing to wait",
                        held.holder,
                        bosun_api::time::at(held.expires_at)
                    )));
                }
                Err(held) => {
                    if !said {
                        on(Event::Waiting(&held));
                        said = true;
                    }
                    std::thread::sleep(LEASE_RETRY);
                }
            }
        }
        Ok(false)
    }

    /// Runs the queue until `stop`; a pass the full disk refused is
    /// tried again after a backoff, once what it took is back on the
    /// queue.
    fn dispatch(
        &self,
        c: &mut Controller,
        stop: &AtomicBool,
        on: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<()> {
        let mut halted_said = false;
        let mut backoff = Backoff::new();
        let mut cut_short = false;
        while !stop.load(Ordering::Relaxed) {
            let pass = if cut_short {
                self.put_back(c)
            } else {
                Self::pass(c, &mut halted_said, on)
            };
            match pass {
                Ok(()) => {
                    cut_short = false;
                    backoff = Backoff::new();
                }
                Err(e) if disk_full(&e) => {
                    cut_short = true;
                    backoff.wait("controller", &e, stop, on);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One pass of the controller: a tick, then a pause when idle or
    /// halted.
    fn pass(
        c: &mut Controller,
        halted_said: &mut bool,
        on: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<()> {
        match c.tick(&mut |p| on(Event::Progress(p)))? {
            Tick::Ran(_) => *halted_said = false,
            Tick::Idle => {
                // Ops held back for locked hosts are tried again next pass.
                c.release_held()?;
                std::thread::sleep(IDLE);
            }
            Tick::Halted(h) => {
                if !*halted_said {
                    on(Event::Halted(&h));
                    *halted_said = true;
                }
                std::thread::sleep(IDLE);
            }
        }
        Ok(())
    }

    /// After a pass the full disk refused: renews the lease and puts back
    /// what was delivered under it and not acked (the run it cut short
    /// resumes at the next pass, as after a restart).
    fn put_back(&self, c: &mut Controller) -> Result<()> {
        match c.acquire()? {
            Ok(lease) => {
                self.ctl.store.release_unacked(&lease)?;
                Ok(())
            }
            // Taken by another controller: renewing says so, and stops.
            Err(_) => c.renew(),
        }
    }

    /// Signs a checkpoint every second while there are new entries, on a
    /// thread of its own so that a long step does not delay it; one last
    /// time on stop.
    fn checkpointer(&self, stop: &AtomicBool, on: &(dyn Fn(Event<'_>) + Sync)) {
        let give_up = |error: ControlError| {
            on(Event::Failed {
                what: "ledger checkpoints from this controller (none will be signed)",
                error: &error,
            });
        };
        // A store handle of its own, as the controller's may be busy.
        let ctl = match open_store(&self.ctl.ws, "checkpoint", stop, on) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => return give_up(e),
        };
        let signer = match crate::genesis::signer(&ctl, &self.opts.key_dir) {
            Ok(s) => s,
            Err(e) => return give_up(e),
        };
        let mut backoff = Backoff::new();
        let mut sign = |last: bool| match crate::ledger::checkpoint(&ctl, &signer) {
            // Another writer signed the same size first: nothing to do.
            Ok(_) | Err(ControlError::Store(StoreError::Stale(_))) => backoff = Backoff::new(),
            Err(e) if disk_full(&e) && !last => backoff.wait("checkpoint", &e, stop, on),
            Err(error) => on(Event::Failed {
                what: "checkpoint",
                error: &error,
            }),
        };
        while !stop.load(Ordering::Relaxed) {
            sign(false);
            std::thread::sleep(CHECKPOINT_EVERY);
        }
        sign(true);
    }

    /// A reminder pass every 30 s.
    fn reminders(&self, stop: &AtomicBool, on: &(dyn Fn(Event<'_>) + Sync)) {
        let ctl = match open_store(&self.ctl.ws, "reminders", stop, on) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(error) => {
                return on(Event::Failed {
                    what: "reminders",
                    error: &error,
                });
            }
        };
        let mut waited = REMIND_EVERY_SECS;
        while !stop.load(Ordering::Relaxed) {
            if waited >= REMIND_EVERY_SECS {
                waited = 0;
                match ctl.remind(now(), &self.opts.spell) {
                    Ok(sent) => {
                        for (r, d) in &sent {
                            on(Event::Reminded(r, d));
                        }
                    }
                    Err(error) if disk_full(&error) => on(Event::DiskFull {
                        what: "reminders",
                        error: &error,
                        retry_in: Duration::from_secs(REMIND_EVERY_SECS.into()),
                    }),
                    Err(error) => on(Event::Failed {
                        what: "reminders",
                        error: &error,
                    }),
                }
            }
            std::thread::sleep(CHECKPOINT_EVERY);
            waited += 1;
        }
    }

    /// The kernel's housekeeping every minute (the first a second after
    /// start), on its own thread: a slow release or remote clean-up never
    /// delays a reminder.
    fn housekeeper(&self, stop: &AtomicBool, on: &(dyn Fn(Event<'_>) + Sync)) {
        let ctl = match open_store(&self.ctl.ws, "kernel housekeeping", stop, on) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(error) => {
                return on(Event::Failed {
                    what: "kernel housekeeping",
                    error: &error,
                });
            }
        };
        let mut ticks: u32 = 0;
        while !stop.load(Ordering::Relaxed) {
            if ticks % HOUSEKEEP_EVERY_SECS == 1 {
                match ctl.kernel_housekeeping(now()) {
                    Ok(Some(v)) => on(Event::Housekept(&v)),
                    Ok(None) => {}
                    Err(error) => on(Event::Failed {
                        what: "kernel housekeeping",
                        error: &error,
                    }),
                }
            }
            std::thread::sleep(CHECKPOINT_EVERY);
            ticks = ticks.wrapping_add(1);
        }
    }
}
