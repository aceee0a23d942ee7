//! The ledger's git mirror: an ordinary git repository that anyone may
//! hold, extended only by the holder of the ledger key (the seed's
//! single-delegate state repo).
//!
//! Layout (stable; a file never changes once written):
//!
//! ```text
//! entries/000000/000000000042.json   entry 42, its canonical JSON, byte-exact
//! checkpoints/000000000057.note      each signed checkpoint (C2SP note)
//! checkpoint                         the latest one mirrored
//! ledger.vkey                        the ledger's verifier key, for convenience
//! ```
//!
//! One commit per checkpoint reached, whose message lists the `Jti:` of
//! every op in the batch and ends with `Checkpoint: <size> <root>`.
//! Mirroring is idempotent (it starts from the checkpoint in `HEAD`) and
//! resumes after an interruption (files written but not committed are
//! written again, identically). [`verify_git`] checks a mirror with no
//! database: it recomputes the tree from the entry files and checks every
//! checkpoint's signature and root.

use std::path::{Path, PathBuf};
use std::process::Command;

use bosun_ledger::merkle::{self, Frontier, Hash};
use bosun_ledger::{Checkpoint, Note, NoteVerifier};

use crate::ledger::{VerifyError, VerifyReport, verifier};
use crate::{Control, ControlError, Result};

fn err(msg: impl Into<String>) -> ControlError {
    ControlError::Other(msg.into())
}

/// The path of entry `idx` in a mirror.
pub fn entry_path(idx: u64) -> PathBuf {
    PathBuf::from(format!("entries/{:06}/{idx:012}.json", idx / 1000))
}

fn checkpoint_path(size: u64) -> PathBuf {
    PathBuf::from(format!("checkpoints/{size:012}.note"))
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bosun",
            "-c",
            "user.email=bosun@localhost",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .map_err(|e| err(format!("git: {e} (is git installed?)")))?;
    if !out.status.success() {
        return Err(err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What one [`mirror`] run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MirrorReport {
    /// Entries in the mirror before.
    pub from: u64,
    /// Entries in it now.
    pub to: u64,
    /// Commits made.
    pub commits: usize,
}

/// The checkpoint committed in the mirror's `HEAD`, if any.
fn mirrored(dir: &Path) -> Result<Option<(u64, Hash)>> {
    let has_head = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_head {
        return Ok(None);
    }
    let Ok(text) = git(dir, &["show", "HEAD:checkpoint"]) else {
        return Ok(None);
    };
    let note = Note::parse(text.as_bytes()).map_err(|e| err(format!("mirror checkpoint: {e}")))?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| err(format!("mirror checkpoint: {e}")))?;
    Ok(Some((cp.size, cp.root)))
}

/// Appends the entries and checkpoints recorded since the mirror's last
/// checkpoint to the git repository `dir` (created when missing), one
/// commit per checkpoint. Refuses a mirror that is not a prefix of this
/// ledger.
pub fn mirror(ctl: &Control, dir: &Path) -> Result<MirrorReport> {
    if !dir.join(".git").exists() {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        git(dir, &["init", "-q", "-b", "main"])?;
    }
    let start = mirrored(dir)?;
    let from = start.map_or(0, |s| s.0);
    let checkpoints = ctl.store.checkpoints()?;
    let rows = ctl.store.ledger_rows(0, usize::MAX)?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if usize::try_from(r.idx).ok() != Some(i) {
            return Err(crate::hinted(
                format!("ledger row {i} is out of place"),
                bosun_api::NextAction::LedgerVerify { full: false },
            ));
        }
        leaves.push(merkle::leaf_hash(&r.entry));
    }
    // Roots at each size of interest, in one walk over the leaves.
    let mut wanted: Vec<u64> = checkpoints.iter().map(|c| c.size).collect();
    wanted.extend(start.map(|s| s.0));
    let mut roots: std::collections::HashMap<u64, Hash> = Default::default();
    let mut walk = Frontier::default();
    for l in &leaves {
        walk.push(*l);
        if wanted.contains(&walk.size()) {
            roots.insert(walk.size(), walk.root());
        }
    }
    if let Some((size, root)) = start
        && size > 0
        && roots.get(&size) != Some(&root)
    {
        return Err(err(format!(
            "{} holds a checkpoint of size {size} that this ledger does not extend: it mirrors another ledger, or this one was changed",
            dir.display()
        )));
    }
    let vkey = verifier(&ctl.ws)?.to_string();
    std::fs::write(dir.join("ledger.vkey"), format!("{vkey}\n"))
        .map_err(|e| err(format!("ledger.vkey: {e}")))?;
    let mut done = from;
    let mut commits = 0;
    for cp in checkpoints.iter().filter(|c| c.size > from) {
        let n = usize::try_from(cp.size).unwrap_or(usize::MAX);
        if n > rows.len() || roots.get(&cp.size) != Some(&cp.root) {
            return Err(crate::hinted(
                format!(
                    "checkpoint of size {} does not match the stored entries",
                    cp.size
                ),
                bosun_api::NextAction::LedgerVerify { full: false },
            ));
        }
        let mut jtis: Vec<&str> = Vec::new();
        for r in &rows[usize::try_from(done).unwrap_or(usize::MAX)..n] {
            let p = dir.join(entry_path(u64::try_from(r.idx).unwrap_or(0)));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| err(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&p, &r.entry).map_err(|e| err(format!("{}: {e}", p.display())))?;
            if let Some(j) = r.jti.as_deref()
                && !jtis.contains(&j)
            {
                jtis.push(j);
            }
        }
        let cpp = dir.join(checkpoint_path(cp.size));
        if let Some(parent) = cpp.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&cpp, &cp.note).map_err(|e| err(format!("{}: {e}", cpp.display())))?;
        std::fs::write(dir.join("checkpoint"), &cp.note)
            .map_err(|e| err(format!("checkpoint: {e}")))?;
        let mut msg = format!(
            "ledger: entries {done}..{} (checkpoint {})\n\n",
            cp.size, cp.size
        );
        for j in &jtis {
            msg.push_str(&format!("Jti: {j}\n"));
        }
        msg.push_str(&format!(
            "Checkpoint: {} {}\n",
            cp.size,
            base64_of(&cp.root)
        ));
        git(dir, &["add", "-A"])?;
        git(dir, &["commit", "-q", "--no-verify", "-m", &msg])?;
        commits += 1;
        done = cp.size;
    }
    Ok(MirrorReport {
        from,
        to: done,
        commits,
    })
}

