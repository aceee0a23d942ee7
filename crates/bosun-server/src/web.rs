//! The web dashboard's pages (rendered by bosun-web from the same views
//! as the API): `/` the overview, `/ops/{id}` an op as an approver reads
//! it, `/hosts`, `/blockers`, `/rollouts` and `/rollouts/{id}`, `/login`,
//! and `/static/bosun.css`. Over the Unix socket (a local
//! proxy) its permissions decide who reads; over TCP the browser signs in
//! once by pasting a read token (`bosun key token`), kept in an HttpOnly,
//! `SameSite=Strict` cookie (`Secure` over TLS) until the token expires
//! and verified on every page like a bearer token. Pages carry a strict
//! Content-Security-Policy: nothing loads from another host, no inline
//! script runs.

use axum::Router;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::App;
use crate::auth::{MAX_TOKEN_BYTES, Via};
use crate::error::ApiError;
use crate::params::Id;

/// The session cookie's name.
pub const SESSION: &str = "bosun_session";

/// What every page answers with besides its body.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How often the shared reader looks at the ledger's size.
const TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// The pages (outside `/api/v1`).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(overview))
        .route("/ops/{id}", get(op))
        .route("/hosts", get(hosts))
        .route("/blockers", get(blockers))
        .route("/rollouts", get(rollouts))
        .route("/rollouts/{id}", get(rollout))
        .route("/login", get(login_page).post(login))
        .route("/static/bosun.css", get(stylesheet))
        .route("/static/live.js", get(live_js))
        .route("/events", get(events))
        .merge(crate::web_passkey::routes())
        .merge(crate::web_ledger::routes())
}

/// A page as the browser gets it: HTML with the security headers.
fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A rendering failure (a bug, not input) as a page.
fn failed(e: impl std::fmt::Display) -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "<!doctype html><title>bosun</title><p>the page could not be rendered: {}</p>",
            escape(&e.to_string())
        ),
    )
}

/// `s` with HTML's special characters escaped (for the one page written
/// without a template).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A browser allowed to read: through the Unix socket, or with a session
/// cookie holding a token an adopted identity signed (who it is, when a
/// cookie says). Without either, the page sends it to `/login`.
pub struct Viewer(pub Option<bosun_control::token::Reader>);

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let unix = parts.extensions.get::<Via>().copied() == Some(Via::Unix);
        let Some(token) = session(parts) else {
            return if unix {
                Ok(Viewer(None))
            } else {
                Err(Redirect::to("/login").into_response())
            };
        };
        let verdict = app
            .core(move |ctl| Ok(ctl.verify_token(&token, bosun_control::now())?))
            .await;
        match verdict {
            Ok(Ok(r)) => Ok(Viewer(Some(r))),
            _ if unix => Ok(Viewer(None)),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// The session cookie's token, if the request carries one of a sane size.
pub(crate) fn session(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_TOKEN_BYTES)
}

async fn overview(State(app): State<App>, _v: Viewer) -> Response {
    read_page(
        app,
        |ctl| Ok(ctl.overview()?),
        |web, _ws, s| web.overview(&s, jiff::Timestamp::now()),
    )
    .await
}

async fn op(State(app): State<App>, v: Viewer, Id(id): Id) -> Response {
    read_page(
        app,
        move |ctl| {
            let jti = ctl.resolve_op(&id)?;
            let view = ctl.consent(&jti, bosun_control::now())?.view();
            // The approve-with-a-passkey button, for an operator holding
            // an adopted passkey on a daemon that takes them.
            let gov = ctl.governed()?;
            let passkey_as = v.0.filter(|r| {
                ctl.relying().is_some()
                    && r.role.is_human()
                    && gov.keys.get(&r.who).is_some_and(|e| !e.passkeys.is_empty())
            });
            Ok((view, passkey_as.map(|r| r.who.to_string())))
        },
        |web, ws, (c, who)| web.op_for(ws, &c, jiff::Timestamp::now(), who.as_deref()),
    )
    .await
}

