//! The op pipeline: intake (verify, re-plan, decide, persist, enqueue),
//! approvals and adoption (the hard rules and M-of-N governance), and the
//! controller (lease, queue, execution, durable step results, halt).
//!
//! It wires the crates below it and owns no presentation: every function
//! returns typed results; the CLI prints them.
#![deny(missing_docs)]

pub mod adopt;
pub mod approve;
pub mod bars;
pub mod blockers;
pub mod client;
pub mod consent;
pub mod controller;
pub mod daemon;
pub mod dispatch;
pub mod exec;
pub mod genesis;
pub mod governed;
pub mod intake;
pub mod kernel;
pub mod kernel_acts;
mod kernel_build;
mod kernel_plan;
pub mod kernel_runner;
pub mod kernel_wait;
pub mod ledger;
pub mod mirror;
pub mod notify;
pub mod owned;
pub mod passkey;
pub mod pipeline;
pub mod proposal;
pub mod reads;
pub mod refusals;
pub mod report;
pub mod resolve;
pub mod rollout;
pub mod statement;
pub mod token;
pub mod trusted;
pub mod views;

use std::sync::Arc;

use bosun_store::Backend;
use bosun_store_sqlite::SqliteStore;
use bosun_workspace::Workspace;

pub use genesis::StoreLoss;

pub use governed::Governed;

/// Errors of the pipeline that are not a verdict on an input.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] bosun_store::StoreError),
    /// The workspace could not be read.
    #[error(transparent)]
    Workspace(#[from] bosun_workspace::WsError),
    /// Signing or key handling failed.
    #[error(transparent)]
    Sign(#[from] bosun_sign::SignError),
    /// A plan could not be made.
    #[error(transparent)]
    Plan(#[from] bosun_runbook::PlanError),
    /// The policy files are invalid (the policy in force is unchanged).
    #[error("the policy files are invalid; the policy in force is unchanged:\n{0}")]
    Policy(#[from] bosun_policy::PolicyErrors),
    /// The workspace keeps a ledger (its key is published) but its
    /// database is missing, empty or without entries: it was deleted,
    /// truncated or replaced. Nothing was created or written.
    #[error(
        "the database {} {found}, but {} shows this workspace keeps a ledger: the database was deleted, truncated or replaced, and nothing was re-created.\n  To restore: stop bosun, copy your backup of bosun.db to {}, then verify it against a checkpoint you kept.\n  To start a new, empty ledger deliberately: re-initialise the workspace (recorded as the new ledger's first entry; adopt the policy and keys again afterwards).",
        db.display(),
        key.display(),
        db.display()
    )]
    StoreLost {
        /// The database file.
        db: std::path::PathBuf,
        /// The published ledger key that shows a ledger was kept.
        key: std::path::PathBuf,
        /// What stands in the database's place.
        found: StoreLoss,
    },
    /// `bosun.toml` names the workspace otherwise than its ledger, which
    /// recorded its name when it began: every envelope, statement and
    /// checkpoint is bound to that name, so a renamed workspace is
    /// refused by every verb (see [`genesis::check_name`]).
    #[error(
        "{} names this workspace `{named}`, but its ledger began as `{recorded}` (its first entry), and every envelope and checkpoint is bound to that name; nothing was done.\n  Put `name = \"{recorded}\"` back in bosun.toml: a workspace cannot be renamed (for another name, start a new workspace).",
        config.display()
    )]
    Renamed {
        /// The workspace's `bosun.toml`.
        config: std::path::PathBuf,
        /// The name it gives.
        named: String,
        /// The name the ledger recorded.
        recorded: String,
    },
    /// A trusted checkpoint could not be read, is not trusted, or would
    /// be replaced by an older one.
    #[error(transparent)]
    Trusted(#[from] trusted::TrustedError),
    /// A short id names no single op or proposal (too short, no match,
    /// or several: the candidates are listed).
    #[error(transparent)]
    Id(#[from] resolve::IdError),
    /// What happened, in words, and what to do about it, as data (each
    /// face spells the action its own way).
    #[error("{message}")]
    Next {
        /// What happened.
        message: String,
        /// What can be done about it.
        next: Vec<bosun_api::NextAction>,
    },
    /// What a proof was asked for is not in the ledger: no checkpoint
    /// yet or of that size, an index or an op's entries past the latest
    /// checkpoint. The message says which; `next` what to do (sign a
    /// checkpoint, say).
    #[error("{message}")]
    NotInLedger {
        /// What is missing.
        message: String,
        /// What can be done about it.
        next: Vec<bosun_api::NextAction>,
    },
    /// Anything else, in words: what happened and what to do.
    #[error("{0}")]
    Other(String),
}

/// What kind of failure a [`ControlError`] is, for a face that answers
/// with a status (the HTTP API): the store's kinds a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The store is busy; try again.
    Busy,
    /// The disk is full; reads still work.
    DiskFull,
    /// The store is open read-only or its schema is older than the build.
    Unavailable,
    /// What was named does not exist.
    NotFound,
    /// What was given cannot name anything (an id too short, or one
    /// that names several).
    BadInput,
    /// An input was over a limit.
    TooLarge,
    /// The change conflicts with the state of what it changes.
    Conflict,
    /// Anything else: a failure of the server, not of the request.
    Other,
}

