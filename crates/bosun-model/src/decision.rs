//! The keeper policy's verdict on an op.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::role::Role;

/// How many distinct approvers of which roles an op needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// Number of distinct approvers.
    pub m: u32,
    /// Roles an approver may have (only human roles count, whatever is written).
    pub roles: Vec<Role>,
}

/// The three-way outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Runs without a human.
    Auto,
    /// Waits for approvals.
    Approvals(Requirement),
    /// Refused.
    Deny {
        /// Why, in words.
        reason: String,
    },
}

impl Outcome {
    /// `auto`, `approvals` or `deny`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Auto => "auto",
            Outcome::Approvals(_) => "approvals",
            Outcome::Deny { .. } => "deny",
        }
    }
}

/// A decision with what made it: the policy set's digest and the ids of the
/// policies that determined it, plus the keeper rules that adjusted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The verdict.
    pub outcome: Outcome,
    /// Digest of the policy in force (keeper.toml + every .cedar file).
    pub policy_digest: Digest,
    /// Ids of the Cedar policies that determined the outcome.
    pub policy_ids: Vec<String>,
    /// Each reason in words: which rule, ceiling, budget or mode applied.
    pub reasons: Vec<String>,
}
