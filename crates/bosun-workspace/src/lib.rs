//! A bosun workspace on disk: `bosun.toml`, the key registry (`keys/`), the
//! inventory (`fleet/hosts.toml`), the keeper policy (`policy/`) and the
//! runbooks (`runbooks/`), plus the scaffold `bosun init` writes.
//!
//! Governed files (policy, key registry, runbooks) are turned into
//! *contents*: one canonical string per subject whose digest adoption binds
//! to. What is on disk is only a proposal until it is adopted.
#![deny(missing_docs)]

pub mod config;
pub mod governed;
pub mod inventory;
pub mod kernel;
pub mod scaffold;

pub use config::{Config, MetricsAccess, Notify, ServerConfig, Sink, Storage, TlsFiles};
pub use governed::{KeyEntry, KeyRegistry, PolicyFiles, passkeys_path, valid_passkey_label};
pub use inventory::{Inventory, SelectError, scope_allows};

use std::path::{Path, PathBuf};

use bosun_model::SourceError;

/// Errors reading or writing a workspace.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more files are malformed; each error is located.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<SourceError>),
    /// Not a workspace.
    #[error(
        "{0} is not a bosun workspace (no bosun.toml here or in any directory above); create one, or name one with -w <dir>"
    )]
    NotAWorkspace(String),
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, WsError>;

/// Largest config file read.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads a governed file: only a regular file (one that is a FIFO or a
/// device — or a link to one — is refused without blocking: it is opened
/// non-blocking and checked on the open descriptor, so it cannot be
/// swapped between the check and the read), at most
/// [`MAX_CONFIG_BYTES`] (counted while reading).
pub(crate) fn read(path: &Path) -> Result<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let too_big = |n: u64| {
        WsError::Invalid(vec![SourceError::whole(
            &path.display().to_string(),
            format!("file is {n} bytes or more, over the limit of {MAX_CONFIG_BYTES}"),
        )])
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io(path, e))?;
    let meta = f.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() {
        return Err(WsError::Other(format!(
            "{} is not a regular file (a FIFO, a device or a link to one); refusing to read it",
            path.display()
        )));
    }
    if meta.len() > MAX_CONFIG_BYTES as u64 {
        return Err(too_big(meta.len()));
    }
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| io(path, e))?;
    if text.len() > MAX_CONFIG_BYTES {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

/// Reads a file of the workspace that another user may have replaced, as
/// the governed files are read: a regular file only (a FIFO or a device
/// is refused without blocking), at most [`MAX_CONFIG_BYTES`].
pub fn read_file(path: &Path) -> Result<String> {
    read(path)
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> WsError {
    WsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// An opened workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Its root directory.
    pub root: PathBuf,
    /// `bosun.toml`.
    pub config: Config,
}

impl Workspace {
    /// Opens the workspace at `dir` (reads and validates `bosun.toml`).
    pub fn open(dir: &Path) -> Result<Workspace> {
        let file = dir.join("bosun.toml");
        if !file.is_file() {
            return Err(WsError::NotAWorkspace(dir.display().to_string()));
        }
        let text = read(&file)?;
        let config =
            Config::parse(&rel(dir, &file), &text).map_err(|e| WsError::Invalid(vec![e]))?;
        Ok(Workspace {
            root: dir.to_path_buf(),
            config,
        })
    }

    /// The state directory: `state_dir` of `bosun.toml` (relative to the
    /// workspace, or absolute), `<workspace>/.bosun` by default.
    pub fn state_dir(&self) -> PathBuf {
        match &self.config.state_dir {
            Some(d) => self.root.join(d),
            None => self.root.join(".bosun"),
        }
    }

    /// Where the embedded database lives (in the state directory).
    pub fn db_path(&self) -> PathBuf {
        self.state_dir().join("bosun.db")
    }

    /// A path inside the workspace.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The inventory as on disk.
    pub fn inventory(&self) -> Result<Inventory> {
        self.inventory_with_text().map(|(i, _)| i)
    }

    /// The inventory and the text it was parsed from.
    pub fn inventory_with_text(&self) -> Result<(Inventory, String)> {
        let p = self.path("fleet/hosts.toml");
        let text = read(&p)?;
        let inv = Inventory::parse("fleet/hosts.toml", &text).map_err(WsError::Invalid)?;
        Ok((inv, text))
    }

    /// `fleet/hosts.toml` as on disk (its text, unparsed).
    pub fn disk_inventory_text(&self) -> Result<String> {
        read(&self.path("fleet/hosts.toml"))
    }

    /// A file the workspace names (an ssh_config): a path relative to its
    /// root that stays inside it (no absolute path, no `..`, no symlink
    /// out of it) and outside the state directory, size-limited. What a
    /// governed file names is pinned into it and shown to every reader of
    /// a proposal: it must not reach the daemon's keys or database.
    pub fn read_named_file(&self, rel: &str) -> Result<String> {
        let refuse = |why: &str| {
            Err(WsError::Other(format!(
                "`{rel}` {why}: name a file inside the workspace, relative to it (fleet/ssh_config)"
            )))
        };
        let p = Path::new(rel);
        if p.is_absolute()
            || p.components().any(|c| {
                !matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            })
        {
            return refuse("is not a plain path inside the workspace");
        }
        let full = self.root.join(p);
        let (Ok(real), Ok(root)) = (full.canonicalize(), self.root.canonicalize()) else {
            return read(&full);
        };
        if !real.starts_with(&root) {
            return refuse("leads outside the workspace");
        }
        if let Ok(state) = self.state_dir().canonicalize()
            && real.starts_with(&state)
        {
            return refuse("is in the state directory");
        }
        read(&real)
    }

    /// Kernel manifests on disk (`fleet/<host>.yaml`): (host, relative
    /// path, text), sorted by host.
    pub fn disk_manifests(&self) -> Result<Vec<(String, String, String)>> {
        self.files_in("fleet", &["yaml"])
    }

    /// Rollout files on disk (`rollouts/<id>.toml`): (id, relative path,
    /// text), sorted by id.
    pub fn disk_rollouts(&self) -> Result<Vec<(String, String, String)>> {
        self.files_in("rollouts", &["toml"])
    }

    /// Files of `dir` (relative to the root) whose extension is one of
    /// `exts`: (stem, relative path, text), sorted; none when `dir` does
    /// not exist.
    fn files_in(&self, dir: &str, exts: &[&str]) -> Result<Vec<(String, String, String)>> {
        let dir = self.path(dir);
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&dir, e)),
        };
        for entry in rd {
            let p = entry.map_err(|e| io(&dir, e))?.path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if !exts.contains(&ext) {
                continue;
            }
            // Only regular files (a FIFO would block the read forever).
            if !std::fs::metadata(&p).map_err(|e| io(&p, e))?.is_file() {
                return Err(WsError::Other(format!(
                    "{} is not a regular file",
                    rel(&self.root, &p)
                )));
            }
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            out.push((stem.to_string(), rel(&self.root, &p), read(&p)?));
        }
        out.sort();
        Ok(out)
    }

    /// The policy files as on disk.
    pub fn disk_policy(&self) -> Result<PolicyFiles> {
        PolicyFiles::read(&self.root)
    }

    /// The key registry as on disk.
    pub fn disk_keys(&self) -> Result<KeyRegistry> {
        KeyRegistry::read(&self.root)
    }

    /// Runbook files on disk: id → (relative path, text), sorted by id.
    /// (The files `runbooks/<id>.toml`, `.yaml`, `.yml` and `.json`; two
    /// files for one id are an error.)
    pub fn disk_runbooks(&self) -> Result<Vec<(String, String, String)>> {
        let out = self.files_in("runbooks", &RUNBOOK_EXTENSIONS)?;
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(WsError::Other(format!(
                "{} and {} both define runbook `{}`: keep one",
                w[0].1, w[1].1, w[0].0
            )));
        }
        Ok(out)
    }
}

