//! API tokens: a short-lived JWS (`bosun-token+jwt`) in which an adopted
//! identity says "this is me, reading" — what a client sends as
//! `Authorization: Bearer …` to the daemon's HTTP API over TCP.
//!
//! A token authorises reads only. No state change is ever decided by a
//! token: every change is an envelope signed for that change and checked
//! by intake, approvals or statements as if it came any other way. The
//! one place a token leads to a signature is the daemon's `/mcp`: for an
//! agent whose key the daemon holds, the token says which agent speaks,
//! and the daemon signs that agent's submissions, step reports and halts
//! with its key (never an operator's), checked like any other envelope. A token
//! lives at most [`MAX_TOKEN_SECS`]; it is verified against the adopted
//! key registry (an identity that is not adopted, or was removed, has no
//! token that works), for this workspace and audience only.

use bosun_api::Check;
use bosun_model::claims::TOKEN_TYP;
use bosun_model::{KeyId, Role, TokenClaims};
use bosun_sign::Sign;

use crate::approve::{Stamped, verify_stamped};
use crate::intake::{Rejected, Stamp, reject};
use crate::{Control, ControlError, Result};

/// The longest a token may live: a day. Short, so a leaked token is
/// worth little; `bosun key token --ttl` asks for less.
pub const MAX_TOKEN_SECS: i64 = 24 * 3600;

/// The audience every token names.
pub const AUDIENCE: &str = "bosun-api";

impl Stamped for TokenClaims {
    const TYP: &'static str = TOKEN_TYP;
    const WHAT: &'static str = "token";
    fn stamp(&self) -> Stamp<'_> {
        Stamp {
            iss: &self.iss,
            iat: self.iat,
            exp: self.exp,
            ws: &self.ws,
        }
    }
    fn subject(&self) -> String {
        self.jti.to_string()
    }
}

/// Who a valid token says is reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The identity.
    pub who: KeyId,
    /// Its role in the adopted registry.
    pub role: Role,
    /// When the token expires (Unix seconds).
    pub exp: i64,
}

impl Control {
    /// Signs a token for `who` with `key`, valid `ttl_secs` from `now`
    /// (at most [`MAX_TOKEN_SECS`]).
    pub fn sign_token(
        &self,
        key: &dyn Sign,
        who: &KeyId,
        ttl_secs: i64,
        now: i64,
    ) -> Result<String> {
        sign(key, who, &self.ws.config.name, ttl_secs, now)
    }

    /// Checks a bearer token: signed by an adopted key, for this
    /// workspace and the API, not expired, not issued in the future, and
    /// no longer-lived than [`MAX_TOKEN_SECS`]. Refusals are not recorded
    /// (a read changes nothing, and a flood of bad tokens must not grow
    /// the store).
    pub fn verify_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<std::result::Result<Reader, Rejected>> {
        // The adopted registry only: no workspace file is read per request.
        let keys = self.adopted_keys()?;
        let (c, role) = match verify_stamped::<TokenClaims>(&keys, &self.ws.config.name, token, now)
        {
            Ok(x) => x,
            Err(rej) => return Ok(Err(rej)),
        };
        if c.aud != AUDIENCE {
            return Ok(Err(reject(
                Check::Claims,
                format!("the token is for `{}`, not `{AUDIENCE}`", c.aud),
                None,
            )));
        }
        if c.exp.saturating_sub(c.iat) > MAX_TOKEN_SECS {
            return Ok(Err(reject(
                Check::Lifetime,
                format!(
                    "the token lives {} seconds; at most {MAX_TOKEN_SECS} are accepted",
                    c.exp.saturating_sub(c.iat)
                ),
                None,
            )));
        }
        Ok(Ok(Reader {
            who: c.iss,
            role,
            exp: c.exp,
        }))
    }
}

/// Signs a token for `who` in workspace `ws` with `key`, valid `ttl_secs`
/// from `now` (at most [`MAX_TOKEN_SECS`]): what a client of the daemon
/// signs for its reads.
pub fn sign(
    key: &dyn Sign,
    who: &KeyId,
    ws: &bosun_model::Name,
    ttl_secs: i64,
    now: i64,
) -> Result<String> {
    if !(1..=MAX_TOKEN_SECS).contains(&ttl_secs) {
        return Err(ControlError::Other(format!(
            "a token lives between 1 second and {} hours, not {ttl_secs} seconds",
            MAX_TOKEN_SECS / 3600
        )));
    }
    let claims = TokenClaims {
        jti: crate::fresh_jti()?,
        iss: who.clone(),
        iat: now,
        exp: now.saturating_add(ttl_secs),
        ws: ws.clone(),
        aud: AUDIENCE.into(),
    };
    Ok(bosun_sign::sign_compact(
        key,
        who.as_str(),
        TOKEN_TYP,
        &claims,
    )?)
}
