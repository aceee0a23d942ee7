//! [`Daemon`]: the [`Core`] of a client of bosun's daemon (`bosun mcp`
//! with `BOSUN_URL`): every read is a request to the daemon's HTTP API,
//! and every change is an envelope signed here, with the agent's key,
//! then sent. The daemon under its own Unix user is the wall (DESIGN §3a):
//! this process cannot touch the state, only send what its key signs.
//!
//! At start the agent's key is checked against the daemon's adopted
//! registry (`GET /keys`): the same public key, and the role `agent`.

use std::sync::{Arc, Mutex};

use bosun_api::views::fleet::{BlockerView, HostView, RolloutView};
use bosun_api::views::{
    KeyView, OpBrief, OpView, PlannedOp, ReportOutcome, RunbookEntry, ServerInfo, StatusView,
    SubmittedView,
};
use bosun_api::{Check, Rejection, requests};
use bosun_client::{Answer, ErrorDetail, Remote};
use bosun_control::client::{OpDraft, Signing, load_secret, sign_op_draft};
use bosun_control::{ControlError, now};
use bosun_model::{Act, Jti, KeyId, Name, OpState, Role};
use bosun_sign::{KeyDir, Sign as _, Signer};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::core::{Core, Fault, Halted, PlanRequest, StepReport, Submitted};
use crate::embedded::StartError;

/// A client of the daemon, and the agent that signs.
pub struct Daemon {
    remote: Remote,
    agent: KeyId,
    /// The agent's key, shared with the client's token signing.
    key: Arc<Mutex<Signer>>,
    /// Held across a submission's plan, signature and post, so that one
    /// submission at a time takes the next sequence number.
    submitting: Mutex<()>,
    /// The daemon's workspace and op lifetime, from `/api/v1/info`.
    ws: Name,
    ttl_secs: i64,
}

impl Daemon {
    /// Starts for `agent` against the daemon at `url`: loads the agent's
    /// private key from `keys`, and refuses unless the daemon's adopted
    /// registry has that very public key under that name with the role
    /// [`Role::Agent`].
    pub fn start(url: &str, keys: &KeyDir, agent: &str) -> Result<Daemon, StartError> {
        let id = KeyId::parse(agent).map_err(|source| StartError::BadName {
            given: agent.to_string(),
            source,
        })?;
        let key = load_secret(keys, &id)?;
        let x = key.public_key().to_jwk(id.as_str()).x;
        let key = Arc::new(Mutex::new(key));
        let remote = Remote::for_signer(url, Arc::clone(&key), id.clone())?;
        let info: ServerInfo = remote.info()?;
        let ws = Name::parse(&info.workspace)
            .map_err(|e| remote.failed(format!("its workspace name: {e}")))?;
        let adopted: Vec<KeyView> = remote.get("/keys")?.map_err(|e| remote.failed(e.message))?;
        let Some(entry) = adopted.iter().find(|k| k.name == id.as_str()) else {
            return Err(StartError::Control(ControlError::Other(format!(
                "`{id}` is not in the daemon's adopted key registry: register and adopt the agent's public key there first"
            ))));
        };
        if entry.x != x {
            return Err(StartError::Control(ControlError::Other(format!(
                "the key `{id}` here is not the one the daemon adopted under that name (thumbprint {}): use the adopted key",
                entry.thumbprint
            ))));
        }
        if entry.role != Role::Agent {
            return Err(StartError::NotAnAgent {
                name: id,
                role: entry.role,
            });
        }
        Ok(Daemon {
            remote,
            agent: id,
            key,
            submitting: Mutex::new(()),
            ws,
            ttl_secs: info.op_ttl_secs.clamp(1, bosun_client::MAX_PLANNED_TTL),
        })
    }

