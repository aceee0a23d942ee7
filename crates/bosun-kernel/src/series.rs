//! Reading one patch file: where its diff ends, what it touches, and the
//! signature trailer `git format-patch` appends (`-- \n<version>\n`).
//!
//! The trailer is found by the hunks' own line counts, never by the first
//! line reading `-- `: a hunk that deletes a line `- ` holds exactly that
//! line. [`scan`] walks the file line by line: headers (mail, diffstat,
//! `diff --git`, `index`, modes, renames, `---`/`+++`), hunks (each
//! `@@ -a,b +c,d @@` consumes exactly `b` old and `d` new lines), and git
//! binary patches (`literal`/`delta` blocks up to a blank line). A `-- `
//! line met *between* hunks, after at least one diff, starts the trailer,
//! which runs to the end of the file. A hunk cut short, a file with no
//! diff, a path that leaves the tree, bytes that are not UTF-8: errors
//! naming the file and line.

use std::fmt;

/// The largest patch file read (64 MiB).
pub const MAX_PATCH_BYTES: usize = 64 << 20;

/// A patch file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatchError {
    /// The file (as the tree names it).
    pub file: String,
    /// 1-based line (0: the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// One hunk: the file it changes and the old and new line ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The file's path in the tree (the new name after a rename).
    pub file: String,
    /// First old line and how many.
    pub old: (u64, u64),
    /// First new line and how many.
    pub new: (u64, u64),
    /// The changed lines (`-`/`+` with their text), in order.
    pub changes: Vec<String>,
    /// The old lines its changes touch, first and last (an addition
    /// counts as the line it follows): context lines are not in it.
    pub span: (u64, u64),
}

/// What [`scan`] found in a patch file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scanned {
    /// Byte offset where the diff part starts: after a mail's `---` line
    /// (its message is not read as diff), else 0.
    pub diff_start: usize,
    /// Byte offset where the diff ends: the trailer (if any) starts here.
    pub body_end: usize,
    /// Whether a signature trailer follows the diff.
    pub trailer: bool,
    /// Files the patch touches, in order, each once.
    pub files: Vec<String>,
    /// Its hunks.
    pub hunks: Vec<Hunk>,
}

impl Scanned {
    /// The patch without its trailer.
    pub fn body<'a>(&self, text: &'a [u8]) -> &'a [u8] {
        text.get(..self.body_end).unwrap_or(text)
    }
}

enum State {
    /// Outside any diff, or between a diff's header lines and hunks.
    Header,
    /// Inside a hunk with this many old and new lines still to come, the
    /// old line the next line is at, and the span changed so far.
    Hunk {
        old: u64,
        new: u64,
        at: usize,
        line: u64,
        span: Option<(u64, u64)>,
    },
    /// Inside a git binary patch; `block` while in a literal/delta block.
    Binary { block: bool },
}

