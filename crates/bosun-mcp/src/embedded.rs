//! [`Embedded`]: the [`Core`] of a workspace opened in this process (the
//! embedded mode every CLI verb without a daemon uses), signing as one
//! agent whose key is in the key directory.
//!
//! In embedded mode the agent's process can write the database itself, so
//! the tools are its polite interface, not a wall (DESIGN §3a: the daemon
//! under its own Unix user is the wall; its `/mcp` runs an `Embedded` per
//! agent inside the daemon, with the agent keys the daemon holds). What
//! the tools do hold to: the
//! server signs only as the agent it was started for, whose adopted role
//! is `agent`, and it never loads another key.

use std::sync::Mutex;

use bosun_api::views::fleet::{BlockerView, HostView, RolloutView};
use bosun_api::views::ops::{OpBrief, OpView};
use bosun_api::views::{PlannedOp, ReportOutcome, RunbookEntry};
use bosun_api::{Check, NextAction};
use bosun_control::{Control, ControlError, client, now};
use bosun_model::{Act, KeyId, Name, OpState, Role};
use bosun_sign::{KeyDir, Signer};

use crate::core::{Core, Fault, Halted, PlanRequest, StepReport, Submitted};

/// Why the server would not start for an identity.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The name is not a key id.
    #[error("`{given}` is not a key name: {source}")]
    BadName {
        /// What was given.
        given: String,
        /// Why it is not one.
        source: bosun_model::IdError,
    },
    /// The key's private half could not be had, or the workspace could
    /// not be read.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The identity's adopted role is not `agent`: the MCP server speaks
    /// for agents only, never with an operator's (or the controller's)
    /// key.
    #[error(
        "`{name}` is an {role} in the adopted key registry: the MCP server signs only as an agent (a key whose adopted role is `agent`); start it with an agent's key"
    )]
    NotAnAgent {
        /// The key's name.
        name: KeyId,
        /// Its adopted role.
        role: Role,
    },
}

/// A workspace opened in this process, and the agent that signs.
pub struct Embedded {
    ctl: Control,
    agent: KeyId,
    /// The agent's key. Held under a lock so that one submission at a
    /// time takes the next sequence number.
    key: Mutex<Signer>,
}

impl Embedded {
    /// Starts for `agent`: loads its private key from `keys`, proves it
    /// signs as that key of the adopted registry, and refuses unless the
    /// adopted role is [`Role::Agent`].
    pub fn start(ctl: Control, keys: &KeyDir, agent: &str) -> Result<Embedded, StartError> {
        let id = KeyId::parse(agent).map_err(|source| StartError::BadName {
            given: agent.to_string(),
            source,
        })?;
        let key = client::load_secret(keys, &id)?;
        let gov = ctl.governed()?;
        let role = ctl.prove_signer(&gov, &key, &id)?;
        if role != Role::Agent {
            return Err(StartError::NotAnAgent { name: id, role });
        }
        Ok(Embedded {
            ctl,
            agent: id,
            key: Mutex::new(key),
        })
    }

    fn key(&self) -> Result<std::sync::MutexGuard<'_, Signer>, Fault> {
        self.key
            .lock()
            .map_err(|_| Fault::failed("an earlier call failed while holding the agent's key"))
    }

    /// The op `given` names (a jti or an unambiguous prefix of one); a
    /// name of no single op is refused by the `op` check.
    fn resolve(&self, given: &str) -> Result<bosun_model::Jti, Fault> {
        self.ctl.resolve_op(given).map_err(|e| match e {
            ControlError::Id(e) => Fault::refused(Check::Op, e.to_string()),
            other => Fault::from(other),
        })
    }

    fn make_plan(&self, req: &PlanRequest) -> Result<bosun_model::Plan, Fault> {
        let gov = self.ctl.governed()?;
        if !gov.runbooks.contains_key(req.runbook.as_str()) {
            return Err(Fault::refused(
                Check::Runbook,
                format!(
                    "unknown runbook `{}`: list the runbooks with runbooks_list",
                    req.runbook
                ),
            ));
        }
        if req.targets.is_empty() {
            return Err(Fault::refused(
                Check::Targets,
                "no target hosts: give at least one selector (a host, web-*, tag:x, arch:aarch64, !tag:x)",
            ));
        }
        let hosts = gov
            .inventory
            .select(&req.targets)
            .map_err(|e| Fault::refused(Check::Targets, e.to_string()))?;
        let names: Vec<Name> = hosts.into_iter().map(|h| h.name).collect();
        client::plan(&gov, req.runbook.as_str(), &names, &req.params).map_err(|e| match e {
            ControlError::Plan(e) => Fault::refused(Check::Plan, e.to_string()),
            other => Fault::from(other),
        })
    }
}

impl Core for Embedded {
    fn agent(&self) -> &KeyId {
        &self.agent
    }

    fn hosts(&self) -> Result<Vec<HostView>, Fault> {
        let (inv, _warning) = self.ctl.inventory_in_force()?;
        Ok(self.ctl.host_views(&inv.hosts)?)
    }

    fn runbooks(&self) -> Result<Vec<RunbookEntry>, Fault> {
        Ok(self.ctl.runbook_entries()?)
    }

    fn runbook(&self, id: &Name) -> Result<serde_json::Value, Fault> {
        match self.ctl.runbook_definition(id.as_str())? {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(Fault::refused(Check::Runbook, e.to_string())),
            None => Err(Fault::refused(
                Check::Runbook,
                format!("no runbook `{id}` in runbooks/: list them with runbooks_list"),
            )),
        }
    }

