//! Inclusion and consistency proofs: made from the stored subtree hashes
//! against a signed checkpoint, and checked with nothing but the ledger's
//! verifier key.

use base64::Engine;
use bosun_ledger::merkle::{self, Hash};
use bosun_ledger::{Checkpoint, Note, NoteVerifier};
use bosun_store::StoredCheckpoint;
use serde::{Deserialize, Serialize};

use super::{b64, err};
use crate::{Control, ControlError, Result};

/// An inclusion proof, self-contained: the entry, its proof and the signed
/// checkpoint it is proved against. `bosun ledger verify-proof` checks one
/// with nothing but the ledger's verifier key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InclusionProof {
    /// Leaf index.
    pub index: u64,
    /// The entry (canonical JSON).
    pub entry: String,
    /// Its leaf hash (base64).
    pub leaf_hash: String,
    /// The tree size the proof is for (the checkpoint's).
    pub tree_size: u64,
    /// The proof hashes (base64), RFC 9162 order.
    pub proof: Vec<String>,
    /// The signed checkpoint (a C2SP note).
    pub checkpoint: String,
}

/// Proofs that the entries of op `jti` (or the entry at `index`) are in
/// the ledger, against the latest checkpoint (sign one first with
/// [`super::checkpoint`] to cover the newest entries).
pub fn prove(ctl: &Control, jti: Option<&str>, index: Option<u64>) -> Result<Vec<InclusionProof>> {
    prove_at(ctl, jti, index, None)
}

/// The stored checkpoint of `size`, or the latest.
fn checkpoint_at(ctl: &Control, size: Option<u64>) -> Result<StoredCheckpoint> {
    let cps = ctl.store.checkpoints()?;
    match size {
        None => cps
            .into_iter()
            .last()
            .ok_or_else(|| ControlError::NotInLedger {
                message: "no checkpoint yet: one is signed on demand or by a running controller"
                    .into(),
                next: vec![bosun_api::NextAction::LedgerCheckpoint],
            }),
        Some(n) => {
            let sizes: Vec<String> = cps.iter().map(|c| c.size.to_string()).collect();
            cps.into_iter().find(|c| c.size == n).ok_or_else(|| {
                not_in_ledger(format!(
                    "no checkpoint of size {n}; the checkpoints are of sizes {}",
                    sizes.join(", ")
                ))
            })
        }
    }
}

/// What was asked is not in the ledger as its checkpoints cover it.
fn not_in_ledger(message: String) -> ControlError {
    ControlError::NotInLedger {
        message,
        next: Vec::new(),
    }
}

/// [`prove`] against the checkpoint of size `at` (default: the latest).
pub fn prove_at(
    ctl: &Control,
    jti: Option<&str>,
    index: Option<u64>,
    at: Option<u64>,
) -> Result<Vec<InclusionProof>> {
    let cp = checkpoint_at(ctl, at)?;
    let idxs: Vec<u64> = match (jti, index) {
        (Some(j), _) => {
            let j = bosun_model::Jti::parse(j).map_err(|e| err(e.to_string()))?;
            ctl.store
                .events(Some(&j))?
                .iter()
                .filter_map(|e| u64::try_from(e.id).ok())
                .collect()
        }
        (None, Some(i)) => vec![i],
        (None, None) => return Err(err("name a jti or an index")),
    };
    let mut out = Vec::new();
    for idx in idxs.into_iter().filter(|&i| i < cp.size) {
        let Some(row) = ctl.store.ledger_rows(idx, 1)?.pop() else {
            continue;
        };
        let leaf = merkle::leaf_hash(&row.entry);
        let proof = merkle::inclusion_proof_from::<ControlError>(idx, cp.size, &mut |l, i| {
            ctl.store.ledger_node(l, i)?.ok_or_else(|| {
                crate::hinted(
                    format!("ledger node {l}/{i} is missing"),
                    bosun_api::NextAction::LedgerVerify { full: true },
                )
            })
        })?
        .unwrap_or_default();
        out.push(InclusionProof {
            index: idx,
            entry: String::from_utf8_lossy(&row.entry).into_owned(),
            leaf_hash: b64(&leaf),
            tree_size: cp.size,
            proof: proof.iter().map(|h| b64(h)).collect(),
            checkpoint: cp.note.clone(),
        });
    }
    if out.is_empty() {
        return Err(not_in_ledger(match (jti, index) {
            (Some(j), _) => format!(
                "no entry of `{j}` is covered by the latest checkpoint (size {})",
                cp.size
            ),
            (None, Some(i)) => format!(
                "index {i} is not covered by the latest checkpoint (size {})",
                cp.size
            ),
            _ => "name a jti or an index".into(),
        }));
    }
    Ok(out)
}

