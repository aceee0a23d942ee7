//! The records a [`crate::Backend`] keeps and returns.

use bosun_model::{ApprovalClaims, Decision, Digest, Jti, KeyId, OpClaims, OpState, Plan, Role};
use serde::{Deserialize, Serialize};

/// An op accepted by intake, to be stored.
#[derive(Debug, Clone)]
pub struct NewOp {
    /// The signed envelope as received.
    pub envelope: String,
    /// Its verified claims.
    pub claims: OpClaims,
    /// The role of its issuer.
    pub role: Role,
    /// The plan intake re-made (its digest equals `claims.plan_digest`).
    pub plan: Plan,
    /// The keeper's decision.
    pub decision: Decision,
    /// `pending_approval`, `approved` or `denied`.
    pub state: OpState,
    /// When intake received it (Unix seconds).
    pub received_at: i64,
    /// The budget usage the decision was made on (empty when no budget
    /// applied): the store accepts the op only if the issuer's usage,
    /// read in the accepting transaction, is still the same.
    pub budget_basis: Vec<BudgetBasis>,
    /// What was adopted when the op was decided ([`adopted_basis`] of the
    /// adopted subjects and digests): when given, the store accepts the op
    /// only if what is adopted, read in the accepting transaction, is still
    /// that — so a key, policy or runbook an adoption replaced cannot let
    /// an op in after the adoption commits.
    pub adopted_basis: Option<Digest>,
}

/// The digest of what is adopted: each subject with its content's digest,
/// in subject order (the order [`crate::GovernanceStore::adopted_all`]
/// returns). Equal sets give equal digests.
pub fn adopted_basis<'a>(adopted: impl IntoIterator<Item = (&'a str, &'a Digest)>) -> Digest {
    let mut text = String::new();
    for (subject, digest) in adopted {
        text.push_str(subject);
        text.push('\t');
        text.push_str(digest.as_str());
        text.push('\n');
    }
    Digest::of(text.as_bytes())
}

/// What one budget of the keeper policy looked like when an op was
/// decided: the hosts its issuer's changing ops (not denied) had touched
/// since `since`, counting the ops ahead of it in the same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetBasis {
    /// The start of the budget's window (Unix seconds).
    pub since: i64,
    /// The hosts counted.
    pub used: u64,
}

/// A short view of an op for lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpSummary {
    /// Its id.
    pub jti: Jti,
    /// Its issuer.
    pub iss: KeyId,
    /// The runbook.
    pub runbook: String,
    /// Number of targets.
    pub targets: u32,
    /// Current state.
    pub state: OpState,
    /// `auto`, `approvals` or `deny`.
    pub decision: String,
    /// Received (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

/// An op with everything known about it.
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// The summary fields.
    pub summary: OpSummary,
    /// The envelope as received.
    pub envelope: String,
    /// Its claims.
    pub claims: OpClaims,
    /// The issuer's role.
    pub role: Role,
    /// Its plan.
    pub plan: Plan,
    /// The keeper's decision.
    pub decision: Decision,
    /// Approvals and denials recorded for it.
    pub approvals: Vec<ApprovalRow>,
    /// Step results of its run, by index.
    pub steps: Vec<StepResult>,
    /// Why it ended as it did (empty while running).
    pub detail: String,
}

/// An approval (or denial) to store.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// The envelope as received.
    pub envelope: String,
    /// Its verified claims.
    pub claims: ApprovalClaims,
    /// The approver's registered role.
    pub role: Role,
    /// Received (Unix seconds).
    pub received_at: i64,
    /// The passkey credential (base64url id) that signed it, when a
    /// passkey did; the ledger records it with the approval.
    pub passkey: Option<String>,
}

/// A stored approval or denial.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalRow {
    /// Its claims.
    pub claims: ApprovalClaims,
    /// The approver's role when it was recorded.
    pub role: Role,
    /// Received (Unix seconds).
    pub received_at: i64,
}

