//! A step's durable record: what its supervisor writes where the step runs,
//! so that a controller that died while the step ran can learn, once
//! restarted, how it ended — or that it still runs.
//!
//! Two files per plan entry, named by its [`Record::key`] in a directory
//! only its user can read:
//!
//! - `<key>.started`: `<nonce> <pid>`, written before the command starts.
//!   `<pid>` leads the step's process group. Locally the supervisor holds
//!   an exclusive `flock` on it for as long as it lives, so "still
//!   running" never rests on a pid that may have been reused. A remote
//!   wrapper adds the host's boot id: its probe takes the pid for alive
//!   only in the same boot (after a restart the pid is someone else's).
//! - `<key>.ended`: `bosun-step 1 <nonce> <rc>`, a newline, then the tail
//!   of the output, written to a temporary name, fsynced and renamed into
//!   place (then the directory fsynced) before the supervisor exits. `<rc>`
//!   is the exit code, 128 + the signal for a command killed by a signal.
//!
//! The nonce ties the two together: an `.ended` whose nonce is not the
//! one in `.started` belongs to an earlier attempt and says nothing.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::StepOutput;

/// The first word of an `.ended` file.
pub(crate) const MAGIC: &str = "bosun-step 1";
/// Bytes of output an `.ended` file keeps (its tail).
pub const RECORD_TAIL: usize = 16 * 1024;
/// The largest `.ended` file read back: the header and the tail, with room.
const MAX_ENDED: u64 = RECORD_TAIL as u64 + 4096;

/// Where a step's supervisor records it (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The op (its jti, made safe for a file name and a shell word).
    pub op: &'a str,
    /// The plan entry.
    pub entry: u32,
    /// Local transports: the directory the records go in (the workspace's
    /// state directory). Remote hosts use a directory of their own.
    pub dir: &'a Path,
    /// Local transports: the bosun binary, re-executed as the step shim;
    /// without one a local step runs unrecorded.
    pub shim: Option<&'a Path>,
    /// Which attempt this is (1 unless `on_error` retries): it leads the
    /// record's nonce, so a restarted controller knows which attempt it
    /// finds and counts on from there.
    pub attempt: u32,
}

impl Record<'_> {
    /// The files' name without their suffix: `<op>.<entry>`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.op, self.entry)
    }
}

/// A jti made safe as a file name and a shell word: itself when it is
/// only ASCII letters, digits, `-` and `_` (bosun's own jtis are hex),
/// else its digest.
pub fn record_op(jti: &str) -> String {
    let plain = !jti.is_empty()
        && jti.len() <= 64
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        jti.to_string()
    } else {
        let d = bosun_model::Digest::of(jti.as_bytes());
        let hex = d.as_str().trim_start_matches("sha256:");
        hex.get(..32).unwrap_or(hex).to_string()
    }
}

/// Where a step that a controller lost track of stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No record: its supervisor never started, so neither did the
    /// command (or the record was lost with the host's disk).
    NotStarted,
    /// Its supervisor still runs, leading process group `group`.
    Running {
        /// The process group to wait for or kill.
        group: i32,
        /// Which attempt it is, when its record says.
        attempt: Option<u32>,
        /// Seconds since this attempt started, when the host can tell.
        age: Option<u64>,
    },
    /// It ended and recorded how: exit code and output tail, scrubbed.
    Ended {
        /// What it did.
        out: StepOutput,
        /// Which attempt it was, when its record says.
        attempt: Option<u32>,
    },
    /// It started, left no outcome and is gone (killed with its
    /// supervisor, or the host restarted): how it ended cannot be known.
    Vanished,
    /// The host could not be asked (why).
    Unreachable(String),
}

/// The paths of `key`'s two files in `dir`.
pub(crate) fn paths(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{key}.started")),
        dir.join(format!("{key}.ended")),
    )
}

/// The nonce of attempt `attempt`: the attempt, `-`, then `random`.
pub(crate) fn attempt_nonce(attempt: u32, random: &str) -> String {
    format!("{attempt}-{random}")
}

/// The attempt a nonce names (see [`attempt_nonce`]).
pub(crate) fn attempt_of(nonce: &str) -> Option<u32> {
    nonce.split_once('-')?.0.parse().ok()
}

/// Reads `<nonce> <pid>` from a `.started` file's text (a remote
/// wrapper adds the host's boot id, which its probe compares itself).
pub(crate) fn parse_started(text: &str) -> Option<(&str, i32)> {
    let mut w = text.split_whitespace();
    let nonce = w.next()?;
    let pid: i32 = w.next()?.parse().ok()?;
    let _boot = w.next();
    (pid > 1 && w.next().is_none()).then_some((nonce, pid))
}

/// Reads an `.ended` file's bytes: its exit code and output, when it is
/// whole and belongs to the attempt that wrote `nonce`.
pub(crate) fn parse_ended(bytes: &[u8], nonce: &str) -> Option<(i32, String)> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&bytes[..nl]).ok()?;
    let rest = head.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let (n, rc) = rest.split_once(' ')?;
    let rc: i32 = rc.trim().parse().ok()?;
    (n == nonce).then(|| (rc, String::from_utf8_lossy(&bytes[nl + 1..]).into_owned()))
}

/// The text of an `.ended` file.
pub(crate) fn ended_text(nonce: &str, rc: i32, tail: &[u8]) -> Vec<u8> {
    let mut v = format!("{MAGIC} {nonce} {rc}\n").into_bytes();
    v.extend_from_slice(tail);
    v
}