    /// A read or a change: the daemon's refusal becomes a refusal by its
    /// check; anything else a failure.
    fn answer<T>(&self, a: Result<Answer<T>, ControlError>) -> Result<T, Fault> {
        a?.map_err(|e| refusal(e, None))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Fault> {
        self.answer(self.remote.get(path))
    }

    fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Fault> {
        self.answer(self.remote.post(path, body))
    }

    /// Runs `f` with the agent's key and a signing context for now.
    fn signed<T>(
        &self,
        f: impl FnOnce(&Signing<'_>) -> Result<T, ControlError>,
    ) -> Result<T, Fault> {
        let key = self
            .key
            .lock()
            .map_err(|_| Fault::failed("an earlier call failed while holding the agent's key"))?;
        let s = Signing {
            key: &*key,
            iss: &self.agent,
            ws: &self.ws,
            ttl_secs: self.ttl_secs,
            now: now(),
        };
        Ok(f(&s)?)
    }

    fn request(&self, req: &PlanRequest) -> requests::PlanRequest {
        requests::PlanRequest {
            runbook: req.runbook.to_string(),
            targets: req.targets.clone(),
            params: req.params.clone(),
            issuer: Some(self.agent.to_string()),
            check: false,
            whole: false,
        }
    }

    /// The full id of the op `given` names (an id or a unique prefix).
    fn resolve(&self, given: &str) -> Result<Jti, Fault> {
        let v: OpView = self.get(&format!("/ops/{}", path_id(given)?))?;
        if !v.brief.jti.starts_with(given) {
            return Err(Fault::failed(format!(
                "asked the daemon for op `{given}`, it answered op `{}`",
                v.brief.jti
            )));
        }
        Jti::parse(&v.brief.jti).map_err(|e| Fault::failed(format!("the daemon's op id: {e}")))
    }
}

/// `given` as a path segment or query value: an op id or a prefix of one
/// has only id characters (refused by the `format` check otherwise).
fn path_id(given: &str) -> Result<&str, Fault> {
    Jti::parse(given).map_err(|e| Fault::refused(Check::Format, format!("op: {e}")))?;
    Ok(given)
}

/// The daemon's refusal as the tools' refusal (its check; `format` when
/// it named none, e.g. a 404).
fn refusal(e: ErrorDetail, jti: Option<String>) -> Fault {
    Fault::Refused(Rejection {
        check: e.check.unwrap_or(Check::Format),
        message: e.message,
        jti,
    })
}

impl Core for Daemon {
    fn agent(&self) -> &KeyId {
        &self.agent
    }

    fn hosts(&self) -> Result<Vec<HostView>, Fault> {
        self.get("/hosts")
    }

    fn runbooks(&self) -> Result<Vec<RunbookEntry>, Fault> {
        self.get("/runbooks")
    }

    fn runbook(&self, id: &Name) -> Result<serde_json::Value, Fault> {
        self.get(&format!("/runbooks/{id}"))
    }

    fn plan(&self, req: &PlanRequest) -> Result<PlannedOp, Fault> {
        self.post("/plan", &self.request(req))
    }

    fn submit(&self, req: &PlanRequest) -> Result<Submitted, Fault> {
        let _one_at_a_time = self
            .submitting
            .lock()
            .map_err(|_| Fault::failed("an earlier submission failed while holding the lock"))?;
        let asked = self.request(req);
        let planned: PlannedOp = self.post("/plan", &asked)?;
        bosun_client::check_planned(&asked, &planned, Some(self.ws.as_str()))?;
        let seq = planned.next_seq.ok_or_else(|| {
            Fault::failed("the daemon's plan has no sequence number for the agent")
        })?;
        let draft = OpDraft::planned(&planned)?;
        let env = self.signed(|s| Ok(sign_op_draft(s.key, s.iss, &draft, None, seq, s.now)?.1))?;
        let v: SubmittedView = self.post("/ops", &json!({ "envelope": env }))?;
        Ok(Submitted {
            jti: v.jti,
            decision: v.policy_decision.outcome,
            state: v.state,
            policy_ids: v.policy_decision.rules,
            reasons: v.policy_decision.reasons,
        })
    }

    fn op(&self, op: &str) -> Result<OpView, Fault> {
        self.get(&format!("/ops/{}", path_id(op)?))
    }

    fn ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpBrief>, Fault> {
        let state = state.map_or(String::new(), |s| format!("&state={}", s.as_str()));
        self.get(&format!("/ops?limit={}{state}", limit.clamp(1, 1000)))
    }

    fn report_step(&self, r: &StepReport) -> Result<ReportOutcome, Fault> {
        let op = self.resolve(&r.op)?;
        let env =
            self.signed(|s| s.step_report(&op, &r.step, r.host.clone(), r.status, r.note.clone()))?;
        self.answer(
            self.remote
                .post("/step-reports", &json!({ "envelope": env })),
        )
        .map_err(|f| match f {
            Fault::Refused(mut rej) => {
                rej.jti = Some(op.to_string());
                Fault::Refused(rej)
            }
            other => other,
        })
    }

    fn blockers(&self, all: bool) -> Result<Vec<BlockerView>, Fault> {
        self.get(&format!("/blockers?all={all}"))
    }

    fn rollout(&self, id: &Name) -> Result<RolloutView, Fault> {
        self.get(&format!("/rollouts/{id}"))
    }

    fn kernel_status(&self) -> Result<bosun_api::views::KernelStatusView, Fault> {
        self.get("/kernel/status")
    }

    fn kernel_promote(&self, host: &Name) -> Result<bosun_api::views::PromotePreviewView, Fault> {
        self.get(&format!("/kernel/promote/{host}"))
    }

    fn kernel_build(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault> {
        self.get(&format!("/kernel/build/{host}"))
    }

    fn kernel_jobs(&self) -> Result<bosun_api::views::KernelJobsView, Fault> {
        self.get("/kernel/jobs")
    }

    fn kernel_install(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault> {
        self.get(&format!("/kernel/install/{host}"))
    }

    fn prove(&self, op: &str) -> Result<serde_json::Value, Fault> {
        self.get(&format!("/ledger/proofs?op={}", path_id(op)?))
    }

    fn kernel_check(&self, host: &Name) -> Result<bosun_api::views::PatchCheckView, Fault> {
        self.get(&format!("/kernel/check/{host}"))
    }

    fn patches_import(
        &self,
        campaign: &str,
        scope: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<bosun_api::views::KernelChangeView, Fault> {
        let act = bosun_control::kernel_acts::import_act(campaign, scope, files);
        let env = self.signed(|s| s.statement(act))?;
        let body = bosun_control::kernel_acts::change_body(&env, files);
        self.post("/kernel/changes", &body)
    }

    fn halt(&self, why: &str) -> Result<Halted, Fault> {
        let env = self.signed(|s| {
            s.statement(Act::Halt {
                why: why.to_string(),
            })
        })?;
        let _status: StatusView = self.post("/statements", &json!({ "envelope": env }))?;
        // The halt is in force; the ops in flight are what the daemon says
        // now, when it answers.
        let in_flight = self.ops(Some(OpState::Running), 1000).unwrap_or_default();
        Ok(Halted {
            halted: true,
            why: why.to_string(),
            by: self.agent.to_string(),
            in_flight,
        })
    }
}
