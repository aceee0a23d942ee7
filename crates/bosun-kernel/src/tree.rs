//! The scope-tagged patch tree: `patches/<kind>/<scope…>/<patchset>/`
//! holding ordered `*.patch` files (by file name) and an optional
//! `patchset.toml`. The scope is the path: its first part is one of
//! [`KINDS`] and at least one name follows it before the patchset's own
//! directory. A patch anywhere else lacks a scope and is refused, naming
//! its path (the seed's "refuse promote of patches lacking scope tag").
//! Symlinks are refused: nothing is read from outside the tree.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::KernelError;

/// Scope kinds, narrowest last — and the order patchsets resolve in.
pub const KINDS: [&str; 6] = ["arch", "soc", "module", "board", "driver", "subsystem"];

/// Most files read from one tree.
pub const MAX_FILES: usize = 20_000;

/// `patchset.toml`: what the tree says about a patchset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchsetMeta {
    /// The campaign that carries it.
    #[serde(default)]
    pub campaign: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Upstream status (`sent`, `merged in v7.1`, `never`…).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Per-patch probes for bar 4, by file name.
    #[serde(default)]
    pub probe: BTreeMap<String, String>,
}

/// One patch file of a patchset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    /// Its path from the workspace root (`patches/…/0001-x.patch`).
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What reading it found (read once, with the tree).
    pub scanned: crate::series::Scanned,
}

/// A patchset: a directory of ordered patches at one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patchset {
    /// Its path under `patches/` (`board/pinebook-pro/oc-opp`).
    pub id: String,
    /// Its scope kind's rank in [`KINDS`].
    pub kind: usize,
    /// Its scope (`board/pinebook-pro`).
    pub scope: String,
    /// `patchset.toml`, when there is one.
    pub meta: PatchsetMeta,
    /// Its patches, by file name.
    pub patches: Vec<PatchFile>,
}

/// The tree: every patchset, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Patchsets by id.
    pub sets: BTreeMap<String, Patchset>,
}

fn io(p: &Path, e: std::io::Error) -> KernelError {
    KernelError::Io(format!("{}: {e}", p.display()))
}

impl Tree {
    /// Reads `root/patches/`. A missing directory is an empty tree.
    pub fn read(root: &Path) -> Result<Tree, KernelError> {
        let base = root.join("patches");
        let mut tree = Tree::default();
        if !base.exists() {
            return Ok(tree);
        }
        let mut files = 0usize;
        let mut stack = vec![base.clone()];
        let mut errors = Vec::new();
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(|e| io(&dir, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| io(&dir, e))?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                let ft = e.file_type().map_err(|err| io(&p, err))?;
                if ft.is_symlink() {
                    errors.push(format!("{rel}: a symlink; the tree holds plain files only"));
                } else if ft.is_dir() {
                    stack.push(p);
                } else if !ft.is_file()
                    && (rel.ends_with(".patch") || rel.ends_with("/patchset.toml"))
                {
                    errors.push(format!(
                        "{rel}: not a regular file (a FIFO or a device); the tree holds plain files only"
                    ));
                } else if rel.ends_with(".patch") || rel.ends_with("/patchset.toml") {
                    files += 1;
                    if files > MAX_FILES {
                        return Err(KernelError::Invalid(vec![format!(
                            "patches/: more than {MAX_FILES} files"
                        )]));
                    }
                    if let Err(m) = tree.add(&base, &p, &rel) {
                        errors.push(m);
                    }
                }
            }
        }
        for set in tree.sets.values_mut() {
            set.patches.sort_by(|a, b| a.path.cmp(&b.path));
            // A probe for a file the patchset does not hold is a typo that
            // would quietly drop a check.
            for file in set.meta.probe.keys() {
                if !set
                    .patches
                    .iter()
                    .any(|p| p.path.ends_with(&format!("/{file}")))
                {
                    errors.push(format!(
                        "patches/{}/patchset.toml: probe for `{file}`, which is no patch of this patchset",
                        set.id
                    ));
                }
            }
        }
        tree.sets.retain(|_, s| !s.patches.is_empty());
        if errors.is_empty() {
            Ok(tree)
        } else {
            errors.sort();
            Err(KernelError::Invalid(errors))
        }
    }

    fn add(&mut self, base: &Path, p: &Path, rel: &str) -> Result<(), String> {
        let under = p
            .strip_prefix(base)
            .map_err(|_| format!("{rel}: outside patches/"))?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = under.split('/').collect();
        let kind = parts
            .first()
            .and_then(|k| KINDS.iter().position(|x| x == k));
        // kind / scope name(s) / patchset / file
        let (Some(kind), true) = (kind, parts.len() >= 4) else {
            return Err(format!(
                "{rel}: lacks a scope; a patch lives at patches/<{}>/<scope>/<patchset>/<file>.patch",
                KINDS.join("|")
            ));
        };
        let id = parts[..parts.len() - 1].join("/");
        let scope = parts[..parts.len() - 2].join("/");
        let set = self.sets.entry(id.clone()).or_insert_with(|| Patchset {
            id,
            kind,
            scope,
            meta: PatchsetMeta::default(),
            patches: Vec::new(),
        });
        let bytes =
            read_bounded(p, crate::series::MAX_PATCH_BYTES).map_err(|e| format!("{rel}: {e}"))?;
        if rel.ends_with("/patchset.toml") {
            let text = String::from_utf8(bytes).map_err(|_| format!("{rel}: not UTF-8"))?;
            set.meta =
                bosun_model::source::from_toml(rel, &text, 1 << 20).map_err(|e| e.to_string())?;
            // Bar 4's probes: one check of the simple language per patch
            // file, refused here (file:line) rather than at install.
            if set.meta.probe.len() > crate::probe::MAX_CHECKS {
                return Err(format!(
                    "{rel}: more than {} probes",
                    crate::probe::MAX_CHECKS
                ));
            }
            for (file, check) in &set.meta.probe {
                // The key's line: where the quoted file name is a key.
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(&format!("\"{file}\"")))
                    .map(|n| format!(":{}", n + 1))
                    .unwrap_or_default();
                if !file.ends_with(".patch") || file.contains('/') {
                    return Err(format!(
                        "{rel}{line}: probe key `{file}` is not a patch file name of this patchset"
                    ));
                }
                crate::probe::parse(check)
                    .map_err(|e| format!("{rel}{line}: probe for `{file}`: {e}"))?;
            }
        } else {
            let scanned = crate::series::scan(rel, &bytes).map_err(|e| e.to_string())?;
            set.patches.push(PatchFile {
                path: rel.to_string(),
                bytes,
                scanned,
            });
        }
        Ok(())
    }
}

