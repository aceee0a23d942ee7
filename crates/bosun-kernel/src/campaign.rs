//! Changing the tree and every manifest together: `migrate-tree` (a
//! scope or patchset moved, every manifest's references rewritten) and
//! abandoning a campaign (its patchsets out of every manifest, then kept
//! in `archive/` or deleted). Each is all or nothing: the new manifests
//! are computed and parsed first; the files are then moved and written,
//! and a failure part way puts back what was done.
//!
//! Manifests are the users' YAML, comments and all, so they are edited as
//! text: a list item (`- board/x`) or a flow-list entry (`[board/x, …]`)
//! that names the old path (or a path under it) is rewritten; nothing else
//! on the line changes. The result must still parse.

use std::path::{Path, PathBuf};

use crate::KernelError;
use crate::manifest::Manifest;
use crate::tree::{Tree, check_scope, no_symlinks};

/// A manifest as read: its path and text.
type ManifestFile = (String, String);

fn io(p: &Path, e: std::io::Error) -> KernelError {
    KernelError::Io(format!("{}: {e}", p.display()))
}

/// Every `fleet/*.yaml`, by name.
pub fn manifests(root: &Path) -> Result<Vec<ManifestFile>, KernelError> {
    let dir = root.join("fleet");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in rd {
        let p = e.map_err(|e| io(&dir, e))?.path();
        if p.extension().and_then(|x| x.to_str()) == Some("yaml") {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            out.push((format!("fleet/{name}"), text));
        }
    }
    out.sort();
    Ok(out)
}

/// `text` with each list entry `map` answers for rewritten (`Some(None)`
/// drops a block-list item; flow lists keep their other entries).
fn rewrite(text: &str, map: &dyn Fn(&str) -> Option<Option<String>>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let end = &line[body.len()..];
        let (code, comment) = match body.find(" #") {
            Some(i) => (&body[..i], &body[i..]),
            None => (body, ""),
        };
        let trimmed = code.trim_start();
        let indent = &code[..code.len() - trimmed.len()];
        if let Some(item) = trimmed.strip_prefix("- ") {
            let v = item.trim();
            let gap = &item[item.trim_end().len()..];
            // A quoted entry keeps its quotes.
            let q = ['"', '\'']
                .into_iter()
                .find(|q| v.len() > 1 && v.starts_with(*q) && v.ends_with(*q));
            let bare = q.map_or(v, |_| &v[1..v.len() - 1]);
            match map(bare) {
                Some(Some(new)) => {
                    let new = q.map_or(new.clone(), |q| format!("{q}{new}{q}"));
                    out.push_str(&format!("{indent}- {new}{gap}{comment}{end}"));
                }
                Some(None) => {}
                None => out.push_str(line),
            }
            continue;
        }
        // A flow list of plain paths (no quotes, no braces): rewritten only
        // when one of its entries is the path; any other line is left be.
        if let (Some(open), Some(close)) = (code.find('['), code.rfind(']'))
            && open < close
            && code[..open].trim_end().ends_with(':')
            && !code[open..close].contains(['"', '\'', '{', '}'])
            && code[open + 1..close]
                .split(',')
                .any(|e| map(e.trim()).is_some())
        {
            let items: Vec<String> = code[open + 1..close]
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|s| match map(s) {
                    Some(Some(new)) => Some(new),
                    Some(None) => None,
                    None => Some(s.to_string()),
                })
                .collect();
            out.push_str(&format!(
                "{}[{}]{}{comment}{end}",
                &code[..open],
                items.join(", "),
                &code[close + 1..]
            ));
            continue;
        }
        out.push_str(line);
    }
    out
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('/'))
}

/// Moves done so far, undone on failure.
#[derive(Default)]
struct Undo {
    moved: Vec<(PathBuf, PathBuf)>,
    written: Vec<(PathBuf, String)>,
}

impl Undo {
    fn rollback(self) {
        for (p, text) in self.written.into_iter().rev() {
            let _ = std::fs::write(p, text);
        }
        for (from, to) in self.moved.into_iter().rev() {
            let _ = std::fs::rename(to, from);
        }
    }
}

/// A directory made new under `parent` (`<prefix>-<pid>-<n>`): never
/// one that was there, a symlink planted under a guessed name included.
fn fresh_dir(parent: &Path, prefix: &str) -> Result<PathBuf, KernelError> {
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    for n in 0..1000 {
        let d = parent.join(format!("{prefix}-{}-{n}", std::process::id()));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(&d, e)),
        }
    }
    Err(KernelError::Io(format!(
        "{}: no fresh name for a {prefix} directory",
        parent.display()
    )))
}

