//! The daemon's `/mcp` through a real MCP client (rmcp's streamable HTTP
//! client), over the Unix socket and over loopback TCP: an agent whose key
//! the daemon holds takes an op from plan to finished while an operator
//! approves with the CLI. Without a token, with a refused one,
//! with an operator's, or as an agent whose key the daemon does not hold,
//! no session opens; one agent's session is unknown to another agent's
//! token; sessions per agent are bounded.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Lab;
use common::api::{Daemon, daemon, token};
use common::http::{Answer, Target, request};
use common::mcp::{Mcp, assert_finished, submit_until_approved};
use serde_json::{Value, json};

/// An agent registered and adopted like any other, whose key is not in
/// the daemon's key directory.
const OUTSIDER: &str = "outsider";

/// The names of tools that would let an agent do an operator's part.
const FORBIDDEN: &[&str] = &["approve", "deny", "adopt", "resolve", "resume"];

fn elsewhere(lab: &Lab) -> PathBuf {
    lab.tmp.path().join("elsewhere")
}

/// [`Lab::new`] with two more agents: `codex` (its key beside the
/// others, so the daemon holds it) and [`OUTSIDER`] (its key elsewhere).
fn lab() -> Lab {
    Lab::new_with(|lab| {
        lab.ok(&["key", "new", "codex", "--role", "agent"]);
        let o = lab
            .cmd(&["key", "new", OUTSIDER, "--role", "agent"])
            .env("BOSUN_KEY_DIR", elsewhere(lab))
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    })
}

fn socket(d: &Daemon) -> &Path {
    match &d.unix {
        Target::Unix(p) => p,
        Target::Tcp(_) => unreachable!(),
    }
}

fn tcp(d: &Daemon) -> &str {
    match &d.tcp {
        Target::Tcp(a) => a,
        Target::Unix(_) => unreachable!(),
    }
}

/// The tools are there, and none of them does an operator's part.
fn check_tools(mcp: &Mcp) {
    let names: Vec<String> = mcp.tools().iter().map(|t| t.name.to_string()).collect();
    for want in [
        "plan",
        "submit",
        "op_status",
        "ops_list",
        "step_report",
        "halt",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for n in &names {
        for f in FORBIDDEN {
            assert!(!n.contains(f), "tool `{n}` looks like `{f}`");
        }
    }
}

/// `agent` plans, submits (the op waits for approval), waits while an
/// operator approves with the CLI, and watches the daemon's controller
/// finish it.
fn plan_to_finished(lab: &Lab, mcp: &Mcp, agent: &str, version: &str) {
    let args =
        json!({"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": version}});
    let plan = mcp.ok("plan", args.clone());
    let p = format!("version={version}");
    let cli = lab.json(&["plan", "pkg-upgrade", "-t", "web-1", "-p", &p, "--json"]);
    assert_eq!(plan["result"]["plan_digest"], cli["digest"], "{plan}");

    let jti = submit_until_approved(lab, mcp, args, agent).jti;

    // The daemon's controller runs it; op_status shows it finished.
    let end = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let v = mcp.ok("op_status", json!({"op": jti, "wait_seconds": 5}));
        if v["result"]["state"] == "succeeded" {
            break v;
        }
        assert!(Instant::now() < end, "the op never finished: {v}");
    };
    assert_finished(lab, &jti, &done);
}