fn err(file: &str, line: usize, message: impl Into<String>) -> PatchError {
    PatchError {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

/// A path from a diff header, checked: relative, without `..`, with the
/// `a/`/`b/` prefix taken off.
fn tree_path(file: &str, line: usize, raw: &str) -> Result<String, PatchError> {
    let raw = raw.split('\t').next().unwrap_or(raw).trim_end();
    let p = raw
        .strip_prefix("a/")
        .or_else(|| raw.strip_prefix("b/"))
        .unwrap_or(raw);
    if p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| c == ".." || c.is_empty())
        || p.starts_with('"')
    {
        return Err(err(
            file,
            line,
            format!("path `{raw}` leaves the source tree or is not a plain relative path"),
        ));
    }
    Ok(p.to_string())
}

/// `@@ -a[,b] +c[,d] @@…` → ((a, b), (c, d)).
fn hunk_header(s: &str) -> Option<((u64, u64), (u64, u64))> {
    let rest = s.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(u64, u64)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    Some((range(old)?, range(new)?))
}

/// Reads patch file `file` (its name for errors) whose bytes are `text`.
pub fn scan(file: &str, text: &[u8]) -> Result<Scanned, PatchError> {
    if text.len() > MAX_PATCH_BYTES {
        return Err(err(
            file,
            0,
            format!("{} bytes; a patch is at most {MAX_PATCH_BYTES}", text.len()),
        ));
    }
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = text[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        err(file, line, "not UTF-8")
    })?;
    let mut out = Scanned {
        body_end: text.len(),
        ..Scanned::default()
    };
    // A mail (`git format-patch`): its message is prose, whatever it
    // quotes; the diff part starts after the first `---` line.
    if text.starts_with("From ")
        && let Some(i) = text.find("\n---\n")
    {
        out.diff_start = i + 5;
    }
    let mut state = State::Header;
    let mut current: Option<String> = None;
    let mut minus: Option<String> = None;
    let mut offset = 0usize;
    let mut diffs = 0usize;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let start = offset;
        offset += raw.len();
        if start < out.diff_start {
            continue;
        }
        match &mut state {
            State::Hunk {
                old,
                new,
                at,
                line: cur,
                span,
            } => {
                let (o, nw) = match line.as_bytes().first() {
                    Some(b' ') | None => (1, 1),
                    Some(b'-') => (1, 0),
                    Some(b'+') => (0, 1),
                    Some(b'\\') => (0, 0),
                    _ => {
                        return Err(err(
                            file,
                            n,
                            format!(
                                "the hunk at line {at} ends early: {old} old and {new} new line(s) missing"
                            ),
                        ));
                    }
                };
                if o > *old || nw > *new {
                    return Err(err(
                        file,
                        n,
                        format!("the hunk at line {at} has more lines than its header counts"),
                    ));
                }
                *old -= o;
                *new -= nw;
                if let Some(c @ (b'-' | b'+')) = line.as_bytes().first() {
                    // A removal touches its line; an addition, the line it
                    // follows (so a replacement spans the removed lines).
                    let t = if *c == b'-' {
                        *cur
                    } else {
                        cur.saturating_sub(1).max(1)
                    };
                    let (a, b) = span.unwrap_or((t, t));
                    *span = Some((a.min(t), b.max(t)));
                    if let Some(h) = out.hunks.last_mut() {
                        h.changes.push(line.to_string());
                        h.span = span.unwrap_or(h.span);
                    }
                }
                *cur += o;
                if *old == 0 && *new == 0 {
                    state = State::Header;
                }
                continue;
            }
            State::Binary { block } => {
                if line.starts_with("literal ") || line.starts_with("delta ") {
                    *block = true;
                    continue;
                }
                if *block {
                    if line.is_empty() {
                        *block = false;
                    }
                    continue;
                }
                state = State::Header;
            }
            State::Header => {}
        }
        // Between hunks, or in headers.
        if line == "-- " && diffs > 0 {
            out.body_end = start;
            out.trailer = true;
            // Nothing but the signature may follow.
            for (j, rest) in text[offset..].split('\n').enumerate() {
                if rest.starts_with("diff --git ") || rest.starts_with("@@ -") {
                    return Err(err(
                        file,
                        n + j + 1,
                        "a diff follows the signature line `-- `: one patch per file",
                    ));
                }
            }
            break;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            diffs += 1;
            current = rest
                .rsplit_once(" b/")
                .map(|(_, b)| tree_path(file, n, b))
                .transpose()?;
            minus = None;
            if let Some(c) = &current
                && !out.files.contains(c)
            {
                out.files.push(c.clone());
            }
        } else if let Some(rest) = line
            .strip_prefix("rename from ")
            .or_else(|| line.strip_prefix("copy from "))
        {
            let p = tree_path(file, n, rest)?;
            if !out.files.contains(&p) {
                out.files.push(p);
            }
        } else if let Some(rest) = line
            .strip_prefix("rename to ")
            .or_else(|| line.strip_prefix("copy to "))
        {
            let p = tree_path(file, n, rest)?;
            if !out.files.contains(&p) {
                out.files.push(p.clone());
            }
            current = Some(p);
        } else if let Some(rest) = line.strip_prefix("--- ") {
            minus = (rest.split('\t').next() != Some("/dev/null"))
                .then(|| tree_path(file, n, rest))
                .transpose()?;
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            if rest.split('\t').next() == Some("/dev/null") {
                current = minus.clone();
            } else {
                current = Some(tree_path(file, n, rest)?);
            }
            if current.is_none() {
                return Err(err(file, n, "`+++ /dev/null` without a `---` file"));
            }
            if diffs == 0 {
                // A plain unified diff, without `diff --git`.
                diffs += 1;
            }
            if let Some(c) = &current
                && !out.files.contains(c)
            {
                out.files.push(c.clone());
            }
        } else if line.starts_with("@@ -") {
            let Some(file_path) = current.clone() else {
                return Err(err(file, n, "a hunk before any file header"));
            };
            let Some((old, new)) = hunk_header(line) else {
                return Err(err(file, n, format!("`{line}` is not a hunk header")));
            };
            out.hunks.push(Hunk {
                file: file_path,
                old,
                new,
                changes: Vec::new(),
                span: (old.0, old.0),
            });
            if old.1 > 0 || new.1 > 0 {
                state = State::Hunk {
                    old: old.1,
                    new: new.1,
                    at: n,
                    line: old.0,
                    span: None,
                };
            }
        } else if line == "GIT binary patch" {
            state = State::Binary { block: false };
        }
    }
    if let State::Hunk { old, new, at, .. } = state {
        return Err(err(
            file,
            at,
            format!("truncated: the hunk here misses {old} old and {new} new line(s)"),
        ));
    }
    if diffs == 0 {
        return Err(err(file, 0, "no diff in this file"));
    }
    Ok(out)
}
