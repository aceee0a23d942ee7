//! The conformance suite every [`crate::Backend`] must pass unchanged: one
//! `#[test]` per check, written by [`conformance_tests!`](crate::conformance_tests)
//! in the backend's own test crate with a factory of fresh, empty backends
//! (their own file, database or stream).
//!
//! The checks are grouped by area ([`ops`], [`runs`], [`ledger`],
//! [`fleet`], and [`pages`] for the paged listings); [`race`] holds the concurrent ones, where two threads race
//! for the same budget, lease, op jti or approval jti, so that a backend
//! whose writes are not isolated fails. Each check panics with a message
//! naming the broken contract: it is test code, compiled only with the
//! `conformance` feature (which backend crates turn on for their tests),
//! never into the binary.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed call is a failed check"
)]

mod fixtures;
pub mod fleet;
pub mod ledger;
pub mod ops;
pub mod pages;
pub mod race;
pub mod runs;

pub use crate::Backend;
pub use fixtures::{approval, jti, new_op};
pub use fleet::*;
pub use ledger::*;
pub use ops::*;
pub use pages::*;
pub use race::*;
pub use runs::*;

/// A fresh, empty backend for one check, with what must outlive it (a
/// temporary directory, a server handle), dropped after the backend.
pub struct Fresh {
    /// The backend under test.
    pub backend: Box<dyn Backend>,
    /// Kept alive until the check ends.
    pub keep: Box<dyn std::any::Any>,
}

/// Writes one `#[test]` per conformance check, each on a backend made by
/// `$make` (an expression callable with no argument that returns a
/// [`Fresh`]):
///
/// ```ignore
/// bosun_store::conformance_tests!(fresh_sqlite);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            submit_and_read_back,
            replay_and_seq_are_refused_and_recorded,
            batch_is_partial_but_atomic_per_op,
            approval_enqueues_in_same_transaction,
            approval_replay_refused,
            lapsed_approvals_requeue_on_a_fresh_one,
            lease_fencing,
            queue_redelivers_to_new_lease_only,
            target_locks,
            steps_are_recorded_once,
            halt_round_trip,
            adoption,
            an_adoption_sends_ops_decided_before_it_back,
            budgets_count_changed_hosts,
            a_moved_budget_sends_the_op_back,
            rejections_commit_with_the_batch,
            parked_runs_wait_for_a_report,
            ledger_is_a_merkle_log,
            blockers_file_once_and_resolve,
            host_states_join_ops_and_drift,
            rollouts_are_versioned,
            reminders_count_and_snooze,
            remembered_files,
            ids_resolve_by_prefix,
            racing_batches_cannot_slip_past_a_budget,
            one_controller_holds_the_lease,
            a_jti_submitted_twice_is_accepted_once,
            an_approval_jti_counts_once,
            lists_page_with_a_cursor,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let fresh: $crate::conformance::Fresh = ($make)();
                $crate::conformance::$check(fresh.backend.as_ref());
            }
        )*
    };
}
