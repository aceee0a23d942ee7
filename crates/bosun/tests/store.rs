//! The store cannot be swapped quietly: a workspace that keeps a ledger
//! refuses a lost database (every verb, nothing re-created) until it is
//! restored or deliberately re-initialised (`init --reinit`, recorded); and
//! a checkpoint kept outside the database (`ledger checkpoint --out`)
//! catches a truncated or forked ledger that verifies on its own.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use bosun_ledger::merkle::{Frontier, leaf_hash};
use common::*;

/// A lab with a few ops run and a checkpoint over all of them.
fn busy_lab() -> Lab {
    let lab = Lab::busy();
    lab.ok(&["ledger", "checkpoint"]);
    lab
}

/// Verbs that open the store: reads, writes and the daemons.
const VERBS: [&[&str]; 12] = [
    &["ops", "list"],
    &["ops", "list", "--json"],
    &["status"],
    &["hosts", "list"],
    &["ledger", "verify"],
    &["ledger", "checkpoint"],
    &["ledger", "checkpoints"],
    &["key", "list"],
    &[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
    ],
    &["work", "--until-idle"],
    &["serve", "--no-wait"],
    &["adopt", "--yes", "--as", "alice"],
];

/// Every verb that opens the store, tried on a workspace whose database is
/// lost: each fails with the named error, and `still` holds after each.
fn every_verb_refuses(lab: &Lab, still: &dyn Fn() -> bool, what: &str) {
    for args in VERBS {
        let o = lab.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(1),
            "bosun {args:?} on a {what} db: {err}"
        );
        assert!(
            err.contains(what)
                && err.contains("keys/ledger.jwk shows this workspace keeps a ledger"),
            "bosun {args:?}: {err}"
        );
        assert!(
            err.contains("bosun init --reinit") && err.contains("backup"),
            "the error says how to go on: {err}"
        );
        assert!(still(), "bosun {args:?} re-created the {what} database");
    }
}

#[test]
fn a_lost_database_is_refused_by_every_verb_until_reinit_records_it() {
    let lab = busy_lab();
    let kept = lab.tmp.path().join("kept.note");
    lab.ok(&["ledger", "checkpoint", "--out", kept.to_str().unwrap()]);
    let (ok, before) = lab.ledger_verify(&[]);
    assert!(ok, "{before}");
    assert_eq!(before["start"]["kind"], "ledger.initialised", "{before}");
    let db = lab.path(".bosun/bosun.db");

    // Truncated to 0 bytes (its write-ahead log left where it was).
    std::fs::File::create(&db).unwrap();
    let empty = || {
        std::fs::metadata(&db)
            .map(|m| m.len() == 0)
            .unwrap_or(false)
    };
    every_verb_refuses(&lab, &empty, "is empty (0 bytes)");

    // Re-initialised deliberately: recorded, naming the kept checkpoint.
    let out = lab.ok(&["init", "--reinit", "--previous", kept.to_str().unwrap()]);
    assert!(out.contains("found empty"), "{out}");
    assert!(out.contains(".lost-"), "the old file is kept: {out}");
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "{v}");
    assert_eq!(v["size"], 1, "{v}");
    assert_eq!(v["start"]["kind"], "ledger.reinitialised", "{v}");
    assert_eq!(v["start"]["found"], "empty", "{v}");
    assert_eq!(v["start"]["previous"]["size"], before["size"], "{v}");
    let human = lab.ok(&["ledger", "verify"]);
    assert!(human.contains("re-initialised"), "{human}");
    assert_eq!(lab.json(&["ops", "list", "--json"]), serde_json::json!([]));
    // The kept checkpoint still tells: the history it signed is gone.
    let (ok, v) = lab.ledger_verify(&["--trusted", kept.to_str().unwrap()]);
    assert!(!ok && v["mismatch"]["kind"] == "missing", "{v}");
    // Re-initialising over a ledger is refused.
    let o = lab.run(&["init", "--reinit"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to re-initialise"));

    // Deleted, with its log.
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let gone = || !db.exists();
    every_verb_refuses(&lab, &gone, "is missing");
    lab.ok(&["init", "--reinit"]);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "{v}");
    assert_eq!(v["start"]["found"], "missing", "{v}");
    assert!(v["start"]["previous"].is_null(), "{v}");

    // A database emptied of its ledger (schema kept) is refused too.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DELETE FROM ledger; DELETE FROM checkpoints; DELETE FROM ledger_tree; DELETE FROM ledger_frontier;",
    )
    .unwrap();
    drop(c);
    let o = lab.run(&["ops", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no ledger entries"));
}

#[test]
fn init_creates_the_database_before_the_key_and_a_fresh_workspace_works() {
    let lab = Lab::new();
    // `init` made both; later verbs open the database it made.
    assert!(lab.path(".bosun/bosun.db").exists());
    assert!(lab.path("keys/ledger.jwk").exists());
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok && v["checkpoints"].as_u64().unwrap() >= 1, "{v}");
    // A workspace made by the library alone (no key yet) still gets its
    // database on first use, and its key with the first checkpoint.
    let dir = lab.tmp.path().join("bare");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bosun.toml"), "name = \"bare\"\n").unwrap();
    let run = |args: &[&str]| {
        bin()
            .args(args)
            .env("BOSUN_WORKSPACE", &dir)
            .env("BOSUN_KEY_DIR", &lab.keys)
            .output()
            .unwrap()
    };
    assert!(run(&["ledger", "checkpoint"]).status.success());
    assert!(run(&["ledger", "verify"]).status.success());
}

