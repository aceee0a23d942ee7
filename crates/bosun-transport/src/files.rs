//! Moving whole files to and from a host over its transport, for what
//! must reach a build host (a job's PKGBUILD and patch) and come back
//! (its packages). Bounded in time and size; a file is written under a
//! temporary name and renamed, so a reader never sees half of one.
//!
//! A relative path is under a `local` host's `root` (or the workspace),
//! or the ssh login's home directory; an absolute path is taken as is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bosun_model::{Host, Transport};

use crate::ssh::ssh_base;

/// `s` single-quoted for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn local_path(ws_root: &Path, host: &Host, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match &host.root {
        Some(r) => ws_root.join(r).join(p),
        None => ws_root.join(p),
    }
}

fn checked(path: &str) -> Result<(), String> {
    if path.is_empty() || path.contains('\0') || path.len() > 4096 {
        return Err(format!("`{path}` is not a file path"));
    }
    Ok(())
}

/// Writes `bytes` to `path` on `host`, creating its directory.
pub fn put_file(
    ws_root: &Path,
    host: &Host,
    path: &str,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    checked(path)?;
    match host.transport {
        Transport::Local => {
            let p = local_path(ws_root, host, path);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("file");
            let tmp = p.with_file_name(format!(".{name}.bosun-tmp"));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &p))
                .map_err(|e| format!("{}: {e}", p.display()))
        }
        Transport::Ssh => {
            let q = sh_quote(path);
            let tmp = sh_quote(&format!("{path}.bosun-tmp"));
            let script = format!(
                "umask 022; mkdir -p -- \"$(dirname -- {q})\" && cat > {tmp} && mv -f -- {tmp} {q}"
            );
            let mut c = ssh_base(ws_root, host);
            c.arg(script);
            exchange(c, Some(bytes), 0, timeout, host)
                .map(|_| ())
                .map_err(|e| format!("writing {path} on `{}`: {e}", host.name))
        }
    }
}

/// Reads `path` from `host`: at most `max` bytes, else an error.
pub fn get_file(
    ws_root: &Path,
    host: &Host,
    path: &str,
    max: u64,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    checked(path)?;
    match host.transport {
        Transport::Local => {
            // What a build made is not trusted: no link followed (it could
            // name any file this user can read), no FIFO waited on.
            use std::os::unix::fs::OpenOptionsExt as _;
            let p = local_path(ws_root, host, path);
            let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32)
                .open(&p)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            let meta = f.metadata().map_err(|e| format!("{}: {e}", p.display()))?;
            if !meta.is_file() {
                return Err(format!("{}: not a regular file", p.display()));
            }
            let mut out = Vec::new();
            f.take(max.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if out.len() as u64 > max {
                return Err(format!("{}: larger than {max} bytes", p.display()));
            }
            Ok(out)
        }
        Transport::Ssh => {
            let mut c = ssh_base(ws_root, host);
            let q = sh_quote(path);
            c.arg(format!(
                "if [ -f {q} ] && [ ! -h {q} ]; then cat -- {q}; else echo 'not a regular file' >&2; exit 3; fi"
            ));
            exchange(c, None, max, timeout, host)
                .map_err(|e| format!("reading {path} on `{}`: {e}", host.name))
        }
    }
}

/// Runs `c` feeding it `input`, collecting at most `max` bytes of stdout,
/// killing it past `timeout`.
fn exchange(
    mut c: Command,
    input: Option<&[u8]>,
    max: u64,
    timeout: Duration,
    host: &Host,
) -> Result<Vec<u8>, String> {
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cannot start ssh: {e}"))?;
    let deadline = Instant::now() + timeout;
    let writer = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || stdin.write_all(&bytes)))
        }
        _ => None,
    };
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(max.saturating_add(1)).read_to_end(&mut out);
        }
        out
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(4096).read_to_end(&mut out);
        }
        out
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer from `{}` in {timeout:?}", host.name));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    if let Some(w) = writer {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("sending: {e}")),
            Err(_) => return Err("sending failed".into()),
        }
    }
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        return Err(format!("{status}: {}", err.trim()));
    }
    if out.len() as u64 > max && input.is_none() {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(root: &str) -> Host {
        let mut h = crate::controller_host(&bosun_model::Name::parse("b").unwrap());
        h.root = Some(root.into());
        h
    }

    #[test]
    fn local_files_round_trip_under_the_root_and_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let h = local("sim/b");
        let t = Duration::from_secs(5);
        put_file(d.path(), &h, "jobs/j1/cumulative.patch", b"diff\n", t).unwrap();
        assert!(d.path().join("sim/b/jobs/j1/cumulative.patch").exists());
        let back = get_file(d.path(), &h, "jobs/j1/cumulative.patch", 5, t).unwrap();
        assert_eq!(back, b"diff\n");
        let e = get_file(d.path(), &h, "jobs/j1/cumulative.patch", 4, t).unwrap_err();
        assert!(e.contains("larger than 4 bytes"), "{e}");
        assert!(get_file(d.path(), &h, "nope", 4, t).is_err());
        // A link out, or a FIFO that would block, is refused at once.
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("sim/b/link")).unwrap();
        assert!(get_file(d.path(), &h, "link", 1 << 20, t).is_err());
        let fifo = d.path().join("sim/b/fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = get_file(d.path(), &h, "fifo", 1 << 20, t).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(put_file(d.path(), &h, "", b"", t).is_err());
    }

    #[test]
    fn quoting_survives_hostile_names() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote("$(id) `x` 'q'")))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"$(id) `x` 'q'");
    }
}