fn base64_of(h: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Checks a mirror with no database: the entry files, in order from 0,
/// recompute to the root of every checkpoint file, each signed by `key`;
/// `checkpoint` is the largest. `key` defaults to the mirror's own
/// `ledger.vkey` (then only integrity is shown, not who signed: pass the
/// key you trust).
pub fn verify_git(
    dir: &Path,
    key: Option<&NoteVerifier>,
    witnesses: &[NoteVerifier],
) -> Result<std::result::Result<VerifyReport, VerifyError>> {
    let key = match key {
        Some(k) => k.clone(),
        None => {
            let text = std::fs::read_to_string(dir.join("ledger.vkey"))
                .map_err(|e| err(format!("{}/ledger.vkey: {e}", dir.display())))?;
            NoteVerifier::parse(text.trim()).map_err(|e| err(e.to_string()))?
        }
    };
    let bad = |index: Option<u64>, what: String| Ok(Err(VerifyError { index, what }));
    // Checkpoints, by size.
    let mut cps: Vec<(u64, Hash, String)> = Vec::new();
    let cdir = dir.join("checkpoints");
    let rd = std::fs::read_dir(&cdir).map_err(|e| err(format!("{}: {e}", cdir.display())))?;
    for e in rd {
        let p = e.map_err(|e| err(e.to_string()))?.path();
        let text = std::fs::read_to_string(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
        let note = match Note::parse(text.as_bytes()) {
            Ok(n) => n,
            Err(e) => return bad(None, format!("{}: {e}", p.display())),
        };
        if let Err(e) = note.verify(std::slice::from_ref(&key)) {
            return bad(None, format!("{}: {e}", p.display()));
        }
        let cp = match Checkpoint::parse(&note.text) {
            Ok(c) => c,
            Err(e) => return bad(None, format!("{}: {e}", p.display())),
        };
        if p.file_name() != checkpoint_path(cp.size).file_name() {
            return bad(
                None,
                format!("{} holds the checkpoint of size {}", p.display(), cp.size),
            );
        }
        cps.push((cp.size, cp.root, text));
    }
    cps.sort_by_key(|c| c.0);
    let Some(last) = cps.last() else {
        return bad(None, "the mirror has no checkpoints".into());
    };
    // Each witness named must have cosigned the latest checkpoint.
    let mut cosigned = 0;
    if let Ok(n) = Note::parse(last.2.as_bytes()) {
        for w in witnesses {
            if !n
                .sigs
                .iter()
                .any(|s| s.name == w.name && s.key_id == w.key_id)
                || n.verify(std::slice::from_ref(w)).is_err()
            {
                return bad(
                    None,
                    format!(
                        "the latest checkpoint (size {}) has no valid cosignature by witness {}",
                        last.0, w.name
                    ),
                );
            }
            cosigned += 1;
        }
    }
    match std::fs::read_to_string(dir.join("checkpoint")) {
        Ok(t) if t == last.2 => {}
        _ => {
            return bad(
                None,
                format!(
                    "`checkpoint` is not the largest checkpoint (size {})",
                    last.0
                ),
            );
        }
    }
    let mut f = Frontier::default();
    let mut next = 0;
    for (size, root, _) in &cps {
        while f.size() < *size {
            let i = f.size();
            let p = dir.join(entry_path(i));
            let Ok(entry) = std::fs::read(&p) else {
                return bad(Some(i), format!("{} is missing", entry_path(i).display()));
            };
            f.push(merkle::leaf_hash(&entry));
        }
        if f.root() != *root {
            return bad(
                Some(next),
                format!(
                    "the entries up to {size} do not hash to the signed root of that checkpoint: one of the entry files from index {next} on was changed"
                ),
            );
        }
        next = *size;
    }
    // Nothing beyond the last checkpoint.
    if dir.join(entry_path(f.size())).exists() {
        return bad(
            Some(f.size()),
            format!(
                "entry {} is not covered by any checkpoint: it was added",
                f.size()
            ),
        );
    }
    Ok(Ok(VerifyReport {
        size: f.size(),
        root: base64_of(&f.root()),
        checkpoints: cps.len(),
        cosignatures: cosigned,
        latest: cps.last().map(|c| (c.0, c.2.clone())),
    }))
}
