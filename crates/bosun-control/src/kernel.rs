//! The kernel lifecycle's reads, for every face (issue 17): where the
//! kernel module keeps its state ([`KernelDirs`]), each host's kernel at a
//! glance ([`Control::kernel_status_view`]) and what promoting a host
//! would produce with the op that sends it through the pipeline
//! ([`Control::promote_preview`]). The CLI, the HTTP API and the MCP tools
//! show the same views.
//!
//! A host's manifest is a governed file: what runs or writes a lock reads
//! the adopted one ([`Control::manifest_of`]); only a preview may show the
//! file on disk ([`manifest_on_disk`]). Everything else here reads
//! workspace files another user may have written (the patch tree, job
//! records) as the governed files are read: regular files only, bounded,
//! a FIFO refused without blocking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bosun_api::views::{
    KernelBuildView, KernelHostView, KernelStatusView, PromotePreviewView, PromotedPatchView,
};
use bosun_kernel::{Builders, Job};
use bosun_model::Name;
use bosun_workspace::governed::manifest_subject;

pub use crate::kernel_build::BUILD_RUNBOOK;
pub use crate::kernel_plan::{INSTALL_RUNBOOK, read_lock};
use crate::{Control, ControlError, Result};

/// The runbook a promote op runs.
pub const PROMOTE_RUNBOOK: &str = "kernel-promote";

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

/// Where the kernel module keeps its state.
#[derive(Debug, Clone)]
pub struct KernelDirs {
    /// `<state>/kernel`.
    pub base: PathBuf,
    /// `<state>/kernel/jobs`: one directory per build job.
    pub jobs: PathBuf,
    /// The published repository (`[kernel] repo`, default
    /// `<state>/kernel/repo`), one directory per arch.
    pub repo: PathBuf,
}

impl KernelDirs {
    /// The directories of `ws`.
    pub fn of(ws: &bosun_workspace::Workspace) -> KernelDirs {
        let base = ws.state_dir().join("kernel");
        let repo = match &ws.config.kernel.repo {
            Some(r) => ws.root.join(r),
            None => base.join("repo"),
        };
        KernelDirs {
            jobs: base.join("jobs"),
            repo,
            base,
        }
    }

    /// `builders.toml`: the on-demand build hosts bosun woke.
    pub fn builders_path(&self) -> PathBuf {
        self.base.join("builders.toml")
    }

    /// The marker that pauses pruning.
    pub fn paused_path(&self) -> PathBuf {
        self.base.join("prune.paused")
    }

    /// `builders.toml`, or empty.
    pub fn builders(&self) -> Result<Builders> {
        let p = self.builders_path();
        match bosun_kernel::tree::read_bounded(&p, 1 << 20) {
            Ok(b) => {
                let t = String::from_utf8(b)
                    .map_err(|_| other(format!("{}: not UTF-8", p.display())))?;
                bosun_model::source::from_toml(&p.display().to_string(), &t, 1 << 20)
                    .map_err(|e| other(e.to_string()))
            }
            Err(_) if !p.exists() => Ok(Builders::default()),
            Err(e) => Err(other(format!("{}: {e}", p.display()))),
        }
    }

    /// Every job, newest first; an unreadable record as an error naming
    /// its file.
    pub fn jobs(&self) -> Result<Vec<std::result::Result<Job, String>>> {
        let rd = match std::fs::read_dir(&self.jobs) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(other(format!("{}: {e}", self.jobs.display()))),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let dir = e.file_name().to_string_lossy().into_owned();
            let p = e.path().join("job.toml");
            let shown = p.display().to_string();
            out.push(
                bosun_kernel::tree::read_bounded(&p, bosun_kernel::build::MAX_JOB_BYTES)
                    .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_string()))
                    .map_err(|e| format!("{shown}: {e}"))
                    .and_then(|t| Job::parse(&shown, &t).map_err(|e| e.to_string()))
                    // A record names its own directory, or it is not one.
                    .and_then(|j| {
                        if j.job == dir {
                            Ok(j)
                        } else {
                            Err(format!("{shown}: names job `{}`, not `{dir}`", j.job))
                        }
                    }),
            );
        }
        // Newest first; within one second, the later id (`…-2` after `…`).
        out.sort_by_key(|j| {
            std::cmp::Reverse(
                j.as_ref()
                    .map(|j| (j.started, j.job.len(), j.job.clone()))
                    .unwrap_or_default(),
            )
        });
        Ok(out)
    }
}

/// A host's manifest, its path, text and the patch tree as
/// [`Control::manifest_of`] gives them.
pub type ManifestRead = (String, String, bosun_kernel::Manifest, bosun_kernel::Tree);

