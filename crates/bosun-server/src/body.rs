//! Request bodies: read up to [`MAX_BODY_BYTES`] (413 past it, counted
//! while reading, so a huge body is never held), `application/json` only
//! (415), parsed into the route's type (400 naming what is wrong). Every
//! refusal is an [`ApiError`] in the one error shape.

use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{Operation, Response, StatusCode as DocStatus};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bosun_api::Check;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, error_response};

/// The largest request body: an envelope's own limit (64 KiB,
/// `bosun_sign::MAX_ENVELOPE_BYTES`) with room for its JSON wrapping.
pub const MAX_BODY_BYTES: usize = 96 * 1024;

/// A signed envelope sent to the API: an op, an approval or denial, a step
/// report or a statement, as compact JWS text. The envelope itself is the
/// authority for the change; no header or token adds to it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeBody {
    /// The compact JWS (`header.payload.signature`).
    pub envelope: String,
}

/// A JSON request body of type `T`, of at most `MAX` bytes (the
/// envelope routes' [`MAX_BODY_BYTES`] unless a route takes more: an
/// import of patches).
#[derive(Debug)]
pub struct Body<T, const MAX: usize = MAX_BODY_BYTES>(pub T);

impl<S: Send + Sync, T: DeserializeOwned, const MAX: usize> FromRequest<S> for Body<T, MAX> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some(Check::Format),
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX as u64) {
            return Err(too_large(MAX));
        }
        let limited = Limited::new(req.into_body(), MAX);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    too_large(MAX)
                } else {
                    ApiError::bad_request(format!("the body could not be read: {e}"))
                }
            })?
            .to_bytes();
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::bad_request(format!("the body is not what this route takes: {e}"))
        })
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Some(Check::Size),
        format!("the body is over the limit of {max} bytes; nothing was read or changed"),
    )
}

impl<T: JsonSchema, const MAX: usize> OperationInput for Body<T, MAX> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::Json<T> as OperationInput>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![
            (
                Some(DocStatus::Code(400)),
                error_response(
                    ctx,
                    "The body is not JSON of this route's shape (check `format`)",
                ),
            ),
            (
                Some(DocStatus::Code(413)),
                error_response(ctx, "The body is over the limit (check `size`)"),
            ),
            (
                Some(DocStatus::Code(415)),
                error_response(ctx, "The body is not `application/json` (check `format`)"),
            ),
        ]
    }
}
