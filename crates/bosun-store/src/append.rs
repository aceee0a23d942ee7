//! How an event becomes a ledger entry, for every backend: the entry's
//! encoding (canonical JSON of `{at, data, jti, kind, step}`), its
//! idempotency key, the size cap ([`MAX_ENTRY_BYTES`]) and the Merkle
//! append (leaf hash, the subtrees it completes, the root after it) are
//! here, over a few storage primitives ([`LedgerTx`]) that a backend
//! implements inside its own transaction. A backend stores bytes and
//! hashes; it never encodes or hashes an entry itself.

use bosun_ledger::merkle::{Frontier, Hash, leaf_hash};
use bosun_model::{Digest, canonical_json};

use crate::records::{Event, MAX_ENTRY_BYTES};
use crate::{Result, StoreError};

/// The facts of one ledger entry, before encoding.
#[derive(Debug, Clone, Copy)]
pub struct EntryFacts<'a> {
    /// When (Unix seconds). Not part of the idempotency key.
    pub at: i64,
    /// The op (or proposal) it concerns, if any.
    pub jti: Option<&'a str>,
    /// Its kind (`op.submitted`, …).
    pub kind: &'a str,
    /// The step, for step events.
    pub step: Option<&'a str>,
    /// The rest.
    pub data: &'a serde_json::Value,
}

/// An encoded entry: what the tree hashes and what the backend keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEntry {
    /// The canonical JSON of `{at, data, jti, kind, step}`.
    pub bytes: Vec<u8>,
    /// The idempotency key: the short digest of the entry without `at`.
    /// An entry whose jti, kind and key are already stored is the same
    /// fact, and is not appended again.
    pub key: String,
}

impl EntryFacts<'_> {
    /// Encodes the entry; refused ([`StoreError::TooLarge`]) over
    /// [`MAX_ENTRY_BYTES`].
    pub fn encode(&self) -> Result<EncodedEntry> {
        // Canonical JSON sorts keys, and `at` sorts first: the entry is the
        // body with `"at":<at>,` put in front, and the idempotency key is
        // the digest of the body (everything but the time).
        #[derive(serde::Serialize)]
        struct Body<'a> {
            data: &'a serde_json::Value,
            jti: Option<&'a str>,
            kind: &'a str,
            step: Option<&'a str>,
        }
        let body = canonical_json(&Body {
            data: self.data,
            jti: self.jti,
            kind: self.kind,
            step: self.step,
        })
        .map_err(|e| StoreError::Encode {
            what: "ledger entry".into(),
            source: Box::new(e),
        })?;
        let key = Digest::of(&body).short().to_string();
        let at = self.at;
        let mut bytes = format!("{{\"at\":{at},").into_bytes();
        bytes.extend_from_slice(body.get(1..).unwrap_or_default());
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(StoreError::TooLarge {
                what: format!("a `{}` ledger entry", self.kind),
                size: bytes.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        Ok(EncodedEntry { bytes, key })
    }
}

/// An [`Event`] from a stored ledger entry of index `idx` (the entry is
/// what the tree hashes, so it is what is shown).
pub fn decode_entry(idx: i64, entry: &[u8]) -> Result<Event> {
    #[derive(serde::Deserialize)]
    struct E {
        at: i64,
        jti: Option<String>,
        kind: String,
        step: Option<String>,
        data: serde_json::Value,
    }
    let e: E = serde_json::from_slice(entry).map_err(|err| StoreError::Corrupt {
        what: "ledger entry".into(),
        detail: format!("index {idx}: {err}"),
    })?;
    Ok(Event {
        id: idx,
        at: e.at,
        jti: e.jti,
        kind: e.kind,
        step: e.step,
        data: e.data,
    })
}

/// A row to append at the end of the ledger.
#[derive(Debug, Clone, Copy)]
pub struct AppendRow<'a> {
    /// Its index (the tree size before it).
    pub idx: u64,
    /// The entry's jti (an index column).
    pub jti: Option<&'a str>,
    /// The entry's kind (an index column).
    pub kind: &'a str,
    /// The idempotency key ([`EncodedEntry::key`]).
    pub key: &'a str,
    /// The entry bytes.
    pub entry: &'a [u8],
    /// Its leaf hash.
    pub leaf: &'a Hash,
    /// The tree root after it.
    pub root: &'a Hash,
}

