//! Conflicts and duplicates among the patchsets selected for one host,
//! found before any build.
//!
//! - A **conflict**: two patchsets of different campaigns (`campaign` in
//!   `patchset.toml`; a patchset without one is a campaign of its own)
//!   whose hunks change overlapping old lines of the same file (the lines
//!   changed, not the context around them). Two hunks in separate places
//!   of one file are not a conflict.
//! - A **duplicate**: the same change carried twice, equal as `git
//!   patch-id --stable` would see it: per file, the changed lines with all
//!   whitespace removed, ignoring line numbers; files in any order.

use std::collections::BTreeMap;

use blake2::{Blake2b512, Digest as _};

use crate::series::Hunk;
use crate::tree::Patchset;

/// Two patchsets of different campaigns touching the same lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The file.
    pub file: String,
    /// One patchset and its old line range (first line, count).
    pub a: (String, (u64, u64)),
    /// The other, and its range.
    pub b: (String, (u64, u64)),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = |(s, n): (u64, u64)| format!("{s}-{}", s + n.max(1) - 1);
        write!(
            f,
            "{} lines {} ({}) and lines {} ({}) overlap",
            self.file,
            r(self.a.1),
            self.a.0,
            r(self.b.1),
            self.b.0
        )
    }
}

/// The same change in two patch files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The first patch file (tree path).
    pub first: String,
    /// The one that carries it again.
    pub again: String,
}

fn campaign(set: &Patchset) -> String {
    set.meta
        .campaign
        .clone()
        .unwrap_or_else(|| format!("({})", set.id))
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    let (a0, a1) = (a.0, a.0 + a.1.max(1));
    let (b0, b1) = (b.0, b.0 + b.1.max(1));
    a0 < b1 && b0 < a1
}

/// Every patch of `sets` with its patchset and hunks.
fn hunks<'a>(sets: &[&'a Patchset]) -> Vec<(&'a Patchset, &'a str, &'a [Hunk])> {
    sets.iter()
        .flat_map(|s| {
            s.patches
                .iter()
                .map(move |p| (*s, p.path.as_str(), p.scanned.hunks.as_slice()))
        })
        .collect()
}

/// A hunk's patchset, its campaign and its old line range.
type Touch<'a> = (&'a Patchset, String, (u64, u64));

/// Conflicts between patchsets of different campaigns in `sets`.
pub fn conflicts(sets: &[&Patchset]) -> Vec<Conflict> {
    let mut by_file: BTreeMap<String, Vec<Touch<'_>>> = BTreeMap::new();
    for (set, _, hs) in hunks(sets) {
        for h in hs {
            by_file.entry(h.file.clone()).or_default().push((
                set,
                campaign(set),
                (h.span.0, h.span.1 - h.span.0 + 1),
            ));
        }
    }
    let mut out = Vec::new();
    for (file, v) in by_file {
        for (i, (sa, ca, ra)) in v.iter().enumerate() {
            for (sb, cb, rb) in &v[i + 1..] {
                if ca != cb && sa.id != sb.id && overlaps(*ra, *rb) {
                    let c = Conflict {
                        file: file.clone(),
                        a: (sa.id.clone(), *ra),
                        b: (sb.id.clone(), *rb),
                    };
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// A patch's id as `git patch-id --stable` sees it: line numbers and
/// whitespace ignored, files in any order.
pub fn patch_id(hunks: &[Hunk]) -> String {
    let mut per_file: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for h in hunks {
        let lines = per_file.entry(h.file.as_str()).or_default();
        for c in &h.changes {
            lines.push(c.chars().filter(|ch| !ch.is_whitespace()).collect());
        }
    }
    let mut d = Blake2b512::new();
    for (file, lines) in per_file {
        d.update(file.as_bytes());
        d.update([0]);
        for l in lines {
            d.update(l.as_bytes());
            d.update([b'\n']);
        }
        d.update([0]);
    }
    d.finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Patch files in `sets` carrying a change an earlier one carries.
pub fn duplicates(sets: &[&Patchset]) -> Vec<Duplicate> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, path, hs) in hunks(sets) {
        if hs.is_empty() {
            continue;
        }
        let id = patch_id(hs);
        match seen.get(&id) {
            Some(first) => out.push(Duplicate {
                first: first.clone(),
                again: path.to_string(),
            }),
            None => {
                seen.insert(id, path.to_string());
            }
        }
    }
    out
}
