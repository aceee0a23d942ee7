//! Trusted checkpoints: a signed checkpoint of this workspace's ledger
//! kept *outside* its database — a file written by
//! `bosun ledger checkpoint --out`, or the `checkpoint` file of a git
//! mirror — against which the database is checked.
//!
//! Whoever can write the database can delete its newest entries and
//! checkpoints and recompute what is left so that it verifies on its
//! own. A checkpoint held elsewhere cannot be rolled back with it:
//! [`compare`] reports a database smaller than the trusted checkpoint as
//! entries missing (naming the range), and one whose history does not
//! contain the trusted one (a different root at the trusted size, checked
//! with a consistency proof when the database is larger) as a fork.

use std::path::{Path, PathBuf};

use base64::Engine;
use bosun_ledger::merkle::{self, Frontier, Hash};
use bosun_ledger::note::NoteError;
use bosun_ledger::{Checkpoint, Note, NoteVerifier};
use serde::Serialize;

use crate::ledger::VerifyReport;
use crate::{Control, ControlError, Result};

/// The largest trusted checkpoint file read: a checkpoint note is a few
/// hundred bytes, one line per signature.
pub const MAX_TRUSTED_BYTES: u64 = 16 * 1024;

/// Why a trusted checkpoint could not be read or is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustedError {
    /// The file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than any checkpoint.
    #[error("{}: {size} bytes, over the limit of {MAX_TRUSTED_BYTES} for a checkpoint; refusing to read it", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not a checkpoint note.
    #[error("{}: not a signed checkpoint", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: NoteError,
    },
    /// The note's signature is not the workspace's ledger key's.
    #[error("{}: not signed by this workspace's ledger key {key}; refusing to trust it", path.display())]
    BadSignature {
        /// The file.
        path: PathBuf,
        /// The verifier key it was checked with.
        key: String,
        /// What failed.
        source: NoteError,
    },
    /// A checkpoint of another log.
    #[error("{}: a checkpoint of the log `{found}`, not of this workspace's `{expected}`", path.display())]
    WrongOrigin {
        /// The file.
        path: PathBuf,
        /// The origin it names.
        found: String,
        /// This workspace's name.
        expected: String,
    },
    /// Saving would replace a newer or different checkpoint with this one.
    #[error("{}: {why}; it was left unchanged", path.display())]
    WouldRollBack {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// A checkpoint read from outside the database, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCheckpoint {
    /// Where it was read from.
    pub source: PathBuf,
    /// Entries it covers.
    pub size: u64,
    /// Their root.
    pub root: Hash,
    /// The note, as read.
    pub note: String,
}

impl TrustedCheckpoint {
    /// The root, base64 (as in the note).
    pub fn root_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.root)
    }
}

/// Reads a trusted checkpoint from `path` (at most
/// [`MAX_TRUSTED_BYTES`]); a directory is taken to be a git mirror and
/// its `checkpoint` file is read. The note must be signed by `key` and
/// be a checkpoint of the log `origin`.
pub fn read(
    path: &Path,
    key: &NoteVerifier,
    origin: &str,
) -> std::result::Result<TrustedCheckpoint, TrustedError> {
    let path = if path.is_dir() {
        path.join("checkpoint")
    } else {
        path.to_path_buf()
    };
    let io = |source| TrustedError::Io {
        path: path.clone(),
        source,
    };
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(io)?;
        f.take(MAX_TRUSTED_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    if bytes.len() as u64 > MAX_TRUSTED_BYTES {
        let size = std::fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len());
        return Err(TrustedError::TooLarge { path, size });
    }
    parse(path, &bytes, key, origin)
}

