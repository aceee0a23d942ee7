//! The routes of `/api/v1`: reads answer the views `--json` prints
//! (bosun-api types); changes take a signed envelope and answer what it
//! did. Each handler calls the synchronous core once through
//! [`App::core`], so a request is answered whole or changes nothing (a
//! client that goes away mid-request does not stop the core call half-way:
//! it commits or refuses in one transaction).

use aide::axum::ApiRouter;
use aide::axum::routing::{get_with, post_with};
use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bosun_api::Check;
use bosun_api::requests::{MAX_PLAN_ITEMS, PlanRequest};
use bosun_api::views::PlannedOp;
use bosun_api::views::{
    BlockerView, CheckpointView, HostView, KeyView, LedgerStatusView, OpBrief, OpView,
    ReportOutcome, RolloutView, RunbookEntry, StatusView, SubmittedView,
};
use bosun_control::ledger::{ConsistencyProof, InclusionProof};
use bosun_model::OpState;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::App;
use crate::auth::Reader;
use crate::body::{Body, EnvelopeBody};
use crate::error::ApiError;
use crate::params::{Id, Params};

/// The most ops one listing answers.
pub const MAX_LIST: usize = 1000;

/// `?state=…&limit=…` of the op listing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsQuery {
    /// Only ops in this state.
    pub state: Option<OpState>,
    /// At most this many, newest first (default 50).
    #[schemars(range(min = 1, max = MAX_LIST))]
    pub limit: Option<usize>,
}

/// `?all=true` of the blocker listing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockersQuery {
    /// Resolved blockers too.
    pub all: Option<bool>,
}

/// `?op=…` or `?index=…` of an inclusion proof.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveQuery {
    /// Prove every entry of this op (its id or a unique prefix).
    pub op: Option<String>,
    /// Prove the entry at this index.
    pub index: Option<u64>,
}

/// `?from=…&to=…` of a consistency proof.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older checkpoint's tree size.
    pub from: u64,
    /// The newer checkpoint's tree size (default: the latest).
    pub to: Option<u64>,
}