/// A host's manifest read from the file on disk (not the adopted one) and
/// the patch tree, read safely: what a preview shows where nothing is
/// adopted (an example directory with no database, say). Nothing that
/// runs or writes a host's lock uses it.
pub fn manifest_on_disk(root: &std::path::Path, host: &str) -> Result<ManifestRead> {
    let name = Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
    let rel = format!("fleet/{name}.yaml");
    let text = bosun_workspace::read_file(&root.join(&rel)).map_err(|e| {
        other(format!(
            "{rel}: {e} (a host's kernel manifest, fleet/<host>.yaml)"
        ))
    })?;
    let m = bosun_kernel::Manifest::parse(&rel, &text).map_err(|e| other(e.to_string()))?;
    let tree = bosun_kernel::Tree::read(root).map_err(|e| other(e.to_string()))?;
    Ok((rel, text, m, tree))
}

impl Control {
    /// A host's manifest in force (the adopted `fleet/<host>.yaml`: a
    /// governed file, so an edit on disk changes nothing until the
    /// operators adopt it) and the patch tree, read safely: its path,
    /// text, the parsed manifest and the tree. A manifest never adopted is
    /// refused, naming the adoption.
    pub fn manifest_of(&self, host: &str) -> Result<ManifestRead> {
        if let Some(m) = self.adopted_manifest(host)? {
            return Ok(m);
        }
        let rel = format!("fleet/{host}.yaml");
        let why = if self.ws.root.join(&rel).exists() {
            "is not adopted: a kernel manifest is a governed file, in force once the operators adopt it"
        } else {
            "does not exist and none is adopted (a host's kernel manifest, fleet/<host>.yaml, in force once adopted)"
        };
        Err(crate::hinted(
            format!("{rel} {why}"),
            bosun_api::NextAction::Adopt,
        ))
    }

    /// [`Control::manifest_of`], or `None` when no manifest of `host` was
    /// ever adopted.
    pub fn adopted_manifest(&self, host: &str) -> Result<Option<ManifestRead>> {
        let name = Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
        let rel = format!("fleet/{name}.yaml");
        let Some(a) = self.store.adopted(&manifest_subject(name.as_str()))? else {
            return Ok(None);
        };
        let text = a.content;
        let m = bosun_kernel::Manifest::parse(&rel, &text).map_err(|e| other(e.to_string()))?;
        let tree = bosun_kernel::Tree::read(&self.ws.root).map_err(|e| other(e.to_string()))?;
        Ok(Some((rel, text, m, tree)))
    }

    /// How `fleet/<host>.yaml` on disk stands against the adopted one,
    /// when it differs (edited, removed, unreadable): a note for whoever
    /// previews a promote, since the adopted one is what runs.
    pub fn manifest_drift(&self, host: &str) -> Result<Option<String>> {
        let name = Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
        let rel = format!("fleet/{name}.yaml");
        let adopted = self.store.adopted(&manifest_subject(name.as_str()))?;
        let disk = bosun_workspace::read_file(&self.ws.root.join(&rel));
        Ok(match (adopted, disk) {
            (Some(a), Ok(t)) if a.content == t => None,
            (Some(_), Ok(_)) => Some(format!(
                "{rel} on disk differs from its adopted version: the adopted one is in force (an adoption proposes the change)"
            )),
            (Some(_), Err(e)) => Some(format!("{rel}: {e}; the adopted one is in force")),
            (None, _) => None,
        })
    }
}

/// The params of the `kernel-promote` op of `p`: the host, the lock's
/// digest (BLAKE2b-512 of the whole `manifest.lock`: baseline, suffix,
/// arch, the manifest's digest, every patch's) and the patches and
/// patchsets it carries (so a blocker on any of them holds the op); and
/// that digest.
pub fn promote_params(
    host: &str,
    p: &bosun_kernel::Promoted,
) -> Result<(String, BTreeMap<String, String>)> {
    let carried: BTreeSet<&str> = p
        .lock
        .patch
        .iter()
        .flat_map(|x| [x.path.as_str(), x.patchset.as_str()])
        .collect();
    let lock_b2 = bosun_kernel::b2(
        p.lock
            .to_toml()
            .map_err(|e| other(e.to_string()))?
            .as_bytes(),
    );
    let params = BTreeMap::from([
        ("host".to_string(), host.to_string()),
        ("lock".to_string(), lock_b2.clone()),
        (
            "patches".to_string(),
            carried.into_iter().collect::<Vec<_>>().join(","),
        ),
    ]);
    Ok((lock_b2, params))
}

