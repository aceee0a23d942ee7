//! `bosun kernel status`: the seed's `ka-status`, one line per host with a
//! manifest (`fleet/<host>.yaml`), from bosun-control's
//! `kernel_status_view` here or the daemon's `GET /kernel/status`; and
//! `bosun kernel jobs`, the build jobs (`kernel_jobs_view`, `GET
//! /kernel/jobs`).

use std::process::ExitCode;

use bosun_api::views::{KernelJobsView, KernelStatusView};
use bosun_control::Result;

use super::{Ctx, answered, other};

pub(crate) fn status(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let view: KernelStatusView = match &ctx.remote {
        Some(r) => match answered(r.get("/kernel/status"), json)? {
            Ok(v) => v,
            Err(code) => return Ok(code),
        },
        None => {
            let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
            // A read: an existing store read-only, a new workspace's made.
            let ctl = ctx.open(ws.db_path().exists())?;
            ctl.kernel_status_view()?
        }
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&view.hosts).map_err(|e| other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if view.hosts.is_empty() {
        outln!("no kernel manifests (fleet/<host>.yaml)");
    }
    let short = |s: &str| s.chars().take(12).collect::<String>();
    for r in &view.hosts {
        if let Some(p) = &r.problem {
            outln!("{:<12} {p}", r.host);
            continue;
        }
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
        match (&r.install_op, r.install_pending) {
            (Some(jti), _) => line.push_str(&format!(
                "  install waiting: op {jti} (`bosun approve {jti} --as <operator>`)"
            )),
            (None, true) => line.push_str(&format!(
                "  installable: waits for a human (`bosun kernel install {} --as <operator>`)",
                r.host
            )),
            (None, false) => {}
        }
        if !r.blockers.is_empty() {
            line.push_str(&format!("  blocked: {}", r.blockers.join(", ")));
        }
        outln!("{line}");
        if let Some(d) = &r.manifest_drift {
            outln!("{:<12} note: {d}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bosun kernel jobs [host]`.
pub(crate) fn jobs(ctx: &Ctx, host: Option<&str>, json: bool) -> Result<ExitCode> {
    let mut view: KernelJobsView = match &ctx.remote {
        Some(r) => match answered(r.get("/kernel/jobs"), json)? {
            Ok(v) => v,
            Err(code) => return Ok(code),
        },
        None => {
            let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
            let ctl = ctx.open(ws.db_path().exists())?;
            ctl.kernel_jobs_view()?
        }
    };
    if let Some(h) = host {
        view.jobs.retain(|j| j.host == h);
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&view).map_err(|e| other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if view.jobs.is_empty() {
        outln!("no build jobs (`bosun kernel build <host> --as <you>` starts one)");
    }
    for j in &view.jobs {
        let on = if j.build_host.is_empty() {
            "-"
        } else {
            &j.build_host
        };
        outln!(
            "{:<34} {:<10} {:<10} on {on:<12} {}  op {}",
            j.job,
            j.host,
            j.status,
            j.version,
            if j.op.is_empty() { "-" } else { &j.op }
        );
        if !j.reason.is_empty() {
            outln!("    {}", j.reason);
        }
        if j.status != "published" {
            outln!("    {}/build.log", j.dir);
        }
    }
    for p in &view.problems {
        errln!("unreadable job: {p}");
    }
    Ok(ExitCode::SUCCESS)
}
