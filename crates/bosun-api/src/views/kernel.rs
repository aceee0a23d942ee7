//! The kernel lifecycle as a client sees it (issue 17): each host's
//! kernel at a glance (`GET /api/v1/kernel/status`, `bosun kernel
//! status`, the MCP `kernel_status` tool) and what promoting a host would
//! produce, with the op that would send it through the pipeline (`GET
//! /api/v1/kernel/promote/{host}`, the MCP `kernel_promote` tool), and the
//! build op of a host's promoted lock (`GET /api/v1/kernel/build/{host}`,
//! the MCP `kernel_build` tool), the build jobs (`GET
//! /api/v1/kernel/jobs`, `bosun kernel jobs`, the MCP `kernel_jobs`
//! tool), and the install op of a host's newest published build (`GET
//! /api/v1/kernel/install/{host}`, the MCP `kernel_install` tool).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One host with a manifest (`fleet/<host>.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelHostView {
    /// The host.
    pub host: String,
    /// Its manifest's path.
    pub manifest: String,
    /// BLAKE2b-512 of the manifest (`b2sum`'s hex); empty when it does
    /// not parse (`problem` says why).
    pub manifest_b2: String,
    /// `current` (promoting now gives this lock), `stale` (the tree or
    /// manifest moved since), `none`, or `invalid: …`.
    pub lock: String,
    /// The lock's cumulative digest, when there is a lock.
    pub locked_b2: Option<String>,
    /// The newest build job for the host.
    pub build: Option<KernelBuildView>,
    /// What the last `version` bar saw on the host.
    pub installed: Option<String>,
    /// Whether the host is drifted (a failed bar).
    pub drifted: bool,
    /// Why.
    pub drift_reason: Option<String>,
    /// A published build of the current lock that is not installed.
    pub install_pending: bool,
    /// The install op of that build already waiting (for an operator's
    /// approval, or to run), if any.
    pub install_op: Option<String>,
    /// Active blockers on the host or on a patch it carries (`kind #id on
    /// subject`).
    pub blockers: Vec<String>,
    /// What is wrong with its manifest or tree, if anything.
    pub problem: Option<String>,
}

/// A build job as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelBuildView {
    /// The job id.
    pub job: String,
    /// `running`, `failed` or `published`.
    pub status: String,
    /// The build host it ran on.
    pub build_host: String,
    /// `<pkgver>-<pkgrel>`.
    pub version: String,
    /// Whether it built the host's current lock.
    pub of_current_lock: bool,
}

/// Every host with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelStatusView {
    /// By host name.
    pub hosts: Vec<KernelHostView>,
}

/// One patch of a promote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromotedPatchView {
    /// Its path from the workspace root.
    pub path: String,
    /// Its patchset.
    pub patchset: String,
    /// Its bytes.
    pub bytes: u64,
    /// BLAKE2b-512 of the file.
    pub b2: String,
    /// Whether its signature trailer is left out of the cumulative patch.
    pub trailer_stripped: bool,
}

/// What promoting a host would produce, and the op that would do it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromotePreviewView {
    /// The host.
    pub host: String,
    /// The baseline tree and ref.
    pub baseline: String,
    /// The kernel suffix.
    pub suffix: String,
    /// The patches, in order.
    pub patches: Vec<PromotedPatchView>,
    /// The cumulative patch's bytes.
    pub cumulative_bytes: u64,
    /// Its BLAKE2b-512.
    pub cumulative_b2: String,
    /// BLAKE2b-512 of the whole `manifest.lock` (baseline, suffix, arch,
    /// the manifest's digest, every patch's): what the promote op names.
    pub lock_b2: String,
    /// Changes carried twice (`again` repeats `first`), a warning.
    pub duplicates: Vec<String>,
    /// The op that promotes it: runbook `kernel-promote` on the host with
    /// these params (submit it; an operator approves).
    pub runbook: String,
    /// Its params.
    pub params: BTreeMap<String, String>,
}

/// A kernel op as it would be planned for a host: its runbook and the
/// params it declares (`GET /api/v1/kernel/install/{host}`): submit it
/// on the host, and the keeper policy decides (an agent's waits for an
/// operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelOpView {
    /// The host.
    pub host: String,
    /// The runbook (`kernel-install`).
    pub runbook: String,
    /// Its params.
    pub params: BTreeMap<String, String>,
}

/// One build job, kept in the control plane's state until pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelJobView {
    /// The job id (`<host>-<unix seconds>-<first 8 of the cumulative digest>`).
    pub job: String,
    /// The host whose kernel it built.
    pub host: String,
    /// The arch.
    pub arch: String,
    /// The build host it ran on (empty until routed).
    pub build_host: String,
    /// `running`, `failed` or `published`.
    pub status: String,
    /// The package version.
    pub version: String,
    /// The `kernel-build` op whose step ran it (empty for a job of an
    /// older bosun, which built outside an op).
    pub op: String,
    /// Unix seconds.
    pub started: i64,
    /// Unix seconds, once ended.
    pub ended: Option<i64>,
    /// Kept until then (unix seconds); `None` while running.
    pub keep_until: Option<i64>,
    /// Why it failed.
    pub reason: String,
    /// The packages it published.
    pub packages: Vec<String>,
    /// Where its files are (PKGBUILD, cumulative.patch, manifest.lock,
    /// build.log, the packages) on the control host.
    pub dir: String,
}

/// The build jobs, newest first, and the job records that could not be
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelJobsView {
    /// Newest first.
    pub jobs: Vec<KernelJobView>,
    /// A record that does not parse, with its path and why.
    pub problems: Vec<String>,
}
