//! Checks of [`OpStore`](crate::OpStore): intake's group commit, replays,
//! sequence numbers, budgets, approvals, rejections and short ids.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed call is a failed check"
)]

use bosun_model::{Digest, KeyId, OpState, Verdict};

use super::fixtures::*;
use crate::records::*;
use crate::{Backend, StoreError, SubmitConflict};

/// Check: submit and read back.
pub fn submit_and_read_back(b: &dyn Backend) {
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
    assert_eq!(
        b.count_ops_by_state().unwrap(),
        vec![(OpState::PendingApproval, 1)]
    );
    assert_eq!(b.depth().unwrap(), 0, "a pending op is not queued");
    let kinds: Vec<String> = b
        .events(Some(&op.claims.jti))
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["op.submitted", "op.decided"]);
}

/// Check: replay and seq are refused and recorded.
pub fn replay_and_seq_are_refused_and_recorded(b: &dyn Backend) {
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

/// Check: batch is partial but atomic per op.
pub fn batch_is_partial_but_atomic_per_op(b: &dyn Backend) {
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

/// Check: approval enqueues in same transaction.
pub fn approval_enqueues_in_same_transaction(b: &dyn Backend) {
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

/// Check: approval replay refused.
pub fn approval_replay_refused(b: &dyn Backend) {
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

/// Check: lapsed approvals requeue on a fresh one.
pub fn lapsed_approvals_requeue_on_a_fresh_one(b: &dyn Backend) {
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

/// Check: budgets count changed hosts.
pub fn budgets_count_changed_hosts(b: &dyn Backend) {
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

/// An op decided on budget usage that another batch has since changed
/// is neither stored nor recorded as refused, and nor is any later op of
/// its issuer in the batch; other issuers' ops are unaffected.
pub fn a_moved_budget_sends_the_op_back(b: &dyn Backend) {
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
pub fn rejections_commit_with_the_batch(b: &dyn Backend) {
    let bad = rejection;
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

/// Short ids: every op (proposal) whose id starts with the prefix, in
/// byte order, the exact id first; literal characters only (no `LIKE`
/// wildcards: `_` and `%` are not patterns); the limit holds.
pub fn ids_resolve_by_prefix(b: &dyn Backend) {
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
