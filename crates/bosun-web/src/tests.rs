//! The pages render the views, and nothing anyone wrote reaches them
//! unescaped.

use bosun_api::views::{ConsentView, StatusView};
use proptest::prelude::*;
use serde_json::json;

use crate::{Commands, Web};

fn web() -> Web {
    Web::new(Commands {
        command: Box::new(|n| format!("run {n:?}")),
        token: "make a token".into(),
    })
    .unwrap()
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_796_600_000).unwrap()
}

fn brief(jti: &str, runbook: &str, iss: &str) -> serde_json::Value {
    json!({"jti": jti, "iss": iss, "runbook": runbook, "targets": 2, "state": "pending_approval",
           "decision": "approvals", "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z"})
}

fn status(text: &str) -> StatusView {
    serde_json::from_value(json!({
        "workspace": text,
        "halt": {"why": text, "by": "alice", "since": "2026-12-07T10:00:00Z"},
        "controller": {"holder": text, "token": 3, "expires_at": "2026-12-07T10:00:00Z"},
        "queue_depth": 1,
        "pending_approval": [brief("01a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6", text, text)],
        "needs_attention": [],
        "open_proposals": [{"id": text, "proposer": text, "items": 1}],
        "active_blockers": [{"id": 1, "kind": text, "subject": text}],
        "active_rollouts": [{"id": text, "summary": text, "next": []}],
        "adopted": [],
        "drift": [text],
        "next": [],
    }))
    .unwrap()
}

fn consent(text: &str) -> ConsentView {
    let mut op = brief("01a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6", text, text);
    let o = op.as_object_mut().unwrap();
    o.insert("role".into(), json!("agent"));
    o.insert("seq".into(), json!(4));
    o.insert("plan_digest".into(), json!("sha256:00"));
    o.insert("policy_decision".into(), json!({"outcome": "approvals", "approvals_needed": 1,
        "approver_roles": ["operator"], "rules": [text], "reasons": [text], "policy_digest": "sha256:00"}));
    o.insert(
        "approvals".into(),
        json!([{"jti": "x", "by": text, "role": "operator", "verdict": "deny",
        "reason": text, "plan_digest": "sha256:00", "at": "2026-12-07T10:00:00Z"}]),
    );
    o.insert(
        "plan".into(),
        json!({"runbook": text, "runbook_digest": "sha256:11", "digest": "sha256:00",
        "kind": "change", "targets": [text], "params": {text: text},
        "hosts": [{"host": text, "steps": [{"step": text, "command": text, "idempotent": true,
            "actor": "agent", "depends_on": [], "controller": false}]}]}),
    );
    o.insert("steps".into(), json!([{"idx": 0, "step": text, "host": text, "status": "failed",
        "exit_code": 1, "duration_ms": 1500, "output": text, "started_at": null, "finished_at": null}]));
    o.insert("detail".into(), json!(text));
    o.insert("next".into(), json!([]));
    serde_json::from_value(json!({
        "op": op, "runbook_standing": "adopted", "approvals_valid": [text],
        "approvals_void": [{"by": text, "why": text}], "holds": [text], "budgets": [],
    }))
    .unwrap()
}

const HOSTILE: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;

#[test]
fn the_overview_shows_what_waits_first() {
    let page = web().overview(&status("lab"), now()).unwrap();
    let pending = page.find("Waiting for approval").unwrap();
    assert!(pending < page.find("Rollouts").unwrap());
    assert!(
        page.contains("/ops/01a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6"),
        "{page}"
    );
    assert!(
        page.contains("run Approve"),
        "the command the CLI spells: {page}"
    );
    assert!(page.contains("HALTED by alice"), "{page}");
}

#[test]
fn the_run_is_a_graph_of_each_hosts_steps_by_depth() {
    let mut c = consent("x");
    let steps = json!([
        {"step": "fetch", "command": "a", "idempotent": true, "actor": "agent", "depends_on": [], "controller": false},
        {"step": "build", "command": "b", "idempotent": true, "actor": "agent", "depends_on": ["fetch"], "controller": false},
        {"step": "lint", "command": "c", "idempotent": true, "actor": "agent", "depends_on": ["fetch"], "controller": false},
        {"step": "ship", "command": "d", "idempotent": true, "actor": "agent", "depends_on": ["build", "lint"], "controller": false},
    ]);
    c.op.plan.hosts[0].steps = serde_json::from_value(steps).unwrap();
    c.op.plan.hosts[0].host = "web-1".into();
    c.op.steps[0].step = "fetch".into();
    c.op.steps[0].host = "web-1".into();
    c.op.steps[0].status = "succeeded".into();
    let page = web().op("lab", &c, now()).unwrap();
    let dag = &page[page.find("id=\"dag\"").unwrap()..page.find("The run (").unwrap()];
    // Three columns: fetch; build and lint; ship.
    assert_eq!(dag.matches("class=\"col\"").count(), 3, "{dag}");
    let (f, b, l, s) = (
        dag.find(">fetch<").unwrap(),
        dag.find(">build<").unwrap(),
        dag.find(">lint<").unwrap(),
        dag.find(">ship<").unwrap(),
    );
    assert!(f < b && b < l && l < s, "{dag}");
    assert!(dag.contains("after build, lint"), "{dag}");
    assert!(
        dag.contains("s-succeeded") && dag.contains("not started"),
        "{dag}"
    );
}

