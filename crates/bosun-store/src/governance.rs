//! Governance: the adopted versions of governed files and the
//! proposals (with their approvals) that change them.

use crate::Result;
use crate::records::*;
use bosun_model::Jti;

/// Adopted versions of governed files, and proposals to change them.
pub trait GovernanceStore: Send + Sync {
    /// The adopted version of a governed file (`policy`, `keys`,
    /// `runbook:<id>`).
    fn adopted(&self, subject: &str) -> Result<Option<Adopted>>;
    /// Every adopted subject.
    fn adopted_all(&self) -> Result<Vec<Adopted>>;
    /// Records a proposal to adopt new versions (subjects and contents).
    fn propose(&self, p: &Proposal) -> Result<()>;
    /// A proposal by id.
    fn proposal(&self, id: &Jti) -> Result<Option<Proposal>>;
    /// Open proposals.
    fn proposals(&self) -> Result<Vec<Proposal>>;
    /// The ids of proposals (open or not) that start with `prefix`, as
    /// [`OpStore::op_ids_with_prefix`](crate::OpStore::op_ids_with_prefix) does for ops.
    fn proposal_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>>;
    /// Records an approval of a proposal and, when `adopt` is true, makes
    /// its contents the adopted versions, in one transaction.
    fn approve_proposal(&self, a: &NewApproval, adopt: bool) -> Result<()>;
    /// Approvals recorded for a proposal.
    fn proposal_approvals(&self, id: &Jti) -> Result<Vec<ApprovalRow>>;
}
