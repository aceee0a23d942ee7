//! The ledger: events as entries of an RFC 6962 Merkle log (see
//! `bosun-ledger`), its rows and subtree hashes for proofs, and the signed
//! checkpoints.

use crate::records::*;
use crate::{Listed, Page, Result};
use bosun_model::Jti;

/// The ledger of events, its Merkle tree and its checkpoints.
pub trait LedgerStore: Send + Sync {
    /// Events (ledger entries), or those of one op, in order: one page. Every
    /// state change writes its events in its own transaction: the ledger
    /// is an RFC 6962 Merkle log (see `bosun-ledger`) of canonical-JSON
    /// entries, appended idempotently per (jti, kind, step and data).
    fn events_page(&self, jti: Option<&Jti>, page: &Page) -> Result<Listed<Event>>;
    /// Every event, or those of one op, in order (every page of
    /// [`LedgerStore::events_page`]).
    fn events(&self, jti: Option<&Jti>) -> Result<Vec<Event>> {
        crate::page::all_pages(|p| self.events_page(jti, p))
    }
    /// Appends an event of its own (halt, resume, adoption).
    fn record_event(&self, e: &NewEvent) -> Result<()>;
    /// Appends many events in one transaction (group commit).
    fn record_events(&self, events: &[NewEvent]) -> Result<()>;
    /// Raw ledger rows from index `from`, at most `limit`, in order.
    fn ledger_rows(&self, from: u64, limit: usize) -> Result<Vec<LedgerRow>>;
    /// Entries in the ledger (the tree size).
    fn ledger_size(&self) -> Result<u64>;
    /// The stored hash of the perfect subtree of `level` and index `idx`
    /// (level 0: the leaf hash of entry `idx`), for O(log n) proofs.
    fn ledger_node(&self, level: u32, idx: u64) -> Result<Option<[u8; 32]>>;
    /// Records a signed checkpoint; refused
    /// ([`StoreError::Stale`](crate::StoreError::Stale)) unless its size is
    /// above every stored one.
    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<()>;
    /// Replaces the note of the checkpoint of `size` with `note` (the same
    /// checkpoint with more signatures: a witness's cosignature). The
    /// caller checks that the signed text is unchanged. Refused
    /// ([`StoreError::NotFound`](crate::StoreError::NotFound)) when there is
    /// no checkpoint of that size.
    fn set_checkpoint_note(&self, size: u64, note: &str) -> Result<()>;
    /// Stored checkpoints, smallest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>>;
}
