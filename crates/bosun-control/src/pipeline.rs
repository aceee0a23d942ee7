//! The intake pipeline for many concurrent submitters (the HTTP API, the
//! MCP server, `bosun bench intake`): envelopes go to prepare shards,
//! threads that run [`Control::prepare`] in parallel, and every prepared
//! batch goes to one committer that group-commits whatever has arrived
//! ([`Control::commit`]) while the shards prepare the next ones.
//!
//! ```text
//!  submit ──▶ shard (by signing key) ── prepare ──┐
//!  submit ──▶ shard                   ── prepare ──┼─▶ committer ── commit ──▶ done(answer)
//!  submit ──▶ shard                   ── prepare ──┘     (one transaction for
//!                                                         all that arrived)
//! ```
//!
//! An envelope goes to the shard of its signing key (the `kid` of its JWS
//! header, however the header is written), so one issuer's ops are
//! prepared and committed in the order they were submitted and their `seq`
//! stays increasing. Nothing is lost on a full pipeline:
//! [`Pipeline::submit`] waits for room.

use bosun_api::Check;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::intake::{Accepted, Prepared, Rejected, reject};
use crate::{Control, ControlError, Governed, Result, now};

/// What becomes of one submitted envelope: accepted (with its decision) or
/// rejected (recorded, with the check that refused it). A store failure is
/// answered as a rejection by the `store` check; then nothing of the op
/// was written and it may be submitted again.
pub type Answer = std::result::Result<Accepted, Rejected>;

/// Called once with the envelope's answer, on the committer's thread: it
/// must be quick and must not submit to the same pipeline (the committer
/// would wait on itself). One that panics loses only its own answer.
pub type Done = Box<dyn FnOnce(Answer) + Send>;

/// How the pipeline is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Prepare shards (threads).
    pub shards: usize,
    /// Most envelopes a shard prepares at once.
    pub max_batch: usize,
    /// How long a shard waits for more envelopes before preparing a small
    /// batch (0: prepare what is there).
    pub linger: Duration,
}

impl Default for Options {
    /// One shard fewer than the cores (at least one), so that the shards
    /// and the committer each have a core: on 2 cores one shard took 10,400–
    /// 11,050 ops/s where two took 8,600–10,450 (`docs/BENCHMARKS.md`).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Options {
            shards: cores.saturating_sub(1).max(1),
            max_batch: 512,
            linger: Duration::ZERO,
        }
    }
}

/// Most entries each [`Stats`] list keeps (the first ones), so that a
/// pipeline that runs for days does not grow without end.
pub const STATS_MAX: usize = 1 << 20;

fn keep<T>(list: &mut Vec<T>, v: T) {
    if list.len() < STATS_MAX {
        list.push(v);
    }
}

/// What the pipeline did, for benchmarks and logs (each list holds at most
/// [`STATS_MAX`] entries, the first).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// How long each commit took (one transaction, or more when budgets
    /// moved), in the order they ran.
    pub commits: Vec<Duration>,
    /// Envelopes in each commit.
    pub batch_sizes: Vec<usize>,
    /// For each commit, how long its oldest prepared batch waited for the
    /// committer (the commit before it was running).
    pub commit_waits: Vec<Duration>,
    /// For each prepared batch, in no particular order: how long its first
    /// envelope waited for its shard, and how long preparing it took.
    pub prepares: Vec<(Duration, Duration)>,
    /// Commits in all (the lists above may hold fewer).
    pub commit_count: u64,
    /// The first store failure, if any (its ops were answered `store`).
    pub store_error: Option<String>,
}

struct Job {
    envelope: String,
    done: Done,
    at: Instant,
}

/// A shard's prepared batch, with when it was ready.
type Ready = (Prepared, Vec<Done>, Instant);

/// A running pipeline; [`Pipeline::finish`] drains and stops it.
pub struct Pipeline {
    shards: Vec<SyncSender<Job>>,
    workers: Vec<JoinHandle<Vec<(Duration, Duration)>>>,
    committer: JoinHandle<Stats>,
}