#[test]
fn the_op_page_shows_the_plan_and_the_run() {
    let page = web().op("lab", &consent("echo hi"), now()).unwrap();
    for want in [
        "needs 1 approval(s) from: operator",
        "1 of 1 so far",
        "1.5s",
        "held by",
        "To approve this exact plan",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
}

#[test]
fn nothing_written_by_anyone_reaches_a_page_unescaped() {
    let w = web();
    for page in [
        w.overview(&status(HOSTILE), now()).unwrap(),
        w.op(HOSTILE, &consent(HOSTILE), now()).unwrap(),
        w.login(HOSTILE, Some(HOSTILE)).unwrap(),
        w.missing(HOSTILE, HOSTILE).unwrap(),
    ] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}

proptest! {
    /// Whatever follows a `<` a writer put in, the page shows it as text:
    /// no tag of theirs opens.
    #[test]
    fn any_text_is_escaped(s in "[<>\"'&a-z /=]{0,40}") {
        let text = format!("<zz{s}");
        let w = web();
        let page = w.op("lab", &consent(&text), now()).unwrap();
        prop_assert!(!page.contains("<zz"), "{}", text);
        let page = w.overview(&status(&text), now()).unwrap();
        prop_assert!(!page.contains("<zz"), "{}", text);
    }
}

fn blocker(text: &str) -> bosun_api::views::BlockerView {
    serde_json::from_value(
        json!({"id": 1, "kind": text, "subject": text, "reason": text,
        "owner": text, "filed_by": text, "since": "2026-12-07T10:00:00Z", "halts": [text],
        "route": text, "next": [{"action": "resolve_blocker", "id": 1}]}),
    )
    .unwrap()
}

fn host(text: &str) -> bosun_api::views::HostView {
    serde_json::from_value(
        json!({"host": text, "tags": [text], "arch": text, "transport": "ssh",
        "last_op": {"jti": text, "runbook": text, "state": "failed"}, "version": text,
        "drifted": true, "drifted_since": "2026-12-07T10:00:00Z", "drift_reason": text,
        "pending_approvals": 2, "blockers": [{"id": 1, "kind": text, "subject": text}]}),
    )
    .unwrap()
}

fn rollout(text: &str) -> bosun_api::views::RolloutView {
    serde_json::from_value(json!({"id": text, "phase": "active", "waves": [{"name": text, "hosts": text}],
        "runs": [{"action": "apply", "wave": 0, "op": text, "hosts": [text], "at": "2026-12-07T10:00:00Z",
            "by": text, "status": "halted", "why": text}],
        "bars": [{"host": text, "bar": text, "verdict": "fail", "why": text}],
        "summary": text, "next": []}))
    .unwrap()
}

#[test]
fn the_board_hosts_and_rollouts_escape_what_they_show() {
    let w = web();
    for page in [
        w.blockers(HOSTILE, &[blocker(HOSTILE)], true, now())
            .unwrap(),
        w.hosts(HOSTILE, &[host(HOSTILE)]).unwrap(),
        w.rollouts(HOSTILE, &[rollout(HOSTILE)]).unwrap(),
        w.rollout(HOSTILE, &rollout(HOSTILE), now()).unwrap(),
    ] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
    let board = w.blockers("lab", &[blocker("disk")], false, now()).unwrap();
    assert!(
        board.contains("run ResolveBlocker"),
        "the command the CLI spells: {board}"
    );
    let r = w.rollout("lab", &rollout("k71"), now()).unwrap();
    assert!(r.contains("s-fail") && r.contains("halted"), "{r}");
}

#[test]
fn times_read_as_people_read_them() {
    let t = |s| jiff::Timestamp::from_second(s).unwrap();
    assert_eq!(crate::ago(t(100), t(100)).rel, "just now");
    assert_eq!(crate::ago(t(100), t(145)).rel, "45s ago");
    assert_eq!(crate::ago(t(0), t(3_700)).rel, "1h ago");
    assert_eq!(crate::ago(t(0), t(200_000)).rel, "2d ago");
}
