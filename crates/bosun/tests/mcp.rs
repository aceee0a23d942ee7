//! `bosun mcp` through a real MCP client (rmcp's, over the child's
//! stdio): an agent takes an op from plan to finished while a human
//! approves through the CLI; hostile arguments change nothing a human
//! decides; no tool that approves, denies, adopts, resolves or resumes
//! ever appears; an operator's key is refused at start.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Lab;
use common::mcp::{Approved, Mcp, assert_finished, submit_until_approved};
use rmcp::model::CallToolRequestParams;
use rmcp::service::ServiceError;
use serde_json::{Value, json};

/// The `plan` tool's answer for pkg-upgrade 2.0 on web-1, and the CLI's
/// `plan --json` of the same: the same plan digest.
fn plans_of_the_upgrade(lab: &Lab, mcp: &Mcp) -> (Value, Value) {
    let plan = mcp.ok("plan", upgrade("2.0"));
    let cli_plan = lab.json(&[
        "plan",
        "pkg-upgrade",
        "-t",
        "web-1",
        "-p",
        "version=2.0",
        "--json",
    ]);
    assert_eq!(plan["result"]["plan_digest"], cli_plan["digest"], "{plan}");
    (plan, cli_plan)
}

fn upgrade(version: &str) -> Value {
    json!({"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": version}})
}

/// The names of tools that would let an agent do an operator's part.
const FORBIDDEN: &[&str] = &["approve", "deny", "adopt", "resolve", "resume"];

#[test]
fn an_agent_takes_an_op_from_plan_to_finished_while_a_human_approves_through_the_cli() {
    let lab = Lab::new();
    let mcp = Mcp::stdio(&lab, "claude");

    let tools = mcp.tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "hosts_list",
        "runbooks_list",
        "runbook_show",
        "plan",
        "submit",
        "op_status",
        "ops_list",
        "step_report",
        "blockers_list",
        "rollout_status",
        "ledger_prove",
        "halt",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for t in &tools {
        let a = t.annotations.clone().unwrap();
        let hints = (
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint,
        );
        let want = match t.name.as_ref() {
            "submit" => (Some(false), Some(true), Some(false), Some(true)),
            "halt" => (Some(false), Some(true), Some(true), Some(false)),
            "step_report" => (Some(false), Some(false), Some(false), Some(false)),
            // It writes the patch tree (all or nothing; the same files
            // again change nothing), and runs nothing.
            "patches_import" => (Some(false), Some(false), Some(true), Some(false)),
            _ => (Some(true), Some(false), Some(true), Some(false)),
        };
        assert_eq!(hints, want, "{}", t.name);
        assert!(t.description.as_deref().is_some_and(|d| !d.is_empty()));
    }
    let submit = tools.iter().find(|t| t.name == "submit").unwrap();
    let words = submit
        .description
        .as_deref()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(words.contains("A human may have to approve"), "{words}");

    // Reads answer what the CLI's --json prints.
    let hosts = mcp.ok("hosts_list", json!({}));
    assert_eq!(hosts["result"], lab.json(&["hosts", "status", "--json"]));
    let rbs = mcp.ok("runbooks_list", json!({}));
    assert_eq!(rbs["result"], lab.json(&["runbook", "list", "--json"]));
    let rb = mcp.ok("runbook_show", json!({"id": "pkg-upgrade"}));
    assert_eq!(
        rb["result"],
        lab.json(&["runbook", "show", "pkg-upgrade", "--json"])
    );

    let (plan, _) = plans_of_the_upgrade(&lab, &mcp);
    assert_eq!(plan["result"]["runbook"], "pkg-upgrade");

    // Submitted: it waits for a human, and says so; the agent waits (with
    // progress) while a human approves through the CLI.
    let Approved { jti, status } = submit_until_approved(&lab, &mcp, upgrade("2.0"), "claude");
    assert_eq!(status["result"]["state"], "approved", "{status}");

    // The controller runs it; op_status shows how it went, as the CLI does.
    lab.work();
    let done = mcp.ok("op_status", json!({"op": jti}));
    assert_finished(&lab, &jti, &done);
    let listed = mcp.ok("ops_list", json!({"limit": 5}));
    assert_eq!(listed["result"][0]["jti"], jti.as_str());
    mcp.stop();
}