/// The answers every change may give besides success: refused by a
/// check (422, 409 for a replay or a state conflict).
pub(crate) fn refusals(o: TransformOperation<'_>) -> TransformOperation<'_> {
    o.response_with::<422, ApiError, _>(|r| {
        r.description("Refused by a check of the pipeline (`check` names it); nothing changed")
    })
    .response_with::<409, ApiError, _>(|r| {
        r.description("A replay, a seq out of order, or the op is not in a state that takes this; nothing changed")
    })
}

/// The routes under `/api/v1` (without the prefix).
pub fn api() -> ApiRouter<App> {
    ApiRouter::new()
        .merge(crate::reads::routes())
        .merge(crate::adoption::routes())
        .merge(crate::kernel::routes())
        .api_route(
            "/status",
            get_with(status, |o| {
                o.id("status")
                    .summary("The overview: halt, controller, queue, what waits on a human")
            }),
        )
        .api_route(
            "/ops",
            get_with(ops, |o| o.id("listOps").summary("Ops, newest first"))
                .post_with(submit, |o| {
                    refusals(
                        o.id("submitOp")
                            .summary("Submit a signed op envelope: intake decides (runs, needs approvals, denied)")
                            .response_with::<201, Json<SubmittedView>, _>(|r| {
                                r.description("Accepted: the op's id and state, the keeper's decision and what comes next")
                            }),
                    )
                }),
        )
        .api_route(
            "/plan",
            post_with(plan, |o| {
                o.id("plan").summary(
                    "Plan a runbook over hosts for a client to show and sign (nothing is stored)",
                )
            }),
        )
        .api_route(
            "/ops/{id}",
            get_with(op, |o| {
                o.id("getOp")
                    .summary("One op: plan, decision and why, approvals, steps and outputs")
            }),
        )
        .api_route(
            "/ops/{id}/plan",
            get_with(op_plan, |o| {
                o.id("getOpPlan").summary(
                    "The plan an op signed, whole (hosts with their bindings, every step): a client recomputes its digest before it shows and signs an approval",
                )
            }),
        )
        .api_route(
            "/approvals",
            post_with(approve, |o| {
                refusals(
                    o.id("approve")
                        .summary("Take a signed approval or denial envelope (human identities only)"),
                )
            }),
        )
        .api_route(
            "/step-reports",
            post_with(step_report, |o| {
                refusals(
                    o.id("reportStep")
                        .summary("Take a signed step report envelope (for a step waiting on its actor)"),
                )
            }),
        )
        .api_route(
            "/statements",
            post_with(statement, |o| {
                refusals(o.id("statement").summary(
                    "Take a signed statement: halt, resume, blocker file/resolve/snooze, rollout abort/done",
                ))
            }),
        )
        .api_route(
            "/hosts",
            get_with(hosts, |o| o.id("listHosts").summary("The hosts in force and what bosun knows of each")),
        )
        .api_route(
            "/keys",
            get_with(keys, |o| {
                o.id("listKeys")
                    .summary("The adopted identities: name, role, scope, public key")
            }),
        )
        .api_route(
            "/runbooks",
            get_with(runbooks, |o| {
                o.id("listRunbooks")
                    .summary("The runbook catalog: each file, whether it is in force, what it does")
            }),
        )
        .api_route(
            "/runbooks/{id}",
            get_with(runbook, |o| {
                o.id("getRunbook")
                    .summary("One runbook's definition as its file says it (parsed)")
                    .response_with::<422, ApiError, _>(|r| {
                        r.description("The file does not parse (`check` is `runbook`; the message says where)")
                    })
            }),
        )
        .api_route(
            "/blockers",
            get_with(blockers, |o| o.id("listBlockers").summary("Blockers, newest first"))
                .post_with(file_blocker, |o| {
                    refusals(
                        o.id("fileBlocker")
                            .summary("File a blocker: a signed blocker-file statement; answers the blocker (the same one when it was already filed)")
                            .response_with::<201, Json<BlockerView>, _>(|r| r.description("Filed")),
                    )
                }),
        )
        .api_route(
            "/rollouts/{id}",
            get_with(rollout, |o| o.id("getRollout").summary("One rollout: waves, bars, phase, next actions")),
        )
        .merge(crate::rollouts::routes())
        .api_route(
            "/ledger",
            get_with(ledger, |o| o.id("ledgerStatus").summary("The ledger's size and latest checkpoint")),
        )
        .api_route(
            "/ledger/checkpoints",
            get_with(checkpoints, |o| o.id("listCheckpoints").summary("The signed checkpoints, oldest first")),
        )
        .api_route(
            "/ledger/proofs",
            get_with(prove, |o| {
                o.id("proveInclusion")
                    .summary("Inclusion proofs of an op's entries (or one index) against the latest checkpoint")
            }),
        )
        .api_route(
            "/ledger/consistency",
            get_with(consistency, |o| {
                o.id("proveConsistency").summary("A consistency proof between two checkpoints")
            }),
        )
}

async fn status(State(app): State<App>, _r: Reader) -> Result<Json<StatusView>, ApiError> {
    app.core(|ctl| Ok(ctl.overview()?)).await.map(Json)
}

async fn plan(
    State(app): State<App>,
    _r: Reader,
    Body(b): Body<PlanRequest>,
) -> Result<Json<PlannedOp>, ApiError> {
    if b.targets.len() > MAX_PLAN_ITEMS || b.params.len() > MAX_PLAN_ITEMS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_PLAN_ITEMS} targets and params"
        )));
    }
    if b.targets.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Check::Targets),
            "no target hosts: name at least one selector (a host, web-*, tag:x, arch:aarch64, !tag:x)",
        ));
    }
    let issuer = b
        .issuer
        .as_deref()
        .map(bosun_model::KeyId::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("issuer: {e}")))?;
    app.core(move |ctl| {
        let gov = ctl.governed()?;
        let refused = |check: Check, e: String| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, Some(check), e)
        };
        let targets: Vec<bosun_model::Name> = gov
            .inventory
            .select(&b.targets)
            .map_err(|e| refused(Check::Targets, e.to_string()))?
            .into_iter()
            .map(|h| h.name)
            .collect();
        if !gov.runbooks.contains_key(&b.runbook) {
            return Err(refused(
                Check::Runbook,
                format!("unknown runbook `{}`", b.runbook),
            ));
        }
        let mut plan = bosun_control::client::plan(&gov, &b.runbook, &targets, &b.params)
            .map_err(|e| refused(Check::Plan, e.to_string()))?;
        if b.check {
            plan = bosun_control::client::check_plan(plan)
                .map_err(|e| refused(Check::Plan, e.to_string()))?;
        }
        let next_seq = issuer.map(|k| ctl.next_seq(&k)).transpose()?;
        let mut planned = bosun_control::views::planned_op(
            &ctl.ws.config.name,
            ctl.ws.config.op_ttl_secs,
            &plan,
            next_seq,
        );
        if b.whole {
            planned.whole =
                Some(serde_json::to_value(&plan).map_err(|e| ApiError::internal(e.to_string()))?);
        }
        Ok(planned)
    })
    .await
    .map(Json)
}