/// A rejected input and the check that refused it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejection {
    /// When (Unix seconds).
    pub at: i64,
    /// The check's name (`signature`, `unknown_key`, `expired`, `replay`,
    /// `seq`, `workspace`, `scope`, `plan_digest`, `size`, …).
    pub check: String,
    /// What it found, in words.
    pub message: String,
    /// The envelope's jti, when it could be read.
    pub jti: Option<String>,
    /// The envelope's issuer, when it could be read.
    pub iss: Option<String>,
    /// Digest of the raw input.
    pub input_digest: Digest,
}

/// A pipeline event (the ledger issue replaces this table with a Merkle log).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// Position in the log.
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// The op (or proposal) it concerns, if any.
    pub jti: Option<String>,
    /// `op.submitted`, `op.rejected`, `op.decided`, `op.approved`, …
    pub kind: String,
    /// The step it concerns, if any.
    pub step: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// When (Unix seconds).
    pub at: i64,
    /// The op it concerns, if any.
    pub jti: Option<String>,
    /// Its kind.
    pub kind: String,
    /// Details.
    pub data: serde_json::Value,
}

/// The controller lease with its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (`host:pid`).
    pub holder: String,
    /// Strictly increasing across holders.
    pub token: u64,
    /// Valid until (Unix seconds).
    pub expires_at: i64,
}

/// A queue item handed to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Queue position.
    pub id: i64,
    /// The op to run.
    pub jti: Jti,
    /// How many times it was delivered, this one included.
    pub attempts: u32,
}

/// Status of one step on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Persisted before it ran; no result yet.
    Started,
    /// Exit code 0.
    Succeeded,
    /// Non-zero exit, or could not start.
    Failed,
    /// Not run (an earlier step failed).
    Skipped,
    /// Outcome cannot be known (controller died while it ran).
    Unknown,
    /// Waits for a signed step report (a human step).
    Waiting,
}

impl StepStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Started => "started",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Unknown => "unknown",
            StepStatus::Waiting => "waiting",
        }
    }
    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<StepStatus> {
        [
            StepStatus::Started,
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
            StepStatus::Unknown,
            StepStatus::Waiting,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The result of one plan step (by its index in the plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// Index into `Plan::steps`.
    pub idx: u32,
    /// Step id.
    pub step: String,
    /// Host name.
    pub host: String,
    /// Status.
    pub status: StepStatus,
    /// Exit code, when the process ended.
    pub exit_code: Option<i32>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Output (head and tail, scrubbed).
    pub output: String,
    /// Started (Unix seconds).
    pub started_at: i64,
    /// Finished (Unix seconds), 0 while started.
    pub finished_at: i64,
}

/// What `start_run` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStart {
    /// The run is started (or was already): here are its recorded steps.
    Started {
        /// Step results recorded so far (empty for a fresh run).
        steps: Vec<StepResult>,
    },
    /// A conflicting target lock is held by another op.
    Locked {
        /// The contended host.
        host: String,
        /// The op holding it.
        by: Jti,
    },
    /// The op already ended (a redelivery after the ack was lost).
    AlreadyEnded(OpState),
}

/// The fleet-wide halt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// Why.
    pub why: String,
    /// Who.
    pub by: String,
    /// Since (Unix seconds).
    pub since: i64,
}

/// An adopted version of a governed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// `policy`, `keys` or `runbook:<id>`.
    pub subject: String,
    /// Digest of `content`.
    pub digest: Digest,
    /// The content in force.
    pub content: String,
    /// The proposal that adopted it.
    pub proposal: Jti,
    /// When (Unix seconds).
    pub adopted_at: i64,
}

