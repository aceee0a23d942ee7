//! Signing and publishing built packages (the seed's "one key, pkg + repo
//! db"): each package and the repository's index get a detached Ed25519
//! signature by the control plane's package key.
//!
//! What is signed is a short statement naming the file, its size and its
//! BLAKE2b-512 digest (`b2sum`'s hex), never the raw bytes, so a verifier
//! needs `b2sum` and the published public key only:
//!
//! ```text
//! bosun-package-signature v1
//! file linux-pinetab2-ohm-6.19.danctnix1-1-aarch64.pkg.tar.zst
//! bytes 104857600
//! b2 4f1c…
//! ```
//!
//! A `<file>.sig` holds the 64-byte signature in lowercase hex and a
//! newline. The index (`Packages`, one stanza per package, Debian-style)
//! is signed the same way (`Packages.sig`). Files are written to a
//! temporary name and renamed, packages before the index, so a reader
//! never sees an index naming a package that is not there.

use std::path::Path;

use crate::KernelError;
use crate::promote::b2;

/// The index file's name in a repository directory.
pub const INDEX: &str = "Packages";
/// Largest index read back.
pub const MAX_INDEX_BYTES: usize = 8 * 1024 * 1024;

/// The statement a signature covers.
pub fn statement(file: &str, bytes: u64, b2_hex: &str) -> String {
    format!("bosun-package-signature v1\nfile {file}\nbytes {bytes}\nb2 {b2_hex}\n")
}

/// One package as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its file name in the repository directory.
    pub filename: String,
    /// `linux-<suffix>`.
    pub package: String,
    /// `<pkgver>-<pkgrel>`.
    pub version: String,
    /// The host it was built for.
    pub host: String,
    /// The build job.
    pub job: String,
    /// Its size.
    pub size: u64,
    /// BLAKE2b-512, `b2sum`'s hex.
    pub b2: String,
}

impl Entry {
    fn stanza(&self) -> String {
        format!(
            "Filename: {}\nPackage: {}\nVersion: {}\nHost: {}\nJob: {}\nSize: {}\nB2sum: {}\n",
            self.filename, self.package, self.version, self.host, self.job, self.size, self.b2
        )
    }
}

/// The index's text, stanzas in file-name order.
pub fn render_index(entries: &[Entry]) -> String {
    let mut v: Vec<&Entry> = entries.iter().collect();
    v.sort_by(|a, b| a.filename.cmp(&b.filename));
    v.iter().map(|e| e.stanza()).collect::<Vec<_>>().join("\n")
}

/// Reads an index back (`path` names it in errors, with the line).
pub fn parse_index(path: &str, text: &str) -> Result<Vec<Entry>, KernelError> {
    if text.len() > MAX_INDEX_BYTES {
        return Err(KernelError::Invalid(vec![format!(
            "{path}: {} bytes; an index is at most {MAX_INDEX_BYTES}",
            text.len()
        )]));
    }
    let mut out = Vec::new();
    let mut cur: Vec<(usize, &str, &str)> = Vec::new();
    let finish = |cur: &mut Vec<(usize, &str, &str)>, out: &mut Vec<Entry>| {
        if cur.is_empty() {
            return Ok(());
        }
        let first = cur[0].0;
        let get = |k: &str| {
            cur.iter()
                .find(|(_, key, _)| *key == k)
                .map(|(_, _, v)| v.to_string())
                .ok_or_else(|| format!("{path}:{first}: the stanza has no `{k}`"))
        };
        let size = get("Size")?;
        let e = Entry {
            filename: get("Filename")?,
            package: get("Package")?,
            version: get("Version")?,
            host: get("Host")?,
            job: get("Job")?,
            size: size
                .parse()
                .map_err(|_| format!("{path}:{first}: Size `{size}` is not a number"))?,
            b2: get("B2sum")?,
        };
        cur.clear();
        out.push(e);
        Ok::<(), String>(())
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            finish(&mut cur, &mut out).map_err(|e| KernelError::Invalid(vec![e]))?;
            continue;
        }
        let Some((k, v)) = line.split_once(": ") else {
            return Err(KernelError::Invalid(vec![format!(
                "{path}:{}: not `Key: value`",
                i + 1
            )]));
        };
        cur.push((i + 1, k, v));
    }
    finish(&mut cur, &mut out).map_err(|e| KernelError::Invalid(vec![e]))?;
    Ok(out)
}

/// Signs a statement: the package key's 64-byte Ed25519 signature, or
/// why it could not.
pub type Sign<'a> = dyn Fn(&[u8]) -> Result<[u8; 64], String> + 'a;

