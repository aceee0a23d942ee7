//! Durable state of the op pipeline behind two traits, [`Store`] and
//! [`Queue`], with the embedded SQLite backend ([`sqlite::SqliteStore`]) and
//! a conformance suite (`conformance`, behind the feature of that name)
//! that every backend must pass unchanged.
//!
//! Every method that changes state is one transaction: the state change, its
//! event row and (where the op becomes runnable) its enqueue commit together
//! or not at all. Controller-side writes carry the controller's [`Lease`] and
//! are refused (`StoreError::Fenced`) once another controller holds a newer
//! one.
#![deny(missing_docs)]

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod records;
pub mod sqlite;

pub use records::*;
pub use sqlite::{DbPresence, SqliteStore};

use bosun_model::{Jti, KeyId, OpState};

/// Errors of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, lock timeout).
    #[error("store backend: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// The referenced op does not exist.
    #[error("no op with jti `{0}`")]
    NoSuchOp(Jti),
    /// The op is not in a state that allows the change.
    #[error("op `{jti}` is {state}: {what}")]
    WrongState {
        /// The op.
        jti: Jti,
        /// Its state.
        state: OpState,
        /// What was attempted.
        what: String,
    },
    /// This controller's lease was superseded: it must stop writing.
    #[error("controller lease {token} is no longer current (fenced)")]
    Fenced {
        /// The stale token.
        token: u64,
    },
    /// An approval with this jti was already recorded.
    #[error("approval `{0}` was already recorded (replay)")]
    ApprovalReplay(Jti),
    /// A stale row of the same id was found.
    #[error("{0}")]
    Conflict(String),
    /// The database was to be opened, not created, and there is none:
    /// the file is missing, empty or without the schema. Nothing was
    /// written.
    #[error("the database {} {found}", path.display())]
    NotInitialised {
        /// The database file.
        path: std::path::PathBuf,
        /// What is there instead.
        found: DbPresence,
    },
}

/// Why one op of a batch was not accepted by [`Store::submit_ops`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitConflict {
    /// The jti was seen before.
    #[error("replayed jti `{0}`: an op with this id was already submitted")]
    Replay(Jti),
    /// The issuer's sequence number did not increase.
    #[error("seq {seq} is not above {iss}'s last seq {last}")]
    SeqNotAbove {
        /// The issuer.
        iss: KeyId,
        /// The op's seq.
        seq: u64,
        /// The last accepted seq.
        last: u64,
    },
    /// The issuer's budget usage changed between the decision and the
    /// transaction (another batch of the same issuer was accepted first):
    /// the op was neither stored nor recorded as a rejection, and must be
    /// decided again. Every later op of the issuer in the batch gets the
    /// same answer, so that its ops stay in `seq` order.
    #[error(
        "{iss}'s budget usage changed while the op was decided (since {since}: {decided} hosts counted, {now} found)"
    )]
    BudgetMoved {
        /// The issuer.
        iss: KeyId,
        /// The window's start.
        since: i64,
        /// What the decision counted.
        decided: u64,
        /// What the transaction found.
        now: u64,
    },
}

