//! The kernel build's builder (issue 17): the build op's step (in
//! kernel_build.rs) makes the job and [`start`]s a builder beside the
//! controller, `bosun kernel build <host> --run-job <job>` ([`run_job`]),
//! which builds, signs and publishes it while the controller runs other
//! ops. A builder holds the job's `runner.lock` while it runs and claims
//! the job once (`runner.claimed`); what it builds is the lock's: the
//! PKGBUILD is made again from the lock and the patch checked against its
//! digest, whatever the job's directory holds.

use std::path::Path;
use std::process::ExitCode;

use bosun_control::Result;
use bosun_control::kernel::KernelDirs;
use bosun_control::kernel_acts::save_job;
use bosun_kernel::{Job, JobStatus};

use super::kernel::now;
use super::kernel_build::{Run, held_on, print_job, short, write};
use super::{Ctx, other};

/// Starts the builder for job `id`: `bosun -w <root> kernel build <host>
/// --run-job <id>`, in a process group of its own (the step's timeout
/// kills the step's group, not the build: the build has its own cap),
/// its output appended to the job's `runner.log`. Its pid.
pub(super) fn start(root: &Path, host: &str, id: &str, jobdir: &Path) -> std::io::Result<u32> {
    use std::os::unix::process::CommandExt as _;
    let log = bosun_kernel::publish::open_log(&jobdir.join("runner.log"))?;
    let exe = std::env::current_exe()?;
    let child = std::process::Command::new(exe)
        .arg("--workspace")
        .arg(root)
        .args(["kernel", "build", host, "--run-job", id])
        .env_remove("BOSUN_OP")
        .env_remove("BOSUN_URL")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    Ok(child.id())
}

