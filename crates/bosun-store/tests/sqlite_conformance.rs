//! Runs the backend conformance suite against the SQLite store, each check
//! on its own fresh database file.

use bosun_store::SqliteStore;
use bosun_store::conformance::{Backend, run_all};

#[test]
fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    run_all(&|| {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("s{}.db", n.get()));
        Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn Backend>
    });
}

#[test]
fn reopening_keeps_everything() {
    use bosun_model::OpState;
    use bosun_store::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let op =
        bosun_store::conformance::new_op("op1", "claude", 3, &["h1"], false, OpState::Approved);
    {
        let s = SqliteStore::open(&path).unwrap();
        s.submit_ops(std::slice::from_ref(&op)).unwrap();
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
    use bosun_store::Store;
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
