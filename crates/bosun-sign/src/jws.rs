//! JWS compact serialization (RFC 7515) with Ed25519 (`EdDSA`, RFC 8037).
//!
//! Signing always uses `alg: EdDSA`. Decoding accepts `EdDSA` and the fully
//! specified `Ed25519` (RFC 9864) and nothing else: the algorithm is pinned,
//! so `none`, HMAC and RSA tokens are refused before any key is looked at.
//! Headers that would change how the token is processed (`crit`, `b64`) or
//! that bring their own key (`jwk`, `jku`, `x5u`, `x5c`, `kid` is fine) are
//! refused: bosun only trusts keys from its registry.
//!
//! The flow is [`decode`] (parse, no trust) → look up the issuer's registered
//! key (by [`Unverified::kid`] or by an unverified claim) → [`Unverified::verify`]
//! → [`Unverified::claims`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};

use crate::SignError;
use crate::error::TokenPart;
use crate::key::{PublicKey, b64};
use crate::signer::Sign;

/// Largest token [`decode`] accepts (and [`sign_compact`] produces), in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// The algorithm bosun signs with.
pub const ALG_EDDSA: &str = "EdDSA";
/// The fully specified Ed25519 algorithm name (RFC 9864), accepted when verifying.
pub const ALG_ED25519: &str = "Ed25519";

/// The JWS protected header members bosun uses. Other members are ignored
/// when decoding, except the refused ones listed in the module docs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Signature algorithm: `EdDSA` (or `Ed25519` when verifying).
    pub alg: String,
    /// Key id: the signer's identity name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Envelope type, e.g. `bosun-op+jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The header as read from a token: the used members plus the refused ones,
/// so a refused member is noticed whatever its value (even `null`). Derived
/// `Deserialize` also rejects a duplicated member.
#[derive(Deserialize)]
struct WireHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default)]
    b64: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// A decoded but **not yet verified** token. Nothing in it may be trusted
/// until [`Unverified::verify`] succeeded with the issuer's registered key.
#[derive(Clone, Debug)]
pub struct Unverified {
    header: Header,
    signing_input: Vec<u8>,
    signature: Signature,
    payload: Vec<u8>,
}

/// Signs `claims` as a compact JWS (with any [`Sign`]er: a [`crate::SecretKey`],
/// a [`crate::Signer`]) with header `{"alg":"EdDSA","kid":kid,"typ":typ}`.
pub fn sign_compact<T: Serialize, S: Sign + ?Sized>(
    key: &S,
    kid: &str,
    typ: &str,
    claims: &T,
) -> Result<String, SignError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SignError::Serialize {
        reason: e.to_string(),
    })?;
    let header = Header {
        alg: ALG_EDDSA.into(),
        kid: Some(kid.into()),
        typ: Some(typ.into()),
    };
    sign_raw(key, &header, &payload)
}

/// Signs an arbitrary payload with an explicit header (serialized with its
/// members in declaration order, absent ones left out). `header.alg` must be
/// `EdDSA`. Refuses to produce a token over [`MAX_ENVELOPE_BYTES`], since
/// [`decode`] would refuse it.
pub fn sign_raw<S: Sign + ?Sized>(
    key: &S,
    header: &Header,
    payload: &[u8],
) -> Result<String, SignError> {
    if header.alg != ALG_EDDSA {
        return Err(SignError::Algorithm {
            alg: header.alg.clone(),
        });
    }
    let header_json = serde_json::to_vec(header).map_err(|e| SignError::Serialize {
        reason: e.to_string(),
    })?;
    let mut token = b64(&header_json);
    token.push('.');
    token.push_str(&b64(payload));
    let signature = key.try_sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64(&signature));
    if token.len() > MAX_ENVELOPE_BYTES {
        return Err(SignError::TooLarge {
            len: token.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    Ok(token)
}

fn malformed(part: TokenPart, reason: impl Into<String>) -> SignError {
    SignError::Malformed {
        part,
        reason: reason.into(),
    }
}

fn decode_part(part: TokenPart, text: &str) -> Result<Vec<u8>, SignError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| {
        malformed(
            part,
            format!("not canonical base64url without padding ({e})"),
        )
    })
}

/// The `kid` of a compact JWS's protected header, read from the header
/// alone (no payload decoding, nothing verified): for routing an envelope
/// before it is checked. `None` when the token is oversized, the header is
/// not base64url JSON, or it names no key; [`decode`] then says why.
pub fn kid_of(token: &str) -> Option<String> {
    if token.len() > MAX_ENVELOPE_BYTES {
        return None;
    }
    let h = token.split('.').next()?;
    let bytes = decode_part(TokenPart::Header, h).ok()?;
    let wire: WireHeader = serde_json::from_slice(&bytes).ok()?;
    wire.kid
}

