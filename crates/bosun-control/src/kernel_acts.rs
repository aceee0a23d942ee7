//! The kernel lifecycle's changes that are not ops (issue 17), as signed
//! statements, so every face makes them the same way and the ledger
//! records who made each: importing patches into the tree, moving a scope
//! (`migrate-tree`), closing or abandoning a campaign, keeping a build job
//! and pruning. [`Control::apply_statement_with`] verifies the statement
//! (signature, the adopted registry, keeper.toml `[statements]`) before
//! [`Control::kernel_act`] runs; an import's files travel beside its
//! statement, each bound by name and BLAKE2b-512 digest.
//!
//! None of these runs anything on the fleet but `prune`'s release of an
//! idle on-demand build host: a patch imported runs only in a lock an
//! approved promote names, and a rewritten manifest is in force only once
//! the operators adopt it.

use bosun_api::Check;
use bosun_api::views::KernelChangeView;
use bosun_kernel::{Job, JobStatus};
use bosun_model::{Act, KeyId, Role};

use crate::kernel::KernelDirs;
use crate::{Control, ControlError, Result};

/// The most bytes of patches one import statement may carry (its files
/// together); a larger series is imported in parts.
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

/// A refusal: the check and why; nothing was written.
pub type Refusal = (Check, String);

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn kernel(e: bosun_kernel::KernelError) -> Refusal {
    (Check::Kernel, e.to_string())
}

/// The pause marker's text: since when, by whom.
fn pause_text(since: i64, by: &str) -> String {
    format!("paused since {since} by {by}\n")
}

