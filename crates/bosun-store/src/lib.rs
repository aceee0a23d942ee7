//! Durable state of the op pipeline behind one trait per area — ops and
//! approvals ([`OpStore`]), runs and the controller ([`RunStore`], with the
//! [`Queue`]), the ledger ([`LedgerStore`]), governance
//! ([`GovernanceStore`]), the fleet ([`FleetStore`]) and notices
//! ([`NoticeStore`]) — whose sum is a [`Backend`], and a conformance suite
//! (`conformance`, behind the feature of that name) that every backend must
//! pass unchanged. The backends live above this crate (`bosun-store-sqlite`);
//! this one holds no database.
//!
//! Every method that changes state is one transaction: the state change, its
//! event row and (where the op becomes runnable) its enqueue commit together
//! or not at all. Controller-side writes carry the controller's [`Lease`] and
//! are refused (`StoreError::Fenced`) once another controller holds a newer
//! one.
#![deny(missing_docs)]

pub mod append;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod fleet;
mod governance;
mod ledger;
mod notices;
mod ops;
mod page;
pub mod records;
mod runs;

pub use error::{BoxError, DbPresence, StoreError, SubmitConflict};
pub use fleet::{FleetStore, UNKNOWN_OUTCOME};
pub use governance::GovernanceStore;
pub use ledger::LedgerStore;
pub use notices::NoticeStore;
pub use ops::OpStore;
pub use page::{ALL_PAGE, Cursor, Listed, Page};
pub use records::*;
pub use runs::{Queue, RunStore};

/// Result type of store methods.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A whole backend: every area of the store and its queue. Callers hold an
/// `Arc<dyn Backend>`; a backend implements each area trait and gets this
/// one for free.
pub trait Backend:
    OpStore + RunStore + Queue + LedgerStore + GovernanceStore + FleetStore + NoticeStore
{
}
impl<T> Backend for T where
    T: OpStore + RunStore + Queue + LedgerStore + GovernanceStore + FleetStore + NoticeStore
{
}

/// The area traits, for `use bosun_store::prelude::*` where a concrete
/// backend (not a `dyn Backend`) is called.
pub mod prelude {
    pub use crate::{
        Backend, FleetStore, GovernanceStore, LedgerStore, NoticeStore, OpStore, Queue, RunStore,
    };
}
