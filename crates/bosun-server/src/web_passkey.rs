//! The dashboard's passkeys: `/passkeys` (an operator's passkeys and the
//! form that registers one) and the approve-with-a-passkey button of an
//! op's page, with the JSON calls their script (`/static/passkey.js`)
//! makes.
//!
//! - Registering: `POST /passkeys/register/start` (the signed-in operator,
//!   a label) answers the browser's creation options and a ticket; the
//!   state stays here, in memory, for [`CEREMONY_SECS`]. `…/finish` checks
//!   the authenticator's answer (user verification required; webauthn-rs),
//!   writes the credential to `keys/<who>.passkeys.json`. It counts only
//!   once operators adopt it (`bosun adopt`, from a terminal, which shows
//!   the whole diff), like any key. Agents are refused: only operators
//!   hold passkeys.
//! - Approving: `POST /ops/{id}/passkey/start` answers the approval's
//!   exact claims and options whose challenge is their digest;
//!   `…/finish` wraps the claims and the assertion in a passkey envelope
//!   and takes it like `POST /api/v1/approvals` does: bosun-control checks
//!   it and the ledger records it.
//!
//! Every call needs a session (a token an adopted identity signed) and a
//! JSON body (`application/json`, which a cross-site form cannot send);
//! the cookie is `SameSite=Strict`; a request whose `Origin` is not the
//! dashboard's is refused; and nothing here runs anything without an
//! assertion the authenticator made on this origin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bosun_api::Check;
use bosun_api::NextAction;
use bosun_control::token::Reader;
use bosun_model::KeyId;
use bosun_passkey::Registration;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::body::Body;
use crate::error::ApiError;
use crate::params::Id;

/// How long a registration may take between its two halves.
pub const CEREMONY_SECS: u64 = 300;

/// At most this many registrations in flight (the oldest is dropped).
const MAX_CEREMONIES: usize = 64;

/// The routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/passkeys", get(page))
        .route("/passkeys/register/start", post(register_start))
        .route("/passkeys/register/finish", post(register_finish))
        .route("/ops/{id}/passkey/start", post(approve_start))
        .route("/ops/{id}/passkey/finish", post(approve_finish))
        .route("/static/passkey.js", get(script))
}

/// Registrations between their two halves, by ticket.
#[derive(Default)]
pub struct Ceremonies(Mutex<HashMap<String, Ceremony>>);

struct Ceremony {
    who: KeyId,
    label: String,
    state: Registration,
    at: Instant,
}

impl Ceremonies {
    fn put(&self, ticket: String, c: Ceremony) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = Duration::from_secs(CEREMONY_SECS);
        m.retain(|_, c| c.at.elapsed() < ttl);
        if m.len() >= MAX_CEREMONIES
            && let Some(oldest) = m.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(ticket, c);
    }

    fn take(&self, ticket: &str) -> Option<Ceremony> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(ticket)
            .filter(|c| c.at.elapsed() < Duration::from_secs(CEREMONY_SECS))
    }
}

/// A signed-in person: a session cookie whose token an adopted identity
/// signed, on a request from the dashboard's own origin.
pub struct Person(pub Reader);

impl FromRequestParts<App> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if !crate::web::same_origin(app, &parts.headers) {
            let from = parts
                .headers
                .get(header::ORIGIN)
                .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
                .unwrap_or_else(|| "another site".into());
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Some(Check::PasskeyOrigin),
                format!(
                    "this request came from `{from}`, not the dashboard's own pages{}",
                    app.ctl
                        .relying()
                        .map(|rp| format!(" (`{}`)", rp.origin()))
                        .unwrap_or_default()
                ),
            ));
        }
        let Some(token) = crate::web::session(parts) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                Some(Check::Token),
                "sign in first (/login): passkeys belong to an identity",
            ));
        };
        let reader = app
            .core(move |ctl| Ok(ctl.verify_token(&token, bosun_control::now())?))
            .await?
            .map_err(|rej| ApiError::refused(&rej))?;
        Ok(Person(reader))
    }
}

