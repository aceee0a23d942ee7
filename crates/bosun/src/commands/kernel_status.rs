//! `bosun kernel status`: the seed's `ka-status`, one line per host with a
//! manifest (`fleet/<host>.yaml`): the manifest's digest, the lock
//! (current, stale — the tree or manifest moved since — or none), the
//! newest build, the version installed (what a `version` bar last saw),
//! drift, whether an install is pending, and the blockers on the host or
//! its patches.

use std::process::ExitCode;

use bosun_control::Result;
use serde::Serialize;

use super::kernel::KernelDirs;
use super::patches::{holds_all, manifest_of};
use super::{Ctx, other};

#[derive(Serialize)]
struct Row {
    host: String,
    manifest: String,
    manifest_b2: String,
    /// `current`, `stale`, `none` or `invalid: …`.
    lock: String,
    locked_b2: Option<String>,
    /// The newest job: id, status, build host, packages.
    build: Option<Build>,
    installed: Option<String>,
    drifted: bool,
    drift_reason: Option<String>,
    /// A published build of the current lock whose version is not the
    /// installed one.
    install_pending: bool,
    blockers: Vec<String>,
}

#[derive(Serialize)]
struct Build {
    job: String,
    status: String,
    build_host: String,
    version: String,
    of_current_lock: bool,
}

pub(crate) fn status(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let root = ws.root.clone();
    let dirs = KernelDirs::of(&ws);
    let mut hosts: Vec<String> = match std::fs::read_dir(root.join("fleet")) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".yaml"))
                    .map(str::to_string)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    hosts.sort();
    let jobs: Vec<bosun_kernel::Job> = dirs.jobs()?.into_iter().flatten().collect();
    let views = host_views(ctx)?;
    let blockers = holds_all(ctx)?;
    let mut rows = Vec::new();
    for h in &hosts {
        let (rel, text, _, tree) = match manifest_of(&root, h) {
            Ok(m) => m,
            Err(e) => {
                errln!("{h}: {e}");
                continue;
            }
        };
        let current = bosun_kernel::promote(&tree, h, &rel, &text).ok();
        let lock_path = root.join("kernel").join(h).join("manifest.lock");
        let (lock, locked_b2) = match std::fs::read_to_string(&lock_path) {
            Err(_) => ("none".to_string(), None),
            Ok(t) => match bosun_kernel::Lock::parse(&lock_path.display().to_string(), &t) {
                Err(e) => (format!("invalid: {e}"), None),
                Ok(l) => {
                    let state = if current.as_ref().is_some_and(|c| c.lock == l) {
                        "current"
                    } else {
                        "stale"
                    };
                    (state.to_string(), Some(l.cumulative.b2))
                }
            },
        };
        let newest = jobs.iter().find(|j| &j.host == h);
        let view = views.iter().find(|v| &v.host == h);
        let installed = view.and_then(|v| v.version.clone());
        let build = newest.map(|j| Build {
            job: j.job.clone(),
            status: format!("{:?}", j.status).to_lowercase(),
            build_host: j.build_host.clone(),
            version: format!("{}-1", j.pkgver),
            of_current_lock: locked_b2.as_deref() == Some(j.cumulative_b2.as_str()),
        });
        // The version bar records what the host reports: `<pkg> <version>`
        // (`pacman -Q`) or the version alone.
        let installs = |b: &Build, pkg: &str| {
            installed
                .as_deref()
                .is_some_and(|i| i == b.version || i == format!("{pkg} {}", b.version))
        };
        let install_pending = newest.is_some_and(|j| {
            build.as_ref().is_some_and(|b| {
                b.status == "published" && b.of_current_lock && !installs(b, &j.pkgbase)
            })
        });
        let patches: Vec<String> = current
            .as_ref()
            .map(|c| {
                c.lock
                    .patch
                    .iter()
                    .flat_map(|p| [p.path.clone(), p.patchset.clone()])
                    .collect()
            })
            .unwrap_or_default();
        let on_host: Vec<String> = blockers
            .iter()
            .filter(|b| {
                b.subject
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .any(|s| s == h || patches.iter().any(|p| p == s))
            })
            .map(|b| format!("{} #{} on {}", b.kind, b.id, b.subject))
            .collect();
        rows.push(Row {
            host: h.clone(),
            manifest: rel,
            manifest_b2: bosun_kernel::b2(text.as_bytes()),
            lock,
            locked_b2,
            build,
            installed,
            drifted: view.is_some_and(|v| v.drifted),
            drift_reason: view.and_then(|v| v.drift_reason.clone()),
            install_pending,
            blockers: on_host,
        });
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no kernel manifests (fleet/<host>.yaml)");
    }
    for r in &rows {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        let mut line = format!(
            "{:<12} manifest {}  lock {}",
            r.host,
            short(&r.manifest_b2),
            match &r.locked_b2 {
                Some(b) => format!("{} ({})", short(b), r.lock),
                None => r.lock.clone(),
            }
        );
        match &r.build {
            Some(b) => line.push_str(&format!(
                "  build {} {}{}",
                b.version,
                b.status,
                if b.of_current_lock {
                    ""
                } else {
                    " (older lock)"
                }
            )),
            None => line.push_str("  build none"),
        }
        line.push_str(&format!(
            "  installed {}",
            r.installed.as_deref().unwrap_or("unknown")
        ));
        if r.drifted {
            line.push_str("  DRIFTED");
        }
        if r.install_pending {
            line.push_str(&format!(
                "  install pending (`bosun kernel install {} --as <operator>`)",
                r.host
            ));
        }
        if !r.blockers.is_empty() {
            line.push_str(&format!("  blocked: {}", r.blockers.join(", ")));
        }
        outln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the store (or the daemon) knows of each host.
fn host_views(ctx: &Ctx) -> Result<Vec<bosun_api::views::HostView>> {
    if let Some(r) = &ctx.remote {
        return match super::answered(r.get("/hosts"), false)? {
            Ok(v) => Ok(v),
            Err(_) => Err(other("the daemon would not list its hosts")),
        };
    }
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    if !ws.db_path().exists() {
        return Ok(Vec::new());
    }
    let ctl = ctx.reader()?;
    let (inv, _) = ctl.inventory_in_force()?;
    ctl.host_views(&inv.hosts)
}
