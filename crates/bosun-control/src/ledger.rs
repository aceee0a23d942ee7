//! The ledger's life: its signing key, checkpoints, verification and
//! proofs. Entries are written by the store with the state changes they
//! record (see `bosun-store`); this module signs C2SP checkpoints over
//! them with the workspace's ledger key (never one inconsistent with the
//! previous checkpoint), recomputes and checks everything in
//! [`verify`], and makes and checks inclusion proofs.
//!
//! The ledger key's private half lives in the key directory as
//! `<workspace>-ledger`; its public half is published as
//! `keys/ledger.jwk`, and its C2SP verifier key (`<name>+<id>+<key>`, the
//! form every tlog tool reads) as `keys/ledger.vkey`. The note key name
//! and the checkpoint origin are the workspace's name.

use std::path::Path;

use base64::Engine;
use bosun_ledger::merkle::{self, Frontier, Hash};
use bosun_ledger::{Checkpoint, Note, NoteSigner, NoteVerifier};
use bosun_store::{LedgerRow, StoredCheckpoint};
use bosun_workspace::Workspace;
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, Result, now};

/// Where the ledger key's public JWK is published.
pub const PUBLIC_JWK: &str = "keys/ledger.jwk";
/// Where its C2SP verifier key is published.
pub const PUBLIC_VKEY: &str = "keys/ledger.vkey";

pub(crate) fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

pub(crate) fn err(msg: impl Into<String>) -> ControlError {
    ControlError::Other(msg.into())
}

/// The key file name of a workspace's ledger key.
pub fn key_name(ws: &Workspace) -> String {
    format!("{}-ledger", ws.config.name)
}

/// The ledger's signer: loaded from `key_dir`, or created there (and
/// published in `keys/`) when the workspace has no ledger key yet.
pub fn signer(ws: &Workspace, key_dir: &Path) -> Result<NoteSigner> {
    let name = key_name(ws);
    let origin = ws.config.name.as_str();
    let published = ws.root.join(PUBLIC_JWK);
    let secret = match bosun_sign::find_private_key(key_dir, &name) {
        Ok(k) => k,
        Err(_) if !published.exists() => {
            let k = bosun_sign::SecretKey::generate()?;
            bosun_sign::write_private_key(key_dir, &name, &k)?;
            k
        }
        Err(e) => {
            return Err(err(format!(
                "this workspace's ledger key `{name}` is not in {} ({e}); only the controller that holds it signs checkpoints",
                key_dir.display()
            )));
        }
    };
    let s = NoteSigner::new(origin, secret).map_err(|e| err(e.to_string()))?;
    let jwk = serde_json::to_string_pretty(&s.verifier().key.to_jwk(&name))
        .map_err(|e| err(e.to_string()))?;
    if published.exists() {
        let v = verifier(ws)?;
        if v != s.verifier() {
            return Err(err(format!(
                "the ledger key `{name}` in {} is not the one published in {PUBLIC_JWK}",
                key_dir.display()
            )));
        }
    } else {
        if let Some(dir) = published.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(&published, format!("{jwk}\n"))
            .map_err(|e| err(format!("{}: {e}", published.display())))?;
        std::fs::write(ws.root.join(PUBLIC_VKEY), format!("{}\n", s.verifier()))
            .map_err(|e| err(format!("{PUBLIC_VKEY}: {e}")))?;
    }
    Ok(s)
}

/// The published ledger key, as a note verifier.
pub fn verifier(ws: &Workspace) -> Result<NoteVerifier> {
    let p = ws.root.join(PUBLIC_JWK);
    let text = bosun_workspace::read_file(&p).map_err(|e| {
        err(format!(
            "{e} (the ledger key is created with the first checkpoint)"
        ))
    })?;
    let jwk = bosun_sign::parse_jwk(&text)?;
    let key = bosun_sign::PublicKey::from_jwk(&jwk)?;
    NoteVerifier::new(ws.config.name.as_str(), key).map_err(|e| err(e.to_string()))
}