async fn page(State(app): State<App>, v: crate::web::Viewer) -> Response {
    let Some(reader) = v.0 else {
        return axum::response::Redirect::to("/login").into_response();
    };
    crate::web::read_page(
        app,
        move |ctl| {
            let gov = ctl.governed()?;
            let adopted = gov
                .keys
                .get(&reader.who)
                .map(|e| e.passkeys.clone())
                .unwrap_or_default();
            let on_disk = bosun_workspace::KeyRegistry::read(&ctl.ws.root)
                .ok()
                .and_then(|r| r.get(&reader.who).map(|e| e.passkeys.clone()))
                .unwrap_or_default();
            let mut rows: Vec<bosun_web::PasskeyRow> = adopted
                .iter()
                .map(|(label, c)| bosun_web::PasskeyRow {
                    label: label.clone(),
                    fingerprint: c.fingerprint(),
                    adopted: true,
                })
                .collect();
            for (label, c) in on_disk {
                if adopted.get(&label) != Some(&c) {
                    rows.push(bosun_web::PasskeyRow {
                        label,
                        fingerprint: c.fingerprint(),
                        adopted: false,
                    });
                }
            }
            Ok(bosun_web::PasskeysPage {
                who: reader.who.to_string(),
                role: reader.role.to_string(),
                enabled: ctl.relying().is_some(),
                origin: ctl.relying().map(|r| r.origin().to_string()),
                passkeys: rows,
                file: bosun_workspace::passkeys_path(&reader.who),
            })
        },
        |web, ws, p| web.passkeys(ws, &p),
    )
    .await
}

/// Only operators hold passkeys, and only on a daemon with a web origin.
fn may_hold(ctl: &bosun_control::Control, r: &Reader) -> Result<(), ApiError> {
    if !r.role.is_human() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Some(Check::Role),
            format!(
                "`{}` is an {}: only operators hold passkeys (agents never approve)",
                r.who, r.role
            ),
        ));
    }
    if ctl.relying().is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Some(Check::PasskeySetup),
            "passkeys are off: this daemon was started without the dashboard's address",
        ));
    }
    Ok(())
}

/// `POST /passkeys/register/start`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRegistration {
    label: String,
}

/// What the browser needs to make a credential.
#[derive(Serialize)]
struct RegistrationOptions {
    ticket: String,
    options: serde_json::Value,
}

async fn register_start(
    State(app): State<App>,
    Person(r): Person,
    Body(b): Body<StartRegistration>,
) -> Result<Json<RegistrationOptions>, ApiError> {
    let ceremonies = app.ceremonies.clone();
    app.core(move |ctl| {
        may_hold(ctl, &r)?;
        if !bosun_workspace::valid_passkey_label(&b.label) {
            return Err(ApiError::bad_request(format!(
                "passkey label `{}`: use 1 to 32 of a-z, 0-9, `-` and `_`",
                b.label
            )));
        }
        let gov = ctl.governed()?;
        let held: Vec<_> = gov
            .keys
            .get(&r.who)
            .map(|e| e.passkeys.values().cloned().collect())
            .unwrap_or_default();
        let rp = ctl
            .relying()
            .ok_or_else(|| ApiError::internal("no relying party"))?;
        let (options, state) = rp
            .start_registration(r.who.as_str(), &held)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, None, e.message))?;
        let ticket = bosun_control::fresh_jti()?.to_string();
        ceremonies.put(
            ticket.clone(),
            Ceremony {
                who: r.who.clone(),
                label: b.label,
                state,
                at: Instant::now(),
            },
        );
        Ok(RegistrationOptions { ticket, options })
    })
    .await
    .map(Json)
}

/// `POST /passkeys/register/finish`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishRegistration {
    ticket: String,
    credential: serde_json::Value,
}

/// A registered passkey, written and proposed.
#[derive(Serialize)]
struct Registered {
    label: String,
    fingerprint: String,
    file: String,
    message: String,
}

