//! `bosun bench`: the speed figures of docs/BENCHMARKS.md, measured on a
//! throwaway workspace with a real SQLite file (`synchronous=FULL`).
//!
//! - `intake`: many concurrent submitters send pre-signed ops; intake shards
//!   them by issuer (so each issuer's `seq` stays ordered) and each shard
//!   group-commits what has arrived: decode, batch signature verification,
//!   re-plan, policy decision, one transaction that checks replay and seq,
//!   persists and enqueues. Latency is from a submitter's scheduled send to
//!   the commit that made its op durable (no coordinated omission).
//! - `policy`: one decision against 500 rules, indexed by runbook.
//! - `trust`: quoting and the controller's dispatch checks, per op
//!   (`bench::trust`).
//! - `verify`: Ed25519 verification alone, single and batch: the ceiling.
//! - `patches`: the kernel verbs' promote, scan and check (`bench::patches`).
//! - `ledger`: ledger appends (group-committed batches), `ledger verify` of
//!   the whole log, inclusion-proof generation, storage per entry; and,
//!   beside it, one git commit per event (what teams keeping change logs in git do today).

mod api;
mod mcp;
mod patches;
mod rollout;
mod trust;
mod web;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bosun_control::{Control, ControlError, Result, client};
use bosun_model::{KeyId, Name, Role, Verdict};
use bosun_sign::SecretKey;
use bosun_workspace::{KeyRegistry, Workspace};
use clap::Subcommand;
use serde_json::json;