/// The `since` of a pause marker (0 for one that names none).
fn pause_since(text: &str) -> i64 {
    text.split_whitespace()
        .skip_while(|w| *w != "since")
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// The statement that imports `files` (name, bytes) into
/// `patches/<scope>/<campaign>/`: each named with its digest.
pub fn import_act(campaign: &str, scope: &str, files: &[(String, Vec<u8>)]) -> Act {
    Act::PatchesImport {
        campaign: campaign.to_string(),
        scope: scope.to_string(),
        files: files
            .iter()
            .map(|(name, bytes)| bosun_model::ImportedFile {
                name: name.clone(),
                b2: bosun_kernel::b2(bytes),
            })
            .collect(),
    }
}

/// The body of `POST /api/v1/kernel/changes`: the signed statement and
/// the files an import names (base64).
pub fn change_body(envelope: &str, files: &[(String, Vec<u8>)]) -> serde_json::Value {
    use base64::Engine as _;
    serde_json::json!({
        "envelope": envelope,
        "files": files.iter().map(|(name, bytes)| serde_json::json!({
            "name": name,
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        })).collect::<Vec<_>>(),
    })
}

/// `campaign` as the tree at `root` holds it: its patchsets and whether
/// it was closed.
pub fn campaign_view(
    root: &std::path::Path,
    campaign: &str,
) -> Result<bosun_api::views::CampaignView> {
    let k = |e: bosun_kernel::KernelError| other(e.to_string());
    Ok(bosun_api::views::CampaignView {
        campaign: campaign.to_string(),
        patchsets: bosun_kernel::patchsets_of(root, campaign).map_err(k)?,
        closed: bosun_kernel::closed(root, campaign)
            .map_err(k)?
            .map(|c| match c.status {
                bosun_kernel::Closure::Success => "success".to_string(),
                bosun_kernel::Closure::Upstreamed => "upstreamed".to_string(),
            }),
    })
}

/// Writes `job`'s record into its directory `dir` (`job.toml`).
pub fn save_job(dir: &std::path::Path, job: &Job) -> Result<()> {
    let text = job.to_toml().map_err(|e| other(e.to_string()))?;
    let p = dir.join("job.toml");
    bosun_kernel::publish::write_atomic(&p, text.as_bytes())
        .map_err(|e| other(format!("{}: {e}", p.display())))
}

impl KernelDirs {
    /// When pruning was paused, if it is.
    pub fn paused_since(&self) -> Option<i64> {
        let p = self.paused_path();
        p.exists().then(|| {
            bosun_kernel::tree::read_bounded(&p, 4096)
                .map(|b| pause_since(&String::from_utf8_lossy(&b)))
                .unwrap_or(0)
        })
    }

    /// Writes `builders.toml`.
    pub fn save_builders(&self, b: &bosun_kernel::Builders) -> Result<()> {
        let text = b.to_toml().map_err(|e| other(e.to_string()))?;
        std::fs::create_dir_all(&self.base).map_err(|e| other(e.to_string()))?;
        let p = self.builders_path();
        bosun_kernel::publish::write_atomic(&p, text.as_bytes())
            .map_err(|e| other(format!("{}: {e}", p.display())))
    }
}

impl Control {
    /// Does what a kernel statement asks, with the files an import
    /// carries. Signed (`by`: its verified signer), it is recorded in the
    /// ledger; `None` is the CLI's unsigned edit on the control host
    /// (without `--as`: what anyone with the workspace's files could do by
    /// hand), recorded nowhere. A refusal changes nothing.
    pub fn kernel_act(
        &self,
        act: &Act,
        signed: Option<(&KeyId, Role)>,
        files: &[(String, Vec<u8>)],
        now: i64,
    ) -> Result<std::result::Result<KernelChangeView, Refusal>> {
        let by = signed.map(|(k, _)| k);
        // Shortening a keep lets prune delete: an operator's (or the
        // control host's own unsigned edit); anyone may lengthen one.
        let may_shorten = signed.is_none_or(|(_, r)| r == Role::Operator);
        let mut v = KernelChangeView {
            verb: act.verb().to_string(),
            by: by.map(KeyId::to_string).unwrap_or_default(),
            ..KernelChangeView::default()
        };
        let who = by.map_or("an unsigned edit", KeyId::as_str);
        let dirs = KernelDirs::of(&self.ws);
        let done = match act {
            Act::KernelKeep { job, until } => self.keep(&dirs, &mut v, job, *until, may_shorten)?,
            Act::PrunePause => {
                let since = dirs.paused_since().unwrap_or(now);
                std::fs::create_dir_all(&dirs.base).map_err(|e| other(e.to_string()))?;
                let p = dirs.paused_path();
                bosun_kernel::publish::write_atomic(&p, pause_text(since, who).as_bytes())
                    .map_err(|e| other(format!("{}: {e}", p.display())))?;
                v.paused = true;
                v.summary = format!("pruning paused (since {since})");
                Ok(())
            }
            Act::PruneResume { since } => match dirs.paused_since() {
                None => Err((Check::State, "pruning is not paused".to_string())),
                Some(s) if s != *since => Err((
                    Check::State,
                    format!(
                        "the statement lifts the pause of {since}, but the pause in force is of {s}"
                    ),
                )),
                Some(_) => {
                    let p = dirs.paused_path();
                    std::fs::remove_file(&p).map_err(|e| other(format!("{}: {e}", p.display())))?;
                    v.summary = "pruning resumed".into();
                    Ok(())
                }
            },
            Act::Prune => {
                self.prune(&dirs, &mut v, now)?;
                Ok(())
            }
            _ => tree_act(&self.ws.root, act, files, now, &mut v),
        };
        if let Err(r) = done {
            return Ok(Err(r));
        }
        if by.is_none() {
            return Ok(Ok(v));
        }
        self.store.record_event(&bosun_store::NewEvent {
            at: now,
            jti: None,
            kind: format!("kernel.{}", v.verb),
            data: serde_json::json!({
                "by": v.by,
                "act": act,
                "paths": v.paths,
                "manifests": v.manifests,
                "pruned": v.pruned,
                "released": v.released,
            }),
        })?;
        Ok(Ok(v))
    }

    /// The daemon's pass over the kernel's state: prunes build jobs past
    /// their retention and releases on-demand build hosts past their idle
    /// time, as `kernel prune` does, unless halted or pruning is paused.
    /// What it pruned or released is recorded in the ledger as the
    /// daemon's (`kernel.prune`, by `daemon`); `None` when it did nothing.
    pub fn kernel_housekeeping(&self, now: i64) -> Result<Option<KernelChangeView>> {
        let dirs = KernelDirs::of(&self.ws);
        let idle = !dirs.jobs.exists() && dirs.builders()?.host.is_empty();
        if idle {
            return Ok(None);
        }
        // A builder that died (a restart of the daemon kills what it
        // started, a reboot too) leaves its job `running`: end it, so the
        // host it held can be released.
        let keep_failed = self
            .ws
            .config
            .kernel
            .times()
            .map_err(|(_, m)| other(m))?
            .keep_failed;
        let abandoned = dirs.end_abandoned(keep_failed, now)?;
        if self.halt_state()?.is_some() || dirs.paused_since().is_some() {
            return Ok(None);
        }
        let mut v = match self.kernel_act(&Act::Prune, None, &[], now)? {
            Ok(v) => v,
            Err((_, m)) => return Err(other(m)),
        };
        v.problems
            .extend(abandoned.iter().map(|(j, why)| format!("job {j}: {why}")));
        if v.pruned.is_empty() && v.released.is_empty() && v.problems.is_empty() {
            return Ok(None);
        }
        v.by = "daemon".into();
        // The ledger names what was deleted or released; the problems (a
        // command's output among them) go to the daemon's log only.
        if !v.pruned.is_empty() || !v.released.is_empty() || !abandoned.is_empty() {
            self.store.record_event(&bosun_store::NewEvent {
                at: now,
                jti: None,
                kind: "kernel.prune".into(),
                data: serde_json::json!({
                    "by": v.by,
                    "pruned": v.pruned,
                    "released": v.released,
                    "abandoned": abandoned.iter().map(|(j, _)| j).collect::<Vec<_>>(),
                }),
            })?;
        }
        Ok(Some(v))
    }

    fn keep(
        &self,
        dirs: &KernelDirs,
        v: &mut KernelChangeView,
        id: &str,
        until: i64,
        may_shorten: bool,
    ) -> Result<std::result::Result<(), Refusal>> {
        if !bosun_kernel::build::valid_job_id(id) {
            return Ok(Err((Check::Claims, format!("`{id}` is not a job id"))));
        }
        let Some(mut job) = dirs.job(id)? else {
            return Ok(Err((
                Check::Kernel,
                format!("no build job `{id}` (the kernel jobs listing names them)"),
            )));
        };
        // The build step rewrites a running job's record when it ends: a
        // keep then would be lost, or bring back what it overwrote.
        if job.status == JobStatus::Running {
            return Ok(Err((
                Check::State,
                format!("job `{id}` is running: keep it once it has ended"),
            )));
        }
        if until < job.keep_until && !may_shorten {
            return Ok(Err((
                Check::Role,
                format!(
                    "job `{id}` is kept until {}: only an operator shortens a keep (it lets prune delete the job)",
                    job.keep_until
                ),
            )));
        }
        job.keep_until = until;
        save_job(&dirs.jobs.join(&job.job), &job)?;
        v.summary = format!("job {id} kept until unix {}", job.keep_until);
        v.paths = vec![format!("jobs/{id}")];
        Ok(Ok(()))
    }

    /// Deletes build jobs past their retention (unless paused) and
    /// releases on-demand build hosts idle past their `idle_release`:
    /// never one a build is running on, and nothing while halted.
    fn prune(&self, dirs: &KernelDirs, v: &mut KernelChangeView, now: i64) -> Result<()> {
        let paused = dirs.paused_since().is_some();
        v.paused = paused;
        let jobs = dirs.jobs()?;
        let halt = self.halt_state()?;
        let (inventory, _) = self.inventory_in_force()?;
        let patterns = self.ws.config.scrub_patterns();
        let mut building = std::collections::BTreeSet::new();
        for j in &jobs {
            match j {
                Ok(j) if j.status == JobStatus::Running => {
                    building.insert(j.build_host.clone());
                }
                Ok(j) if !paused && halt.is_none() && j.prunable(now) => {
                    let dir = dirs.jobs.join(&j.job);
                    if has_artifacts(&dir, j)
                        && let Some(p) = self.clean_remote(&inventory.hosts, j, &patterns)
                    {
                        v.problems.push(p);
                    }
                    match prune_job(&dir, j) {
                        Ok(true) => v.pruned.push(j.job.clone()),
                        Ok(false) => {}
                        Err(e) => v.problems.push(e),
                    }
                }
                Ok(_) => {}
                Err(e) => v.problems.push(e.clone()),
            }
        }
        if let Some(h) = halt {
            v.problems.push(format!(
                "halted by {}: {}; no job pruned, no build host released",
                h.by, h.why
            ));
        } else {
            self.release_idle(dirs, v, &inventory.hosts, &building, &patterns, now)?;
        }
        v.summary = format!(
            "{} job(s) pruned, {} build host(s) released{}",
            v.pruned.len(),
            v.released.len(),
            if paused { " (pruning is paused)" } else { "" }
        );
        Ok(())
    }

    fn release_idle(
        &self,
        dirs: &KernelDirs,
        v: &mut KernelChangeView,
        hosts: &[bosun_model::Host],
        building: &std::collections::BTreeSet<String>,
        patterns: &[regex::Regex],
        now: i64,
    ) -> Result<()> {
        let builders = dirs.builders()?;
        let timeout = self
            .ws
            .config
            .kernel
            .times()
            .map_err(|(_, m)| other(m))?
            .wake_timeout;
        for (h, release) in builders.due(hosts, now) {
            if building.contains(h.name.as_str()) {
                continue;
            }
            // A build may have taken the host since the pass began (each
            // release can take up to the wake timeout): look again.
            let was = builders.host.get(h.name.as_str()).map(|a| a.last_used);
            let is = dirs
                .builders()?
                .host
                .get(h.name.as_str())
                .map(|a| a.last_used);
            let taken = dirs
                .jobs()?
                .into_iter()
                .flatten()
                .any(|j| j.status == JobStatus::Running && j.build_host == h.name.as_str());
            if was != is || taken {
                continue;
            }
            let ok = match release {
                Some(cmd) => {
                    let me = bosun_transport::controller_host(&h.name);
                    let o = crate::exec::run_step_scrubbed(
                        &self.ws.root,
                        &me,
                        cmd,
                        std::time::Duration::from_secs(u64::try_from(timeout).unwrap_or(300)),
                        patterns,
                    );
                    if !o.ok() {
                        v.problems.push(format!(
                            "releasing {}: `{cmd}` failed: {}",
                            h.name,
                            o.output.trim()
                        ));
                    }
                    o.ok()
                }
                None => true,
            };
            if ok {
                v.released.push(h.name.to_string());
            }
        }
        // A builder may have woken a host meanwhile: drop only what was
        // released from the record as it is now, under its lock.
        let released = v.released.clone();
        dirs.with_builders(|b| b.host.retain(|h, _| !released.contains(h)))
    }

    /// Removes `j`'s build directory on its build host (`<dir>/<job>`, the
    /// inventory entry's `dir` for the job's arch), as the build made it;
    /// what went wrong, if anything (an asleep or unreachable host leaves
    /// it: the local job is pruned all the same, and the message names
    /// what is left).
    fn clean_remote(
        &self,
        hosts: &[bosun_model::Host],
        j: &Job,
        patterns: &[regex::Regex],
    ) -> Option<String> {
        let host = hosts.iter().find(|h| h.name.as_str() == j.build_host)?;
        let build = host.builds.iter().find(|b| b.arch == j.arch)?;
        let remote = format!("{}/{}", build.dir().trim_end_matches('/'), j.job);
        let o = crate::exec::run_step_scrubbed(
            &self.ws.root,
            host,
            &format!("rm -rf -- {}", bosun_transport::sh_quote(&remote)),
            std::time::Duration::from_secs(60),
            patterns,
        );
        (!o.ok()).then(|| {
            format!(
                "{}: {remote} left on the build host ({})",
                host.name,
                o.output.trim()
            )
        })
    }
}

/// The acts on the patch tree and manifests alone (import, migrate-tree,
/// campaign close and abandon), on the workspace at `root`: what
/// [`Control::kernel_act`] does for them, and what the CLI does without
/// `--as` where there is no store (an example directory). Anything else
/// is refused.
pub fn tree_act(
    root: &std::path::Path,
    act: &Act,
    files: &[(String, Vec<u8>)],
    now: i64,
    v: &mut KernelChangeView,
) -> std::result::Result<(), Refusal> {
    match act {
        Act::PatchesImport {
            campaign,
            scope,
            files: named,
        } => import(root, v, campaign, scope, named, files),
        Act::PatchesMigrate { from, to } => bosun_kernel::migrate_tree(root, from, to)
            .map(|changed| {
                v.summary = format!(
                    "patches/{from} is now patches/{to}; {} manifest(s) rewritten",
                    changed.len()
                );
                v.paths = vec![format!("patches/{to}")];
                v.manifests = changed;
            })
            .map_err(kernel),
        Act::CampaignClose { campaign, status } => {
            let how = match status.as_str() {
                "success" => bosun_kernel::Closure::Success,
                "upstreamed" => bosun_kernel::Closure::Upstreamed,
                s => {
                    return Err((
                        Check::Claims,
                        format!("status `{s}`: success or upstreamed"),
                    ));
                }
            };
            bosun_kernel::close(root, campaign, how, now)
                .map(|rec| {
                    v.summary = format!(
                        "campaign `{campaign}` closed ({status}): {} patchset(s) stay in the tree; recorded in campaigns/{campaign}.toml",
                        rec.patchsets.len()
                    );
                    v.paths = vec![format!("campaigns/{campaign}.toml")];
                    v.unchanged = rec.patchsets.iter().map(|p| format!("patches/{p}")).collect();
                })
                .map_err(kernel)
        }
        Act::CampaignAbandon {
            campaign,
            keep_as_archive,
            patchsets,
        } => {
            let how = if *keep_as_archive {
                bosun_kernel::Abandon::KeepAsArchive
            } else {
                bosun_kernel::Abandon::PurgeFromFleet
            };
            bosun_kernel::abandon(root, campaign, how, Some(patchsets))
                .map(|(ids, files)| {
                    let what = if *keep_as_archive {
                        "archived in archive/patches/"
                    } else {
                        "deleted"
                    };
                    v.summary = format!(
                        "campaign `{campaign}`: {} patchset(s) {what}; {} manifest(s) rewritten",
                        ids.len(),
                        files.len()
                    );
                    v.paths = ids.iter().map(|i| format!("patches/{i}")).collect();
                    v.manifests = files;
                })
                .map_err(kernel)
        }
        _ => Err((
            Check::Claims,
            "not a statement on the patch tree".to_string(),
        )),
    }
}

fn import(
    root: &std::path::Path,
    v: &mut KernelChangeView,
    campaign: &str,
    scope: &str,
    named: &[bosun_model::ImportedFile],
    files: &[(String, Vec<u8>)],
) -> std::result::Result<(), Refusal> {
    if named.is_empty() {
        return Err((Check::Claims, "an import names at least one file".into()));
    }
    // Each file is named as it is written: a plain file name, once.
    let mut seen = std::collections::BTreeSet::new();
    for n in named {
        let plain = !n.name.is_empty()
            && n.name.len() <= 255
            && !n.name.starts_with('.')
            && !n.name.contains(['/', '\\', '\0']);
        if !plain || !seen.insert(n.name.as_str()) {
            return Err((
                Check::Claims,
                format!(
                    "file `{}`: an import names each file once, by a plain file name (no `/`, not starting with `.`)",
                    n.name.escape_debug()
                ),
            ));
        }
    }
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    if total > MAX_IMPORT_BYTES {
        return Err((
            Check::Size,
            format!(
                "{total} bytes of patches; one import carries at most {MAX_IMPORT_BYTES}: import the series in parts"
            ),
        ));
    }
    let same = named.len() == files.len()
        && named
            .iter()
            .zip(files)
            .all(|(n, (name, bytes))| n.name == *name && n.b2 == bosun_kernel::b2(bytes));
    if !same {
        return Err((
            Check::Claims,
            "the files sent are not those the statement names (names and BLAKE2b-512 digests, in order): nothing written".into(),
        ));
    }
    let done = bosun_kernel::import(root, campaign, scope, files).map_err(kernel)?;
    v.summary = format!(
        "{}: {} written, {} already there",
        done.patchset,
        done.written.len(),
        done.unchanged.len()
    );
    v.paths = done.written;
    v.unchanged = done.unchanged;
    Ok(())
}

/// Whether pruning `j` would delete anything (a published job keeps its
/// `job.toml` once pruned).
fn has_artifacts(dir: &std::path::Path, j: &Job) -> bool {
    j.status != JobStatus::Published
        || std::fs::read_dir(dir)
            .map(|rd| rd.flatten().any(|e| e.file_name() != "job.toml"))
            .unwrap_or(false)
}

/// Prunes one job past its keep: a failed job's directory goes; a
/// published one keeps its `job.toml` (the install finds its package by
/// it) and loses the rest. Whether anything was deleted.
fn prune_job(dir: &std::path::Path, j: &Job) -> std::result::Result<bool, String> {
    let gone = |p: &std::path::Path, e: std::io::Error| format!("{}: {e}", p.display());
    if j.status != JobStatus::Published {
        return std::fs::remove_dir_all(dir)
            .map(|()| true)
            .map_err(|e| gone(dir, e));
    }
    let mut any = false;
    for e in std::fs::read_dir(dir).map_err(|e| gone(dir, e))?.flatten() {
        if e.file_name() == "job.toml" {
            continue;
        }
        let p = e.path();
        let r = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        r.map_err(|err| gone(&p, err))?;
        any = true;
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_marker_names_its_since() {
        assert_eq!(
            pause_since(&pause_text(1_796_630_400, "alice")),
            1_796_630_400
        );
        assert_eq!(pause_since("paused by `bosun kernel prune --pause`\n"), 0);
        assert_eq!(pause_since("paused since x"), 0);
        assert_eq!(pause_since(""), 0);
    }
}