/// Writes `path` whole (a temporary file renamed over it).
fn write_whole(path: &Path, text: &str) -> Result<(), KernelError> {
    crate::publish::write_atomic(path, text.as_bytes()).map_err(|e| io(path, e))
}

/// Applies `moves` (from, to; `to` None deletes) and the new manifest
/// texts, all or nothing. Returns the manifests that changed.
fn commit(
    root: &Path,
    moves: &[(PathBuf, Option<PathBuf>)],
    changed: &[(String, String, String)],
) -> Result<Vec<String>, KernelError> {
    let mut undo = Undo::default();
    let trash = fresh_dir(&root.join(".bosun"), "trash")?;
    let r = (|| {
        for (from, to) in moves {
            let to = match to {
                Some(t) => t.clone(),
                None => trash.join(from.strip_prefix(root).unwrap_or(from)),
            };
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::rename(from, &to).map_err(|e| io(from, e))?;
            undo.moved.push((from.clone(), to));
        }
        for (rel, old, new) in changed {
            let p = root.join(rel);
            write_whole(&p, new)?;
            undo.written.push((p, old.clone()));
        }
        Ok(())
    })();
    match r {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&trash);
            Ok(changed.iter().map(|(rel, _, _)| rel.clone()).collect())
        }
        Err(e) => {
            undo.rollback();
            // Only when empty: what a failed rollback left stays.
            let _ = std::fs::remove_dir(&trash);
            Err(e)
        }
    }
}

/// New texts for the manifests `map` changes, each checked to parse.
fn new_manifests(
    root: &Path,
    map: &dyn Fn(&str) -> Option<Option<String>>,
) -> Result<Vec<(String, String, String)>, KernelError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (rel, text) in manifests(root)? {
        no_symlinks(root, &rel)?;
        let new = rewrite(&text, map);
        if new != text {
            match Manifest::parse(&rel, &new) {
                Ok(_) => out.push((rel, text, new)),
                Err(e) => errors.push(format!("{rel} would no longer read: {e}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(KernelError::Invalid(errors))
    }
}

/// `migrate-tree --from P --to Q`: `patches/P` becomes `patches/Q` and
/// every manifest's references to P (or under it) name Q instead.
pub fn migrate_tree(root: &Path, from: &str, to: &str) -> Result<Vec<String>, KernelError> {
    check_scope(from)?;
    check_scope(to)?;
    let (src, dst) = (
        root.join("patches").join(from),
        root.join("patches").join(to),
    );
    if !src.is_dir() {
        return Err(KernelError::Invalid(vec![format!(
            "patches/{from}: no such scope or patchset"
        )]));
    }
    if dst.exists() || under(to, from) {
        return Err(KernelError::Invalid(vec![format!(
            "patches/{to}: already there, or inside patches/{from}"
        )]));
    }
    let tree = Tree::read(root)?;
    no_symlinks(root, &format!("patches/{to}"))?;
    // Every patchset moved must still have a scope: kind/scope…/patchset.
    for id in tree.sets.keys().filter(|id| under(id, from)) {
        let moved = format!("{to}{}", &id[from.len()..]);
        if moved.split('/').count() < 3 {
            return Err(KernelError::Invalid(vec![format!(
                "patches/{id} would become patches/{moved}, which lacks a scope (<kind>/<scope>/<patchset>)"
            )]));
        }
    }
    let map = |v: &str| under(v, from).then(|| Some(format!("{to}{}", &v[from.len()..])));
    let changed = new_manifests(root, &map)?;
    commit(root, &[(src, Some(dst))], &changed)
}

/// How an abandoned campaign's patches are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandon {
    /// Moved to `archive/patches/…`, out of every promote.
    KeepAsArchive,
    /// Deleted.
    PurgeFromFleet,
}

/// The patchsets of `campaign` (`campaign` in their patchset.toml), by
/// id: what an abandon would take.
pub fn patchsets_of(root: &Path, campaign: &str) -> Result<Vec<String>, KernelError> {
    crate::tree::check_campaign(campaign)?;
    let tree = Tree::read(root)?;
    Ok(tree
        .sets
        .values()
        .filter(|s| s.meta.campaign.as_deref() == Some(campaign))
        .map(|s| s.id.clone())
        .collect())
}

/// Abandons `campaign`: its patchsets leave every manifest's `include`
/// and `exclude`, then move to `archive/` or are deleted. `expect`, when
/// given, is the patchsets the one who decided saw: refused unless they
/// are exactly the campaign's now (a patchset retagged meanwhile is not
/// taken with the rest). Returns the patchsets and the manifests that
/// changed.
pub fn abandon(
    root: &Path,
    campaign: &str,
    how: Abandon,
    expect: Option<&[String]>,
) -> Result<(Vec<String>, Vec<String>), KernelError> {
    crate::tree::check_campaign(campaign)?;
    if let Some(c) = closed(root, campaign)? {
        return Err(KernelError::Invalid(vec![format!(
            "campaign `{campaign}` was closed ({:?}, campaigns/{campaign}.toml): a closed campaign is not abandoned",
            c.status
        )]));
    }
    let ids = patchsets_of(root, campaign)?;
    if ids.is_empty() {
        return Err(KernelError::Invalid(vec![format!(
            "no patchset of campaign `{campaign}` (patchset.toml `campaign`) under patches/"
        )]));
    }
    if let Some(want) = expect {
        let mut a = ids.clone();
        let mut b = want.to_vec();
        a.sort();
        b.sort();
        if a != b {
            return Err(KernelError::Invalid(vec![format!(
                "campaign `{campaign}` holds {} now, not the {} named: its patchsets changed since they were looked at; look again",
                a.join(", "),
                if b.is_empty() {
                    "none".to_string()
                } else {
                    b.join(", ")
                }
            )]));
        }
    }
    for id in &ids {
        no_symlinks(root, &format!("archive/patches/{id}"))?;
    }
    let map = |v: &str| ids.iter().any(|id| v == id).then_some(None);
    let changed = new_manifests(root, &map)?;
    let moves: Vec<(PathBuf, Option<PathBuf>)> = ids
        .iter()
        .map(|id| {
            let from = root.join("patches").join(id);
            let to = match how {
                Abandon::KeepAsArchive => Some(root.join("archive/patches").join(id)),
                Abandon::PurgeFromFleet => None,
            };
            (from, to)
        })
        .collect();
    let files = commit(root, &moves, &changed)?;
    Ok((ids, files))
}

/// How a campaign ended when it was closed (`campaign close --status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Closure {
    /// Its work is done and stays in the fleet's tree.
    Success,
    /// Its patches went upstream; they stay until the baselines carry them.
    Upstreamed,
}

/// `campaigns/<campaign>.toml`: the record of a closed campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    /// The campaign.
    pub campaign: String,
    /// How it ended.
    pub status: Closure,
    /// Unix seconds.
    pub closed_at: i64,
    /// Its patchsets when it closed.
    pub patchsets: Vec<String>,
}

