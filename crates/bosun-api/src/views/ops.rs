//! Ops: a line in a list ([`OpBrief`]), the whole op ([`OpView`]) and its
//! plan ([`PlanView`]).

use std::collections::BTreeMap;

use bosun_model::{OpState, ReportStatus, Role};
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::next::NextAction;

/// An op as a line in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpBrief {
    /// The op's jti.
    pub jti: String,
    /// Who signed it (a key id).
    pub iss: String,
    /// The runbook it runs.
    pub runbook: String,
    /// How many hosts it targets.
    pub targets: u32,
    /// Where it stands.
    pub state: OpState,
    /// The policy's verdict as intake answered it: `auto`,
    /// `pending_approval` (it needs approvals) or `denied`.
    pub decision: String,
    /// When intake accepted it.
    pub created_at: Timestamp,
    /// When its state last changed.
    pub updated_at: Timestamp,
}

/// The policy's verdict on an op and what made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionView {
    /// `auto`, `approvals` or `deny`.
    pub outcome: String,
    /// How many distinct approvers it needs (0 unless `approvals`).
    pub approvals_needed: u32,
    /// The roles an approver may have.
    pub approver_roles: Vec<Role>,
    /// Why it was denied, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_because: Option<String>,
    /// The ids of the rules that decided it.
    pub rules: Vec<String>,
    /// Each reason in words.
    pub reasons: Vec<String>,
    /// The digest of the policy in force when it was decided.
    pub policy_digest: String,
}

/// A plan the daemon made for a client to sign: everything an op's claims
/// need, and the plan to show before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedOp {
    /// The workspace (the op's `ws` claim).
    pub workspace: String,
    /// Seconds an op envelope stays valid after it is signed.
    pub op_ttl_secs: i64,
    /// The runbook.
    pub runbook: String,
    /// The hosts the selectors chose, in order.
    pub targets: Vec<String>,
    /// The params, with defaults filled in.
    pub params: BTreeMap<String, String>,
    /// A check op (`plan --check`).
    pub check: bool,
    /// The plan's digest: what the op signs.
    pub plan_digest: String,
    /// The issuer's next sequence number, when an issuer was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_seq: Option<u64>,
    /// The plan, host by host.
    pub plan: PlanView,
    /// The plan whole, as its digest covers it (every host's binding,
    /// every step): answered when the request asked `whole`, so a client
    /// recomputes the digest before it shows or signs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<serde_json::Value>,
}

/// What intake made of a submitted op: the answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubmittedView {
    /// The op's id.
    pub jti: String,
    /// Its state now: `approved` (queued), `pending_approval` or `denied`.
    pub state: OpState,
    /// The policy's verdict and what made it.
    pub policy_decision: DecisionView,
    /// Active blockers that hold it (it stays queued until they are
    /// resolved), in words.
    pub held: Vec<String>,
    /// What can be done next (an approval it waits for).
    pub next: Vec<NextAction>,
}

/// One approval (or denial) of an op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalView {
    /// The approval's jti.
    pub jti: String,
    /// Who gave it (a key id).
    pub by: String,
    /// Their role.
    pub role: Role,
    /// `approve` or `deny`.
    pub verdict: String,
    /// Why, in the approver's words, when they gave a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The plan digest it signed (it counts only while the op's is the same).
    pub plan_digest: String,
    /// When it was recorded.
    pub at: Timestamp,
}

/// One step of a run on one host, as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StepView {
    /// The plan entry's index.
    pub idx: u32,
    /// The step.
    pub step: String,
    /// The host.
    pub host: String,
    /// `started`, `succeeded`, `failed`, `skipped`, `unknown`, `waiting`, …
    pub status: String,
    /// The exit code, when the command ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// Its output (capped and scrubbed).
    pub output: String,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
}

/// One planned step on one host: the exact command that will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStep {
    /// The step.
    pub step: String,
    /// The command, rendered with the op's params.
    pub command: String,
    /// Whether running it twice is harmless.
    pub idempotent: bool,
    /// Who performs it: `agent` (a command), `human` (reported) or `both`.
    pub actor: String,
    /// The steps it waits for.
    pub depends_on: Vec<String>,
    /// Runs on the control host, not the target.
    pub controller: bool,
}

/// A host's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedHost {
    /// The host.
    pub host: String,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// A plan: what an op will do, host by host, before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanView {
    /// The runbook.
    pub runbook: String,
    /// The runbook's digest as planned.
    pub runbook_digest: String,
    /// The plan's digest (what an approval is bound to).
    pub digest: String,
    /// `read-only`, `change` or `destructive`.
    pub kind: String,
    /// The target hosts.
    pub targets: Vec<String>,
    /// The params it was planned with.
    pub params: BTreeMap<String, String>,
    /// The steps per host.
    pub hosts: Vec<PlannedHost>,
}

/// An op with everything a human needs to decide on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpView {
    /// The op as a line.
    #[serde(flatten)]
    pub brief: OpBrief,
    /// The signer's role.
    pub role: Role,
    /// The issuer's sequence number.
    pub seq: u64,
    /// The plan digest the op signed.
    pub plan_digest: String,
    /// The policy's verdict and what made it (`decision` is its one word).
    pub policy_decision: DecisionView,
    /// Approvals so far.
    pub approvals: Vec<ApprovalView>,
    /// The plan.
    pub plan: PlanView,
    /// The run's steps so far.
    pub steps: Vec<StepView>,
    /// What the run or a refusal said last, in words.
    pub detail: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
}

/// What an accepted step report did (`bosun step report --json`, `POST
/// /api/v1/step-reports`, the MCP `step_report` tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportOutcome {
    /// The op.
    pub jti: String,
    /// The step.
    pub step: String,
    /// The hosts whose step it settled.
    pub hosts: Vec<String>,
    /// Pass or fail.
    pub status: ReportStatus,
    /// The op needed attention and this report settled its last step
    /// whose outcome was unknown: its run goes on at the controller's
    /// next pass.
    pub resumed: bool,
    /// Steps of the op whose outcome is still unknown (`step on host`),
    /// each waiting for a report before the run goes on.
    pub still_unknown: Vec<String>,
}

/// An input intake refused, as recorded: `bosun ops rejections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RejectionView {
    /// When.
    pub at: Timestamp,
    /// The check that refused it.
    pub check: String,
    /// Why, in words.
    pub message: String,
    /// The op's id, when the input named one.
    pub jti: Option<String>,
    /// Its issuer, when the input named one.
    pub iss: Option<String>,
    /// The digest of the input as received.
    pub input_digest: String,
}

/// An op's signed envelope as submitted: `bosun ops show --envelope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvelopeView {
    /// The op's id.
    pub jti: String,
    /// The compact JWS, as it was submitted.
    pub envelope: String,
}
