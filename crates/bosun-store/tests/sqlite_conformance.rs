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
