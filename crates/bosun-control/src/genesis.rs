//! Where a workspace's ledger starts, and the guard that keeps its
//! database from being swapped quietly.
//!
//! `bosun init` creates the database and records the ledger's first entry,
//! `ledger.initialised`, then creates the ledger key and signs the first
//! checkpoint ([`initialise`]) — the database always exists before the
//! key. From then on the published ledger key (`keys/ledger.jwk` or
//! `keys/ledger.vkey`) is the workspace's evidence that it keeps a
//! ledger: [`open_store`] (behind [`Control::open`]) refuses a database
//! that is missing, empty (0 bytes), without bosun's schema, or without a
//! single ledger entry, creating and writing nothing
//! ([`ControlError::StoreLost`]). Restoring a backup, or re-initialising
//! on purpose ([`reinitialise`], `bosun init --reinit`), are the ways on;
//! a re-initialised ledger's first entry is `ledger.reinitialised`, naming
//! what was found and the previous checkpoint when one is given.
//!
//! Same-user embedded mode cannot stop whoever can write the database
//! from replacing it wholesale; the guard makes a wipe loud, and a trusted
//! checkpoint held outside ([`crate::trusted`]) proves a rollback.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bosun_store::prelude::*;
use bosun_store::{DbPresence, NewEvent, StoreError};
use bosun_store_sqlite::SqliteStore;
use bosun_workspace::Workspace;
use serde::Serialize;

use crate::ledger::{PUBLIC_JWK, PUBLIC_VKEY};
use crate::trusted::TrustedCheckpoint;
use crate::{Control, ControlError, Result, now};

/// The kind of a new ledger's first entry.
pub const INITIALISED: &str = "ledger.initialised";
/// The kind of a re-initialised ledger's first entry.
pub const REINITIALISED: &str = "ledger.reinitialised";

/// What stands where a workspace that keeps a ledger has no usable
/// database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreLoss {
    /// No database file.
    Missing,
    /// A database file of 0 bytes.
    Empty,
    /// A file without bosun's schema.
    NoSchema,
    /// A database without a single ledger entry or checkpoint.
    NoEntries,
}

impl StoreLoss {
    /// Its name in ledger entries and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreLoss::Missing => "missing",
            StoreLoss::Empty => "empty",
            StoreLoss::NoSchema => "no_schema",
            StoreLoss::NoEntries => "no_entries",
        }
    }

    /// In words: "is missing", "is empty (0 bytes)", …
    pub fn describe(self) -> &'static str {
        match self {
            StoreLoss::Missing => "is missing",
            StoreLoss::Empty => "is empty (0 bytes)",
            StoreLoss::NoSchema => "has no bosun schema",
            StoreLoss::NoEntries => "holds no ledger entries",
        }
    }

    fn of(p: DbPresence) -> Option<StoreLoss> {
        match p {
            DbPresence::Missing => Some(StoreLoss::Missing),
            DbPresence::Empty => Some(StoreLoss::Empty),
            DbPresence::NoSchema => Some(StoreLoss::NoSchema),
            DbPresence::Present => None,
        }
    }
}

impl std::fmt::Display for StoreLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The published ledger key that shows this workspace keeps a ledger, if
/// any (`keys/ledger.jwk`, or `keys/ledger.vkey`).
pub fn ledger_key_evidence(ws: &Workspace) -> Option<PathBuf> {
    [PUBLIC_JWK, PUBLIC_VKEY]
        .iter()
        .map(|p| ws.root.join(p))
        .find(|p| p.exists())
}

fn lost(ws: &Workspace, key: PathBuf, found: StoreLoss) -> ControlError {
    ControlError::StoreLost {
        db: ws.db_path(),
        key,
        found,
    }
}

/// The store of `ws` as [`Control::open`] opens it: created when the
/// workspace has no ledger key yet (nothing can have been lost), and
/// otherwise opened only if the database is there with at least one
/// ledger entry — else [`ControlError::StoreLost`], with nothing created
/// or written.
pub fn open_store(ws: &Workspace) -> Result<Arc<dyn Backend>> {
    let db = ws.db_path();
    let Some(key) = ledger_key_evidence(ws) else {
        return Ok(Arc::new(SqliteStore::open(&db)?));
    };
    guard(ws, key, SqliteStore::open_existing(&db))
}

/// The store of `ws` opened read-only ([`Control::open_read_only`]):
/// nothing is created, migrated or written, and the same guard as
/// [`open_store`] refuses a lost database. A workspace without a ledger
/// key and without a database has nothing to read: the store's
/// [`StoreError::NotInitialised`].
pub fn open_store_read_only(ws: &Workspace) -> Result<Arc<dyn Backend>> {
    let db = ws.db_path();
    let opened = SqliteStore::open_read_only(&db);
    match ledger_key_evidence(ws) {
        Some(key) => guard(ws, key, opened),
        None => Ok(Arc::new(opened?)),
    }
}

