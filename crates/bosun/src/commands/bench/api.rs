//! `bosun bench api`: the HTTP API under load, in one process: a real
//! server (`bosun_server`, the one `serve` runs) on loopback TCP over a
//! throwaway workspace, driven by concurrent keep-alive clients — intake
//! (`POST /api/v1/ops` of signed envelopes, each answered durable) and the
//! overview (`GET /api/v1/status` with a bearer token) over many ops and
//! hosts. Compare with `bosun bench intake` (the embedded ceiling) run in
//! the same hour.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bosun_control::Result;
use clap::Args;
use serde_json::json;

use super::{BenchWs, bench_ws, other, pct, us};

/// `bosun bench api`.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// Ops submitted through the API in all.
    #[arg(long, default_value_t = 20_000)]
    pub ops: usize,
    /// Concurrent clients (each its own agent key and connection).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Hosts in the inventory besides the three scaffolded ones.
    #[arg(long, default_value_t = 1000)]
    pub hosts: usize,
    /// Overview reads to time after the intake.
    #[arg(long, default_value_t = 200)]
    pub reads: usize,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

/// One keep-alive connection.
pub(super) struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// An answer: its status, headers (names lower-cased) and body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (lower case).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    pub(super) fn connect(addr: &str) -> Result<Client> {
        let s = TcpStream::connect(addr).map_err(|e| other(format!("connect {addr}: {e}")))?;
        let _ = s.set_nodelay(true);
        let w = s.try_clone().map_err(|e| other(e.to_string()))?;
        Ok(Client {
            r: BufReader::new(s),
            w,
        })
    }

    /// Sends one request and reads its answer (a body of
    /// `Content-Length` bytes, or chunked to its last chunk).
    pub(super) fn call(&mut self, req: &[u8]) -> Result<Reply> {
        let io = |e: std::io::Error| other(format!("bench client: {e}"));
        self.w.write_all(req).map_err(io)?;
        let mut line = String::new();
        self.r.read_line(&mut line).map_err(io)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| other(format!("bench client: no status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.r.read_line(&mut line).map_err(io)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                line.clear();
                self.r.read_line(&mut line).map_err(io)?;
                let size = line.split(';').next().unwrap_or("").trim();
                let n = usize::from_str_radix(size, 16)
                    .map_err(|_| other(format!("bench client: bad chunk size {line:?}")))?;
                if n == 0 {
                    self.r.read_line(&mut line).map_err(io)?;
                    break;
                }
                // The chunk and its CRLF.
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk).map_err(io)?;
                reply.body.extend_from_slice(&chunk[..n]);
            }
        } else {
            let len = reply
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            reply.body = vec![0; len];
            self.r.read_exact(&mut reply.body).map_err(io)?;
        }
        Ok(reply)
    }
}

