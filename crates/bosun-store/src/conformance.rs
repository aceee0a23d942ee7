//! The conformance suite every [`crate::Backend`] must pass
//! unchanged. A backend's test calls [`run_all`] with a factory that returns
//! a fresh, empty backend each time (its own file, database or stream).
//!
//! Each check panics with a message naming the broken contract: it is test
//! code, compiled only with the `conformance` feature (which backend
//! crates turn on for their tests), never into the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use bosun_model::{
    ApprovalClaims, Decision, Digest, Jti, KeyId, Name, OpClaims, OpState, Outcome, Plan, PlanStep,
    Requirement, Role, Verdict,
};

use crate::records::*;
use crate::{StoreError, SubmitConflict};

pub use crate::Backend;

/// Runs every check against fresh backends from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Backend>) {
    submit_and_read_back(make().as_ref());
    replay_and_seq_are_refused_and_recorded(make().as_ref());
    batch_is_partial_but_atomic_per_op(make().as_ref());
    approval_enqueues_in_same_transaction(make().as_ref());
    approval_replay_refused(make().as_ref());
    lapsed_approvals_requeue_on_a_fresh_one(make().as_ref());
    lease_fencing(make().as_ref());
    queue_redelivers_to_new_lease_only(make().as_ref());
    target_locks(make().as_ref());
    steps_are_recorded_once(make().as_ref());
    halt_round_trip(make().as_ref());
    adoption(make().as_ref());
    budgets_count_changed_hosts(make().as_ref());
    a_moved_budget_sends_the_op_back(make().as_ref());
    rejections_commit_with_the_batch(make().as_ref());
    parked_runs_wait_for_a_report(make().as_ref());
    ledger_is_a_merkle_log(make().as_ref());
    blockers_file_once_and_resolve(make().as_ref());
    host_states_join_ops_and_drift(make().as_ref());
    rollouts_are_versioned(make().as_ref());
    reminders_count_and_snooze(make().as_ref());
    remembered_files(make().as_ref());
    ids_resolve_by_prefix(make().as_ref());
}

/// Short ids: every op (proposal) whose id starts with the prefix, in
/// byte order, the exact id first; literal characters only (no `LIKE`
/// wildcards: `_` and `%` are not patterns); the limit holds.
fn ids_resolve_by_prefix(b: &dyn Backend) {
    let ids = [
        "0192a1b2c3d4e5f6",
        "0192a1b2c3ffff",
        "0192b0000000",
        "abcdef",
        "abcdefg",
        "abxdef",
        "ABCDEF",
    ];
    let ops: Vec<NewOp> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| new_op(id, "claude", i as u64 + 1, &["h1"], true, OpState::Approved))
        .collect();
    for r in b.submit_ops(&ops, &[]).unwrap() {
        r.unwrap();
    }
    let found = |p: &str, limit: usize| -> Vec<String> {
        b.op_ids_with_prefix(p, limit)
            .unwrap()
            .into_iter()
            .map(|j| j.to_string())
            .collect()
    };
    assert_eq!(
        found("0192a1b2c3", 10),
        vec!["0192a1b2c3d4e5f6", "0192a1b2c3ffff"]
    );
    assert_eq!(found("0192a1b2c3d", 10), vec!["0192a1b2c3d4e5f6"]);
    assert_eq!(
        found("abcdef", 10),
        vec!["abcdef", "abcdefg"],
        "the exact id comes first"
    );
    assert_eq!(found("ABC", 10), vec!["ABCDEF"], "ids are case-sensitive");
    assert_eq!(found("0192", 2).len(), 2, "the limit holds");
    assert!(found("zz", 10).is_empty());
    assert!(found("ab_def", 10).is_empty(), "`_` is no wildcard");
    assert!(found("ab%", 10).is_empty(), "`%` is no wildcard");
    assert!(found("", 10).is_empty(), "an empty prefix names nothing");
    assert!(
        b.proposal_ids_with_prefix("0192", 10).unwrap().is_empty(),
        "op ids are not proposal ids"
    );
    for id in ["prop-aa1", "prop-ab2"] {
        b.propose(&Proposal {
            id: jti(id),
            proposer: KeyId::parse("alice").unwrap(),
            digest: Digest::of(id.as_bytes()),
            items: vec![],
            state: "open".into(),
            created_at: 10,
        })
        .unwrap();
    }
    let props = |p: &str| -> Vec<String> {
        b.proposal_ids_with_prefix(p, 10)
            .unwrap()
            .into_iter()
            .map(|j| j.to_string())
            .collect()
    };
    assert_eq!(props("prop-a"), vec!["prop-aa1", "prop-ab2"]);
    assert_eq!(props("prop-ab"), vec!["prop-ab2"]);
    assert!(b.op_ids_with_prefix("prop", 10).unwrap().is_empty());
}