    fn plan(&self, req: &PlanRequest) -> Result<PlannedOp, Fault> {
        let plan = self.make_plan(req)?;
        let cfg = &self.ctl.ws.config;
        let seq = self.ctl.next_seq(&self.agent)?;
        Ok(bosun_control::views::planned_op(
            &cfg.name,
            cfg.op_ttl_secs,
            &plan,
            Some(seq),
        ))
    }

    fn submit(&self, req: &PlanRequest) -> Result<Submitted, Fault> {
        let plan = self.make_plan(req)?;
        let key = self.key()?;
        let gov = self.ctl.governed()?;
        let t = now();
        let seq = self.ctl.next_seq(&self.agent)?;
        let (_, env) = self.ctl.sign_op(&*key, &self.agent, &plan, seq, t)?;
        let answer = self
            .ctl
            .intake(&gov, std::slice::from_ref(&env), t)?
            .into_iter()
            .next()
            .ok_or_else(|| Fault::failed("intake returned nothing"))?;
        let a = answer?;
        Ok(Submitted {
            jti: a.jti.to_string(),
            decision: bosun_control::intake::decision_word(&a.decision).to_string(),
            state: a.state,
            policy_ids: a.decision.policy_ids,
            reasons: a.decision.reasons,
        })
    }

    fn op(&self, op: &str) -> Result<OpView, Fault> {
        let jti = self.resolve(op)?;
        self.ctl.op_view(&jti)?.ok_or_else(|| {
            Fault::Refused(bosun_api::Rejection {
                check: Check::Op,
                message: format!("no op `{jti}`"),
                jti: Some(jti.to_string()),
            })
        })
    }

    fn ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpBrief>, Fault> {
        Ok(self.ctl.op_briefs(state, limit)?)
    }

    fn report_step(&self, r: &StepReport) -> Result<ReportOutcome, Fault> {
        let op = self.resolve(&r.op)?;
        let key = self.key()?;
        let gov = self.ctl.governed()?;
        let t = now();
        let env = self.ctl.sign_step_report(
            &*key,
            &self.agent,
            &op,
            &r.step,
            r.host.clone(),
            r.status,
            r.note.clone(),
            t,
        )?;
        Ok(self.ctl.accept_step_report(&gov, &env, t)??)
    }

    fn blockers(&self, all: bool) -> Result<Vec<BlockerView>, Fault> {
        Ok(self.ctl.blocker_views(all)?)
    }

    fn rollout(&self, id: &Name) -> Result<RolloutView, Fault> {
        self.ctl.rollout_view(id.as_str()).map_err(|e| match e {
            ControlError::Store(_) => Fault::from(e),
            other => Fault::refused(Check::Rollout, other.to_string()),
        })
    }

    fn kernel_status(&self) -> Result<bosun_api::views::KernelStatusView, Fault> {
        Ok(self.ctl.kernel_status_view()?)
    }

    fn kernel_promote(&self, host: &Name) -> Result<bosun_api::views::PromotePreviewView, Fault> {
        self.ctl
            .promote_preview(host.as_str())
            .map_err(|e| Fault::refused(Check::Format, e.to_string()))
    }

    fn kernel_build(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault> {
        self.ctl
            .build_op(host.as_str())
            .map_err(|e| Fault::refused(Check::Format, e.to_string()))
    }

    fn kernel_jobs(&self) -> Result<bosun_api::views::KernelJobsView, Fault> {
        Ok(self.ctl.kernel_jobs_view()?)
    }

    fn kernel_install(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault> {
        self.ctl
            .install_op(host.as_str())
            .map_err(|e| Fault::refused(Check::Format, e.to_string()))
    }

    fn prove(&self, op: &str) -> Result<serde_json::Value, Fault> {
        let jti = self.resolve(op)?;
        let proofs = bosun_control::ledger::prove_at(&self.ctl, Some(jti.as_str()), None, None)
            .map_err(|e| match e {
                ControlError::Next { .. } => Fault::from(e),
                other => Fault::Failed {
                    message: other.to_string(),
                    next: vec![NextAction::LedgerCheckpoint],
                },
            })?;
        serde_json::to_value(&proofs).map_err(|e| Fault::failed(e.to_string()))
    }

    fn kernel_check(&self, host: &Name) -> Result<bosun_api::views::PatchCheckView, Fault> {
        Ok(self.ctl.patches_check(host.as_str(), None)?)
    }

    fn patches_import(
        &self,
        campaign: &str,
        scope: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<bosun_api::views::KernelChangeView, Fault> {
        let key = self.key()?;
        let t = now();
        let act = bosun_control::kernel_acts::import_act(campaign, scope, files);
        let env = self.ctl.sign_statement(&*key, &self.agent, act, t)?;
        let applied = self.ctl.apply_statement_with(&env, files, t)??;
        match applied.effect {
            bosun_control::statement::Effect::Kernel(v) => Ok(*v),
            _ => Err(Fault::failed("the import statement imported nothing")),
        }
    }

    fn halt(&self, why: &str) -> Result<Halted, Fault> {
        let key = self.key()?;
        let t = now();
        let act = Act::Halt {
            why: why.to_string(),
        };
        let env = self.ctl.sign_statement(&*key, &self.agent, act, t)?;
        let applied = self.ctl.apply_statement(&env, t)??;
        let bosun_control::statement::Effect::Halted { in_flight } = applied.effect else {
            return Err(Fault::failed("the halt statement did not halt"));
        };
        Ok(Halted {
            halted: true,
            why: why.to_string(),
            by: applied.by.to_string(),
            in_flight: in_flight
                .iter()
                .map(bosun_control::views::op_brief)
                .collect(),
        })
    }
}
