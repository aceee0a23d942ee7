//! Admission of one op's run: the dispatch checks (the signed plan, its
//! approvals and expiry, the hosts where the plan says, the adopted ssh
//! configs), the holds (active blockers, a rollout that no longer wants
//! the op) and `start_run`, which takes the target locks. Only an op that
//! passes all of them reaches [`super::run`]'s scheduler.

use bosun_api::Check;
use bosun_model::{Jti, OpState};
use bosun_store::{Delivery, Lease, OpRecord, RunStart, StepResult};

use super::run::{Run, report};
use super::{Controller, Progress, RunReport};
use crate::{ControlError, Result, now};

/// Where an admission or a resumption leaves the run.
pub(super) enum Next<T> {
    /// It goes on.
    Go(T),
    /// It ends (or waits) here, as reported.
    Stop(RunReport),
}

/// What admission hands on: the op, its hosts and the results the store
/// already holds.
pub(super) struct Admitted {
    pub(super) op: OpRecord,
    pub(super) hosts: bosun_workspace::Inventory,
    pub(super) done: Vec<StepResult>,
}

impl Controller {
    /// Ends an op that must not run as failed, with `detail` (its run
    /// starts and ends in the store, with nothing run), once its hosts are
    /// free.
    fn fail_unrun(&self, lease: &Lease, jti: &Jti, detail: String) -> Result<RunReport> {
        let store = &self.ctl.store;
        match store.start_run(lease, jti, now())? {
            RunStart::Started { .. } => {
                store.finish_run(lease, jti, OpState::Failed, &detail, now())?;
                Ok(report(jti, OpState::Failed, detail))
            }
            RunStart::Locked { host, by } => Ok(report(
                jti,
                OpState::Approved,
                format!("waiting: host `{host}` is locked by op {by}"),
            )),
            RunStart::AlreadyEnded(s) => Ok(report(jti, s, "already ended".into())),
        }
    }
}

impl Run<'_> {
    /// Checks that the op may (still) run and starts its run in the store.
    /// The store is not trusted blindly: the plan must be the one that was
    /// signed; a fresh dispatch also needs approvals still valid and every
    /// host where the plan says it is.
    pub(super) fn admit(
        c: &Controller,
        lease: &Lease,
        d: &Delivery,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Next<Admitted>> {
        let store = &c.ctl.store;
        let jti = &d.jti;
        let Some(op) = store.op(jti)? else {
            return Err(ControlError::Other(format!(
                "queued op `{jti}` is not in the store"
            )));
        };
        let mut hosts = bosun_workspace::Inventory::clone(&*c.inventory(progress)?);
        if let Some(stop) = Self::refused(c, lease, &op, &mut hosts)? {
            return Ok(Next::Stop(stop));
        }
        if op.summary.state == OpState::Approved
            && let Some(stop) = Self::held(c, lease, &op)?
        {
            return Ok(Next::Stop(stop));
        }
        let done = match store.start_run(lease, jti, now())? {
            RunStart::Started { steps } => steps,
            RunStart::Locked { host, by } => {
                let why = match store.op(&by)? {
                    Some(o) if o.summary.state == OpState::NeedsAttention => format!(
                        "held: host `{host}` needs attention after op {by} (a step's outcome is unknown); once checked, report how that step ended"
                    ),
                    _ => format!("waiting: host `{host}` is locked by op {by}"),
                };
                return Ok(Next::Stop(report(jti, OpState::Approved, why)));
            }
            RunStart::AlreadyEnded(s) => {
                return Ok(Next::Stop(report(jti, s, "already ended".into())));
            }
        };
        Ok(Next::Go(Admitted { op, hosts, done }))
    }

    /// The signed-plan checks: digest, approvals still valid, expiry, hosts
    /// where the plan says, adopted ssh configs. `Some` ends the run here.
    fn refused(
        c: &Controller,
        lease: &Lease,
        op: &OpRecord,
        hosts: &mut bosun_workspace::Inventory,
    ) -> Result<Option<RunReport>> {
        let jti = &op.summary.jti;
        let (digest, mut refusal) = match crate::dispatch::check_digest(op) {
            Ok(d) => (Some(d), None),
            Err(r) => (None, Some(r)),
        };
        if let Some(digest) = digest
            .as_ref()
            .filter(|_| op.summary.state == OpState::Approved)
        {
            // The signer's key is still the adopted one (an adoption that
            // removed it stops what it queued).
            let keys = c.ctl.adopted_keys()?;
            if let Err(r) = crate::dispatch::check_signer(op, &keys) {
                return c.fail_unrun(lease, jti, r.text()).map(Some);
            }
            // Only an op that waited for humans has approvals to lapse; one
            // that runs alone must start before it expires.
            let validity = match op.decision.outcome {
                bosun_model::Outcome::Approvals(_) => {
                    c.ctl.governed()?.policy.approval_validity_secs()
                }
                _ => i64::MAX,
            };
            if let Err(r) = crate::dispatch::check_approvals(op, digest, now(), validity, &keys) {
                let text = r.text();
                return match c.ctl.store.lapse_approvals(lease, jti, &text, now()) {
                    Ok(()) => Ok(Some(report(jti, OpState::PendingApproval, text))),
                    Err(bosun_store::StoreError::WrongState { state, .. }) => {
                        Ok(Some(report(jti, state, "already moved on".into())))
                    }
                    Err(e) => Err(e.into()),
                };
            }
            refusal = crate::dispatch::check_expiry(op, now()).err();
        }
        // Every (re)dispatch, a resumed run's too: the hosts are where the
        // plan says, and ssh reads only the adopted ssh_config, copied.
        if refusal.is_none() && digest.is_some() {
            refusal = crate::dispatch::check_hosts(&op.plan, hosts).err();
        }
        if refusal.is_none()
            && let Err(message) = c.ctl.adopted_ssh_configs(hosts)?
        {
            refusal = Some(crate::dispatch::Refusal {
                check: Check::Inventory,
                message,
            });
        }
        match refusal {
            Some(r) => c.fail_unrun(lease, jti, r.text()).map(Some),
            None => Ok(None),
        }
    }

    /// What holds a fresh dispatch back: active blockers of the kinds that
    /// hold it (a run already under way is not held), or a rollout that no
    /// longer wants it (aborted, rolled back, from an earlier start).
    fn held(c: &Controller, lease: &Lease, op: &OpRecord) -> Result<Option<RunReport>> {
        let jti = &op.summary.jti;
        match c.ctl.holds(None, &op.plan) {
            Ok(holds) => {
                if let Some(h) = holds.first() {
                    let why = format!("held: {}", h.text());
                    return Ok(Some(report(jti, OpState::Approved, why)));
                }
            }
            // Fail closed, and keep serving: the op waits until the
            // blockers can be judged again.
            Err(e) => {
                let why = format!("held: the active blockers cannot be judged ({e})");
                return Ok(Some(report(jti, OpState::Approved, why)));
            }
        }
        if let Some(why) = c.ctl.rollout_refuses(&op.claims)? {
            let detail = format!("{why}: the op did not run");
            return c.fail_unrun(lease, jti, detail).map(Some);
        }
        Ok(None)
    }
}
