//! `patches check`: a host's series applied patch by patch to a real
//! baseline checkout, naming the first patch, file and hunk that fails,
//! with every offset reported.
//!
//! The engine is `git apply` run as a subprocess, in a throwaway
//! worktree of the baseline at the manifest's ref: the same program the
//! users' own build applies with (research/patch-tools.md: it reports
//! offsets with `-v`, and never applies with fuzz — context must match,
//! so fuzz is reported as a failure, never silently accepted). Each patch
//! is applied for real in the worktree so the next one sees its result;
//! the worktree is removed afterwards, whatever happened.

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

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, KernelError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        // git's messages are read: in English, whatever the user's locale.
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
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
    let files: Vec<&PatchFile> = sets.iter().flat_map(|s| s.patches.iter()).collect();
    for f in files {
        let scanned = &f.scanned;
        // Beside the worktree, never in it (a tracked symlink there could
        // send the write elsewhere); only the diff part, as a mail's
        // message is prose.
        let body = wt.path.with_extension("patch");
        let diff = scanned
            .body(&f.bytes)
            .get(scanned.diff_start..)
            .unwrap_or_default();
        std::fs::write(&body, diff)
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
