//! Read models: what a face shows. Built by `bosun-control` from the store
//! and the configuration in force; rendered by the faces.

pub mod fleet;
pub mod keys;
pub mod ledger;
pub mod ops;
pub mod overview;
pub mod runbooks;

pub use fleet::{
    BlockerView, HostView, PreparedRolloutOp, PreparedRun, RolloutSubmitted, RolloutView,
};
pub use keys::KeyView;
pub use ledger::{CheckpointView, LedgerStatusView};
pub use ops::{OpBrief, OpView, PlanView, PlannedOp, ReportOutcome, SubmittedView};
pub use overview::{ServerInfo, StatusView};
pub use runbooks::RunbookEntry;
