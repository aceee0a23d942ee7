//! Read models: what a face shows. Built by `bosun-control` from the store
//! and the configuration in force; rendered by the faces.

pub mod adoption;
pub mod consent;
pub mod fleet;
pub mod kernel;
pub mod keys;
pub mod ledger;
pub mod ops;
pub mod overview;
pub mod runbooks;

pub use adoption::{AdoptionOutcome, ChangeView, PendingView, ProposalView};
pub use consent::ConsentView;
pub use fleet::{
    BlockerKindView, BlockerKindsView, BlockerView, HostView, InventoryView, PreparedRolloutOp,
    PreparedRun, RolloutSubmitted, RolloutView,
};
pub use kernel::{
    AppliedPatchView, CampaignView, FailedPatchView, HunkOffsetView, KernelBuildView,
    KernelChangeView, KernelHostView, KernelJobView, KernelJobsView, KernelOpView,
    KernelStatusView, PatchCheckView, PromotePreviewView, PromotedPatchView,
};
pub use keys::KeyView;
pub use ledger::{CheckpointView, LedgerStatusView};
pub use ops::{
    EnvelopeView, OpBrief, OpView, PlanView, PlannedOp, RejectionView, ReportOutcome, SubmittedView,
};
pub use overview::{ServerInfo, StatusView};
pub use runbooks::RunbookEntry;