/// The deploy story of docs/deploy.md in one process tree: the daemon
/// owns the workspace; the agent's MCP server is a client of it (over
/// loopback TCP, signing its own tokens and envelopes), started where no
/// workspace is; the operator approves with the remote CLI over the
/// daemon's socket; the daemon's controller runs the op.
#[test]
fn over_the_daemon_an_agent_takes_an_op_to_finished_while_the_operator_approves_remotely() {
    let lab = Lab::new();
    let d = common::api::daemon(&lab);
    let (common::http::Target::Tcp(tcp), common::http::Target::Unix(sock)) = (&d.tcp, &d.unix)
    else {
        unreachable!()
    };
    let tcp = format!("http://{tcp}");
    let sock = format!("unix://{}", sock.display());
    let nowhere = lab.tmp.path().join("no-workspace-here");
    let nowhere = nowhere.to_str().unwrap();
    let remote = [("BOSUN_URL", tcp.as_str()), ("BOSUN_WORKSPACE", nowhere)];

    // An operator's key does not start it, remotely either.
    let o = lab
        .cmd(&["mcp", "--as", "alice"])
        .envs(remote)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("`alice` is an operator"),
        "{o:?}"
    );

    let mcp = Mcp::stdio_with(&lab, "claude", &remote);
    let hosts = mcp.ok("hosts_list", json!({}));
    assert_eq!(hosts["result"], lab.json(&["hosts", "status", "--json"]));
    let rbs = mcp.ok("runbooks_list", json!({}));
    assert_eq!(rbs["result"], lab.json(&["runbook", "list", "--json"]));
    let rb = mcp.ok("runbook_show", json!({"id": "pkg-upgrade"}));
    assert_eq!(
        rb["result"],
        lab.json(&["runbook", "show", "pkg-upgrade", "--json"])
    );
    let unknown = mcp.refused("runbook_show", json!({"id": "no-such-runbook"}));
    assert!(unknown.to_string().contains("no-such-runbook"), "{unknown}");
    let (_, cli_plan) = plans_of_the_upgrade(&lab, &mcp);

    let s = mcp.ok("submit", upgrade("2.0"));
    let jti = s["result"]["jti"].as_str().unwrap().to_string();
    assert_eq!(s["result"]["state"], "pending_approval", "{s}");
    assert!(
        s["waiting"]
            .as_str()
            .unwrap()
            .starts_with("waiting for 1 operator approval"),
        "{s}"
    );
    assert_eq!(lab.json(&["ops", "show", &jti, "--json"])["iss"], "claude");

    // The operator reads the op from the daemon and approves, signing here.
    let status = std::thread::scope(|sc| {
        let approved = sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            let o = lab
                .cmd(&["approve", &jti[..10], "--as", "alice", "--yes", "--json"])
                .env("BOSUN_URL", &sock)
                .env("BOSUN_WORKSPACE", nowhere)
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
            let shown = String::from_utf8_lossy(&o.stderr).to_string();
            assert!(
                shown.contains(&cli_plan["digest"].as_str().unwrap().to_string()),
                "{shown}"
            );
            serde_json::from_slice::<Value>(&o.stdout).unwrap()
        });
        let st = mcp.ok("op_status", json!({"op": jti, "wait_seconds": 60}));
        let out = approved.join().unwrap();
        assert_eq!(out["jti"], jti.as_str(), "{out}");
        assert_eq!(out["approvals"], 1, "{out}");
        st
    });
    assert_ne!(status["result"]["state"], "pending_approval", "{status}");

    // The daemon's controller runs it.
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let v = mcp.ok("op_status", json!({"op": jti}));
        if v["result"]["state"] == "succeeded" {
            break v;
        }
        assert!(std::time::Instant::now() < end, "not finished: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(done["waiting"].is_null(), "{done}");
    let proof = mcp.ok("ledger_prove", json!({"op": jti}));
    assert!(!proof["result"].is_null(), "{proof}");
    mcp.stop();
}