fn remembered_files(b: &dyn Backend) {
    assert_eq!(b.remembered("inventory").unwrap(), None);
    let n = b.ledger_size().unwrap();
    b.remember("inventory", "a", 1).unwrap();
    b.remember("inventory", "a", 2).unwrap();
    assert_eq!(
        b.ledger_size().unwrap(),
        n + 1,
        "an unchanged file is no new entry"
    );
    b.remember("inventory", "b", 3).unwrap();
    assert_eq!(b.remembered("inventory").unwrap().as_deref(), Some("b"));
}

fn reminders_count_and_snooze(b: &dyn Backend) {
    assert!(b.reminders().unwrap().is_empty());
    b.note_reminder("op:x", 1, 100, None).unwrap();
    b.note_reminder("op:x", 2, 200, None).unwrap();
    b.snooze_reminder("blocker:3", 900, "alice", 150).unwrap();
    let mut r = b.reminders().unwrap();
    r.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].subject.as_str(), r[0].sent, r[0].snoozed_until),
        ("blocker:3", 0, 900)
    );
    assert_eq!(
        (r[1].subject.as_str(), r[1].sent, r[1].last_at),
        ("op:x", 2, 200)
    );
}

fn blockers_file_once_and_resolve(b: &dyn Backend) {
    let nb = |kind: &str, subject: &str| NewBlocker {
        kind: kind.into(),
        subject: subject.into(),
        reason: "bar failed".into(),
        owner: "operator".into(),
        filed_by: "controller".into(),
        op: Some("op1".into()),
        at: 100,
    };
    let size = b.ledger_size().unwrap();
    let id = b.file_blocker(&nb("regression", "h1")).unwrap();
    assert!(
        b.ledger_size().unwrap() > size,
        "filing a blocker is a ledger entry"
    );
    // The same blocker again is the same blocker.
    assert_eq!(b.file_blocker(&nb("regression", "h1")).unwrap(), id);
    let other = b.file_blocker(&nb("regression", "h2")).unwrap();
    assert_ne!(other, id);
    assert_eq!(b.blockers(false).unwrap().len(), 2);
    b.snooze_blocker(id, 500, "alice", 101).unwrap();
    assert_eq!(b.blocker(id).unwrap().unwrap().snoozed_until, 500);
    assert!(
        b.blocker(id).unwrap().unwrap().active(),
        "a snooze never lifts a blocker"
    );
    b.resolve_blocker(id, "alice", "rolled back", 102).unwrap();
    assert!(matches!(
        b.resolve_blocker(id, "alice", "again", 103),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        b.resolve_blocker(999, "alice", "x", 103),
        Err(StoreError::NotFound(_))
    ));
    let active = b.blockers(false).unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, other);
    let all = b.blockers(true).unwrap();
    assert_eq!(all.len(), 2);
    let r = b.blocker(id).unwrap().unwrap();
    assert_eq!(
        (r.resolved_by.as_str(), r.resolution.as_str()),
        ("alice", "rolled back")
    );
    // After resolving, the same kind and subject may be filed anew.
    assert_ne!(b.file_blocker(&nb("regression", "h1")).unwrap(), id);
}

fn host_states_join_ops_and_drift(b: &dyn Backend) {
    let a = new_op("op1", "claude", 1, &["h1", "h2"], false, OpState::Approved);
    let p = new_op("op2", "claude", 2, &["h2"], false, OpState::PendingApproval);
    b.submit_ops(&[a, p], &[]).unwrap();
    b.set_host_drift("h1", Some("version bar failed"), 100)
        .unwrap();
    b.set_host_version("h1", "7.0", 100).unwrap();
    b.set_host_drift("h3", Some("gone"), 100).unwrap();
    b.set_host_drift("h3", None, 101).unwrap();
    let hs = b.host_states().unwrap();
    let get = |h: &str| hs.iter().find(|s| s.host == h).cloned().unwrap();
    let h1 = get("h1");
    assert_eq!(h1.drifted_since, Some(100));
    assert_eq!(h1.version, "7.0");
    assert_eq!(h1.last_op.as_ref().map(|o| o.0.as_str()), Some("op1"));
    let h2 = get("h2");
    assert_eq!(
        h2.last_op.as_ref().map(|o| (o.0.as_str(), o.2)),
        Some(("op2", OpState::PendingApproval))
    );
    assert_eq!(h2.pending_approvals, 1);
    assert_eq!(get("h3").drifted_since, None, "converged");
}

