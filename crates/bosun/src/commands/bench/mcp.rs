//! `bosun bench mcp`: the round trip of the MCP `plan` tool on loopback,
//! over both transports an agent uses: stdio (a `bosun mcp --as` child of
//! this binary, embedded in a throwaway workspace) and the daemon's `/mcp`
//! (a real server, `bosun_server`, on loopback TCP: streamable HTTP in a
//! session, a bearer token checked on every request). The clients are
//! plain synchronous JSON-RPC, one call at a time, so what is timed is
//! bosun's side and the transport.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bosun_control::Result;
use bosun_model::KeyId;
use clap::Args;
use serde_json::{Value, json};

use super::api::{Client, serving};
use super::{BenchWs, bench_ws, other, pct, us};

/// `bosun bench mcp`.
#[derive(Args, Debug)]
pub struct McpArgs {
    /// `plan` calls to time on each transport (after 20 not timed).
    #[arg(long, default_value_t = 1000)]
    pub calls: usize,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

/// The protocol revision the clients speak (the newest with a handshake).
const PROTOCOL: &str = "2025-06-18";
/// Calls made before timing starts.
const WARM: usize = 20;

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "bosun-bench", "version": env!("CARGO_PKG_VERSION")}}})
}

fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A `plan` call: pkg-upgrade of web-1, as the tests plan it.
fn plan(id: usize) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "plan",
        "arguments": {"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": "2.0"}}}})
}

/// Checks that `answer` is the successful result of call `id`.
fn answered(id: usize, answer: &Value) -> Result<()> {
    if answer["id"] == json!(id) && answer["result"]["isError"] == json!(false) {
        Ok(())
    } else {
        Err(other(format!("bench broken: call {id} answered {answer}")))
    }
}

/// Runs `bosun bench mcp`.
pub(crate) fn mcp(a: &McpArgs) -> Result<()> {
    let calls = a.calls.max(1);
    let BenchWs {
        _tmp, ctl, agents, ..
    } = bench_ws(1, None, 0)?;
    let (id, key) = agents.first().ok_or_else(|| other("no agent key"))?;
    let keys = _tmp.path().join("keys");
    bosun_sign::write_private_key(&keys, id.as_str(), key)?;
    if !a.json {
        errln!("timing {calls} `plan` calls over stdio, then over /mcp…");
    }
    let mut stdio = over_stdio(&ctl.ws.root, &keys, id, calls)?;
    let token = ctl.sign_token(key, id, 3600, bosun_control::now())?;
    let held = Some(bosun_sign::KeyDir::new(&keys));
    let mut http = serving(&ctl, held, |addr| over_http(addr, &token, calls))?;
    stdio.sort();
    http.sort();
    let fig = |t: &[Duration]| json!({"p50": us(pct(t, 0.5)), "p99": us(pct(t, 0.99)), "max": us(pct(t, 1.0))});
    if a.json {
        outln!(
            "{}",
            json!({"bench": "mcp", "tool": "plan", "calls": calls,
                "stdio_round_trip_us": fig(&stdio), "http_round_trip_us": fig(&http)})
        );
    } else {
        for (how, t) in [
            ("stdio (bosun mcp)", &stdio),
            ("/mcp (loopback TCP)", &http),
        ] {
            outln!(
                "MCP plan round trip over {how}, {calls} calls: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                us(pct(t, 0.5)) / 1000.0,
                us(pct(t, 0.99)) / 1000.0,
                us(pct(t, 1.0)) / 1000.0
            );
        }
    }
    Ok(())
}

/// `bosun mcp --as id` as a child: the handshake, then `calls` timed
/// `plan` calls, one line each way.
fn over_stdio(
    root: &std::path::Path,
    keys: &std::path::Path,
    id: &KeyId,
    calls: usize,
) -> Result<Vec<Duration>> {
    let exe = std::env::current_exe().map_err(|e| other(format!("this binary: {e}")))?;
    let mut child = Command::new(exe)
        .args(["mcp", "--as", id.as_str()])
        .env("BOSUN_WORKSPACE", root)
        .env("BOSUN_KEY_DIR", keys)
        .env_remove("BOSUN_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| other(format!("bosun mcp: {e}")))?;
    let (Some(mut w), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(other("bosun mcp: no pipes"));
    };
    let mut r = BufReader::new(out);
    let io = |e: std::io::Error| other(format!("bosun mcp: {e}"));
    let mut line = String::new();
    let mut call = |msg: &Value, answer: bool| -> Result<Value> {
        writeln!(w, "{msg}").map_err(io)?;
        w.flush().map_err(io)?;
        if !answer {
            return Ok(Value::Null);
        }
        line.clear();
        r.read_line(&mut line).map_err(io)?;
        serde_json::from_str(&line).map_err(|e| other(format!("bosun mcp answered {line:?}: {e}")))
    };
    call(&initialize(), true)?;
    call(&initialized(), false)?;
    let mut times = Vec::with_capacity(calls);
    for i in 1..=WARM + calls {
        let t = Instant::now();
        let v = call(&plan(i), true)?;
        let took = t.elapsed();
        answered(i, &v)?;
        if i > WARM {
            times.push(took);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(times)
}

/// A POST to `/mcp` with `token`, in `session` when given.
fn post(msg: &Value, token: &str, session: Option<&str>) -> Vec<u8> {
    let body = msg.to_string();
    let session = session
        .map(|s| format!("Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: {PROTOCOL}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{session}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON-RPC message of an event-stream body (its last `data:` line
/// that holds one).
fn event(body: &[u8]) -> Result<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data:"))
        .find_map(|d| serde_json::from_str(d.trim()).ok())
        .ok_or_else(|| {
            other(format!(
                "bench broken: no message in {}",
                String::from_utf8_lossy(body)
            ))
        })
}

/// One keep-alive client of the daemon's `/mcp` at `addr`: the
/// handshake, then `calls` timed `plan` calls.
fn over_http(addr: &str, token: &str, calls: usize) -> Result<Vec<Duration>> {
    let mut c = Client::connect(addr)?;
    let init = c.call(&post(&initialize(), token, None))?;
    let session = (init.header("mcp-session-id").map(String::from)).ok_or_else(|| {
        other(format!(
            "bench broken: no session: {} {}",
            init.status,
            String::from_utf8_lossy(&init.body)
        ))
    })?;
    let done = c.call(&post(&initialized(), token, Some(&session)))?;
    if done.status != 202 {
        return Err(other(format!(
            "bench broken: initialized answered {}",
            done.status
        )));
    }
    let mut times = Vec::with_capacity(calls);
    for i in 1..=WARM + calls {
        let req = post(&plan(i), token, Some(&session));
        let t = Instant::now();
        let r = c.call(&req)?;
        let took = t.elapsed();
        answered(i, &event(&r.body)?)?;
        if i > WARM {
            times.push(took);
        }
    }
    Ok(times)
}
