//! Issue 14: a full disk. The verbs that only read open the store
//! read-only and work; a verb that writes fails saying the disk is full
//! and changes nothing; once space is back, writes go through. The disk
//! is a tmpfs of the test's own, filled to its last byte.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::disk::SmallDisk;
use common::*;

/// Every verb that only reads, about op `ran` (one that ran).
fn reads(ran: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["ops", "list"],
        vec!["ops", "list", "--json"],
        vec!["ops", "show", ran],
        vec!["ops", "show", ran, "--json"],
        vec!["ops", "show", ran, "--envelope"],
        vec!["ops", "rejections"],
        vec!["policy", "explain", ran],
        vec!["plan", "pkg-upgrade", "-t", "web-1", "-p", "version=3"],
        vec!["ledger", "verify"],
        vec!["ledger", "verify", "--json"],
        vec!["ledger", "checkpoints"],
        vec!["ledger", "prove", ran],
        vec!["ledger", "consistency", "--from", "1"],
        vec!["hosts", "list"],
        vec!["hosts", "status"],
        vec!["hosts", "show", "web-1"],
        vec!["blockers", "list"],
        vec!["blockers", "kinds"],
        vec!["rollout", "list"],
        vec!["runbook", "list"],
        vec!["key", "list"],
    ]
}

/// The database's bytes and its log's, as stored.
fn stored(lab: &Lab) -> Vec<u8> {
    let mut b = std::fs::read(lab.path(".bosun/bosun.db")).unwrap();
    b.extend(std::fs::read(lab.path(".bosun/bosun.db-wal")).unwrap_or_default());
    b
}

fn all_reads_work(lab: &Lab, ran: &str, case: &str) {
    let before = stored(lab);
    for args in reads(ran) {
        let o = lab.run(&args);
        assert!(
            o.status.success(),
            "{case}: bosun {args:?} failed on a full disk:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(stored(lab) == before, "{case}: a read wrote to the store");
}

fn writes_fail_and_change_nothing(lab: &Lab, pending: &str, case: &str) {
    let before = stored(lab);
    for args in [
        vec!["approve", "--yes", pending, "--as", "alice"],
        vec![
            "submit",
            "pkg-upgrade",
            "-t",
            "web-1",
            "-p",
            "version=4",
            "--as",
            "claude",
        ],
    ] {
        let o = lab.run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("the disk holding the store is full"),
            "{case}: bosun {args:?} on a full disk:\n{}{err}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    assert!(
        stored(lab) == before,
        "{case}: a failed write changed the store"
    );
}

/// Folds the log into the database and keeps a connection open, so that
/// the log stays, empty, with its index: the next write must grow it.
fn hold_an_empty_log(lab: &Lab) -> rusqlite::Connection {
    let hold = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    hold.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    hold
}

#[test]
fn reads_work_on_a_full_disk_and_writes_fail_cleanly_until_space_is_back() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let lab = Lab::new_in(disk.path());
    let ran = lab.approved_upgrade("web-1", "1.0");
    lab.work();
    let pending = jti(&submit(
        &lab,
        "claude",
        "pkg-upgrade",
        "web-2",
        &["version=2.0"],
    ));
    let shm = lab.path(".bosun/bosun.db-shm");

    // As bosun leaves it: a log with frames and its index.
    disk.fill();
    all_reads_work(&lab, &ran, "log with frames");
    disk.free();

    // An empty log and its index (another connection keeps them): any
    // write must grow the log.
    let hold = hold_an_empty_log(&lab);
    disk.fill();
    all_reads_work(&lab, &ran, "empty log");
    writes_fail_and_change_nothing(&lab, &pending, "empty log");
    disk.free();
    drop(hold);

    // No log and no index (the last connection folded the log in and
    // removed both): a reader cannot create the index on a full disk.
    assert!(!shm.exists(), "the index outlived its last connection");
    disk.fill();
    all_reads_work(&lab, &ran, "no log");
    writes_fail_and_change_nothing(&lab, &pending, "no log");
    disk.free();

    // Space is back: the same write goes through.
    lab.ok(&["approve", "--yes", &pending, "--as", "alice"]);
    assert_eq!(lab.state(&pending), "approved");
}

/// Waits up to `secs` for `f` to hold.
fn until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    false
}

