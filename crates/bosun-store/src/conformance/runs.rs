//! Checks of [`RunStore`](crate::RunStore) and [`Queue`](crate::Queue): the
//! lease and its fencing, the queue, target locks, steps, parked runs and
//! the halt.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed call is a failed check"
)]

use bosun_model::OpState;

use super::fixtures::*;
use crate::records::*;
use crate::{Backend, StoreError};

/// Check: lease fencing.
pub fn lease_fencing(b: &dyn Backend) {
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

/// Check: queue redelivers to new lease only.
pub fn queue_redelivers_to_new_lease_only(b: &dyn Backend) {
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
    // A run cut short by a store error: its lease puts back what it took.
    assert_eq!(b.release_unacked(&l2).unwrap(), 1);
    assert_eq!(b.release_unacked(&l2).unwrap(), 0, "only what was taken");
    assert!(
        b.dequeue(&l2, 200).unwrap().is_some(),
        "an item put back comes back"
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

/// Check: target locks.
pub fn target_locks(b: &dyn Backend) {
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

/// Check: steps are recorded once.
pub fn steps_are_recorded_once(b: &dyn Backend) {
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

/// Check: halt round trip.
pub fn halt_round_trip(b: &dyn Backend) {
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

/// Check: parked runs wait for a report.
pub fn parked_runs_wait_for_a_report(b: &dyn Backend) {
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
