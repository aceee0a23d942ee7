//! The fleet: rollouts wave by wave, blockers, hosts.

use bosun_model::OpState;
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::next::NextAction;

/// A rollout as a line in the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutBrief {
    /// The rollout's id.
    pub id: String,
    /// Where it stands, in words (no commands).
    pub summary: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
}

/// One wave of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaveView {
    /// The wave's name (`canary`).
    pub name: String,
    /// The hosts it selects (`tag:canary`).
    pub hosts: String,
}

/// One op a rollout submitted, with how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutRunView {
    /// `apply`, `rollback` or `drill`.
    pub action: String,
    /// The wave's index.
    pub wave: u32,
    /// The op's jti.
    pub op: String,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// When it was submitted.
    pub at: Timestamp,
    /// Who submitted it.
    pub by: String,
    /// `awaiting_approval`, `in_flight`, `passed`, `halted`, `paused`,
    /// `failed`, `needs_attention`, `denied`.
    pub status: String,
    /// The op's state while in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<OpState>,
    /// When it passed or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Why it halted or paused, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One bar's verdict on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BarView {
    /// The host.
    pub host: String,
    /// The bar step (`bar-1-version`).
    pub bar: String,
    /// `pass`, `fail` or `inconclusive`.
    pub verdict: String,
    /// Why.
    pub why: String,
}

/// The op a rollout verb would submit now, for a client to check, show
/// and sign; or, for a promote after the last wave, that the rollout
/// would be done (nothing to sign).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PreparedRun {
    /// The rollout's id.
    pub rollout: String,
    /// The verb asked.
    pub verb: crate::requests::RolloutVerb,
    /// Every wave passed: a promote marks the rollout done (a signed
    /// `rollout_done` statement naming `start`) and submits no op.
    pub done: bool,
    /// The nonce of the rollout's start the op (its rollout claim) or the
    /// statement marking it done names (for `start`, a fresh one).
    pub start: String,
    /// The op to sign, unless `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<PreparedRolloutOp>,
}

/// A rollout op to sign: the plan and the rollout claim it carries (with
/// the start nonce of its [`PreparedRun`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PreparedRolloutOp {
    /// The plan, the workspace, the lifetime and the signer's next
    /// sequence number (the op's claims but the rollout claim).
    pub planned: crate::views::PlannedOp,
    /// The rollout claim: the wave (0: the canary; for a rollback, the
    /// last wave applied).
    pub wave: u32,
    /// The rollout claim: what the op does.
    pub action: bosun_model::RolloutAction,
    /// The version of the rollout's status document this was decided
    /// against (0: never started).
    pub version: u64,
    /// For a rollback: hosts the rollout changed that are no longer in
    /// the inventory (not rolled back).
    pub not_in_inventory: Vec<String>,
}

/// What a rollout verb submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutSubmitted {
    /// The rollout's id.
    pub rollout: String,
    /// The op, as intake took it.
    pub op: crate::views::SubmittedView,
    /// For a rollback: hosts the rollout changed that are no longer in
    /// the inventory (not rolled back).
    pub not_in_inventory: Vec<String>,
}

/// A rollout wave by wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutView {
    /// The rollout's id.
    pub id: String,
    /// `active`, `aborted`, `rolling_back`, `done`, `rolled_back`.
    pub phase: String,
    /// Its waves, in order.
    pub waves: Vec<WaveView>,
    /// The ops it submitted, in order.
    pub runs: Vec<RolloutRunView>,
    /// The bars of the latest run.
    pub bars: Vec<BarView>,
    /// Where it stands, in words (no commands).
    pub summary: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
}

/// A blocker: what halts what, who owns it, how it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockerView {
    /// The blocker's id.
    pub id: u64,
    /// Its kind.
    pub kind: String,
    /// What it is about (a host, a patch, a campaign).
    pub subject: String,
    /// Why it was filed.
    pub reason: String,
    /// Who owns it.
    pub owner: String,
    /// Who filed it.
    pub filed_by: String,
    /// The op it came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Since when.
    pub since: Timestamp,
    /// Snoozed until (reminders only; it still halts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<Timestamp>,
    /// When it was resolved, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Who resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// How it was resolved, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// What it halts, in words.
    pub halts: Vec<String>,
    /// What ends it, in words (no commands).
    pub route: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
}

/// The last op that touched a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LastOp {
    /// The op's jti.
    pub jti: String,
    /// Its runbook.
    pub runbook: String,
    /// Its state.
    pub state: OpState,
}

/// A host of the inventory in force, with what bosun knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostView {
    /// The host.
    pub host: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its architecture, when the inventory says.
    pub arch: Option<String>,
    /// `ssh` or `local`.
    pub transport: String,
    /// The last op that touched it.
    pub last_op: Option<LastOp>,
    /// The version a bar last read from it.
    pub version: Option<String>,
    /// Whether it drifted from what bosun last applied.
    pub drifted: bool,
    /// Since when, if it did.
    pub drifted_since: Option<Timestamp>,
    /// Why it drifted, if it did.
    pub drift_reason: Option<String>,
    /// Ops on it waiting for approval.
    pub pending_approvals: u32,
    /// Active blockers on it.
    pub blockers: Vec<crate::views::overview::BlockerBrief>,
}

/// The inventory in force (the adopted `fleet/hosts.toml`): `bosun hosts
/// list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryView {
    /// Its hosts, in the file's order.
    pub hosts: Vec<bosun_model::Host>,
    /// Set when the file on disk differs from what is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A kind of blocker in force: what it halts, on what, who owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockerKindView {
    /// Its name (`host-drifted`).
    pub name: String,
    /// The verbs it halts; `*` halts every changing verb.
    pub halts: Vec<String>,
    /// How its subject is matched: `host`, `build-host`, `patch`, `global`.
    pub scope: String,
    /// What it halts, in words.
    pub description: String,
    /// Who owns a blocker of this kind unless its filer names someone.
    pub owner: String,
    /// Where it is routed (a team, an agent, a channel).
    pub route: String,
    /// The command that usually clears it (`{subject}`, `{id}` filled in
    /// per blocker).
    pub next: String,
    /// What to do when the owner cannot.
    pub fallback: String,
}

/// The blocker kinds in force: `bosun blockers kinds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockerKindsView {
    /// `default` (the built-in table) or the adopted file's path.
    pub source: String,
    /// The kinds.
    pub kinds: Vec<BlockerKindView>,
}