/// Deletes the ledger's newest rows and checkpoints from `keep` on and
/// puts the frontier back to that size: what a careful forger does so
/// that plain `ledger verify` passes.
fn truncate_ledger(db: &std::path::Path, keep: u64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let entries: Vec<Vec<u8>> = c
        .prepare("SELECT entry FROM ledger WHERE idx < ?1 ORDER BY idx")
        .unwrap()
        .query_map([keep as i64], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut f = Frontier::default();
    for e in &entries {
        f.push(leaf_hash(e));
    }
    c.execute("DELETE FROM ledger WHERE idx >= ?1", [keep as i64])
        .unwrap();
    c.execute("DELETE FROM checkpoints WHERE size > ?1", [keep as i64])
        .unwrap();
    c.execute(
        "UPDATE ledger_frontier SET size = ?1, hashes = ?2",
        rusqlite::params![keep as i64, f.to_bytes()],
    )
    .unwrap();
}

#[test]
fn a_truncated_or_forked_ledger_is_caught_by_a_trusted_checkpoint() {
    let lab = busy_lab();
    let trusted = lab.tmp.path().join("trusted.note");
    let t = trusted.to_str().unwrap();
    lab.ok(&["ledger", "checkpoint", "--out", t]);
    let mirror = lab.tmp.path().join("mirror");
    lab.ok(&["ledger", "mirror", "--git", mirror.to_str().unwrap()]);
    let (ok, v) = lab.ledger_verify(&["--trusted", t]);
    assert!(ok, "{v}");
    assert_eq!(v["trusted"]["agreement"], "equal", "{v}");
    let signed = v["trusted"]["size"].as_u64().unwrap();
    // More work: the database extends the trusted log (proof checked).
    lab.json(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
        "--json",
    ]);
    lab.work();
    let (ok, v) = lab.ledger_verify(&["--trusted", t]);
    assert!(ok && v["trusted"]["agreement"] == "extends", "{v}");
    let (ok, v) = lab.ledger_verify(&["--trusted-mirror", mirror.to_str().unwrap()]);
    assert!(ok && v["trusted"]["agreement"] == "extends", "{v}");

    let db = lab.path(".bosun/bosun.db");
    let pristine = lab.tmp.path().join("pristine.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("VACUUM INTO ?1", [pristine.to_str().unwrap()])
        .unwrap();
    let fresh = || {
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        std::fs::copy(&pristine, &db).unwrap();
    };
    // The checkpoint sizes the forger can cut back to (older checkpoints
    // stay valid), the newest below the trusted size.
    let sizes: Vec<u64> = lab
        .json(&["ledger", "checkpoints", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    let keep = *sizes.iter().filter(|&&s| s < signed).max().unwrap();

    // Truncated: plain verify passes, the trusted checkpoint names the range.
    fresh();
    truncate_ledger(&db, keep);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "the forger's work verifies on its own: {v}");
    assert_eq!(v["size"], keep);
    for args in [
        ["--trusted", t],
        ["--trusted-mirror", mirror.to_str().unwrap()],
    ] {
        let (ok, v) = lab.ledger_verify(&args);
        assert!(!ok, "{v}");
        assert_eq!(v["check"], "trusted", "{v}");
        assert_eq!(v["mismatch"]["kind"], "missing", "{v}");
        assert_eq!(v["mismatch"]["first"], keep, "{v}");
        assert_eq!(v["mismatch"]["last"], signed - 1, "{v}");
        assert_eq!(v["index"], keep, "{v}");
    }
    let o = lab.run(&["ledger", "verify", "--trusted", t]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "the database holds {keep} entries but a trusted checkpoint signed {signed}: entries {keep} to {} are missing",
            signed - 1
        )),
        "{err}"
    );
    // And the rolled-back database cannot overwrite the kept checkpoint.
    let kept = std::fs::read(&trusted).unwrap();
    let o = lab.run(&["ledger", "checkpoint", "--out", t]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to replace it with an older one")
    );
    assert_eq!(std::fs::read(&trusted).unwrap(), kept);

    // Forked: the entries after `keep` edited and every hash recomputed,
    // the checkpoints over them deleted; same size as the trusted one.
    fresh();
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, Vec<u8>)> = c
        .prepare("SELECT idx, entry FROM ledger ORDER BY idx")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut f = Frontier::default();
    for (idx, mut entry) in rows.into_iter().take(signed as usize) {
        if idx as u64 == keep {
            entry = String::from_utf8(entry)
                .unwrap()
                .replacen("\"at\":", "\"at\": ", 1)
                .into_bytes();
        }
        let leaf = leaf_hash(&entry);
        f.push(leaf);
        c.execute(
            "UPDATE ledger SET entry = ?2, leaf = ?3, root = ?4 WHERE idx = ?1",
            rusqlite::params![idx, entry, &leaf[..], &f.root()[..]],
        )
        .unwrap();
    }
    c.execute("DELETE FROM ledger WHERE idx >= ?1", [signed as i64])
        .unwrap();
    c.execute("DELETE FROM checkpoints WHERE size > ?1", [keep as i64])
        .unwrap();
    c.execute(
        "UPDATE ledger_frontier SET size = ?1, hashes = ?2",
        rusqlite::params![signed as i64, f.to_bytes()],
    )
    .unwrap();
    drop(c);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "the forger's work verifies on its own: {v}");
    let (ok, v) = lab.ledger_verify(&["--trusted", t]);
    assert!(!ok && v["mismatch"]["kind"] == "forked", "{v}");
    assert_eq!(v["mismatch"]["size"], signed, "{v}");
    assert!(
        v["what"].as_str().unwrap().contains("another history"),
        "{v}"
    );

    // The untouched database passes against the same file.
    fresh();
    let (ok, v) = lab.ledger_verify(&["--trusted", t]);
    assert!(ok, "{v}");
}

