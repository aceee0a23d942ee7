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
    /// How `fleet/<host>.yaml` on disk stands against the adopted one,
    /// when it differs (edited, deleted): the adopted one is in force
    /// until the operators adopt the change.
    pub manifest_drift: Option<String>,
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
    /// When pruning was paused (`kernel prune --pause`), if it is: what
    /// a `prune_resume` statement names.
    pub prune_paused_since: Option<i64>,
}

/// What an accepted kernel statement changed (`patches import`, `patches
/// migrate-tree`, `campaign close|abandon`, `kernel keep`, `kernel
/// prune`): what `POST /api/v1/kernel/changes` answers and the verbs'
/// `--json` print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KernelChangeView {
    /// The statement's verb (`patches_import`, `campaign_abandon`, …).
    pub verb: String,
    /// The verified signer.
    pub by: String,
    /// What changed, in words.
    pub summary: String,
    /// Paths in the workspace written, moved or deleted (`patches/…`,
    /// `archive/…`, `campaigns/…`).
    pub paths: Vec<String>,
    /// Paths named, already as they should be (an import's unchanged
    /// files).
    pub unchanged: Vec<String>,
    /// Manifests rewritten: in force once the operators adopt them.
    pub manifests: Vec<String>,
    /// Build jobs pruned.
    pub pruned: Vec<String>,
    /// On-demand build hosts released.
    pub released: Vec<String>,
    /// Whether pruning is paused now.
    pub paused: bool,
    /// What could not be done (a build host that did not answer, a job
    /// record that does not parse); the rest was.
    pub problems: Vec<String>,
}

/// A hunk that applied away from where its patch said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HunkOffsetView {
    /// The file.
    pub file: String,
    /// The hunk's number in its file (from 1).
    pub hunk: u32,
    /// The line it applied at.
    pub at: u64,
    /// Lines away from where the patch said.
    pub offset: i64,
}

/// A patch of the series that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppliedPatchView {
    /// The patch's path in the tree.
    pub patch: String,
    /// Its hunks that applied at an offset.
    pub offsets: Vec<HunkOffsetView>,
}

/// The first patch of the series that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailedPatchView {
    /// The patch's path in the tree.
    pub patch: String,
    /// The file it fails on.
    pub file: String,
    /// The line the hunk names.
    pub line: u64,
    /// The hunk's number in its file (from 1).
    pub hunk: u32,
    /// What `git apply` said.
    pub said: String,
}

/// A host's series applied patch by patch to its baseline (`bosun
/// patches check`, `GET /api/v1/kernel/check/{host}`, the MCP
/// `kernel_check` tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatchCheckView {
    /// The host.
    pub host: String,
    /// The manifest read (`fleet/<host>.yaml`).
    pub manifest: String,
    /// Where the manifest read is not the one in force: one not adopted
    /// is checked from the file on disk; an edited one from its adopted
    /// version.
    pub note: Option<String>,
    /// The checkout applied to.
    pub checkout: String,
    /// The baseline ref.
    pub baseline: String,
    /// The commit the ref names in the checkout.
    pub commit: String,
    /// The patches that applied, in order.
    pub applied: Vec<AppliedPatchView>,
    /// The first that did not, if any (nothing after it is tried).
    pub failed: Option<FailedPatchView>,
}

/// A campaign as the patch tree holds it (`GET
/// /api/v1/kernel/campaigns/{campaign}`): what an abandon would take, and
/// whether it was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CampaignView {
    /// The campaign.
    pub campaign: String,
    /// Its patchsets (`campaign` in their patchset.toml), by id: what a
    /// `campaign_abandon` statement names.
    pub patchsets: Vec<String>,
    /// How it ended, when it was closed (`success`, `upstreamed`).
    pub closed: Option<String>,
}
