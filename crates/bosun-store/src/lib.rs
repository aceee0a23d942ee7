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
mod fleet;
mod governance;
mod ledger;
mod notices;
mod ops;
pub mod records;
mod runs;

pub use fleet::{FleetStore, UNKNOWN_OUTCOME};
pub use governance::GovernanceStore;
pub use ledger::LedgerStore;
pub use notices::NoticeStore;
pub use ops::OpStore;
pub use records::*;
pub use runs::{Queue, RunStore};

use bosun_model::{Jti, KeyId, OpState};

/// Errors of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, lock timeout).
    #[error("store backend: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode the {what}")]
    Encode {
        /// What was encoded.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A value is over the store's limit for it; nothing was written.
    #[error("{what} of {size} bytes is over the limit of {limit}; nothing was written")]
    TooLarge {
        /// What was refused.
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The referenced op does not exist.
    #[error("no op with jti `{0}`")]
    NoSuchOp(Jti),
    /// The op is not in a state that allows the change.
    #[error("op `{jti}` is {state}: {what}")]
    WrongState {
        /// The op.
        jti: Jti,
        /// Its state.
        state: OpState,
        /// What was attempted.
        what: String,
    },
    /// This controller's lease was superseded: it must stop writing.
    #[error("controller lease {token} is no longer current (fenced)")]
    Fenced {
        /// The stale token.
        token: u64,
    },
    /// An approval with this jti was already recorded.
    #[error("approval `{0}` was already recorded (replay)")]
    ApprovalReplay(Jti),
    /// A stale row of the same id was found.
    #[error("{0}")]
    Conflict(String),
    /// The database was to be opened, not created, and there is none:
    /// the file is missing, empty or without the schema. Nothing was
    /// written.
    #[error("the database {} {found}", path.display())]
    NotInitialised {
        /// The database file.
        path: std::path::PathBuf,
        /// What is there instead.
        found: DbPresence,
    },
}

/// What a backend found where its database should be (`SqliteStore::probe`
/// of `bosun-store-sqlite`): a database with bosun's schema, or what stands
/// in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbPresence {
    /// No file.
    Missing,
    /// A file of 0 bytes (truncated, or never written).
    Empty,
    /// An SQLite file without bosun's schema (`user_version` 0).
    NoSchema,
    /// A database with bosun's schema (of any version).
    Present,
}

impl DbPresence {
    /// In words, for messages: "is missing", "is empty (0 bytes)", …
    pub fn as_str(self) -> &'static str {
        match self {
            DbPresence::Missing => "is missing",
            DbPresence::Empty => "is empty (0 bytes)",
            DbPresence::NoSchema => "has no bosun schema",
            DbPresence::Present => "is present",
        }
    }
}

impl std::fmt::Display for DbPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one op of a batch was not accepted by [`OpStore::submit_ops`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitConflict {
    /// The jti was seen before.
    #[error("replayed jti `{0}`: an op with this id was already submitted")]
    Replay(Jti),
    /// The issuer's sequence number did not increase.
    #[error("seq {seq} is not above {iss}'s last seq {last}")]
    SeqNotAbove {
        /// The issuer.
        iss: KeyId,
        /// The op's seq.
        seq: u64,
        /// The last accepted seq.
        last: u64,
    },
    /// The issuer's budget usage changed between the decision and the
    /// transaction (another batch of the same issuer was accepted first):
    /// the op was neither stored nor recorded as a rejection, and must be
    /// decided again. Every later op of the issuer in the batch gets the
    /// same answer, so that its ops stay in `seq` order.
    #[error(
        "{iss}'s budget usage changed while the op was decided (since {since}: {decided} hosts counted, {now} found)"
    )]
    BudgetMoved {
        /// The issuer.
        iss: KeyId,
        /// The window's start.
        since: i64,
        /// What the decision counted.
        decided: u64,
        /// What the transaction found.
        now: u64,
    },
}

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