/// The builder: runs job `id` of `host` once (`--run-job`, started by the
/// build op's step). It must be a `running` job of `host` whose op is a
/// `kernel-build` op, running or succeeded, naming the lock the job holds;
/// it holds `runner.lock` while it runs (what tells a live builder from a
/// dead one) and claims the job (`runner.claimed`, made new) so that it
/// is never run twice. Then it routes, wakes, pre-flights, builds under
/// the cap, signs and publishes, as the step did before.
pub(crate) fn run_job(ctx: &Ctx, host: &str, id: &str, json: bool) -> Result<ExitCode> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let cfg = ws.config.kernel.clone();
    let times = cfg.times().map_err(|(_, m)| other(m))?;
    let ctl = ctx.control()?;
    let dirs = KernelDirs::of(&ws);
    if !bosun_kernel::build::valid_job_id(id) {
        return Err(other(format!("`{id}` is not a job id")));
    }
    let jobdir = dirs.jobs.join(id);
    let Some(mut job) = dirs.job(id)? else {
        return Err(other(format!("no build job `{id}`")));
    };
    if job.status != JobStatus::Running || job.host != host {
        return Err(other(format!(
            "job `{id}` is {} for {}: the builder runs only a running job of {host}",
            job.status.as_str(),
            job.host
        )));
    }
    let lock_text = String::from_utf8(
        bosun_kernel::tree::read_bounded(&jobdir.join("manifest.lock"), 1 << 20)
            .map_err(|e| other(format!("job `{id}`: manifest.lock: {e}")))?,
    )
    .map_err(|_| other(format!("job `{id}`: manifest.lock is not UTF-8")))?;
    let lock_b2 = bosun_kernel::b2(lock_text.as_bytes());
    let jti = ctl.build_job_op(&job.op, host, &lock_b2)?;
    let lock =
        bosun_kernel::Lock::parse("manifest.lock", &lock_text).map_err(|e| other(e.to_string()))?;
    // A live builder holds the lock; a job is claimed once, ever, and an
    // op has one job a builder took.
    let Some(_held) = KernelDirs::runner_lock(&jobdir, bosun_control::kernel_runner::RUNNER_WAIT)?
    else {
        return Err(other(format!("job `{id}`: another builder runs it")));
    };
    let taken = dirs.jobs()?.into_iter().flatten().any(|j| {
        j.op == job.op && j.job != job.job && dirs.jobs.join(&j.job).join("runner.claimed").exists()
    });
    if taken {
        return Err(other(format!(
            "op {} already had a build job taken by a builder: one build per op",
            job.op
        )));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(jobdir.join("runner.claimed"))
        .map_err(|e| other(format!("job `{id}` was already taken by a builder ({e})")))?;
    // Under the lock, as the record says now (it may have been ended as
    // abandoned meanwhile).
    match dirs.job(id)? {
        Some(j) if j.status == JobStatus::Running => job = j,
        _ => return Err(other(format!("job `{id}` is no longer running"))),
    }
    // What is built is the lock's, whatever the directory holds: the
    // PKGBUILD made again from it, the patch checked against its digest,
    // the names and version its.
    let made = Job::new(&lock, job.started);
    if (
        made.pkgbase.as_str(),
        made.pkgver.as_str(),
        made.host.as_str(),
    ) != (job.pkgbase.as_str(), job.pkgver.as_str(), job.host.as_str())
    {
        return Err(end_job(
            &jobdir,
            &mut job,
            times.keep_failed,
            format!("job `{id}` does not name what its lock builds"),
        ));
    }
    let checked = bosun_kernel::pkgbuild(&lock)
        .map_err(|e| other(e.to_string()))
        .and_then(|p| write(&jobdir.join("PKGBUILD"), p.as_bytes()))
        .and_then(|()| {
            let patch = bosun_kernel::tree::read_bounded(
                &jobdir.join("cumulative.patch"),
                bosun_kernel::series::MAX_PATCH_BYTES.saturating_mul(64),
            )
            .map_err(other)?;
            if bosun_kernel::b2(&patch) == lock.cumulative.b2 {
                Ok(())
            } else {
                Err(other("cumulative.patch is not the one its lock names"))
            }
        });
    if let Err(e) = checked {
        return Err(end_job(
            &jobdir,
            &mut job,
            times.keep_failed,
            format!("job `{id}`: {e}"),
        ));
    }
    let (inventory, held_on) = match ctl
        .inventory_in_force()
        .and_then(|(inv, _)| Ok((inv, held_on(ctx)?)))
    {
        Ok(x) => x,
        Err(e) => return Err(end_job(&jobdir, &mut job, times.keep_failed, e.to_string())),
    };
    let (candidates, skipped) = bosun_kernel::route(&inventory.hosts, &lock.arch, &held_on);
    for s in &skipped {
        errln!("skipping build host {}: {}", s.host, s.why);
    }
    let run = Run {
        ctl: &ctl,
        op: &jti,
        root: &ws.root,
        dirs: &dirs,
        jobdir: &jobdir,
        patterns: ws.config.scrub_patterns(),
        times,
        cap: cfg.build_cap.clone(),
    };
    // Whatever ends the build, the job ends too (never `running` forever).
    let published = match run.job(&mut job, &lock.arch, &candidates) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(ExitCode::FAILURE),
        Err(e) => return Err(end_job(&jobdir, &mut job, times.keep_failed, e.to_string())),
    };
    // `held` is dropped at the end: whoever waits for the lock to go
    // finds all this said in runner.log.
    if json {
        print_job(&job)?;
    } else {
        outln!(
            "{host}: built on {} as job {}; published to {}:",
            job.build_host,
            job.job,
            dirs.repo.join(&lock.arch).display()
        );
        for e in &published {
            outln!(
                "  {} ({} B, b2 {}…), signed",
                e.filename,
                e.size,
                short(&e.b2)
            );
        }
        outln!(
            "install with `bosun kernel install {host} --as <operator>` (a human's verb; the reminder ladder asks for it)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Ends `job` as failed for `why` (said in runner.log); the error to
/// return.
fn end_job(
    jobdir: &Path,
    job: &mut Job,
    keep_failed: i64,
    why: String,
) -> bosun_control::ControlError {
    errln!("{why}");
    job.end(JobStatus::Failed, why.clone(), now(), keep_failed);
    match save_job(jobdir, job) {
        Ok(()) => other(why),
        Err(e) => e,
    }
}
