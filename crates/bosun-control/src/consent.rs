//! What a human consents to: everything about an op that an approver must
//! be able to read before signing — its stored plan (the one an approval
//! binds to), whether its runbook is the adopted version, the decision
//! and the rules behind it, the approvals so far (and which of them no
//! longer count), the active blockers that hold it and the budgets its
//! issuer draws on. A view only: the faces render it (`bosun approve`,
//! `bosun ops show`; MCP and the dashboard later), and nothing here
//! changes state.

use bosun_model::{Digest, Jti, KeyId, OpState, Outcome};
use bosun_policy::tally;
use bosun_store::OpRecord;

use crate::blockers::{Hold, holding};
use crate::{Control, ControlError, Result};

/// How the op's runbook stands against what is adopted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookStanding {
    /// The plan was made from the runbook version in force.
    Adopted,
    /// The plan was made from a version other than the one in force now
    /// (adopted since, or the op was planned from files on disk).
    NotInForce {
        /// The digest of the definition in force now, if any is.
        in_force: Option<Digest>,
    },
    /// The runbook was never adopted: such an op never runs without a human.
    NeverAdopted,
}

/// One approval or denial that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voided {
    /// Who signed it.
    pub by: KeyId,
    /// Why it does not count.
    pub why: String,
}

/// The approvals an op has and needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApprovalsSoFar {
    /// Distinct identities whose approval counts now.
    pub valid: Vec<KeyId>,
    /// Approvals and denials that do not count (lapsed, for another plan…).
    pub void: Vec<Voided>,
    /// Who denied it, if a valid denial was recorded.
    pub denied_by: Option<KeyId>,
}

/// A keeper budget that the op's issuer draws on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUse {
    /// Hosts an issuer of this role may change within the window.
    pub max_hosts: u64,
    /// The window, in seconds.
    pub per_secs: i64,
    /// Hosts the issuer's changing ops (not denied; pending ones count)
    /// touched within the window, as of now.
    pub used: u64,
}

/// Everything an approver reads before signing (see the module docs).
#[derive(Debug, Clone)]
pub struct Consent {
    /// The op as stored: its plan is what an approval binds to.
    pub op: OpRecord,
    /// The plan's digest (what an approval signs).
    pub plan_digest: Digest,
    /// How the runbook stands against what is adopted now.
    pub runbook: RunbookStanding,
    /// Approvals and denials so far, as the tally counts them now.
    pub approvals: ApprovalsSoFar,
    /// Active blockers that hold the op (only while it waits to run).
    pub holds: Vec<Hold>,
    /// Budgets of the issuer's role (only while it waits for approval).
    pub budgets: Vec<BudgetUse>,
}

impl Control {
    /// What an approver of op `jti` reads before signing, as of `now`.
    pub fn consent(&self, jti: &Jti, now: i64) -> Result<Consent> {
        let op = self
            .store
            .op(jti)?
            .ok_or_else(|| ControlError::Other(format!("no op with jti `{jti}`")))?;
        let gov = self.governed()?;
        let plan_digest = op.plan.digest();
        let runbook = match gov.runbooks.get(op.plan.runbook.as_str()) {
            Some(r) if r.adopted && r.runbook.digest() == op.plan.runbook_digest => {
                RunbookStanding::Adopted
            }
            Some(r) if r.adopted => RunbookStanding::NotInForce {
                in_force: Some(r.runbook.digest()),
            },
            _ if self
                .store
                .adopted(&crate::governed::runbook_subject(op.plan.runbook.as_str()))?
                .is_some() =>
            {
                RunbookStanding::NotInForce { in_force: None }
            }
            _ => RunbookStanding::NeverAdopted,
        };
        let approvals = match &op.decision.outcome {
            Outcome::Approvals(req) => {
                let t = tally(
                    req,
                    &op.claims.iss,
                    &plan_digest,
                    &crate::approve::approval_records(&op),
                    now,
                    gov.policy.approval_validity_secs(),
                );
                ApprovalsSoFar {
                    valid: t.valid,
                    void: t
                        .void
                        .into_iter()
                        .map(|(by, why)| Voided { by, why })
                        .collect(),
                    denied_by: t.denied_by.map(|(by, _)| by),
                }
            }
            _ => ApprovalsSoFar::default(),
        };
        let waiting = matches!(
            op.summary.state,
            OpState::PendingApproval | OpState::Approved | OpState::Submitted
        );
        let holds = if waiting {
            holding(&gov.blocker_kinds, &self.store.blockers(false)?, &op.plan)
        } else {
            Vec::new()
        };
        let mut budgets = Vec::new();
        if op.summary.state == OpState::PendingApproval && !op.plan.read_only {
            for b in gov.policy.budgets().iter().filter(|b| b.role == op.role) {
                let used = self
                    .store
                    .hosts_changed_since(&op.claims.iss, now.saturating_sub(b.per_secs))?;
                budgets.push(BudgetUse {
                    max_hosts: b.max_hosts,
                    per_secs: b.per_secs,
                    used,
                });
            }
        }
        Ok(Consent {
            op,
            plan_digest,
            runbook,
            approvals,
            holds,
            budgets,
        })
    }
}

impl Consent {
    /// As the API answers it (and the CLI renders it, in both modes).
    pub fn view(&self) -> bosun_api::views::ConsentView {
        use bosun_api::views::consent::{BudgetView, ConsentView, VoidedView};
        let (standing, in_force) = match &self.runbook {
            RunbookStanding::Adopted => ("adopted", None),
            RunbookStanding::NotInForce { in_force } => {
                ("not_in_force", in_force.as_ref().map(ToString::to_string))
            }
            RunbookStanding::NeverAdopted => ("never_adopted", None),
        };
        ConsentView {
            op: crate::views::op_view(&self.op),
            runbook_standing: standing.into(),
            runbook_in_force: in_force,
            approvals_valid: self
                .approvals
                .valid
                .iter()
                .map(ToString::to_string)
                .collect(),
            approvals_void: self
                .approvals
                .void
                .iter()
                .map(|v| VoidedView {
                    by: v.by.to_string(),
                    why: v.why.clone(),
                })
                .collect(),
            denied_by: self.approvals.denied_by.as_ref().map(ToString::to_string),
            holds: self.holds.iter().map(crate::blockers::Hold::text).collect(),
            budgets: self
                .budgets
                .iter()
                .map(|b| BudgetView {
                    max_hosts: b.max_hosts,
                    per_secs: b.per_secs,
                    used: b.used,
                })
                .collect(),
        }
    }
}