fn rollouts_are_versioned(b: &dyn Backend) {
    let ev = |k: &str| NewEvent {
        at: 100,
        jti: None,
        kind: k.into(),
        data: serde_json::json!({"rollout": "r1"}),
    };
    assert!(b.rollout("r1").unwrap().is_none());
    let v = b
        .put_rollout(
            "r1",
            &serde_json::json!({"wave": 0}),
            0,
            &ev("rollout.started"),
        )
        .unwrap();
    assert_eq!(v, 1);
    assert!(matches!(
        b.put_rollout(
            "r1",
            &serde_json::json!({"wave": 9}),
            0,
            &ev("rollout.started")
        ),
        Err(StoreError::Stale(_))
    ));
    let v2 = b
        .put_rollout(
            "r1",
            &serde_json::json!({"wave": 1}),
            v,
            &ev("rollout.promoted"),
        )
        .unwrap();
    // A writer that read version 1 lost the race.
    assert!(matches!(
        b.put_rollout(
            "r1",
            &serde_json::json!({"wave": 5}),
            v,
            &ev("rollout.promoted")
        ),
        Err(StoreError::Stale(_))
    ));
    let r = b.rollout("r1").unwrap().unwrap();
    assert_eq!((r.version, r.body["wave"].as_u64()), (v2, Some(1)));
    assert_eq!(b.rollouts().unwrap().len(), 1);
}

fn ledger_is_a_merkle_log(b: &dyn Backend) {
    use bosun_ledger::merkle;
    assert_eq!(b.ledger_size().unwrap(), 0);
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::PendingApproval);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    let ev = |k: &str, n: i64| NewEvent {
        at: 100,
        jti: Some("op1".into()),
        kind: k.into(),
        data: serde_json::json!({"n": n}),
    };
    for i in 0..5 {
        b.record_event(&ev("test.event", i)).unwrap();
    }
    let n = b.ledger_size().unwrap();
    // The same fact twice is one entry (jti idempotency).
    b.record_event(&ev("test.event", 3)).unwrap();
    assert_eq!(b.ledger_size().unwrap(), n);
    // An entry over the limit is refused and nothing is written.
    let huge = NewEvent {
        at: 100,
        jti: None,
        kind: "test.huge".into(),
        data: serde_json::json!({"x": "y".repeat(MAX_ENTRY_BYTES)}),
    };
    assert!(matches!(
        b.record_event(&huge),
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(b.ledger_size().unwrap(), n);
    // Stored leaves and roots are the RFC 6962 ones.
    let rows = b.ledger_rows(0, usize::MAX).unwrap();
    assert_eq!(rows.len() as u64, n);
    let mut leaves = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.idx, i as i64);
        let leaf = merkle::leaf_hash(&r.entry);
        assert_eq!(r.leaf, leaf);
        leaves.push(leaf);
        assert_eq!(r.root, merkle::root(&leaves), "root after {i}");
    }
    // Stored subtree hashes give the same proofs as the leaves do.
    for i in 0..n {
        let stored = merkle::inclusion_proof_from::<String>(i, n, &mut |lv, ix| {
            b.ledger_node(lv, ix)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no node {lv}/{ix}"))
        })
        .unwrap()
        .unwrap();
        assert_eq!(Some(stored), merkle::inclusion_proof(&leaves, i as usize));
    }
    // Events are read back from the entries.
    let evs = b.events(Some(&jti("op1"))).unwrap();
    assert!(
        evs.iter()
            .any(|e| e.kind == "test.event" && e.data["n"] == 4)
    );
    // Checkpoints only grow.
    let cp = |size: u64| StoredCheckpoint {
        size,
        root: merkle::root(&leaves[..size as usize]),
        note: format!("cp {size}"),
        at: 100,
    };
    b.add_checkpoint(&cp(2)).unwrap();
    b.add_checkpoint(&cp(n)).unwrap();
    assert!(matches!(
        b.add_checkpoint(&cp(n)),
        Err(StoreError::Stale(_))
    ));
    assert!(matches!(
        b.add_checkpoint(&cp(1)),
        Err(StoreError::Stale(_))
    ));
    let cps = b.checkpoints().unwrap();
    assert_eq!(cps.iter().map(|c| c.size).collect::<Vec<_>>(), [2, n]);
}

