//! The claims carried inside signed envelopes (JWS payloads).
//!
//! An op asks to execute one plan; an approval (or denial) answers one op,
//! bound to the op's `jti` and its plan digest. Unknown claims are refused so
//! that nothing unreviewed can ride along in a signed envelope.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::ids::{Jti, KeyId, Name};

/// The JWS `typ` header of an op envelope.
pub const OP_TYP: &str = "bosun-op+jwt";
/// The JWS `typ` header of an approval envelope.
pub const APPROVAL_TYP: &str = "bosun-approval+jwt";
/// The JWS `typ` header of a step report.
pub const STEP_REPORT_TYP: &str = "bosun-step-report+jwt";

/// Claims of an op envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpClaims {
    /// The op's unique id.
    pub jti: Jti,
    /// The key that signed it.
    pub iss: KeyId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The workspace it is meant for.
    pub ws: Name,
    /// The runbook to run.
    pub runbook: Name,
    /// The hosts it targets.
    pub targets: Vec<Name>,
    /// Runbook parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Per-issuer sequence number, strictly increasing.
    pub seq: u64,
    /// Digest of the plan the issuer saw.
    pub plan_digest: Digest,
    /// The rollout wave this op is, when it is one: the plan is then the
    /// rollout's runbook on the wave's hosts, with the wave's bars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutRef>,
    /// A check op (`bosun plan --check`): the plan runs only the runbook's
    /// read-only `check` commands ([`crate::Plan::check`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub check: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a rollout op does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutAction {
    /// Apply the rollout's runbook to a wave, then check its bars.
    Apply,
    /// Run the rollback runbook on the hosts changed so far.
    Rollback,
    /// Run the rollback runbook on the canary, to prove it works.
    Drill,
}

impl RolloutAction {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Apply => "apply",
            RolloutAction::Rollback => "rollback",
            RolloutAction::Drill => "drill",
        }
    }
}

/// The rollout wave an op belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutRef {
    /// The rollout's id.
    pub id: Name,
    /// The wave's index (0: the canary).
    pub wave: u32,
    /// What the op does.
    pub action: RolloutAction,
    /// The nonce of the rollout's start it belongs to: an op of an earlier
    /// start (before an abort) never runs.
    #[serde(default)]
    pub start: String,
}

/// What an approval envelope says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Consent to run the plan.
    Approve,
    /// Refusal: the op is denied.
    Deny,
}

/// Claims of an approval (or denial) envelope, over `(op, plan_digest)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalClaims {
    /// The approval's own id.
    pub jti: Jti,
    /// The approver's key.
    pub iss: KeyId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The workspace.
    pub ws: Name,
    /// The op (or adoption proposal) this answers.
    pub op: Jti,
    /// The plan digest this consents to; any other plan voids it.
    pub plan_digest: Digest,
    /// Approve or deny.
    pub verdict: Verdict,
    /// Why (required for a denial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How a human step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Done as described.
    Pass,
    /// Not done, or it went wrong.
    Fail,
}

/// Claims of a step report: a human (or, where the step allows, an agent)
/// says how a step without a command went (what `ontoref step report` did by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReportClaims {
    /// The report's own id.
    pub jti: Jti,
    /// The reporter's key.
    pub iss: KeyId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The workspace.
    pub ws: Name,
    /// The op whose run it is.
    pub op: Jti,
    /// The step.
    pub step: Name,
    /// The host, when the step waits on several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Name>,
    /// Pass or fail.
    pub status: ReportStatus,
    /// What the reporter wants recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The JWS `typ` header of an API token: a short-lived statement of who
/// reads, sent as `Authorization: Bearer …` to the daemon's HTTP API.
pub const TOKEN_TYP: &str = "bosun-token+jwt";

/// Claims of an API token. It proves an identity for reads only: no
/// state change is ever authorised by a token (every change is an
/// envelope signed for that change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    /// The token's own id.
    pub jti: Jti,
    /// The identity it proves (the signing key).
    pub iss: KeyId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The workspace.
    pub ws: Name,
    /// What it is for: always `bosun-api`.
    pub aud: String,
}

/// The JWS `typ` header of a signed statement (a state change that is not
/// an op, an approval or a step report).
pub const STATEMENT_TYP: &str = "bosun-statement+jwt";

