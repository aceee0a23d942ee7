//! bosun's HTTP API: what `bosun serve` answers on its Unix socket and on
//! TCP (plain HTTP on loopback, HTTPS anywhere: [`tls`]), under
//! `/api/v1`, with the OpenAPI 3.1 document at `/api/v1/openapi.json` and
//! Prometheus metrics at `/metrics`.
//!
//! - **The edge is async, the core is not.** axum on a small tokio
//!   runtime; every handler calls bosun-control's synchronous facade once,
//!   on the blocking pool, at most [`Options::max_core_calls`] at a time
//!   ([`App::core`]).
//! - **Envelopes authorise changes.** `POST /ops`, `/approvals`,
//!   `/step-reports`, `/statements` take a signed envelope and run it
//!   through the same checks as the CLI; no header, token or listener
//!   adds any authority to it.
//! - **Tokens authorise reads over TCP** ([`auth`]); over the Unix socket
//!   its permissions do.
//! - **One error shape** ([`error`]), body limits ([`body`]), a timeout on
//!   every request and on reading headers ([`serve`]).
//! - **The dashboard** ([`web`]): `/`, `/ops/{id}`, `/login`, pages
//!   rendered by bosun-web from the same views; a session cookie over TCP.
//! - **`/mcp`** ([`mcp`]): the MCP tools over streamable HTTP for agents,
//!   outside `/api/v1` and its document; a bearer token on every request,
//!   an agent's only, signing with that agent's key from the daemon's key
//!   directory.
#![deny(missing_docs)]

pub mod adoption;
pub mod auth;
pub mod body;
pub mod error;
pub mod intake;
pub mod kernel;
pub mod listen;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod reads;
pub mod rollouts;
pub mod routes;
pub mod serve;
pub mod tls;
pub mod web;
pub mod web_ledger;
pub mod web_passkey;

use std::sync::Arc;

use bosun_control::Control;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics::Metrics;

pub use listen::{Listen, ListenError};
pub use serve::{Server, ServerError};
pub use tls::{Tls, TlsError};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where it listens.
    pub listen: Vec<Listen>,
    /// The certificate every TCP listener serves HTTPS with; without it,
    /// TCP is plain HTTP on loopback only.
    pub tls: Option<Tls>,
    /// Whether `/metrics` answers without a token over TCP.
    pub metrics_public: bool,
    /// Most core calls at once (the blocking pool's bound).
    pub max_core_calls: usize,
    /// The daemon's key directory: the agent keys `/mcp` signs with
    /// (None: `/mcp` refuses every agent).
    pub keys: Option<bosun_sign::KeyDir>,
    /// The dashboard's pages (None: `/` and the pages answer 404).
    pub web: Option<Arc<bosun_web::Web>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: Vec::new(),
            tls: None,
            metrics_public: true,
            max_core_calls: 16,
            keys: None,
            web: None,
        }
    }
}

/// What every handler shares: the facade, the bound on core calls, the
/// metrics, the OpenAPI document.
#[derive(Clone)]
pub struct App {
    ctl: Control,
    core_calls: Arc<Semaphore>,
    /// One kernel change or check at a time (an import's body may be
    /// large; a check applies a whole series): [`kernel`].
    kernel_heavy: Arc<Semaphore>,
    /// What the server counts itself.
    pub metrics: Arc<Metrics>,
    intake: Arc<intake::Intake>,
    openapi: Arc<String>,
    metrics_public: bool,
    mcp: Arc<mcp::Mcp>,
    web: Option<Arc<bosun_web::Web>>,
    /// Whether TCP listeners serve HTTPS (the session cookie is `Secure`).
    tls: bool,
    /// The ledger's size as last read, for live pages ([`web`]): one
    /// reader for every watcher, started by the first.
    changes: Arc<std::sync::OnceLock<tokio::sync::watch::Receiver<u64>>>,
    /// Passkey registrations between their two halves ([`web_passkey`]).
    ceremonies: Arc<web_passkey::Ceremonies>,
}

impl App {
    /// An app over `ctl`, counting into `metrics`.
    pub fn new(ctl: Control, opts: &Options, metrics: Arc<Metrics>) -> App {
        App {
            ctl: ctl.clone(),
            core_calls: Arc::new(Semaphore::new(opts.max_core_calls.max(1))),
            kernel_heavy: Arc::new(Semaphore::new(1)),
            metrics,
            intake: Arc::new(intake::Intake::new(ctl.clone())),
            openapi: Arc::new(openapi::json()),
            metrics_public: opts.metrics_public,
            mcp: Arc::new(mcp::Mcp::new(opts.keys.clone())),
            web: opts.web.clone(),
            tls: opts.tls.is_some(),
            changes: Arc::new(std::sync::OnceLock::new()),
            ceremonies: Arc::default(),
        }
    }

    /// What a client needs to know before it signs anything.
    pub fn info(&self) -> bosun_api::views::ServerInfo {
        bosun_api::views::ServerInfo {
            workspace: self.ctl.ws.config.name.to_string(),
            op_ttl_secs: self.ctl.ws.config.op_ttl_secs,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Runs `f` on the facade, on the blocking pool, waiting for a slot
    /// when [`Options::max_core_calls`] are running. `f` runs to its end
    /// even if the client goes away: a change commits or refuses whole.
    pub async fn core<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Control) -> Result<T, ApiError> + Send + 'static,
    {
        let slot = self
            .core_calls
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the server is stopping"))?;
        let ctl = self.ctl.clone();
        // The slot goes with the work, so a client that leaves does not
        // free it while the work still runs.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            f(&ctl)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the request's work failed: {e}")))?
    }
}
