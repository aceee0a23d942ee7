//! The MCP tools ([`Tools`]): reads, `plan`, `submit`, `op_status`,
//! `step_report` and `halt`, over a [`Core`]. There is no tool that
//! approves, denies, adopts, resolves or resumes: those are an operator's
//! signed statements, and this server holds only an agent's key.
//!
//! Each call runs the synchronous core on tokio's blocking pool, at most
//! [`MAX_CALLS`] at a time and for at most [`CALL_TIMEOUT`]. Waiting for a
//! human is `wait_seconds` on `submit` and `op_status`: the tool polls the
//! op once a second and sends MCP progress notifications (when the
//! client asked for them with a progress token) until the op moves, the
//! wait ends or the client cancels; never longer than
//! [`crate::args::MAX_WAIT_SECS`].

use std::sync::Arc;
use std::time::Duration;

use bosun_api::NextAction;
use bosun_api::views::ops::OpView;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ProgressNotificationParam, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::args::{
    self, BlockersArgs, HaltArgs, KernelHostArgs, NoArgs, OpArgs, OpsArgs, PatchesImportArgs,
    PlanArgs, ProveArgs, RolloutArgs, RunbookArgs, StepReportArgs, SubmitArgs,
};
use crate::core::{Core, Fault};
use crate::reply::{self, By, Next};

/// The most calls into the core at once (each holds a blocking thread).
pub const MAX_CALLS: usize = 4;
/// The longest one call into the core may take before the tool answers
/// that it timed out.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting tool looks at the op again.
const POLL: Duration = Duration::from_secs(1);

/// What a tool answers: a result, or a tool error (an `Err` is a
/// protocol error, for arguments that do not parse).
type Answer = Result<CallToolResult, ErrorData>;

/// The MCP server's tools over a [`Core`]. Cheap to clone; serve it with
/// rmcp (`serve(stdio())`, or a streamable HTTP service).
#[derive(Clone)]
pub struct Tools {
    core: Arc<dyn Core>,
    gate: Arc<Semaphore>,
    tool_router: ToolRouter<Tools>,
}