fn parked_runs_wait_for_a_report(b: &dyn Backend) {
    let l = b.acquire_lease("c1", 100, 100).unwrap().unwrap();
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::Approved);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    let d = b.dequeue(&l, 100).unwrap().unwrap();
    b.start_run(&l, &op.claims.jti, 100).unwrap();
    let mut r = StepResult {
        idx: 0,
        step: "s1".into(),
        host: "h1".into(),
        status: StepStatus::Waiting,
        exit_code: None,
        duration_ms: 0,
        output: "waiting".into(),
        started_at: 101,
        finished_at: 0,
    };
    // A report before the step is reached is refused.
    assert!(
        b.report_step(&op.claims.jti, &r, &serde_json::json!({}))
            .is_err()
    );
    b.park_run(&l, &op.claims.jti, &r).unwrap();
    assert_eq!(b.depth().unwrap(), 0, "a parked run is off the queue");
    assert!(b.dequeue(&l, 102).unwrap().is_none());
    let rec = b.op(&op.claims.jti).unwrap().unwrap();
    assert_eq!(
        rec.summary.state,
        OpState::Running,
        "the op stays running (and keeps its locks)"
    );
    assert_eq!(rec.steps[0].status, StepStatus::Waiting);
    r.status = StepStatus::Succeeded;
    r.finished_at = 103;
    b.report_step(&op.claims.jti, &r, &serde_json::json!({"by": "alice"}))
        .unwrap();
    assert!(
        b.report_step(&op.claims.jti, &r, &serde_json::json!({}))
            .is_err(),
        "a step is reported once"
    );
    let again = b
        .dequeue(&l, 104)
        .unwrap()
        .expect("the report puts the op back on the queue");
    assert_eq!(again.jti, d.jti);
    assert_eq!(
        b.op(&op.claims.jti).unwrap().unwrap().steps[0].status,
        StepStatus::Succeeded
    );
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn jti(s: &str) -> Jti {
    Jti::parse(s).unwrap()
}

pub fn new_op(
    id: &str,
    iss: &str,
    seq: u64,
    targets: &[&str],
    read_only: bool,
    state: OpState,
) -> NewOp {
    let targets: Vec<Name> = targets.iter().map(|t| name(t)).collect();
    let plan = Plan {
        runbook: name("rb"),
        runbook_digest: Digest::of(b"rb"),
        read_only,
        destructive: false,
        verb: None,
        targets: targets.clone(),
        check: false,
        hosts: Default::default(),
        params: BTreeMap::new(),
        steps: targets
            .iter()
            .map(|h| PlanStep {
                step: name("s1"),
                host: h.clone(),
                cmd: "true".into(),
                idempotent: false,
                depends_on: vec![],
                on_error: Default::default(),
                timeout_secs: None,
                actor: Default::default(),
                controller: false,
                max_parallel: None,
                check: None,
                bar: None,
            })
            .collect(),
        parallel: None,
        max_fail: None,
    };
    let outcome = match state {
        OpState::Approved => Outcome::Auto,
        OpState::Denied => Outcome::Deny {
            reason: "no".into(),
        },
        _ => Outcome::Approvals(Requirement {
            m: 1,
            roles: vec![Role::Operator],
        }),
    };
    NewOp {
        envelope: format!("envelope-of-{id}"),
        claims: OpClaims {
            jti: jti(id),
            iss: KeyId::parse(iss).unwrap(),
            iat: 100,
            exp: 1000,
            ws: name("ws"),
            runbook: name("rb"),
            targets,
            params: BTreeMap::new(),
            seq,
            plan_digest: plan.digest(),
            rollout: None,
            check: false,
        },
        role: Role::Agent,
        decision: Decision {
            outcome,
            policy_digest: Digest::of(b"p"),
            policy_ids: vec!["p1".into()],
            reasons: vec![],
        },
        plan,
        state,
        received_at: 100,
        budget_basis: vec![],
    }
}

pub fn approval(id: &str, op: &NewOp, by: &str, verdict: Verdict) -> NewApproval {
    NewApproval {
        envelope: format!("approval-{id}"),
        claims: ApprovalClaims {
            jti: jti(id),
            iss: KeyId::parse(by).unwrap(),
            iat: 110,
            exp: 1000,
            ws: name("ws"),
            op: op.claims.jti.clone(),
            plan_digest: op.claims.plan_digest.clone(),
            verdict,
            reason: None,
        },
        role: Role::Operator,
        received_at: 110,
    }
}

fn submit_and_read_back(b: &dyn Backend) {
    let op = new_op(
        "op1",
        "claude",
        1,
        &["h1", "h2"],
        false,
        OpState::PendingApproval,
    );
    assert_eq!(
        b.submit_ops(std::slice::from_ref(&op), &[]).unwrap(),
        vec![Ok(())]
    );
    let rec = b
        .op(&op.claims.jti)
        .unwrap()
        .expect("stored op is readable");
    assert_eq!(rec.summary.state, OpState::PendingApproval);
    assert_eq!(rec.claims, op.claims);
    assert_eq!(rec.plan, op.plan);
    assert_eq!(rec.decision, op.decision);
    assert_eq!(rec.envelope, op.envelope);
    assert_eq!(b.last_seq(&op.claims.iss).unwrap(), Some(1));
    assert_eq!(b.list_ops(None, 10).unwrap().len(), 1);
    assert_eq!(b.list_ops(Some(OpState::Running), 10).unwrap().len(), 0);
    assert_eq!(b.depth().unwrap(), 0, "a pending op is not queued");
    let kinds: Vec<String> = b
        .events(Some(&op.claims.jti))
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["op.submitted", "op.decided"]);
}

