//! `patches check`: a host's series applied patch by patch to a real
//! baseline checkout, naming the first patch, file and hunk that fails,
//! with every offset reported.
//!
//! The engine is `git apply` run as a subprocess: the same program the
//! users' own build applies with (research/patch-tools.md: it reports
//! offsets with `-v`, and never applies with fuzz — context must match,
//! so fuzz is reported as a failure, never silently accepted).
//!
//! First, the whole series in one `git apply --cached --check -v`
//! against a throwaway index read from the ref (`git read-tree`, no
//! checkout): git applies the patches one after the other in memory, each
//! seeing the ones before. That one process is the common case, a series
//! that applies where it says. Only when a patch fails or applies at an
//! offset is the series applied patch by patch, for real, in a throwaway
//! worktree of the baseline at the ref, to name the first patch, file and
//! hunk that fails and every offset as the file then stands (in one run,
//! git counts a hunk's offset from where the earlier patches moved it,
//! not from the file's lines); the worktree is removed afterwards,
//! whatever happened.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::KernelError;
use crate::tree::{PatchFile, Patchset};

/// How one patch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The patch (tree path).
    pub patch: String,
    /// Hunks that applied at an offset: (file, hunk number in its file,
    /// line it applied at, offset in lines).
    pub offsets: Vec<(String, u32, u64, i64)>,
}

/// The first patch that does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The patch (tree path).
    pub patch: String,
    /// The file in the source tree.
    pub file: String,
    /// The failing hunk's old start line, as the patch says.
    pub line: u64,
    /// Its number among that file's hunks in the patch (1-based; 0 when
    /// git named no line).
    pub hunk: u32,
    /// What git said.
    pub said: String,
}

/// What checking a series found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The baseline commit the series was applied to.
    pub commit: String,
    /// The patches that applied, in order.
    pub applied: Vec<Applied>,
    /// The first that did not, if any (the rest were not tried).
    pub failed: Option<Failed>,
}

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        // git's messages are read: in English, whatever the user's locale.
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C");
    c
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, KernelError> {
    git_command(dir, args)
        .output()
        .map_err(|e| KernelError::Io(format!("git: {e}")))
}

/// Removes the worktree when dropped.
struct Worktree<'a> {
    baseline: &'a Path,
    path: PathBuf,
}

impl Drop for Worktree<'_> {
    fn drop(&mut self) {
        let p = self.path.to_string_lossy().into_owned();
        let _ = git(self.baseline, &["worktree", "remove", "--force", &p]);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `Hunk #2 succeeded at 40 (offset 3 lines).` → (2, 40, 3).
fn offset_line(l: &str) -> Option<(u32, u64, i64)> {
    let rest = l.strip_prefix("Hunk #")?;
    let (n, rest) = rest.split_once(" succeeded at ")?;
    let (at, rest) = rest.split_once(" (offset ")?;
    let off = rest.split_whitespace().next()?;
    Some((n.parse().ok()?, at.parse().ok()?, off.parse().ok()?))
}

/// The diff part of a patch (a mail's message is prose, not diff).
fn diff_of(f: &PatchFile) -> &[u8] {
    let scanned = &f.scanned;
    scanned
        .body(&f.bytes)
        .get(scanned.diff_start..)
        .unwrap_or_default()
}

/// Removes a directory when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The whole series checked by one `git apply --cached --check -v`,
/// the diffs on its stdin, against a throwaway index of `commit` (its new
/// objects in a throwaway object directory): `Some` when every patch applies exactly where it
/// says; `None` when one does not, or applies at an offset (the caller
/// then goes patch by patch, to name it).
fn at_once(
    baseline: &Path,
    commit: &str,
    files: &[&PatchFile],
    scratch: &Path,
) -> Result<Option<Checked>, KernelError> {
    if std::fs::symlink_metadata(scratch).is_ok() {
        return Err(KernelError::Io(format!(
            "{}: already there; the check needs a fresh place",
            scratch.display()
        )));
    }
    let dir = Scratch(scratch.to_path_buf());
    let io = |e: std::io::Error| KernelError::Io(format!("{}: {e}", dir.0.display()));
    std::fs::create_dir_all(dir.0.join("objects")).map_err(io)?;
    // The diffs one after the other, on git's stdin (no file per patch).
    let mut series = Vec::new();
    for f in files {
        let d = diff_of(f);
        series.extend_from_slice(d);
        if !d.ends_with(b"\n") {
            series.push(b'\n');
        }
    }
    // The checkout's object store, wherever it is (a worktree, a bare
    // repository): read through, never written.
    let common = git(
        baseline,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?;
    if !common.status.success() {
        return Ok(None);
    }
    let objects = PathBuf::from(String::from_utf8_lossy(&common.stdout).trim()).join("objects");
    let env = [
        ("GIT_INDEX_FILE", dir.0.join("index")),
        ("GIT_OBJECT_DIRECTORY", dir.0.join("objects")),
        ("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects),
    ];
    let run = |args: &[&str], input: Option<&[u8]>| {
        let mut c = git_command(baseline, args);
        for (k, v) in &env {
            c.env(k, v);
        }
        feed(c, input)
    };
    let read = run(&["read-tree", commit], None)?;
    if !read.status.success() {
        return Ok(None);
    }
    let o = run(
        &[
            "apply",
            "--cached",
            "--check",
            "-v",
            "--whitespace=nowarn",
            "-",
        ],
        Some(&series),
    )?;
    if !o.status.success() {
        return Ok(None);
    }
    // Offsets: git numbers a hunk of a file an earlier patch of the same
    // run changed from that patch's expectations, not by the file as it
    // then is; the patch-by-patch path reports them as the file is.
    let said = String::from_utf8_lossy(&o.stderr);
    if said.lines().any(|l| offset_line(l).is_some()) {
        return Ok(None);
    }
    let applied = files
        .iter()
        .map(|f| Applied {
            patch: f.path.clone(),
            offsets: Vec::new(),
        })
        .collect();
    Ok(Some(Checked {
        commit: commit.to_string(),
        applied,
        failed: None,
    }))
}

/// Runs `c`, writing `input` to its stdin from a thread of its own (so a
/// large series cannot deadlock against git's output).
fn feed(mut c: Command, input: Option<&[u8]>) -> Result<std::process::Output, KernelError> {
    use std::io::Write as _;
    use std::process::Stdio;
    let err = |e: std::io::Error| KernelError::Io(format!("git: {e}"));
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(err)?;
    let writer = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || stdin.write_all(&bytes)))
        }
        _ => None,
    };
    let out = child.wait_with_output().map_err(err)?;
    if let Some(w) = writer {
        // git stops reading at a patch it cannot use: a broken pipe then
        // says nothing more than its exit status does.
        let _ = w.join();
    }
    Ok(out)
}