async fn ops(
    State(app): State<App>,
    _r: Reader,
    Params(q): Params<OpsQuery>,
) -> Result<Json<Vec<OpBrief>>, ApiError> {
    let state = q.state;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` is 1 to {MAX_LIST}")));
    }
    app.core(move |ctl| Ok(ctl.op_briefs(state, limit)?))
        .await
        .map(Json)
}

async fn op(State(app): State<App>, _r: Reader, Id(id): Id) -> Result<Json<OpView>, ApiError> {
    app.core(move |ctl| {
        let jti = ctl.resolve_op(&id)?;
        ctl.op_view(&jti)?
            .ok_or_else(|| ApiError::not_found(format!("no op with id `{id}`")))
    })
    .await
    .map(Json)
}

async fn op_plan(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.core(move |ctl| {
        let jti = ctl.resolve_op(&id)?;
        let rec = ctl
            .op_record(&jti)?
            .ok_or_else(|| ApiError::not_found(format!("no op with id `{id}`")))?;
        serde_json::to_value(&rec.plan).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
    .map(Json)
}

/// A signed change as the pipeline judged it: taken, refused by a check
/// (its status and check), or a failure of the server.
pub(crate) fn judged<T>(
    r: bosun_control::Result<Result<T, bosun_control::intake::Rejected>>,
) -> Result<T, ApiError> {
    r?.map_err(|rej| ApiError::refused(&rej))
}

/// The op an accepted change is about, as it is now.
fn op_after(ctl: &bosun_control::Control, jti: &bosun_model::Jti) -> Result<OpView, ApiError> {
    ctl.op_view(jti)?
        .ok_or_else(|| ApiError::internal(format!("op `{jti}` was accepted but cannot be read")))
}

async fn submit(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<(StatusCode, Json<SubmittedView>), ApiError> {
    let started = std::time::Instant::now();
    let metrics = app.metrics.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let intake = app.intake.clone();
    let r = async {
        app.core(move |_| {
            intake.submit(
                b.envelope,
                Box::new(move |a| {
                    let _ = tx.send(a);
                }),
            )
        })
        .await?;
        match rx.await {
            Ok(Ok(a)) => Ok(bosun_control::views::submitted_view(&a)),
            Ok(Err(rej)) => Err(ApiError::refused(&rej)),
            Err(_) => Err(ApiError::internal("intake stopped before it answered")),
        }
    }
    .await;
    metrics.intake(started.elapsed(), r.is_ok());
    r.map(|v| (StatusCode::CREATED, Json(v)))
}

async fn approve(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<Json<OpView>, ApiError> {
    app.core(move |ctl| {
        let gov = ctl.governed()?;
        let out = judged(ctl.accept_approval(&gov, &b.envelope, bosun_control::now()))?;
        op_after(ctl, &out.op)
    })
    .await
    .map(Json)
}

async fn step_report(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<Json<ReportOutcome>, ApiError> {
    app.core(move |ctl| {
        let gov = ctl.governed()?;
        judged(ctl.accept_step_report(&gov, &b.envelope, bosun_control::now()))
    })
    .await
    .map(Json)
}

async fn statement(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<Json<StatusView>, ApiError> {
    app.core(move |ctl| {
        judged(ctl.apply_statement(&b.envelope, bosun_control::now()))?;
        Ok(ctl.overview()?)
    })
    .await
    .map(Json)
}

async fn hosts(State(app): State<App>, _r: Reader) -> Result<Json<Vec<HostView>>, ApiError> {
    app.core(|ctl| {
        let (inv, _warning) = ctl.inventory_in_force()?;
        Ok(ctl.host_views(&inv.hosts)?)
    })
    .await
    .map(Json)
}

async fn keys(State(app): State<App>, _r: Reader) -> Result<Json<Vec<KeyView>>, ApiError> {
    app.core(|ctl| Ok(ctl.key_views()?)).await.map(Json)
}

async fn runbooks(State(app): State<App>, _r: Reader) -> Result<Json<Vec<RunbookEntry>>, ApiError> {
    app.core(|ctl| Ok(ctl.runbook_entries()?)).await.map(Json)
}

async fn runbook(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.core(move |ctl| match ctl.runbook_definition(&id)? {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Check::Runbook),
            e.to_string(),
        )),
        None => Err(ApiError::not_found(format!(
            "no runbook `{id}` in runbooks/"
        ))),
    })
    .await
    .map(Json)
}

async fn blockers(
    State(app): State<App>,
    _r: Reader,
    Params(q): Params<BlockersQuery>,
) -> Result<Json<Vec<BlockerView>>, ApiError> {
    let all = q.all.unwrap_or(false);
    app.core(move |ctl| Ok(ctl.blocker_views(all)?))
        .await
        .map(Json)
}

async fn file_blocker(
    State(app): State<App>,
    Body(b): Body<EnvelopeBody>,
) -> Result<(StatusCode, Json<BlockerView>), ApiError> {
    let act = bosun_sign::decode(&b.envelope)
        .ok()
        .and_then(|u| u.claims::<bosun_model::StatementClaims>().ok())
        .map(|c| c.act);
    if !matches!(act, Some(bosun_model::Act::BlockerFile { .. })) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Check::Format),
            "this path takes a signed blocker-file statement; other statements go to /api/v1/statements",
        ));
    }
    app.core(move |ctl| {
        let applied = judged(ctl.apply_statement(&b.envelope, bosun_control::now()))?;
        let bosun_control::statement::Effect::BlockerFiled { id } = applied.effect else {
            return Err(ApiError::internal("the statement filed no blocker"));
        };
        ctl.blocker_view(id)?
            .ok_or_else(|| ApiError::internal(format!("blocker {id} was filed but cannot be read")))
    })
    .await
    .map(|v| (StatusCode::CREATED, Json(v)))
}

async fn rollout(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
) -> Result<Json<RolloutView>, ApiError> {
    app.core(move |ctl| {
        if !ctl.rollouts()?.iter().any(|r| r.id == id) {
            return Err(ApiError::not_found(format!(
                "no rollout `{id}` was started"
            )));
        }
        Ok(ctl.rollout_view(&id)?)
    })
    .await
    .map(Json)
}

async fn ledger(State(app): State<App>, _r: Reader) -> Result<Json<LedgerStatusView>, ApiError> {
    app.core(|ctl| Ok(ctl.ledger_status()?)).await.map(Json)
}

async fn checkpoints(
    State(app): State<App>,
    _r: Reader,
) -> Result<Json<Vec<CheckpointView>>, ApiError> {
    app.core(|ctl| Ok(ctl.checkpoint_views()?)).await.map(Json)
}

async fn prove(
    State(app): State<App>,
    _r: Reader,
    Params(q): Params<ProveQuery>,
) -> Result<Json<Vec<InclusionProof>>, ApiError> {
    if q.op.is_some() == q.index.is_some() {
        return Err(ApiError::bad_request(
            "give exactly one of `op` and `index`",
        ));
    }
    app.core(move |ctl| {
        let jti = q.op.as_deref().map(|o| ctl.resolve_op(o)).transpose()?;
        let jti = jti.as_ref().map(|j| j.as_str());
        Ok(bosun_control::ledger::prove(ctl, jti, q.index)?)
    })
    .await
    .map(Json)
}

async fn consistency(
    State(app): State<App>,
    _r: Reader,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    if q.to.is_some_and(|to| to < q.from) {
        return Err(ApiError::bad_request(
            "`from` is the older checkpoint's size: give it no larger than `to`",
        ));
    }
    app.core(move |ctl| Ok(bosun_control::ledger::prove_consistency(ctl, q.from, q.to)?))
        .await
        .map(Json)
}

/// The answer to a path nothing is served at.
pub async fn not_found() -> ApiError {
    ApiError::not_found(
        "nothing is served at this path; the API is under /api/v1 (see /api/v1/openapi.json)",
    )
}

/// The answer to a method a path does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Some(Check::Format),
        "this path does not take that method (see /api/v1/openapi.json)",
    )
}