fn replay_and_seq_are_refused_and_recorded(b: &dyn Backend) {
    let op = new_op("op1", "claude", 5, &["h1"], false, OpState::Approved);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    assert_eq!(
        b.depth().unwrap(),
        1,
        "an approved op is queued with its insert"
    );
    let again = b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    assert_eq!(
        again,
        vec![Err(SubmitConflict::Replay(op.claims.jti.clone()))]
    );
    let lower = new_op("op2", "claude", 5, &["h1"], false, OpState::Approved);
    let r = b.submit_ops(&[lower], &[]).unwrap();
    assert!(matches!(
        r[0],
        Err(SubmitConflict::SeqNotAbove { last: 5, .. })
    ));
    assert!(
        b.op(&jti("op2")).unwrap().is_none(),
        "a refused op is not stored"
    );
    let rej = b.rejections(10).unwrap();
    assert_eq!(rej.len(), 2, "both refusals are recorded");
    assert_eq!(rej[0].check, "seq");
    assert_eq!(rej[1].check, "replay");
    assert_eq!(b.depth().unwrap(), 1, "no extra queue item");
}

fn batch_is_partial_but_atomic_per_op(b: &dyn Backend) {
    let ops = vec![
        new_op("a1", "claude", 1, &["h1"], false, OpState::Approved),
        new_op("a2", "claude", 1, &["h1"], false, OpState::Approved), // seq not above
        new_op("a3", "claude", 2, &["h1"], false, OpState::Approved),
        new_op("a1", "codex", 1, &["h1"], false, OpState::Approved), // replayed jti in batch
    ];
    let r = b.submit_ops(&ops, &[]).unwrap();
    assert!(
        r[0].is_ok() && r[1].is_err() && r[2].is_ok() && r[3].is_err(),
        "{r:?}"
    );
    assert_eq!(b.depth().unwrap(), 2);
    assert_eq!(
        b.last_seq(&KeyId::parse("claude").unwrap()).unwrap(),
        Some(2)
    );
    assert_eq!(b.last_seq(&KeyId::parse("codex").unwrap()).unwrap(), None);
}

fn approval_enqueues_in_same_transaction(b: &dyn Backend) {
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::PendingApproval);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    b.add_approval(
        &approval("ap1", &op, "alice", Verdict::Approve),
        Some(OpState::Approved),
    )
    .unwrap();
    let rec = b.op(&op.claims.jti).unwrap().unwrap();
    assert_eq!(rec.summary.state, OpState::Approved);
    assert_eq!(rec.approvals.len(), 1);
    assert_eq!(b.depth().unwrap(), 1);
    // Approving an op that is no longer pending is refused and changes nothing.
    let e = b.add_approval(
        &approval("ap2", &op, "bob", Verdict::Approve),
        Some(OpState::Approved),
    );
    assert!(matches!(e, Err(StoreError::WrongState { .. })), "{e:?}");
    assert_eq!(b.op(&op.claims.jti).unwrap().unwrap().approvals.len(), 1);
    // Denial path.
    let op2 = new_op("op2", "claude", 2, &["h1"], false, OpState::PendingApproval);
    b.submit_ops(std::slice::from_ref(&op2), &[]).unwrap();
    b.add_approval(
        &approval("dn1", &op2, "alice", Verdict::Deny),
        Some(OpState::Denied),
    )
    .unwrap();
    assert_eq!(
        b.op(&op2.claims.jti).unwrap().unwrap().summary.state,
        OpState::Denied
    );
    assert_eq!(b.depth().unwrap(), 1);
}

fn lapsed_approvals_requeue_on_a_fresh_one(b: &dyn Backend) {
    let l = b.acquire_lease("c1", 10, 100).unwrap().unwrap();
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::PendingApproval);
    let j = &op.claims.jti;
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    b.add_approval(
        &approval("ap1", &op, "alice", Verdict::Approve),
        Some(OpState::Approved),
    )
    .unwrap();
    let d = b.dequeue(&l, 100).unwrap().unwrap();
    assert_eq!(&d.jti, j);
    let n = b.ledger_size().unwrap();
    b.lapse_approvals(&l, j, "lapsed", 101).unwrap();
    let rec = b.op(j).unwrap().unwrap();
    assert_eq!(rec.summary.state, OpState::PendingApproval);
    assert_eq!(rec.detail, "lapsed");
    assert_eq!(b.depth().unwrap(), 0, "off the queue");
    assert_eq!(b.ledger_size().unwrap(), n + 1, "one event");
    // Only an approved op lapses.
    assert!(matches!(
        b.lapse_approvals(&l, j, "again", 102),
        Err(StoreError::WrongState { .. })
    ));
    // A fresh approval queues it again.
    b.add_approval(
        &approval("ap2", &op, "bob", Verdict::Approve),
        Some(OpState::Approved),
    )
    .unwrap();
    assert_eq!(b.depth().unwrap(), 1);
    assert_eq!(&b.dequeue(&l, 103).unwrap().unwrap().jti, j);
}

