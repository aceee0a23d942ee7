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