/// The storage primitives of the ledger inside one backend transaction.
/// Everything else — encoding, the key, the cap, the hashes — is provided
/// ([`LedgerTx::append`]), so that every backend writes the same ledger.
pub trait LedgerTx {
    /// The stored frontier (empty for an empty ledger).
    fn load_frontier(&mut self) -> Result<Frontier>;
    /// Stores the frontier.
    fn save_frontier(&mut self, frontier: &Frontier) -> Result<()>;
    /// Inserts the row unless an entry of the same jti (not null), kind
    /// and key is stored; returns whether it inserted. Must be atomic
    /// with the rest of the transaction (a unique index, not a read then
    /// a write outside it).
    fn insert_row(&mut self, row: &AppendRow<'_>) -> Result<bool>;
    /// Stores the hash of the perfect subtree of `level` (≥ 1) and index
    /// `idx`.
    fn put_node(&mut self, level: u32, idx: u64, hash: &Hash) -> Result<()>;

    /// Appends one entry against an in-memory `frontier` (the caller saves
    /// it before the transaction commits). Returns whether it appended
    /// (false: the same fact was already recorded, and nothing changed).
    fn append(&mut self, frontier: &mut Frontier, facts: &EntryFacts<'_>) -> Result<bool> {
        let e = facts.encode()?;
        // Insert first: the backend refuses the same fact twice, and then
        // nothing else changes.
        let leaf = leaf_hash(&e.bytes);
        let mut next = frontier.clone();
        let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
        next.push_nodes(leaf, |level, idx, h| nodes.push((level, idx, *h)));
        let root = next.root();
        let inserted = self.insert_row(&AppendRow {
            idx: frontier.size(),
            jti: facts.jti,
            kind: facts.kind,
            key: &e.key,
            entry: &e.bytes,
            leaf: &leaf,
            root: &root,
        })?;
        if !inserted {
            return Ok(false);
        }
        for (level, idx, h) in &nodes {
            self.put_node(*level, *idx, h)?;
        }
        *frontier = next;
        Ok(true)
    }
}

/// The ledger appends of one transaction that records many entries (a
/// group commit of ops): the frontier is read at the first entry and
/// written once by [`LedgerBatch::finish`], not once per entry. While one
/// is in use, every entry of the transaction must go through it.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    frontier: Option<Frontier>,
    dirty: bool,
}

impl LedgerBatch {
    /// Appends an entry (idempotent per jti, kind and key; refused over
    /// [`MAX_ENTRY_BYTES`], and with it the whole transaction).
    pub fn append(&mut self, tx: &mut impl LedgerTx, facts: &EntryFacts<'_>) -> Result<()> {
        let frontier = match &mut self.frontier {
            Some(f) => f,
            None => self.frontier.insert(tx.load_frontier()?),
        };
        if tx.append(frontier, facts)? {
            self.dirty = true;
        }
        Ok(())
    }

    /// Stores the frontier if an entry was appended.
    pub fn finish(self, tx: &mut impl LedgerTx) -> Result<()> {
        match (&self.frontier, self.dirty) {
            (Some(f), true) => tx.save_frontier(f),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_ledger::merkle::root;
    use std::collections::BTreeMap;

    struct Row {
        jti: Option<String>,
        kind: String,
        key: String,
        entry: Vec<u8>,
        leaf: Hash,
    }

    /// A backend of maps: storage only, as a second backend would be.
    #[derive(Default)]
    struct Memory {
        frontier: Frontier,
        rows: Vec<Row>,
        nodes: BTreeMap<(u32, u64), Hash>,
    }

    impl LedgerTx for Memory {
        fn load_frontier(&mut self) -> Result<Frontier> {
            Ok(self.frontier.clone())
        }
        fn save_frontier(&mut self, frontier: &Frontier) -> Result<()> {
            self.frontier = frontier.clone();
            Ok(())
        }
        fn insert_row(&mut self, row: &AppendRow<'_>) -> Result<bool> {
            let dup = row.jti.is_some()
                && self
                    .rows
                    .iter()
                    .any(|r| r.jti.as_deref() == row.jti && r.kind == row.kind && r.key == row.key);
            if !dup {
                assert_eq!(row.idx, self.rows.len() as u64);
                self.rows.push(Row {
                    jti: row.jti.map(str::to_string),
                    kind: row.kind.to_string(),
                    key: row.key.to_string(),
                    entry: row.entry.to_vec(),
                    leaf: *row.leaf,
                });
            }
            Ok(!dup)
        }
        fn put_node(&mut self, level: u32, idx: u64, hash: &Hash) -> Result<()> {
            self.nodes.insert((level, idx), *hash);
            Ok(())
        }
    }

    #[test]
    fn entries_are_canonical_json_with_at_first() {
        let data = serde_json::json!({"b": 1, "a": [true]});
        let facts = EntryFacts {
            at: 7,
            jti: Some("op1"),
            kind: "op.submitted",
            step: None,
            data: &data,
        };
        let e = facts.encode().unwrap();
        assert_eq!(
            String::from_utf8(e.bytes).unwrap(),
            r#"{"at":7,"data":{"a":[true],"b":1},"jti":"op1","kind":"op.submitted","step":null}"#
        );
        let later = EntryFacts { at: 8, ..facts }.encode().unwrap();
        assert_eq!(later.key, e.key, "the key leaves the time out");
        let big = serde_json::json!({"x": "y".repeat(MAX_ENTRY_BYTES)});
        let err = EntryFacts {
            data: &big,
            ..facts
        }
        .encode()
        .unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_storage_only_backend_keeps_the_same_tree() {
        let mut m = Memory::default();
        let mut batch = LedgerBatch::default();
        for i in 0..11 {
            let data = serde_json::json!({"i": i % 5});
            let jti = format!("op{}", i % 5);
            let facts = EntryFacts {
                at: i,
                jti: Some(&jti),
                kind: "k",
                step: None,
                data: &data,
            };
            batch.append(&mut m, &facts).unwrap();
        }
        batch.finish(&mut m).unwrap();
        assert_eq!(m.rows.len(), 5, "repeats are the same fact");
        let leaves: Vec<Hash> = m.rows.iter().map(|r| r.leaf).collect();
        assert_eq!(m.frontier.root(), root(&leaves));
        assert_eq!(m.nodes.get(&(2, 0)), Some(&root(&leaves[..4])));
        let decoded = decode_entry(3, &m.rows[3].entry).unwrap();
        assert_eq!((decoded.id, decoded.at, decoded.kind.as_str()), (3, 3, "k"));
    }
}