/// A consistency proof between two signed checkpoints (RFC 9162 §2.1.4):
/// the log of the second extends the log of the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsistencyProof {
    /// The older checkpoint (a C2SP note).
    pub from: String,
    /// The newer checkpoint.
    pub to: String,
    /// The proof hashes (base64), RFC 9162 order.
    pub proof: Vec<String>,
}

/// The consistency proof between the stored checkpoints of sizes `from`
/// and `to` (default: the latest).
pub fn prove_consistency(ctl: &Control, from: u64, to: Option<u64>) -> Result<ConsistencyProof> {
    let a = checkpoint_at(ctl, Some(from))?;
    let b = checkpoint_at(ctl, to)?;
    if a.size > b.size {
        return Err(err(format!(
            "checkpoint {} is newer than checkpoint {}: give the older one first",
            a.size, b.size
        )));
    }
    let proof = merkle::consistency_proof_from::<ControlError>(a.size, b.size, &mut |l, i| {
        ctl.store.ledger_node(l, i)?.ok_or_else(|| {
            crate::hinted(
                format!("ledger node {l}/{i} is missing"),
                bosun_api::NextAction::LedgerVerify { full: true },
            )
        })
    })?
    .unwrap_or_default();
    Ok(ConsistencyProof {
        from: a.note,
        to: b.note,
        proof: proof.iter().map(|h| b64(h)).collect(),
    })
}

/// Checks a consistency proof offline: both checkpoints signed by `key`,
/// same origin, and the proof links their roots.
pub fn verify_consistency_proof(
    p: &ConsistencyProof,
    key: &NoteVerifier,
) -> std::result::Result<(u64, u64), String> {
    let open = |text: &str| -> std::result::Result<Checkpoint, String> {
        let note = Note::parse(text.as_bytes()).map_err(|e| e.to_string())?;
        note.verify(std::slice::from_ref(key))
            .map_err(|e| e.to_string())?;
        Checkpoint::parse(&note.text).map_err(|e| e.to_string())
    };
    let a = open(&p.from)?;
    let b = open(&p.to)?;
    if a.origin != b.origin {
        return Err(format!("origins differ: `{}` and `{}`", a.origin, b.origin));
    }
    let proof = p
        .proof
        .iter()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("proof hash: {e}"))
                .and_then(|raw| merkle::to_hash(&raw).map_err(|e| e.to_string()))
        })
        .collect::<std::result::Result<Vec<Hash>, String>>()?;
    if a.size == 0 {
        return Ok((a.size, b.size));
    }
    merkle::verify_consistency(a.size, b.size, &proof, &a.root, &b.root)
        .map_err(|e| e.to_string())?;
    Ok((a.size, b.size))
}

/// Checks an inclusion proof offline: the checkpoint is signed by `key`,
/// the leaf hash is the entry's, and the proof leads from it to the
/// checkpoint's root.
pub fn verify_proof(p: &InclusionProof, key: &NoteVerifier) -> std::result::Result<(), String> {
    let note = Note::parse(p.checkpoint.as_bytes()).map_err(|e| e.to_string())?;
    note.verify(std::slice::from_ref(key))
        .map_err(|e| e.to_string())?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| e.to_string())?;
    if cp.size != p.tree_size {
        return Err(format!(
            "the proof is for size {}, the checkpoint is of size {}",
            p.tree_size, cp.size
        ));
    }
    let leaf = merkle::leaf_hash(p.entry.as_bytes());
    if b64(&leaf) != p.leaf_hash {
        return Err("the leaf hash is not the entry's".into());
    }
    let dec = |s: &String| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("proof hash: {e}"))
            .and_then(|b| merkle::to_hash(&b).map_err(|e| e.to_string()))
    };
    let proof = p
        .proof
        .iter()
        .map(dec)
        .collect::<std::result::Result<Vec<Hash>, String>>()?;
    merkle::verify_inclusion(p.index, cp.size, &leaf, &proof, &cp.root).map_err(|e| e.to_string())
}
