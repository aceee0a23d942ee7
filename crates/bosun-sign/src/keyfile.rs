//! Plaintext private key files: `<dir>/<name>.jwk`, mode 0600 in a 0700
//! directory (protected and `ssh-agent` keys: [`crate::KeyDir`]).
//!
//! Like ssh, a private key file that other users can access (`mode & 0o077 != 0`)
//! is refused with the `chmod 600` to run. Writing never overwrites an existing
//! key, and a key file appears complete or not at all (written to a temporary
//! file, then hard-linked into place, which fails if the name is taken).

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::SignError;
use crate::key::{MAX_JWK_BYTES, SecretKey, parse_jwk};

/// The directory holding this user's private keys: `$BOSUN_KEY_DIR`, else
/// `$XDG_CONFIG_HOME/bosun/keys`, else `$HOME/.config/bosun/keys`; when none
/// is set (or set but empty), the relative path `.config/bosun/keys`.
pub fn default_key_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("BOSUN_KEY_DIR") {
        return PathBuf::from(dir);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(config) = var("XDG_CONFIG_HOME").map(PathBuf::from)
        && config.is_absolute()
    {
        return config.join("bosun").join("keys");
    }
    var("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".config")
        .join("bosun")
        .join("keys")
}

/// Checks that `name` is usable as a key file name (no path separators, no
/// hidden files): 1–64 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
pub fn validate_key_name(name: &str) -> Result<(), SignError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SignError::InvalidKeyName { name: name.into() })
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SignError {
    let path = path.to_path_buf();
    move |error| SignError::Io {
        action,
        path,
        error,
    }
}

/// Writes `key` as the private JWK `<dir>/<name>.jwk` (with `kid` = `name`)
/// and returns its path. Creates `dir` (mode 0700) if needed; the file is
/// mode 0600. Refuses to overwrite an existing file ([`SignError::KeyExists`]),
/// and to write one beside a protected or `ssh-agent` key of the same name.
pub fn write_private_key(dir: &Path, name: &str, key: &SecretKey) -> Result<PathBuf, SignError> {
    validate_key_name(name)?;
    for ext in ["key", "ssh-agent"] {
        let other = dir.join(format!("{name}.{ext}"));
        if fs::symlink_metadata(&other).is_ok() {
            return Err(SignError::KeyExists { path: other });
        }
    }
    let mut text = serde_json::to_string_pretty(&key.to_private_jwk(name)).map_err(|e| {
        SignError::Serialize {
            reason: e.to_string(),
        }
    })?;
    text.push('\n');
    write_key_file(dir, name, "jwk", text.as_bytes())
}

/// Writes `bytes` as `<dir>/<name>.<ext>` (0600, `dir` created 0700),
/// complete or not at all, never over an existing file.
pub(crate) fn write_key_file(
    dir: &Path,
    name: &str,
    ext: &str,
    bytes: &[u8],
) -> Result<PathBuf, SignError> {
    validate_key_name(name)?;
    create_private_dir(dir)?;
    let path = dir.join(format!("{name}.{ext}"));
    if fs::symlink_metadata(&path).is_ok() {
        return Err(SignError::KeyExists { path });
    }
    let tmp = dir.join(format!(
        ".{name}.{ext}.tmp-{}-{:016x}",
        std::process::id(),
        getrandom::u64().unwrap_or(0)
    ));
    let result = write_new(&tmp, bytes).and_then(|()| {
        match fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(SignError::KeyExists { path: path.clone() })
            }
            // File systems without hard links: fall back to create_new on the
            // final name, which still never overwrites.
            Err(_) => write_new(&path, bytes).map_err(|e| match e {
                SignError::Io { error, .. }
                    if error.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    SignError::KeyExists { path: path.clone() }
                }
                other => other,
            }),
        }
    });
    let _ = fs::remove_file(&tmp);
    result?;
    sync_dir(dir);
    Ok(path)
}

fn create_private_dir(dir: &Path) -> Result<(), SignError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io("create key directory", dir))
}

/// Creates `path` (must not exist) with mode 0600, writes and syncs `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io("create key file", path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io("write key file", path));
    if written.is_err() {
        let _ = fs::remove_file(path);
    }
    written
}

/// Best effort: make the new directory entry durable.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Opens a private key file: a regular file that group and others cannot
/// access ([`SignError::InsecurePermissions`], like ssh).
pub(crate) fn open_private_file(path: &Path) -> Result<fs::File, SignError> {
    let file = fs::File::open(path).map_err(io("open private key file", path))?;
    let meta = file
        .metadata()
        .map_err(io("inspect private key file", path))?;
    if !meta.is_file() {
        return Err(SignError::Io {
            action: "read private key file",
            path: path.to_path_buf(),
            error: std::io::Error::other("not a regular file"),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SignError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(file)
}

/// Reads a plaintext private key file (a private JWK), refusing it (like
/// ssh) when its mode lets group or others access it
/// ([`SignError::InsecurePermissions`]).
pub fn read_private_key(path: &Path) -> Result<SecretKey, SignError> {
    let file = open_private_file(path)?;
    let meta = file
        .metadata()
        .map_err(io("inspect private key file", path))?;
    let wrap = |error| SignError::KeyFile {
        path: path.to_path_buf(),
        error: Box::new(error),
    };
    if meta.len() > MAX_JWK_BYTES as u64 {
        return Err(wrap(SignError::JwkTooLarge {
            len: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            max: MAX_JWK_BYTES,
        }));
    }
    let mut text = String::new();
    file.take(MAX_JWK_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(io("read private key file", path))?;
    let jwk = parse_jwk(&text).map_err(wrap)?;
    SecretKey::from_private_jwk(&jwk).map_err(wrap)
}

/// Reads the private key `<dir>/<name>.jwk`; a missing file is
/// [`SignError::NoPrivateKey`], which says how to create one.
pub fn find_private_key(dir: &Path, name: &str) -> Result<SecretKey, SignError> {
    validate_key_name(name)?;
    let path = dir.join(format!("{name}.jwk"));
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SignError::NoPrivateKey {
            name: name.into(),
            dir: dir.to_path_buf(),
        }),
        _ => read_private_key(&path),
    }
}