/// Signs a checkpoint over the current ledger if it grew since the last
/// one. Its root is the one stored with the newest entry (computed in the
/// transaction that appended it); before signing, a consistency proof from
/// the last checkpoint is built from the stored subtree hashes and must
/// verify — bosun never signs a checkpoint inconsistent with its previous
/// one. O(log n): it reads no entry but the newest. Returns it, or `None`
/// when nothing new was recorded.
pub fn checkpoint(ctl: &Control, signer: &NoteSigner) -> Result<Option<StoredCheckpoint>> {
    let size = ctl.store.ledger_size()?;
    let last = ctl.store.checkpoints()?.pop();
    if size == 0 || last.as_ref().is_some_and(|l| l.size >= size) {
        return Ok(None);
    }
    let Some(tip) = ctl.store.ledger_rows(size - 1, 1)?.pop() else {
        return Err(crate::hinted(
            "refusing to sign: the newest ledger entry is missing",
            bosun_api::NextAction::LedgerVerify { full: true },
        ));
    };
    let root = merkle::to_hash(&tip.root).map_err(|e| err(format!("stored root: {e}")))?;
    if let Some(l) = &last {
        let proof = merkle::consistency_proof_from::<ControlError>(l.size, size, &mut |lv, ix| {
            ctl.store.ledger_node(lv, ix)?.ok_or_else(|| {
                crate::hinted(
                    format!("refusing to sign: ledger node {lv}/{ix} is missing"),
                    bosun_api::NextAction::LedgerVerify { full: true },
                )
            })
        })?
        .ok_or_else(|| err("refusing to sign: the ledger is smaller than its last checkpoint"))?;
        merkle::verify_consistency(l.size, size, &proof, &l.root, &root).map_err(|e| {
            crate::hinted(
                format!(
                    "refusing to sign a checkpoint inconsistent with the last one (size {}): {e}",
                    l.size
                ),
                bosun_api::NextAction::LedgerVerify { full: true },
            )
        })?;
    }
    let cp = Checkpoint {
        origin: ctl.ws.config.name.to_string(),
        size,
        root,
        extensions: Vec::new(),
    };
    let note = bosun_ledger::note::sign(&cp.text(), &[signer]).map_err(|e| err(e.to_string()))?;
    let stored = StoredCheckpoint {
        size,
        root,
        note: note.encode(),
        at: now(),
    };
    ctl.store.add_checkpoint(&stored)?;
    Ok(Some(stored))
}

/// Adds a cosignature (a witness's, say) to a stored checkpoint note: the
/// note must already verify with the ledger key. Returns the new note.
pub fn cosign(note: &str, ledger: &NoteVerifier, witness: &NoteSigner) -> Result<String> {
    let mut n = Note::parse(note.as_bytes()).map_err(|e| err(e.to_string()))?;
    n.verify(std::slice::from_ref(ledger))
        .map_err(|e| err(format!("not a checkpoint of this ledger: {e}")))?;
    n.sigs
        .retain(|s| s.name != witness.name || s.key_id != witness.key_id);
    n.sigs.push(witness.sign(&n.text));
    Ok(n.encode())
}

/// A witness cosigns the latest checkpoint of this workspace's ledger,
/// after checking the whole ledger ([`verify`]) with the ledger key.
/// Returns the size cosigned.
pub fn cosign_latest(ctl: &Control, ledger: &NoteVerifier, witness: &NoteSigner) -> Result<u64> {
    let report = match verify(ctl, ledger, &[])? {
        Ok(r) => r,
        Err(e) => return Err(err(format!("refusing to cosign: {e}"))),
    };
    let Some(cp) = ctl.store.checkpoints()?.pop() else {
        return Err(err("no checkpoint to cosign yet"));
    };
    // Only the checkpoint that was just verified.
    if Some((cp.size, cp.note.as_str())) != report.latest.as_ref().map(|(s, n)| (*s, n.as_str())) {
        return Err(crate::hinted(
            "a new checkpoint was signed while verifying; cosign again",
            bosun_api::NextAction::LedgerCosign,
        ));
    }
    let note = cosign(&cp.note, ledger, witness)?;
    ctl.store.set_checkpoint_note(cp.size, &note)?;
    Ok(cp.size)
}

/// Reads a note signer key: Go's `PRIVATE+KEY+<name>+<id>+<key>`, from a
/// file (which must not be readable by group or others) or as given.
pub fn witness_signer(arg: &str) -> Result<NoteSigner> {
    let p = Path::new(arg);
    let text = if p.is_file() {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(p).map_err(|e| err(format!("{arg}: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err(format!(
                "{arg} is readable by others: chmod 600 {arg} (a signing key must be private)"
            )));
        }
        std::fs::read_to_string(p).map_err(|e| err(format!("{arg}: {e}")))?
    } else {
        arg.to_string()
    };
    NoteSigner::parse(text.trim()).map_err(|e| err(e.to_string()))
}