/// A page from what `read` answers through the core, rendered by
/// `render`; a client error (nothing has that id) as a page saying so.
pub(crate) async fn read_page<T, R, F>(app: App, read: R, render: F) -> Response
where
    T: Send + 'static,
    R: FnOnce(&bosun_control::Control) -> Result<T, ApiError> + Send + 'static,
    F: FnOnce(&bosun_web::Web, &str, T) -> Result<String, bosun_web::WebError>,
{
    let Some(web) = app.web.clone() else {
        return ApiError::not_found("this daemon serves no dashboard").into_response();
    };
    let ws = app.info().workspace;
    match app.core(read).await {
        Ok(v) => match render(&web, &ws, v) {
            Ok(html) => page(StatusCode::OK, html),
            Err(e) => failed(e),
        },
        Err(e) if e.status.is_client_error() => match web.missing(&ws, &e.body.error.message) {
            Ok(html) => page(StatusCode::NOT_FOUND, html),
            Err(e) => failed(e),
        },
        Err(e) => failed(&e.body.error.message),
    }
}

/// `?select=` of the hosts table: selectors as the CLI takes them,
/// separated by spaces.
#[derive(Deserialize)]
struct SelectQuery {
    select: Option<String>,
}

async fn hosts(
    State(app): State<App>,
    _v: Viewer,
    axum::extract::Query(q): axum::extract::Query<SelectQuery>,
) -> Response {
    let select = q
        .select
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    read_page(
        app,
        move |ctl| {
            let (inv, _) = ctl.inventory_in_force()?;
            let (chosen, error) = match &select {
                None => (inv.hosts.clone(), None),
                Some(s) => {
                    let sels: Vec<String> = s.split_whitespace().map(str::to_string).collect();
                    match inv.select(&sels) {
                        Ok(h) => (h, None),
                        Err(e) => (Vec::new(), Some(e.to_string())),
                    }
                }
            };
            Ok((ctl.host_views(&chosen)?, select, error))
        },
        |web, ws, (v, select, error)| {
            web.hosts_selected(ws, &v, select.as_deref(), error.as_deref())
        },
    )
    .await
}

/// `?all=true` of the blocker board.
#[derive(Deserialize)]
struct AllQuery {
    all: Option<bool>,
}

async fn blockers(
    State(app): State<App>,
    _v: Viewer,
    axum::extract::Query(q): axum::extract::Query<AllQuery>,
) -> Response {
    let all = q.all.unwrap_or(false);
    read_page(
        app,
        move |ctl| Ok(ctl.blocker_views(all)?),
        move |web, ws, v| web.blockers(ws, &v, all, jiff::Timestamp::now()),
    )
    .await
}

async fn rollouts(State(app): State<App>, _v: Viewer) -> Response {
    read_page(
        app,
        |ctl| {
            let mut out = Vec::new();
            for rec in ctl.rollouts()? {
                out.push(ctl.rollout_view(&rec.id)?);
            }
            Ok(out)
        },
        |web, ws, v| web.rollouts(ws, &v),
    )
    .await
}

async fn rollout(State(app): State<App>, _v: Viewer, Id(id): Id) -> Response {
    read_page(
        app,
        move |ctl| {
            if !ctl.rollouts()?.iter().any(|r| r.id == id) {
                return Err(ApiError::not_found(format!(
                    "no rollout `{id}` was started"
                )));
            }
            Ok(ctl.rollout_view(&id)?)
        },
        |web, ws, v| web.rollout(ws, &v, jiff::Timestamp::now()),
    )
    .await
}

async fn login_page(State(app): State<App>) -> Response {
    let Some(web) = app.web.clone() else {
        return ApiError::not_found("this daemon serves no dashboard").into_response();
    };
    match web.login(&app.info().workspace, None) {
        Ok(html) => page(StatusCode::OK, html),
        Err(e) => failed(e),
    }
}

