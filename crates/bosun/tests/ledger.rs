//! The ledger end to end: checkpoints signed as the controller works,
//! inclusion proofs checked offline with nothing but the verifier key, and
//! `ledger verify` failing — naming the first bad index — on every kind of
//! tampering with the SQLite file, at random positions.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use bosun_ledger::merkle::{Frontier, leaf_hash};
use common::*;

#[test]
fn proofs_verify_offline_and_tampered_proofs_do_not() {
    let lab = Lab::busy();
    let cps = lab.json(&["ledger", "checkpoints", "--json"]);
    assert!(
        !cps.as_array().unwrap().is_empty(),
        "`work` signs a checkpoint"
    );
    let note = cps[0]["note"].as_str().unwrap();
    assert!(note.starts_with("lab\n"), "origin is the workspace: {note}");
    assert!(note.contains("\n\n\u{2014} lab "), "{note}");
    let jti = lab.json(&["ops", "list", "--json"])[0]["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let proofs = lab.ok(&["ledger", "prove", &jti, "--checkpoint"]);
    let parsed: serde_json::Value = serde_json::from_str(&proofs).unwrap();
    assert!(
        parsed.as_array().unwrap().len() >= 4,
        "every entry of the op"
    );
    assert!(parsed[0]["entry"].as_str().unwrap().contains(&jti));
    // Offline: a directory with the proof and the published verifier key
    // only; no workspace.
    let away = lab.tmp.path().join("auditor");
    std::fs::create_dir_all(&away).unwrap();
    std::fs::write(away.join("proof.json"), &proofs).unwrap();
    std::fs::copy(lab.path("keys/ledger.vkey"), away.join("ledger.vkey")).unwrap();
    let check = |file: &str| {
        bin()
            .current_dir(&away)
            .env_remove("BOSUN_WORKSPACE")
            .args(["ledger", "verify-proof", file, "--key", "ledger.vkey"])
            .output()
            .unwrap()
    };
    let o = check("proof.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ok  entry "));
    // A proof of an edited entry fails.
    let forged = proofs.replacen("pkg-upgrade", "pkg-downgrade", 1);
    assert_ne!(forged, proofs);
    std::fs::write(away.join("forged.json"), forged).unwrap();
    let o = check("forged.json");
    assert!(!o.status.success());
    // A consistency proof between two checkpoints, checked offline; and an
    // inclusion proof against the older one.
    let cps = lab.json(&["ledger", "checkpoints", "--json"]);
    let sizes: Vec<u64> = cps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    assert!(sizes.len() >= 2, "{sizes:?}");
    let c = lab.ok(&["ledger", "consistency", "--from", &sizes[0].to_string()]);
    std::fs::write(away.join("consistency.json"), &c).unwrap();
    let o = check("consistency.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("extends the log of size"));
    let mut forged: serde_json::Value = serde_json::from_str(&c).unwrap();
    if let Some(first) = forged["proof"].as_array_mut().and_then(|a| a.first_mut()) {
        *first = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    } else {
        forged["proof"] = serde_json::json!(["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]);
    }
    std::fs::write(away.join("forged-c.json"), forged.to_string()).unwrap();
    assert!(!check("forged-c.json").status.success());
    let old = lab.ok(&[
        "ledger",
        "prove",
        "--index",
        "0",
        "--at",
        &sizes[0].to_string(),
    ]);
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    assert_eq!(old[0]["tree_size"], sizes[0]);
    // Everything above was checked without the database; now it is gone.
    std::fs::remove_dir_all(lab.path(".bosun")).unwrap();
    assert!(check("proof.json").status.success());
    // So does one checked with another key.
    let o = bin()
        .current_dir(&away)
        .args([
            "ledger",
            "verify-proof",
            "proof.json",
            "--key",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no signature by a known key"));
}

/// A tiny deterministic generator, so a failure names its seed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn verify_names_the_first_bad_index_for_every_kind_of_tampering() {
    let lab = Lab::busy();
    lab.ok(&["ledger", "checkpoint"]);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "an untouched ledger verifies: {v}");
    let n = v["size"].as_u64().unwrap();
    assert!(n > 20, "{v}");
    let db = lab.path(".bosun/bosun.db");
    let pristine = lab.tmp.path().join("pristine.db");
    // A standalone copy (the live file has a WAL beside it).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("VACUUM INTO ?1", [pristine.to_str().unwrap()])
        .unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let fresh = || {
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        std::fs::copy(&pristine, &db).unwrap();
        rusqlite::Connection::open(&db).unwrap()
    };
    for round in 0..3 {
        // 1. Edit an entry's bytes.
        let k = rng.below(n);
        let c = fresh();
        c.execute(
            "UPDATE ledger SET entry = CAST(replace(CAST(entry AS TEXT), '\"at\":', '\"at\": ') AS BLOB) WHERE idx = ?1",
            [k as i64],
        )
        .unwrap();
        drop(c);
        let (ok, v) = lab.ledger_verify(&[]);
        assert!(
            !ok && v["index"] == k,
            "seed {seed} round {round}: edit at {k}: {v}"
        );

        // 2. Delete a row.
        let k = rng.below(n);
        let c = fresh();
        c.execute("DELETE FROM ledger WHERE idx = ?1", [k as i64])
            .unwrap();
        drop(c);
        let (ok, v) = lab.ledger_verify(&[]);
        assert!(!ok && v["index"] == k, "seed {seed}: delete at {k}: {v}");

        // 3. Insert a row (a copy of another entry) at k, renumbering the rest.
        let k = rng.below(n);
        let c = fresh();
        c.execute_batch(&format!(
            "UPDATE ledger SET idx = -idx - 1 WHERE idx >= {k};
             UPDATE ledger SET idx = -idx WHERE idx < 0;
             INSERT INTO ledger (idx, jti, kind, key, entry, leaf, root)
               SELECT {k}, jti, kind, key || 'x', entry, leaf, root FROM ledger WHERE idx = 0;"
        ))
        .unwrap();
        drop(c);
        let (ok, v) = lab.ledger_verify(&[]);
        assert!(!ok && v["index"] == k, "seed {seed}: insert at {k}: {v}");

        // 4. Swap two rows (reorder).
        let i = rng.below(n - 1);
        let j = i + 1 + rng.below(n - i - 1);
        let c = fresh();
        c.execute_batch(&format!(
            "UPDATE ledger SET idx = -1 WHERE idx = {i};
             UPDATE ledger SET idx = {i} WHERE idx = {j};
             UPDATE ledger SET idx = {j} WHERE idx = -1;"
        ))
        .unwrap();
        drop(c);
        let (ok, v) = lab.ledger_verify(&[]);
        assert!(!ok && v["index"] == i, "seed {seed}: swap {i} and {j}: {v}");
    }

    // 5. A careful forger edits an entry and recomputes every stored hash
    //    after it: only the signed checkpoints can tell, and they do.
    let k = rng.below(n);
    let c = fresh();
    let rows: Vec<(i64, Vec<u8>)> = c
        .prepare("SELECT idx, entry FROM ledger ORDER BY idx")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut f = Frontier::default();
    for (idx, mut entry) in rows {
        if idx as u64 == k {
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
    drop(c);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(!ok, "seed {seed}: forged hashes at {k}: {v}");
    let named = v["index"].as_u64().unwrap();
    assert!(named <= k, "the range named starts at or before {k}: {v}");
    assert!(v["what"].as_str().unwrap().contains("signed root"), "{v}");

    // 6. A checkpoint signed by another key is refused with the reason.
    let c = fresh();
    c.execute(
        "UPDATE checkpoints SET note = replace(note, '\u{2014} lab ', '\u{2014} lab2 ')",
        [],
    )
    .unwrap();
    drop(c);
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(
        !ok && v["what"].as_str().unwrap().contains("known key"),
        "{v}"
    );

    // And the pristine copy still verifies.
    drop(fresh());
    assert!(lab.ledger_verify(&[]).0);
}

#[test]
fn a_witness_cosigns_and_a_bad_cosignature_is_refused() {
    let lab = Lab::busy();
    let key = lab.tmp.path().join("witness.key");
    let vkey = lab.ok(&[
        "ledger",
        "witness-key",
        "backup.lan/witness",
        "--out",
        key.to_str().unwrap(),
    ]);
    let vkey = vkey.trim().to_string();
    assert!(vkey.starts_with("backup.lan/witness+"), "{vkey}");
    // Naming a witness that has not cosigned fails.
    let o = lab.run(&["ledger", "verify", "--witness", &vkey, "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["what"]
            .as_str()
            .unwrap()
            .contains("no cosignature by witness"),
        "{v}"
    );
    lab.ok(&["ledger", "cosign", "--key", key.to_str().unwrap()]);
    let (ok, v) = {
        let o = lab.run(&["ledger", "verify", "--witness", &vkey, "--json"]);
        (
            o.status.success(),
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        )
    };
    assert!(ok && v["cosignatures"] == 1, "{v}");
    let cps = lab.json(&["ledger", "checkpoints", "--json"]);
    let last = cps.as_array().unwrap().last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(last.contains("\u{2014} backup.lan/witness "), "{last}");
    // Spoil the cosignature in the file: verification names the witness.
    let db = lab.path(".bosun/bosun.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let sig_line = last.lines().last().unwrap().to_string();
    let sig = sig_line.rsplit(' ').next().unwrap().to_string();
    let mut bytes = sig.into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let spoiled = sig_line.replace(
        sig_line.rsplit(' ').next().unwrap(),
        &String::from_utf8(bytes).unwrap(),
    );
    c.execute(
        "UPDATE checkpoints SET note = replace(note, ?1, ?2)",
        [sig_line.as_str(), spoiled.as_str()],
    )
    .unwrap();
    drop(c);
    let o = lab.run(&["ledger", "verify", "--witness", &vkey, "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["what"]
            .as_str()
            .unwrap()
            .contains("witness backup.lan/witness"),
        "{v}"
    );
    // A world-readable witness key is refused.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = lab.run(&["ledger", "cosign", "--key", key.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
}

fn git_log(dir: &std::path::Path) -> Vec<String> {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "--format=%B%x00"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split('\0')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn the_git_mirror_round_trips_idempotently_and_is_checked_without_a_database() {
    let lab = Lab::busy();
    let mirror = lab.tmp.path().join("mirror");
    let m = mirror.to_str().unwrap();
    let r = lab.json(&["ledger", "mirror", "--git", m, "--json"]);
    assert!(r["commits"].as_u64().unwrap() >= 1, "{r}");
    let size = r["to"].as_u64().unwrap();
    let log = git_log(&mirror);
    assert!(log[0].contains("Jti: "), "{}", log[0]);
    assert!(
        log[0].contains(&format!("Checkpoint: {size} ")),
        "{}",
        log[0]
    );
    // Twice: nothing new.
    let again = lab.json(&["ledger", "mirror", "--git", m, "--json"]);
    assert_eq!(again["commits"], 0);
    assert_eq!(git_log(&mirror).len(), log.len());
    // More work, then an interrupted mirror (files written, no commit):
    // the next run finishes it.
    let s = lab.json(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
        "--json",
    ]);
    lab.work();
    let jti = s["jti"].as_str().unwrap();
    lab.ok(&["ledger", "mirror", "--git", m]);
    let c = std::process::Command::new("git")
        .arg("-C")
        .arg(&mirror)
        .args(["reset", "-q", "--soft", "HEAD~1"])
        .status()
        .unwrap();
    assert!(c.success());
    let r = lab.json(&["ledger", "mirror", "--git", m, "--json"]);
    assert_eq!(r["commits"], 1, "{r}");
    let log = git_log(&mirror);
    assert!(log[0].contains(&format!("Jti: {jti}")), "{}", log[0]);
    // Verified from the files alone, with the key given.
    let vkey = std::fs::read_to_string(lab.path("keys/ledger.vkey")).unwrap();
    let check = || {
        bin()
            .env_remove("BOSUN_WORKSPACE")
            .args([
                "ledger",
                "verify",
                "--git",
                m,
                "--key",
                vkey.trim(),
                "--json",
            ])
            .output()
            .unwrap()
    };
    let o = check();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // An edited entry file is caught, with the range it lies in.
    let p = mirror.join("entries/000000/000000000003.json");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replacen("\"at\":", "\"at\": ", 1)).unwrap();
    let o = check();
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["index"].as_u64().unwrap() <= 3, "{v}");
    std::fs::write(&p, text).unwrap();
    assert!(check().status.success());
    // A mirror of another ledger is refused.
    let other = Lab::new();
    let o = other.run(&["ledger", "checkpoint"]);
    assert!(o.status.success());
    let o = other.run(&["ledger", "mirror", "--git", m]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not extend"));
}

#[test]
fn a_checkpoint_inconsistent_with_the_last_is_never_signed() {
    let lab = Lab::busy();
    lab.ok(&["ledger", "checkpoint"]);
    let before = lab.json(&["ledger", "checkpoints", "--json"]);
    // Spoil the stored subtree hashes the consistency proof is built from.
    let c = rusqlite::Connection::open(lab.path(".bosun/bosun.db")).unwrap();
    c.execute("UPDATE ledger_tree SET hash = zeroblob(32)", [])
        .unwrap();
    drop(c);
    lab.json(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
        "--json",
    ]);
    let o = lab.run(&["ledger", "checkpoint"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to sign"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lab.json(&["ledger", "checkpoints", "--json"]), before);
    // `verify` checks the log; `verify --full` also the subtree hashes.
    let o = lab.run(&["ledger", "verify", "--full", "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["what"].as_str().unwrap().contains("subtree hash"), "{v}");
}
