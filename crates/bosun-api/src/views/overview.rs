//! The overview: what waits for a human, what runs, what is in force.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::next::NextAction;
use crate::views::fleet::RolloutBrief;
use crate::views::ops::OpBrief;

/// The halt in force: dispatch is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HaltView {
    /// Why, in the words of whoever halted.
    pub why: String,
    /// Who halted (a key id).
    pub by: String,
    /// Since when.
    pub since: Timestamp,
}

/// The controller holding the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseView {
    /// The holder (host and process).
    pub holder: String,
    /// The fencing token.
    pub token: u64,
    /// When the lease lapses unless renewed.
    pub expires_at: Timestamp,
}

/// A governed subject in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdoptedView {
    /// `policy`, `keys`, `inventory`, `runbook:<name>`, `rollout:<id>`.
    pub subject: String,
    /// The digest of its adopted content.
    pub digest: String,
    /// When it was adopted.
    pub at: Timestamp,
}

/// An open adoption proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProposalBrief {
    /// The proposal's id.
    pub id: String,
    /// Who proposed it (a key id).
    pub proposer: String,
    /// How many subjects it changes.
    pub items: usize,
}

/// A blocker as a line in the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockerBrief {
    /// The blocker's id.
    pub id: u64,
    /// Its kind.
    pub kind: String,
    /// What it is about.
    pub subject: String,
}

/// What a client needs to know of a daemon before it signs anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerInfo {
    /// The workspace's name (envelopes and tokens are bound to it).
    pub workspace: String,
    /// Seconds an op envelope stays valid after it is signed.
    pub op_ttl_secs: i64,
    /// The daemon's version.
    pub version: String,
}

/// The overview of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusView {
    /// The workspace's name.
    pub workspace: String,
    /// The halt in force, if any.
    pub halt: Option<HaltView>,
    /// The controller holding the lease, if any.
    pub controller: Option<LeaseView>,
    /// Ops queued for the controller.
    pub queue_depth: u64,
    /// Ops waiting for approval.
    pub pending_approval: Vec<OpBrief>,
    /// Ops that need a human (an outcome is unknown).
    pub needs_attention: Vec<OpBrief>,
    /// Open adoption proposals.
    pub open_proposals: Vec<ProposalBrief>,
    /// Active blockers.
    pub active_blockers: Vec<BlockerBrief>,
    /// Rollouts under way.
    pub active_rollouts: Vec<RolloutBrief>,
    /// What is in force.
    pub adopted: Vec<AdoptedView>,
    /// Differences between the files on disk and what is in force.
    pub drift: Vec<String>,
    /// What can be done next.
    pub next: Vec<NextAction>,
}