/// A new witness key: `(private PRIVATE+KEY+… string, public verifier)`.
pub fn new_witness_key(name: &str) -> Result<(String, NoteVerifier)> {
    let k = bosun_sign::SecretKey::generate()?;
    let seed = k.seed();
    let s = NoteSigner::new(name, k).map_err(|e| err(e.to_string()))?;
    let mut raw = vec![0x01u8];
    raw.extend_from_slice(&seed);
    Ok((
        format!("PRIVATE+KEY+{name}+{:08x}+{}", s.key_id, b64(&raw)),
        s.verifier(),
    ))
}

/// What [`verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries.
    pub size: u64,
    /// Root of the whole tree.
    pub root: String,
    /// Checkpoints whose signature, size and root were checked.
    pub checkpoints: usize,
    /// Witness cosignatures checked.
    pub cosignatures: usize,
    /// The latest checkpoint verified: its size and note.
    #[serde(skip)]
    pub latest: Option<(u64, String)>,
}

/// A failed verification: the first bad index (when one can be named) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("ledger verification failed{}: {what}", .index.map(|i| format!(" at index {i}")).unwrap_or_default())]
pub struct VerifyError {
    /// The first index that is not what was recorded.
    pub index: Option<u64>,
    /// What is wrong.
    pub what: String,
}

/// Recomputes the tree from the stored entries and checks every stored
/// hash, every checkpoint's signature (with `key`), size and root, and
/// that the checkpoints are consistent with each other. Any edit,
/// deletion, insertion or reordering of a stored row fails, naming the
/// first bad index.
pub fn verify(
    ctl: &Control,
    key: &NoteVerifier,
    witnesses: &[NoteVerifier],
) -> Result<std::result::Result<VerifyReport, VerifyError>> {
    // One consistent view while a controller keeps appending: checkpoints
    // first, then the size (never below any checkpoint read), then the
    // rows up to that size; rows appended meanwhile are not looked at.
    let checkpoints = ctl.store.checkpoints()?;
    let recorded_size = ctl.store.ledger_size()?;
    let mut fetch = |from: u64, limit: usize| {
        ctl.store
            .ledger_rows(from, limit)
            .map_err(|e| e.to_string())
    };
    let r = verify_rows(
        &mut fetch,
        recorded_size,
        &checkpoints,
        key,
        witnesses,
        ctl.ws.config.name.as_str(),
    );
    let r = match r {
        Ok(r) => r,
        Err(RowsError::Store(e)) => return Err(err(e)),
        Err(RowsError::Bad(e)) => return Ok(Err(e)),
    };
    let beyond = !ctl.store.ledger_rows(recorded_size, 1)?.is_empty();
    if beyond && ctl.store.ledger_size()? == recorded_size {
        // A row past the recorded size that no append accounts for.
        return Ok(Err(bad(
            recorded_size,
            "a row beyond the ledger's recorded size: it was added",
        )));
    }
    Ok(Ok(r))
}

/// Why [`verify_rows`] stopped: the store failed, or the ledger is bad.
#[derive(Debug)]
pub enum RowsError {
    /// Reading rows failed.
    Store(String),
    /// Verification failed.
    Bad(VerifyError),
}

impl From<VerifyError> for RowsError {
    fn from(e: VerifyError) -> Self {
        RowsError::Bad(e)
    }
}

/// Rows read per batch while verifying (memory stays bounded).
const VERIFY_BATCH: usize = 50_000;

/// Recomputes every stored subtree hash (the index that proofs and
/// checkpoints are built from) and compares: `bosun ledger verify --full`.
pub fn verify_nodes(ctl: &Control) -> Result<std::result::Result<(), VerifyError>> {
    let size = ctl.store.ledger_size()?;
    let rows = ctl
        .store
        .ledger_rows(0, usize::try_from(size).unwrap_or(usize::MAX))?;
    let mut f = Frontier::default();
    let mut mismatch: Option<(u32, u64)> = None;
    for r in &rows {
        let mut nodes = Vec::new();
        f.push_nodes(merkle::leaf_hash(&r.entry), |l, i, h| {
            nodes.push((l, i, *h))
        });
        for (l, i, h) in nodes {
            if ctl.store.ledger_node(l, i)? != Some(h) {
                mismatch = Some((l, i));
                break;
            }
        }
        if mismatch.is_some() {
            break;
        }
    }
    Ok(match mismatch {
        None => Ok(()),
        Some((l, i)) => Err(VerifyError {
            index: Some(i << l),
            what: format!(
                "the stored subtree hash {l}/{i} (entries {}..{}) is wrong: proofs and checkpoints built from it fail",
                i << l,
                (i + 1) << l
            ),
        }),
    })
}

