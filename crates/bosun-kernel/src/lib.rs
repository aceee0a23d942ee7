//! bosun's kernel lifecycle (issue 17), the part that is pure logic over
//! files: the scope-tagged patch tree ([`tree`]), host manifests
//! ([`manifest`]), reading a patch by its hunk counts ([`series`]),
//! conflicts and duplicates between patchsets ([`overlap`]), and
//! `promote` ([`mod@promote`]): a host's manifest resolved into one
//! byte-reproducible cumulative patch and a lock of BLAKE2b-512 digests
//! that `b2sum` confirms; and `patches check` ([`apply`]), the series
//! applied by `git apply` to a worktree of a real baseline checkout; then
//! `kernel build`'s routing, PKGBUILD and job records ([`build`]) and the
//! signed package repository ([`publish`]); the checks of bars 3 and 4
//! ([`probe`]). No store, no control, no command text.
#![deny(missing_docs)]

pub mod apply;
pub mod build;
pub mod campaign;
pub mod manifest;
pub mod overlap;
pub mod probe;
pub mod promote;
pub mod publish;
pub mod series;
pub mod tree;

pub use apply::{Checked, check};
pub use build::{Builders, Candidate, Job, JobStatus, Skipped, pkgbuild, route};
pub use campaign::{Abandon, Closed, Closure, abandon, close, closed, migrate_tree, patchsets_of};
pub use manifest::Manifest;
pub use overlap::{Conflict, Duplicate, conflicts, duplicates};
pub use promote::{Lock, Promoted, b2, promote, resolve};
pub use series::{PatchError, Scanned, scan};
pub use tree::{Imported, Patchset, Tree, import, no_symlinks};

/// What the kernel module refuses, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// Bad input: each entry names its file (and line where there is one).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_build;