fn approval_replay_refused(b: &dyn Backend) {
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::PendingApproval);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    let ap = approval("ap1", &op, "alice", Verdict::Approve);
    b.add_approval(&ap, None).unwrap();
    assert!(matches!(
        b.add_approval(&ap, None),
        Err(StoreError::ApprovalReplay(_))
    ));
    assert_eq!(b.op(&op.claims.jti).unwrap().unwrap().approvals.len(), 1);
}

fn lease_fencing(b: &dyn Backend) {
    let l1 = b
        .acquire_lease("c1", 10, 100)
        .unwrap()
        .expect("free lease is granted");
    assert!(
        b.acquire_lease("c2", 10, 105).unwrap().is_none(),
        "a live lease is exclusive"
    );
    let l1b = b
        .acquire_lease("c1", 10, 106)
        .unwrap()
        .expect("holder renews");
    assert_eq!(l1.token, l1b.token);
    let l2 = b
        .acquire_lease("c2", 10, 200)
        .unwrap()
        .expect("expired lease is taken over");
    assert!(l2.token > l1.token, "fencing token increases");
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::Approved);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    assert!(matches!(
        b.dequeue(&l1b, 201),
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        b.start_run(&l1b, &op.claims.jti, 201),
        Err(StoreError::Fenced { .. })
    ));
    assert!(b.dequeue(&l2, 201).unwrap().is_some());
    assert_eq!(
        b.lease_holder(201).unwrap().map(|l| l.holder),
        Some("c2".into())
    );
    b.release_lease(&l2).unwrap();
    assert!(b.lease_holder(201).unwrap().is_none());
}

fn queue_redelivers_to_new_lease_only(b: &dyn Backend) {
    let l1 = b.acquire_lease("c1", 10, 100).unwrap().unwrap();
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::Approved);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    let d = b.dequeue(&l1, 100).unwrap().unwrap();
    assert_eq!(d.attempts, 1);
    assert!(
        b.dequeue(&l1, 100).unwrap().is_none(),
        "not delivered twice to one lease"
    );
    // The controller dies; a new one takes over and gets it again.
    let l2 = b.acquire_lease("c2", 10, 200).unwrap().unwrap();
    let d2 = b
        .dequeue(&l2, 200)
        .unwrap()
        .expect("unacked item is redelivered");
    assert_eq!((d2.jti.clone(), d2.attempts), (op.claims.jti.clone(), 2));
    b.release(&l2, &d2).unwrap();
    assert!(
        b.dequeue(&l2, 200).unwrap().is_some(),
        "released item comes back"
    );
    // Finishing the run acks it.
    assert!(matches!(
        b.start_run(&l2, &op.claims.jti, 201).unwrap(),
        RunStart::Started { .. }
    ));
    b.finish_run(&l2, &op.claims.jti, OpState::Succeeded, "ok", 202)
        .unwrap();
    assert_eq!(b.depth().unwrap(), 0);
    let l3 = b.acquire_lease("c3", 10, 400).unwrap().unwrap();
    assert!(
        b.dequeue(&l3, 400).unwrap().is_none(),
        "acked items never come back"
    );
}