fn bad(index: u64, what: impl Into<String>) -> VerifyError {
    VerifyError {
        index: Some(index),
        what: what.into(),
    }
}

/// The first row in `from..to` whose stored root differs from the root
/// recomputed over `leaves` (the tree after that row), if any.
fn first_bad_root(
    fetch: &mut dyn FnMut(u64, usize) -> std::result::Result<Vec<LedgerRow>, String>,
    leaves: &[Hash],
    from: usize,
    to: usize,
) -> std::result::Result<Option<usize>, RowsError> {
    let to = to.min(leaves.len());
    let mut f = Frontier::default();
    for l in &leaves[..from.min(to)] {
        f.push(*l);
    }
    let mut i = from;
    while i < to {
        let batch = fetch(i as u64, VERIFY_BATCH.min(to - i)).map_err(RowsError::Store)?;
        if batch.is_empty() {
            return Ok(Some(i));
        }
        for r in &batch {
            if i >= to {
                break;
            }
            f.push(leaves[i]);
            if r.root != f.root() {
                return Ok(Some(i));
            }
            i += 1;
        }
    }
    Ok(None)
}

/// Checks rows that start at position `offset`: contiguous indexes, leaf
/// hashes, index columns. Returns their leaf hashes or the first bad row.
fn check_rows(rows: &[LedgerRow], offset: usize) -> std::result::Result<Vec<Hash>, VerifyError> {
    #[derive(Deserialize)]
    struct Cols<'a> {
        #[serde(borrow)]
        jti: Option<&'a str>,
        #[serde(borrow)]
        kind: &'a str,
    }
    let mut out = Vec::with_capacity(rows.len());
    for (k, r) in rows.iter().enumerate() {
        let i = u64::try_from(offset + k).unwrap_or(u64::MAX);
        if u64::try_from(r.idx).ok() != Some(i) {
            return Err(bad(
                i,
                format!(
                    "the row at position {i} has index {}: an entry was deleted, inserted or renumbered",
                    r.idx
                ),
            ));
        }
        let leaf = merkle::leaf_hash(&r.entry);
        if r.leaf != leaf {
            return Err(bad(
                i,
                "the entry does not match its leaf hash: it was edited",
            ));
        }
        match serde_json::from_slice::<Cols<'_>>(&r.entry) {
            Ok(c) if c.jti == r.jti.as_deref() && c.kind == r.kind => {}
            Ok(_) => {
                return Err(bad(
                    i,
                    "the row's jti or kind column differs from its entry",
                ));
            }
            Err(e) => return Err(bad(i, format!("the entry is not a ledger entry: {e}"))),
        }
        out.push(leaf);
    }
    Ok(out)
}

