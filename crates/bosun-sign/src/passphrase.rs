//! Where the passphrase of a protected key comes from: a
//! [`PassphraseSource`]. This crate has two — [`NoPassphrase`] (refuse) and
//! [`PassphraseFile`] (a file, for CI only) — and the edge brings its own,
//! e.g. the CLI's prompt on the terminal. None reads an environment
//! variable's value as a passphrase.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::SignError;

/// A passphrase, wiped from memory when dropped. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Wraps `text` (taken, so that no copy is left behind).
    pub fn new(text: String) -> Passphrase {
        Passphrase(Zeroizing::new(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which key a passphrase is asked for.
#[derive(Clone, Copy, Debug)]
pub struct PassphraseRequest<'a> {
    /// The identity's name.
    pub name: &'a str,
    /// The protected key file.
    pub path: &'a Path,
    /// `true` when a new key is being created (a prompt asks twice).
    pub new_key: bool,
}

/// Gives the passphrase for a protected key, or says why it cannot.
pub trait PassphraseSource: Send + Sync {
    /// The passphrase for `req`'s key; an error (usually
    /// [`SignError::PassphraseUnavailable`]) refuses to sign.
    fn passphrase(&self, req: &PassphraseRequest<'_>) -> Result<Passphrase, SignError>;
}

/// Never gives a passphrase: protected keys cannot be used. The default of
/// a [`crate::KeyDir`], for library users that never ask anyone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPassphrase;

impl PassphraseSource for NoPassphrase {
    fn passphrase(&self, req: &PassphraseRequest<'_>) -> Result<Passphrase, SignError> {
        Err(SignError::PassphraseUnavailable {
            name: req.name.into(),
            path: req.path.to_path_buf(),
            reason: "no passphrase source is configured here".into(),
        })
    }
}

/// Largest passphrase file read, in bytes.
const MAX_PASSPHRASE_FILE_BYTES: u64 = 4 * 1024;

/// **For CI only**: the passphrase is the first line of a file, which
/// (like a key file) must not be accessible to group or others. Anyone who
/// can read the file can sign as every key it unlocks; never configure one
/// in an operator's own shell, where an agent would inherit it.
#[derive(Clone, Debug)]
pub struct PassphraseFile(pub PathBuf);

impl PassphraseSource for PassphraseFile {
    fn passphrase(&self, _req: &PassphraseRequest<'_>) -> Result<Passphrase, SignError> {
        let path = &self.0;
        let io = |action: &'static str| {
            move |error| SignError::Io {
                action,
                path: path.clone(),
                error,
            }
        };
        let file = fs::File::open(path).map_err(io("open passphrase file"))?;
        let meta = file.metadata().map_err(io("inspect passphrase file"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(SignError::InsecurePermissions {
                    path: path.clone(),
                    mode,
                });
            }
        }
        if !meta.is_file() || meta.len() > MAX_PASSPHRASE_FILE_BYTES {
            return Err(SignError::BadPassphrase {
                reason: format!(
                    "{} is not a regular file of at most {MAX_PASSPHRASE_FILE_BYTES} bytes",
                    path.display()
                ),
            });
        }
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_PASSPHRASE_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(io("read passphrase file"))?;
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(SignError::BadPassphrase {
                reason: format!("the first line of {} is empty", path.display()),
            });
        }
        Ok(Passphrase::new(line.to_string()))
    }
}