fn target_locks(b: &dyn Backend) {
    let l = b.acquire_lease("c1", 100, 100).unwrap().unwrap();
    let w1 = new_op("w1", "claude", 1, &["h1", "h2"], false, OpState::Approved);
    let w2 = new_op("w2", "claude", 2, &["h2"], false, OpState::Approved);
    let r1 = new_op("r1", "claude", 3, &["h3"], true, OpState::Approved);
    let r2 = new_op("r2", "claude", 4, &["h3"], true, OpState::Approved);
    let w3 = new_op("w3", "claude", 5, &["h3"], false, OpState::Approved);
    b.submit_ops(
        &[w1.clone(), w2.clone(), r1.clone(), r2.clone(), w3.clone()],
        &[],
    )
    .unwrap();
    assert!(matches!(
        b.start_run(&l, &w1.claims.jti, 101).unwrap(),
        RunStart::Started { .. }
    ));
    match b.start_run(&l, &w2.claims.jti, 101).unwrap() {
        RunStart::Locked { host, by } => {
            assert_eq!((host.as_str(), by), ("h2", w1.claims.jti.clone()))
        }
        other => panic!("two changing ops on one host must not run together: {other:?}"),
    }
    assert_eq!(
        b.op(&w2.claims.jti).unwrap().unwrap().summary.state,
        OpState::Approved,
        "a locked op stays approved"
    );
    assert!(matches!(
        b.start_run(&l, &r1.claims.jti, 101).unwrap(),
        RunStart::Started { .. }
    ));
    assert!(
        matches!(
            b.start_run(&l, &r2.claims.jti, 101).unwrap(),
            RunStart::Started { .. }
        ),
        "read-only ops share"
    );
    assert!(
        matches!(
            b.start_run(&l, &w3.claims.jti, 101).unwrap(),
            RunStart::Locked { .. }
        ),
        "readers exclude writers"
    );
    b.finish_run(&l, &w1.claims.jti, OpState::Succeeded, "", 102)
        .unwrap();
    assert!(
        matches!(
            b.start_run(&l, &w2.claims.jti, 103).unwrap(),
            RunStart::Started { .. }
        ),
        "lock released at finish"
    );
    assert!(matches!(
        b.start_run(&l, &w1.claims.jti, 103).unwrap(),
        RunStart::AlreadyEnded(OpState::Succeeded)
    ));
}

fn steps_are_recorded_once(b: &dyn Backend) {
    let l = b.acquire_lease("c1", 100, 100).unwrap().unwrap();
    let op = new_op("op1", "claude", 1, &["h1"], false, OpState::Approved);
    b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    b.start_run(&l, &op.claims.jti, 100).unwrap();
    b.step_started(&l, &op.claims.jti, 0, "s1", "h1", 100)
        .unwrap();
    assert!(
        b.step_started(&l, &op.claims.jti, 0, "s1", "h1", 100)
            .is_err(),
        "a step is started once per run"
    );
    // A restarted controller sees the started-but-unfinished step.
    match b.start_run(&l, &op.claims.jti, 101).unwrap() {
        RunStart::Started { steps } => {
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].status, StepStatus::Started);
        }
        other => panic!("{other:?}"),
    }
    let r = StepResult {
        idx: 0,
        step: "s1".into(),
        host: "h1".into(),
        status: StepStatus::Succeeded,
        exit_code: Some(0),
        duration_ms: 5,
        output: "ok".into(),
        started_at: 100,
        finished_at: 101,
    };
    b.step_finished(&l, &op.claims.jti, &r).unwrap();
    let rec = b.op(&op.claims.jti).unwrap().unwrap();
    assert_eq!(rec.steps, vec![r]);
    b.finish_run(&l, &op.claims.jti, OpState::Succeeded, "", 102)
        .unwrap();
    assert!(
        b.finish_run(&l, &op.claims.jti, OpState::Failed, "", 103)
            .is_err(),
        "a finished run cannot be re-finished"
    );
}

fn halt_round_trip(b: &dyn Backend) {
    assert!(b.halt().unwrap().is_none());
    let h = Halt {
        why: "disk alarm".into(),
        by: "alice".into(),
        since: 5,
    };
    b.set_halt(Some(&h), "alice", 5).unwrap();
    assert_eq!(b.halt().unwrap(), Some(h));
    b.set_halt(None, "bob", 6).unwrap();
    assert!(b.halt().unwrap().is_none());
    let kinds: Vec<String> = b
        .events(None)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["fleet.halted", "fleet.resumed"]);
}

fn adoption(b: &dyn Backend) {
    let content = "mode = \"hybrid\"\n".to_string();
    let item = ProposalItem {
        subject: "policy".into(),
        digest: Digest::of(content.as_bytes()),
        content,
    };
    let p = Proposal {
        id: jti("prop1"),
        proposer: KeyId::parse("alice").unwrap(),
        digest: Digest::of(b"set"),
        items: vec![item.clone()],
        state: "open".into(),
        created_at: 10,
    };
    b.propose(&p).unwrap();
    assert!(b.propose(&p).is_err(), "proposal ids are unique");
    assert_eq!(b.proposals().unwrap().len(), 1);
    assert!(b.adopted("policy").unwrap().is_none());
    let mut ap = NewApproval {
        envelope: "e".into(),
        claims: ApprovalClaims {
            jti: jti("pa1"),
            iss: KeyId::parse("bob").unwrap(),
            iat: 11,
            exp: 100,
            ws: name("ws"),
            op: p.id.clone(),
            plan_digest: p.digest.clone(),
            verdict: Verdict::Approve,
            reason: None,
        },
        role: Role::Operator,
        received_at: 11,
    };
    b.approve_proposal(&ap, false).unwrap();
    assert!(
        b.adopted("policy").unwrap().is_none(),
        "not adopted before the quorum"
    );
    ap.claims.jti = jti("pa2");
    ap.claims.iss = KeyId::parse("carol").unwrap();
    b.approve_proposal(&ap, true).unwrap();
    let a = b
        .adopted("policy")
        .unwrap()
        .expect("adopted after the quorum");
    assert_eq!(a.digest, item.digest);
    assert_eq!(b.proposal_approvals(&p.id).unwrap().len(), 2);
    assert!(b.proposals().unwrap().is_empty());
    ap.claims.jti = jti("pa3");
    assert!(
        b.approve_proposal(&ap, true).is_err(),
        "an adopted proposal takes no more approvals"
    );
}

