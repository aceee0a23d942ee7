//! Runs and the controller: the lease that fences controllers, the
//! target locks, steps and their reports, the end of a run, the fleet-wide
//! halt, and the [`Queue`] of approved ops.

use crate::Result;
use crate::records::*;
use bosun_model::{Jti, OpState};

/// What the controller writes while it runs ops: the lease, runs, steps,
/// reports and the halt. Controller-side writes carry the [`Lease`] and are
/// refused ([`StoreError::Fenced`](crate::StoreError::Fenced)) once a newer
/// one exists.
pub trait RunStore: Send + Sync {
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
    /// ([`StoreError::Conflict`](crate::StoreError::Conflict)) unless the step
    /// is waiting or unknown.
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
}

/// The work queue: approved ops waiting for the controller. Enqueueing
/// happens inside the store's transactions ([`OpStore::submit_ops`],
/// [`OpStore::add_approval`], [`RunStore::report_step`]); the queue side
/// hands deliveries to the lease holder and takes their acks.
///
/// [`OpStore::submit_ops`]: crate::OpStore::submit_ops
/// [`OpStore::add_approval`]: crate::OpStore::add_approval
pub trait Queue: Send + Sync {
    /// The oldest item not yet acked and not delivered under this lease
    /// (items delivered under an older lease are redelivered).
    fn dequeue(&self, lease: &Lease, now: i64) -> Result<Option<Delivery>>;
    /// Puts a delivered item back (e.g. its targets are locked).
    fn release(&self, lease: &Lease, delivery: &Delivery) -> Result<()>;
    /// Puts back every item delivered under `lease` and not acked (a run
    /// that a store error such as a full disk cut short): the next
    /// dequeue takes them again and their runs resume as after a
    /// restart. How many were put back.
    fn release_unacked(&self, lease: &Lease) -> Result<u64>;
    /// Items not yet acked.
    fn depth(&self) -> Result<u64>;
}
