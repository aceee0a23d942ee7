//! Plain data shared by every bosun crate: identifiers, roles, the claims an
//! op or approval envelope carries, plans and their digests, hosts, policy
//! decisions and op states.
//!
//! This crate does no I/O, never prints and never exits. Everything here can
//! be built from untrusted input only through validating constructors
//! (`TryFrom`/`parse`), so a value of these types is always well-formed.
#![deny(missing_docs)]

pub mod claims;
pub mod decision;
pub mod digest;
pub mod host;
pub mod ids;
pub mod plan;
pub mod role;
pub mod source;
pub mod state;

pub use claims::{
    Act, ApprovalClaims, ImportedFile, OpClaims, ReportStatus, RolloutAction, RolloutRef,
    StatementClaims, StepReportClaims, TokenClaims, Verdict,
};
pub use decision::{Decision, Outcome, Requirement};
pub use digest::{Digest, canonical_json};
pub use host::{Build, BuildRole, Host, HostBinding, Transport};
pub use ids::{IdError, Jti, KeyId, Name};
pub use plan::{
    Actor, BarCheck, CONTROLLER_HOST, DepKind, Dependency, OnError, Plan, PlanStep, Strategy, VERBS,
};
pub use role::Role;
pub use source::{SourceError, line_col};
pub use state::OpState;
