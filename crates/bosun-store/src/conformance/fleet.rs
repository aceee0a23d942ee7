//! Checks of [`GovernanceStore`](crate::GovernanceStore),
//! [`FleetStore`](crate::FleetStore) and [`NoticeStore`](crate::NoticeStore):
//! adoption, blockers, host states, rollouts, reminders and remembered files.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed call is a failed check"
)]

use bosun_model::{ApprovalClaims, Digest, KeyId, OpState, Role, Verdict};

use super::fixtures::*;
use crate::records::*;
use crate::{Backend, StoreError};

/// A proposal `id` to adopt `content` as `subject`, by alice.
fn proposal(id: &str, subject: &str, content: &str) -> Proposal {
    Proposal {
        id: jti(id),
        proposer: KeyId::parse("alice").unwrap(),
        digest: Digest::of(id.as_bytes()),
        items: vec![ProposalItem {
            subject: subject.into(),
            digest: Digest::of(content.as_bytes()),
            content: content.into(),
        }],
        state: "open".into(),
        created_at: 10,
    }
}

/// `by`'s approval `id` of proposal `p`.
fn proposal_approval(p: &Proposal, id: &str, by: &str) -> NewApproval {
    NewApproval {
        envelope: "e".into(),
        claims: ApprovalClaims {
            jti: jti(id),
            iss: KeyId::parse(by).unwrap(),
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
        passkey: None,
    }
}

/// Check: adoption.
pub fn adoption(b: &dyn Backend) {
    let p = proposal("prop1", "policy", "mode = \"hybrid\"\n");
    let item = p.items[0].clone();
    b.propose(&p).unwrap();
    assert!(b.propose(&p).is_err(), "proposal ids are unique");
    assert_eq!(b.proposals().unwrap().len(), 1);
    assert!(b.adopted("policy").unwrap().is_none());
    let mut ap = proposal_approval(&p, "pa1", "bob");
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

/// Check: an op decided on what was adopted before an adoption committed
/// is sent back (neither stored nor recorded); decided on what is adopted
/// now, it goes in.
pub fn an_adoption_sends_ops_decided_before_it_back(b: &dyn Backend) {
    let basis = |b: &dyn Backend| {
        let all = b.adopted_all().unwrap();
        crate::adopted_basis(all.iter().map(|a| (a.subject.as_str(), &a.digest)))
    };
    let before = basis(b);
    let mut first = new_op("b1", "claude", 1, &["h1"], false, OpState::Approved);
    first.adopted_basis = Some(before.clone());
    assert_eq!(b.submit_ops(&[first], &[]).unwrap(), vec![Ok(())]);
    // An adoption commits (a key registry, say, that drops claude).
    let p = proposal("prop9", "keys", "[[key]]\nname = \"alice\"\n");
    b.propose(&p).unwrap();
    let ap = proposal_approval(&p, "pa9", "bob");
    b.approve_proposal(&ap, true).unwrap();
    let after = basis(b);
    assert_ne!(before, after, "an adoption changes the basis");
    let rejections = b.rejections(100).unwrap().len();
    let mut stale = new_op("b2", "claude", 2, &["h2"], false, OpState::Approved);
    stale.adopted_basis = Some(before);
    let mut other = new_op("b3", "codex", 1, &["h3"], false, OpState::Approved);
    other.adopted_basis = Some(after.clone());
    let r = b.submit_ops(&[stale.clone(), other], &[]).unwrap();
    assert_eq!(r[0], Err(crate::SubmitConflict::AdoptionMoved), "{r:?}");
    assert_eq!(r[1], Ok(()), "decided on what is adopted now: {r:?}");
    assert!(b.op(&jti("b2")).unwrap().is_none(), "not stored");
    assert_eq!(
        b.rejections(100).unwrap().len(),
        rejections,
        "not recorded as a rejection"
    );
    assert_eq!(
        b.last_seq(&KeyId::parse("claude").unwrap()).unwrap(),
        Some(1)
    );
    // Decided again on what is adopted now, it goes in.
    stale.adopted_basis = Some(after);
    assert_eq!(b.submit_ops(&[stale], &[]).unwrap(), vec![Ok(())]);
}

/// Check: blockers file once and resolve.
pub fn blockers_file_once_and_resolve(b: &dyn Backend) {
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

/// Check: host states join ops and drift.
pub fn host_states_join_ops_and_drift(b: &dyn Backend) {
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

/// Check: rollouts are versioned.
pub fn rollouts_are_versioned(b: &dyn Backend) {
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

/// Check: reminders count and snooze.
pub fn reminders_count_and_snooze(b: &dyn Backend) {
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

/// Check: remembered files.
pub fn remembered_files(b: &dyn Backend) {
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