/// Reads at most [`MAX_ENDED`] bytes of `path`; `None` when absent.
fn read_capped(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::File::open(path) {
        Ok(f) => {
            let mut v = Vec::new();
            f.take(MAX_ENDED).read_to_end(&mut v)?;
            Ok(Some(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A recorded outcome as a step's output: exit code, the output tail
/// scrubbed, and a note that it was recovered.
pub(crate) fn recovered(rc: i32, output: &str, patterns: &[regex::Regex]) -> StepOutput {
    let text = format!(
        "{output}\n[bosun: the controller lost sight of this step (it restarted, or its connection to the host dropped); the step went on and its supervisor recorded how it ended]"
    );
    StepOutput {
        exit_code: Some(rc),
        output: crate::output::scrub_all(&text, patterns),
        ..StepOutput::default()
    }
}

/// Whether `dir` may be trusted with records: a directory (not a link)
/// of this user's that nobody else can write to, as the shim makes it.
fn trusted_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mine = m.uid() == rustix::process::geteuid().as_raw();
    if m.is_dir() && mine && m.permissions().mode() & 0o077 == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} is not a private directory of this user (0700): its records are not trusted",
            dir.display()
        ))
    }
}

/// Where a local step recorded under `key` in `dir` stands (see [`Probe`]).
pub(crate) fn probe_local(dir: &Path, key: &str, patterns: &[regex::Regex]) -> Probe {
    let (started, ended) = paths(dir, key);
    if !dir.exists() {
        return Probe::NotStarted;
    }
    if let Err(why) = trusted_dir(dir) {
        return Probe::Unreachable(why);
    }
    let file = match std::fs::File::open(&started) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Probe::NotStarted,
        Err(e) => return Probe::Unreachable(format!("{}: {e}", started.display())),
    };
    let mut text = String::new();
    if (&file).take(256).read_to_string(&mut text).is_err() {
        return Probe::Vanished;
    }
    let Some((nonce, pid)) = parse_started(&text) else {
        return Probe::Vanished;
    };
    // The supervisor holds the lock while it lives.
    let attempt = attempt_of(nonce);
    if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock() {
        let age = (file.metadata().and_then(|m| m.modified()).ok())
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_secs());
        return Probe::Running {
            group: pid,
            attempt,
            age,
        };
    }
    match read_capped(&ended) {
        Ok(Some(b)) => match parse_ended(&b, nonce) {
            Some((rc, out)) => Probe::Ended {
                out: recovered(rc, &out, patterns),
                attempt,
            },
            None => Probe::Vanished,
        },
        Ok(None) => Probe::Vanished,
        Err(e) => Probe::Unreachable(format!("{}: {e}", ended.display())),
    }
}

/// Removes every record of op `op` (as [`record_op`] names it) from the
/// local records directory `dir` (best effort).
pub fn forget_local(dir: &Path, op: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{op}.");
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_round_trips_and_checks_the_nonce() {
        let t = ended_text("abc", 3, b"out\nput");
        assert_eq!(parse_ended(&t, "abc"), Some((3, "out\nput".into())));
        assert_eq!(parse_ended(&t, "abd"), None);
        assert_eq!(parse_ended(b"bosun-step 1 abc 3", "abc"), None);
        assert_eq!(parse_ended(b"bosun-step 2 abc 3\n", "abc"), None);
        assert_eq!(parse_ended(b"bosun-step 1 abc x\n", "abc"), None);
        assert_eq!(parse_started("n1 4242\n"), Some(("n1", 4242)));
        assert_eq!(parse_started("n1 1"), None);
        assert_eq!(parse_started("n1 12 boot-id"), Some(("n1", 12)));
        assert_eq!(parse_started("n1 12 x y"), None);
    }

    #[test]
    fn odd_jtis_become_digests() {
        assert_eq!(record_op("0190abc-de_f"), "0190abc-de_f");
        let odd = record_op("a b/../c;rm");
        assert_eq!(odd.len(), 32);
        assert!(odd.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn probing_reads_what_is_there() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(probe_local(d.path(), "k.0", &[]), Probe::NotStarted);
        let (s, e) = paths(d.path(), "k.0");
        std::fs::write(&s, "n1 4242\n").unwrap();
        assert_eq!(probe_local(d.path(), "k.0", &[]), Probe::Vanished);
        std::fs::write(&e, ended_text("n0", 0, b"old attempt")).unwrap();
        assert_eq!(probe_local(d.path(), "k.0", &[]), Probe::Vanished);
        std::fs::write(&e, ended_text("n1", 2, b"token=hunter2")).unwrap();
        let Probe::Ended { out: o, .. } = probe_local(d.path(), "k.0", &[]) else {
            panic!("not ended");
        };
        assert_eq!(o.exit_code, Some(2));
        assert!(o.output.starts_with("token=***\n"), "{}", o.output);
        // Held by a live supervisor: running, whatever else is there.
        let held = std::fs::File::open(&s).unwrap();
        held.lock().unwrap();
        assert!(matches!(
            probe_local(d.path(), "k.0", &[]),
            Probe::Running {
                group: 4242,
                attempt: None,
                age: Some(0)
            }
        ));
        assert_eq!(attempt_of(&attempt_nonce(3, "ab12")), Some(3));
        assert_eq!(attempt_of("ab12"), None);
        drop(held);
        // A directory others can write to is not trusted.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            probe_local(d.path(), "k.0", &[]),
            Probe::Unreachable(_)
        ));
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        forget_local(d.path(), "k");
        assert_eq!(probe_local(d.path(), "k.0", &[]), Probe::NotStarted);
    }
}