impl Pipeline {
    /// Starts the shards and the committer for `ctl`, judging by `gov`.
    pub fn start(ctl: Control, gov: Arc<Governed>, opts: Options) -> Result<Pipeline> {
        let shards = opts.shards.max(1);
        let max_batch = opts.max_batch.max(1);
        let (to_commit, commits) = mpsc::sync_channel::<Ready>(shards * 4);
        let mut senders = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        for n in 0..shards {
            let (tx, rx) = mpsc::sync_channel::<Job>(max_batch * 2);
            senders.push(tx);
            let (ctl, gov, to_commit) = (ctl.clone(), gov.clone(), to_commit.clone());
            let h = std::thread::Builder::new()
                .name(format!("bosun-intake-{n}"))
                .spawn(move || shard(&ctl, &gov, &rx, &to_commit, max_batch, opts.linger))
                .map_err(|e| ControlError::Other(format!("cannot start an intake thread: {e}")))?;
            workers.push(h);
        }
        drop(to_commit);
        let committer = std::thread::Builder::new()
            .name("bosun-intake-commit".into())
            .spawn(move || commit_loop(&ctl, &gov, &commits))
            .map_err(|e| ControlError::Other(format!("cannot start the intake committer: {e}")))?;
        Ok(Pipeline {
            shards: senders,
            workers,
            committer,
        })
    }

    /// Hands an envelope to its shard; `done` gets the answer. Waits while
    /// the shard is full. Fails only if the pipeline has stopped (a thread
    /// panicked); `done` is then not called.
    pub fn submit(&self, envelope: String, done: Done) -> Result<()> {
        // By key: the same kid in differently written headers is one
        // issuer. An envelope whose header does not parse is refused by
        // prepare wherever it goes.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match bosun_sign::kid_of(&envelope) {
            Some(kid) => kid.hash(&mut h),
            None => envelope.split('.').next().unwrap_or_default().hash(&mut h),
        }
        let i = usize::try_from(h.finish() % self.shards.len() as u64).unwrap_or(0);
        self.shards[i]
            .send(Job {
                envelope,
                done,
                at: Instant::now(),
            })
            .map_err(|_| ControlError::Other("the intake pipeline has stopped".into()))
    }

    /// Stops taking envelopes, answers every one already taken, and
    /// returns what the pipeline did.
    pub fn finish(self) -> Result<Stats> {
        drop(self.shards);
        let mut prepares = Vec::new();
        for w in self.workers {
            prepares.extend(
                w.join()
                    .map_err(|_| ControlError::Other("an intake shard panicked".into()))?,
            );
        }
        let mut stats = self
            .committer
            .join()
            .map_err(|_| ControlError::Other("the intake committer panicked".into()))?;
        stats.prepares = prepares;
        Ok(stats)
    }
}

/// One shard: takes what has arrived (up to `max_batch`, waiting `linger`
/// for more), prepares it, hands it to the committer.
fn shard(
    ctl: &Control,
    gov: &Governed,
    rx: &Receiver<Job>,
    to_commit: &SyncSender<Ready>,
    max_batch: usize,
    linger: Duration,
) -> Vec<(Duration, Duration)> {
    let mut times = Vec::new();
    while let Ok(first) = rx.recv() {
        let waited = first.at.elapsed();
        let mut jobs = vec![first];
        let until = Instant::now() + linger;
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
            }
        }
        let (envelopes, dones): (Vec<String>, Vec<Done>) =
            jobs.into_iter().map(|j| (j.envelope, j.done)).unzip();
        let began = Instant::now();
        let prepared = ctl.prepare(gov, &envelopes, now());
        let ready = Instant::now();
        keep(&mut times, (waited, ready - began));
        if to_commit.send((prepared, dones, ready)).is_err() {
            break;
        }
    }
    times
}

/// The committer: merges every prepared batch that has arrived into one
/// commit, answers each envelope, repeats.
fn commit_loop(ctl: &Control, gov: &Governed, rx: &Receiver<Ready>) -> Stats {
    let mut stats = Stats::default();
    while let Ok((mut batch, mut dones, ready)) = rx.recv() {
        let mut oldest = ready;
        while let Ok((more, d, r)) = rx.try_recv() {
            batch.merge(more);
            dones.extend(d);
            oldest = oldest.min(r);
        }
        let n = batch.len();
        let began = Instant::now();
        keep(&mut stats.commit_waits, began - oldest);
        let answers = ctl.commit(gov, batch);
        stats.commit_count += 1;
        keep(&mut stats.commits, began.elapsed());
        keep(&mut stats.batch_sizes, n);
        match answers {
            Ok(answers) => {
                for (done, a) in dones.into_iter().zip(answers) {
                    answer(done, a);
                }
            }
            Err(e) => {
                let msg = format!("the store failed; nothing of this op was written: {e}");
                stats.store_error.get_or_insert_with(|| e.to_string());
                for done in dones {
                    answer(done, Err(reject(Check::Store, msg.clone(), None)));
                }
            }
        }
    }
    stats
}

/// Calls `done`; a callback that panics does not take the committer (and
/// every answer after it) down with it.
fn answer(done: Done, a: Answer) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| done(a)));
}
