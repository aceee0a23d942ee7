//! The backend's own unit tests: what no other backend shares (query
//! plans, the write-ahead log, tree positions).

use crate::ledger::tree_pos;
use bosun_store::prelude::*;

#[test]
fn prefix_lookups_search_the_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bosun.db");
    let _store = crate::SqliteStore::open(&path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    for (table, col) in [("ops", "jti"), ("proposals", "id")] {
        let mut st = c
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                crate::sql::prefix_sql(table, col)
            ))
            .unwrap();
        let plan: Vec<String> = st
            .query_map(rusqlite::params!["abc", "abd", 11], |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.starts_with("SEARCH") && d.contains("INDEX")),
            "{table}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|d| d.starts_with("SCAN")),
            "{table}: {plan:?}"
        );
    }
    assert_eq!(
        crate::sql::prefix_bound("0192ab").as_deref(),
        Some("0192ac")
    );
    assert_eq!(crate::sql::prefix_bound("a-z").as_deref(), Some("a-{"));
    assert_eq!(crate::sql::prefix_bound("a%"), None);
    assert_eq!(crate::sql::prefix_bound(""), None);
}

/// The first salt of a WAL header (bytes 16..20): SQLite draws a new
/// one each time the log starts over from its beginning.
fn wal_salt(path: &std::path::Path) -> Option<[u8; 4]> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(wal).ok()?;
    bytes.get(16..20)?.try_into().ok()
}

#[test]
fn the_writer_starts_the_log_over_after_each_checkpoint() {
    // Under steady load frames are always committed while the
    // background checkpoint runs, so the log is never wholly backfilled
    // when a transaction begins and SQLite would append to it forever
    // (348 MB in 10 s of intake). The writer catches up first.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bosun.db");
    // No background checkpoints: the test plays the checkpointer.
    let store = crate::SqliteStore::open_with(&path, std::time::Duration::from_secs(3600))
        .unwrap_or_else(|e| panic!("{e}"));
    let write = |n: u32| {
        store
            .remember(&format!("probe-{n}"), &"x".repeat(16 * 1024), 0)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    write(0);
    write(1);
    let checkpointer = crate::connect(&path).unwrap_or_else(|e| panic!("{e}"));
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    for round in 0..3 {
        // The background checkpoint copies what was committed when it
        // began, the writer commits meanwhile, then it raises the flag.
        let during = std::sync::atomic::AtomicBool::new(false);
        crate::checkpoint::checkpoint_once(&checkpointer, &during, 0);
        assert!(
            during.load(relaxed),
            "a checkpoint of frames raises the flag"
        );
        write(2 * round + 1);
        let before = wal_salt(&path);
        store.catch_up.store(true, relaxed);
        // The log is not wholly backfilled; the writer catches up and
        // its transaction starts the log over.
        write(2 * round + 2);
        let after = wal_salt(&path);
        assert_ne!(after, before, "round {round}: the log did not start over");
        // Without a checkpoint since, the next appends.
        write(100 + round);
        assert_eq!(wal_salt(&path), after, "round {round}: started over again");
    }
    for n in (0..7).chain(100..103) {
        assert!(
            store
                .remembered(&format!("probe-{n}"))
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        );
    }
}

#[test]
fn tree_positions_are_in_order_and_grow_with_the_log() {
    // Leaves 0..4 sit at 0, 2, 4, 6; their parents at 1 and 5; the root at 3.
    assert_eq!(tree_pos(1, 0), Some(1));
    assert_eq!(tree_pos(1, 1), Some(5));
    assert_eq!(tree_pos(2, 0), Some(3));
    assert_eq!(tree_pos(3, 1), Some(23));
    assert_eq!(tree_pos(64, 0), None);
    assert_eq!(tree_pos(1, u64::MAX / 2), None);
    // Each append's new nodes get fresh positions inside the tree, and
    // the largest of them is past every earlier one: appends land at
    // the table's end.
    let mut f = bosun_ledger::merkle::Frontier::default();
    let mut seen = std::collections::HashSet::new();
    let mut last_max = -1i64;
    for n in 0..5000i64 {
        let mut got = Vec::new();
        f.push_nodes([0; 32], |l, i, _| got.push(tree_pos(l, i).unwrap_or(-1)));
        for p in &got {
            assert!(*p >= 0 && *p < 2 * (n + 1), "{n}: {p}");
            assert!(seen.insert(*p), "{n}: {p} twice");
        }
        if let Some(m) = got.iter().max() {
            assert!(*m > last_max, "{n}: {m} after {last_max}");
            last_max = *m;
        }
    }
}

#[test]
fn sqlite_errors_say_what_a_caller_can_do() {
    use bosun_store::StoreError;
    let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
    let busy = crate::sql::be(failure(rusqlite::ffi::SQLITE_BUSY));
    assert!(matches!(busy, StoreError::Busy { .. }) && busy.is_retryable());
    assert!(
        std::error::Error::source(&busy).is_some(),
        "the source is kept"
    );
    let full = crate::sql::be(failure(rusqlite::ffi::SQLITE_FULL));
    assert!(full.is_disk_full() && !full.is_retryable());
    let io = crate::sql::be(failure(rusqlite::ffi::SQLITE_IOERR));
    assert!(matches!(io, StoreError::Io { .. }) && !io.is_disk_full());
    let bad = crate::sql::be(failure(rusqlite::ffi::SQLITE_CORRUPT));
    assert!(matches!(bad, StoreError::Corrupt { .. }));
    let other = crate::sql::be(rusqlite::Error::InvalidQuery);
    assert!(matches!(other, StoreError::Backend { .. }));
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let Err(e) = crate::SqliteStore::open(&path) else {
        panic!("a schema from the future opened");
    };
    assert!(
        matches!(e, bosun_store::StoreError::TooNew { found: 99, .. }),
        "{e}"
    );
}

#[test]
fn a_read_only_store_writes_nothing_and_never_migrates() {
    use bosun_store::StoreError;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bosun.db");
    drop(crate::SqliteStore::open(&path).unwrap());
    let ro = crate::SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(ro.halt().unwrap(), None, "it reads");
    let e = ro.set_halt(None, "alice", 1).unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly), "{e}");
    drop(ro);

    let old = |v: i64| {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", v).unwrap();
    };
    old(3);
    let Err(e) = crate::SqliteStore::open_read_only(&path) else {
        panic!("an old schema opened read-only");
    };
    assert!(matches!(e, StoreError::Outdated { found: 3, .. }), "{e}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3, "nothing was migrated");
    let missing = dir.path().join("none.db");
    assert!(matches!(
        crate::SqliteStore::open_read_only(&missing),
        Err(StoreError::NotInitialised { .. })
    ));
    assert!(!missing.exists(), "nothing was created");
}