impl ControlError {
    /// The kind of failure this is.
    pub fn failure(&self) -> Failure {
        use bosun_store::StoreError as S;
        match self {
            ControlError::Id(resolve::IdError::NoMatch { .. })
            | ControlError::NotInLedger { .. } => Failure::NotFound,
            ControlError::Id(_) => Failure::BadInput,
            ControlError::Store(s) => match s {
                S::Busy { .. } => Failure::Busy,
                S::DiskFull { .. } => Failure::DiskFull,
                S::ReadOnly | S::Outdated { .. } => Failure::Unavailable,
                S::NoSuchOp(_) | S::NotFound(_) => Failure::NotFound,
                S::TooLarge { .. } => Failure::TooLarge,
                S::WrongState { .. } | S::ApprovalReplay(_) | S::Conflict(_) | S::Stale(_) => {
                    Failure::Conflict
                }
                _ => Failure::Other,
            },
            _ => Failure::Other,
        }
    }

    /// What can be done about this error, as data: empty when nothing
    /// specific.
    pub fn next(&self) -> Vec<bosun_api::NextAction> {
        use bosun_api::NextAction;
        match self {
            ControlError::Next { next, .. } | ControlError::NotInLedger { next, .. } => {
                next.clone()
            }
            ControlError::Store(bosun_store::StoreError::Outdated { .. }) => {
                vec![NextAction::StartController]
            }
            ControlError::StoreLost { .. } => vec![
                NextAction::LedgerVerifyTrusted {
                    file: "<file>".into(),
                },
                NextAction::Init { reinit: true },
            ],
            ControlError::Sign(bosun_sign::SignError::NoPrivateKey { name, .. }) => {
                vec![NextAction::NewKey {
                    name: Some(name.clone()),
                    role: None,
                }]
            }
            ControlError::Workspace(bosun_workspace::WsError::NotAWorkspace(_)) => {
                vec![NextAction::Init { reinit: false }]
            }
            ControlError::Trusted(trusted::TrustedError::WouldRollBack { path, .. }) => {
                vec![NextAction::LedgerVerifyTrusted {
                    file: path.display().to_string(),
                }]
            }
            _ => Vec::new(),
        }
    }
}

