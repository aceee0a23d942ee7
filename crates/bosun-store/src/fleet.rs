//! The fleet as the store knows it: blockers, host states (drift and
//! installed versions) and rollouts' status documents.

use crate::records::*;
use crate::{Listed, Page, Result};

/// The kind of the blocker filed with an unknown step outcome (a run that
/// needs attention keeps its host locked until it is resolved).
pub const UNKNOWN_OUTCOME: &str = "unknown-outcome";

/// Blockers, host states and rollouts.
pub trait FleetStore: Send + Sync {
    /// Files a blocker with its `blocker.filed` event and returns its
    /// number. Idempotent: while an active blocker of the same kind,
    /// subject and op exists, its number is returned and nothing is written.
    fn file_blocker(&self, b: &NewBlocker) -> Result<u64>;
    /// Blockers, newest first; only active ones unless `all`: one page.
    fn blockers_page(&self, all: bool, page: &Page) -> Result<Listed<BlockerRow>>;
    /// Every blocker, newest first; only active ones unless `all`.
    fn blockers(&self, all: bool) -> Result<Vec<BlockerRow>> {
        crate::page::all_pages(|p| self.blockers_page(all, p))
    }
    /// One blocker.
    fn blocker(&self, id: u64) -> Result<Option<BlockerRow>>;
    /// Resolves an active blocker, with its event. Refused
    /// ([`StoreError::NotFound`](crate::StoreError::NotFound)) when it does
    /// not exist, ([`StoreError::Conflict`](crate::StoreError::Conflict))
    /// when it is already resolved.
    fn resolve_blocker(&self, id: u64, by: &str, how: &str, at: i64) -> Result<()>;
    /// Mutes an active blocker's reminders until `until` (it still halts).
    fn snooze_blocker(&self, id: u64, until: i64, by: &str, at: i64) -> Result<()>;
    /// Marks a host drifted (`Some(reason)`) or converged (`None`), with
    /// its event.
    fn set_host_drift(&self, host: &str, reason: Option<&str>, at: i64) -> Result<()>;
    /// Records the installed version a bar saw on a host.
    fn set_host_version(&self, host: &str, version: &str, at: i64) -> Result<()>;
    /// What the store knows of every host that was ever targeted, drifted
    /// or versioned, by host name.
    fn host_states(&self) -> Result<Vec<HostState>>;
    /// A rollout's status document.
    fn rollout(&self, id: &str) -> Result<Option<RolloutRecord>>;
    /// Every rollout, most recently changed first.
    fn rollouts(&self) -> Result<Vec<RolloutRecord>>;
    /// Writes a rollout's status document with its event, in one
    /// transaction. `expect` is the version read (0 to create); a write
    /// over a newer version (or a create over an existing one) is refused
    /// ([`StoreError::Stale`](crate::StoreError::Stale)). Returns the new
    /// version.
    fn put_rollout(
        &self,
        id: &str,
        body: &serde_json::Value,
        expect: u64,
        event: &NewEvent,
    ) -> Result<u64>;
}