#[test]
fn no_tool_can_approve_deny_adopt_resolve_or_resume() {
    let lab = Lab::new();
    let mcp = Mcp::stdio(&lab, "claude");
    for t in mcp.tools() {
        let name = t.name.to_lowercase();
        for f in FORBIDDEN {
            assert!(!name.contains(f), "tool `{name}` looks like `{f}`");
        }
    }
    mcp.stop();
}

#[test]
fn only_an_agents_key_starts_the_server() {
    let lab = Lab::new();
    let o = lab.run(&["mcp", "--as", "alice"]);
    assert_eq!(o.status.code(), Some(3), "an operator's key is refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`alice` is an operator"), "{err}");
    assert!(o.stdout.is_empty(), "nothing on the protocol channel");
    let o = lab.run(&["mcp", "--as", "nobody"]);
    assert_eq!(o.status.code(), Some(1), "a key that does not exist");
    let o = lab.run(&["mcp", "--as", "../../keys/alice"]);
    assert_eq!(o.status.code(), Some(1), "a path is not a key name");
    // The agent's server ends when its client closes stdin, writing nothing.
    let mut child = lab
        .cmd(&["mcp", "--as", "claude"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(std::time::Instant::now() < end, "mcp outlived its client");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.is_empty(), "{out}");
    // A key registered as an agent but whose private half is gone.
    let jwk = lab.keys.join("claude.jwk");
    let aside = lab.tmp.path().join("claude.jwk.aside");
    std::fs::rename(&jwk, &aside).unwrap();
    let o = lab.run(&["mcp", "--as", "claude"]);
    assert_eq!(o.status.code(), Some(1));
    std::fs::rename(&aside, &jwk).unwrap();
}

/// A runbook `id` whose second step, `step`, has no command and waits
/// for a report from `actor` (`human` or `both`).
fn waiting_runbook(id: &str, step: &str, actor: &str) -> String {
    format!(
        "id = \"{id}\"\n[[steps]]\nid = \"prep\"\ncmd = \"echo prepared\"\n\
         [[steps]]\nid = \"{step}\"\nactor = \"{actor}\"\nnote = \"look at it\"\n\
         depends_on = [{{ step = \"prep\" }}]\n"
    )
}

