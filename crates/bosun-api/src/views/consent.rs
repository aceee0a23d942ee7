//! What a human consents to, as the daemon answers it (`GET
//! /api/v1/ops/{id}/consent`): the op, how its runbook stands against what
//! is adopted, the approvals that count and those that do not, the
//! blockers that hold it and the budgets its issuer draws on. A client
//! renders it beside the op's whole plan (whose digest it recomputes), as
//! the embedded CLI renders the same view.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::views::ops::OpView;

/// One approval or denial that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VoidedView {
    /// Who signed it.
    pub by: String,
    /// Why it does not count.
    pub why: String,
}

/// A keeper budget the op's issuer draws on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetView {
    /// Hosts an issuer of this role may change within the window.
    pub max_hosts: u64,
    /// The window, in seconds.
    pub per_secs: i64,
    /// Hosts the issuer's changing ops touched within the window, now.
    pub used: u64,
}

/// Everything an approver reads before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConsentView {
    /// The op.
    pub op: OpView,
    /// How its runbook stands: `adopted` (the version in force),
    /// `not_in_force` (another version is, or none now), `never_adopted`.
    pub runbook_standing: String,
    /// The digest of the runbook version in force, when it is not the
    /// planned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_in_force: Option<String>,
    /// Distinct identities whose approval counts now.
    pub approvals_valid: Vec<String>,
    /// Approvals and denials that do not count.
    pub approvals_void: Vec<VoidedView>,
    /// Who denied it, if a valid denial was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<String>,
    /// The active blockers that hold it, in words.
    pub holds: Vec<String>,
    /// The budgets its issuer draws on (while it waits for approval).
    pub budgets: Vec<BudgetView>,
}

impl ConsentView {
    /// How the op's runbook stands, in the words every face shows.
    pub fn standing_words(&self) -> String {
        match (self.runbook_standing.as_str(), &self.runbook_in_force) {
            ("adopted", _) => "the adopted version".to_string(),
            ("not_in_force", Some(d)) => format!("NOT the version in force now ({d})"),
            ("not_in_force", None) => "NOT the version in force now".to_string(),
            _ => "NEVER ADOPTED: planned from the file on disk; it cannot run without a human"
                .to_string(),
        }
    }
}
