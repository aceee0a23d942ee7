//! The states an op moves through.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an op stands. Terminal states: `succeeded`, `failed`, `denied`,
/// `needs_attention` (an outcome that cannot be known; a human must look).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    /// Accepted by intake, not yet decided.
    Submitted,
    /// The policy wants human approvals that have not all arrived.
    PendingApproval,
    /// Decided or approved; queued for the controller.
    Approved,
    /// The controller has started its run.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed.
    Failed,
    /// The policy or a human denied it.
    Denied,
    /// A step's outcome cannot be known; a blocker was filed.
    NeedsAttention,
}

impl OpState {
    /// Every state, in pipeline order.
    pub const ALL: [OpState; 8] = [
        OpState::Submitted,
        OpState::PendingApproval,
        OpState::Approved,
        OpState::Running,
        OpState::Succeeded,
        OpState::Failed,
        OpState::Denied,
        OpState::NeedsAttention,
    ];

    /// The snake_case name used in storage and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Submitted => "submitted",
            OpState::PendingApproval => "pending_approval",
            OpState::Approved => "approved",
            OpState::Running => "running",
            OpState::Succeeded => "succeeded",
            OpState::Failed => "failed",
            OpState::Denied => "denied",
            OpState::NeedsAttention => "needs_attention",
        }
    }

    /// Parses a stored state name.
    pub fn parse(s: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the op will never change state again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OpState::Succeeded | OpState::Failed | OpState::Denied | OpState::NeedsAttention
        )
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