/// Every ledger entry that records a human's decision or lets work go
/// on: approvals, denials, adoption, resolved blockers, resumes.
fn human_decisions(lab: &Lab) -> Vec<(String, Option<String>)> {
    let c = rusqlite::Connection::open_with_flags(
        lab.path(".bosun/bosun.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = c
        .prepare(
            "SELECT kind, jti FROM ledger WHERE kind IN ('op.approval', 'op.approved', 'op.denial', \
             'adoption.proposed', 'adoption.approval', 'adoption.adopted', 'blocker.resolved', \
             'fleet.resumed', 'op.resumed') ORDER BY idx",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// How a hostile call ended: refused by a check (its name), refused as
/// malformed arguments by the protocol, or answered.
fn outcome(mcp: &Mcp, tool: &str, args: Value) -> String {
    match mcp.try_call(tool, args.clone()) {
        Ok(r) if r.is_error == Some(true) => {
            let v = r
                .structured_content
                .clone()
                .unwrap_or_else(|| panic!("{tool} {args}: {r:?}"));
            assert!(v["message"].is_string(), "{tool} {args}: {v}");
            format!("refused:{}", v["check"].as_str().unwrap_or("-"))
        }
        Ok(_) => "answered".into(),
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code.0, -32602, "{tool} {args}: {e:?}");
            "invalid_params".into()
        }
        Err(e) => panic!("{tool} {args}: the server failed: {e:?}"),
    }
}

#[test]
fn hostile_arguments_are_refused_or_harmless_and_decide_nothing_a_human_decides() {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/with-human.toml",
            &waiting_runbook("with-human", "confirm", "human"),
        );
    });
    // An op of the agent waiting for approval, and a run parked at a human step.
    let victim = common::jti(&common::submit(
        &lab,
        "claude",
        "pkg-upgrade",
        "web-1",
        &["version=2.0"],
    ));
    let parked = common::jti(&common::submit(&lab, "claude", "with-human", "web-2", &[]));
    lab.ok(&["approve", "--yes", &parked, "--as", "alice"]);
    lab.work();
    assert_eq!(lab.state(&parked), "running");
    let decisions = human_decisions(&lab);
    let victim_before = common::show(&lab, &victim);
    let parked_before = common::show(&lab, &parked);
    let pwned = lab.tmp.path().join("pwned");
    let p = pwned.display();

    let mcp = Mcp::stdio(&lab, "claude");
    let huge = "a".repeat(200_000);
    let names = [
        "approve".to_string(),
        "../../keys".to_string(),
        format!("$(touch {p})"),
        format!("web-1; touch {p}"),
        format!("`touch {p}`"),
        huge.clone(),
        String::new(),
    ];
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut note = |o: String| *seen.entry(o).or_default() += 1;
    let started = std::time::Instant::now();
    for t in mcp.tools() {
        let tool = t.name.to_string();
        let fields: Vec<String> = (t.input_schema.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        // Every field of the tool's own schema hostile at once, for each
        // hostile string; then the ops of others; then the wrong shapes.
        let mut calls = Vec::new();
        for n in &names {
            let mut a = serde_json::Map::new();
            for f in &fields {
                let v = match f.as_str() {
                    "targets" => json!([n]),
                    "params" => json!({"version": n, "package": n}),
                    "status" => json!("pass"),
                    "wait_seconds" => json!(1),
                    "limit" => json!(3),
                    "all" => json!(true),
                    "state" => json!("pending_approval"),
                    "runbook" if n.is_empty() => json!("pkg-upgrade"),
                    _ => json!(n),
                };
                a.insert(f.clone(), v);
            }
            calls.push(Value::Object(a));
        }
        for op in [&victim, &parked] {
            calls.push(json!({"op": op}));
            calls.push(json!({"op": op, "step": "install", "status": "pass"}));
            calls.push(json!({"op": op, "step": "confirm", "status": "pass", "host": "web-2"}));
        }
        calls.extend([
            json!({}),
            json!({"as": "alice"}),
            json!({"issuer": "alice", "why": "x"}),
            json!({"key": "alice", "op": victim}),
            json!({"op": 12, "why": ["x"], "targets": "web-1", "limit": "all", "wait_seconds": -1}),
            json!({"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": {"$(id)": 1}}}),
            json!({"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"../../keys": "1"}}),
            json!({"runbook": "pkg-upgrade", "targets": vec!["web-1"; 300]}),
            json!({"limit": u64::MAX, "state": "approve"}),
            json!({"rollout": "pkg-upgrade"}),
        ]);
        for args in calls {
            note(format!("{tool} {}", outcome(&mcp, &tool, args)));
        }
    }

    let took = started.elapsed();
    // The checks that matter, named.
    let r = mcp.refused(
        "step_report",
        json!({"op": parked, "step": "confirm", "status": "pass"}),
    );
    assert_eq!(
        r["check"], "reporter_role",
        "agents never report human steps: {r}"
    );
    let r = mcp.refused(
        "step_report",
        json!({"op": victim, "step": "install", "status": "pass"}),
    );
    assert_eq!(r["check"], "state", "{r}");
    let r = mcp.refused("runbook_show", json!({"id": "../../keys"}));
    assert_eq!(r["check"], "format", "{r}");
    let r = mcp.refused("op_status", json!({"op": "approve"}));
    assert_eq!(r["check"], "op", "{r}");
    let r = mcp.refused("halt", json!({"why": huge}));
    assert_eq!(r["check"], "size", "{r}");
    assert_eq!(
        outcome(&mcp, "halt", json!({"why": "x", "as": "alice"})),
        "refused:format",
        "an issuer of the caller's choosing is refused, not ignored"
    );
    // Stopping is always allowed, and signed as the agent.
    let h = mcp.ok("halt", json!({"why": "hostile test"}));
    assert_eq!(h["result"]["by"], "claude", "{h}");
    assert!(
        h["next"]
            .as_array()
            .unwrap()
            .contains(&json!({"action": "resume", "by": "human"})),
        "{h}"
    );
    // Still serving: nothing above took the server down.
    mcp.ok("hosts_list", json!({}));
    mcp.stop();

    assert_eq!(
        human_decisions(&lab),
        decisions,
        "no approval, denial, adoption, resolution or resume appeared"
    );
    let victim_after = common::show(&lab, &victim);
    assert_eq!(victim_after["state"], "pending_approval");
    assert_eq!(victim_after["approvals"], victim_before["approvals"]);
    let parked_after = common::show(&lab, &parked);
    assert_eq!(parked_after["steps"], parked_before["steps"]);
    assert_eq!(parked_after["state"], "running");
    assert!(!pwned.exists(), "no shell ran an argument");
    let log = std::fs::read_to_string(lab.tmp.path().join("mcp.stderr")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    for (k, n) in &seen {
        eprintln!("{n:>3}  {k}");
    }
    let calls: usize = seen.values().sum();
    eprintln!(
        "{calls} hostile calls in {} ms ({} µs each on average)",
        took.as_millis(),
        took.as_micros() / u128::try_from(calls).unwrap()
    );
}

#[test]
fn an_agent_reports_a_step_that_is_its_to_report_and_the_run_goes_on() {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/with-look.toml",
            &waiting_runbook("with-look", "look", "both"),
        );
    });
    let mcp = Mcp::stdio(&lab, "claude");
    let s = mcp.ok(
        "submit",
        json!({"runbook": "with-look", "targets": ["web-1"]}),
    );
    let jti = s["result"]["jti"].as_str().unwrap().to_string();
    lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    lab.work();
    let st = mcp.ok("op_status", json!({"op": jti, "wait_seconds": 5}));
    assert_eq!(st["result"]["state"], "running", "{st}");
    assert!(
        st["next"].as_array().unwrap().contains(
            &json!({"action": "report_step", "op": jti, "step": "look", "host": "web-1", "by": "you"})
        ),
        "{st}"
    );
    assert!(
        st["waiting"].as_str().unwrap().contains("look on web-1"),
        "{st}"
    );
    let r = mcp.ok(
        "step_report",
        json!({"op": jti, "step": "look", "status": "pass", "note": "graphs flat"}),
    );
    assert_eq!(r["result"]["hosts"], json!(["web-1"]), "{r}");
    lab.work();
    let done = mcp.ok("op_status", json!({"op": jti}));
    assert_eq!(done["result"]["state"], "succeeded", "{done}");
    let look = (done["result"]["steps"].as_array().unwrap().iter())
        .find(|s| s["step"] == "look")
        .unwrap();
    assert!(
        look["output"].as_str().unwrap().contains("by claude"),
        "{look}"
    );
    mcp.stop();
}