/// The guard of a workspace that keeps a ledger (its key is published):
/// a missing, empty, schema-less or entry-less database is
/// [`ControlError::StoreLost`].
fn guard(
    ws: &Workspace,
    key: PathBuf,
    opened: std::result::Result<SqliteStore, StoreError>,
) -> Result<Arc<dyn Backend>> {
    let store = match opened {
        Ok(s) => s,
        Err(StoreError::NotInitialised { found, .. }) => {
            let loss = StoreLoss::of(found).unwrap_or(StoreLoss::NoSchema);
            return Err(lost(ws, key, loss));
        }
        Err(e) => return Err(e.into()),
    };
    if store.ledger_size()? == 0 && store.checkpoints()?.is_empty() {
        return Err(lost(ws, key, StoreLoss::NoEntries));
    }
    Ok(Arc::new(store))
}

/// The workspace name a ledger began under: the `workspace` of its first
/// entry (`ledger.initialised` or `ledger.reinitialised`), or, for a
/// ledger older than those entries, the origin of its first checkpoint;
/// `None` for a ledger with neither.
pub fn recorded_name(store: &dyn Backend) -> Result<Option<String>> {
    let Some(first) = store.ledger_rows(0, 1)?.pop() else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_slice(&first.entry).unwrap_or_default();
    if matches!(v["kind"].as_str(), Some(INITIALISED | REINITIALISED)) {
        return Ok(v["data"]["workspace"].as_str().map(str::to_string));
    }
    Ok(store
        .checkpoints()?
        .first()
        .and_then(|c| c.note.lines().next().map(str::to_string)))
}

/// Refuses a workspace whose `bosun.toml` gives another name than the one
/// its ledger began under ([`ControlError::Renamed`]). The name binds
/// envelopes (`ws`), statements and checkpoints (their origin), and
/// `bosun.toml` is not governed: were a rename taken, whoever can edit
/// the file could make this workspace accept what was signed for another
/// one of that name. So the ledger's record decides, and a rename is
/// refused until the name is put back.
pub fn check_name(ws: &Workspace, store: &dyn Backend) -> Result<()> {
    match recorded_name(store)? {
        Some(recorded) if recorded != ws.config.name.as_str() => Err(ControlError::Renamed {
            config: ws.root.join("bosun.toml"),
            named: ws.config.name.to_string(),
            recorded,
        }),
        _ => Ok(()),
    }
}

/// `bosun init`, after the files are written: creates the database,
/// records `ledger.initialised` as the ledger's first entry, then creates
/// the ledger key in `key_dir` (publishing it in `keys/`) and signs the
/// first checkpoint ([`signer`]). The database exists before the key, so an
/// interrupted init never leaves a key without a database.
pub fn initialise(ws: Workspace, key_dir: &Path) -> Result<Control> {
    if let Some(key) = ledger_key_evidence(&ws) {
        return Err(ControlError::Other(format!(
            "{} already exists: this workspace keeps a ledger; nothing was changed",
            key.display()
        )));
    }
    let ctl = Control::create(ws)?;
    let signer = signer(&ctl, key_dir)?;
    crate::ledger::checkpoint(&ctl, &signer)?;
    Ok(ctl)
}

/// The ledger's signer ([`crate::ledger::signer`]), keeping the order
/// [`open_store`] relies on: before a new ledger key is published, an
/// empty ledger gets its first entry (`ledger.initialised`), so that a
/// published key always means a database with entries.
pub fn signer(ctl: &Control, key_dir: &Path) -> Result<bosun_ledger::NoteSigner> {
    if ledger_key_evidence(&ctl.ws).is_none() && ctl.store.ledger_size()? == 0 {
        ctl.store.record_event(&NewEvent {
            at: now(),
            jti: None,
            kind: INITIALISED.into(),
            data: serde_json::json!({"workspace": ctl.ws.config.name.as_str()}),
        })?;
    }
    crate::ledger::signer(&ctl.ws, key_dir)
}

/// What [`reinitialise`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reinitialised {
    /// What stood where the database should have been.
    pub found: StoreLoss,
    /// Files moved aside (kept as evidence, never deleted).
    pub moved_aside: Vec<PathBuf>,
    /// The previous checkpoint named in the entry, if one was given.
    pub previous: Option<PreviousCheckpoint>,
    /// The new ledger's size after its first checkpoint (1).
    pub size: u64,
}

/// The checkpoint of the lost ledger named by a `ledger.reinitialised`
/// entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PreviousCheckpoint {
    /// Its size.
    pub size: u64,
    /// Its root (base64).
    pub root: String,
    /// The signed note.
    pub note: String,
}