/// A package to publish: its file name and bytes.
pub struct Package<'a> {
    /// The file name (no directory).
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// Signs each package, writes it and its `.sig` into `dir`, then the
/// index (these entries replacing any of the same file name and digest:
/// one with other bytes is refused, and nothing is written) and its
/// `.sig`. `sign` signs a statement; its error is the signing failure.
pub fn publish(
    dir: &Path,
    packages: &[Package<'_>],
    meta: &dyn Fn(&str, u64, &str) -> Entry,
    sign: &Sign<'_>,
) -> Result<Vec<Entry>, PublishError> {
    // Sign everything first: a signing failure publishes nothing.
    let mut signed = Vec::new();
    for p in packages {
        if !valid_file_name(p.name) {
            return Err(PublishError::Io(format!(
                "package `{}` is not a plain file name",
                p.name
            )));
        }
        let digest = b2(p.bytes);
        let st = statement(p.name, p.bytes.len() as u64, &digest);
        let sig = sign(st.as_bytes()).map_err(PublishError::Signing)?;
        signed.push((p, meta(p.name, p.bytes.len() as u64, &digest), sig));
    }
    let io = |what: &Path, e: std::io::Error| PublishError::Io(format!("{}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    // One publisher at a time per repository directory: the index is read,
    // extended and rewritten, and two builds publishing at once must not
    // lose each other's entries. The lock goes with the file handle.
    let lock_path = dir.join(LOCK);
    let _lock = take_lock(&lock_path)?;
    let index_path = dir.join(INDEX);
    let mut entries = match std::fs::read_to_string(&index_path) {
        Ok(t) => parse_index(&index_path.display().to_string(), &t)
            .map_err(|e| PublishError::Io(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&index_path, e)),
    };
    // A published package never changes: an approved install names its
    // digest. The same file name with other bytes (a rebuild of one lock)
    // is refused before anything is written.
    for (p, entry, _) in &signed {
        if let Some(old) = entries
            .iter()
            .find(|e| e.filename == p.name && e.b2 != entry.b2)
        {
            return Err(PublishError::Io(format!(
                "{} is already published with other bytes (job {}, b2 {}…): a published package never changes, for installs name its digest; promote a new lock to build again",
                p.name,
                old.job,
                old.b2.get(..16).unwrap_or(&old.b2)
            )));
        }
    }
    let mut new = Vec::new();
    for (p, entry, sig) in &signed {
        write_atomic(&dir.join(p.name), p.bytes).map_err(|e| io(&dir.join(p.name), e))?;
        let sig_path = dir.join(format!("{}.sig", p.name));
        write_atomic(&sig_path, format!("{}\n", hex(sig)).as_bytes())
            .map_err(|e| io(&sig_path, e))?;
        entries.retain(|e| e.filename != entry.filename);
        entries.push(entry.clone());
        new.push(entry.clone());
    }
    let text = render_index(&entries);
    let st = statement(INDEX, text.len() as u64, &b2(text.as_bytes()));
    let sig = sign(st.as_bytes()).map_err(PublishError::Signing)?;
    write_atomic(&index_path, text.as_bytes()).map_err(|e| io(&index_path, e))?;
    let sig_path = dir.join(format!("{INDEX}.sig"));
    write_atomic(&sig_path, format!("{}\n", hex(&sig)).as_bytes()).map_err(|e| io(&sig_path, e))?;
    Ok(new)
}

/// The lock file beside the index that serialises publishers.
pub const LOCK: &str = ".Packages.lock";

/// Longest a publisher waits for another to finish.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Opens `path` to append (made if missing, mode 0600), never through a
/// symlink and never blocking on a FIFO: a log a process writes into a
/// directory someone else may have planted a link in.
pub fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// Takes the lock file `path`: a regular file (made if missing, mode
/// 0600; never followed through a symlink, never a FIFO that would block
/// the open), locked exclusively, waiting at most `wait` for another
/// holder: `None` when it was still held then. The lock ends with the
/// returned handle.
pub fn lock_file(path: &Path, wait: std::time::Duration) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let until = std::time::Instant::now() + wait;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Takes the publishers' lock `path` ([`lock_file`], waiting at most
/// [`LOCK_WAIT`]).
fn take_lock(path: &Path) -> Result<std::fs::File, PublishError> {
    let io = |e: std::io::Error| PublishError::Io(format!("{}: {e}", path.display()));
    lock_file(path, LOCK_WAIT).map_err(io)?.ok_or_else(|| {
        PublishError::Io(format!(
            "{}: another publisher held it for {}s",
            path.display(),
            LOCK_WAIT.as_secs()
        ))
    })
}

/// Why publishing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The package key could not sign (the `signing-fail` blocker's case).
    #[error("signing failed: {0}")]
    Signing(String),
    /// A file could not be written.
    #[error("{0}")]
    Io(String),
}

/// Checks `file`'s detached signature (`<file>.sig` beside it) with
/// `verify(statement, signature)`.
pub fn verify_file(path: &Path, verify: &dyn Fn(&[u8], &[u8; 64]) -> bool) -> Result<(), String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no file name", path.display()))?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sig_path = path.with_file_name(format!("{name}.sig"));
    let text =
        std::fs::read_to_string(&sig_path).map_err(|e| format!("{}: {e}", sig_path.display()))?;
    let sig = unhex64(text.trim())
        .ok_or_else(|| format!("{}: not 64 bytes of hex", sig_path.display()))?;
    let st = statement(name, bytes.len() as u64, &b2(&bytes));
    if verify(st.as_bytes(), &sig) {
        Ok(())
    } else {
        Err(format!(
            "{}: the signature does not verify under the package key",
            path.display()
        ))
    }
}

/// Whether `n` is a plain file name a repository may hold: no path, no
/// leading dot, not the index or a signature.
pub fn valid_file_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 255
        && !n.starts_with('.')
        && n != INDEX
        && !n.ends_with(".sig")
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// Writes `path` through a temporary file in its directory and a rename.
/// The temporary file (named for this process and call) is made new (`O_CREAT|O_EXCL`), after removing
/// whatever held its name: a symlink planted there (by whoever can write
/// the directory) is removed, never followed; the rename replaces a
/// symlink at `path` itself rather than writing through it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    // Its own name per writer (process and call): two writers of one file
    // never share a temporary one.
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex64(s: &str) -> Option<[u8; 64]> {
    if s.len() != 128 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