/// Parses a compact JWS without verifying it.
///
/// Checks, in order: the size limit (before anything else), exactly three
/// `.`-separated canonical base64url parts, the header JSON, the pinned
/// algorithm (`EdDSA` or `Ed25519`), refused header members, and a 64-byte
/// signature. The token must not contain surrounding whitespace; trim text
/// read from files first.
pub fn decode(token: &str) -> Result<Unverified, SignError> {
    if token.len() > MAX_ENVELOPE_BYTES {
        return Err(SignError::TooLarge {
            len: token.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(malformed(
            TokenPart::Token,
            format!("has {n} `.`-separated parts, expected exactly 3"),
        ));
    };

    let header_bytes = decode_part(TokenPart::Header, h)?;
    let wire: WireHeader = serde_json::from_slice(&header_bytes)
        .map_err(|e| malformed(TokenPart::Header, format!("not a valid JSON header ({e})")))?;
    if wire.alg != ALG_EDDSA && wire.alg != ALG_ED25519 {
        return Err(SignError::Algorithm { alg: wire.alg });
    }
    let refuse = |member: &str, reason: &'static str| {
        Err(SignError::UnsupportedHeader {
            member: member.into(),
            reason,
        })
    };
    if wire.crit {
        return refuse(
            "crit",
            "bosun understands no JWS extensions, so it cannot honour critical ones",
        );
    }
    if let Some(b64) = &wire.b64
        && b64 != &serde_json::Value::Bool(true)
    {
        return refuse(
            "b64",
            "unencoded payloads (RFC 7797) are not supported; sign the base64url payload",
        );
    }
    for (member, set) in [
        ("jwk", wire.jwk),
        ("jku", wire.jku),
        ("x5u", wire.x5u),
        ("x5c", wire.x5c),
    ] {
        if set {
            return refuse(
                member,
                "embedded or remote keys are never trusted; bosun verifies only with keys \
                 from its registry (name the key with `kid`)",
            );
        }
    }

    let payload = decode_part(TokenPart::Payload, p)?;
    let sig_bytes = decode_part(TokenPart::Signature, s)?;
    let sig_bytes = <[u8; 64]>::try_from(sig_bytes.as_slice()).map_err(|_| {
        malformed(
            TokenPart::Signature,
            format!("is {} bytes, an Ed25519 signature is 64", sig_bytes.len()),
        )
    })?;

    Ok(Unverified {
        header: Header {
            alg: wire.alg,
            kid: wire.kid,
            typ: wire.typ,
        },
        signing_input: token.as_bytes()[..h.len() + 1 + p.len()].to_vec(),
        signature: Signature::from_bytes(&sig_bytes),
        payload,
    })
}

impl Unverified {
    /// The protected header (unverified until [`Unverified::verify`]).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's `kid`, to look up the signer's registered key.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// The raw payload (JSON claims) bytes. **Unverified.**
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature with `key` (Ed25519 `verify_strict` over
    /// `ASCII(b64(header) '.' b64(payload))`).
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignError> {
        key.verifying_key()
            .verify_strict(&self.signing_input, &self.signature)
            .map_err(|_| SignError::BadSignature {
                kid: self.header.kid.clone(),
            })
    }

    /// Deserializes the payload as claims `T`. Call after [`Unverified::verify`];
    /// serde's message names the claim at fault.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, SignError> {
        serde_json::from_slice(&self.payload).map_err(|e| SignError::Claims {
            reason: e.to_string(),
        })
    }
}

/// Verifies many signatures at once (faster than one by one).
///
/// On error ([`SignError::BatchFailed`]) it does not say which item is bad:
/// fall back to [`Unverified::verify`] on each item to find it. Batch
/// verification uses the cofactored batch equation of `ed25519-dalek`, which
/// is not byte-for-byte as strict as `verify_strict` for adversarial
/// signatures with a small-order `R`; use [`Unverified::verify`] where that
/// distinction matters. Weak public keys cannot reach here: [`PublicKey`]
/// refuses them. An empty batch verifies.
pub fn verify_batch(items: &[(&Unverified, &PublicKey)]) -> Result<(), SignError> {
    if items.is_empty() {
        return Ok(());
    }
    let messages: Vec<&[u8]> = items
        .iter()
        .map(|(u, _)| u.signing_input.as_slice())
        .collect();
    let signatures: Vec<Signature> = items.iter().map(|(u, _)| u.signature).collect();
    let keys: Vec<_> = items.iter().map(|(_, k)| *k.verifying_key()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys)
        .map_err(|_| SignError::BatchFailed { count: items.len() })
}
