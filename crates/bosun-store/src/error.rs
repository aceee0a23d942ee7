//! The errors of the store: what a caller can act on (busy, not found,
//! stale, too large, fenced, replayed) as variants, with the backend's own
//! error kept as the source.

use bosun_model::{Jti, KeyId, OpState};

/// The error a backend keeps as the source of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer held the store past the backend's wait (a lock
    /// timeout): nothing was written, and the same call may succeed if
    /// tried again ([`StoreError::is_retryable`]).
    #[error("the store is busy: another writer held it too long; nothing was written, try again")]
    Busy {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// Reading or writing the store's files failed (disk full, permissions,
    /// an I/O error).
    #[error("store I/O failed: {what}")]
    Io {
        /// What was being done, and where.
        what: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The disk holding the store is full: the transaction was rolled
    /// back and nothing was written. Reads still work; a write may succeed
    /// once space is freed ([`StoreError::is_disk_full`]).
    #[error(
        "the disk holding the store is full: nothing was written; free some space and try again"
    )]
    DiskFull {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A write was asked of a store opened read-only (for a verb that
    /// only reads); nothing was written.
    #[error("the store was opened read-only, for a command that only reads; nothing was written")]
    ReadOnly,
    /// The store's schema is older than this build's, and it was opened
    /// read-only: reading it would need a migration, which is a write.
    #[error("{} has schema version {found}, older than this bosun's ({current}); a command that only reads does not migrate it", path.display())]
    Outdated {
        /// The database.
        path: std::path::PathBuf,
        /// Its schema version.
        found: i64,
        /// The version this build writes.
        current: i64,
    },
    /// The backend failed in a way no caller can act on (a bug, an
    /// unexpected answer of the database).
    #[error("the store backend failed: {what}")]
    Backend {
        /// What was being done.
        what: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A page asked to continue after a cursor this listing did not make.
    #[error("`{cursor}` is not a cursor of this listing; start from the first page")]
    BadCursor {
        /// The cursor given.
        cursor: String,
    },
    /// The store was written by a newer version than this one reads.
    #[error("{} has schema version {found}, newer than this bosun understands ({supported}); upgrade bosun", path.display())]
    TooNew {
        /// The database.
        path: std::path::PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
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
        source: BoxError,
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
    /// The change conflicts with the state of what it changes (a step
    /// already started, a blocker already resolved, a proposal that is
    /// not open): the message says what.
    #[error("{0}")]
    Conflict(String),
    /// What the change refers to does not exist (a blocker, proposal or
    /// checkpoint): the message names it.
    #[error("{0}")]
    NotFound(String),
    /// What was read is no longer current (a newer rollout version, a
    /// checkpoint at least as large): read again and decide again.
    #[error("{0}")]
    Stale(String),
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

/// Why one op of a batch was not accepted by
/// [`OpStore::submit_ops`](crate::OpStore::submit_ops).
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
    /// What is adopted changed between the decision and the transaction
    /// (an adoption committed meanwhile): the op was neither stored nor
    /// recorded, and is to be decided on what is in force now. Every op of
    /// the batch decided on the same basis gets the same answer.
    #[error(
        "what is adopted changed while the op was decided (an adoption committed meanwhile); submit it again to have it decided on what is in force now"
    )]
    AdoptionMoved,
}

impl StoreError {
    /// Whether the same call may succeed if made again unchanged (the
    /// store was busy). A [`StoreError::Stale`] answer is not: the caller
    /// must read again first.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }

    /// Whether the write failed because the disk holding the store is
    /// full: nothing was written, and the same call may succeed once space
    /// is freed (a daemon retries it with a backoff).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }

    /// A backend failure with `what` was being done.
    pub fn backend(what: impl Into<String>, source: impl Into<BoxError>) -> StoreError {
        StoreError::Backend {
            what: what.into(),
            source: source.into(),
        }
    }
}
