//! Issue 14: an idle `serve` writes nothing but its lease renewals (one
//! small write per third of the lease's time to live, 5 s), and the rows
//! of every other table stay as they were.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// Every row of every table but the lease, as text.
fn rows_but_the_lease(db: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let tables: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'lease' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push(format!("{t}: {:?}", row.unwrap()));
        }
    }
    out
}

/// The database's bytes and its log's.
fn files(lab: &Lab) -> Vec<u8> {
    let mut b = std::fs::read(lab.path(".bosun/bosun.db")).unwrap();
    b.extend(std::fs::read(lab.path(".bosun/bosun.db-wal")).unwrap_or_default());
    b
}

#[test]
fn an_idle_serve_writes_only_its_lease_once_per_renewal_period() {
    let lab = Lab::new();
    lab.approved_upgrade("web-1", "1.0");
    lab.work();
    let mut serve = lab.serve(
        &[],
        std::process::Stdio::null(),
        std::process::Stdio::null(),
    );
    // Its first checkpoint and reminder pass.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let db = lab.path(".bosun/bosun.db");
    let rows = rows_but_the_lease(&db);
    let tick = std::time::Duration::from_millis(250);
    let window = 48; // 12 s
    let mut last = files(&lab);
    let mut changed = 0;
    for _ in 0..window {
        std::thread::sleep(tick);
        let now = files(&lab);
        if now != last {
            changed += 1;
            last = now;
        }
    }
    terminate(&serve);
    assert!(serve.wait().unwrap().success());
    // 12 s hold at most three renewals (every 5 s), each a write to the
    // log and, at the next background checkpoint, to the database.
    assert!(
        changed <= 6,
        "the store changed in {changed} of {window} quarter-seconds of an idle serve"
    );
    assert_eq!(rows_but_the_lease(&db), rows, "only the lease may change");
}
