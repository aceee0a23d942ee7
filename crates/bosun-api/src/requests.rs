//! Request bodies of the HTTP API other than signed envelopes: what a
//! client asks the daemon to work out for it (a plan to sign). Nothing
//! here changes state; changes are envelopes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most targets or params one plan request may name.
pub const MAX_PLAN_ITEMS: usize = 1024;

/// Plan a runbook over hosts, for a client to show and sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The runbook's id.
    pub runbook: String,
    /// Target selectors, as `--target` takes them: a host, a `*` glob,
    /// `tag:x`, `arch:aarch64`, or `!` before any of these.
    pub targets: Vec<String>,
    /// Params, `name` → value (defaults are filled in).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The identity that will sign: its next sequence number is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Plan the runbook's read-only `check` commands only, as an op of
    /// their own (`bosun plan --check`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
    /// Answer the plan whole too (`PlannedOp.whole`), for a client that
    /// recomputes its digest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole: bool,
}

/// A rollout verb that submits an op (`bosun rollout <verb>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutVerb {
    /// Freeze the adopted definition and submit the canary wave.
    Start,
    /// Submit the next wave (or, after the last one, mark the rollout
    /// done).
    Promote,
    /// Submit the current wave again.
    Retry,
    /// Run the rollback runbook on the canary.
    Drill,
    /// Run the rollback runbook on every host changed so far.
    Rollback,
}

impl RolloutVerb {
    /// Its name, as the CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutVerb::Start => "start",
            RolloutVerb::Promote => "promote",
            RolloutVerb::Retry => "retry",
            RolloutVerb::Drill => "drill",
            RolloutVerb::Rollback => "rollback",
        }
    }

    /// What the op it submits does.
    pub fn action(self) -> bosun_model::RolloutAction {
        match self {
            RolloutVerb::Start | RolloutVerb::Promote | RolloutVerb::Retry => {
                bosun_model::RolloutAction::Apply
            }
            RolloutVerb::Drill => bosun_model::RolloutAction::Drill,
            RolloutVerb::Rollback => bosun_model::RolloutAction::Rollback,
        }
    }
}

/// Work out the op a rollout verb would submit now, for a client to
/// check, show and sign (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutPrepareRequest {
    /// The verb.
    pub action: RolloutVerb,
    /// The identity that will sign: its next sequence number is answered.
    pub issuer: String,
    /// For `promote`: let a wave paused by an inconclusive bar count as
    /// passed (recorded only when the signed op is submitted).
    #[serde(default)]
    pub accept_inconclusive: bool,
}

/// Submit the op a rollout verb decided, signed by the client: the daemon
/// decides again under the state it holds now and takes the envelope only
/// when its claims are exactly that op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRunRequest {
    /// The verb.
    pub action: RolloutVerb,
    /// For `promote`: let a wave paused by an inconclusive bar count as
    /// passed (an operator's decision, recorded with the op; the
    /// envelope's verified signer must be an operator).
    #[serde(default)]
    pub accept_inconclusive: bool,
    /// The op envelope (compact JWS), signed with the rollout claim the
    /// prepared op named.
    pub envelope: String,
}
