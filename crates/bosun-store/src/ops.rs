//! Ops and what decides them: intake's group commit (with its
//! rejections and issuer sequence numbers), the budgets it counts,
//! approvals, and the reads of ops by id, prefix and state.

use crate::records::*;
use crate::{Listed, Page, Result, SubmitConflict};
use bosun_model::{Jti, KeyId, OpState};

/// Ops, their approvals and rejections, issuer sequence numbers and the
/// budget usage intake decides on.
pub trait OpStore: Send + Sync {
    /// Accepts a batch of ops in ONE transaction (group commit): records
    /// `rejected` (envelopes intake refused before the store), then for
    /// each op checks jti unseen, seq above the issuer's last and its
    /// [`BudgetBasis`] unchanged, inserts the op with its decision and
    /// state, raises the issuer's seq, writes its events, and enqueues it
    /// when its state is `approved`. Ops that conflict are not written;
    /// their conflict is returned, and a replay or seq conflict is recorded
    /// as a rejection by the same transaction (a moved budget is not: the
    /// op is to be decided again). The others are written.
    fn submit_ops(
        &self,
        ops: &[NewOp],
        rejected: &[Rejection],
    ) -> Result<Vec<std::result::Result<(), SubmitConflict>>>;
    /// Records a rejection (a check that failed at intake), with its event.
    fn record_rejection(&self, r: &Rejection) -> Result<()>;
    /// Rejections, newest first: one page.
    fn rejections_page(&self, page: &Page) -> Result<Listed<Rejection>>;
    /// The newest `limit` rejections (the first page).
    fn rejections(&self, limit: usize) -> Result<Vec<Rejection>> {
        Ok(self.rejections_page(&Page::first(limit))?.items)
    }
    /// One op with its approvals, run and step results.
    fn op(&self, jti: &Jti) -> Result<Option<OpRecord>>;
    /// Ops, newest first, optionally only those in `state`: one page.
    fn ops_page(&self, state: Option<OpState>, page: &Page) -> Result<Listed<OpSummary>>;
    /// The newest `limit` ops, optionally only those in `state` (the first
    /// page).
    fn list_ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpSummary>> {
        Ok(self.ops_page(state, &Page::first(limit))?.items)
    }
    /// The jtis of ops that start with `prefix`, in byte order, at most
    /// `limit`: how a short id a human typed is resolved. A jti equal to
    /// `prefix` comes first; a prefix with a character no id may hold
    /// matches nothing. Backends answer from an index on the jti, never by
    /// scanning every op.
    fn op_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>>;
    /// How many ops are in each state (states with none left out), for
    /// metrics. It may scan every op (there is no index on the state:
    /// intake writes faster without one); call it per scrape, not per op.
    fn count_ops_by_state(&self) -> Result<Vec<(OpState, u64)>>;
    /// The issuer's last accepted seq.
    fn last_seq(&self, iss: &KeyId) -> Result<Option<u64>>;
    /// Hosts changed (targets of non-read-only ops not denied) by `iss`
    /// in ops submitted at or after `since` (Unix seconds).
    fn hosts_changed_since(&self, iss: &KeyId, since: i64) -> Result<u64>;
    /// Records an approval or denial of an op and, in the same transaction,
    /// moves the op to `transition` (when given; only from
    /// `pending_approval`), enqueueing it when that is `approved`.
    fn add_approval(&self, a: &NewApproval, transition: Option<OpState>) -> Result<()>;
}