/// What a signed statement asks for. Each act is idempotent or bound to
/// the state it changes (a `resume` names the halt it lifts), so a replayed
/// statement changes nothing it was not meant to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case", deny_unknown_fields)]
pub enum Act {
    /// Stop dispatching anything new, fleet-wide.
    Halt {
        /// Why, in words.
        why: String,
    },
    /// Lift the halt in force since `since` (and no later one).
    Resume {
        /// The `since` of the halt it lifts (Unix seconds).
        since: i64,
    },
    /// File a blocker of a kind on a subject.
    BlockerFile {
        /// The blocker kind.
        kind: String,
        /// What it is about (a host, a patch, a build host, or `global`).
        subject: String,
        /// Why.
        reason: String,
        /// Who owns clearing it.
        #[serde(default)]
        owner: String,
    },
    /// Resolve blocker `id`.
    BlockerResolve {
        /// The blocker.
        id: u64,
        /// How it was resolved.
        how: String,
    },
    /// Mute a blocker's reminders until `until` (it still halts).
    BlockerSnooze {
        /// The blocker.
        id: u64,
        /// Until (Unix seconds).
        until: i64,
    },
    /// Mute the reminders of the waits of op `op` until `until`.
    Snooze {
        /// The op.
        op: Jti,
        /// Until (Unix seconds).
        until: i64,
    },
    /// Mute the reminders of a wait that is neither an op nor a blocker
    /// (`installable:<host>:<job>`, a kernel built and not installed)
    /// until `until`.
    WaitSnooze {
        /// The wait's subject, as `bosun remind` names it.
        subject: String,
        /// Until (Unix seconds).
        until: i64,
    },
    /// Abort rollout `id`: nothing more is submitted.
    RolloutAbort {
        /// The rollout.
        id: Name,
        /// Why.
        why: String,
    },
    /// Mark rollout `id` done: every wave of its start `start` passed
    /// (what `promote` does after the last wave). No op of it but a
    /// rollback runs afterwards.
    RolloutDone {
        /// The rollout.
        id: Name,
        /// The nonce of the start whose waves passed: the statement marks
        /// no other start done.
        start: String,
        /// Let the last wave, paused by an inconclusive bar, count as
        /// passed (an operator's decision, recorded).
        #[serde(default)]
        accept_inconclusive: bool,
    },
    /// Put a campaign's patches into the kernel patch tree at `scope`
    /// (`patches import`). The files travel beside the statement; each is
    /// bound here by its name and BLAKE2b-512 digest, so the ledger
    /// records exactly what was imported.
    PatchesImport {
        /// The campaign the patches come from.
        campaign: String,
        /// The narrowest correct scope (`board/pinebook-pro`).
        scope: String,
        /// Each file, in order.
        files: Vec<ImportedFile>,
    },
    /// Move `patches/<from>` to `patches/<to>` and rewrite every manifest
    /// that names it (`patches migrate-tree`).
    PatchesMigrate {
        /// The path under `patches/` that moves.
        from: String,
        /// Where it goes.
        to: String,
    },
    /// Close a campaign that ended well (`campaign close`).
    CampaignClose {
        /// The campaign.
        campaign: String,
        /// `success` or `upstreamed`.
        status: String,
    },
    /// Give up a campaign (`campaign abandon`): its patchsets leave every
    /// manifest, then are archived or deleted.
    CampaignAbandon {
        /// The campaign.
        campaign: String,
        /// Keep its patches in `archive/patches/` (else they are deleted).
        keep_as_archive: bool,
        /// The patchsets the signer saw it hold: refused unless they are
        /// exactly the campaign's when it is applied (a patchset retagged
        /// into the campaign meanwhile is not taken with the rest).
        patchsets: Vec<String>,
    },
    /// Keep kernel build job `job` until `until` (`kernel keep`).
    KernelKeep {
        /// The job id.
        job: String,
        /// Until (Unix seconds).
        until: i64,
    },
    /// Pause the pruning of kernel build jobs (`kernel prune --pause`).
    PrunePause,
    /// Lift the prune pause made at `since` (and no later one).
    PruneResume {
        /// The `since` of the pause it lifts (Unix seconds).
        since: i64,
    },
    /// Prune kernel build jobs past their retention and release idle
    /// on-demand build hosts (`kernel prune`).
    Prune,
}

/// A file a [`Act::PatchesImport`] carries: its name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedFile {
    /// The file name it is written under (`0001-….patch`).
    pub name: String,
    /// BLAKE2b-512 of its bytes, in `b2sum`'s hex.
    pub b2: String,
}

impl Act {
    /// The verb, as keeper.toml's `[statements]` names it.
    pub fn verb(&self) -> &'static str {
        match self {
            Act::Halt { .. } => "halt",
            Act::Resume { .. } => "resume",
            Act::BlockerFile { .. } => "blocker_file",
            Act::BlockerResolve { .. } => "blocker_resolve",
            Act::BlockerSnooze { .. } => "blocker_snooze",
            Act::Snooze { .. } | Act::WaitSnooze { .. } => "snooze",
            Act::RolloutAbort { .. } => "rollout_abort",
            Act::RolloutDone { .. } => "rollout_done",
            Act::PatchesImport { .. } => "patches_import",
            Act::PatchesMigrate { .. } => "patches_migrate",
            Act::CampaignClose { .. } => "campaign_close",
            Act::CampaignAbandon { .. } => "campaign_abandon",
            Act::KernelKeep { .. } => "kernel_keep",
            Act::PrunePause => "prune_pause",
            Act::PruneResume { .. } | Act::Prune => "prune",
        }
    }
}

/// The verbs of signed statements.
pub const STATEMENT_VERBS: [&str; 15] = [
    "halt",
    "resume",
    "blocker_file",
    "blocker_resolve",
    "blocker_snooze",
    "snooze",
    "rollout_abort",
    "rollout_done",
    "patches_import",
    "patches_migrate",
    "campaign_close",
    "campaign_abandon",
    "kernel_keep",
    "prune_pause",
    "prune",
];

/// Verbs that only stop or hold work: any identity may be allowed them
/// (stopping is always safe). Every other verb lets work continue or
/// widens what may run, and only human roles may be allowed it.
pub const STOPPING_VERBS: [&str; 4] = ["halt", "blocker_file", "kernel_keep", "prune_pause"];

/// Verbs that only write inputs a human must still approve before
/// anything runs (a patch imported into the tree runs only in a lock an
/// approved promote op names): any identity may be allowed them, and
/// agents are by default.
pub const AUTHORING_VERBS: [&str; 1] = ["patches_import"];

/// Claims of a signed statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementClaims {
    /// The statement's own id.
    pub jti: Jti,
    /// The signer's key.
    pub iss: KeyId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The workspace.
    pub ws: Name,
    /// What it asks for.
    pub act: Act,
}