#[test]
fn a_trusted_checkpoint_that_is_not_this_ledgers_is_refused() {
    let lab = busy_lab();
    let good = lab.tmp.path().join("good.note");
    lab.ok(&["ledger", "checkpoint", "--out", good.to_str().unwrap()]);
    let note = std::fs::read_to_string(&good).unwrap();
    let refused = |file: &std::path::Path, why: &str| {
        let (ok, v) = lab.ledger_verify(&["--trusted", file.to_str().unwrap()]);
        assert!(!ok, "{v}");
        assert_eq!(v["check"], "trusted_file", "{v}");
        assert!(v["what"].as_str().unwrap().contains(why), "{why}: {v}");
    };
    // A spoiled signature.
    let sig_line = note.lines().last().unwrap();
    let sig = sig_line.rsplit(' ').next().unwrap();
    let mut bytes = sig.as_bytes().to_vec();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let spoiled = note.replace(sig, std::str::from_utf8(&bytes).unwrap());
    let bad = lab.tmp.path().join("bad.note");
    std::fs::write(&bad, &spoiled).unwrap();
    refused(&bad, "not signed by this workspace's ledger key");
    // An edited size under a good signature.
    let lines: Vec<&str> = note.lines().collect();
    let edited = note.replacen(&format!("\n{}\n", lines[1]), "\n99999\n", 1);
    std::fs::write(&bad, &edited).unwrap();
    refused(&bad, "not signed by this workspace's ledger key");
    // Another workspace's checkpoint (its own key, same name).
    let other = Lab::new();
    let theirs = lab.tmp.path().join("theirs.note");
    other.ok(&["ledger", "checkpoint", "--out", theirs.to_str().unwrap()]);
    refused(&theirs, "not signed by this workspace's ledger key");
    // Not a note; too large.
    std::fs::write(&bad, "hello\n").unwrap();
    refused(&bad, "not a signed checkpoint");
    std::fs::write(&bad, "x".repeat(1 << 20)).unwrap();
    refused(&bad, "over the limit");
    // Nor is it accepted as the previous checkpoint of a re-initialisation,
    // and `checkpoint --out` does not overwrite it.
    std::fs::write(&bad, &spoiled).unwrap();
    let o = lab.run(&["ledger", "checkpoint", "--out", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a checkpoint of this ledger"));
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), spoiled);
    std::fs::remove_file(lab.path(".bosun/bosun.db")).unwrap();
    let o = lab.run(&["init", "--reinit", "--previous", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not signed by this workspace's ledger key")
    );
    assert!(
        !lab.path(".bosun/bosun.db").exists(),
        "nothing was re-created"
    );
}

/// A workspace renamed in `bosun.toml` is refused by every verb (the
/// name binds envelopes and checkpoints, and the file is not governed)
/// until the name its ledger began under is put back; nothing changes
/// meanwhile.
#[test]
fn a_renamed_workspace_is_refused_by_every_verb_until_its_name_is_back() {
    let lab = busy_lab();
    let toml = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
    assert!(toml.contains("name = \"lab\"\n"), "{toml}");
    let (ok, verified) = lab.ledger_verify(&[]);
    assert!(ok, "{verified}");
    let ops = lab.ok(&["ops", "list", "--json"]);
    lab.write(
        "bosun.toml",
        &toml.replace("name = \"lab\"", "name = \"prod\""),
    );
    for args in VERBS {
        let o = lab.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "bosun {args:?}: {err}");
        assert!(
            err.contains("names this workspace `prod`, but its ledger began as `lab`")
                && err.contains("Put `name = \"lab\"` back in bosun.toml"),
            "bosun {args:?}: {err}"
        );
    }

    lab.write("bosun.toml", &toml);
    let (ok, report) = lab.ledger_verify(&[]);
    assert!(ok, "{report}");
    assert_eq!(
        (&report["size"], &report["root"]),
        (&verified["size"], &verified["root"]),
        "a refused verb wrote to the ledger"
    );
    assert_eq!(lab.ok(&["ops", "list", "--json"]), ops, "nor to the ops");
    lab.ok(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
    ]);
}

/// A verb that only reads never migrates: on a database of an older
/// schema it says what does, and that verb migrates it.
#[test]
fn a_read_verb_on_an_older_schema_says_what_migrates_it() {
    let lab = Lab::new();
    let db = lab.path(".bosun/bosun.db");
    let version = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let now = version();
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", now - 1)
        .unwrap();
    let o = lab.run(&["status"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "has schema version {}, older than this bosun's ({now})",
            now - 1
        )) && err.contains("next: bosun serve"),
        "{err}"
    );
    assert_eq!(version(), now - 1, "a read migrated it");
    lab.work();
    assert_eq!(version(), now);
    lab.ok(&["status"]);
}
