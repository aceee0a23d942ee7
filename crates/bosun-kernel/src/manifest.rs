//! Host manifests, `fleet/<host>.yaml` (the users' own format): which
//! baseline, which kernel suffix (explicit, so alongside-install paths
//! never collide), the arch, the scopes to include, explicit includes and
//! excludes, the install mode, and informational fields kept and shown.
//! Unknown keys are errors with file:line:column.

use serde::{Deserialize, Serialize};

use crate::KernelError;

/// The largest manifest read.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// The baseline a host's kernel is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The source tree (a git URL or a name).
    pub tree: String,
    /// The ref (tag, branch or commit).
    #[serde(rename = "ref")]
    pub reference: String,
}

/// How the kernel is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallMode {
    /// Beside the distribution's kernel (its own suffixed paths).
    Alongside,
    /// In place of it.
    Replace,
}

/// `fleet/<host>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The baseline.
    pub baseline: Baseline,
    /// The kernel suffix (`fresnel-fourier`): `/boot/Image-<suffix>`.
    pub suffix: String,
    /// The host's architecture (`aarch64`, `x86_64`): picks the build host.
    pub arch: String,
    /// Scopes whose every patchset the host gets (`board/pinebook-pro`).
    #[serde(default, deserialize_with = "list")]
    pub scopes: Vec<String>,
    /// Patchsets it gets besides (`driver/bes2600/scan-filter-5ghz`).
    #[serde(default, deserialize_with = "list")]
    pub include: Vec<String>,
    /// Patchsets (or scopes) it does not get, whatever else says.
    #[serde(default, deserialize_with = "list")]
    pub exclude: Vec<String>,
    /// `alongside` or `replace`.
    pub install: InstallMode,
    /// Post-install hooks the install runs (`mkinitcpio -p <preset>`).
    #[serde(default, deserialize_with = "list")]
    pub post_install: Vec<String>,
    /// Bar 3: what the installed host's DTB and sysfs must say, one check
    /// a line in the simple language of [`crate::probe`]
    /// (`/proc/device-tree/model == Pine64 Pinebook Pro`).
    #[serde(default, deserialize_with = "list")]
    pub verify: Vec<String>,
    /// Bar 4, opt-in (the seed: "per-patch probe (manifest opt-in)"):
    /// run each locked patch's `[probe]` after an install.
    #[serde(default)]
    pub probes: bool,
    /// Informational: the tree the patches were written against.
    #[serde(default)]
    pub patch_authoring_context: Option<String>,
    /// Informational: anything the owner wants to keep with it.
    #[serde(default)]
    pub notes: Option<String>,
}

/// A list, or nothing (`include:` with no items left) as an empty one.
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn valid_suffix(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && !s.contains("..")
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

impl Manifest {
    /// Parses manifest `path` (for errors) from `text`.
    pub fn parse(path: &str, text: &str) -> Result<Manifest, KernelError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(KernelError::Invalid(vec![format!(
                "{path}: {} bytes; a manifest is at most {MAX_MANIFEST_BYTES}",
                text.len()
            )]));
        }
        let m: Manifest = serde_saphyr::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("").to_string();
            KernelError::Invalid(vec![format!("{path}{at}: {first}")])
        })?;
        let mut errors = Vec::new();
        if !valid_suffix(&m.suffix) {
            errors.push(format!(
                "{path}: suffix `{}`: use 1 to 64 of a-z, 0-9, `-`, `_` (it names /boot paths)",
                m.suffix
            ));
        }
        if !valid_ref(&m.baseline.reference) || !valid_ref(&m.baseline.tree) {
            errors.push(format!(
                "{path}: baseline tree and ref are plain names, URLs or commits"
            ));
        }
        for s in m.scopes.iter().chain(&m.include).chain(&m.exclude) {
            let kind_ok = s
                .split('/')
                .next()
                .is_some_and(|k| crate::tree::KINDS.contains(&k));
            if !kind_ok || s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                errors.push(format!(
                    "{path}: `{s}` is not a scope or patchset path (<{}>/…)",
                    crate::tree::KINDS.join("|")
                ));
            }
        }
        if m.verify.len() > crate::probe::MAX_CHECKS {
            errors.push(format!(
                "{path}: verify: more than {} checks",
                crate::probe::MAX_CHECKS
            ));
        }
        for v in &m.verify {
            if let Err(e) = crate::probe::parse(v) {
                // The line the check is on, where it can be found.
                let line = text
                    .lines()
                    .position(|l| !v.trim().is_empty() && l.contains(v.trim()))
                    .map(|n| format!(":{}", n + 1))
                    .unwrap_or_default();
                errors.push(format!("{path}{line}: verify: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(m)
        } else {
            Err(KernelError::Invalid(errors))
        }
    }
}