/// An error saying what happened, with what to do next.
pub(crate) fn hinted(message: impl Into<String>, next: bosun_api::NextAction) -> ControlError {
    ControlError::Next {
        message: message.into(),
        next: vec![next],
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, ControlError>;

/// A workspace and its store: the handle every pipeline function takes.
#[derive(Clone)]
pub struct Control {
    /// The workspace on disk.
    pub ws: Workspace,
    /// Its durable state.
    pub(crate) store: Arc<dyn Backend>,
    /// When the workspace's ledger began (its first entry's `at`), read
    /// once: no op can have been issued before it.
    created: Arc<std::sync::OnceLock<i64>>,
    /// The adopted configuration, parsed once per adoption.
    snapshot: Arc<std::sync::Mutex<Option<Arc<governed::Snapshot>>>>,
    /// How many refusals of unauthenticated input may still be recorded.
    refusals: Arc<refusals::Budget>,
    /// The relying party of passkey approvals, once the daemon's web
    /// origin is set ([`passkey`]).
    relying: Arc<std::sync::OnceLock<bosun_passkey::Relying>>,
}

impl Control {
    /// Opens the workspace's embedded store. A workspace whose ledger key
    /// is published must have its database, with ledger entries: a
    /// missing, empty or entry-less one is refused
    /// ([`ControlError::StoreLost`]) and left as it is (see
    /// [`genesis`]). A workspace without a ledger key gets its database
    /// created.
    pub fn open(ws: Workspace) -> Result<Control> {
        let store = genesis::open_store(&ws)?;
        Control::over(ws, store)
    }

    /// A handle over `store`, once `ws`'s name is the one its ledger was
    /// begun under ([`genesis::check_name`]).
    fn over(ws: Workspace, store: Arc<dyn Backend>) -> Result<Control> {
        genesis::check_name(&ws, store.as_ref())?;
        Ok(Control {
            ws,
            store,
            created: Arc::default(),
            snapshot: Arc::default(),
            refusals: Arc::default(),
            relying: Arc::default(),
        })
    }

    /// Opens the workspace's embedded store read-only, for a verb that
    /// only reads: nothing is created, migrated or written (so it works
    /// on a full disk), and every write answers
    /// [`bosun_store::StoreError::ReadOnly`]. The guard of
    /// [`Control::open`] applies; a schema older than this build's is
    /// refused with what migrates it ([`ControlError::next`]).
    pub fn open_read_only(ws: Workspace) -> Result<Control> {
        let store = genesis::open_store_read_only(&ws)?;
        Control::over(ws, store)
    }

    /// Opens the workspace's embedded store, creating the database when
    /// there is none, whatever the ledger key says: only for
    /// [`genesis::initialise`] and [`genesis::reinitialise`], which record
    /// the new ledger's first entry.
    pub fn create(ws: Workspace) -> Result<Control> {
        let store = SqliteStore::open(&ws.db_path())?;
        Ok(Control {
            ws,
            store: Arc::new(store),
            created: Arc::default(),
            snapshot: Arc::default(),
            refusals: Arc::default(),
            relying: Arc::default(),
        })
    }

    /// When the workspace's ledger began: the `at` of its first entry (0
    /// for a ledger with none yet). Read once per handle.
    pub fn created_at(&self) -> Result<i64> {
        if let Some(at) = self.created.get() {
            return Ok(*at);
        }
        let at = self
            .store
            .ledger_rows(0, 1)?
            .first()
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.entry).ok())
            .and_then(|v| v["at"].as_i64())
            .unwrap_or(0);
        Ok(*self.created.get_or_init(|| at))
    }
}

/// Located errors of a file (file:line:col each), one per line, as a
/// [`ControlError::Other`].
pub(crate) fn located(errs: &[bosun_model::SourceError]) -> ControlError {
    ControlError::Other(
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh id: a UUIDv7 layout (the time in milliseconds, then 74 bits
/// from the OS's randomness), so that ids made later sort later and the
/// store appends each op's index entries next to the last op's instead of
/// on a random page (see [`bosun_model::Jti::time_ordered`]).
pub fn fresh_jti() -> Result<bosun_model::Jti> {
    let mut b = [0u8; 10];
    getrandom::fill(&mut b).map_err(|e| ControlError::Other(format!("no OS randomness: {e}")))?;
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Ok(bosun_model::Jti::time_ordered(ms, b))
}
