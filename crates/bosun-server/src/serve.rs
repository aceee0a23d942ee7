//! Serving connections: one small tokio runtime, an accept loop per
//! listener, each connection served by hyper (HTTP/1.1) with a header
//! read timeout and caps on header size and count (a slow-loris or
//! huge-header client is cut off), a deadline on every request, at most
//! [`MAX_CONNECTIONS`] connections at once, and a graceful stop: when
//! asked to stop, no new connection is taken and open ones get
//! [`STOP_GRACE`] to finish. On an HTTPS listener the TLS handshake runs
//! on the connection's own task, holding its slot, within
//! [`HEADER_TIMEOUT`]: a client that connects and never completes it is
//! cut off like one that never sends its headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use bosun_control::Control;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use crate::auth::{Reader, Via};
use crate::error::ApiError;
use crate::listen::{Bound, ListenError, bind};
use crate::metrics::{Metrics, Stored};
use crate::{App, Options, routes};

/// How long a client may take to send a request's headers (and, before
/// that, to complete the TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take, body and answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes of headers read (hyper answers 431 past it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// The most connections served at once per listener; more wait to be
/// accepted.
pub const MAX_CONNECTIONS: usize = 512;
/// How long open connections get to finish when the server stops.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The runtime could not start.
    #[error("the HTTP server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A server with its listeners bound, ready to run.
pub struct Server {
    app: App,
    bound: Vec<Bound>,
    max_core_calls: usize,
}

impl Server {
    /// Binds every listener of `opts` (refusing a non-loopback TCP
    /// address, a path that is not a socket, a socket in use) over `ctl`,
    /// counting into `metrics`.
    pub fn bind(
        ctl: Control,
        opts: &Options,
        metrics: Arc<Metrics>,
    ) -> Result<Server, ServerError> {
        let bound = opts
            .listen
            .iter()
            .map(|l| bind(l, opts.tls.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Server {
            app: App::new(ctl, opts, metrics),
            bound,
            max_core_calls: opts.max_core_calls,
        })
    }

    /// Where it listens, as URLs a client can be given (`BOSUN_URL`).
    pub fn urls(&self) -> Vec<String> {
        self.bound.iter().map(Bound::url).collect()
    }

    /// Serves until `stop` is set, then stops taking connections and
    /// gives open ones [`STOP_GRACE`]; removes its Unix sockets.
    pub fn run(self, stop: Arc<AtomicBool>) -> Result<(), ServerError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(self.max_core_calls.max(1) + 4)
            .thread_name("bosun-http")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let mcp = Arc::clone(&self.app.mcp);
        let router = router(self.app);
        let sockets: Vec<_> = self
            .bound
            .iter()
            .filter_map(|b| match b {
                Bound::Unix(_, p, id) => Some((p.clone(), *id)),
                Bound::Tcp(..) => None,
            })
            .collect();
        let r = rt.block_on(serve_all(self.bound, router, stop, &mcp));
        rt.shutdown_timeout(STOP_GRACE);
        // Only our own socket file: a standby that took the lease may
        // have bound a new one at the same path meanwhile.
        for (p, id) in sockets {
            if crate::listen::socket_id(&p) == Some(id) {
                let _ = std::fs::remove_file(p);
            }
        }
        r
    }
}

/// The whole HTTP surface over `app`: `/api/v1/…`, `/api/v1/openapi.json`,
/// `/metrics`, `/mcp`, and the JSON answers for everything else.
pub fn router(app: App) -> Router {
    let mut doc = aide::openapi::OpenApi::default();
    let api = routes::api()
        .finish_api(&mut doc)
        .route("/openapi.json", get(openapi_json))
        .route("/info", get(info))
        .method_not_allowed_fallback(routes::method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::web::routes())
        .route("/metrics", get(metrics))
        .route("/mcp", any(crate::mcp::handle))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn(deadline))
        .with_state(app)
}

async fn openapi_json(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.openapi.as_str().to_owned(),
    )
        .into_response()
}

/// `/api/v1/info` (public): what a client needs before it signs — the
/// workspace its envelopes and tokens are bound to.
async fn info(State(app): State<App>) -> axum::Json<bosun_api::views::ServerInfo> {
    axum::Json(app.info())
}

async fn metrics(State(app): State<App>, mut parts: Parts) -> Result<Response, ApiError> {
    if !app.metrics_public {
        Reader::from_request_parts(&mut parts, &app).await?;
    }
    let m = app.metrics.clone();
    let stored = app
        .core(|ctl| {
            Ok(Stored {
                ops: ctl
                    .op_counts()?
                    .into_iter()
                    .map(|(s, n)| (s.as_str().to_string(), n))
                    .collect(),
                queue_depth: ctl.queue_depth()?,
                lease_holder: ctl.lease_holder()?.map(|l| l.holder),
                ledger_size: ctl.ledger_size()?,
                unrecorded_refusals: ctl.unrecorded_refusals(),
            })
        })
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(&stored),
    )
        .into_response())
}