#[test]
fn concurrent_submissions_each_become_one_op_signed_in_order() {
    let lab = Lab::new();
    let mcp = Mcp::stdio(&lab, "claude");
    let n = 12;
    let started = std::time::Instant::now();
    let answers = mcp.rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let peer = mcp.client.peer().clone();
            let Value::Object(args) = upgrade(&format!("3.{i}")) else {
                unreachable!()
            };
            set.spawn(async move {
                peer.call_tool(CallToolRequestParams::new("submit").with_arguments(args))
                    .await
            });
        }
        set.join_all().await
    });
    let took = started.elapsed();
    let mut jtis: Vec<String> = answers
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            let v = r.structured_content.unwrap();
            assert_eq!(r.is_error, Some(false), "{v}");
            assert_eq!(v["result"]["state"], "pending_approval", "{v}");
            v["result"]["jti"].as_str().unwrap().to_string()
        })
        .collect();
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), n, "one op per call");
    let pending = lab.json(&["ops", "list", "--state", "pending_approval", "--json"]);
    assert_eq!(pending.as_array().unwrap().len(), n, "{pending}");
    let seqs: std::collections::BTreeSet<u64> = jtis
        .iter()
        .map(|j| common::show(&lab, j)["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), n, "each signed with its own sequence number");
    eprintln!(
        "{n} concurrent submits through MCP in {} ms",
        took.as_millis()
    );
    mcp.stop();
}
