//! Step reports: how a human (or, for `both` steps, an agent) says a step
//! without a command went — the seed's `ontoref step report`. A report is a
//! signed envelope; it counts only for a step the run is waiting on, from
//! an identity the step's actor allows (agents never report `human` steps).
//! Recording it puts the op back on the queue, so the controller resumes.

use bosun_api::Check;
use bosun_model::{Actor, Jti, KeyId, Name, OpState, ReportStatus, StepReportClaims};
use bosun_sign::Sign;
use bosun_store::{StepResult, StepStatus, StoreError};

use crate::approve::verify_stamped;
use crate::governed::Governed;
use crate::intake::{Rejected, reject};
use crate::{Control, Result};

pub use bosun_api::views::ReportOutcome;

impl Control {
    /// Signs a step report.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_step_report(
        &self,
        key: &dyn Sign,
        iss: &KeyId,
        op: &Jti,
        step: &Name,
        host: Option<Name>,
        status: ReportStatus,
        note: Option<String>,
        now: i64,
    ) -> Result<String> {
        self.signing(key, iss, now)
            .step_report(op, step, host, status, note)
    }

    /// Takes a step report envelope. Refusals are recorded and returned as
    /// the inner error.
    pub fn accept_step_report(
        &self,
        gov: &Governed,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<ReportOutcome, Rejected>> {
        let r = self.check_report(gov, envelope, now)?;
        if let Err(rej) = &r {
            self.record_refusal(rej, envelope, now)?;
        }
        Ok(r)
    }

    fn check_report(
        &self,
        gov: &Governed,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<ReportOutcome, Rejected>> {
        let (c, role): (StepReportClaims, _) =
            match verify_stamped(&gov.keys, &self.ws.config.name, envelope, now) {
                Ok(v) => v,
                Err(r) => return Ok(Err(r)),
            };
        let jti = Some(c.op.to_string());
        let Some(op) = self.store.op(&c.op)? else {
            return Ok(Err(reject(
                Check::Op,
                format!("no op with jti `{}`", c.op),
                jti,
            )));
        };
        // A running op waits for reports of its human steps; an op that
        // needs attention waits for a human to say how each step whose
        // outcome is unknown really ended (that lifts the hold on its host).
        let resolving = op.summary.state == OpState::NeedsAttention;
        let wanted = if resolving {
            StepStatus::Unknown
        } else {
            StepStatus::Waiting
        };
        if op.summary.state != OpState::Running && !resolving {
            return Ok(Err(reject(
                Check::State,
                format!(
                    "op `{}` is {}: only a running op (at a human step) or one that needs attention takes step reports",
                    c.op, op.summary.state
                ),
                jti,
            )));
        }
        let waiting: Vec<(usize, &bosun_model::PlanStep)> = op
            .plan
            .steps
            .iter()
            .enumerate()
            .filter(|(i, ps)| {
                ps.step == c.step
                    && c.host.as_ref().is_none_or(|h| &ps.host == h)
                    && op
                        .steps
                        .iter()
                        .any(|r| r.idx as usize == *i && r.status == wanted)
            })
            .collect();
        let Some((_, first)) = waiting.first() else {
            let now_waiting: Vec<String> = op
                .steps
                .iter()
                .filter(|r| r.status == wanted)
                .map(|r| format!("{} on {}", r.step, r.host))
                .collect();
            return Ok(Err(reject(
                Check::Step,
                format!(
                    "step `{}`{} is not waiting for a report; waiting: {}",
                    c.step,
                    c.host
                        .as_ref()
                        .map(|h| format!(" on `{h}`"))
                        .unwrap_or_default(),
                    if now_waiting.is_empty() {
                        "nothing".to_string()
                    } else {
                        now_waiting.join(", ")
                    }
                ),
                jti,
            )));
        };
        let allowed = match first.actor {
            _ if resolving => role.is_human(),
            Actor::Human => role.is_human(),
            Actor::Both => role.is_human() || role == bosun_model::Role::Agent,
            Actor::Agent => false,
        };
        if !allowed {
            return Ok(Err(reject(
                Check::ReporterRole,
                format!(
                    "`{}` is an {role}; step `{}` is a {} step: only a human reports it",
                    c.iss,
                    c.step,
                    match first.actor {
                        bosun_model::plan::Actor::Agent => "agent",
                        bosun_model::plan::Actor::Human => "human",
                        bosun_model::plan::Actor::Both => "human-or-agent",
                    }
                ),
                jti,
            )));
        }
        let mut hosts = Vec::new();
        for (i, ps) in &waiting {
            let result = StepResult {
                idx: u32::try_from(*i).unwrap_or(u32::MAX),
                step: ps.step.to_string(),
                host: ps.host.to_string(),
                status: match c.status {
                    ReportStatus::Pass => StepStatus::Succeeded,
                    ReportStatus::Fail => StepStatus::Failed,
                },
                exit_code: None,
                duration_ms: 0,
                output: format!(
                    "reported {} by {} ({role}){}",
                    match c.status {
                        ReportStatus::Pass => "pass",
                        ReportStatus::Fail => "fail",
                    },
                    c.iss,
                    c.note
                        .as_ref()
                        .map(|n| format!(": {}", crate::exec::scrub(n)))
                        .unwrap_or_default()
                ),
                started_at: op
                    .steps
                    .iter()
                    .find(|r| r.idx as usize == *i)
                    .map_or(now, |r| r.started_at),
                finished_at: now,
            };
            let data = serde_json::json!({"by": c.iss, "role": role, "status": c.status, "host": ps.host, "report": c.jti});
            match self.store.report_step(&c.op, &result, &data) {
                Ok(()) => hosts.push(ps.host.to_string()),
                Err(StoreError::Conflict(m)) => return Ok(Err(reject(Check::Step, m, jti))),
                Err(e) => return Err(e.into()),
            }
        }
        let (mut resumed, mut still_unknown) = (false, Vec::new());
        if resolving && let Some(now_op) = self.store.op(&c.op)? {
            resumed = now_op.summary.state == OpState::Running;
            still_unknown = (now_op.steps.iter())
                .filter(|r| r.status == StepStatus::Unknown)
                .map(|r| format!("{} on {}", r.step, r.host))
                .collect();
        }
        Ok(Ok(ReportOutcome {
            jti: c.op.to_string(),
            step: c.step.to_string(),
            hosts,
            status: c.status,
            resumed,
            still_unknown,
        }))
    }
}