/// Extensions of runbook files (TOML, YAML, JSON).
pub const RUNBOOK_EXTENSIONS: [&str; 4] = ["toml", "yaml", "yml", "json"];

/// `p` relative to `root` for messages (falls back to the full path).
pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("keeper.toml");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        // A FIFO nobody writes to would block a plain read forever.
        let e = read(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dev = d.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &dev).unwrap();
        let e = read(&dev).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = d.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES + 1]).unwrap();
        assert!(
            read(&big)
                .unwrap_err()
                .to_string()
                .contains("over the limit")
        );
        let fine = d.path().join("fine.toml");
        std::fs::write(&fine, "a = 1\n").unwrap();
        assert_eq!(read(&fine).unwrap(), "a = 1\n");
    }
}

#[cfg(test)]
mod named_file_tests {
    use super::*;

    /// A named file (an ssh_config) is read only inside the workspace and
    /// outside its state directory: a governed file cannot pull the
    /// daemon's keys or database into a proposal every reader sees.
    #[test]
    fn a_named_file_stays_inside_the_workspace() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        scaffold::init(&root, &bosun_model::Name::parse("ws").unwrap()).unwrap();
        std::fs::write(tmp.path().join("secret.jwk"), "KEY").unwrap();
        std::fs::write(root.join("fleet/ssh_config"), "Host *\n").unwrap();
        std::fs::create_dir_all(root.join(".bosun")).unwrap();
        std::fs::write(root.join(".bosun/bosun.db"), "DB").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.jwk"), root.join("fleet/link")).unwrap();
        let ws = Workspace::open(&root).unwrap();
        assert_eq!(ws.read_named_file("fleet/ssh_config").unwrap(), "Host *\n");
        assert_eq!(
            ws.read_named_file("./fleet/ssh_config").unwrap(),
            "Host *\n"
        );
        let abs = tmp.path().join("secret.jwk");
        for bad in [
            abs.to_str().unwrap(),
            "../secret.jwk",
            "fleet/../../secret.jwk",
            "fleet/link",
            ".bosun/bosun.db",
        ] {
            let e = ws.read_named_file(bad).unwrap_err().to_string();
            assert!(!e.contains("KEY") && !e.contains("DB"), "{bad}: {e}");
            assert!(e.contains("inside the workspace"), "{bad}: {e}");
        }
    }
}
