//! Concurrent checks: two threads race for one budget, one lease, one op
//! jti and one approval jti, many rounds each. A backend that checks and
//! writes in separate steps (a read outside the transaction, a transaction
//! weaker than serialisable for these rows) lets both win in some round.

use std::sync::Barrier;

use bosun_model::{OpState, Verdict};

use super::fixtures::{approval, new_op};
use crate::records::*;
use crate::{Backend, StoreError, SubmitConflict};

/// Rounds per race: enough for two threads released by a barrier to
/// interleave in some of them.
const ROUNDS: usize = 24;

/// Runs `a` and `b` on two threads released together, and returns their
/// answers.
fn race<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let ta = s.spawn(|| {
            start.wait();
            a()
        });
        let tb = s.spawn(|| {
            start.wait();
            b()
        });
        (
            ta.join().expect("thread a panicked"),
            tb.join().expect("thread b panicked"),
        )
    })
}

/// Two batches of one issuer, each decided on the same budget usage
/// (nothing used yet), race to commit: only one op is admitted, and the
/// other is sent back (its budget moved, or its seq is no longer above
/// the last).
pub fn racing_batches_cannot_slip_past_a_budget(b: &dyn Backend) {
    for round in 0..ROUNDS {
        let iss = format!("agent{round}");
        let mut first = new_op(
            &format!("bud{round}a"),
            &iss,
            1,
            &["h1", "h2"],
            false,
            OpState::Approved,
        );
        let mut second = new_op(
            &format!("bud{round}b"),
            &iss,
            2,
            &["h3", "h4"],
            false,
            OpState::Approved,
        );
        for op in [&mut first, &mut second] {
            op.budget_basis = vec![BudgetBasis { since: 0, used: 0 }];
        }
        let (ra, rb) = race(
            || b.submit_ops(std::slice::from_ref(&first), &[]).unwrap(),
            || b.submit_ops(std::slice::from_ref(&second), &[]).unwrap(),
        );
        let admitted = [&ra[0], &rb[0]].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            admitted, 1,
            "round {round}: two ops decided on the same budget usage were both admitted ({ra:?}, {rb:?})"
        );
        for r in [&ra[0], &rb[0]] {
            if let Err(c) = r {
                assert!(
                    matches!(
                        c,
                        SubmitConflict::BudgetMoved { .. } | SubmitConflict::SeqNotAbove { .. }
                    ),
                    "round {round}: {c:?}"
                );
            }
        }
        let used = b.hosts_changed_since(&first.claims.iss, 0).unwrap();
        assert_eq!(used, 2, "round {round}: the budget counts one op's hosts");
    }
}

/// Two controllers race for a free lease: exactly one holds it.
pub fn one_controller_holds_the_lease(b: &dyn Backend) {
    for round in 0..ROUNDS {
        let now = 1000 + i64::try_from(round).unwrap_or(0) * 100;
        let (la, lb) = race(
            || b.acquire_lease("ctl-a", 30, now).unwrap(),
            || b.acquire_lease("ctl-b", 30, now).unwrap(),
        );
        let held: Vec<&Lease> = la.iter().chain(lb.iter()).collect();
        assert_eq!(
            held.len(),
            1,
            "round {round}: both controllers got the lease ({la:?}, {lb:?})"
        );
        let holder = b.lease_holder(now).unwrap().expect("a lease is held");
        assert_eq!(&holder, held[0], "round {round}: the holder is the winner");
        b.release_lease(held[0]).unwrap();
    }
}

/// The same op is submitted twice at once: one is accepted, the other is
/// a replay, and the op is stored once.
pub fn a_jti_submitted_twice_is_accepted_once(b: &dyn Backend) {
    for round in 0..ROUNDS {
        let op = new_op(
            &format!("twice{round}"),
            &format!("iss{round}"),
            1,
            &["h1"],
            false,
            OpState::Approved,
        );
        let (ra, rb) = race(
            || b.submit_ops(std::slice::from_ref(&op), &[]).unwrap(),
            || b.submit_ops(std::slice::from_ref(&op), &[]).unwrap(),
        );
        let answers = [&ra[0], &rb[0]];
        assert_eq!(
            answers.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: the same jti was accepted twice ({ra:?}, {rb:?})"
        );
        assert!(
            answers
                .iter()
                .any(|r| matches!(r, Err(SubmitConflict::Replay(_)))),
            "round {round}: the loser is a replay ({ra:?}, {rb:?})"
        );
        let submitted = b
            .events(Some(&op.claims.jti))
            .unwrap()
            .iter()
            .filter(|e| e.kind == "op.submitted")
            .count();
        assert!(
            submitted <= 1,
            "round {round}: {submitted} submissions in the ledger"
        );
    }
    assert_eq!(
        b.depth().unwrap(),
        u64::try_from(ROUNDS).unwrap_or(0),
        "one queue item per op"
    );
}

/// The same approval (the first of two an op needs) is recorded twice at
/// once: one counts, the other is a replay, and it is stored and in the
/// ledger once.
pub fn an_approval_jti_counts_once(b: &dyn Backend) {
    for round in 0..ROUNDS {
        let op = new_op(
            &format!("appr{round}"),
            &format!("iss{round}"),
            1,
            &["h1"],
            false,
            OpState::PendingApproval,
        );
        b.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
        let a = approval(&format!("ap{round}"), &op, "alice", Verdict::Approve);
        let (ra, rb) = race(|| b.add_approval(&a, None), || b.add_approval(&a, None));
        let ok = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            ok, 1,
            "round {round}: one approval jti counted twice ({ra:?}, {rb:?})"
        );
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert!(
                    matches!(e, StoreError::ApprovalReplay(_)),
                    "round {round}: {e}"
                );
            }
        }
        let rec = b.op(&op.claims.jti).unwrap().unwrap();
        assert_eq!(rec.approvals.len(), 1, "round {round}: approvals stored");
        let counted = b
            .events(Some(&op.claims.jti))
            .unwrap()
            .iter()
            .filter(|e| e.kind == "op.approval")
            .count();
        assert_eq!(counted, 1, "round {round}: approvals in the ledger");
    }
}
