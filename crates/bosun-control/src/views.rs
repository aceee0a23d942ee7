//! The read side of the facade: [`Control`] methods that return the wire
//! views of `bosun-api`, assembled here once so that every face (CLI, HTTP
//! API, MCP, dashboard) shows the same thing.

use bosun_api::NextAction;
use bosun_api::requests::RolloutVerb;
use bosun_api::time::{at, at_opt};
use bosun_api::views::fleet::{
    BarView, BlockerKindView, BlockerKindsView, BlockerView, HostView, InventoryView, LastOp,
    PreparedRolloutOp, PreparedRun, RolloutBrief, RolloutRunView, RolloutView, WaveView,
};
use bosun_api::views::ledger::{CheckpointView, LedgerStatusView};
use bosun_api::views::ops::{
    ApprovalView, DecisionView, OpBrief, OpView, PlanView, PlannedHost, PlannedOp, PlannedStep,
    RejectionView, StepView, SubmittedView,
};
use bosun_api::views::overview::{
    AdoptedView, BlockerBrief, HaltView, LeaseView, ProposalBrief, StatusView,
};
use bosun_model::claims::Verdict;
use bosun_model::plan::Actor;
use bosun_model::{Jti, KeyId, OpState, Outcome, Plan};
use bosun_store::{BlockerRow, OpRecord, OpSummary, StepStatus};

use crate::rollout::{Decided, RolloutAsk};
use crate::{Control, Result, now};

/// The most ops an overview lists per state.
pub const OVERVIEW_OPS: usize = 1_000;

impl Control {
    /// The overview: what waits for a human, what runs, what is in force.
    pub fn overview(&self) -> Result<StatusView> {
        let drift = self.drift().unwrap_or_else(|e| vec![e.to_string()]);
        let halt = self.store.halt()?;
        let controller = self.store.lease_holder(now())?;
        let pending = self
            .store
            .list_ops(Some(OpState::PendingApproval), OVERVIEW_OPS)?;
        let attention = self
            .store
            .list_ops(Some(OpState::NeedsAttention), OVERVIEW_OPS)?;
        let mut next = Vec::new();
        if !drift.is_empty() {
            next.push(NextAction::Adopt);
        }
        if halt.is_some() {
            next.push(NextAction::Resume);
        }
        let queue_depth = self.store.depth()?;
        if controller.is_none() && queue_depth > 0 {
            next.push(NextAction::StartController);
        }
        next.extend(pending.iter().map(|o| NextAction::Approve {
            op: o.jti.to_string(),
        }));
        next.extend(attention.iter().map(|o| NextAction::ShowOp {
            op: o.jti.to_string(),
        }));
        let active_rollouts = self
            .store
            .rollouts()?
            .iter()
            .filter_map(|r| self.rollout_status(&r.id).ok())
            .filter(|st| st.phase == crate::rollout::Phase::Active)
            .map(|st| RolloutBrief {
                id: st.id,
                summary: st.summary,
                next: st.next,
            })
            .collect();
        Ok(StatusView {
            workspace: self.ws.config.name.to_string(),
            halt: halt.map(|h| HaltView {
                why: h.why,
                by: h.by,
                since: at(h.since),
            }),
            controller: controller.map(|l| LeaseView {
                holder: l.holder,
                token: l.token,
                expires_at: at(l.expires_at),
            }),
            queue_depth,
            pending_approval: pending.iter().map(op_brief).collect(),
            needs_attention: attention.iter().map(op_brief).collect(),
            open_proposals: self
                .store
                .proposals()?
                .into_iter()
                .map(|p| ProposalBrief {
                    id: p.id.to_string(),
                    proposer: p.proposer.to_string(),
                    items: p.items.len(),
                })
                .collect(),
            active_blockers: self
                .store
                .blockers(false)?
                .into_iter()
                .map(|b| BlockerBrief {
                    id: b.id,
                    kind: b.kind,
                    subject: b.subject,
                })
                .collect(),
            active_rollouts,
            adopted: self
                .store
                .adopted_all()?
                .into_iter()
                .map(|a| AdoptedView {
                    subject: a.subject,
                    digest: a.digest.to_string(),
                    at: at(a.adopted_at),
                })
                .collect(),
            drift,
            next,
        })
    }