/// What to measure.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Intake throughput and latency with concurrent submitters.
    #[command(after_help = "Examples:\n  bosun bench intake --ops 10000 --submitters 8")]
    Intake(IntakeArgs),
    /// The HTTP API under load: intake with concurrent clients, and the
    /// overview over many ops and hosts (a real server on loopback).
    #[command(
        after_help = "Examples:\n  bosun bench api\n  bosun bench api --ops 40000 --clients 16 --json"
    )]
    Api(api::ApiArgs),
    /// The MCP `plan` tool's round trip on loopback: over stdio (`bosun
    /// mcp`) and over the daemon's `/mcp` (streamable HTTP, a real server).
    #[command(after_help = "Examples:\n  bosun bench mcp\n  bosun bench mcp --calls 5000 --json")]
    Mcp(mcp::McpArgs),
    /// The dashboard: the overview page over many pending ops, hosts and
    /// blockers (round trip and size), and API intake beside many live
    /// watchers (`/events`).
    #[command(
        after_help = "Examples:\n  bosun bench web\n  bosun bench web --pending 2000 --watchers 20 --json"
    )]
    Web(web::WebArgs),
    /// The kernel patch verbs: promote (500 patches, ~50 MB), the
    /// conflict and duplicate scan (2,000 patches), and `patches check`
    /// beside a `git apply --check` loop.
    #[command(
        after_help = "Examples:\n  bosun bench patches\n  bosun bench patches --promote 100 --json"
    )]
    Patches(patches::PatchesArgs),
    /// Policy decision time with many rules.
    #[command(after_help = "Examples:\n  bosun bench policy --rules 500")]
    Policy {
        /// Rules in the policy set (all but 10 scoped to one runbook each).
        #[arg(long, default_value_t = 500)]
        rules: usize,
        /// Decisions to time.
        #[arg(long, default_value_t = 20_000)]
        iters: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ledger append throughput, full verification, proof generation and
    /// storage, beside one git commit per event.
    #[command(after_help = "Examples:\n  bosun bench ledger")]
    Ledger {
        /// Entries to append.
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        /// Entries per transaction (group commit).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Inclusion proofs to time.
        #[arg(long, default_value_t = 1000)]
        proofs: usize,
        /// Git commits to time for the one-commit-per-event side (0: skip).
        #[arg(long, default_value_t = 200)]
        git_commits: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// A canary-first rollout over many simulated hosts in waves with
    /// bars, beside the same commands run without bosun: overhead per
    /// host-step and peak memory.
    #[command(after_help = "Examples:\n  bosun bench rollout --hosts 200")]
    Rollout {
        /// Simulated hosts (local transport, one directory each).
        #[arg(long, default_value_t = 1000)]
        hosts: usize,
        /// Waves (the first, the canary, is 1% of the hosts).
        #[arg(long, default_value_t = 10)]
        waves: usize,
        /// Hosts changed at once.
        #[arg(long, default_value_t = 16)]
        parallel: u32,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the trust boundary costs per op: planning with every
    /// interpolation quoted (beside `| raw`), and the controller's checks
    /// before it runs an op (digest, host bindings, approvals).
    #[command(after_help = "Examples:\n  bosun bench trust")]
    Trust {
        /// Target hosts of the planned op.
        #[arg(long, default_value_t = 1)]
        hosts: usize,
        /// Times to run each.
        #[arg(long, default_value_t = 20_000)]
        iters: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ed25519 verification alone (single and batch), the intake ceiling.
    #[command(after_help = "Examples:\n  bosun bench verify")]
    Verify {
        /// Signatures.
        #[arg(long, default_value_t = 20_000)]
        n: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `bosun bench intake`.
#[derive(clap::Args, Debug)]
pub struct IntakeArgs {
    /// Ops in all.
    #[arg(long, default_value_t = 40_000)]
    pub ops: usize,
    /// Concurrent submitters (each its own agent key).
    #[arg(long, default_value_t = 16)]
    pub submitters: usize,
    /// Prepare shards (threads) of the intake pipeline; one committer
    /// group-commits what they prepared [default: one fewer than the
    /// cores, at least 1]
    #[arg(long)]
    pub shards: Option<usize>,
    /// Most ops a shard prepares at once.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Offered load in ops/s across all submitters (0 = as fast as intake takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long a shard waits for more ops before preparing a small
    /// batch, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub linger_us: u64,
    /// Build the throwaway workspace in this directory (which must not
    /// exist) and keep it, to look at the database afterwards.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs a benchmark and prints its figures.
pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Intake(a) => intake(&a),
        BenchCmd::Api(a) => api::api(&a),
        BenchCmd::Mcp(a) => mcp::mcp(&a),
        BenchCmd::Web(a) => web::web(&a),
        BenchCmd::Patches(a) => patches::patches(&a),
        BenchCmd::Policy { rules, iters, json } => policy(rules, iters.max(1), json),
        BenchCmd::Verify { n, json } => verify(n.max(1), json),
        BenchCmd::Trust { hosts, iters, json } => trust::run(hosts.max(1), iters.max(1), json),
        BenchCmd::Rollout {
            hosts,
            waves,
            parallel,
            json,
        } => rollout::run(hosts.max(1), waves, parallel.max(1), json),
        BenchCmd::Ledger {
            entries,
            batch,
            proofs,
            git_commits,
            json,
        } => ledger(entries.max(1), batch.max(1), proofs, git_commits, json),
    }
}

fn ledger(
    entries: usize,
    batch: usize,
    proofs: usize,
    git_commits: usize,
    json_out: bool,
) -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let root = tmp.path().join("ws");
    bosun_workspace::scaffold::init(
        &root,
        &Name::parse("bench").map_err(|e| other(e.to_string()))?,
    )?;
    let ctl = Control::open(Workspace::open(&root)?)?;
    // Entries shaped like the pipeline's: a step result of an op.
    let mut done = 0usize;
    let t = Instant::now();
    let mut last_print = Instant::now();
    while done < entries {
        let n = batch.min(entries - done);
        let evs: Vec<bosun_store::NewEvent> = (done..done + n)
            .map(|i| bosun_store::NewEvent {
                at: 1_800_000_000 + i64::try_from(i).unwrap_or(0),
                jti: Some(format!("{:032x}", i / 8)),
                kind: "bench.step.succeeded".into(),
                data: json!({"idx": i % 8, "host": format!("web-{}", i % 50), "exit_code": 0, "duration_ms": 12}),
            })
            .collect();
        ctl.record_bench_events(&evs)?;
        done += n;
        if !json_out && last_print.elapsed() > Duration::from_secs(2) {
            errln!("  appended {done} of {entries}…");
            last_print = Instant::now();
        }
    }
    let append = t.elapsed();
    let keys = tmp.path().join("keys");
    let signer = bosun_control::ledger::signer(&ctl.ws, &keys)?;
    let t = Instant::now();
    bosun_control::ledger::checkpoint(&ctl, &signer)?;
    let checkpoint = t.elapsed();
    let v = bosun_control::ledger::verifier(&ctl.ws)?;
    let t = Instant::now();
    let report = bosun_control::ledger::verify(&ctl, &v, &[])?.map_err(|e| other(e.to_string()))?;
    let verify = t.elapsed();
    let mut lat = Vec::with_capacity(proofs);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..proofs {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let idx = (x >> 11) % report.size;
        let t = Instant::now();
        let p = bosun_control::ledger::prove(&ctl, None, Some(idx))?;
        lat.push(t.elapsed());
        if let Some(p) = p.first() {
            bosun_control::ledger::verify_proof(p, &v).map_err(other)?;
        }
    }
    lat.sort();
    // Storage: the database file once the background checkpointer has
    // folded the write-ahead log into it (the WAL file is scratch space).
    std::thread::sleep(Duration::from_millis(1500));
    let db = root.join(".bosun/bosun.db");
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let per_million = bytes as f64 * 1e6 / entries as f64 / (1024.0 * 1024.0);
    // One git commit per event.
    let git_rate = if git_commits > 0 {
        let repo = tmp.path().join("git");
        std::fs::create_dir_all(&repo).map_err(|e| other(e.to_string()))?;
        let g = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args([
                    "-c",
                    "user.name=b",
                    "-c",
                    "user.email=b@x",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .output()
                .map_err(|e| other(format!("git: {e}")))
        };
        g(&["init", "-q"])?;
        let t = Instant::now();
        for i in 0..git_commits {
            std::fs::write(
                repo.join(format!("{i:08}.json")),
                format!("{{\"event\":{i}}}"),
            )
            .map_err(|e| other(e.to_string()))?;
            g(&["add", "-A"])?;
            g(&["commit", "-q", "-m", &format!("event {i}")])?;
        }
        Some(git_commits as f64 / t.elapsed().as_secs_f64())
    } else {
        None
    };
    let rate = entries as f64 / append.as_secs_f64();
    let fig = json!({"bench": "ledger", "entries": entries, "batch": batch,
        "append_entries_per_sec": rate, "checkpoint_ms": checkpoint.as_secs_f64() * 1e3,
        "verify_s": verify.as_secs_f64(), "proof_p50_us": us(pct(&lat, 0.5)), "proof_p99_us": us(pct(&lat, 0.99)),
        "db_bytes": bytes, "mib_per_million_entries": per_million,
        "git_commits_per_sec": git_rate, "speedup_vs_git": git_rate.map(|g| rate / g)});
    if json_out {
        outln!("{fig}");
    } else {
        outln!(
            "ledger, {entries} entries: append {rate:.0} entries/s (batches of {batch}, synchronous=FULL); checkpoint {:.0} ms; verify {:.2} s; inclusion proof p50 {:.0} µs, p99 {:.0} µs; {per_million:.0} MiB per million entries",
            checkpoint.as_secs_f64() * 1e3,
            verify.as_secs_f64(),
            us(pct(&lat, 0.5)),
            us(pct(&lat, 0.99))
        );
        if let Some(g) = git_rate {
            outln!(
                "one git commit per event: {g:.1} commits/s → the ledger appends {:.0}× faster",
                rate / g
            );
        }
    }
    Ok(())
}

/// A throwaway benchmark workspace: `bench`, an operator `op`, one agent
/// key per submitter, everything adopted, and the plan every op signs (a
/// read-only `disk-usage` on canary-1, which the policy lets run alone).
pub(crate) struct BenchWs {
    /// Holds the directory (unless kept).
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) ctl: Control,
    pub(crate) agents: Vec<(KeyId, SecretKey)>,
    pub(crate) plan: bosun_model::Plan,
    pub(crate) t0: i64,
}

/// Makes a [`BenchWs`] (in `keep` when given, which must not exist), with
/// `extra_hosts` more local hosts in its inventory.
pub(crate) fn bench_ws(
    submitters: usize,
    keep: Option<&std::path::Path>,
    extra_hosts: usize,
) -> Result<BenchWs> {
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let root = match keep {
        Some(dir) if dir.exists() => {
            return Err(other(format!(
                "--keep {}: it exists; name a new directory",
                dir.display()
            )));
        }
        Some(dir) => dir.to_path_buf(),
        None => tmp.path().join("bench"),
    };
    bosun_workspace::scaffold::init(
        &root,
        &Name::parse("bench").map_err(|e| other(e.to_string()))?,
    )?;
    let op_key = SecretKey::from_seed([1; 32]);
    let op_id = KeyId::parse("op").map_err(|e| other(e.to_string()))?;
    KeyRegistry::register(
        &root,
        &op_id,
        Role::Operator,
        &["*".into()],
        &op_key.public(),
    )?;
    let mut agents = Vec::new();
    for i in 0..submitters {
        let mut seed = [7u8; 32];
        seed[0] = u8::try_from(i % 200).unwrap_or(0) + 2;
        seed[1] = u8::try_from(i / 200).unwrap_or(0);
        let k = SecretKey::from_seed(seed);
        let id = KeyId::parse(&format!("agent-{i}")).map_err(|e| other(e.to_string()))?;
        KeyRegistry::register(&root, &id, Role::Agent, &["*".into()], &k.public())?;
        agents.push((id, k));
    }
    if extra_hosts > 0 {
        use std::fmt::Write as _;
        let path = root.join("fleet/hosts.toml");
        let mut text = std::fs::read_to_string(&path)
            .map_err(|e| other(format!("{}: {e}", path.display())))?;
        for n in 0..extra_hosts {
            let _ = write!(
                text,
                "\n[[host]]\nname = \"bench-{n}\"\naddress = \"localhost\"\ntransport = \"local\"\narch = \"x86_64\"\ntags = [\"bench\"]\nroot = \".bosun/sim/bench-{n}\"\n"
            );
        }
        std::fs::write(&path, text).map_err(|e| other(format!("{}: {e}", path.display())))?;
    }
    let ctl = Control::open(Workspace::open(&root)?)?;
    let t0 = bosun_control::now();
    let (p, _) = ctl
        .propose(&op_id, t0)?
        .ok_or_else(|| other("nothing to adopt"))?;
    let (_, env) = ctl.sign_approval(
        &op_key,
        &op_id,
        &p.id,
        &p.digest,
        Verdict::Approve,
        None,
        t0,
    )?;
    ctl.approve_adoption(&env, t0)?
        .map_err(|r| other(r.to_string()))?;
    let gov = ctl.governed()?;
    // A read-only op: the policy lets it run alone, so every op takes the
    // full path including the enqueue.
    let target = Name::parse("canary-1").map_err(|e| other(e.to_string()))?;
    let plan = client::plan(&gov, "disk-usage", &[target], &BTreeMap::new())?;
    Ok(BenchWs {
        _tmp: tmp,
        ctl,
        agents,
        plan,
        t0,
    })
}

fn intake(a: &IntakeArgs) -> Result<()> {
    let (ops, submitters, shards, batch, rate, json_out) = (
        a.ops,
        a.submitters.max(1),
        a.shards
            .unwrap_or(bosun_control::pipeline::Options::default().shards)
            .max(1),
        a.batch.max(1),
        a.rate,
        a.json,
    );
    let linger = Duration::from_micros(a.linger_us);
    let BenchWs {
        _tmp: tmp,
        ctl,
        agents,
        plan,
        t0,
    } = bench_ws(submitters, a.keep.as_deref(), 0)?;
    let _keep_dir = tmp;
    let gov = ctl.governed()?;
    let per = ops.div_ceil(submitters);
    if !json_out {
        errln!(
            "signing {} ops for {submitters} submitters…",
            per * submitters
        );
    }
    // Signed ahead of time (signing is the submitters' cost, not intake's),
    // in the order they will be sent: op n of every submitter before op
    // n + 1 of any. A jti carries the time it was made, so this keeps
    // jti order close to arrival order, as when each op is signed just
    // before it is sent.
    let mut signed: Vec<Vec<String>> = (0..submitters).map(|_| Vec::with_capacity(per)).collect();
    for s in 1..=per {
        for ((id, k), v) in agents.iter().zip(signed.iter_mut()) {
            v.push(
                ctl.sign_op(k, id, &plan, u64::try_from(s).unwrap_or(u64::MAX), t0)?
                    .1,
            );
        }
    }
    let total = per * submitters;
    let pipeline = bosun_control::pipeline::Pipeline::start(
        ctl.clone(),
        std::sync::Arc::new(gov),
        bosun_control::pipeline::Options {
            shards,
            max_batch: batch,
            linger,
        },
    )?;
    // Each answer reports its latency: from the op's scheduled send (not
    // the actual one, so a stalled submitter does not hide a stall: no
    // coordinated omission) to the moment the committer answered it.
    let (lat_tx, lat_rx) = mpsc::channel::<(Duration, Duration, bool)>();
    let start = Instant::now();
    let interval = if rate == 0 {
        None
    } else {
        Some(Duration::from_secs_f64(submitters as f64 / rate as f64))
    };
    std::thread::scope(|s| {
        for (i, envs) in signed.into_iter().enumerate() {
            let (pipeline, lat_tx) = (&pipeline, lat_tx.clone());
            s.spawn(move || {
                for (n, e) in envs.into_iter().enumerate() {
                    let due = match interval {
                        Some(iv) => {
                            let due = start + iv.mul_f64(n as f64 + (i as f64 / submitters as f64));
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                            due
                        }
                        None => Instant::now(),
                    };
                    let tx = lat_tx.clone();
                    // How late the submitter handed it over (its wake-up, a
                    // full shard).
                    let late = due.elapsed();
                    let done = Box::new(move |a: bosun_control::pipeline::Answer| {
                        let _ = tx.send((due.elapsed(), late, a.is_ok()));
                    });
                    if pipeline.submit(e, done).is_err() {
                        return;
                    }
                }
            });
        }
    });
    drop(lat_tx);
    let stats = pipeline.finish()?;
    let elapsed = start.elapsed();
    let mut lat: Vec<Duration> = Vec::with_capacity(total);
    let mut late: Vec<Duration> = Vec::with_capacity(total);
    let mut rejected = 0;
    for (d, l, ok) in lat_rx {
        lat.push(d);
        late.push(l);
        rejected += usize::from(!ok);
    }
    late.sort();
    let mut commit_waits = stats.commit_waits.clone();
    commit_waits.sort();
    let mut shard_waits: Vec<Duration> = stats.prepares.iter().map(|p| p.0).collect();
    let mut prepares: Vec<Duration> = stats.prepares.iter().map(|p| p.1).collect();
    shard_waits.sort();
    prepares.sort();
    let stage = |v: &[Duration]| json!({"p50": us(pct(v, 0.5)), "p99": us(pct(v, 0.99)), "max": us(pct(v, 1.0))});
    let mut commits = stats.commits.clone();
    lat.sort();
    commits.sort();
    let batches = usize::try_from(stats.commit_count).unwrap_or(usize::MAX);
    if let Some(e) = &stats.store_error {
        return Err(other(format!("bench broken: the store failed: {e}")));
    }
    let stored = ctl.ops(None, total + 1)?.len();
    let queued = ctl.queue_depth()?;
    if rejected > 0
        || lat.len() != total
        || stored != total
        || queued != u64::try_from(total).unwrap_or(0)
    {
        return Err(other(format!(
            "bench broken: {} answered, {rejected} rejected, {stored} stored, {queued} queued of {total}",
            lat.len()
        )));
    }
    let ops_s = total as f64 / elapsed.as_secs_f64();
    let db_bytes = std::fs::metadata(ctl.ws.db_path())
        .map(|m| m.len())
        .unwrap_or(0);
    let fig = json!({
        "bench": "intake", "ops": total, "submitters": submitters, "shards": shards, "max_batch": batch,
        "offered_rate": rate, "linger_us": linger.as_micros(), "seconds": elapsed.as_secs_f64(), "ops_per_sec": ops_s,
        "batches": batches, "mean_batch": total as f64 / batches.max(1) as f64,
        "latency_us": {"p50": us(pct(&lat, 0.5)), "p90": us(pct(&lat, 0.9)), "p99": us(pct(&lat, 0.99)), "max": us(pct(&lat, 1.0))},
        "group_commit_us": {"p50": us(pct(&commits, 0.5)), "p99": us(pct(&commits, 0.99)), "max": us(pct(&commits, 1.0))},
        "stages_us": {"submit_late": stage(&late), "shard_wait": stage(&shard_waits), "prepare": stage(&prepares), "commit_wait": stage(&commit_waits)},
        "synchronous": "FULL", "db_bytes": db_bytes,
    });
    if json_out {
        outln!("{fig}");
    } else {
        outln!(
            "intake: {total} ops from {submitters} submitters in {:.2} s = {ops_s:.0} ops/s ({} shards, {batches} group commits, mean batch {:.1})",
            elapsed.as_secs_f64(),
            shards,
            total as f64 / batches.max(1) as f64
        );
        outln!(
            "latency (scheduled send → answered, durable): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms{}",
            us(pct(&lat, 0.5)) / 1000.0,
            us(pct(&lat, 0.9)) / 1000.0,
            us(pct(&lat, 0.99)) / 1000.0,
            us(pct(&lat, 1.0)) / 1000.0,
            if rate > 0 {
                format!("  at an offered {rate} ops/s")
            } else {
                String::new()
            }
        );
        outln!(
            "one group commit (the committer's transaction): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            us(pct(&commits, 0.5)) / 1000.0,
            us(pct(&commits, 0.99)) / 1000.0,
            us(pct(&commits, 1.0)) / 1000.0
        );
        let ms = |v: &[Duration]| {
            format!(
                "p50 {:.2} p99 {:.2} max {:.2}",
                us(pct(v, 0.5)) / 1000.0,
                us(pct(v, 0.99)) / 1000.0,
                us(pct(v, 1.0)) / 1000.0
            )
        };
        outln!(
            "stages (ms): handed over late {}; waited for a shard {}; prepare {}; waited for the committer {}",
            ms(&late),
            ms(&shard_waits),
            ms(&prepares),
            ms(&commit_waits)
        );
        outln!(
            "every op verified, decided (auto), persisted with synchronous=FULL and enqueued; db {} MiB",
            db_bytes / (1 << 20)
        );
    }
    Ok(())
}

fn policy(rules: usize, iters: usize, json_out: bool) -> Result<()> {
    use bosun_policy::{Policy, Request, SourceFile};
    let generic = 10.min(rules);
    let mut cedar = String::new();
    for i in 0..rules.saturating_sub(generic) {
        cedar.push_str(&format!(
            "@id(\"rb-{i}\")\n@outcome(\"approvals\")\npermit (principal in Bosun::Role::\"agent\", action == Bosun::Action::\"run\", resource == Bosun::Runbook::\"rb-{i}\") when {{ context.target_count < 5 }};\n"
        ));
    }
    for i in 0..generic {
        cedar.push_str(&format!(
            "@id(\"generic-{i}\")\n@outcome(\"auto\")\npermit (principal, action == Bosun::Action::\"run\", resource) when {{ resource.read_only && context.hour != {} }};\n",
            24 + i
        ));
    }
    let p = Policy::load(
        &SourceFile::new("policy/keeper.toml", bosun_policy::DEFAULT_KEEPER_TOML),
        &[SourceFile::new("policy/bench.cedar", cedar)],
    )?;
    let issuer = KeyId::parse("claude").map_err(|e| other(e.to_string()))?;
    let scoped = rules.saturating_sub(generic).max(1);
    let runbooks: Vec<Name> = (0..scoped)
        .map(|i| Name::parse(&format!("rb-{i}")).map_err(|e| other(e.to_string())))
        .collect::<Result<_>>()?;
    let on = |p: &Policy, rb: &Name, read_only: bool| {
        let targets = [Name::parse("web-1").unwrap_or_else(|_| rb.clone())];
        let tags = std::collections::BTreeSet::new();
        p.decide(&Request {
            issuer: &issuer,
            role: Role::Agent,
            runbook: rb,
            read_only,
            destructive: false,
            targets: &targets,
            target_tags: &tags,
            infra_targets: false,
            now: jiff::Timestamp::now(),
            hosts_changed: &|_| 0,
        })
    };
    // Decisions over every runbook in turn (after a first pass that builds
    // the index's sets and the entities), or on rb-7 only (`rotate` off:
    // what earlier versions of this bench timed), timing each one.
    let time = |p: &Policy,
                read_only: bool,
                rotate: bool,
                n: usize|
     -> Result<(Vec<Duration>, Vec<String>)> {
        for rb in &runbooks {
            on(p, rb, read_only);
        }
        let first = on(p, &runbooks[7 % runbooks.len()], read_only);
        let mut times = Vec::with_capacity(n);
        for k in 0..n {
            let rb = &runbooks[if rotate { k } else { 7 } % runbooks.len()];
            let t = Instant::now();
            let d = on(p, rb, read_only);
            times.push(t.elapsed());
            if d.policy_ids.is_empty() {
                return Err(other(format!("no rule decided {rb}: {:?}", d.reasons)));
            }
        }
        times.sort();
        Ok((times, first.policy_ids))
    };
    let rb7 = &runbooks[7 % runbooks.len()];
    let mut cases = Vec::new();
    for (name, read_only, rotate) in [
        ("changing", false, true),
        ("read_only", true, true),
        ("read_only, rb-7 only", true, false),
    ] {
        let (t, ids) = time(&p, read_only, rotate, iters)?;
        let considered = p.policies_considered(rb7, Role::Agent, read_only, false);
        cases.push((name, considered, t, ids));
    }
    let flat = p.unindexed();
    let (t, ids) = time(&flat, false, true, (iters / 40).max(50))?;
    cases.push(("changing, unindexed", rules, t, ids));
    let figs: Vec<serde_json::Value> = cases
        .iter()
        .map(|(name, considered, t, ids)| {
            json!({"runbook": name, "considered": considered,
                "decide_us": {"p50": us(pct(t, 0.5)), "p99": us(pct(t, 0.99))}, "policy_ids_rb_7": ids})
        })
        .collect();
    let fig =
        json!({"bench": "policy", "rules": rules, "iters": iters, "role": "agent", "cases": figs});
    if json_out {
        outln!("{fig}");
    } else {
        outln!(
            "policy: {rules} rules ({scoped} scoped to one runbook each, {generic} generic ones for read-only runbooks); an agent's op, over every runbook in turn unless said:"
        );
        for (name, considered, t, ids) in &cases {
            outln!(
                "  {name:<20} {considered:>4} considered: decide p50 {:.1} µs, p99 {:.1} µs over {} decisions (rb-7: {})",
                us(pct(t, 0.5)),
                us(pct(t, 0.99)),
                t.len(),
                ids.join(", ")
            );
        }
    }
    Ok(())
}

fn verify(n: usize, json_out: bool) -> Result<()> {
    let k = SecretKey::from_seed([9; 32]);
    let pk = k.public();
    let claims = json!({"jti": "x", "n": 0, "pad": "a".repeat(300)});
    let tokens: Vec<bosun_sign::Unverified> = (0..n)
        .map(|i| {
            let mut c = claims.clone();
            c["n"] = json!(i);
            bosun_sign::sign_compact(&k, "k", "t", &c).and_then(|t| bosun_sign::decode(&t))
        })
        .collect::<std::result::Result<_, _>>()?;
    let t = Instant::now();
    for u in &tokens {
        u.verify(&pk)?;
    }
    let single = t.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    let pairs: Vec<(&bosun_sign::Unverified, &bosun_sign::PublicKey)> =
        tokens.iter().map(|u| (u, &pk)).collect();
    let t = Instant::now();
    for chunk in pairs.chunks(512) {
        bosun_sign::verify_batch(chunk)?;
    }
    let batch = t.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    let fig = json!({"bench": "verify", "n": n, "single_us": us(single), "batch512_us_per_sig": us(batch),
        "ceiling_ops_per_sec_one_core": 1e6 / us(batch)});
    if json_out {
        outln!("{fig}");
    } else {
        outln!(
            "ed25519: single verify {:.1} µs, batch (512) {:.1} µs per signature → one core's ceiling ≈ {:.0} ops/s",
            us(single),
            us(batch),
            1e6 / us(batch)
        );
    }
    Ok(())
}