/// A `serve` logging to a file outside the full disk.
struct Serve {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Serve {
    fn start(lab: &Lab, log: std::path::PathBuf) -> Serve {
        let child = lab
            .cmd(&["serve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Serve { child, log }
    }

    fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until it says the disk is full, and checks it keeps running.
    fn waits_out_the_disk(&mut self) {
        assert!(
            until(30, || self
                .said()
                .contains("disk full: controller retrying in")),
            "serve did not meet a full disk, or did not say so:\n{}",
            self.said()
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "serve exited:\n{}",
            self.said()
        );
    }

    /// Waits up to 60 s for `done`, then stops it.
    fn until_then_stop(mut self, what: &str, done: impl FnMut() -> bool) {
        assert!(until(60, done), "{what}:\n{}", self.said());
        terminate(&self.child);
        assert!(self.child.wait().unwrap().success(), "{}", self.said());
    }
}

#[test]
fn serve_waits_out_a_full_disk_and_then_runs_what_was_queued() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let lab = Lab::new_in(disk.path());
    let queued = lab.approved_upgrade("web-1", "2.0");
    // An empty log (another connection keeps it and its index): the
    // daemon's first write must grow it.
    let hold = hold_an_empty_log(&lab);
    disk.fill();

    let logs = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(&lab, logs.path().join("serve.log"));
    serve.waits_out_the_disk();
    let st = lab.json(&["status", "--json"]);
    assert!(st.is_object(), "reads answer meanwhile");
    assert_eq!(lab.state(&queued), "approved", "nothing ran on a full disk");

    disk.free();
    serve.until_then_stop("the queued op did not run once space was back", || {
        lab.state(&queued) == "succeeded"
    });
    drop(hold);
    assert!(lab.ledger_verify(&[]).0, "the ledger verifies");
}

/// A step that fills the disk the first time it runs (so that its result
/// cannot be stored), noting each run in `log`, outside that disk.
const FILLS: &str = r#"
id = "fills"
description = "fills the disk the first time"
[params.log]
type = "path"
[params.fill]
type = "path"
[[steps]]
id = "fill"
cmd = "echo ran >> {{ params.log }}; test -f {{ params.log }}.done || { touch {{ params.log }}.done; cat /dev/zero > {{ params.fill }} 2>/dev/null; true; }"
idempotent = true
"#;

#[test]
fn a_run_the_full_disk_cut_short_resumes_once_space_is_back() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let lab = Lab::new_in(disk.path());
    lab.write("runbooks/fills.toml", FILLS);
    lab.adopt();
    let outside = tempfile::tempdir().unwrap();
    let ran = outside.path().join("ran.log");
    let fill = disk.path().join("fill");
    let op = jti(&submit(
        &lab,
        "claude",
        "fills",
        "web-1",
        &[
            &format!("log={}", ran.display()),
            &format!("fill={}", fill.display()),
        ],
    ));
    lab.ok(&["approve", "--yes", &op, "--as", "alice"]);
    // A reader's snapshot from before the run keeps the log from starting
    // over, so every write of the run must grow it.
    let reader = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    reader
        .execute_batch("BEGIN; SELECT COUNT(*) FROM ops;")
        .unwrap();

    let mut serve = Serve::start(&lab, outside.path().join("serve.log"));
    serve.waits_out_the_disk();
    assert_eq!(lab.state(&op), "running", "the run is cut short, not ended");

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    disk.free();
    serve.until_then_stop("the run did not resume once space was back", || {
        lab.state(&op) == "succeeded"
    });
    // Its result was never stored, so the idempotent step ran again.
    let runs = std::fs::read_to_string(&ran).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
    assert!(lab.ledger_verify(&[]).0, "the ledger verifies");
}
