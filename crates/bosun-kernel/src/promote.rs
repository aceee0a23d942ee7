//! `promote`: a host's manifest resolved against the tree into one
//! cumulative patch and a lock, byte for byte the same for the same
//! inputs.
//!
//! Resolution order (stable, documented): patchsets by scope kind
//! ([`crate::tree::KINDS`]: arch, soc, module, board, driver, subsystem),
//! then by path; inside a patchset, patches by file name. A patchset is
//! selected when its scope is at or under one of the manifest's `scopes`,
//! or it is named in `include`; then everything at or under an `exclude`
//! is taken out. An `include` or `scope` that selects nothing is an error
//! (the seed's patch folder that silently yielded zero patches).
//!
//! The cumulative patch is each patch's diff without its signature trailer
//! (found by the hunk counts, [`crate::series`]), one after the other.
//! Patchsets of different campaigns touching the same lines of a file are
//! refused, naming both, the file and the lines; a change carried twice is
//! reported ([`crate::overlap`]). The
//! lock names, for each patch, its path, bytes and BLAKE2b-512 digest
//! (`b2sum`'s hex, of the file as it is in the tree) and whether a trailer
//! was stripped; then the cumulative patch's bytes and digest, the
//! baseline, the suffix and the manifest's digest.

use blake2::{Blake2b512, Digest as _};
use serde::{Deserialize, Serialize};

use crate::KernelError;
use crate::manifest::Manifest;
use crate::tree::{PatchFile, Patchset, Tree};

/// BLAKE2b-512 of `bytes` in lowercase hex, as `b2sum` prints it.
pub fn b2(bytes: &[u8]) -> String {
    Blake2b512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One patch as the lock lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPatch {
    /// Its path from the workspace root.
    pub path: String,
    /// Its patchset.
    pub patchset: String,
    /// Its bytes in the tree.
    pub bytes: u64,
    /// BLAKE2b-512 of the file, `b2sum`'s hex.
    pub b2: String,
    /// Whether its signature trailer was left out of the cumulative patch.
    pub trailer_stripped: bool,
    /// Its bar-4 probe (`patchset.toml`'s `[probe]` line for this file,
    /// canonical): in the lock, so the approved promote binds the checks
    /// its install will run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

/// The cumulative patch as the lock lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedCumulative {
    /// Its bytes.
    pub bytes: u64,
    /// BLAKE2b-512, `b2sum`'s hex.
    pub b2: String,
}

/// `manifest.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The host.
    pub host: String,
    /// The manifest's path.
    pub manifest: String,
    /// BLAKE2b-512 of the manifest file.
    pub manifest_b2: String,
    /// The baseline tree.
    pub baseline_tree: String,
    /// The baseline ref.
    pub baseline_ref: String,
    /// The kernel suffix.
    pub suffix: String,
    /// The arch.
    pub arch: String,
    /// The cumulative patch.
    pub cumulative: LockedCumulative,
    /// The patches, in order.
    pub patch: Vec<LockedPatch>,
}

/// Largest `manifest.lock` read back.
pub const MAX_LOCK_BYTES: usize = 4 * 1024 * 1024;

impl Lock {
    /// Reads a `manifest.lock` back (`path` names it in errors).
    pub fn parse(path: &str, text: &str) -> Result<Lock, KernelError> {
        bosun_model::source::from_toml(path, text, MAX_LOCK_BYTES)
            .map_err(|e| KernelError::Invalid(vec![e.to_string()]))
    }

    /// The lock as the file holds it (TOML, fields in a fixed order).
    pub fn to_toml(&self) -> Result<String, KernelError> {
        let body = toml::to_string(self).map_err(|e| KernelError::Io(e.to_string()))?;
        Ok(format!(
            "# manifest.lock: written by `promote`; do not edit. Check with b2sum.\n{body}"
        ))
    }
}

/// What promote produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    /// The cumulative patch.
    pub cumulative: Vec<u8>,
    /// Its lock.
    pub lock: Lock,
    /// Changes carried twice (reported; the cumulative patch has both).
    pub duplicates: Vec<crate::overlap::Duplicate>,
}