impl Tools {
    /// Tools over `core`, signing as its agent.
    pub fn new(core: Arc<dyn Core>) -> Tools {
        Tools {
            core,
            gate: Arc::new(Semaphore::new(MAX_CALLS)),
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` on the core, on the blocking pool, bounded.
    async fn call<T, F>(&self, f: F) -> Result<T, Fault>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Core) -> Result<T, Fault> + Send + 'static,
    {
        let permit = tokio::time::timeout(CALL_TIMEOUT, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| Fault::failed("bosun is busy with other calls: try again shortly"))?
            .map_err(|_| Fault::failed("the server is shutting down"))?;
        let core = Arc::clone(&self.core);
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(core.as_ref())
        });
        match tokio::time::timeout(CALL_TIMEOUT, job).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(Fault::failed(format!("the call failed: {e}"))),
            Err(_) => Err(Fault::failed(format!(
                "no answer within {} s (the store may be busy): look again with op_status before doing anything twice",
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Polls the op of `first` (its view now) until it leaves the state it
    /// is in, `secs` pass or the client cancels, sending progress while it
    /// waits; at once when it waits on nobody or on the agent itself.
    async fn wait_for(
        &self,
        first: OpView,
        secs: u32,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<OpView, Fault> {
        let start = first.brief.state;
        // Nothing to wait for: the op has ended, or what it waits for is
        // the agent's own step report.
        let yours = reply::nexts(&first.next, Some(&first))
            .iter()
            .any(|n| n.by == By::You && matches!(n.action, NextAction::ReportStep { .. }));
        if secs == 0 || yours || reply::waiting(&first).is_none() {
            return Ok(first);
        }
        let token = ctx.meta.get_progress_token();
        let end = tokio::time::Instant::now() + Duration::from_secs(u64::from(secs));
        let mut polls = 0u32;
        let mut last = first;
        loop {
            if let (Some(t), Some(w)) = (&token, reply::waiting(&last)) {
                let p = ProgressNotificationParam::new(t.clone(), f64::from(polls))
                    .with_total(f64::from(secs))
                    .with_message(w);
                // A client that went away ends the wait below (cancelled).
                let _ = ctx.peer.notify_progress(p).await;
            }
            let now = tokio::time::Instant::now();
            if now >= end {
                return Ok(last);
            }
            let nap = POLL.min(end - now);
            if tokio::time::timeout(nap, ctx.ct.cancelled()).await.is_ok() {
                return Ok(last);
            }
            polls = polls.saturating_add(1);
            let jti = last.brief.jti.clone();
            last = self.call(move |c| c.op(&jti)).await?;
            if last.brief.state != start {
                return Ok(last);
            }
        }
    }
}

/// A tool's answer: its result, or a fault as a tool error naming its
/// check. (An `Err` would be a protocol error; no tool returns one.)
fn answer(r: Result<CallToolResult, Fault>) -> Answer {
    Ok(r.unwrap_or_else(|f| reply::fault(&f)))
}

#[tool_router]
impl Tools {
    /// The hosts of the inventory in force (the adopted fleet/hosts.toml).
    #[tool(
        input_schema = args::schema::<NoArgs>(),
        annotations(
            title = "List hosts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn hosts_list(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                args::parse::<NoArgs>(raw)?;
                Ok(reply::ok(self.call(|c| c.hosts()).await?, Vec::new(), None))
            }
            .await,
        )
    }

    /// The runbook catalog: each runbook's id, whether it only reads, its
    /// steps, whether the file is the version in force, its description.
    #[tool(
        input_schema = args::schema::<NoArgs>(),
        annotations(
            title = "List runbooks",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn runbooks_list(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                args::parse::<NoArgs>(raw)?;
                Ok(reply::ok(
                    self.call(|c| c.runbooks()).await?,
                    Vec::new(),
                    None,
                ))
            }
            .await,
        )
    }

    /// One runbook: its params (types, defaults, required), steps,
    /// dependencies and flags.
    #[tool(
        input_schema = args::schema::<RunbookArgs>(),
        annotations(
            title = "Show a runbook",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn runbook_show(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: RunbookArgs = args::parse(raw)?;
                let id = args::name("runbook", &a.id)?;
                let rb = self.call(move |c| c.runbook(&id)).await?;
                Ok(reply::ok(rb, Vec::new(), None))
            }
            .await,
        )
    }

    /// The plan of a runbook over hosts: every step and command on every
    /// host, and the digest a signature would bind. Nothing runs and
    /// nothing is signed.
    #[tool(
        input_schema = args::schema::<PlanArgs>(),
        annotations(
            title = "Plan (dry run)",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn plan(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: PlanArgs = args::parse(raw)?;
                let req = args::plan_request(&a.runbook, &a.targets, &a.params)?;
                let plan = self.call(move |c| c.plan(&req)).await?;
                Ok(reply::ok(plan, Vec::new(), None))
            }
            .await,
        )
    }

    /// Signs an op (the plan of a runbook over hosts) as this server's
    /// agent and submits it. The keeper policy decides: it runs alone,
    /// waits for human approval, or is denied. A human may have to
    /// approve: then the answer says `waiting` and what for, and calling
    /// again makes a second op, so wait (`wait_seconds` here or on
    /// op_status) instead. It changes hosts only as far as its runbook
    /// does (see `kind` in plan: read-only, change or destructive).
    #[tool(
        input_schema = args::schema::<SubmitArgs>(),
        annotations(
            title = "Submit an op",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn submit(&self, raw: JsonObject, ctx: RequestContext<RoleServer>) -> Answer {
        answer(
            async {
                let a: SubmitArgs = args::parse(raw)?;
                let req = args::plan_request(&a.runbook, &a.targets, &a.params)?;
                let sub = self.call(move |c| c.submit(&req)).await?;
                let jti = sub.jti.clone();
                let view = self.call(move |c| c.op(&jti)).await?;
                let v = self
                    .wait_for(view, args::wait(a.wait_seconds), &ctx)
                    .await?;
                let mut result = json!(sub);
                result["state"] = json!(v.brief.state);
                Ok(reply::op(result, &v))
            }
            .await,
        )
    }

    /// One op: its plan, the policy's decision and why, approvals, each
    /// step's state and output, and what it waits for. With
    /// `wait_seconds`, waits (sending progress) until the op moves.
    #[tool(
        input_schema = args::schema::<OpArgs>(),
        annotations(
            title = "Op status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn op_status(&self, raw: JsonObject, ctx: RequestContext<RoleServer>) -> Answer {
        answer(
            async {
                let a: OpArgs = args::parse(raw)?;
                let op = args::op_id(&a.op)?;
                let view = self.call(move |c| c.op(&op)).await?;
                let v = self
                    .wait_for(view, args::wait(a.wait_seconds), &ctx)
                    .await?;
                Ok(reply::op(&v, &v))
            }
            .await,
        )
    }

    /// The newest ops (of one state, when given), newest first.
    #[tool(
        input_schema = args::schema::<OpsArgs>(),
        annotations(
            title = "List ops",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ops_list(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: OpsArgs = args::parse(raw)?;
                let limit = a
                    .limit
                    .map_or(50, |l| usize::try_from(l).unwrap_or(args::MAX_OPS))
                    .min(args::MAX_OPS);
                let ops = self.call(move |c| c.ops(a.state, limit)).await?;
                let next: Vec<NextAction> = (ops.iter())
                    .filter(|o| waits_on_someone(o.state))
                    .map(|o| NextAction::ShowOp { op: o.jti.clone() })
                    .collect();
                Ok(reply::ok(ops, reply::nexts(&next, None), None))
            }
            .await,
        )
    }

    /// Says how a step without a command went, signed as this server's
    /// agent: only a step the run waits on whose actor lets an agent
    /// report it (`agent` or `both`); the pipeline refuses the rest with
    /// the `reporter_role` or `step` check. The run resumes with it.
    #[tool(
        input_schema = args::schema::<StepReportArgs>(),
        annotations(
            title = "Report a step",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn step_report(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: StepReportArgs = args::parse(raw)?;
                let r = args::step_report(&a)?;
                let out = self.call(move |c| c.report_step(&r)).await?;
                let jti = out.jti.clone();
                Ok(match self.call(move |c| c.op(&jti)).await {
                    Ok(v) => reply::op(&out, &v),
                    Err(_) => reply::ok(&out, Vec::new(), None),
                })
            }
            .await,
        )
    }

    /// The blockers in force (`all`: resolved ones too), each with what it
    /// halts and what ends it. Resolving one is a human's call.
    #[tool(
        input_schema = args::schema::<BlockersArgs>(),
        annotations(
            title = "List blockers",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn blockers_list(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: BlockersArgs = args::parse(raw)?;
                let bs = self.call(move |c| c.blockers(a.all)).await?;
                let next: Vec<NextAction> = bs.iter().flat_map(|b| b.next.clone()).collect();
                Ok(reply::ok(bs, reply::nexts(&next, None), None))
            }
            .await,
        )
    }

    /// A rollout wave by wave: its ops and how each went, the bars, where
    /// it stands and what can be done next (promoting is a human's call).
    #[tool(
        input_schema = args::schema::<RolloutArgs>(),
        annotations(
            title = "Rollout status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn rollout_status(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: RolloutArgs = args::parse(raw)?;
                let id = args::name("rollout", &a.rollout)?;
                let v = self.call(move |c| c.rollout(&id)).await?;
                let next = reply::nexts(&v.next, None);
                Ok(reply::ok(v, next, None))
            }
            .await,
        )
    }

    /// Each host with a kernel manifest: the manifest's digest, the lock
    /// (current or stale), the newest build, what is installed, drift, a
    /// pending install and the blockers on it or its patches.
    #[tool(
        input_schema = args::schema::<NoArgs>(),
        annotations(
            title = "Kernel status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_status(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let _: NoArgs = args::parse(raw)?;
                let v = self.call(|c| c.kernel_status()).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// What promoting a host's manifest would produce (its patches in
    /// order, the cumulative patch's BLAKE2b-512) and the params of the
    /// `kernel-promote` op that writes it: pass them to `submit` with
    /// runbook `kernel-promote` and the host as target. An operator
    /// approves a promote; nothing is written before.
    #[tool(
        input_schema = args::schema::<KernelHostArgs>(),
        annotations(
            title = "Preview a kernel promote",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_promote(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: KernelHostArgs = args::parse(raw)?;
                let host = args::name("host", &a.host)?;
                let v = self.call(move |c| c.kernel_promote(&host)).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// The build op of a host: the digest of the lock an approved promote
    /// wrote, as `kernel-build` params. Pass them to `submit` with runbook
    /// `kernel-build` and the host as target: the keeper policy decides
    /// (the example workspace lets a build run alone, its lock having been
    /// approved); its step starts a builder that builds, signs and
    /// publishes only that lock. The op succeeds once the build has
    /// started, not when it is published: `kernel_jobs` says how it ends.
    #[tool(
        input_schema = args::schema::<KernelHostArgs>(),
        annotations(
            title = "Preview a kernel build",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_build(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: KernelHostArgs = args::parse(raw)?;
                let host = args::name("host", &a.host)?;
                let v = self.call(move |c| c.kernel_build(&host)).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// The kernel build jobs kept by the control plane, newest first:
    /// host, build host, status, version, the op that ran each and why a
    /// failed one failed (its log is in its directory, kept for
    /// inspection).
    #[tool(
        input_schema = args::schema::<NoArgs>(),
        annotations(
            title = "Kernel build jobs",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_jobs(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let _: NoArgs = args::parse(raw)?;
                let v = self.call(|c| c.kernel_jobs()).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// The install op of a host: its newest published, signed build of
    /// the current lock, as `kernel-install` params. Pass them to `submit`
    /// with the host as target: an agent's install waits for an operator
    /// (never auto-install); nothing is installed before.
    #[tool(
        input_schema = args::schema::<KernelHostArgs>(),
        annotations(
            title = "Preview a kernel install",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_install(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: KernelHostArgs = args::parse(raw)?;
                let host = args::name("host", &a.host)?;
                let v = self.call(move |c| c.kernel_install(&host)).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// Apply a host's patch series, patch by patch, to the control plane's
    /// checkout of its baseline (bosun.toml `[kernel.baselines]`) and name
    /// the first patch, file and hunk that fails, with offsets. Nothing
    /// is filed: a failure is yours to report (`blocker_file` is not a
    /// tool; tell an operator, or halt).
    #[tool(
        input_schema = args::schema::<KernelHostArgs>(),
        annotations(
            title = "Check a host's patch series",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kernel_check(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: KernelHostArgs = args::parse(raw)?;
                let host = args::name("host", &a.host)?;
                let v = self.call(move |c| c.kernel_check(&host)).await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// Import patches into the kernel patch tree at their narrowest
    /// correct scope (`patches/<scope>/<campaign>/`), names and bytes
    /// kept, signed as you and recorded in the ledger. Nothing runs: a
    /// patch reaches a host only in a lock an operator-approved promote
    /// names. All or nothing: a file that is not a patch, or one that
    /// would replace different bytes of the same name, writes nothing.
    #[tool(
        input_schema = args::schema::<PatchesImportArgs>(),
        annotations(
            title = "Import kernel patches",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn patches_import(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: PatchesImportArgs = args::parse(raw)?;
                let campaign = args::text("campaign", &a.campaign)?;
                let scope = args::text("scope", &a.scope)?;
                let mut files = Vec::with_capacity(a.files.len());
                for f in a.files {
                    files.push((args::text("name", &f.name)?, f.text.into_bytes()));
                }
                if files.is_empty() {
                    return Err(Fault::refused(
                        bosun_api::Check::Format,
                        "name at least one patch file",
                    ));
                }
                let v = self
                    .call(move |c| c.patches_import(&campaign, &scope, &files))
                    .await?;
                Ok(reply::ok(v, Vec::new(), None))
            }
            .await,
        )
    }

    /// Inclusion proofs of an op's ledger entries against the newest
    /// signed checkpoint: checkable offline with the ledger's verifier
    /// key.
    #[tool(
        input_schema = args::schema::<ProveArgs>(),
        annotations(
            title = "Prove an op in the ledger",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ledger_prove(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: ProveArgs = args::parse(raw)?;
                let op = args::op_id(&a.op)?;
                Ok(reply::ok(
                    self.call(move |c| c.prove(&op)).await?,
                    Vec::new(),
                    None,
                ))
            }
            .await,
        )
    }

    /// Stops all dispatch at once, signed as this server's agent:
    /// running steps finish, nothing new starts. Stopping is always
    /// allowed; lifting the halt is a human's call (an operator resumes).
    #[tool(
        input_schema = args::schema::<HaltArgs>(),
        annotations(
            title = "Halt the fleet",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn halt(&self, raw: JsonObject) -> Answer {
        answer(
            async {
                let a: HaltArgs = args::parse(raw)?;
                let why = args::text("why", &a.why)?;
                if why.trim().is_empty() {
                    return Err(Fault::refused(
                        bosun_api::Check::Format,
                        "say why you halt (recorded in the ledger)",
                    ));
                }
                let h = self.call(move |c| c.halt(&why)).await?;
                let mut next = vec![Next {
                    action: NextAction::Resume,
                    by: By::Human,
                }];
                next.extend(h.in_flight.iter().map(|o| Next {
                    action: NextAction::ShowOp { op: o.jti.clone() },
                    by: By::You,
                }));
                Ok(reply::ok(h, next, None))
            }
            .await,
        )
    }
}

/// Whether a listed op in `state` is worth a look (it waits on someone).
fn waits_on_someone(state: bosun_model::OpState) -> bool {
    use bosun_model::OpState;
    matches!(state, OpState::PendingApproval | OpState::NeedsAttention)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bosun", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "bosun: change control for a fleet. You act as the agent `{}`: plan, submit (signed as you), watch ops, report agent steps, halt. The keeper policy decides what runs; some ops wait for a human operator's approval, which no tool here can give: when an answer says `waiting`, wait (wait_seconds on op_status) instead of submitting again. Each answer's `next` says what can be done and `by` whom.",
                self.core.agent()
            ))
    }
}