/// Result type of store methods.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The pipeline's durable state. Implementations must be safe to share
/// between threads and between processes opening the same workspace.
pub trait Store: Send + Sync {
    /// Accepts a batch of ops in ONE transaction (group commit): records
    /// `rejected` (envelopes intake refused before the store), then for
    /// each op checks jti unseen, seq above the issuer's last and its
    /// [`BudgetBasis`] unchanged, inserts the op with its decision and
    /// state, raises the issuer's seq, writes its events, and enqueues it
    /// when its state is `approved`. Ops that conflict are not written;
    /// their conflict is returned, and a replay or seq conflict is recorded
    /// as a rejection by the same transaction (a moved budget is not: the
    /// op is to be decided again). The others are written.
    fn submit_ops(
        &self,
        ops: &[NewOp],
        rejected: &[Rejection],
    ) -> Result<Vec<std::result::Result<(), SubmitConflict>>>;
    /// Records a rejection (a check that failed at intake), with its event.
    fn record_rejection(&self, r: &Rejection) -> Result<()>;
    /// Rejections, newest first.
    fn rejections(&self, limit: usize) -> Result<Vec<Rejection>>;
    /// One op with its approvals, run and step results.
    fn op(&self, jti: &Jti) -> Result<Option<OpRecord>>;
    /// Ops, newest first, optionally only those in `state`.
    fn list_ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpSummary>>;
    /// The jtis of ops that start with `prefix`, in byte order, at most
    /// `limit`: how a short id a human typed is resolved. A jti equal to
    /// `prefix` comes first; a prefix with a character no id may hold
    /// matches nothing. Backends answer from an index on the jti, never by
    /// scanning every op.
    fn op_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>>;
    /// The ids of proposals (open or not) that start with `prefix`, as
    /// [`Store::op_ids_with_prefix`] does for ops.
    fn proposal_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>>;
    /// The issuer's last accepted seq.
    fn last_seq(&self, iss: &KeyId) -> Result<Option<u64>>;
    /// Hosts changed (targets of non-read-only ops not denied) by `iss`
    /// in ops submitted at or after `since` (Unix seconds).
    fn hosts_changed_since(&self, iss: &KeyId, since: i64) -> Result<u64>;
    /// Records an approval or denial of an op and, in the same transaction,
    /// moves the op to `transition` (when given; only from
    /// `pending_approval`), enqueueing it when that is `approved`.
    fn add_approval(&self, a: &NewApproval, transition: Option<OpState>) -> Result<()>;
    /// Every event (ledger entry), or those of one op, in order. Every
    /// state change writes its events in its own transaction: the ledger
    /// is an RFC 6962 Merkle log (see `bosun-ledger`) of canonical-JSON
    /// entries, appended idempotently per (jti, kind, step and data).
    fn events(&self, jti: Option<&Jti>) -> Result<Vec<Event>>;
    /// Appends an event of its own (halt, resume, adoption).
    fn record_event(&self, e: &NewEvent) -> Result<()>;
    /// Raw ledger rows from index `from`, at most `limit`, in order.
    fn ledger_rows(&self, from: u64, limit: usize) -> Result<Vec<LedgerRow>>;
    /// Entries in the ledger (the tree size).
    fn ledger_size(&self) -> Result<u64>;
    /// Appends many events in one transaction (group commit).
    fn record_events(&self, events: &[NewEvent]) -> Result<()>;
    /// The stored hash of the perfect subtree of `level` and index `idx`
    /// (level 0: the leaf hash of entry `idx`), for O(log n) proofs.
    fn ledger_node(&self, level: u32, idx: u64) -> Result<Option<[u8; 32]>>;
    /// Records a signed checkpoint; refused (`Conflict`) unless its size is
    /// above every stored one.
    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<()>;
    /// Replaces the note of the checkpoint of `size` with `note` (the same
    /// checkpoint with more signatures: a witness's cosignature). The
    /// caller checks that the signed text is unchanged.
    fn set_checkpoint_note(&self, size: u64, note: &str) -> Result<()>;
    /// Stored checkpoints, smallest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>>;

    /// Takes or renews the controller lease for `holder` until
    /// `now + ttl_secs`. Returns `None` while another holder's lease is
    /// live. A new holder gets a strictly larger fencing token.
    fn acquire_lease(&self, holder: &str, ttl_secs: i64, now: i64) -> Result<Option<Lease>>;
    /// Gives the lease up (if still held).
    fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// Ends a lease whose holder is known to be dead (same token only), so
    /// a successor need not wait for it to expire.
    fn break_lease(&self, stale: &Lease) -> Result<()>;
    /// The current lease holder, if live at `now`.
    fn lease_holder(&self, now: i64) -> Result<Option<Lease>>;
    /// Locks the op's targets (shared for read-only ops, exclusive
    /// otherwise) and marks the run started (op state `running`), in one
    /// transaction. Returns the host and op holding a conflicting lock
    /// instead when there is one. Idempotent for a run already started by
    /// this op: returns its recorded step results so a restarted controller
    /// can resume.
    fn start_run(&self, lease: &Lease, jti: &Jti, now: i64) -> Result<RunStart>;
    /// Persists that a step is about to run (before it runs).
    fn step_started(
        &self,
        lease: &Lease,
        jti: &Jti,
        idx: u32,
        step: &str,
        host: &str,
        now: i64,
    ) -> Result<()>;
    /// Persists a step's result.
    fn step_finished(&self, lease: &Lease, jti: &Jti, r: &StepResult) -> Result<()>;
    /// Parks a run at a step that waits for a report: records the step as
    /// `waiting` and acks the queue item, in one transaction. The op stays
    /// `running` and keeps its target locks until the report comes.
    fn park_run(&self, lease: &Lease, jti: &Jti, r: &StepResult) -> Result<()>;
    /// Records the report of a waiting step (its result, with `data` in the
    /// event) and puts the op back on the queue, in one transaction. The
    /// report of an `unknown` step (of a run that needs attention) instead
    /// releases that step's host once no unknown step holds it. Refused
    /// (`Conflict`) unless the step is waiting or unknown.
    fn report_step(&self, jti: &Jti, r: &StepResult, data: &serde_json::Value) -> Result<()>;
    /// Ends the run: op state, lock release, event, and the queue ack of the
    /// delivery, in one transaction. A run ending `needs_attention` keeps
    /// an exclusive lock on each host with an `unknown` step.
    fn finish_run(
        &self,
        lease: &Lease,
        jti: &Jti,
        state: OpState,
        detail: &str,
        now: i64,
    ) -> Result<()>;

    /// Sends an approved op whose approvals lapsed before it started back
    /// to `pending_approval` (with `detail` and an `op.approvals_lapsed`
    /// event) and takes it off the queue, in one transaction; a fresh
    /// approval queues it again. Refused (`WrongState`) unless the op is
    /// `approved`.
    fn lapse_approvals(&self, lease: &Lease, jti: &Jti, detail: &str, now: i64) -> Result<()>;