fn parse(
    path: PathBuf,
    bytes: &[u8],
    key: &NoteVerifier,
    origin: &str,
) -> std::result::Result<TrustedCheckpoint, TrustedError> {
    let note = match Note::parse(bytes) {
        Ok(n) => n,
        Err(source) => return Err(TrustedError::Malformed { path, source }),
    };
    if let Err(source) = note.verify(std::slice::from_ref(key)) {
        return Err(TrustedError::BadSignature {
            path,
            key: key.to_string(),
            source,
        });
    }
    let cp = match Checkpoint::parse(&note.text) {
        Ok(c) => c,
        Err(source) => return Err(TrustedError::Malformed { path, source }),
    };
    if cp.origin != origin {
        return Err(TrustedError::WrongOrigin {
            path,
            found: cp.origin,
            expected: origin.to_string(),
        });
    }
    Ok(TrustedCheckpoint {
        source: path,
        size: cp.size,
        root: cp.root,
        note: String::from_utf8_lossy(bytes).into_owned(),
    })
}

/// How the database stands to a trusted checkpoint it agrees with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// The database is exactly the trusted log.
    Equal,
    /// The database extends the trusted log (a consistency proof from the
    /// trusted size to the database's checked).
    Extends,
}

impl Agreement {
    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Equal => "equal",
            Agreement::Extends => "extends",
        }
    }
}

/// How the database disagrees with a trusted checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// The database holds fewer entries than the trusted checkpoint signed.
    #[error(
        "the database holds {held} entries but a trusted checkpoint signed {signed}: entries {first} to {last} are missing ({count} entries; truncated or rolled back)"
    )]
    Missing {
        /// Entries in the database.
        held: u64,
        /// Entries the trusted checkpoint signed.
        signed: u64,
        /// The first missing index (`held`).
        first: u64,
        /// The last missing index (`signed - 1`).
        last: u64,
        /// How many are missing.
        count: u64,
    },
    /// The database's history is not the one the trusted checkpoint
    /// signed.
    #[error(
        "the database's first {size} entries hash to {held_root}, but the trusted checkpoint of size {size} signed {signed_root}: the database holds another history (a fork, or entries replaced and re-hashed)"
    )]
    Forked {
        /// The trusted checkpoint's size.
        size: u64,
        /// Entries in the database.
        held: u64,
        /// The root the trusted checkpoint signed (base64).
        signed_root: String,
        /// The root of the database's first `size` entries (base64).
        held_root: String,
    },
}

impl Mismatch {
    /// The first index that is not as trusted, when one can be named.
    pub fn index(&self) -> Option<u64> {
        match self {
            Mismatch::Missing { first, .. } => Some(*first),
            Mismatch::Forked { .. } => None,
        }
    }
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Checks a database that [`crate::ledger::verify`] passed (`report`)
/// against a trusted checkpoint: equal size and root; or larger, with a
/// consistency proof (from the stored subtree hashes) from the trusted
/// size and root to the database's verified root. Smaller is
/// [`Mismatch::Missing`]; a different history is [`Mismatch::Forked`].
pub fn compare(
    ctl: &Control,
    report: &VerifyReport,
    trusted: &TrustedCheckpoint,
) -> Result<std::result::Result<Agreement, Mismatch>> {
    let held = report.size;
    let signed = trusted.size;
    if signed > held {
        return Ok(Err(Mismatch::Missing {
            held,
            signed,
            first: held,
            last: signed - 1,
            count: signed - held,
        }));
    }
    let held_root = base64::engine::general_purpose::STANDARD
        .decode(&report.root)
        .ok()
        .and_then(|r| merkle::to_hash(&r).ok())
        .ok_or_else(|| {
            ControlError::Other(format!("verified root `{}` is not a hash", report.root))
        })?;
    if signed == held {
        return Ok(if held_root == trusted.root {
            Ok(Agreement::Equal)
        } else {
            Err(forked(trusted, held, held_root))
        });
    }
    if signed == 0 {
        return Ok(Ok(Agreement::Extends));
    }
    // Larger: prove the trusted log is a prefix of the database's. Stored
    // subtree hashes that do not add up fail the proof; then the root at
    // the trusted size is recomputed from the entries to say which.
    let proof = merkle::consistency_proof_from::<ControlError>(signed, held, &mut |l, i| {
        Ok(ctl.store.ledger_node(l, i)?.unwrap_or([0u8; 32]))
    })?;
    let proved = proof.is_some_and(|p| {
        merkle::verify_consistency(signed, held, &p, &trusted.root, &held_root).is_ok()
    });
    if proved {
        return Ok(Ok(Agreement::Extends));
    }
    let at = root_at(ctl, signed)?;
    if at == trusted.root {
        return Err(crate::hinted(
            format!(
                "the database's first {signed} entries match the trusted checkpoint, but its stored subtree hashes do not prove it"
            ),
            bosun_api::NextAction::LedgerVerify { full: true },
        ));
    }
    Ok(Err(forked(trusted, held, at)))
}

fn forked(trusted: &TrustedCheckpoint, held: u64, held_root: Hash) -> Mismatch {
    Mismatch::Forked {
        size: trusted.size,
        held,
        signed_root: trusted.root_b64(),
        held_root: b64(&held_root),
    }
}

/// The root of the first `size` stored entries, recomputed from them.
fn root_at(ctl: &Control, size: u64) -> Result<Hash> {
    const BATCH: usize = 50_000;
    let mut f = Frontier::default();
    while f.size() < size {
        let want = usize::try_from(size - f.size()).unwrap_or(BATCH).min(BATCH);
        let rows = ctl.store.ledger_rows(f.size(), want)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            f.push(merkle::leaf_hash(&r.entry));
        }
    }
    Ok(f.root())
}

