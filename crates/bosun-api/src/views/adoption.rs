//! Adoption: what differs from what is in force, a proposal with its
//! changes, and what an approval of one did. Contents travel whole, so a
//! client recomputes every digest before it shows or signs anything.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One subject a proposal changes (`policy`, `keys`, `inventory`,
/// `runbook:<id>`, `rollout:<id>`), its content whole on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeView {
    /// The subject.
    pub subject: String,
    /// Its content in force, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_content: Option<String>,
    /// Its digest in force, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_digest: Option<String>,
    /// Its proposed content.
    pub new_content: String,
    /// The digest of `new_content`: what the proposal's digest covers.
    pub new_digest: String,
}

/// What the governed files in the daemon's workspace change against what
/// is in force: what `bosun adopt` would propose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PendingView {
    /// The changes, subject by subject (empty: nothing to adopt).
    pub changes: Vec<ChangeView>,
    /// The digest a proposal of exactly these changes has (what its
    /// proposer signs), when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A proposal: who proposed it, where it stands, what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProposalView {
    /// Its id (what an approval's `op` names).
    pub id: String,
    /// Who proposed it.
    pub proposer: String,
    /// `open`, `adopted` or `superseded`.
    pub state: String,
    /// Its digest (what an approval signs).
    pub digest: String,
    /// When it was proposed.
    pub created_at: Timestamp,
    /// Its changes against what is in force now.
    pub changes: Vec<ChangeView>,
}

/// What an accepted adoption approval did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdoptionOutcome {
    /// The proposal.
    pub proposal: String,
    /// Its digest.
    pub digest: String,
    /// Distinct valid approvals so far.
    pub approvals: usize,
    /// Approvals needed.
    pub needed: usize,
    /// Whether it is now in force.
    pub adopted: bool,
}