impl Control {
    /// Each host with a manifest: its digest, the lock (current, stale,
    /// none), the newest build, what is installed, drift, a pending
    /// install and the blockers on it or its patches.
    pub fn kernel_status_view(&self) -> Result<KernelStatusView> {
        let root = self.ws.root.clone();
        let dirs = KernelDirs::of(&self.ws);
        // Hosts with an adopted manifest, and those with one on disk only
        // (shown with the problem: not adopted).
        let mut hosts: BTreeSet<String> = self
            .store
            .adopted_all()?
            .into_iter()
            .filter_map(|a| a.subject.strip_prefix("manifest:").map(str::to_string))
            .collect();
        if let Ok(rd) = std::fs::read_dir(root.join("fleet")) {
            hosts.extend(rd.flatten().filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".yaml"))
                    .filter(|n| Name::parse(n).is_ok())
                    .map(str::to_string)
            }));
        }
        let jobs: Vec<Job> = dirs.jobs()?.into_iter().flatten().collect();
        let (inv, _) = self.inventory_in_force()?;
        let views = self.host_views(&inv.hosts)?;
        let blockers = self.blocker_views(false)?;
        // Install ops waiting (for an approval, or for the controller).
        let mut waiting = Vec::new();
        for state in [
            bosun_model::OpState::PendingApproval,
            bosun_model::OpState::Approved,
        ] {
            waiting.extend(self.install_ops(Some(state), 1000)?);
        }
        let mut out = Vec::new();
        for h in &hosts {
            let mut row = self.kernel_host(&root, h, &jobs, &views, &blockers);
            if row.install_pending
                && let Some(b) = &row.build
            {
                row.install_op = waiting
                    .iter()
                    .find(|o| o.host == *h && o.job == b.job)
                    .map(|o| o.jti.clone());
            }
            out.push(row);
        }
        Ok(KernelStatusView { hosts: out })
    }

    fn kernel_host(
        &self,
        root: &std::path::Path,
        h: &str,
        jobs: &[Job],
        views: &[bosun_api::views::HostView],
        blockers: &[bosun_api::views::BlockerView],
    ) -> KernelHostView {
        let view = views.iter().find(|v| v.host == h);
        let mut row = KernelHostView {
            host: h.to_string(),
            manifest: format!("fleet/{h}.yaml"),
            manifest_b2: String::new(),
            lock: "none".into(),
            locked_b2: None,
            build: None,
            installed: view.and_then(|v| v.version.clone()),
            drifted: view.is_some_and(|v| v.drifted),
            drift_reason: view.and_then(|v| v.drift_reason.clone()),
            install_pending: false,
            install_op: None,
            blockers: Vec::new(),
            problem: None,
            manifest_drift: None,
        };
        let (rel, text, _, tree) = match self.manifest_of(h) {
            Ok(m) => m,
            Err(e) => {
                row.problem = Some(e.to_string());
                return row;
            }
        };
        row.manifest_b2 = bosun_kernel::b2(text.as_bytes());
        row.manifest_drift = self.manifest_drift(h).unwrap_or_default();
        let current = bosun_kernel::promote(&tree, h, &rel, &text).ok();
        let mut on_disk = None;
        match crate::kernel_wait::lock_on_disk(root, h) {
            None => {}
            Some(Err(e)) => row.lock = format!("invalid: {e}"),
            Some(Ok(l)) => {
                let same = current.as_ref().is_some_and(|c| c.lock == l);
                row.lock = if same { "current" } else { "stale" }.into();
                row.locked_b2 = Some(l.cumulative.b2.clone());
                on_disk = Some(l);
            }
        }
        if let Some(j) = jobs.iter().find(|j| j.host == h) {
            let b = KernelBuildView {
                job: j.job.clone(),
                status: j.status.as_str().into(),
                build_host: j.build_host.clone(),
                version: format!("{}-1", j.pkgver),
                of_current_lock: on_disk.as_ref().is_some_and(|l| j.builds(l)),
            };
            let installs = crate::kernel_wait::runs(row.installed.as_deref(), j);
            row.install_pending = b.status == "published" && b.of_current_lock && !installs;
            row.build = Some(b);
        }
        let carried: BTreeSet<&str> = current
            .as_ref()
            .map(|c| {
                c.lock
                    .patch
                    .iter()
                    .flat_map(|p| [p.path.as_str(), p.patchset.as_str()])
                    .collect()
            })
            .unwrap_or_default();
        row.blockers = blockers
            .iter()
            .filter(|b| b.resolved_at.is_none())
            .filter(|b| {
                b.subject
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .any(|s| s == h || carried.contains(s))
            })
            .map(|b| format!("{} #{} on {}", b.kind, b.id, b.subject))
            .collect();
        row
    }

    /// What promoting `host` would produce, and the params of the
    /// `kernel-promote` op that sends it through the pipeline.
    pub fn promote_preview(&self, host: &str) -> Result<PromotePreviewView> {
        let (rel, text, _, tree) = self.manifest_of(host)?;
        let p =
            bosun_kernel::promote(&tree, host, &rel, &text).map_err(|e| other(e.to_string()))?;
        let (lock_b2, params) = promote_params(host, &p)?;
        Ok(PromotePreviewView {
            host: host.to_string(),
            baseline: format!("{} {}", p.lock.baseline_tree, p.lock.baseline_ref),
            suffix: p.lock.suffix.clone(),
            patches: p
                .lock
                .patch
                .iter()
                .map(|x| PromotedPatchView {
                    path: x.path.clone(),
                    patchset: x.patchset.clone(),
                    bytes: x.bytes,
                    b2: x.b2.clone(),
                    trailer_stripped: x.trailer_stripped,
                })
                .collect(),
            cumulative_bytes: p.lock.cumulative.bytes,
            cumulative_b2: p.lock.cumulative.b2.clone(),
            lock_b2,
            duplicates: p
                .duplicates
                .iter()
                .map(|d| format!("{} repeats {}", d.again, d.first))
                .collect(),
            runbook: PROMOTE_RUNBOOK.into(),
            params,
        })
    }
}

