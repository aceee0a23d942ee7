//! Fleet rules as plain data, parsed from the workspace's files and judged
//! without I/O:
//!
//! - [`blockers`]: `blockers.toml`, the blocker kinds in force and what
//!   each halts (seed 001's table is the default), and the judgement of
//!   whether an active blocker holds an op;
//! - [`rollout`]: `rollouts/<id>.toml`, waves (the first is the canary),
//!   their hosts, limits, bake time and bars, and the rollback runbook;
//! - [`bars`]: the verification bars and how a bar's observed result
//!   becomes `pass`, `fail` or `inconclusive`.
#![deny(missing_docs)]

pub mod bars;
pub mod blockers;
pub mod rollout;

/// Largest `blockers.toml` or rollout file read, in bytes.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