/// At or under: `board/pinebook-pro` covers `board/pinebook-pro/oc-opp`.
fn under(path: &str, scope: &str) -> bool {
    path == scope || path.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
}

/// The patchsets `m` selects from `tree`, in resolution order.
pub fn resolve<'a>(
    tree: &'a Tree,
    m: &Manifest,
    manifest_path: &str,
) -> Result<Vec<&'a Patchset>, KernelError> {
    let mut errors = Vec::new();
    for s in &m.scopes {
        if !tree.sets.values().any(|p| under(&p.id, s)) {
            errors.push(format!(
                "{manifest_path}: scope `{s}` holds no patchset under patches/"
            ));
        }
    }
    for s in &m.include {
        if !tree.sets.contains_key(s) {
            errors.push(format!(
                "{manifest_path}: include `{s}` is no patchset under patches/"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(KernelError::Invalid(errors));
    }
    let mut sets: Vec<&Patchset> = tree
        .sets
        .values()
        .filter(|p| m.scopes.iter().any(|s| under(&p.id, s)) || m.include.contains(&p.id))
        .filter(|p| !m.exclude.iter().any(|x| under(&p.id, x)))
        .collect();
    sets.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(sets)
}

/// Promotes host `host`: `manifest_text` is `fleet/<host>.yaml`'s bytes.
pub fn promote(
    tree: &Tree,
    host: &str,
    manifest_path: &str,
    manifest_text: &str,
) -> Result<Promoted, KernelError> {
    let m = Manifest::parse(manifest_path, manifest_text)?;
    let sets = resolve(tree, &m, manifest_path)?;
    let clash = crate::overlap::conflicts(&sets);
    if !clash.is_empty() {
        return Err(KernelError::Invalid(
            clash
                .iter()
                .map(|c| format!("{manifest_path}: campaign conflict: {c}"))
                .collect(),
        ));
    }
    let duplicates = crate::overlap::duplicates(&sets);
    let mut cumulative = Vec::new();
    let mut patch = Vec::new();
    let files: Vec<(&Patchset, &PatchFile)> = sets
        .iter()
        .flat_map(|s| s.patches.iter().map(move |p| (*s, p)))
        .collect();
    for (set, p) in &files {
        let body = p.scanned.body(&p.bytes);
        cumulative.extend_from_slice(body);
        if !body.ends_with(b"\n") {
            cumulative.push(b'\n');
        }
        let file = p.path.rsplit('/').next().unwrap_or_default();
        let probe = match set.meta.probe.get(file) {
            Some(line) => Some(
                crate::probe::parse(line)
                    .map_err(|e| {
                        KernelError::Invalid(vec![format!("{}: probe for `{file}`: {e}", set.id)])
                    })?
                    .to_string(),
            ),
            None => None,
        };
        patch.push(LockedPatch {
            path: p.path.clone(),
            patchset: set.id.clone(),
            bytes: p.bytes.len() as u64,
            b2: b2(&p.bytes),
            trailer_stripped: p.scanned.trailer,
            probe,
        });
    }
    let probes = patch.iter().filter(|p| p.probe.is_some()).count();
    if probes > crate::probe::MAX_CHECKS {
        return Err(KernelError::Invalid(vec![format!(
            "{manifest_path}: the selected patches carry {probes} probes; one install checks at most {}",
            crate::probe::MAX_CHECKS
        )]));
    }
    if patch.is_empty() {
        return Err(KernelError::Invalid(vec![format!(
            "{manifest_path}: selects no patch"
        )]));
    }
    let lock = Lock {
        host: host.to_string(),
        manifest: manifest_path.to_string(),
        manifest_b2: b2(manifest_text.as_bytes()),
        baseline_tree: m.baseline.tree.clone(),
        baseline_ref: m.baseline.reference.clone(),
        suffix: m.suffix.clone(),
        arch: m.arch.clone(),
        cumulative: LockedCumulative {
            bytes: cumulative.len() as u64,
            b2: b2(&cumulative),
        },
        patch,
    };
    Ok(Promoted {
        cumulative,
        lock,
        duplicates,
    })
}