/// Writes `note` (a checkpoint of this ledger, signed by `key`) to
/// `path` for safekeeping, atomically (a temporary file renamed over
/// it). When `path` already holds a checkpoint, the new one must not be
/// smaller and the database must prove it extends the old one — so a
/// rolled-back database can never overwrite the checkpoint that would
/// reveal it. A file there that is not a checkpoint of this ledger is
/// left alone, and so is anything when the new note does not verify.
pub fn save(
    ctl: &Control,
    path: &Path,
    note: &str,
    key: &NoteVerifier,
) -> Result<TrustedCheckpoint> {
    let origin = ctl.ws.config.name.as_str();
    let new = parse(path.to_path_buf(), note.as_bytes(), key, origin)?;
    if path.exists() {
        let old = read(path, key, origin).map_err(|e| TrustedError::WouldRollBack {
            path: path.to_path_buf(),
            why: format!(
                "it exists and is not a checkpoint of this ledger ({e}); remove it or choose another file"
            ),
        })?;
        let rollback = |why: String| -> ControlError {
            TrustedError::WouldRollBack {
                path: path.to_path_buf(),
                why,
            }
            .into()
        };
        if old.size > new.size {
            return Err(rollback(format!(
                "it holds a checkpoint of size {} and the database's newest is of size {}: refusing to replace it with an older one (verify the database against it)",
                old.size, new.size,
            )));
        }
        if old.size == new.size && old.root != new.root {
            return Err(rollback(format!(
                "it holds another checkpoint of size {} (a different root): the database's history differs from the saved one",
                old.size
            )));
        }
        if old.size > 0 && old.size < new.size {
            let proof =
                merkle::consistency_proof_from::<ControlError>(old.size, new.size, &mut |l, i| {
                    Ok(ctl.store.ledger_node(l, i)?.unwrap_or([0u8; 32]))
                })?;
            let ok = proof.is_some_and(|p| {
                merkle::verify_consistency(old.size, new.size, &p, &old.root, &new.root).is_ok()
            });
            if !ok {
                return Err(rollback(format!(
                    "the database's newest checkpoint (size {}) does not extend the saved one (size {}): verify the database against it",
                    new.size, old.size,
                )));
            }
        }
    }
    let io = |p: &Path, source| TrustedError::Io {
        path: p.to_path_buf(),
        source,
    };
    let tmp = {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".tmp");
        path.with_file_name(name)
    };
    std::fs::write(&tmp, note).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    Ok(new)
}
