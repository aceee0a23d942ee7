//! The kernel build as an op (issue 17): what `kernel build <host>`
//! submits ([`Control::build_op`]: runbook `kernel-build` with the host and
//! the digest of the lock an approved promote wrote), and what the op's
//! one controller step may do once it runs: prove it is that op's step
//! ([`Control::build_step_op`]) and file the blockers a failure calls for
//! as the controller, naming the op ([`Control::file_step_blocker`]), as
//! a failed bar does. The step (`bosun kernel build --step`, on the
//! control host under the controller's exactly-once record) starts a
//! builder beside the controller (`--run-job`), which the job's op admits
//! ([`Control::build_job_op`]) and which routes, wakes, pre-flights,
//! builds under the cap, signs and publishes.

use bosun_api::views::{KernelJobView, KernelJobsView};
use bosun_model::{Jti, OpState};
use bosun_store::NewBlocker;

use crate::kernel::PROMOTE_RUNBOOK;
use crate::{Control, ControlError, Result, now};

/// The runbook a build op runs.
pub const BUILD_RUNBOOK: &str = "kernel-build";

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

impl Control {
    /// The newest succeeded `kernel-promote` op of `host` whose lock
    /// digest (the whole `manifest.lock`'s BLAKE2b-512) is `b2`, if any:
    /// never build what no one approved.
    pub fn approved_promote(&self, host: &str, b2: &str) -> Result<Option<Jti>> {
        for s in self.ops(Some(OpState::Succeeded), 100_000)? {
            if s.runbook != PROMOTE_RUNBOOK {
                continue;
            }
            let Some(op) = self.op_record(&s.jti)? else {
                continue;
            };
            let p = &op.plan.params;
            if p.get("host").map(String::as_str) == Some(host)
                && p.get("lock").map(String::as_str) == Some(b2)
            {
                return Ok(Some(s.jti));
            }
        }
        Ok(None)
    }

    /// `host`'s build op: runbook `kernel-build` with `host` and `lock`,
    /// the digest of the lock in `kernel/<host>/` (checked against what
    /// promoting gives now), which a succeeded promote op must name.
    pub fn build_op(&self, host: &str) -> Result<bosun_api::views::KernelOpView> {
        let promote = || bosun_api::NextAction::KernelPromote {
            host: host.to_string(),
        };
        let (_, _, text) = crate::kernel::read_lock(self, host).map_err(|e| {
            crate::hinted(
                format!("{e}\n  an approved promote op writes kernel/{host}/; then build"),
                promote(),
            )
        })?;
        let lock = bosun_kernel::b2(text.as_bytes());
        if self.approved_promote(host, &lock)?.is_none() {
            return Err(crate::hinted(
                format!(
                    "{host}: no promote op approved this lock (b2sum {}…): promote it as an op, approved, then build",
                    &lock[..16]
                ),
                promote(),
            ));
        }
        let all = [("host", host), ("lock", lock.as_str())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.kernel_op(BUILD_RUNBOOK, host, all, &["host", "lock"])
    }

    /// The running `kernel-build` op `op` names (a step's `BOSUN_OP`), if
    /// it builds `host`'s lock `lock`: what lets a process act as that
    /// op's step. Anything else is refused, saying why.
    pub fn build_step_op(&self, op: &str, host: &str, lock: &str) -> Result<Jti> {
        self.build_op_in(op, host, lock, &[OpState::Running])
    }

    /// The `kernel-build` op a job records, if it builds `host`'s lock
    /// `lock` and is running (its step starts the builder) or succeeded
    /// (its step did): what lets the builder run that job.
    pub fn build_job_op(&self, op: &str, host: &str, lock: &str) -> Result<Jti> {
        self.build_op_in(op, host, lock, &[OpState::Running, OpState::Succeeded])
    }

    fn build_op_in(&self, op: &str, host: &str, lock: &str, states: &[OpState]) -> Result<Jti> {
        let refuse = |why: &str| {
            other(format!(
                "a build starts only from a kernel-build op ({why}): submit the build op (`kernel build {host} --as <you>`)"
            ))
        };
        let jti = Jti::parse(op).map_err(|_| refuse("BOSUN_OP or the job names no op id"))?;
        let rec = self.op_record(&jti)?.ok_or_else(|| refuse("no such op"))?;
        if rec.summary.runbook != BUILD_RUNBOOK {
            return Err(refuse("the op is of another runbook"));
        }
        if !states.contains(&rec.summary.state) {
            let want: Vec<String> = states.iter().map(ToString::to_string).collect();
            return Err(refuse(&format!(
                "its op is {}, not {}",
                rec.summary.state,
                want.join(" or ")
            )));
        }
        let p = &rec.plan.params;
        if p.get("host").map(String::as_str) != Some(host)
            || p.get("lock").map(String::as_str) != Some(lock)
        {
            return Err(refuse("the op names another host or lock"));
        }
        // Its target is the host it builds for: what the policy, a key's
        // scope and host blockers judged is the host built for.
        if rec.plan.targets.len() != 1 || rec.plan.targets[0].as_str() != host {
            return Err(refuse("the op's target is not the host it builds for"));
        }
        Ok(jti)
    }

    /// The build jobs kept in the state directory, newest first, and the
    /// records that could not be read.
    pub fn kernel_jobs_view(&self) -> Result<KernelJobsView> {
        let dirs = crate::kernel::KernelDirs::of(&self.ws);
        let mut out = KernelJobsView {
            jobs: Vec::new(),
            problems: Vec::new(),
            prune_paused_since: dirs.paused_since(),
        };
        for j in dirs.jobs()? {
            match j {
                Ok(j) => out.jobs.push(KernelJobView {
                    dir: dirs.jobs.join(&j.job).display().to_string(),
                    job: j.job,
                    host: j.host,
                    arch: j.arch,
                    build_host: j.build_host,
                    status: j.status.as_str().into(),
                    version: format!("{}-1", j.pkgver),
                    op: j.op,
                    started: j.started,
                    ended: j.ended,
                    keep_until: (j.keep_until != i64::MAX).then_some(j.keep_until),
                    reason: j.reason,
                    packages: j.packages,
                }),
                Err(e) => out.problems.push(e),
            }
        }
        Ok(out)
    }

    /// Files a `kind` blocker on `subject` as the controller, for the
    /// running op `op` (a build step's failure: `build-fail`,
    /// `host-changed`, `signing-fail`), as a failed bar files
    /// `regression`. Filed once per kind, subject and op.
    pub fn file_step_blocker(
        &self,
        op: &Jti,
        kind: &str,
        subject: &str,
        reason: String,
    ) -> Result<u64> {
        let kinds = self.blocker_kinds()?;
        self.file_blocker(
            &kinds,
            NewBlocker {
                kind: kind.into(),
                subject: subject.into(),
                reason,
                owner: String::new(),
                filed_by: "controller".into(),
                op: Some(op.to_string()),
                at: now(),
            },
        )
    }
}