/// Applies `sets`' patches in order to a worktree of `baseline` at
/// `reference`, in `scratch` (a directory that does not exist yet).
pub fn check(
    baseline: &Path,
    reference: &str,
    sets: &[&Patchset],
    scratch: &Path,
) -> Result<Checked, KernelError> {
    let rev = git(
        baseline,
        &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
    )?;
    if !rev.status.success() {
        return Err(KernelError::Invalid(vec![format!(
            "{}: no commit `{reference}` (the manifest's baseline ref) in this checkout",
            baseline.display()
        )]));
    }
    let commit = String::from_utf8_lossy(&rev.stdout).trim().to_string();
    let files: Vec<&PatchFile> = sets.iter().flat_map(|s| s.patches.iter()).collect();
    if let Some(all) = at_once(baseline, &commit, &files, scratch)? {
        return Ok(all);
    }
    if std::fs::symlink_metadata(scratch).is_ok() {
        return Err(KernelError::Io(format!(
            "{}: already there; the check needs a fresh place",
            scratch.display()
        )));
    }
    let wt = Worktree {
        baseline,
        path: scratch.to_path_buf(),
    };
    let p = wt.path.to_string_lossy().into_owned();
    let add = git(
        baseline,
        &["worktree", "add", "--detach", "--quiet", &p, &commit],
    )?;
    if !add.status.success() {
        return Err(KernelError::Io(format!(
            "git worktree add: {}",
            String::from_utf8_lossy(&add.stderr).trim()
        )));
    }
    let mut out = Checked {
        commit,
        applied: Vec::new(),
        failed: None,
    };
    for f in files {
        let scanned = &f.scanned;
        // Beside the worktree, never in it (a tracked symlink there could
        // send the write elsewhere); only the diff part, as a mail's
        // message is prose.
        let body = wt.path.with_extension("patch");
        std::fs::write(&body, diff_of(f))
            .map_err(|e| KernelError::Io(format!("{}: {e}", body.display())))?;
        let arg = body.to_string_lossy().into_owned();
        let o = git(&wt.path, &["apply", "-v", "--whitespace=nowarn", &arg])?;
        let _ = std::fs::remove_file(&body);
        let said = String::from_utf8_lossy(&o.stderr).into_owned();
        let mut applied = Applied {
            patch: f.path.clone(),
            offsets: Vec::new(),
        };
        let mut current = String::new();
        for l in said.lines() {
            if let Some(p) = l.strip_prefix("Checking patch ") {
                current = p.trim_end_matches("...").to_string();
            } else if let Some((n, at, off)) = offset_line(l) {
                applied.offsets.push((current.clone(), n, at, off));
            }
        }
        if o.status.success() {
            out.applied.push(applied);
            continue;
        }
        let (file, line) = said
            .lines()
            .find_map(|l| l.strip_prefix("error: patch failed: "))
            .and_then(|r| r.rsplit_once(':'))
            .map(|(f, l)| (f.to_string(), l.parse().unwrap_or(0)))
            .unwrap_or_else(|| (current.clone(), 0));
        let hunk = scanned
            .hunks
            .iter()
            .filter(|h| h.file == file)
            .position(|h| h.old.0 == line)
            .map_or(0, |i| i as u32 + 1);
        out.failed = Some(Failed {
            patch: f.path.clone(),
            file,
            line,
            hunk,
            said: said
                .lines()
                .filter(|l| l.starts_with("error:"))
                .collect::<Vec<_>>()
                .join("; "),
        });
        break;
    }
    Ok(out)
}
