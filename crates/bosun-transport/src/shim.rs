//! The step shim: the bosun binary re-executed (`bosun __step-shim DIR
//! KEY NONCE CMD`) as the supervisor of one local step. It leads the
//! step's process group, runs `sh -c CMD`, forwards the command's output
//! to its own stdout (the controller's pipe) while keeping a capped copy,
//! and records the step (see `record`): `.started` before the command
//! starts, held locked while the shim lives, and `.ended`, fsynced, before
//! it exits with the command's exit code.
//!
//! The shim outlives the controller on purpose: a controller killed while
//! the step runs leaves the command running, and the command's output
//! keeps a reader (the shim) instead of dying of a broken pipe. The
//! restarted controller finds the record and takes the outcome from it, or
//! waits for the shim while it still runs.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::output::Capped;
use crate::record::{ended_text, paths};

/// The first argument that makes the bosun binary a step shim.
pub const SHIM_ARG: &str = "__step-shim";

/// Exit code of a shim that could not record its step: the command did
/// not run.
const NOT_RUN: i32 = 125;

/// Runs the shim with the arguments after [`SHIM_ARG`]; returns the exit
/// code the process should exit with.
pub fn shim_main(args: &[OsString]) -> i32 {
    let [dir, key, nonce, cmd] = args else {
        eprintln!("step shim: usage: {SHIM_ARG} DIR KEY NONCE CMD");
        return NOT_RUN;
    };
    let (Some(key), Some(nonce)) = (key.to_str(), nonce.to_str()) else {
        eprintln!("step shim: the key and nonce must be text");
        return NOT_RUN;
    };
    match supervise(Path::new(dir), key, nonce, cmd) {
        Ok(rc) => rc,
        Err(e) => {
            eprintln!("step shim: {e}; the step did not run");
            NOT_RUN
        }
    }
}

/// Records, runs and records again; `Err` only before the command starts.
fn supervise(dir: &Path, key: &str, nonce: &str, cmd: &OsString) -> Result<i32, String> {
    let io = |what: &Path, e: std::io::Error| {
        format!("cannot record the step in {}: {e}", what.display())
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    // Records are trusted only in a private directory (see `record`).
    let meta = std::fs::symlink_metadata(dir).map_err(|e| io(dir, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(dir, e))?;
    }
    let (started, ended) = paths(dir, key);
    // Locked before it gets its name: whoever sees `.started` sees it held.
    // Its new nonce goes in before an earlier attempt's `.ended` goes, so
    // that one never reads as this attempt's outcome.
    let pid = std::process::id();
    let tmp = dir.join(format!("{key}.started.{pid}"));
    let mut held = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    held.lock().map_err(|e| io(&tmp, e))?;
    writeln!(held, "{nonce} {pid}").map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &started).map_err(|e| io(&started, e))?;
    match std::fs::remove_file(&ended) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&ended, e)),
        _ => {}
    }

    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd);
    c.stdout(
        writer
            .try_clone()
            .map_err(|e| format!("cannot make a pipe: {e}"))?,
    );
    c.stderr(writer);
    let mut child = c.spawn().map_err(|e| format!("cannot start sh: {e}"))?;
    // Only the child holds the write end now.
    drop(c);

    let kept = Arc::new(Mutex::new(Capped::default()));
    let (done, pumped) = mpsc::channel::<()>();
    {
        let kept = kept.clone();
        std::thread::spawn(move || forward(reader, &kept, done));
    }
    let status = child.wait();
    // A background process may hold the output open: read on a moment.
    let mut note = String::new();
    if let Err(mpsc::RecvTimeoutError::Timeout) = pumped.recv_timeout(Duration::from_secs(2)) {
        note = "\n[bosun: the step exited but something it started still holds its output open; stopped reading]".into();
        let _ = std::io::stdout().write_all(note.as_bytes());
    }
    let rc = match status {
        Ok(s) => s
            .code()
            .or_else(|| s.signal().map(|n| 128 + n))
            .unwrap_or(NOT_RUN),
        Err(e) => {
            note.push_str(&format!("\n[bosun: waiting for the step failed: {e}]"));
            NOT_RUN
        }
    };
    let mut text = kept.lock().map(|k| k.text()).unwrap_or_default();
    text.push_str(&note);
    if let Err(e) = write_ended(dir, &ended, nonce, rc, text.as_bytes()) {
        // The command ran: its exit code still reaches a live controller.
        eprintln!("step shim: cannot record how the step ended: {e}");
    }
    drop(held);
    Ok(rc)
}

/// Copies the command's output to stdout (until that fails: the
/// controller is gone) and into `kept`, until the pipe ends.
fn forward(mut r: std::io::PipeReader, kept: &Mutex<Capped>, _done: mpsc::Sender<()>) {
    let mut out = Some(std::io::stdout());
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(o) = out.as_mut()
            && o.write_all(&buf[..n]).and_then(|()| o.flush()).is_err()
        {
            out = None;
        }
        if let Ok(mut k) = kept.lock() {
            k.push(&buf[..n]);
        }
    }
}

/// Writes `.ended` durably: a temporary file, fsynced, renamed, and the
/// directory fsynced.
fn write_ended(dir: &Path, ended: &Path, nonce: &str, rc: i32, text: &[u8]) -> std::io::Result<()> {
    let tmp = ended.with_extension(format!("ended.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&ended_text(nonce, rc, text))?;
    f.sync_all()?;
    std::fs::rename(&tmp, ended)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Probe, probe_local};

    #[test]
    fn records_the_outcome_and_the_exit_code() {
        let d = tempfile::tempdir().unwrap();
        let args = |cmd: &str| -> Vec<OsString> {
            vec![d.path().into(), "op.1".into(), "n1".into(), cmd.into()]
        };
        assert_eq!(shim_main(&args("echo hi; echo there >&2; exit 3")), 3);
        let probe = probe_local(d.path(), "op.1", &[]);
        let Probe::Ended { out: o, .. } = probe else {
            panic!("no outcome: {probe:?}");
        };
        assert_eq!(o.exit_code, Some(3));
        assert!(o.output.starts_with("hi\nthere\n"), "{}", o.output);
        // Killed by a signal: 128 + its number.
        assert_eq!(shim_main(&args("kill -9 $$")), 137);
        // Bad arguments: nothing runs.
        assert_eq!(shim_main(&[]), NOT_RUN);
    }
}
