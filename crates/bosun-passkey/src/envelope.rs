//! The passkey envelope: `<header>.<claims>.<assertion>`, each part
//! base64url without padding, shaped like a compact JWS so it travels and
//! is stored where every other envelope is.
//!
//! - the header is JSON `{"alg":"WebAuthn","typ":…,"kid":…}`: the signer's
//!   identity in the key registry (`kid`) and what the claims are (`typ`);
//! - the claims are the exact JSON bytes the browser was shown;
//! - the assertion is the browser's `PublicKeyCredential` as JSON, made
//!   over the challenge [`challenge_of`] those claim bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{PasskeyCheck, PasskeyError};

/// The header's `alg` that marks a passkey envelope.
pub const ALG: &str = "WebAuthn";

/// The largest passkey envelope taken (as for every signed envelope).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// The WebAuthn challenge for claims: the SHA-256 digest of their bytes
/// (what `bosun_model::Digest::of` prints as `sha256:<hex>`).
pub fn challenge_of(claims: &[u8]) -> [u8; 32] {
    Sha256::digest(claims).into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// A decoded passkey envelope, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The signer's identity in the key registry.
    pub kid: String,
    /// What the claims are (an approval's `typ`).
    pub typ: String,
    /// The claims' exact bytes.
    pub claims: Vec<u8>,
    /// The browser's assertion, as JSON text.
    pub assertion: String,
}

/// Whether `token` is a passkey envelope (its header's `alg` is [`ALG`]),
/// as opposed to an Ed25519 JWS. Reads the header only.
pub fn is_passkey_envelope(token: &str) -> bool {
    let Some((head, _)) = token.split_once('.') else {
        return false;
    };
    if head.len() > 1024 {
        return false;
    }
    B64.decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|h| h.get("alg").and_then(|a| a.as_str()) == Some(ALG))
}

fn format(message: impl Into<String>) -> PasskeyError {
    PasskeyError::new(PasskeyCheck::Format, message)
}

impl Envelope {
    /// Encodes the envelope.
    pub fn encode(&self) -> String {
        let header = Header {
            alg: ALG.to_string(),
            typ: self.typ.clone(),
            kid: self.kid.clone(),
        };
        let head = serde_json::to_vec(&header).unwrap_or_default();
        format!(
            "{}.{}.{}",
            B64.encode(head),
            B64.encode(&self.claims),
            B64.encode(self.assertion.as_bytes())
        )
    }

    /// Decodes an envelope: size, three base64url parts, the header's
    /// fields, the assertion as UTF-8 JSON. Verifies nothing.
    pub fn decode(token: &str) -> Result<Envelope, PasskeyError> {
        if token.len() > MAX_ENVELOPE_BYTES {
            return Err(PasskeyError::new(
                PasskeyCheck::Format,
                format!(
                    "the passkey envelope is {} bytes; the limit is {MAX_ENVELOPE_BYTES}",
                    token.len()
                ),
            ));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(a), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format(
                "a passkey envelope has three parts separated by `.`",
            ));
        };
        let part = |name: &str, s: &str| {
            B64.decode(s)
                .map_err(|e| format(format!("the envelope's {name} is not base64url: {e}")))
        };
        let header: Header = serde_json::from_slice(&part("header", h)?)
            .map_err(|e| format(format!("the envelope's header: {e}")))?;
        if header.alg != ALG {
            return Err(format(format!(
                "the envelope's alg is `{}`, not `{ALG}`",
                header.alg
            )));
        }
        let claims = part("claims", c)?;
        let assertion = String::from_utf8(part("assertion", a)?)
            .map_err(|_| format("the envelope's assertion is not UTF-8"))?;
        Ok(Envelope {
            kid: header.kid,
            typ: header.typ,
            claims,
            assertion,
        })
    }

    /// The challenge the assertion must have been made over.
    pub fn challenge(&self) -> [u8; 32] {
        challenge_of(&self.claims)
    }
}
