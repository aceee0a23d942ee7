//! The transparency-dev/merkle proof vectors (testdata/merkle-vectors, with
//! their origin in its README): every vector whose `wantErr` is true is
//! rejected, every other accepted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use bosun_ledger::merkle::{to_hash, verify_consistency, verify_inclusion};
use serde::Deserialize;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|_| s.as_bytes().to_vec())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: serde_json::Number,
    tree_size: serde_json::Number,
    root: Option<String>,
    leaf_hash: Option<String>,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: serde_json::Number,
    size2: serde_json::Number,
    root1: Option<String>,
    root2: Option<String>,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

fn files(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/merkle-vectors")
        .join(kind);
    let mut out = Vec::new();
    let mut todo = vec![dir];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() > 50, "the vectors are missing from {kind}");
    out
}

fn proof_of(p: &Option<Vec<String>>) -> Result<Vec<[u8; 32]>, ()> {
    p.as_deref()
        .unwrap_or_default()
        .iter()
        .map(|h| to_hash(&b64(h)).map_err(|_| ()))
        .collect()
}

fn raw(h: &Option<String>) -> Vec<u8> {
    b64(h.as_deref().unwrap_or_default())
}

#[test]
fn inclusion_vectors() {
    let mut n = 0;
    for f in files("inclusion") {
        let v: Inclusion = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let got = (|| -> Result<(), ()> {
            let idx = v.leaf_idx.as_u64().ok_or(())?;
            let size = v.tree_size.as_u64().ok_or(())?;
            let proof = proof_of(&v.proof)?;
            let leaf = raw(&v.leaf_hash);
            let root = raw(&v.root);
            verify_inclusion(idx, size, &leaf, &proof, &root).map_err(|_| ())
        })();
        assert_eq!(
            got.is_err(),
            v.want_err,
            "{}: {} (want_err = {})",
            f.display(),
            v.desc,
            v.want_err
        );
        n += 1;
    }
    assert!(n > 50);
}

#[test]
fn consistency_vectors() {
    let mut n = 0;
    for f in files("consistency") {
        let v: Consistency = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let got = (|| -> Result<(), ()> {
            let s1 = v.size1.as_u64().ok_or(())?;
            let s2 = v.size2.as_u64().ok_or(())?;
            let proof = proof_of(&v.proof)?;
            let r1 = raw(&v.root1);
            let r2 = raw(&v.root2);
            verify_consistency(s1, s2, &proof, &r1, &r2).map_err(|_| ())
        })();
        assert_eq!(
            got.is_err(),
            v.want_err,
            "{}: {} (want_err = {})",
            f.display(),
            v.desc,
            v.want_err
        );
        n += 1;
    }
    assert!(n > 50);
}
