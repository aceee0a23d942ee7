//! How many refusals of *unauthenticated* input are recorded: input that
//! no adopted key vouches for (too large, not an envelope, an unknown
//! key, the wrong type, a bad signature). Anyone who can reach the API can
//! send such input, so recording every one would let them grow the store
//! and the ledger at will. Each is still refused, with its check; past a
//! burst of [`BURST`], only [`PER_SECOND`] a second are recorded, and the
//! rest are counted ([`Control::unrecorded_refusals`], which the daemon's
//! `/metrics` shows).
//!
//! Refusals of signed input — a replay, an expired envelope, an agent's
//! approval — are always recorded: someone's key vouches for them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bosun_api::Check;

use crate::Control;

/// Unauthenticated refusals recorded back to back before the rate applies.
pub const BURST: f64 = 100.0;
/// Unauthenticated refusals recorded per second, past the burst.
pub const PER_SECOND: f64 = 2.0;

/// Whether a refusal by `check` is of input no adopted key vouches for.
pub fn unauthenticated(check: Check) -> bool {
    matches!(
        check,
        Check::Size | Check::Format | Check::UnknownKey | Check::Type | Check::Signature
    )
}

/// A token bucket of unauthenticated refusals to record, shared by every
/// clone of a [`Control`].
#[derive(Debug)]
pub(crate) struct Budget {
    bucket: Mutex<(f64, Instant)>,
    unrecorded: AtomicU64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            bucket: Mutex::new((BURST, Instant::now())),
            unrecorded: AtomicU64::new(0),
        }
    }
}

impl Budget {
    /// Takes one refusal's worth of the budget: whether it is recorded.
    fn take(&self) -> bool {
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(b.1).as_secs_f64() * PER_SECOND;
        b.0 = (b.0 + refill).min(BURST);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            return true;
        }
        self.unrecorded.fetch_add(1, Ordering::Relaxed);
        false
    }
}

impl Control {
    /// Whether a refusal by `check` is to be recorded: always, unless it
    /// is of unauthenticated input past the budget (see [`crate::refusals`]).
    pub(crate) fn records(&self, check: Check) -> bool {
        !unauthenticated(check) || self.refusals.take()
    }

    /// How many refusals of unauthenticated input were answered but not
    /// recorded since this handle's store was opened.
    pub fn unrecorded_refusals(&self) -> u64 {
        self.refusals.unrecorded.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_recorded_then_only_the_rate() {
        let b = Budget::default();
        let recorded = (0..1000).filter(|_| b.take()).count();
        // The burst, plus what refilled while the loop ran (well under 1 s).
        assert!((100..=102).contains(&recorded), "{recorded}");
        assert_eq!(b.unrecorded.load(Ordering::Relaxed), 1000 - recorded as u64);
    }

    #[test]
    fn only_unauthenticated_checks_are_budgeted() {
        for c in [
            Check::Size,
            Check::Format,
            Check::UnknownKey,
            Check::Type,
            Check::Signature,
        ] {
            assert!(unauthenticated(c), "{c:?}");
        }
        for c in [
            Check::Replay,
            Check::Expired,
            Check::ApproverRole,
            Check::Claims,
        ] {
            assert!(!unauthenticated(c), "{c:?}");
        }
    }
}