/// The sign-in form.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// Whether a request comes from this dashboard's own pages, as far as the
/// browser says: `Sec-Fetch-Site` (sent by current browsers) must be
/// `same-origin` (or `none`: typed by the user); an `Origin` other than
/// `null` (a page with `no-referrer`, as ours, sends `null` on a form
/// post) must be the passkeys' origin when set, else the scheme and
/// `Host` the request came to. A client that sends neither is no browser
/// a page could drive.
pub(crate) fn same_origin(app: &App, headers: &axum::http::HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .filter(|o| o.as_bytes() != b"null")
    else {
        return true;
    };
    if let Some(rp) = app.ctl.relying() {
        return origin.as_bytes() == rp.origin().as_bytes();
    }
    let scheme = if app.tls { "https" } else { "http" };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| origin.as_bytes() == format!("{scheme}://{h}").as_bytes())
}

async fn login(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Some(web) = app.web.clone() else {
        return ApiError::not_found("this daemon serves no dashboard").into_response();
    };
    let ws = app.info().workspace;
    if !same_origin(&app, &headers) {
        // Login CSRF: another site signing this browser in as someone else.
        return match web.login(&ws, Some("this sign-in came from another site")) {
            Ok(html) => page(StatusCode::FORBIDDEN, html),
            Err(e) => failed(e),
        };
    }
    let token = f.token.trim().to_string();
    let refused = |why: &str| match web.login(&ws, Some(why)) {
        Ok(html) => page(StatusCode::UNAUTHORIZED, html),
        Err(e) => failed(e),
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || !token.chars().all(|c| c.is_ascii_graphic())
    {
        return refused("that is not a token");
    }
    let t = token.clone();
    let verdict = app
        .core(move |ctl| Ok(ctl.verify_token(&t, bosun_control::now())?))
        .await;
    let reader = match verdict {
        Ok(Ok(r)) => r,
        Ok(Err(rej)) => return refused(&format!("the token was refused: {}", rej.message)),
        Err(e) => return failed(&e.body.error.message),
    };
    let max_age = reader.exp.saturating_sub(bosun_control::now()).max(0);
    let secure = if app.tls { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    let mut r = Redirect::to("/").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
            r
        }
        Err(_) => refused("that is not a token"),
    }
}

/// A file compiled into the binary, served with its type.
pub(crate) fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

async fn stylesheet() -> Response {
    static_file(bosun_web::STYLESHEET, "text/css; charset=utf-8")
}

async fn live_js() -> Response {
    static_file(bosun_web::LIVE_JS, "text/javascript; charset=utf-8")
}

impl App {
    /// The ledger's size, as one shared reader sees it every [`TICK`]:
    /// every state change (an op decided, a step started or ended, a
    /// blocker filed) appends to the ledger, so a new size means a page
    /// may show something new.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes
            .get_or_init(|| {
                let (tx, rx) = tokio::sync::watch::channel(0);
                let app = self.clone();
                tokio::spawn(async move {
                    loop {
                        if let Ok(n) = app.core(|ctl| Ok(ctl.ledger_size()?)).await {
                            tx.send_if_modified(|v| {
                                let moved = *v != n;
                                *v = n;
                                moved
                            });
                        }
                        tokio::time::sleep(TICK).await;
                    }
                });
                rx
            })
            .clone()
    }
}

/// `/events`: Server-Sent Events, one `change` each time the ledger
/// grows, its `id:` the ledger's size; a browser that reconnects with
/// `Last-Event-ID` hears only of what came after. The pages' script
/// (`/static/live.js`) fetches the page again on each.
async fn events(State(app): State<App>, _v: Viewer, headers: axum::http::HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let last: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let rx = app.changes();
    let stream = futures_util::stream::unfold((rx, last), |(mut rx, last)| async move {
        loop {
            let now = *rx.borrow_and_update();
            // 0: not read yet.
            if now != 0 && Some(now) != last {
                let ev = Event::default()
                    .id(now.to_string())
                    .event("change")
                    .data(now.to_string());
                return Some((Ok::<_, std::convert::Infallible>(ev), (rx, Some(now))));
            }
            rx.changed().await.ok()?;
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