/// Reads a regular file of at most `max` bytes: opened non-blocking and
/// checked on the open descriptor, so a FIFO or device swapped in cannot
/// block the reader, and read no further than one byte past `max`.
pub fn read_bounded(p: &Path, max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(p)
        .map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut out = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(out)
}

/// Refuses a symlink anywhere on `root/rel` (the parts that exist): a
/// write there would land outside the workspace.
pub fn no_symlinks(root: &Path, rel: &str) -> Result<(), KernelError> {
    let mut p = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(KernelError::Invalid(vec![format!(
                    "{}: a symlink; bosun writes only plain files and directories in the workspace",
                    p.strip_prefix(root).unwrap_or(&p).display()
                )]));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// What [`import`] did with each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The patchset it went to (`board/pinebook-pro/fresnel-fourier`).
    pub patchset: String,
    /// Paths written (from the workspace root).
    pub written: Vec<String>,
    /// Paths already there with the same bytes.
    pub unchanged: Vec<String>,
}

/// A scope as `import --to` takes it: a known kind and at least one name,
/// plain path parts only.
pub fn check_scope(scope: &str) -> Result<(), KernelError> {
    let parts: Vec<&str> = scope.split('/').collect();
    let ok = parts.len() >= 2
        && KINDS.contains(&parts[0])
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(KernelError::Invalid(vec![format!(
            "scope `{scope}`: <{}>/<name>[/…], plain names only (a patch without a scope is refused)",
            KINDS.join("|")
        )]))
    }
}

/// Refuses a campaign name that is not 1 to 64 of letters, digits, `-`,
/// `_`, `.` (it names a patchset directory and a file).
pub fn check_campaign(campaign: &str) -> Result<(), KernelError> {
    if campaign.is_empty()
        || campaign.len() > 64
        || !campaign
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || campaign.starts_with('.')
    {
        return Err(KernelError::Invalid(vec![format!(
            "campaign `{campaign}`: 1 to 64 of letters, digits, `-`, `_`, `.`"
        )]));
    }
    Ok(())
}

/// Imports patch files into `patches/<scope>/<campaign>/`, keeping their
/// names and bytes (authorship headers and all) and recording the
/// campaign in `patchset.toml`. Every file is read and checked first;
/// nothing is written unless all are patches and none would replace a
/// different file of the same name.
pub fn import(
    root: &Path,
    campaign: &str,
    scope: &str,
    files: &[(String, Vec<u8>)],
) -> Result<Imported, KernelError> {
    check_scope(scope)?;
    check_campaign(campaign)?;
    if let Some(c) = crate::campaign::closed(root, campaign)? {
        return Err(KernelError::Invalid(vec![format!(
            "campaign `{campaign}` is closed ({:?}, campaigns/{campaign}.toml): it takes no more imports",
            c.status
        )]));
    }
    let id = format!("{scope}/{campaign}");
    no_symlinks(root, &format!("patches/{id}/patchset.toml"))?;
    let dir = root.join("patches").join(&id);
    let mut errors = Vec::new();
    let mut plan = Vec::new();
    let mut out = Imported {
        patchset: id.clone(),
        written: Vec::new(),
        unchanged: Vec::new(),
    };
    for (name, bytes) in files {
        let base = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if !base.ends_with(".patch") || base.starts_with('.') {
            errors.push(format!("{name}: a patch file's name ends in .patch"));
            continue;
        }
        if let Err(e) = crate::series::scan(name, bytes) {
            errors.push(e.to_string());
            continue;
        }
        let rel = format!("patches/{id}/{base}");
        if let Err(e) = no_symlinks(root, &rel) {
            errors.push(e.to_string());
            continue;
        }
        match std::fs::read(dir.join(&base)) {
            Ok(have) if have == *bytes => out.unchanged.push(rel),
            Ok(_) => errors.push(format!(
                "{rel} exists with other bytes: remove it or rename the new patch"
            )),
            Err(_) => plan.push((base, rel, bytes)),
        }
    }
    if !errors.is_empty() {
        return Err(KernelError::Invalid(errors));
    }
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let meta = dir.join("patchset.toml");
    if !meta.exists() {
        let text = format!("campaign = \"{campaign}\"\n");
        crate::publish::write_atomic(&meta, text.as_bytes()).map_err(|e| io(&meta, e))?;
    }
    for (base, rel, bytes) in plan {
        let p = dir.join(&base);
        crate::publish::write_atomic(&p, bytes).map_err(|e| io(&p, e))?;
        out.written.push(rel);
    }
    Ok(out)
}
