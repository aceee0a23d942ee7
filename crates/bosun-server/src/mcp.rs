//! `/mcp`: bosun-mcp's tools over MCP's streamable HTTP transport, for an
//! agent that talks to the daemon instead of running `bosun mcp` itself.
//!
//! - **A token on every request**, on the Unix socket too: it says which
//!   agent is speaking ([`crate::auth::bearer`], the API's own check).
//! - **Agents only.** The token's identity must have the adopted role
//!   `agent`, and the daemon must hold its private key in its own key
//!   directory (`bosun serve --key-dir`): the tools sign its submissions,
//!   step reports and halts with that key, after the same checks as
//!   `bosun mcp --as` ([`bosun_mcp::Embedded::start`]). An operator's or
//!   the controller's token is refused (403) before any session exists;
//!   the daemon never signs with an operator's key.
//! - **One service per agent.** rmcp's `StreamableHttpService` is made for
//!   an agent on its first request and kept; a request is routed by its
//!   token's identity first, so a session made for one agent is unknown
//!   to every other agent's token.
//! - **Bounds:** at most [`MAX_SESSIONS`] open sessions per agent (closed
//!   after [`SESSION_IDLE`] without a request), request bodies up to
//!   [`MAX_BODY_BYTES`], and the tools' own bound on calls into the core
//!   ([`bosun_mcp::tools::MAX_CALLS`] per agent).
//!
//! A kept service keeps its key until the daemon restarts; what it may do
//! is still decided per request (the token is verified against the
//! adopted registry each time, and every signed statement goes through
//! the pipeline's checks).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bosun_api::Check;
use bosun_control::ControlError;
use bosun_mcp::{Embedded, StartError, Tools};
use bosun_model::{KeyId, Role};
use bosun_sign::{KeyDir, SignError};
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::App;
use crate::body::MAX_BODY_BYTES;
use crate::error::ApiError;

/// The most MCP sessions one agent may have open at once.
pub const MAX_SESSIONS: usize = 16;
/// How long a session lives without a request before it is closed.
pub const SESSION_IDLE: Duration = Duration::from_secs(600);

/// The header that names an MCP session.
const SESSION_HEADER: &str = "mcp-session-id";

/// One agent's tools over streamable HTTP, and its sessions.
struct Agent {
    service: StreamableHttpService<Tools, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    /// Held from counting the sessions to the answer of a request that
    /// may open one, so that concurrent ones cannot pass the bound.
    opening: tokio::sync::Mutex<()>,
}

/// The `/mcp` services of the agents that have connected, and the key
/// directory their keys come from.
pub struct Mcp {
    keys: Option<KeyDir>,
    config: StreamableHttpServerConfig,
    agents: tokio::sync::Mutex<HashMap<KeyId, Arc<Agent>>>,
}

impl Mcp {
    /// `/mcp` signing with the agent keys of `keys` (None: the daemon
    /// holds no keys, and `/mcp` refuses every agent).
    pub fn new(keys: Option<KeyDir>) -> Mcp {
        let config = StreamableHttpServerConfig::default()
            // The Host check guards servers that trust whoever reaches
            // them (DNS rebinding); here every request carries a token,
            // and over the Unix socket Host names nothing.
            .disable_allowed_hosts()
            // Agents are not browsers: a request a web page made is
            // refused, whatever token it carries.
            .enforce_origin_validation()
            .with_max_request_body_bytes(MAX_BODY_BYTES);
        Mcp {
            keys,
            config,
            agents: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Ends every session and stream (the daemon is stopping).
    pub fn stop(&self) {
        self.config.cancellation_token.cancel();
    }

    /// The service of `who`, made on its first request.
    async fn agent(&self, app: &App, who: &KeyId) -> Result<Arc<Agent>, ApiError> {
        let mut agents = self.agents.lock().await;
        if let Some(a) = agents.get(who) {
            return Ok(Arc::clone(a));
        }
        let Some(keys) = self.keys.clone() else {
            return Err(holds_no_key(who));
        };
        let (name, id) = (who.to_string(), who.clone());
        let core = app
            .core(move |ctl| {
                Embedded::start(ctl.clone(), &keys, &name).map_err(|e| refused(&id, e))
            })
            .await?;
        let tools = Tools::new(Arc::new(core));
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(SESSION_IDLE);
        let sessions = Arc::new(sessions);
        let service = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::clone(&sessions),
            self.config.clone(),
        );
        tracing::info!(agent = %who, "MCP tools ready for an agent at /mcp");
        let a = Arc::new(Agent {
            service,
            sessions,
            opening: tokio::sync::Mutex::new(()),
        });
        agents.insert(who.clone(), Arc::clone(&a));
        Ok(a)
    }
}

/// 403: the daemon has no key to sign as `who`.
fn holds_no_key(who: &KeyId) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        None,
        format!(
            "the daemon holds no key for `{who}`: `/mcp` signs as the agent with a key in the daemon's own key directory; put the agent's key there (docs/deploy.md), or serve the tools on stdio where the agent's key is (docs/mcp.md)"
        ),
    )
}

/// Why the tools would not start for `who`, as an answer.
fn refused(who: &KeyId, e: StartError) -> ApiError {
    match e {
        StartError::Control(ControlError::Sign(SignError::NoPrivateKey { .. })) => {
            holds_no_key(who)
        }
        StartError::Control(ControlError::Sign(e)) => ApiError::new(
            StatusCode::FORBIDDEN,
            None,
            format!("the daemon cannot sign as `{who}` with the key it holds: {e}"),
        ),
        e @ StartError::NotAnAgent { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, Some(Check::Role), e.to_string())
        }
        e @ StartError::BadName { .. } => ApiError::bad_request(e.to_string()),
        StartError::Control(e) => ApiError::from(e),
    }
}

/// `/mcp`, any method: the token's agent, then its service.
pub async fn handle(State(app): State<App>, req: Request) -> Response {
    match route(&app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(app: &App, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let r = crate::auth::bearer(&parts, app, "`/mcp` needs").await?;
    if r.role != Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Some(Check::Role),
            format!(
                "`{}` is an {} in the adopted key registry: `/mcp` serves agents only (a key whose adopted role is `agent`); connect with an agent's token",
                r.who, r.role
            ),
        ));
    }
    let agent = app.mcp.agent(app, &r.who).await?;
    // A POST outside a session may open one (an `initialize`): counted
    // and answered one at a time. (rmcp answers it once the session is
    // in its map; a tool call's answer streams after that.)
    let opens = parts.method == Method::POST && !parts.headers.contains_key(SESSION_HEADER);
    let _opening = if opens {
        Some(agent.opening.lock().await)
    } else {
        None
    };
    if opens && agent.sessions.sessions.read().await.len() >= MAX_SESSIONS {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            format!(
                "`{}` has {MAX_SESSIONS} MCP sessions open, the most the daemon keeps for one agent: close one (DELETE /mcp with its Mcp-Session-Id) or wait until one has been idle for {} s",
                r.who,
                SESSION_IDLE.as_secs()
            ),
        ));
    }
    let answer = agent.service.handle(Request::from_parts(parts, body)).await;
    Ok(answer.map(axum::body::Body::new))
}