/// An op decided on budget usage that another batch has since changed
/// is neither stored nor recorded as refused, and nor is any later op of
/// its issuer in the batch; other issuers' ops are unaffected.
fn a_moved_budget_sends_the_op_back(b: &dyn Backend) {
    let basis = |used| vec![BudgetBasis { since: 50, used }];
    let mut first = new_op("m1", "claude", 1, &["h1", "h2"], false, OpState::Approved);
    first.budget_basis = basis(0);
    assert_eq!(b.submit_ops(&[first], &[]).unwrap(), vec![Ok(())]);
    // Decided before m1 was stored: they counted 0 hosts, there are 2.
    let mut stale = new_op("m2", "claude", 2, &["h3"], false, OpState::Approved);
    stale.budget_basis = basis(0);
    // Its basis holds, but it queues behind m2 to keep claude's seq order.
    let mut behind = new_op("m3", "claude", 3, &["h4"], true, OpState::Approved);
    behind.budget_basis = basis(2);
    let mut other = new_op("m4", "codex", 1, &["h5"], false, OpState::Approved);
    other.budget_basis = basis(0);
    let r = b.submit_ops(&[stale.clone(), behind, other], &[]).unwrap();
    assert!(
        matches!(
            &r[0],
            Err(SubmitConflict::BudgetMoved {
                decided: 0,
                now: 2,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        matches!(&r[1], Err(SubmitConflict::BudgetMoved { .. })),
        "{r:?}"
    );
    assert_eq!(r[2], Ok(()));
    assert!(b.op(&jti("m2")).unwrap().is_none());
    assert!(b.op(&jti("m3")).unwrap().is_none());
    assert!(
        b.rejections(10).unwrap().is_empty(),
        "a moved budget is no refusal"
    );
    assert_eq!(
        b.last_seq(&KeyId::parse("claude").unwrap()).unwrap(),
        Some(1)
    );
    // Decided again on what is stored now, it goes in.
    stale.budget_basis = basis(2);
    assert_eq!(b.submit_ops(&[stale], &[]).unwrap(), vec![Ok(())]);
    assert_eq!(
        b.hosts_changed_since(&KeyId::parse("claude").unwrap(), 50)
            .unwrap(),
        3
    );
}

/// Refusals handed to `submit_ops` are recorded by its transaction, with
/// their ledger entries, and alongside the batch's ops.
fn rejections_commit_with_the_batch(b: &dyn Backend) {
    let bad = |n: u8| Rejection {
        at: 100,
        check: "signature".into(),
        message: format!("bad {n}"),
        jti: None,
        iss: None,
        input_digest: Digest::of(&[n]),
    };
    let size = b.ledger_size().unwrap();
    let op = new_op("r1", "claude", 1, &["h1"], false, OpState::Approved);
    let r = b.submit_ops(&[op], &[bad(1), bad(2)]).unwrap();
    assert_eq!(r, vec![Ok(())]);
    let rej = b.rejections(10).unwrap();
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[0].message, "bad 2");
    assert_eq!(
        b.ledger_size().unwrap(),
        size + 4,
        "two refusals, submitted, decided"
    );
    assert_eq!(b.submit_ops(&[], &[bad(3)]).unwrap(), vec![]);
    assert_eq!(b.rejections(10).unwrap().len(), 3);
}

fn budgets_count_changed_hosts(b: &dyn Backend) {
    let iss = KeyId::parse("claude").unwrap();
    b.submit_ops(
        &[
            new_op("o1", "claude", 1, &["h1", "h2"], false, OpState::Approved),
            new_op("o2", "claude", 2, &["h3"], true, OpState::Approved),
            new_op("o3", "claude", 3, &["h4"], false, OpState::Denied),
            new_op("o4", "codex", 1, &["h5"], false, OpState::Approved),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        b.hosts_changed_since(&iss, 0).unwrap(),
        2,
        "read-only and denied ops do not count"
    );
    assert_eq!(b.hosts_changed_since(&iss, 101).unwrap(), 0);
}