pub(super) fn post(envelope: &str) -> Vec<u8> {
    let body = json!({ "envelope": envelope }).to_string();
    format!(
        "POST /api/v1/ops HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Runs `bosun bench api`.
pub(crate) fn api(a: &ApiArgs) -> Result<()> {
    let clients = a.clients.max(1);
    let BenchWs {
        _tmp,
        ctl,
        agents,
        plan,
        t0,
    } = bench_ws(clients, None, a.hosts)?;
    let per = a.ops.div_ceil(clients);
    let total = per * clients;
    if !a.json {
        errln!("signing {total} ops for {clients} clients…");
    }
    let mut signed: Vec<Vec<Vec<u8>>> = (0..clients).map(|_| Vec::with_capacity(per)).collect();
    for s in 1..=per {
        for ((id, k), v) in agents.iter().zip(signed.iter_mut()) {
            let seq = u64::try_from(s).unwrap_or(u64::MAX);
            v.push(post(&ctl.sign_op(k, id, &plan, seq, t0)?.1));
        }
    }
    let (reader_id, reader_key) = agents.first().ok_or_else(|| other("no client key"))?;
    let token = ctl.sign_token(reader_key, reader_id, 3600, bosun_control::now())?;
    let (intake, reads, (mut pages, page_bytes)) =
        serving(&ctl, None, |addr| drive(addr, signed, &token, a.reads))?;
    let (elapsed, mut lat) = intake;
    let mut reads = reads;
    pages.sort();
    lat.sort();
    reads.sort();
    let stored = ctl.ops(None, total + 1)?.len();
    if lat.len() != total || stored != total {
        return Err(other(format!(
            "bench broken: {} answered, {stored} stored of {total}",
            lat.len()
        )));
    }
    let ops_s = total as f64 / elapsed.as_secs_f64();
    let hosts = a.hosts + 3;
    let fig = json!({
        "bench": "api", "ops": total, "clients": clients, "seconds": elapsed.as_secs_f64(), "ops_per_sec": ops_s,
        "intake_latency_us": {"p50": us(pct(&lat, 0.5)), "p90": us(pct(&lat, 0.9)), "p99": us(pct(&lat, 0.99)), "max": us(pct(&lat, 1.0))},
        "overview": {"ops": stored, "hosts": hosts, "reads": reads.len(),
            "round_trip_us": {"p50": us(pct(&reads, 0.5)), "p99": us(pct(&reads, 0.99)), "max": us(pct(&reads, 1.0))}},
        "overview_page": {"bytes": page_bytes, "reads": pages.len(),
            "round_trip_us": {"p50": us(pct(&pages, 0.5)), "p99": us(pct(&pages, 0.99)), "max": us(pct(&pages, 1.0))}},
    });
    if a.json {
        outln!("{fig}");
    } else {
        outln!(
            "api intake: {total} ops from {clients} clients over loopback HTTP in {:.2} s = {ops_s:.0} ops/s",
            elapsed.as_secs_f64()
        );
        outln!(
            "latency (sent → 201, durable): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            us(pct(&lat, 0.5)) / 1000.0,
            us(pct(&lat, 0.9)) / 1000.0,
            us(pct(&lat, 0.99)) / 1000.0,
            us(pct(&lat, 1.0)) / 1000.0
        );
        outln!(
            "GET /api/v1/status with {stored} ops and {hosts} hosts ({} reads, token checked each): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            reads.len(),
            us(pct(&reads, 0.5)) / 1000.0,
            us(pct(&reads, 0.99)) / 1000.0,
            us(pct(&reads, 1.0)) / 1000.0
        );
        outln!(
            "GET / (the dashboard's overview, {page_bytes} bytes of HTML, session checked each): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            us(pct(&pages, 0.5)) / 1000.0,
            us(pct(&pages, 0.99)) / 1000.0,
            us(pct(&pages, 1.0)) / 1000.0
        );
    }
    Ok(())
}

/// Runs the server `bosun serve` runs over `ctl` on loopback TCP (with
/// `keys` as its key directory) on a thread of its own, calls `f` with
/// its address, then stops it.
pub(super) fn serving<T>(
    ctl: &bosun_control::Control,
    keys: Option<bosun_sign::KeyDir>,
    f: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    let opts = bosun_server::Options {
        listen: vec![
            bosun_server::Listen::tcp("127.0.0.1:0", false).map_err(|e| other(e.to_string()))?,
        ],
        keys,
        web: Some(Arc::new(
            bosun_web::Web::new(bosun_web::Commands {
                command: Box::new(crate::next::command),
                token: String::new(),
            })
            .map_err(|e| other(e.to_string()))?,
        )),
        ..bosun_server::Options::default()
    };
    let metrics = Arc::new(bosun_server::metrics::Metrics::default());
    let server = bosun_server::Server::bind(ctl.clone(), &opts, metrics)
        .map_err(|e| other(e.to_string()))?;
    let addr = server
        .urls()
        .first()
        .and_then(|u| u.strip_prefix("http://").map(String::from))
        .ok_or_else(|| other("the server has no TCP listener"))?;
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let srv = s.spawn(|| server.run(stop.clone()));
        let r = f(&addr);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        srv.join()
            .map_err(|_| other("the server thread panicked"))?
            .map_err(|e| other(e.to_string()))?;
        r
    })
}

/// The intake phase (its wall time and each op's latency), then the
/// overview reads (each one's round trip), then the dashboard's overview
/// page (each one's round trip, and the page's size in bytes).
type Driven = (
    (Duration, Vec<Duration>),
    Vec<Duration>,
    (Vec<Duration>, usize),
);

fn drive(addr: &str, signed: Vec<Vec<Vec<u8>>>, token: &str, reads: usize) -> Result<Driven> {
    let (elapsed, lats) = intake_over(addr, signed)?;
    let mut c = Client::connect(addr)?;
    let req = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .into_bytes();
    let mut times = Vec::with_capacity(reads);
    for _ in 0..reads {
        let t = Instant::now();
        let r = c.call(&req)?;
        if r.status != 200 {
            return Err(other(format!(
                "bench broken: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )));
        }
        times.push(t.elapsed());
    }
    let req = format!("GET / HTTP/1.1\r\nHost: bench\r\nCookie: bosun_session={token}\r\n\r\n")
        .into_bytes();
    let mut pages = Vec::with_capacity(reads);
    let mut bytes = 0;
    for _ in 0..reads {
        let t = Instant::now();
        let r = c.call(&req)?;
        if r.status != 200 {
            return Err(other(format!(
                "bench broken: the page answered {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )));
        }
        pages.push(t.elapsed());
        bytes = r.body.len();
    }
    Ok(((elapsed, lats), times, (pages, bytes)))
}

/// Posts each client's signed ops (`signed[i]`, each a whole request) on a
/// keep-alive connection of its own, all clients at once: the wall time
/// and each op's latency (sent → 201, durable).
pub(super) fn intake_over(
    addr: &str,
    signed: Vec<Vec<Vec<u8>>>,
) -> Result<(Duration, Vec<Duration>)> {
    let start = Instant::now();
    let lats = std::thread::scope(|s| {
        let handles: Vec<_> = signed
            .into_iter()
            .map(|reqs| {
                s.spawn(move || -> Result<Vec<Duration>> {
                    let mut c = Client::connect(addr)?;
                    let mut lat = Vec::with_capacity(reqs.len());
                    for req in reqs {
                        let t = Instant::now();
                        let r = c.call(&req)?;
                        if r.status != 201 {
                            return Err(other(format!(
                                "bench broken: {} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            )));
                        }
                        lat.push(t.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().map_err(|_| other("a client panicked"))??);
        }
        Ok::<_, bosun_control::ControlError>(all)
    })?;
    Ok((start.elapsed(), lats))
}
