//! The kernel build's builders, as the state directory keeps them (issue
//! 17): a build op's step makes a job and hands it to a builder (`bosun
//! kernel build --run-job`) that runs beside the controller. In the job's
//! directory, `runner.lock` is held by the live builder for as long as it
//! runs, and `runner.claimed` (made new) says a builder took the job, so
//! that none takes it twice. What tells a dead builder from a live one
//! ([`KernelDirs::end_abandoned`]) and what serialises the writers of
//! `builders.toml` ([`KernelDirs::with_builders`]) live here.

use std::time::Duration;

use bosun_kernel::{Builders, Job, JobStatus};

use crate::kernel::KernelDirs;
use crate::{ControlError, Result};

/// How long a builder waits for its job's `runner.lock` (held for a
/// moment by whoever looks whether it is alive).
pub const RUNNER_WAIT: Duration = Duration::from_secs(3);

/// How long a job may wait for a builder to take it before it counts as
/// abandoned.
pub const UNTAKEN_SECS: i64 = 300;

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

impl KernelDirs {
    /// The job `id` as its record says now, if it has one that parses.
    pub fn job(&self, id: &str) -> Result<Option<Job>> {
        Ok(self.jobs()?.into_iter().flatten().find(|j| j.job == id))
    }

    /// Takes job `dir`'s `runner.lock`, waiting at most `wait`: `None`
    /// while a builder holds it.
    pub fn runner_lock(dir: &std::path::Path, wait: Duration) -> Result<Option<std::fs::File>> {
        let p = dir.join("runner.lock");
        bosun_kernel::publish::lock_file(&p, wait)
            .map_err(|e| other(format!("{}: {e}", p.display())))
    }

    /// Ends as failed each job left `running` whose builder is gone: one a
    /// builder took (`runner.claimed`) whose `runner.lock` nobody holds
    /// now (the builder was killed, the control host went down), or one no
    /// builder took within [`UNTAKEN_SECS`] of its start. The decision is
    /// made holding the lock and re-reading the record, so a builder that
    /// ends its job meanwhile is never overwritten. Kept `keep_failed`
    /// like any failed build, so prune can take it. The jobs ended, with
    /// why.
    pub fn end_abandoned(&self, keep_failed: i64, now: i64) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for j in self.jobs()?.into_iter().flatten() {
            if j.status != JobStatus::Running {
                continue;
            }
            let dir = self.jobs.join(&j.job);
            let claimed = dir.join("runner.claimed").exists();
            if !claimed && now.saturating_sub(j.started) < UNTAKEN_SECS {
                continue;
            }
            let Some(_held) = Self::runner_lock(&dir, Duration::ZERO)? else {
                continue;
            };
            let Some(mut j) = self.job(&j.job)? else {
                continue;
            };
            if j.status != JobStatus::Running {
                continue;
            }
            let why = if claimed {
                "abandoned: its builder is gone (killed, or the control host went down)"
            } else {
                "abandoned: no builder took it"
            };
            j.end(JobStatus::Failed, why.into(), now, keep_failed);
            crate::kernel_acts::save_job(&dir, &j)?;
            out.push((j.job.clone(), why.to_string()));
        }
        Ok(out)
    }

    /// Reads `builders.toml`, lets `f` change it and writes it back, under
    /// `builders.lock`: concurrent builders and the housekeeping never
    /// lose each other's changes.
    pub fn with_builders<T>(&self, f: impl FnOnce(&mut Builders) -> T) -> Result<T> {
        std::fs::create_dir_all(&self.base).map_err(|e| other(e.to_string()))?;
        let p = self.base.join("builders.lock");
        let _held = bosun_kernel::publish::lock_file(&p, Duration::from_secs(30))
            .map_err(|e| other(format!("{}: {e}", p.display())))?
            .ok_or_else(|| other(format!("{}: held for 30 s", p.display())))?;
        let mut b = self.builders()?;
        let t = f(&mut b);
        self.save_builders(&b)?;
        Ok(t)
    }
}
