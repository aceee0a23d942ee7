//! Read models: what a face shows. Built by `bosun-control` from the store
//! and the configuration in force; rendered by the faces.

pub mod fleet;
pub mod ledger;
pub mod ops;
pub mod overview;

pub use fleet::{BlockerView, HostView, RolloutView};
pub use ledger::{CheckpointView, LedgerStatusView};
pub use ops::{OpBrief, OpView, PlanView, PlannedOp, SubmittedView};
pub use overview::{ServerInfo, StatusView};