/// [`verify`] over rows and checkpoints already read.
///
/// One pass hashes every entry (checking it against its stored leaf hash
/// and its index columns) and computes the root at each checkpoint's size;
/// the stored per-row roots are then compared where the signatures cannot
/// vouch for the rows (after the last checkpoint) and where a checkpoint's
/// root does not match (to name the first bad row).
pub fn verify_rows(
    fetch: &mut dyn FnMut(u64, usize) -> std::result::Result<Vec<LedgerRow>, String>,
    recorded_size: u64,
    checkpoints: &[StoredCheckpoint],
    key: &NoteVerifier,
    witnesses: &[NoteVerifier],
    origin: &str,
) -> std::result::Result<VerifyReport, RowsError> {
    let mut frontier = Frontier::default();
    let total = usize::try_from(recorded_size).unwrap_or(usize::MAX);
    let mut leaves: Vec<Hash> = Vec::with_capacity(total.min(1 << 26));
    let mut roots_at: std::collections::HashMap<u64, Hash> = Default::default();
    let wanted: std::collections::HashSet<u64> = checkpoints.iter().map(|c| c.size).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    while leaves.len() < total {
        let from = leaves.len();
        let rows = fetch(from as u64, VERIFY_BATCH.min(total - from)).map_err(RowsError::Store)?;
        if rows.is_empty() {
            break;
        }
        // Hash and check the batch on every core (rows are independent);
        // each chunk reports its leaves or its first bad row.
        let chunk = rows.len().div_ceil(threads).max(1);
        let parts: Vec<std::result::Result<Vec<Hash>, VerifyError>> = std::thread::scope(|sc| {
            let handles: Vec<_> = rows
                .chunks(chunk)
                .enumerate()
                .map(|(c, part)| sc.spawn(move || check_rows(part, from + c * chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(VerifyError {
                            index: None,
                            what: "a verification thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        for part in parts {
            for leaf in part? {
                frontier.push(leaf);
                leaves.push(leaf);
                if wanted.contains(&frontier.size()) {
                    roots_at.insert(frontier.size(), frontier.root());
                }
            }
        }
    }
    let size = frontier.size();
    let n = leaves.len();
    let mut prev: Option<&StoredCheckpoint> = None;
    let mut cosigned = 0;
    let mut signed_by: Vec<String> = Vec::new();
    for cp in checkpoints {
        let at = |what: String| VerifyError {
            index: None,
            what: format!("checkpoint of size {}: {what}", cp.size),
        };
        let note = Note::parse(cp.note.as_bytes()).map_err(|e| at(e.to_string()))?;
        note.verify(std::slice::from_ref(key))
            .map_err(|e| at(e.to_string()))?;
        // Witness cosignatures present are checked too (a bad one fails),
        // and each witness named must have cosigned the latest checkpoint.
        signed_by.clear();
        for w in witnesses {
            if note
                .sigs
                .iter()
                .any(|s| s.name == w.name && s.key_id == w.key_id)
            {
                note.verify(std::slice::from_ref(w))
                    .map_err(|e| at(format!("witness {}: {e}", w.name)))?;
                cosigned += 1;
                signed_by.push(w.name.clone());
            }
        }
        let body = Checkpoint::parse(&note.text).map_err(|e| at(e.to_string()))?;
        if body.origin != origin {
            return Err(at(format!("origin `{}` is not `{origin}`", body.origin)).into());
        }
        if body.size != cp.size || body.root != cp.root {
            return Err(at("its signed size or root differs from the stored one".into()).into());
        }
        if cp.size > size {
            return Err(bad(
                size,
                format!(
                    "checkpoint of size {} covers more entries than the {size} stored: entries were deleted",
                    cp.size
                ),
            )
            .into());
        }
        if roots_at.get(&cp.size) != Some(&cp.root) {
            let from = prev.map_or(0, |p| p.size);
            let lo = usize::try_from(from).unwrap_or(n);
            let hi = usize::try_from(cp.size).unwrap_or(n);
            return Err(RowsError::Bad(
                match first_bad_root(fetch, &leaves, lo, hi)? {
                    Some(i) => bad(
                        i as u64,
                        format!(
                            "the entries up to {} do not hash to the signed root of that checkpoint, and the tree stops matching its stored roots here: entries were inserted, removed or reordered",
                            cp.size
                        ),
                    ),
                    None => bad(
                        from,
                        format!(
                            "the entries up to {} do not hash to the signed root of that checkpoint: one of the entries from index {from} on was changed (and its stored hashes recomputed)",
                            cp.size
                        ),
                    ),
                },
            ));
        }
        prev = Some(cp);
    }
    if let Some(w) = witnesses.iter().find(|w| !signed_by.contains(&w.name)) {
        return Err(RowsError::Bad(VerifyError {
            index: None,
            what: format!(
                "the latest checkpoint (size {}) has no cosignature by witness {}",
                prev.map_or(0, |p| p.size),
                w.name
            ),
        }));
    }
    // After the last checkpoint nothing is signed yet: the stored roots
    // (written with each entry) must match the recomputed tree.
    let tail = usize::try_from(prev.map_or(0, |p| p.size)).unwrap_or(n);
    if let Some(i) = first_bad_root(fetch, &leaves, tail, n)? {
        return Err(RowsError::Bad(bad(
            i as u64,
            "the tree stops matching its stored roots here (after the last checkpoint): entries were inserted, removed or reordered",
        )));
    }
    if recorded_size != size {
        return Err(RowsError::Bad(bad(
            size.min(recorded_size),
            format!(
                "the ledger recorded {recorded_size} entries and {size} are stored: entries were deleted or added at the end"
            ),
        )));
    }
    Ok(VerifyReport {
        size,
        root: b64(&frontier.root()),
        checkpoints: checkpoints.len(),
        cosignatures: cosigned,
        latest: checkpoints.last().map(|c| (c.size, c.note.clone())),
    })
}

mod proof;

pub use proof::{
    ConsistencyProof, InclusionProof, prove, prove_at, prove_consistency, verify_consistency_proof,
    verify_proof,
};
