//! The one error shape of the HTTP API, whatever went wrong:
//! `{"error": {"check": <name or null>, "message": <text>}}` — a refusal
//! names the check that refused (the same names `--json` and the ledger
//! use: [`bosun_api::Check`]), everything else has `check: null`. 404,
//! 405, 413 and timeouts answer in this shape too.

use aide::OperationOutput;
use aide::generate::GenContext;
use aide::openapi::{MediaType, Operation, Response, SchemaObject, StatusCode as DocStatus};
use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bosun_api::{Check, Rejection};
use bosun_control::{ControlError, Failure};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "ErrorBody")]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, and which check said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// The check that refused the input (`signature`, `self_approval`,
    /// `size`, `token`, …), or null when no check did (not found, a
    /// timeout, a failure of the server).
    pub check: Option<Check>,
    /// What happened, in words.
    pub message: String,
}

/// An error answer: a status and the body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, `check` and `message`.
    pub fn new(status: StatusCode, check: Option<Check>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    check,
                    message: message.into(),
                },
            },
        }
    }

    /// 404: nothing at this path, or no such op, rollout, blocker.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, None, message)
    }

    /// 400: the request is malformed (`check: format`).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Some(Check::Format), message)
    }

    /// 500: the server failed; nothing the client did.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, message)
    }

    /// A refusal by a check of the pipeline: 401 for a bad token, 413 for
    /// an oversized input, 409 for a state or replay conflict, 422 for
    /// everything else the checks refuse (the input was read and judged).
    pub fn refused(r: &Rejection) -> ApiError {
        let status = match r.check {
            Check::Token => StatusCode::UNAUTHORIZED,
            Check::Size => StatusCode::PAYLOAD_TOO_LARGE,
            Check::Format => StatusCode::BAD_REQUEST,
            Check::Replay | Check::Seq | Check::State | Check::Adoption => StatusCode::CONFLICT,
            Check::Store => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, Some(r.check), r.message.clone())
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        let status = match e.failure() {
            Failure::Busy | Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::BadInput => {
                return ApiError::new(StatusCode::BAD_REQUEST, Some(Check::Format), e.to_string());
            }
            Failure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Conflict => StatusCode::CONFLICT,
            Failure::Other => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, None, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The documented error response: the [`ErrorBody`] schema.
pub(crate) fn error_response(ctx: &mut GenContext, what: &str) -> Response {
    let json_schema = ctx.schema.subschema_for::<ErrorBody>();
    Response {
        description: what.into(),
        content: [(
            "application/json".to_string(),
            MediaType {
                schema: Some(SchemaObject {
                    json_schema,
                    example: None,
                    external_docs: None,
                }),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

impl OperationOutput for ApiError {
    type Inner = ErrorBody;

    fn operation_response(ctx: &mut GenContext, _op: &mut Operation) -> Option<Response> {
        Some(error_response(
            ctx,
            "An error: the check that refused (or null) and what happened",
        ))
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        op: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        Self::operation_response(ctx, op)
            .map(|r| vec![(None, r)])
            .unwrap_or_default()
    }
}
