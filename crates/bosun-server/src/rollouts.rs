//! The rollout verbs that submit an op (`start`, `promote`, `retry`,
//! `drill`, `rollback`) for a client whose key stays with it: `POST
//! /rollouts/{id}/prepare` answers the op the verb would submit now
//! (nothing is stored), the client signs it, `POST /rollouts/{id}/runs`
//! takes the envelope. The daemon decides again when the envelope comes
//! and takes it only when its claims are that op; its signature, verified
//! against the adopted registry, says who acts (no token does).

use aide::axum::ApiRouter;
use aide::axum::routing::post_with;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bosun_api::Check;
use bosun_api::requests::{RolloutPrepareRequest, RolloutRunRequest};
use bosun_api::views::{PreparedRun, RolloutSubmitted};
use bosun_control::ControlError;

use crate::App;
use crate::auth::Reader;
use crate::body::Body;
use crate::error::ApiError;
use crate::params::Id;

/// The routes of the rollout verbs that submit an op.
pub fn routes() -> ApiRouter<App> {
    ApiRouter::new()
        .api_route(
            "/rollouts/{id}/prepare",
            post_with(prepare, |o| {
                o.id("prepareRolloutRun")
                    .summary("The op a rollout verb (start, promote, retry, drill, rollback) would submit now, for a client to check and sign; or that a promote would mark it done (nothing is stored)")
                    .response_with::<409, ApiError, _>(|r| {
                        r.description("The rollout's state does not take this verb now (`check` is `state`; the message says why)")
                    })
                    .response_with::<422, ApiError, _>(|r| {
                        r.description("The op's plan cannot be made (`check` is `plan`)")
                    })
            }),
        )
        .api_route(
            "/rollouts/{id}/runs",
            post_with(run, |o| {
                crate::routes::refusals(
                    o.id("submitRolloutRun")
                        .summary("Take the signed op of a rollout verb: decided again now, taken only when its claims are that op, then through intake")
                        .response_with::<201, Json<RolloutSubmitted>, _>(|r| {
                            r.description("Recorded in the rollout and accepted by intake: the op's id and state, the keeper's decision")
                        }),
                )
            }),
        )
}

/// A verb the rollout's state does not take (409, check `state`), a plan
/// that cannot be made (422, check `plan`), or what the core's error says.
fn not_now(e: ControlError) -> ApiError {
    match e {
        ControlError::Next { .. } | ControlError::Other(_) => {
            ApiError::new(StatusCode::CONFLICT, Some(Check::State), e.to_string())
        }
        ControlError::Plan(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(Check::Plan),
            e.to_string(),
        ),
        e => e.into(),
    }
}

async fn prepare(
    State(app): State<App>,
    _r: Reader,
    Id(id): Id,
    Body(b): Body<RolloutPrepareRequest>,
) -> Result<Json<PreparedRun>, ApiError> {
    let issuer = bosun_model::KeyId::parse(&b.issuer)
        .map_err(|e| ApiError::bad_request(format!("issuer: {e}")))?;
    app.core(move |ctl| {
        ctl.rollout_prepare(&id, b.action, &issuer, b.accept_inconclusive)
            .map_err(not_now)
    })
    .await
    .map(Json)
}

async fn run(
    State(app): State<App>,
    Id(id): Id,
    Body(b): Body<RolloutRunRequest>,
) -> Result<(StatusCode, Json<RolloutSubmitted>), ApiError> {
    app.core(move |ctl| {
        let s = ctl
            .rollout_run_signed(&id, b.action, b.accept_inconclusive, &b.envelope)
            .map_err(not_now)?
            .map_err(|rej| ApiError::refused(&rej))?;
        Ok(RolloutSubmitted {
            rollout: id,
            op: bosun_control::views::submitted_view(&s.accepted),
            not_in_inventory: s.gone,
        })
    })
    .await
    .map(|v| (StatusCode::CREATED, Json(v)))
}