/// Deliberately starts a new, empty ledger in a workspace whose database
/// is missing, empty, schema-less or without entries (anything else is
/// refused: move a database that holds a ledger aside first). Needs the
/// ledger's private key in `key_dir`, checked before anything changes.
/// The old files (`bosun.db` and its `-wal`/`-shm`) are renamed aside
/// with a `.lost-<unix time>` suffix — a stale write-ahead log must never
/// be replayed into the new database — then a new database is created
/// whose first entry is `ledger.reinitialised` (what was found, the files
/// moved, and `previous`: the last trusted checkpoint of the old ledger
/// when one is given), and a checkpoint is signed over it.
pub fn reinitialise(
    ws: Workspace,
    key_dir: &Path,
    previous: Option<&TrustedCheckpoint>,
) -> Result<(Control, Reinitialised)> {
    let Some(_) = ledger_key_evidence(&ws) else {
        return Err(ControlError::Other(format!(
            "{} has no ledger key ({PUBLIC_JWK}): there is no ledger to re-initialise; its database is created when it is first used",
            ws.root.display()
        )));
    };
    let signer = crate::ledger::signer(&ws, key_dir)?;
    let db = ws.db_path();
    let found = match SqliteStore::probe(&db)? {
        DbPresence::Present => {
            let store = SqliteStore::open_existing(&db)?;
            let size = store.ledger_size()?;
            let cps = store.checkpoints()?.len();
            if size > 0 || cps > 0 {
                return Err(crate::hinted(
                    format!(
                        "{} holds a ledger ({size} entries, {cps} checkpoints): refusing to re-initialise over it. Verify it; to start over anyway, stop bosun and move the file aside first",
                        db.display()
                    ),
                    bosun_api::NextAction::LedgerVerify { full: false },
                ));
            }
            StoreLoss::NoEntries
        }
        p => StoreLoss::of(p).unwrap_or(StoreLoss::Missing),
    };
    let stamp = now();
    let mut moved_aside = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut from = db.clone().into_os_string();
        from.push(suffix);
        let from = PathBuf::from(from);
        if from.exists() {
            let mut to = from.clone().into_os_string();
            to.push(format!(".lost-{stamp}"));
            let to = PathBuf::from(to);
            std::fs::rename(&from, &to).map_err(|e| {
                ControlError::Other(format!(
                    "cannot move {} aside to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })?;
            moved_aside.push(to);
        }
    }
    let previous = previous.map(|p| PreviousCheckpoint {
        size: p.size,
        root: p.root_b64(),
        note: p.note.clone(),
    });
    let ctl = Control::create(ws)?;
    let names: Vec<String> = moved_aside
        .iter()
        .map(|p| bosun_workspace::rel(&ctl.ws.root, p))
        .collect();
    ctl.store.record_event(&NewEvent {
        at: stamp,
        jti: None,
        kind: REINITIALISED.into(),
        data: serde_json::json!({
            "workspace": ctl.ws.config.name.as_str(),
            "found": found.as_str(),
            "moved_aside": names,
            "previous_checkpoint": previous,
        }),
    })?;
    crate::ledger::checkpoint(&ctl, &signer)?;
    let size = ctl.store.ledger_size()?;
    Ok((
        ctl,
        Reinitialised {
            found,
            moved_aside,
            previous,
            size,
        },
    ))
}

/// How the ledger began: its first entry, when that is
/// `ledger.initialised` or `ledger.reinitialised`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerStart {
    /// `ledger.initialised` or `ledger.reinitialised`.
    pub kind: String,
    /// When (Unix seconds).
    pub at: i64,
    /// For a re-initialisation: what was found.
    pub found: Option<String>,
    /// For a re-initialisation: the previous checkpoint it names.
    pub previous: Option<PreviousCheckpoint>,
}

/// The ledger's first entry, when it records the ledger's start (older
/// workspaces' ledgers start with their first op or adoption: `None`).
pub fn ledger_start(ctl: &Control) -> Result<Option<LedgerStart>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        at: i64,
        kind: String,
        #[serde(default)]
        data: serde_json::Value,
    }
    let Some(row) = ctl.store.ledger_rows(0, 1)?.pop() else {
        return Ok(None);
    };
    let Ok(e) = serde_json::from_slice::<Entry>(&row.entry) else {
        return Ok(None);
    };
    if e.kind != INITIALISED && e.kind != REINITIALISED {
        return Ok(None);
    }
    Ok(Some(LedgerStart {
        found: e.data["found"].as_str().map(str::to_string),
        previous: serde_json::from_value(e.data["previous_checkpoint"].clone()).ok(),
        kind: e.kind,
        at: e.at,
    }))
}
