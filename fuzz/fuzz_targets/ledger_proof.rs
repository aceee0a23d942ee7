//! The ledger proof parsers, as `bosun ledger verify-proof` reads a proof
//! file: a `ConsistencyProof`, else a list of `InclusionProof`s, else one
//! (JSON), each checked with `bosun_control::ledger::verify_proof` /
//! `verify_consistency_proof` against the seed workspace's ledger key; and
//! the Merkle verifiers of bosun-ledger (`verify_inclusion`,
//! `verify_consistency`) on the proof's numbers and hashes as given,
//! whatever the checkpoint's signature says.
//!
//! Properties: nothing panics; an inclusion proof that verifies proves an
//! (index, entry) pair of the seed proofs, and a consistency proof that
//! verifies is a seed's proof — nothing mutated verifies.

#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bosun_control::ledger::{
    ConsistencyProof, InclusionProof, verify_consistency_proof, verify_proof,
};
use bosun_ledger::merkle::{self, Hash};
use bosun_ledger::{Checkpoint, Note, NoteVerifier};
use libfuzzer_sys::fuzz_target;

const INCLUSION: [&str; 2] = [
    include_str!("../seeds/ledger/incl-3.json"),
    include_str!("../seeds/ledger/incl-op.json"),
];

const CONSISTENCY: [&str; 3] = [
    include_str!("../seeds/ledger/cons-1-latest.json"),
    include_str!("../seeds/ledger/cons-12-20.json"),
    include_str!("../seeds/ledger/cons-20-latest.json"),
];

/// (`ledger verify-proof` reads at most 16 MiB.)
const MAX_PROOF_FILE: usize = 16 * 1024 * 1024;

static VERIFIER: LazyLock<NoteVerifier> =
    LazyLock::new(|| NoteVerifier::parse(bosun_fuzz::LEDGER_VKEY).unwrap());

static PROVED: LazyLock<Vec<(u64, String)>> = LazyLock::new(|| {
    INCLUSION
        .iter()
        .flat_map(|s| serde_json::from_str::<Vec<InclusionProof>>(s).unwrap())
        .map(|p| (p.index, p.entry))
        .collect()
});

static LINKED: LazyLock<Vec<ConsistencyProof>> = LazyLock::new(|| {
    CONSISTENCY
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect()
});

fn hashes(raw: &[String]) -> Option<Vec<Hash>> {
    raw.iter()
        .map(|s| merkle::to_hash(&STANDARD.decode(s).ok()?).ok())
        .collect()
}

/// The checkpoint inside a note, its signature not checked.
fn unsigned(note: &str) -> Option<Checkpoint> {
    Checkpoint::parse(&Note::parse(note.as_bytes()).ok()?.text).ok()
}

fn inclusion(p: &InclusionProof) {
    if verify_proof(p, &VERIFIER).is_ok() {
        assert!(
            PROVED.contains(&(p.index, p.entry.clone())),
            "an inclusion proof that is not a seed's verified: {p:?}"
        );
    }
    if let (Some(proof), Some(cp)) = (hashes(&p.proof), unsigned(&p.checkpoint)) {
        let leaf = merkle::leaf_hash(p.entry.as_bytes());
        let _ = merkle::verify_inclusion(p.index, p.tree_size, &leaf, &proof, &cp.root);
    }
}

fn consistency(c: &ConsistencyProof) {
    if verify_consistency_proof(c, &VERIFIER).is_ok() {
        let (a, b) = (unsigned(&c.from), unsigned(&c.to));
        let trivial = a
            .as_ref()
            .is_some_and(|a| a.size == 0 || Some(a) == b.as_ref());
        assert!(
            trivial || LINKED.iter().any(|s| s == c),
            "a consistency proof that is not a seed's verified: {c:?}"
        );
    }
    if let (Some(proof), Some(a), Some(b)) = (hashes(&c.proof), unsigned(&c.from), unsigned(&c.to))
    {
        let _ = merkle::verify_consistency(a.size, b.size, &proof, &a.root, &b.root);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_PROOF_FILE {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = serde_json::from_str::<ConsistencyProof>(text) {
        consistency(&c);
        return;
    }
    match serde_json::from_str::<Vec<InclusionProof>>(text) {
        Ok(list) => list.iter().for_each(inclusion),
        Err(_) => {
            if let Ok(p) = serde_json::from_str::<InclusionProof>(text) {
                inclusion(&p);
            }
        }
    }
});