    /// The newest ops (of one state, when given), newest first.
    pub fn op_briefs(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpBrief>> {
        Ok(self
            .store
            .list_ops(state, limit)?
            .iter()
            .map(op_brief)
            .collect())
    }

    /// One op with its decision, approvals, plan and steps; `None` when
    /// no op has this jti.
    pub fn op_view(&self, jti: &Jti) -> Result<Option<OpView>> {
        Ok(self.store.op(jti)?.map(|r| op_view(&r)))
    }

    /// The blockers (`all`: resolved ones too), newest first, each with
    /// what it halts and what ends it.
    pub fn blocker_views(&self, all: bool) -> Result<Vec<BlockerView>> {
        let kinds = self.blocker_kinds().ok();
        Ok(self
            .store
            .blockers(all)?
            .into_iter()
            .map(|b| blocker_view(b, kinds.as_ref()))
            .collect())
    }

    /// One blocker; `None` when there is none with this id.
    pub fn blocker_view(&self, id: u64) -> Result<Option<BlockerView>> {
        let kinds = self.blocker_kinds().ok();
        Ok(self
            .store
            .blocker(id)?
            .map(|b| blocker_view(b, kinds.as_ref())))
    }

    /// The op verb `verb` of rollout `id` would submit now, for `issuer`
    /// to sign (with `issuer`'s next sequence number); or that a promote
    /// would mark the rollout done (a statement to sign). Nothing is
    /// written: an acceptance of an inconclusive bar is recorded only with
    /// what is signed.
    pub fn rollout_prepare(
        &self,
        id: &str,
        verb: RolloutVerb,
        issuer: &KeyId,
        accept_inconclusive: bool,
    ) -> Result<PreparedRun> {
        let gov = self.governed()?;
        let ask = RolloutAsk {
            id,
            verb,
            who: issuer,
            accept_inconclusive,
            start: None,
        };
        let (start, op) = match self.rollout_decide(&gov, &ask)? {
            Decided::Done(f) => (f.start().to_string(), None),
            Decided::Run(n) => (
                n.rollout.start.clone(),
                Some(PreparedRolloutOp {
                    planned: PlannedOp {
                        // Whole, so that the client recomputes the digest
                        // it signs.
                        whole: Some(serde_json::to_value(&n.plan).map_err(|e| {
                            crate::ControlError::Other(format!("encode the plan: {e}"))
                        })?),
                        ..planned_op(
                            &self.ws.config.name,
                            self.ws.config.op_ttl_secs,
                            &n.plan,
                            Some(self.next_seq(issuer)?),
                        )
                    },
                    wave: n.rollout.wave,
                    action: n.rollout.action,
                    version: n.version(),
                    not_in_inventory: n.gone.clone(),
                }),
            ),
        };
        Ok(PreparedRun {
            rollout: id.to_string(),
            verb,
            done: op.is_none(),
            start,
            op,
        })
    }

    /// The inventory in force, with a warning when the file on disk
    /// differs.
    pub fn inventory_view(&self) -> Result<InventoryView> {
        let (inv, warning) = self.inventory_in_force()?;
        Ok(InventoryView {
            hosts: inv.hosts.clone(),
            warning,
        })
    }

    /// The blocker kinds in force and where they come from.
    pub fn blocker_kinds_view(&self) -> Result<BlockerKindsView> {
        let kinds = self.blocker_kinds()?;
        Ok(BlockerKindsView {
            source: if kinds.default {
                "default".into()
            } else {
                bosun_workspace::governed::BLOCKERS_PATH.into()
            },
            kinds: kinds
                .kinds
                .into_iter()
                .map(|k| BlockerKindView {
                    name: k.name,
                    halts: k.halts,
                    scope: k.scope.as_str().into(),
                    description: k.description,
                    owner: k.owner,
                    route: k.route,
                    next: k.next,
                    fallback: k.fallback,
                })
                .collect(),
        })
    }

    /// The latest `limit` inputs intake refused, newest first.
    pub fn rejection_views(&self, limit: usize) -> Result<Vec<RejectionView>> {
        Ok(self
            .store
            .rejections(limit)?
            .into_iter()
            .map(|r| RejectionView {
                at: at(r.at),
                check: r.check,
                message: r.message,
                jti: r.jti,
                iss: r.iss,
                input_digest: r.input_digest.to_string(),
            })
            .collect())
    }

    /// A rollout wave by wave: its ops with how each went, the latest
    /// bars, where it stands and what can be done next.
    pub fn rollout_view(&self, id: &str) -> Result<RolloutView> {
        Ok(rollout_view(self.rollout_status(id)?))
    }

    /// Each of `hosts` with what bosun knows of it: the last op, the
    /// version a bar read, drift, pending approvals, active blockers.
    pub fn host_views(&self, hosts: &[bosun_model::Host]) -> Result<Vec<HostView>> {
        let states: std::collections::BTreeMap<String, bosun_store::HostState> = self
            .store
            .host_states()?
            .into_iter()
            .map(|s| (s.host.clone(), s))
            .collect();
        let blockers = self.store.blockers(false)?;
        Ok(hosts
            .iter()
            .map(|h| {
                let name = h.name.as_str();
                let st = states.get(name).cloned().unwrap_or_default();
                HostView {
                    host: name.to_string(),
                    tags: h.tags.iter().cloned().collect(),
                    arch: (!h.arch.is_empty()).then(|| h.arch.clone()),
                    transport: match h.transport {
                        bosun_model::Transport::Local => "local",
                        bosun_model::Transport::Ssh => "ssh",
                    }
                    .into(),
                    last_op: st.last_op.as_ref().map(|(jti, runbook, state)| LastOp {
                        jti: jti.clone(),
                        runbook: runbook.clone(),
                        state: *state,
                    }),
                    version: (!st.version.is_empty()).then(|| st.version.clone()),
                    drifted: st.drifted_since.is_some(),
                    drifted_since: st.drifted_since.map(at),
                    drift_reason: st.drifted_since.map(|_| st.drift_reason.clone()),
                    pending_approvals: st.pending_approvals,
                    blockers: blockers
                        .iter()
                        .filter(|b| b.subject.split(',').any(|s| s.trim() == name))
                        .map(|b| BlockerBrief {
                            id: b.id,
                            kind: b.kind.clone(),
                            subject: b.subject.clone(),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// The ledger's size and newest checkpoint.
    pub fn ledger_status(&self) -> Result<LedgerStatusView> {
        Ok(LedgerStatusView {
            size: self.store.ledger_size()?,
            checkpoint: self.checkpoint_views()?.pop(),
        })
    }

    /// The signed checkpoints, oldest first.
    pub fn checkpoint_views(&self) -> Result<Vec<CheckpointView>> {
        Ok(self
            .store
            .checkpoints()?
            .into_iter()
            .map(|c| CheckpointView {
                size: c.size,
                root: crate::ledger::b64(&c.root),
                at: at(c.at),
                note: c.note,
            })
            .collect())
    }
}

/// An op as a line.
pub fn op_brief(o: &OpSummary) -> OpBrief {
    OpBrief {
        jti: o.jti.to_string(),
        iss: o.iss.to_string(),
        runbook: o.runbook.clone(),
        targets: o.targets,
        state: o.state,
        decision: crate::intake::decision_word_of(&o.decision).into(),
        created_at: at(o.created_at),
        updated_at: at(o.updated_at),
    }
}

/// What kind of change a plan is: `read-only`, `change` or `destructive`.
pub fn plan_kind(plan: &Plan) -> &'static str {
    match (plan.read_only, plan.destructive) {
        (_, true) => "destructive",
        (true, false) => "read-only",
        (false, false) => "change",
    }
}

/// A plan, host by host.
pub fn plan_view(plan: &Plan) -> PlanView {
    let hosts = plan
        .targets
        .iter()
        .map(|h| PlannedHost {
            host: h.to_string(),
            steps: plan
                .steps
                .iter()
                .filter(|s| &s.host == h)
                .map(|s| PlannedStep {
                    step: s.step.to_string(),
                    command: s.cmd.clone(),
                    idempotent: s.idempotent,
                    actor: match s.actor {
                        Actor::Agent => "agent",
                        Actor::Human => "human",
                        Actor::Both => "both",
                    }
                    .into(),
                    depends_on: s.depends_on.iter().map(|d| d.step.to_string()).collect(),
                    controller: s.controller,
                })
                .collect(),
        })
        .collect();
    PlanView {
        runbook: plan.runbook.to_string(),
        runbook_digest: plan.runbook_digest.to_string(),
        digest: plan.digest().to_string(),
        kind: plan_kind(plan).into(),
        targets: plan.targets.iter().map(|t| t.to_string()).collect(),
        params: plan.params.clone(),
        hosts,
    }
}

/// The policy's verdict on an op, as a view.
pub fn decision_view(d: &bosun_model::Decision) -> DecisionView {
    let (approvals_needed, approver_roles, denied_because) = match &d.outcome {
        Outcome::Auto => (0, Vec::new(), None),
        Outcome::Approvals(req) => (req.m, req.roles.clone(), None),
        Outcome::Deny { reason } => (0, Vec::new(), Some(reason.clone())),
    };
    DecisionView {
        outcome: d.outcome.kind().into(),
        approvals_needed,
        approver_roles,
        denied_because,
        rules: d.policy_ids.clone(),
        reasons: d.reasons.clone(),
        policy_digest: d.policy_digest.to_string(),
    }
}

/// A plan made here for a client to show and sign.
pub fn planned_op(
    ws: &bosun_model::Name,
    ttl_secs: i64,
    plan: &Plan,
    next_seq: Option<u64>,
) -> PlannedOp {
    PlannedOp {
        workspace: ws.to_string(),
        op_ttl_secs: ttl_secs,
        runbook: plan.runbook.to_string(),
        targets: plan.targets.iter().map(ToString::to_string).collect(),
        params: plan.params.clone(),
        check: plan.check,
        plan_digest: plan.digest().to_string(),
        next_seq,
        plan: plan_view(plan),
        whole: None,
    }
}

/// What intake made of a submitted op.
pub fn submitted_view(a: &crate::intake::Accepted) -> SubmittedView {
    let jti = a.jti.to_string();
    let next = if a.state == OpState::PendingApproval {
        vec![NextAction::Approve { op: jti.clone() }]
    } else {
        Vec::new()
    };
    SubmittedView {
        jti,
        state: a.state,
        policy_decision: decision_view(&a.decision),
        held: a.held.clone(),
        next,
    }
}

/// An op with everything a human needs to decide on it.
pub fn op_view(r: &OpRecord) -> OpView {
    let jti = r.summary.jti.to_string();
    let mut next = Vec::new();
    match r.summary.state {
        OpState::PendingApproval => next.push(NextAction::Approve { op: jti.clone() }),
        OpState::NeedsAttention | OpState::Running => {
            for s in r
                .steps
                .iter()
                .filter(|s| matches!(s.status, StepStatus::Unknown | StepStatus::Waiting))
            {
                next.push(NextAction::ReportStep {
                    op: jti.clone(),
                    step: Some(s.step.clone()),
                    host: Some(s.host.clone()),
                });
            }
        }
        _ => {}
    }
    OpView {
        brief: op_brief(&r.summary),
        role: r.role,
        seq: r.claims.seq,
        plan_digest: r.claims.plan_digest.to_string(),
        policy_decision: decision_view(&r.decision),
        approvals: r
            .approvals
            .iter()
            .map(|a| ApprovalView {
                jti: a.claims.jti.to_string(),
                by: a.claims.iss.to_string(),
                role: a.role,
                verdict: match a.claims.verdict {
                    Verdict::Approve => "approve",
                    Verdict::Deny => "deny",
                }
                .into(),
                reason: a.claims.reason.clone(),
                plan_digest: a.claims.plan_digest.to_string(),
                at: at(a.received_at),
            })
            .collect(),
        plan: plan_view(&r.plan),
        steps: r
            .steps
            .iter()
            .map(|s| StepView {
                idx: s.idx,
                step: s.step.clone(),
                host: s.host.clone(),
                status: s.status.as_str().into(),
                exit_code: s.exit_code,
                duration_ms: s.duration_ms,
                output: s.output.clone(),
                started_at: at_opt(s.started_at),
                finished_at: at_opt(s.finished_at),
            })
            .collect(),
        detail: r.detail.clone(),
        next,
    }
}

/// A rollout's status as a view.
pub fn rollout_view(st: crate::rollout::Status) -> RolloutView {
    use crate::rollout::RunStatus;
    let phase = st.phase.as_str().to_string();
    RolloutView {
        id: st.id,
        phase,
        waves: st
            .waves
            .into_iter()
            .map(|(name, hosts)| WaveView { name, hosts })
            .collect(),
        runs: st
            .runs
            .into_iter()
            .map(|(r, s)| {
                let (state, finished_at, why) = match &s {
                    RunStatus::InFlight { state } => (Some(*state), None, None),
                    RunStatus::Passed { finished_at } => (None, Some(at(*finished_at)), None),
                    RunStatus::Halted { why } | RunStatus::Paused { why } => {
                        (None, None, Some(why.clone()))
                    }
                    _ => (None, None, None),
                };
                RolloutRunView {
                    action: r.action.as_str().into(),
                    wave: r.wave,
                    op: r.op,
                    hosts: r.hosts,
                    at: at(r.at),
                    by: r.by,
                    status: s.as_str().into(),
                    state,
                    finished_at,
                    why,
                }
            })
            .collect(),
        bars: st
            .bars
            .into_iter()
            .map(|b| BarView {
                host: b.host,
                bar: b.bar,
                verdict: b.verdict,
                why: b.why,
            })
            .collect(),
        summary: st.summary,
        next: st.next,
    }
}

/// What ends an active blocker: a report of the step for an unknown
/// outcome (resolving one is refused), else resolving it.
pub fn blocker_next(b: &BlockerRow) -> NextAction {
    match (&b.op, b.kind == bosun_store::UNKNOWN_OUTCOME) {
        (Some(op), true) => NextAction::ReportStep {
            op: op.clone(),
            step: None,
            host: Some(b.subject.clone()),
        },
        _ => NextAction::ResolveBlocker { id: b.id },
    }
}

/// A blocker with what it halts (from its kind in force) and what ends it.
pub fn blocker_view(b: BlockerRow, kinds: Option<&bosun_fleet::blockers::Kinds>) -> BlockerView {
    let kind = kinds.and_then(|k| k.kinds.iter().find(|k| k.name == b.kind));
    let resolved = b.resolved_at.is_some();
    let route = kind
        .map(|k| k.next_for(b.id, &b.subject))
        .unwrap_or_default();
    let some = |s: String| (!s.is_empty()).then_some(s);
    BlockerView {
        id: b.id,
        halts: kind.map(|k| k.halts.clone()).unwrap_or_default(),
        next: if resolved {
            Vec::new()
        } else {
            vec![blocker_next(&b)]
        },
        kind: b.kind,
        subject: b.subject,
        reason: b.reason,
        owner: b.owner,
        filed_by: b.filed_by,
        op: b.op,
        since: at(b.since),
        snoozed_until: at_opt(b.snoozed_until),
        resolved_at: b.resolved_at.map(at),
        resolved_by: some(b.resolved_by),
        resolution: some(b.resolution),
        route,
    }
}
