//! The backend conformance suite against the SQLite store (one test per
//! check, each on its own fresh database file), and what only this backend
//! has: reopening a file and migrating older schemas.

use bosun_store::conformance::Fresh;
use bosun_store_sqlite::SqliteStore;

/// A fresh store in its own temporary directory.
#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a store that cannot open fails the test"
)]
fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    Fresh {
        backend: Box::new(store),
        keep: Box::new(dir),
    }
}

bosun_store::conformance_tests!(fresh);

#[test]
fn reopening_keeps_everything() {
    use bosun_model::OpState;
    use bosun_store::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let op =
        bosun_store::conformance::new_op("op1", "claude", 3, &["h1"], false, OpState::Approved);
    {
        let s = SqliteStore::open(&path).unwrap();
        s.submit_ops(std::slice::from_ref(&op), &[]).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.op(&op.claims.jti).unwrap().unwrap().summary.state,
        OpState::Approved
    );
    assert_eq!(s.last_seq(&op.claims.iss).unwrap(), Some(3));
}

#[test]
fn schema_1_events_become_ledger_entries() {
    use bosun_store::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
               jti TEXT, kind TEXT NOT NULL, step TEXT, data TEXT NOT NULL);
             INSERT INTO events (at, jti, kind, step, data) VALUES
               (10, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'op.submitted', NULL, '{\"n\":1}'),
               (11, NULL, 'fleet.halted', NULL, '{\"why\":\"x\"}');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let evs = s.events(None).unwrap();
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].kind, "op.submitted");
    assert_eq!(evs[1].data["why"], "x");
    assert_eq!(s.ledger_size().unwrap(), 2);
}

/// A schema-3 file (subtree hashes in `ledger_nodes (level, idx)`, the old
/// ops indexes) opens as schema 4 with the same ledger: every stored
/// subtree hash is found at its new position, proofs agree, and the
/// budget sum is the same through the new partial index.
#[test]
fn schema_3_ledger_nodes_move_to_in_order_positions() {
    use bosun_model::{KeyId, OpState};
    use bosun_store::NewEvent;
    use bosun_store::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let mut nodes = Vec::new();
    let (size, budget, queued) = {
        let s = SqliteStore::open(&path).unwrap();
        let mut ops = Vec::new();
        for i in 0..6u64 {
            let id = format!("op{i}");
            ops.push(bosun_store::conformance::new_op(
                &id,
                "claude",
                i + 1,
                &["h1", "h2"],
                i % 2 == 0,
                OpState::PendingApproval,
            ));
        }
        for op in &mut ops {
            op.state = OpState::Approved;
        }
        s.submit_ops(&ops, &[]).unwrap();
        for i in 0..37 {
            s.record_event(&NewEvent {
                at: 100 + i,
                jti: None,
                kind: "test.event".into(),
                data: serde_json::json!({ "i": i }),
            })
            .unwrap();
        }
        let size = s.ledger_size().unwrap();
        for level in 1..64u32 {
            if size >> level == 0 {
                break;
            }
            for idx in 0..(size >> level) {
                let h = s.ledger_node(level, idx).unwrap().unwrap();
                nodes.push((level, idx, h));
            }
        }
        let budget = s
            .hosts_changed_since(&KeyId::parse("claude").unwrap(), 0)
            .unwrap();
        (size, budget, s.depth().unwrap())
    };
    assert_eq!(queued, 6);
    assert_eq!(budget, 6, "three changing ops of two hosts each");
    {
        // Back to schema 3's layout.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE ledger_tree;
             DROP INDEX ops_budget_changing;
             CREATE TABLE ledger_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL,
               hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
             CREATE INDEX ops_iss_created ON ops(iss, created_at);
             CREATE INDEX ops_budget ON ops(iss, read_only, created_at, state, targets);
             CREATE INDEX ops_state ON ops(state);
             CREATE TABLE queue_v3 (id INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL UNIQUE,
               enqueued_at INTEGER NOT NULL, delivered_token INTEGER,
               attempts INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
             INSERT INTO queue_v3 SELECT * FROM queue;
             DROP TABLE queue;
             ALTER TABLE queue_v3 RENAME TO queue;
             CREATE INDEX queue_pending ON queue(acked, id);
             PRAGMA user_version = 3;",
        )
        .unwrap();
        for (level, idx, h) in &nodes {
            c.execute(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                rusqlite::params![level, *idx as i64, &h[..]],
            )
            .unwrap();
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.ledger_size().unwrap(), size);
    for (level, idx, h) in &nodes {
        assert_eq!(
            s.ledger_node(*level, *idx).unwrap(),
            Some(*h),
            "{level}/{idx}"
        );
    }
    assert_eq!(
        s.hosts_changed_since(&KeyId::parse("claude").unwrap(), 0)
            .unwrap(),
        budget
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        names.iter().any(|n| n == "ops_budget_changing"),
        "{names:?}"
    );
    for gone in ["ledger_nodes", "ops_budget", "ops_iss_created", "ops_state"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} is still there");
    }
    let queue_sql: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'queue'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!queue_sql.contains("AUTOINCREMENT"), "{queue_sql}");
    assert!(names.iter().any(|n| n == "queue_pending"), "{names:?}");
    assert_eq!(s.depth().unwrap(), queued, "every queue item kept");
    // Appending after the migration continues the same tree.
    s.record_event(&NewEvent {
        at: 999,
        jti: None,
        kind: "test.after".into(),
        data: serde_json::json!({}),
    })
    .unwrap();
    let rows = s.ledger_rows(0, usize::MAX).unwrap();
    let leaves: Vec<[u8; 32]> = rows
        .iter()
        .map(|r| bosun_ledger::merkle::leaf_hash(&r.entry))
        .collect();
    assert_eq!(
        rows.last().unwrap().root,
        bosun_ledger::merkle::root(&leaves).to_vec()
    );
    let n = leaves.len() as u64;
    for i in [0, n / 2, n - 1] {
        let stored = bosun_ledger::merkle::inclusion_proof_from::<String>(i, n, &mut |lv, ix| {
            s.ledger_node(lv, ix)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no node {lv}/{ix}"))
        })
        .unwrap();
        assert_eq!(
            stored,
            bosun_ledger::merkle::inclusion_proof(&leaves, i as usize)
        );
    }
}
