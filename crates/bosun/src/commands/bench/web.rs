//! `bosun bench web`: the dashboard under the load issue 16 names, in one
//! process with a real server (the one `serve` runs) on loopback TCP: the
//! overview page (`GET /` with a session cookie) over many pending ops,
//! hosts and blockers — its round trip and its size — and intake through
//! the API with and without many live watchers (`GET /events`) open, to
//! show what they cost it.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bosun_control::{Result, client};
use bosun_model::{Act, Name};
use clap::Args;
use serde_json::json;

use super::api::{Client, intake_over, post, serving};
use super::{BenchWs, bench_ws, other, pct, us};

/// `bosun bench web`.
#[derive(Args, Debug)]
pub struct WebArgs {
    /// Ops waiting for approval when the overview is read.
    #[arg(long, default_value_t = 10_000)]
    pub pending: usize,
    /// Hosts in the inventory besides the three scaffolded ones.
    #[arg(long, default_value_t = 997)]
    pub hosts: usize,
    /// Active blockers.
    #[arg(long, default_value_t = 100)]
    pub blockers: usize,
    /// Overview page reads to time.
    #[arg(long, default_value_t = 200)]
    pub reads: usize,
    /// Live watchers (`GET /events`) held open during the second intake.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Ops submitted through the API in each intake phase.
    #[arg(long, default_value_t = 5_000)]
    pub ops: usize,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

const CLIENTS: usize = 16;

/// Runs `bosun bench web`.
pub(crate) fn web(a: &WebArgs) -> Result<()> {
    let BenchWs {
        _tmp,
        ctl,
        agents,
        plan: _,
        t0,
    } = bench_ws(CLIENTS, None, a.hosts)?;
    let gov = ctl.governed()?;
    // A change by an agent: it waits for an operator.
    let target = Name::parse("canary-1").map_err(|e| other(e.to_string()))?;
    let params = [("version".to_string(), "2.0".to_string())].into();
    let change = client::plan(&gov, "pkg-upgrade", &[target], &params)?;
    if !a.json {
        errln!("{} pending ops, {} blockers…", a.pending, a.blockers);
    }
    let mut seq = [0u64; CLIENTS];
    let mut batch = Vec::new();
    for i in 0..a.pending {
        let c = i % CLIENTS;
        seq[c] += 1;
        let (id, k) = &agents[c];
        batch.push(ctl.sign_op(k, id, &change, seq[c], t0)?.1);
        if batch.len() == 500 || i + 1 == a.pending {
            for r in ctl.intake(&gov, &batch, t0)? {
                r.map_err(|rej| other(format!("bench broken: {rej}")))?;
            }
            batch.clear();
        }
    }
    let (op_id, op_key) = bench_operator()?;
    for n in 0..a.blockers {
        let act = Act::BlockerFile {
            kind: "host-drifted".into(),
            subject: format!("bench-{n}"),
            reason: format!("bench blocker {n}"),
            owner: String::new(),
        };
        let env = ctl.signing(&op_key, &op_id, t0).statement(act)?;
        ctl.apply_statement(&env, t0)?
            .map_err(|rej| other(format!("bench broken: {rej}")))?;
    }
    let token = ctl.sign_token(&op_key, &op_id, 3600, bosun_control::now())?;
    // Two intake phases of fresh ops: alone, then beside the watchers.
    let mut phase = |n: usize| -> Result<Vec<Vec<Vec<u8>>>> {
        let per = n.div_ceil(CLIENTS);
        let mut signed: Vec<Vec<Vec<u8>>> = (0..CLIENTS).map(|_| Vec::with_capacity(per)).collect();
        for _ in 0..per {
            for (c, v) in signed.iter_mut().enumerate() {
                seq[c] += 1;
                let (id, k) = &agents[c];
                v.push(post(&ctl.sign_op(k, id, &change, seq[c], t0)?.1));
            }
        }
        Ok(signed)
    };
    // A B A: alone, beside the watchers, alone again (the machine's own
    // drift over the run shows in the two alone figures).
    let (alone, beside, again) = (phase(a.ops)?, phase(a.ops)?, phase(a.ops)?);
    let ((mut pages, bytes), (t_alone, _), (t_beside, _), (t_again, _), opened) =
        serving(&ctl, None, |addr| {
            let pages = read_pages(addr, &token, a.reads)?;
            let alone = intake_over(addr, alone)?;
            let stop = Arc::new(AtomicBool::new(false));
            let (beside, opened) = std::thread::scope(|s| {
                let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                for _ in 0..a.watchers {
                    let (stop, opened, token) = (stop.clone(), opened.clone(), token.clone());
                    s.spawn(move || watch(addr, &token, &stop, &opened));
                }
                let end = Instant::now() + Duration::from_secs(10);
                while opened.load(Ordering::Relaxed) < a.watchers && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let r = intake_over(addr, beside);
                stop.store(true, Ordering::Relaxed);
                (r, opened.load(Ordering::Relaxed))
            });
            let again = intake_over(addr, again)?;
            Ok((pages, alone, beside?, again, opened))
        })?;
    pages.sort();
    let total = a.ops.div_ceil(CLIENTS) * CLIENTS;
    let rate = |t: Duration| total as f64 / t.as_secs_f64();
    let (r_first, r_beside, r_again) = (rate(t_alone), rate(t_beside), rate(t_again));
    let r_alone = (r_first + r_again) / 2.0;
    let fig = json!({
        "bench": "web", "pending": a.pending, "hosts": a.hosts + 3, "blockers": a.blockers,
        "overview_page": {"bytes": bytes, "reads": pages.len(),
            "round_trip_us": {"p50": us(pct(&pages, 0.5)), "p99": us(pct(&pages, 0.99)), "max": us(pct(&pages, 1.0))}},
        "intake_ops_per_sec": {"alone": r_alone, "alone_runs": [r_first, r_again], "beside_watchers": r_beside, "watchers": opened,
            "slowdown_pct": (1.0 - r_beside / r_alone) * 100.0},
    });
    if a.json {
        outln!("{fig}");
        return Ok(());
    }
    outln!(
        "GET / with {} pending ops, {} hosts, {} blockers: {bytes} bytes of HTML; p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} reads, session checked each)",
        a.pending,
        a.hosts + 3,
        a.blockers,
        us(pct(&pages, 0.5)) / 1000.0,
        us(pct(&pages, 0.99)) / 1000.0,
        us(pct(&pages, 1.0)) / 1000.0,
        pages.len()
    );
    outln!(
        "API intake of {total} ops from {CLIENTS} clients: {r_alone:.0} ops/s alone (mean of {r_first:.0} before and {r_again:.0} after), {r_beside:.0} ops/s beside {opened} live watchers ({:+.1} %)",
        (r_beside / r_alone - 1.0) * 100.0
    );
    Ok(())
}

/// The bench workspace's operator (see `bench_ws`).
fn bench_operator() -> Result<(bosun_model::KeyId, bosun_sign::SecretKey)> {
    Ok((
        bosun_model::KeyId::parse("op").map_err(|e| other(e.to_string()))?,
        bosun_sign::SecretKey::from_seed([1; 32]),
    ))
}

/// `n` reads of the overview page: each one's round trip, and its size.
fn read_pages(addr: &str, token: &str, n: usize) -> Result<(Vec<Duration>, usize)> {
    let mut c = Client::connect(addr)?;
    let req = format!("GET / HTTP/1.1\r\nHost: bench\r\nCookie: bosun_session={token}\r\n\r\n")
        .into_bytes();
    let (mut times, mut bytes) = (Vec::with_capacity(n), 0);
    for _ in 0..n {
        let t = Instant::now();
        let r = c.call(&req)?;
        if r.status != 200 {
            return Err(other(format!(
                "bench broken: the page answered {}",
                r.status
            )));
        }
        times.push(t.elapsed());
        bytes = r.body.len();
    }
    Ok((times, bytes))
}

/// One live watcher: `GET /events` held open, read until `stop`.
fn watch(addr: &str, token: &str, stop: &AtomicBool, opened: &std::sync::atomic::AtomicUsize) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let req = format!(
        "GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\nCookie: bosun_session={token}\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return;
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let mut counted = false;
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) if !counted => {
                counted = true;
                opened.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
