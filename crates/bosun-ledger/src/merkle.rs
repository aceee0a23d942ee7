//! RFC 6962 / RFC 9162 Merkle hash trees: hashes, roots, inclusion and
//! consistency proofs (RFC 9162 §2.1.3 and §2.1.4), and their verification
//! exactly as §2.1.3.2 and §2.1.4.2 describe it.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, a node or a root.
pub type Hash = [u8; 32];

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not inside the tree, or the sizes are out of order.
    #[error("{0}")]
    Range(String),
    /// The proof has the wrong number of hashes for these sizes.
    #[error("the proof has {got} hashes; these sizes need {want}")]
    Length {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes need.
        want: usize,
    },
    /// A hash is not 32 bytes.
    #[error("a hash is {0} bytes, not 32")]
    HashSize(usize),
    /// The proof does not lead to the given root.
    #[error("the proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// What the proof computes (base64).
        computed: String,
        /// The root it should reach (base64).
        expected: String,
    },
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n` ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash of these leaf hashes (MTH of RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `leaves`
/// (PATH of RFC 9162 §2.1.3.1). `None` when `index` is outside the tree.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len());
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

/// The consistency proof from the tree of the first `size1` leaves to the
/// tree of all `leaves` (PROOF of RFC 9162 §2.1.4.1). Empty when `size1` is
/// 0 or equals the tree size; `None` when `size1` exceeds it.
pub fn consistency_proof(leaves: &[Hash], size1: usize) -> Option<Vec<Hash>> {
    if size1 > leaves.len() {
        return None;
    }
    if size1 == 0 || size1 == leaves.len() {
        return Some(Vec::new());
    }
    fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !complete {
                out.push(root(d));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &d[..k], complete, out);
            out.push(root(&d[k..]));
        } else {
            subproof(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(size1, leaves, true, &mut out);
    Some(out)
}

fn b64(h: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// The hash of leaves `start..end` (an RFC 9162 subtree: `start` is a
/// multiple of a power of two at least `end - start`), from the hashes of
/// perfect subtrees that `node(level, index)` looks up (level 0: leaves).
fn range_hash<E>(
    start: u64,
    end: u64,
    node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let len = end - start;
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let level = len.trailing_zeros();
        return node(level, start >> level);
    }
    let k = split(usize::try_from(len).unwrap_or(usize::MAX)) as u64;
    let l = range_hash(start, start + k, node)?;
    let r = range_hash(start + k, end, node)?;
    Ok(node_hash(&l, &r))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from
/// stored perfect-subtree hashes (see [`Frontier::push_nodes`]): O(log n)
/// lookups, whatever the size. `None` when `index` is outside the tree.
pub fn inclusion_proof_from<E>(
    index: u64,
    size: u64,
    node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Option<Vec<Hash>>, E> {
    if index >= size {
        return Ok(None);
    }
    let mut out = Vec::new();
    // PATH(m, D[start..end]), iteratively from the top; reversed at the end.
    let (mut m, mut start, mut end) = (index, 0u64, size);
    while end - start > 1 {
        let k = split(usize::try_from(end - start).unwrap_or(usize::MAX)) as u64;
        if m < k {
            out.push(range_hash(start + k, end, node)?);
            end = start + k;
        } else {
            out.push(range_hash(start, start + k, node)?);
            start += k;
            m -= k;
        }
    }
    out.reverse();
    Ok(Some(out))
}

/// The consistency proof from the tree of `size1` leaves to the tree of
/// `size2` leaves, from stored perfect-subtree hashes (as
/// [`inclusion_proof_from`]). Empty when `size1` is 0 or `size2`; `None`
/// when `size1 > size2`.
pub fn consistency_proof_from<E>(
    size1: u64,
    size2: u64,
    node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Option<Vec<Hash>>, E> {
    if size1 > size2 {
        return Ok(None);
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Some(Vec::new()));
    }
    fn sub<E>(
        m: u64,
        start: u64,
        end: u64,
        complete: bool,
        node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
        out: &mut Vec<Hash>,
    ) -> Result<(), E> {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(range_hash(start, end, node)?);
            }
            return Ok(());
        }
        let k = split(usize::try_from(n).unwrap_or(usize::MAX)) as u64;
        if m <= k {
            sub(m, start, start + k, complete, node, out)?;
            out.push(range_hash(start + k, end, node)?);
        } else {
            sub(m - k, start + k, end, false, node, out)?;
            out.push(range_hash(start, start + k, node)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    sub(size1, 0, size2, true, node, &mut out)?;
    Ok(Some(out))
}

/// Hashes given as bytes of any length (from a file or the wire) as
/// [`tyalias@Hash`]es, refusing any that is not 32 bytes.
pub fn hashes(raw: &[Vec<u8>]) -> Result<Vec<Hash>, ProofError> {
    raw.iter().map(|h| to_hash(h)).collect()
}

/// One 32-byte hash from bytes.
pub fn to_hash(raw: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(raw).map_err(|_| ProofError::HashSize(raw.len()))
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose root
/// is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Hash],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf = to_hash(leaf)?;
    if index >= size {
        return Err(ProofError::Range(format!(
            "leaf index {index} is outside a tree of size {size}"
        )));
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::Length {
                got: proof.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 || r.as_slice() != root {
        return Err(ProofError::RootMismatch {
            computed: b64(&r),
            expected: b64(root),
        });
    }
    Ok(())
}

/// Hashes in the inclusion proof of `index` in a tree of `size`.
fn inclusion_len(index: u64, size: u64) -> usize {
    // The path length is the depth of the leaf: the bits of the last index
    // above the common prefix with `index`, plus the levels where the
    // right edge is a complete subtree.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Checks that the tree of `size2` leaves with root `root2` extends the
/// tree of `size1` leaves with root `root1` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::Range(format!(
            "size {size2} is smaller than size {size1}: a log never shrinks"
        )));
    }
    if size1 == 0 {
        // Every tree extends the empty one; a proof of that proves nothing,
        // and the published vectors refuse it.
        return Err(ProofError::Range(
            "a consistency proof from the empty tree proves nothing".into(),
        ));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::Length {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch {
                computed: b64(root1),
                expected: b64(root2),
            });
        }
        return Ok(());
    }
    // The proof length is fixed by the sizes (the inclusion proof of the
    // last old leaf in the new tree, less the levels the old root covers).
    let shift = size1.trailing_zeros();
    let inner = 64 - ((size1 - 1) ^ (size2 - 1)).leading_zeros();
    let border = (size1 - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let mut want = (inner + border).saturating_sub(shift) as usize;
    if !size1.is_power_of_two() {
        want += 1;
    }
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
        });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(to_hash(root1)?);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::Length {
                got: proof.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
        });
    }
    if fr.as_slice() != root1 {
        return Err(ProofError::RootMismatch {
            computed: b64(&fr),
            expected: b64(root1),
        });
    }
    if sr.as_slice() != root2 {
        return Err(ProofError::RootMismatch {
            computed: b64(&sr),
            expected: b64(root2),
        });
    }
    Ok(())
}

/// The roots of the perfect subtrees that cover a log of `size` leaves,
/// largest first (one per 1-bit of `size`): enough to append a leaf and to
/// compute the root in O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the stored form ([`Frontier::to_bytes`]) of a log of `size`
    /// leaves; `None` when the hash count does not fit the size.
    pub fn from_bytes(size: u64, b: &[u8]) -> Option<Frontier> {
        if !b.len().is_multiple_of(32) || b.len() / 32 != size.count_ones() as usize {
            return None;
        }
        let hashes = b
            .chunks_exact(32)
            .filter_map(|c| Hash::try_from(c).ok())
            .collect();
        Some(Frontier { size, hashes })
    }

    /// The hashes, concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_nodes(leaf, |_, _, _| {});
    }

    /// Appends a leaf hash and reports each perfect subtree it completes
    /// as `(level, index, hash)`: the subtree of level `l` and index `i`
    /// covers leaves `i·2^l .. (i+1)·2^l`. Storing them makes proofs
    /// O(log n) lookups ([`inclusion_proof_from`]).
    pub fn push_nodes(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut carry = leaf;
        let mut n = self.size;
        let mut level = 0u32;
        while n & 1 == 1 {
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
            }
            n >>= 1;
            level += 1;
            completed(level, self.size >> level, &carry);
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(mut r) = it.next().copied() else {
            return empty_root();
        };
        for h in it {
            r = node_hash(h, &r);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn rfc_6962_reference_roots() {
        // The root of the empty tree and of one empty entry (RFC 6962 test
        // data used by transparency-dev/merkle).
        assert_eq!(
            b64(&empty_root()),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            b64(&leaf_hash(b"")),
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
        );
    }

    proptest! {
        #[test]
        fn arbitrary_proofs_never_panic(
            index in any::<u64>(),
            size in any::<u64>(),
            size2 in any::<u64>(),
            raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..70),
            leaf in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let proof: Vec<Hash> = raw.iter().filter_map(|h| to_hash(h).ok()).collect();
            let _ = verify_inclusion(index, size, &leaf, &proof, &leaf);
            let _ = verify_consistency(size.min(size2), size.max(size2), &proof, &leaf, &leaf);
        }

        #[test]
        fn proofs_verify_and_tampering_fails(n in 1usize..70, i in 0usize..70, m in 0usize..70) {
            let l = leaves(n);
            let r = root(&l);
            let i = i % n;
            let p = inclusion_proof(&l, i).unwrap();
            prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &r).is_ok());
            if !p.is_empty() {
                let mut bad = p.clone();
                bad[0][0] ^= 1;
                prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &bad, &r).is_err());
            }
            let mut f = Frontier::default();
            let mut nodes = std::collections::HashMap::new();
            for (j, x) in l.iter().enumerate() {
                nodes.insert((0u32, j as u64), *x);
                f.push_nodes(*x, |lv, ix, h| { nodes.insert((lv, ix), *h); });
            }
            let stored = inclusion_proof_from::<()>(i as u64, n as u64, &mut |lv, ix| nodes.get(&(lv, ix)).copied().ok_or(())).unwrap().unwrap();
            prop_assert_eq!(&stored, &p);
            let m2 = m % (n + 1);
            let c_stored = consistency_proof_from::<()>(m2 as u64, n as u64, &mut |lv, ix| nodes.get(&(lv, ix)).copied().ok_or(())).unwrap().unwrap();
            prop_assert_eq!(Some(c_stored), consistency_proof(&l, m2));
            prop_assert_eq!(f.root(), r);
            prop_assert_eq!(Frontier::from_bytes(f.size(), &f.to_bytes()), Some(f.clone()));
            let wrong_leaf = leaf_hash(b"not in the log");
            prop_assert!(verify_inclusion(i as u64, n as u64, &wrong_leaf, &p, &r).is_err());
            let m = m % (n + 1);
            let c = consistency_proof(&l, m).unwrap();
            let r1 = root(&l[..m]);
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &c, &r1, &r).is_ok(), m > 0, "m={} n={}", m, n);
            if m > 0 && m < n {
                let other = root(&leaves(m + 1)[1..]);
                prop_assert!(verify_consistency(m as u64, n as u64, &c, &other, &r).is_err());
            }
        }
    }
}