/// A proposal to adopt new versions of governed files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id.
    pub id: Jti,
    /// Who proposed it.
    pub proposer: KeyId,
    /// Digest over every (subject, digest) pair: what approvals bind to.
    pub digest: Digest,
    /// Subjects and their proposed contents.
    pub items: Vec<ProposalItem>,
    /// `open`, `adopted` or `superseded`.
    pub state: String,
    /// When (Unix seconds).
    pub created_at: i64,
}

/// One file of a proposal. `content` is `None` to retire a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalItem {
    /// `policy`, `keys` or `runbook:<id>`.
    pub subject: String,
    /// The proposed content.
    pub content: String,
    /// Its digest.
    pub digest: Digest,
}

/// Largest ledger entry (its canonical JSON) accepted.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// One stored ledger row, as the store holds it (for verification, proofs
/// and the git mirror).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// Leaf index, from 0.
    pub idx: i64,
    /// The op (or proposal) the entry concerns, if any (an index column;
    /// the entry is authoritative).
    pub jti: Option<String>,
    /// The entry's kind (an index column).
    pub kind: String,
    /// The entry: canonical JSON of `{at, data, jti, kind, step}`.
    pub entry: Vec<u8>,
    /// Its leaf hash, as stored.
    pub leaf: Vec<u8>,
    /// The tree root after it, as stored.
    pub root: Vec<u8>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: [u8; 32],
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// When it was signed (Unix seconds).
    pub at: i64,
}

/// A blocker to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlocker {
    /// Its kind (`regression`, `host-drifted`, …).
    pub kind: String,
    /// What it is about: a host, a build host, patches, or empty (global).
    pub subject: String,
    /// Why it was filed.
    pub reason: String,
    /// Who owns it.
    pub owner: String,
    /// Who filed it (a key id, or `controller`).
    pub filed_by: String,
    /// The op it came from, if any.
    pub op: Option<String>,
    /// When (Unix seconds).
    pub at: i64,
}

/// A blocker as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockerRow {
    /// Its number.
    pub id: u64,
    /// Its kind.
    pub kind: String,
    /// What it is about.
    pub subject: String,
    /// Why it was filed.
    pub reason: String,
    /// Who owns it.
    pub owner: String,
    /// Who filed it.
    pub filed_by: String,
    /// The op it came from.
    pub op: Option<String>,
    /// Filed at (Unix seconds).
    pub since: i64,
    /// Reminders are muted until then (Unix seconds; 0: not snoozed).
    /// Snoozing never lifts what the blocker halts.
    pub snoozed_until: i64,
    /// Resolved at (Unix seconds), if resolved.
    pub resolved_at: Option<i64>,
    /// Who resolved it.
    pub resolved_by: String,
    /// How it was resolved.
    pub resolution: String,
}

impl BlockerRow {
    /// Whether it still halts.
    pub fn active(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// What the store knows about one host beyond the inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The host.
    pub host: String,
    /// Drifted since (Unix seconds), if drifted.
    pub drifted_since: Option<i64>,
    /// Why it is drifted.
    pub drift_reason: String,
    /// The installed version a `version` bar last saw.
    pub version: String,
    /// When that was seen (Unix seconds; 0: never).
    pub version_at: i64,
    /// The latest op that targets it: jti, runbook, state.
    pub last_op: Option<(String, String, OpState)>,
    /// Ops waiting for approval that target it.
    pub pending_approvals: u32,
}

/// A rollout's stored status document, with an optimistic-concurrency
/// version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The rollout id.
    pub id: String,
    /// The status document (owned by the rollout engine).
    pub body: serde_json::Value,
    /// Incremented by every write; a write naming an older version is
    /// refused.
    pub version: u64,
}

/// How far a reminder ladder went for one subject (`op:<jti>`,
/// `blocker:<id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderRow {
    /// What is reminded about.
    pub subject: String,
    /// Reminders sent so far.
    pub sent: u32,
    /// When the last one went out (Unix seconds; 0: never).
    pub last_at: i64,
    /// Muted until then (Unix seconds; 0: not snoozed).
    pub snoozed_until: i64,
}
