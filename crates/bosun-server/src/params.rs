//! Query strings and path ids, refused in the one error shape: axum's own
//! extractors answer plain text, so these wrap them and turn their
//! refusals into an [`ApiError`] (400, check `format`).

use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{Operation, Response, StatusCode as DocStatus};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, error_response};

/// The longest id a path may carry, in characters (as the document's
/// `maxLength` counts them).
pub const MAX_ID_CHARS: usize = 256;

/// A query string of type `T` (unknown keys refused where `T` says so).
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| ApiError::bad_request(format!("the query string: {}", e.body_text())))
    }
}

impl<T: JsonSchema> OperationInput for Params<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <Query<T> as OperationInput>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(400)),
            error_response(
                ctx,
                "A query parameter is unknown or malformed (check `format`)",
            ),
        )]
    }
}

/// The `{id}` of a path: an op's id (or a unique prefix of it), a
/// rollout's or a runbook's id.
#[derive(Debug)]
pub struct Id(pub String);

/// The path parameter as documented.
#[derive(serde::Deserialize, JsonSchema)]
struct IdParam {
    /// An op's id or a unique prefix of it; a rollout's or a runbook's id.
    #[schemars(length(min = 1, max = MAX_ID_CHARS), pattern(r"^[^\x00-\x1f\x7f-\x9f]+$"))]
    #[expect(dead_code, reason = "only its schema is used, for the document")]
    id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the path: {}", e.body_text())))?;
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "an id is 1 to {MAX_ID_CHARS} printable characters"
            )));
        }
        Ok(Id(id))
    }
}

impl OperationInput for Id {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <Path<IdParam> as OperationInput>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(404)),
            error_response(ctx, "Nothing has this id"),
        )]
    }
}
