//! Rollouts: one runbook applied wave by wave, canary first, each wave an
//! op of its own with the wave's bars checked on every host after its
//! change.
//!
//! The engine keeps a status document per rollout in the store (the
//! definition as started, frozen, and the list of ops it submitted) and
//! derives everything else from those ops' states and bar results, so a
//! crash at any point loses nothing and there is no second copy of the
//! truth to drift:
//!
//! ```text
//!  start ──> wave 0 (canary) op ──approve──> run + bars
//!              │ passed, baked ──(drill: rollback on the canary, then retry)──┐
//!              ▼                                                              │
//!  promote ──> wave 1 op (always needs a human: hard rule) ──> … ──> done     │
//!  a failed bar: the wave halts, host drifted, `regression` blocker filed     │
//!  an inconclusive bar: the wave pauses; promote --accept-inconclusive or retry
//!  rollback: the rollback runbook on every host changed so far; abort: stop.
//! ```
//!
//! Intake re-plans a rollout op from the frozen definition (so editing the
//! file mid-rollout changes nothing) and refuses ops of a rollout that is
//! no longer active; the controller fails, without running, an op of a
//! rollout that was aborted after the op was approved.
//!
//! The parts: `document` (the stored document and the adopted definition),
//! `plan` (a rollout op's plan: the runbook plus the wave's bars),
//! `admission` (whether intake may take, and the controller run, an op of
//! a rollout; it implements intake's [`crate::intake::RolloutAdmission`]),
//! `decide` (what a verb submits next, writing nothing), `engine` (start,
//! promote, retry, drill, rollback, abort: the op decided is signed, then
//! committed), `signed` (the same verbs for a
//! client of the daemon, which signs on its side) and `status` (the
//! status derived from the ops, and what a human can do next).
//! Rollout depends on intake (it submits its ops through it); intake never
//! imports rollout.

mod admission;
mod decide;
mod document;
mod engine;
mod plan;
mod signed;
mod status;

pub use admission::admits;
pub(crate) use decide::{Decided, RolloutAsk};
pub use document::{Doc, Phase, RunRef, load_def};
pub use engine::{Submitted, done_refused};
pub use plan::plan_for;
pub use status::{BarResult, RunStatus, Status, status_words};

#[cfg(test)]
mod fixture {
    //! A rollout document to test the pure parts against: rollout `k71`,
    //! a canary wave and a `rest` wave, a rollback runbook, a drill
    //! required before promotion; started as `s1`.

    use bosun_fleet::rollout::Rollout;
    use bosun_model::RolloutAction;

    use super::{Doc, Phase, RunRef};

    const DEF: &str = r#"
id = "k71"
runbook = "install-kernel"
rollback = "rollback-kernel"
require_rollback_drill = true

[[waves]]
name = "canary"
hosts = "tag:canary"

[[waves]]
name = "rest"
hosts = "tag:lab"
"#;

    /// Op `op` of wave `wave` doing `action` on `lab-a`.
    pub(super) fn run(op: &str, action: RolloutAction, wave: u32) -> RunRef {
        RunRef {
            action,
            wave,
            op: op.into(),
            hosts: vec!["lab-a".into()],
            at: 0,
            by: "alice".into(),
        }
    }

    /// The document of start `s1` in `phase` with `runs` submitted.
    pub(super) fn doc(runs: Vec<RunRef>, phase: Phase) -> Doc {
        Doc {
            def: Rollout::parse("rollouts/k71.toml", "k71", DEF).unwrap(),
            phase,
            runs,
            accepted_inconclusive: Vec::new(),
            start: "s1".into(),
            started_by: "alice".into(),
            started_at: 0,
            note: String::new(),
        }
    }
}
