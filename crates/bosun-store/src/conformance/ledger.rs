//! Checks of [`LedgerStore`](crate::LedgerStore): the ledger is an RFC 6962
//! Merkle log, idempotent per fact, capped, with checkpoints that only grow.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed call is a failed check"
)]

use bosun_model::OpState;

use super::fixtures::*;
use crate::records::*;
use crate::{Backend, StoreError};

/// Check: ledger is a merkle log.
pub fn ledger_is_a_merkle_log(b: &dyn Backend) {
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