impl Control {
    /// Applies `host`'s series patch by patch (`git apply`, no fuzz) to a
    /// worktree of a baseline checkout at the manifest's ref, naming the
    /// first patch, file and hunk that fails ([`check_series`]). The
    /// checkout is `baseline` when given (the CLI's `--baseline`), else
    /// `[kernel.baselines]`'s entry for the manifest's baseline tree (what
    /// the daemon uses: a client never names a directory of the daemon's).
    /// The adopted manifest is checked (an edit on disk nobody adopted
    /// makes the daemon apply nothing new; the view's `note` says when the
    /// file differs); the CLI here previews one not adopted yet
    /// ([`check_series`]). Nothing is filed: the caller files a
    /// `patch-fail` blocker for what failed, signed as itself.
    pub fn patches_check(
        &self,
        host: &str,
        baseline: Option<&std::path::Path>,
    ) -> Result<bosun_api::views::PatchCheckView> {
        let read = self.manifest_of(host)?;
        let note = self.manifest_drift(host)?;
        let dir = baseline_dir(&self.ws, &read, baseline)?;
        check_series(host, read, note, &dir)
    }
}

/// The checkout `patches check` applies to: `given`, else the workspace's
/// `[kernel.baselines]` entry for the manifest's baseline tree.
pub fn baseline_dir(
    ws: &bosun_workspace::Workspace,
    read: &ManifestRead,
    given: Option<&std::path::Path>,
) -> Result<PathBuf> {
    let (rel, _, m, _) = read;
    if let Some(b) = given {
        return Ok(b.to_path_buf());
    }
    match ws.config.kernel.baselines.get(&m.baseline.tree) {
        Some(d) => Ok(ws.root.join(d)),
        None => Err(other(format!(
            "{rel}: no checkout of baseline tree `{t}` is configured (bosun.toml [kernel.baselines] {t} = \"/path/to/checkout\"), and none was given (--baseline DIR)",
            t = m.baseline.tree
        ))),
    }
}

/// Applies the series `read` resolves, patch by patch, to a worktree of
/// the checkout `dir` at the manifest's baseline ref (in a fresh scratch
/// directory, removed after; the checkout itself is not changed).
pub fn check_series(
    host: &str,
    read: ManifestRead,
    note: Option<String>,
    dir: &std::path::Path,
) -> Result<bosun_api::views::PatchCheckView> {
    use bosun_api::views::{AppliedPatchView, FailedPatchView, HunkOffsetView, PatchCheckView};
    let (rel, _, m, tree) = read;
    let sets = bosun_kernel::resolve(&tree, &m, &rel).map_err(|e| other(e.to_string()))?;
    let scratch = std::env::temp_dir().join(format!(
        "bosun-check-{}-{}",
        std::process::id(),
        crate::fresh_jti()?
    ));
    let c = bosun_kernel::check(dir, &m.baseline.reference, &sets, &scratch)
        .map_err(|e| other(e.to_string()))?;
    Ok(PatchCheckView {
        host: host.to_string(),
        manifest: rel,
        note,
        checkout: dir.display().to_string(),
        baseline: m.baseline.reference.clone(),
        commit: c.commit,
        applied: c
            .applied
            .into_iter()
            .map(|a| AppliedPatchView {
                patch: a.patch,
                offsets: a
                    .offsets
                    .into_iter()
                    .map(|(file, hunk, at, offset)| HunkOffsetView {
                        file,
                        hunk,
                        at,
                        offset,
                    })
                    .collect(),
            })
            .collect(),
        failed: c.failed.map(|f| FailedPatchView {
            patch: f.patch,
            file: f.file,
            line: f.line,
            hunk: f.hunk,
            said: f.said,
        }),
    })
}