    /// Sets or lifts the fleet-wide halt, with its event.
    fn set_halt(&self, halt: Option<&Halt>, by: &str, now: i64) -> Result<()>;
    /// The halt in force, if any.
    fn halt(&self) -> Result<Option<Halt>>;

    /// The adopted version of a governed file (`policy`, `keys`,
    /// `runbook:<id>`).
    fn adopted(&self, subject: &str) -> Result<Option<Adopted>>;
    /// Every adopted subject.
    fn adopted_all(&self) -> Result<Vec<Adopted>>;
    /// Records a proposal to adopt new versions (subjects and contents).
    fn propose(&self, p: &Proposal) -> Result<()>;
    /// A proposal by id.
    fn proposal(&self, id: &Jti) -> Result<Option<Proposal>>;
    /// Open proposals.
    fn proposals(&self) -> Result<Vec<Proposal>>;
    /// Records an approval of a proposal and, when `adopt` is true, makes
    /// its contents the adopted versions, in one transaction.
    fn approve_proposal(&self, a: &NewApproval, adopt: bool) -> Result<()>;
    /// Approvals recorded for a proposal.
    fn proposal_approvals(&self, id: &Jti) -> Result<Vec<ApprovalRow>>;

    /// Files a blocker with its `blocker.filed` event and returns its
    /// number. Idempotent: while an active blocker of the same kind,
    /// subject and op exists, its number is returned and nothing is written.
    fn file_blocker(&self, b: &NewBlocker) -> Result<u64>;
    /// Blockers, newest first; only active ones unless `all`.
    fn blockers(&self, all: bool) -> Result<Vec<BlockerRow>>;
    /// One blocker.
    fn blocker(&self, id: u64) -> Result<Option<BlockerRow>>;
    /// Resolves an active blocker, with its event. Refused (`Conflict`)
    /// when it does not exist or is already resolved.
    fn resolve_blocker(&self, id: u64, by: &str, how: &str, at: i64) -> Result<()>;
    /// Mutes an active blocker's reminders until `until` (it still halts).
    fn snooze_blocker(&self, id: u64, until: i64, by: &str, at: i64) -> Result<()>;

    /// Marks a host drifted (`Some(reason)`) or converged (`None`), with
    /// its event.
    fn set_host_drift(&self, host: &str, reason: Option<&str>, at: i64) -> Result<()>;
    /// Records the installed version a bar saw on a host.
    fn set_host_version(&self, host: &str, version: &str, at: i64) -> Result<()>;
    /// What the store knows of every host that was ever targeted, drifted
    /// or versioned, by host name.
    fn host_states(&self) -> Result<Vec<HostState>>;

    /// Keeps the last good version of a file that is read from disk but not
    /// adopted (`inventory`), with a `<name>.changed` event carrying its
    /// digest; a no-op when the content is unchanged.
    fn remember(&self, name: &str, content: &str, at: i64) -> Result<()>;
    /// The last good version kept by [`Store::remember`].
    fn remembered(&self, name: &str) -> Result<Option<String>>;

    /// Every reminder row.
    fn reminders(&self) -> Result<Vec<ReminderRow>>;
    /// Records that reminder number `sent` for `subject` went out at `at`,
    /// with its `reminder.sent` event (`jti`: the op it is about, if any).
    fn note_reminder(&self, subject: &str, sent: u32, at: i64, jti: Option<&str>) -> Result<()>;
    /// Mutes `subject`'s reminders until `until`, with its event.
    fn snooze_reminder(&self, subject: &str, until: i64, by: &str, at: i64) -> Result<()>;

    /// A rollout's status document.
    fn rollout(&self, id: &str) -> Result<Option<RolloutRecord>>;
    /// Every rollout, most recently changed first.
    fn rollouts(&self) -> Result<Vec<RolloutRecord>>;
    /// Writes a rollout's status document with its event, in one
    /// transaction. `expect` is the version read (0 to create); a write
    /// over a newer version is refused (`Conflict`). Returns the new
    /// version.
    fn put_rollout(
        &self,
        id: &str,
        body: &serde_json::Value,
        expect: u64,
        event: &NewEvent,
    ) -> Result<u64>;
}

/// A whole backend: the store and its queue.
pub trait Backend: Store + Queue {}
impl<T: Store + Queue> Backend for T {}

/// The work queue: approved ops waiting for the controller. Enqueueing
/// happens inside [`Store`] transactions; the queue side hands deliveries to
/// the lease holder and takes their acks.
pub trait Queue: Send + Sync {
    /// The oldest item not yet acked and not delivered under this lease
    /// (items delivered under an older lease are redelivered).
    fn dequeue(&self, lease: &Lease, now: i64) -> Result<Option<Delivery>>;
    /// Puts a delivered item back (e.g. its targets are locked).
    fn release(&self, lease: &Lease, delivery: &Delivery) -> Result<()>;
    /// Items not yet acked.
    fn depth(&self) -> Result<u64>;
}