/// Cuts off a request that takes longer than [`REQUEST_TIMEOUT`].
async fn deadline(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            format!(
                "the request took longer than {} s and was cut off; a change it carried was made whole or not at all: read the op to see which",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn serve_all(
    bound: Vec<Bound>,
    router: Router,
    stop: Arc<AtomicBool>,
    mcp: &crate::mcp::Mcp,
) -> Result<(), ServerError> {
    let graceful = Arc::new(GracefulShutdown::new());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut loops = tokio::task::JoinSet::new();
    for b in bound {
        // Each listener its own connection slots: a flood over TCP does
        // not starve the Unix socket the operators use.
        let conns = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (graceful, rx) = (graceful.clone(), rx.clone());
        match b {
            Bound::Unix(l, p, _) => {
                let l = tokio::net::UnixListener::from_std(l).map_err(|e| ListenError::Io {
                    what: p.display().to_string(),
                    source: e,
                })?;
                let svc = router.clone().layer(Extension(Via::Unix));
                loops.spawn(accept_loop(l, svc, graceful, conns, rx));
            }
            Bound::Tcp(l, tls) => {
                let what = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let l = tokio::net::TcpListener::from_std(l)
                    .map_err(|e| ListenError::Io { what, source: e })?;
                let svc = router.clone().layer(Extension(Via::Tcp));
                match tls {
                    None => loops.spawn(accept_loop(l, svc, graceful, conns, rx)),
                    Some(t) => {
                        let l = TlsListener {
                            tcp: l,
                            tls: t.acceptor(),
                        };
                        loops.spawn(accept_loop(l, svc, graceful, conns, rx))
                    }
                };
            }
        }
    }
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // MCP's event streams stay open until their sessions end: end them.
    mcp.stop();
    let _ = tx.send(true);
    while loops.join_next().await.is_some() {}
    if let Ok(g) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(STOP_GRACE, g.shutdown()).await;
    }
    Ok(())
}

/// A listener the accept loop takes connections from.
trait Acceptor: Send + 'static {
    /// A connection as accepted.
    type Conn: Send + 'static;
    /// A connection ready for HTTP.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// What makes an accepted connection ready (the TLS handshake;
    /// nothing for plain sockets), run on the connection's own task.
    type Ready: std::future::Future<Output = std::io::Result<Self::Io>> + Send + 'static;
    /// The next connection.
    fn next(&self) -> impl std::future::Future<Output = std::io::Result<Self::Conn>> + Send;
    /// Readies `c` for HTTP.
    fn ready(&self, c: Self::Conn) -> Self::Ready;
}

impl Acceptor for tokio::net::UnixListener {
    type Conn = tokio::net::UnixStream;
    type Io = tokio::net::UnixStream;
    type Ready = std::future::Ready<std::io::Result<Self::Io>>;
    async fn next(&self) -> std::io::Result<Self::Conn> {
        self.accept().await.map(|(s, _)| s)
    }
    fn ready(&self, c: Self::Conn) -> Self::Ready {
        std::future::ready(Ok(c))
    }
}

impl Acceptor for tokio::net::TcpListener {
    type Conn = tokio::net::TcpStream;
    type Io = tokio::net::TcpStream;
    type Ready = std::future::Ready<std::io::Result<Self::Io>>;
    async fn next(&self) -> std::io::Result<Self::Conn> {
        let (s, _) = self.accept().await?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
    fn ready(&self, c: Self::Conn) -> Self::Ready {
        std::future::ready(Ok(c))
    }
}

/// A TCP listener that serves HTTPS.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl Acceptor for TlsListener {
    type Conn = tokio::net::TcpStream;
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Ready = tokio_rustls::Accept<tokio::net::TcpStream>;
    async fn next(&self) -> std::io::Result<Self::Conn> {
        self.tcp.next().await
    }
    fn ready(&self, c: Self::Conn) -> Self::Ready {
        self.tls.accept(c)
    }
}

/// Takes connections from `l` while a slot is free, until the stop.
async fn accept_loop<A: Acceptor>(
    l: A,
    svc: Router,
    graceful: Arc<GracefulShutdown>,
    conns: Arc<Semaphore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = conns.clone().acquire_owned() => p,
            _ = stop.changed() => break,
        };
        let Ok(permit) = permit else { break };
        tokio::select! {
            r = l.next() => match r {
                Ok(s) => connection(l.ready(s), svc.clone(), graceful.watcher(), permit),
                Err(e) => accept_failed(&e).await,
            },
            _ = stop.changed() => break,
        }
    }
}

/// An accept that failed (out of file descriptors, mostly): logged, and
/// a short pause so that a persistent failure does not spin.
async fn accept_failed(e: &std::io::Error) {
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Serves one connection on its own task, holding its slot until it
/// ends: readies it (the TLS handshake) within [`HEADER_TIMEOUT`], then
/// serves it, watched for the graceful stop (`watcher`, taken when it
/// was accepted, so a stop that comes during the handshake is seen).
fn connection<R, IO>(
    ready: R,
    svc: Router,
    watcher: Watcher,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    R: std::future::Future<Output = std::io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _permit = permit;
        let io = match tokio::time::timeout(HEADER_TIMEOUT, ready).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("no TLS handshake within the header timeout; cut off");
                return;
            }
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS)
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    });
}