/// The closure record of `campaign`, if it was closed.
pub fn closed(root: &Path, campaign: &str) -> Result<Option<Closed>, KernelError> {
    let rel = format!("campaigns/{campaign}.toml");
    no_symlinks(root, &rel)?;
    match std::fs::read_to_string(root.join(&rel)) {
        Ok(t) => bosun_model::source::from_toml(&rel, &t, 64 * 1024)
            .map(Some)
            .map_err(|e| KernelError::Invalid(vec![e.to_string()])),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KernelError::Io(format!("{rel}: {e}"))),
    }
}

/// Closes `campaign` (the seed's `ka-close`): records how it ended and
/// its patchsets in `campaigns/<campaign>.toml`. Its patchsets stay where
/// they are, in every manifest that has them; a closed campaign takes no
/// more imports and cannot be abandoned. Refused for a campaign with no
/// patchset, or one already closed.
pub fn close(
    root: &Path,
    campaign: &str,
    status: Closure,
    now: i64,
) -> Result<Closed, KernelError> {
    crate::tree::check_campaign(campaign)?;
    if let Some(c) = closed(root, campaign)? {
        return Err(KernelError::Invalid(vec![format!(
            "campaign `{campaign}` was closed already ({:?}, campaigns/{campaign}.toml)",
            c.status
        )]));
    }
    let tree = Tree::read(root)?;
    let patchsets: Vec<String> = tree
        .sets
        .values()
        .filter(|s| s.meta.campaign.as_deref() == Some(campaign))
        .map(|s| s.id.clone())
        .collect();
    if patchsets.is_empty() {
        return Err(KernelError::Invalid(vec![format!(
            "no patchset of campaign `{campaign}` (patchset.toml `campaign`) under patches/"
        )]));
    }
    let rec = Closed {
        campaign: campaign.to_string(),
        status,
        closed_at: now,
        patchsets,
    };
    let text = toml::to_string(&rec).map_err(|e| KernelError::Io(e.to_string()))?;
    let dir = root.join("campaigns");
    std::fs::create_dir_all(&dir).map_err(|e| KernelError::Io(format!("campaigns/: {e}")))?;
    crate::publish::write_atomic(&dir.join(format!("{campaign}.toml")), text.as_bytes())
        .map_err(|e| KernelError::Io(format!("campaigns/{campaign}.toml: {e}")))?;
    Ok(rec)
}