async fn register_finish(
    State(app): State<App>,
    Person(r): Person,
    Body(b): Body<FinishRegistration>,
) -> Result<Json<Registered>, ApiError> {
    let ceremonies = app.ceremonies.clone();
    let web = app.web.clone();
    app.core(move |ctl| {
        may_hold(ctl, &r)?;
        let c = ceremonies
            .take(&b.ticket)
            .filter(|c| c.who == r.who)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    Some(Check::PasskeyChallenge),
                    "no registration in progress with that ticket for you (they last 5 minutes): start again",
                )
            })?;
        let rp = ctl.relying().ok_or_else(|| ApiError::internal("no relying party"))?;
        let cred = rp
            .finish_registration(&b.credential.to_string(), &c.state)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(bosun_control::passkey::check_of(&e)),
                    e.message,
                )
            })?;
        bosun_workspace::KeyRegistry::add_passkey(&ctl.ws.root, &r.who, &c.label, &cred)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, None, e.to_string()))?;
        // Written, not proposed: a session token only reads, so the
        // operator proposes from a terminal, where the whole diff is shown
        // and signed (with this fingerprint in it to compare).
        let file = bosun_workspace::passkeys_path(&r.who);
        let adopt = web
            .as_ref()
            .map(|w| w.command(&NextAction::Adopt))
            .unwrap_or_default();
        let message = format!(
            "passkey `{}` ({}) is written to {file}; it counts once adopted — {adopt}",
            c.label,
            cred.fingerprint()
        );
        Ok(Registered {
            label: c.label,
            fingerprint: cred.fingerprint(),
            file,
            message,
        })
    })
    .await
    .map(Json)
}

async fn approve_start(
    State(app): State<App>,
    Person(r): Person,
    Id(id): Id,
    Body(_): Body<serde_json::Value>,
) -> Result<Json<bosun_control::passkey::PasskeyRequest>, ApiError> {
    app.core(move |ctl| {
        may_hold(ctl, &r)?;
        let jti = ctl.resolve_op(&id)?;
        Ok(ctl.passkey_request(&r.who, &jti, bosun_control::now())?)
    })
    .await
    .map(Json)
}

/// `POST /ops/{id}/passkey/finish`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishApproval {
    claims: String,
    credential: serde_json::Value,
}

/// What an approval from the page did.
#[derive(Serialize)]
struct Approved {
    state: String,
    approvals: usize,
    needed: u32,
    message: String,
}

async fn approve_finish(
    State(app): State<App>,
    Person(r): Person,
    Id(id): Id,
    Body(b): Body<FinishApproval>,
) -> Result<Json<Approved>, ApiError> {
    app.core(move |ctl| {
        let jti = ctl.resolve_op(&id)?;
        let c: bosun_model::ApprovalClaims = serde_json::from_str(&b.claims)
            .map_err(|e| ApiError::bad_request(format!("the approval's claims: {e}")))?;
        if c.op != jti || c.iss != r.who {
            return Err(ApiError::bad_request(format!(
                "these claims are {}'s approval of op `{}`; this is op `{jti}` and you are {}",
                c.iss, c.op, r.who
            )));
        }
        let env = bosun_control::Control::passkey_envelope(&b.claims, &b.credential.to_string())?;
        let gov = ctl.governed()?;
        let out = crate::routes::judged(ctl.accept_approval(&gov, &env, bosun_control::now()))?;
        Ok(Approved {
            state: out.state.to_string(),
            approvals: out.approvals,
            needed: out.needed,
            message: format!(
                "approved by {} with a passkey: {} of {} approval(s); the op is {}",
                r.who,
                out.approvals,
                out.needed,
                out.state.as_str().replace('_', " ")
            ),
        })
    })
    .await
    .map(Json)
}

async fn script() -> Response {
    crate::web::static_file(bosun_web::PASSKEY_JS, "text/javascript; charset=utf-8")
}
