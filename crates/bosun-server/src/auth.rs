//! Who may read. Over the Unix socket the socket file's permissions decide
//! (its group is the access list); over TCP every read needs
//! `Authorization: Bearer <token>`, a token signed by an adopted identity
//! (`bosun key token`), from loopback too — a same-machine agent is the
//! threat. No change is ever authorised here: every change is an envelope
//! signed for it, checked by the pipeline.

use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{Operation, Response, SecurityRequirement, StatusCode as DocStatus};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bosun_api::Check;
use bosun_control::token::Reader as TokenReader;
use bosun_model::KeyId;

use crate::App;
use crate::error::{ApiError, error_response};

/// The longest bearer token read; longer is refused unread.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The name of the bearer scheme in the OpenAPI document.
pub const BEARER: &str = "bearer";

/// Which listener a request came through (set per listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The Unix socket: its permissions decide who connects.
    Unix,
    /// TCP: reads need a bearer token.
    Tcp,
}

/// A request allowed to read: who it is, when it came with a token.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The identity its token proved (None over the Unix socket, or on
    /// a public route).
    pub who: Option<KeyId>,
}

fn unauthorized(check: Check, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, Some(check), message)
}

impl FromRequestParts<App> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        // A request without the mark came through no listener of ours:
        // treat it as the strictest.
        if parts.extensions.get::<Via>().copied() == Some(Via::Unix) {
            return Ok(Reader { who: None });
        }
        let r = bearer(parts, app, "reads over TCP need").await?;
        Ok(Reader { who: Some(r.who) })
    }
}

/// The identity `parts`' bearer token proves, verified against the
/// adopted key registry; 401 naming the check when there is none, or it
/// is refused. `needs` begins the message for a missing header ("reads
/// over TCP need").
pub async fn bearer(parts: &Parts, app: &App, needs: &str) -> Result<TokenReader, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            Check::Token,
            format!(
                "{needs} `Authorization: Bearer <token>`: a token signed by an adopted identity (docs/api.md)"
            ),
        ));
    };
    if value.len() > MAX_TOKEN_BYTES {
        return Err(unauthorized(
            Check::Size,
            format!("the Authorization header is over {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            unauthorized(
                Check::Token,
                "the Authorization header must be `Bearer <token>`",
            )
        })?
        .to_string();
    let verdict = app
        .core(move |ctl| Ok(ctl.verify_token(&token, bosun_control::now())?))
        .await?;
    verdict.map_err(|rej| {
        unauthorized(
            rej.check,
            format!("the bearer token was refused: {}", rej.message),
        )
    })
}

impl OperationInput for Reader {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        let req: SecurityRequirement = [(BEARER.to_string(), Vec::new())].into_iter().collect();
        if !operation.security.contains(&req) {
            operation.security.push(req);
        }
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(401)),
            error_response(
                ctx,
                "Over TCP: no bearer token, or a refused one (expired, forged, of an identity not adopted)",
            ),
        )]
    }
}