#[test]
fn an_agent_takes_an_op_from_plan_to_finished_over_the_daemons_mcp_while_an_operator_approves() {
    let lab = lab();
    let d = daemon(&lab);
    let claude = token(&lab, "claude", "1h");

    let unix = Mcp::http(socket(&d), "http://localhost/mcp", &claude, None);
    check_tools(&unix);
    plan_to_finished(&lab, &unix, "claude", "2.0");
    unix.stop();

    let uri = format!("http://{}/mcp", tcp(&d));
    let over_tcp = Mcp::http(socket(&d), &uri, &claude, Some((tcp(&d), lab.tmp.path())));
    check_tools(&over_tcp);
    plan_to_finished(&lab, &over_tcp, "claude", "2.1");
    let listed = over_tcp.ok("ops_list", json!({"limit": 5}));
    assert_eq!(listed["result"].as_array().unwrap().len(), 2, "{listed}");
    over_tcp.stop();
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

/// A POST of `body` to `/mcp` with `auth` as the Authorization header,
/// in session `session`.
fn mcp_post(t: &Target, auth: Option<&str>, session: Option<&str>, body: &str) -> Answer {
    let mut headers = vec![("Accept", "application/json, text/event-stream")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    request(t, "POST", "/mcp", &headers, Some(body))
}

fn session_of(a: &Answer) -> Option<String> {
    (a.headers.iter())
        .find(|(k, _)| k == "mcp-session-id")
        .map(|(_, v)| v.clone())
}

/// A refusal: `status`, in the API's error shape, naming `check`, with
/// `words` in its message, and no session.
fn refused(a: &Answer, status: u16, check: Value, words: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.check(), check, "{a:?}");
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains(words), "{message}");
    assert_eq!(session_of(a), None, "no session: {a:?}");
}

#[test]
fn only_an_agents_token_whose_key_the_daemon_holds_opens_a_session() {
    let lab = lab();
    let d = daemon(&lab);
    let bearer = |who: &str| format!("Bearer {}", token(&lab, who, "1h"));
    let outsider = {
        let o = (lab.cmd(&["key", "token", OUTSIDER, "--ttl", "1h"]))
            .env("BOSUN_KEY_DIR", elsewhere(&lab))
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        format!("Bearer {}", String::from_utf8_lossy(&o.stdout).trim())
    };

    for t in [&d.unix, &d.tcp] {
        // No token, on the Unix socket too: who would the tools sign as?
        let a = mcp_post(t, None, None, INITIALIZE);
        refused(
            &a,
            401,
            json!("token"),
            "`/mcp` needs `Authorization: Bearer <token>`",
        );
        let a = mcp_post(t, Some("Bearer not.a.token"), None, INITIALIZE);
        refused(&a, 401, json!("format"), "the bearer token was refused");
        // An operator's token: never a session, whatever it asks.
        let a = mcp_post(t, Some(&bearer("alice")), None, INITIALIZE);
        refused(&a, 403, json!("role"), "`alice` is an operator");
        // An agent whose key the daemon does not hold.
        let a = mcp_post(t, Some(&outsider), None, INITIALIZE);
        refused(
            &a,
            403,
            Value::Null,
            "the daemon holds no key for `outsider`",
        );
    }

    // codex's session is codex's: claude's token does not reach it.
    let codex = bearer("codex");
    let a = mcp_post(&d.tcp, Some(&codex), None, INITIALIZE);
    assert_eq!(a.status, 200, "{a:?}");
    let s = session_of(&a).expect("a session for codex");
    let a = mcp_post(&d.tcp, Some(&bearer("claude")), Some(&s), TOOLS_LIST);
    assert_eq!(a.status, 404, "another agent's session is unknown: {a:?}");
    let a = mcp_post(&d.tcp, Some(&codex), Some(&s), TOOLS_LIST);
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body.contains("\"submit\""), "{}", a.body);

    // At most 16 sessions per agent; codex has one open.
    for _ in 1..16 {
        let a = mcp_post(&d.unix, Some(&codex), None, INITIALIZE);
        assert_eq!(a.status, 200, "{a:?}");
    }
    let a = mcp_post(&d.unix, Some(&codex), None, INITIALIZE);
    refused(&a, 503, Value::Null, "16 MCP sessions open");
    // Another agent is not held up by it.
    let a = mcp_post(&d.unix, Some(&bearer("claude")), None, INITIALIZE);
    assert_eq!(a.status, 200, "{a:?}");
}
