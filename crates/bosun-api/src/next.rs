//! What a human or agent can do next, as data.
//!
//! Domain code returns a [`NextAction`]; each face spells it its own way:
//! the CLI as a command line, MCP as a tool hint, the dashboard as a button.
//! Nothing below the CLI writes command text.

use bosun_model::Role;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One thing that can be done next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NextAction {
    /// Approve (or deny) an op: an operator who did not submit it.
    Approve {
        /// The op's jti.
        op: String,
    },
    /// Report what happened to a step that waits for a human or whose
    /// outcome is unknown.
    ReportStep {
        /// The op's jti.
        op: String,
        /// The step, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The host, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// Look at an op: its plan, decision, approvals, steps.
    ShowOp {
        /// The op's jti.
        op: String,
    },
    /// Lift the halt: dispatch resumes.
    Resume,
    /// Start a controller so queued ops run.
    StartController,
    /// Look at a blocker.
    ShowBlocker {
        /// The blocker's id.
        id: u64,
    },
    /// Resolve a blocker once its cause is dealt with.
    ResolveBlocker {
        /// The blocker's id.
        id: u64,
    },
    /// List the blockers (`all`: resolved ones too).
    ListBlockers {
        /// Include resolved blockers.
        all: bool,
    },
    /// List the blocker kinds in force.
    BlockerKinds,
    /// List the hosts of the inventory in force.
    ListHosts,
    /// Look at one host.
    ShowHost {
        /// The host.
        host: String,
    },
    /// Propose adopting what changed in the governed files.
    Adopt,
    /// Approve an open adoption proposal (another operator).
    ApproveProposal {
        /// The proposal's id.
        proposal: String,
    },
    /// Register a key.
    NewKey {
        /// Its name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The role it gets, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
    },
    /// Verify the ledger (`full`: recompute every node).
    LedgerVerify {
        /// Recompute every stored node, not only the newest checkpoint.
        full: bool,
    },
    /// Verify the ledger against a checkpoint kept outside the database.
    LedgerVerifyTrusted {
        /// The file holding the trusted checkpoint.
        file: String,
    },
    /// Sign a checkpoint of the ledger.
    LedgerCheckpoint,
    /// Co-sign the newest checkpoint again.
    LedgerCosign,
    /// Start (or start over) a rollout.
    RolloutStart {
        /// The rollout's id.
        rollout: String,
    },
    /// Look at a rollout.
    RolloutStatus {
        /// The rollout's id.
        rollout: String,
    },
    /// Promote a rollout to its next wave (or mark it done).
    RolloutPromote {
        /// The rollout's id.
        rollout: String,
        /// Accept an inconclusive bar (an operator's call).
        accept_inconclusive: bool,
    },
    /// Submit the current wave again.
    RolloutRetry {
        /// The rollout's id.
        rollout: String,
    },
    /// Roll the applied waves back.
    RolloutRollback {
        /// The rollout's id.
        rollout: String,
    },
    /// Stop the rollout.
    RolloutAbort {
        /// The rollout's id.
        rollout: String,
    },
    /// Run the rollback drill on the canary.
    RolloutDrill {
        /// The rollout's id.
        rollout: String,
    },
    /// Install the newest published kernel build of a host (a human's
    /// verb: it reboots the host).
    KernelInstall {
        /// The host.
        host: String,
    },
    /// Submit the promote of a host's manifest as an op (an operator
    /// approves it; its step writes the lock).
    KernelPromote {
        /// The host.
        host: String,
    },
    /// Create the workspace (`reinit`: start a new, empty ledger).
    Init {
        /// Start a new ledger over a lost database.
        reinit: bool,
    },
}

impl NextAction {
    /// The role whose member must take this action, when only one may:
    /// approvals and accepting an inconclusive bar are operators' calls.
    pub fn needs(&self) -> Option<Role> {
        match self {
            NextAction::Approve { .. }
            | NextAction::ApproveProposal { .. }
            | NextAction::KernelInstall { .. } => Some(Role::Operator),
            NextAction::RolloutPromote {
                accept_inconclusive: true,
                ..
            } => Some(Role::Operator),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_objects_on_the_wire() {
        let a = NextAction::RolloutPromote {
            rollout: "pkg".into(),
            accept_inconclusive: false,
        };
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"action": "rollout_promote", "rollout": "pkg", "accept_inconclusive": false})
        );
        assert_eq!(serde_json::from_value::<NextAction>(j).unwrap(), a);
        assert_eq!(
            serde_json::to_value(NextAction::Resume).unwrap(),
            serde_json::json!({"action": "resume"})
        );
    }
}
