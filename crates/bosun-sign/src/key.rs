//! Ed25519 keys ([`SecretKey`], [`PublicKey`]) and their JWK form ([`Jwk`], RFC 8037).
//!
//! Parsing is strict: `kty` must be `OKP`, `crv` `Ed25519`, `x` (and `d`)
//! exactly 32 bytes of canonical base64url without padding. Unknown JWK
//! members are ignored, because JWKs written by other tools carry extras.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::SignError;

/// Largest JWK text [`parse_jwk`] accepts, in bytes.
pub const MAX_JWK_BYTES: usize = 4 * 1024;

/// A JSON Web Key (RFC 7517) for an Ed25519 key (RFC 8037).
///
/// This is the wire form only: it may hold anything that parsed. Turn it into
/// a key with [`PublicKey::from_jwk`] or [`SecretKey::from_private_jwk`],
/// which validate it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// Key type; `OKP` for Ed25519.
    pub kty: String,
    /// Curve; `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The private key seed, base64url without padding; only in private JWKs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// Key id; bosun uses the identity's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm; `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; `sig`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("crv", &self.crv)
            .field("x", &self.x)
            .field("d", &self.d.as_ref().map(|_| "<redacted>"))
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("use", &self.use_)
            .finish()
    }
}

/// Parses JWK text (JSON), refusing anything over [`MAX_JWK_BYTES`].
///
/// Only the JSON shape is checked here; validate the key with
/// [`PublicKey::from_jwk`] or [`SecretKey::from_private_jwk`].
pub fn parse_jwk(text: &str) -> Result<Jwk, SignError> {
    if text.len() > MAX_JWK_BYTES {
        return Err(SignError::JwkTooLarge {
            len: text.len(),
            max: MAX_JWK_BYTES,
        });
    }
    serde_json::from_str(text).map_err(|e| SignError::JwkJson {
        reason: e.to_string(),
    })
}

/// An Ed25519 private key. Its `Debug` output shows only the public half.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &b64(self.0.verifying_key().as_bytes()))
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Generates a new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, SignError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignError::Random {
            reason: e.to_string(),
        })?;
        let key = SecretKey::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key with this 32-byte seed (RFC 8032 private key). Deterministic:
    /// for tests, benches and test vectors, never for real identities.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The private JWK (with `d`), tagged with `kid`, `alg: EdDSA`, `use: sig`.
    pub fn to_private_jwk(&self, kid: &str) -> Jwk {
        let mut jwk = self.public().to_jwk(kid);
        jwk.d = Some(b64(self.0.as_bytes()));
        jwk
    }

    /// Reads a private JWK: `d` must be present and `x` must be its public key.
    pub fn from_private_jwk(jwk: &Jwk) -> Result<SecretKey, SignError> {
        let public = check_public_members(jwk)?;
        let Some(d) = jwk.d.as_deref() else {
            return Err(invalid(
                jwk,
                "d",
                "is missing: this is a public key, a private key file needs the private member `d`"
                    .into(),
            ));
        };
        let seed = decode_32(jwk, "d", d)?;
        let key = SecretKey::from_seed(seed);
        if key.public() != public {
            return Err(invalid(
                jwk,
                "x",
                "does not match the private key `d`: the file is corrupt or was edited by hand"
                    .into(),
            ));
        }
        Ok(key)
    }

    /// A plain Ed25519 signature (RFC 8032) over `msg`, for formats other
    /// than JWS (C2SP signed notes).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(msg).to_bytes()
    }

    /// The 32-byte seed, for formats that store it (a C2SP note signer key).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The public JWK: `{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"alg":"EdDSA","use":"sig"}`.
    pub fn to_jwk(&self, kid: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64(self.0.as_bytes()),
            d: None,
            kid: Some(kid.into()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// Reads a public JWK, strictly. A JWK carrying `d` is refused
    /// ([`SignError::PrivateKeyInPublicJwk`]): a registry file holding a
    /// private key is a leak to fix, not something to ignore.
    pub fn from_jwk(jwk: &Jwk) -> Result<PublicKey, SignError> {
        if jwk.d.is_some() {
            return Err(SignError::PrivateKeyInPublicJwk {
                kid: jwk.kid.clone(),
            });
        }
        check_public_members(jwk)
    }

    /// The key from its 32 raw bytes; weak (small-order) keys are refused.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        if key.is_weak() {
            return None;
        }
        Some(PublicKey(key))
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks a plain Ed25519 signature over `msg` (`verify_strict`).
    pub fn verify_bytes(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(msg, &sig).is_ok()
    }

    /// The RFC 7638 JWK thumbprint: base64url(SHA-256 of
    /// `{"crv":"Ed25519","kty":"OKP","x":…}`).
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64(self.0.as_bytes())
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid(jwk: &Jwk, member: &'static str, reason: String) -> SignError {
    SignError::InvalidJwk {
        kid: jwk.kid.clone(),
        member,
        reason,
    }
}

/// Checks every member except `d` and returns the public key.
fn check_public_members(jwk: &Jwk) -> Result<PublicKey, SignError> {
    if jwk.kty != "OKP" {
        return Err(invalid(
            jwk,
            "kty",
            format!(
                "is `{}`; bosun keys are Ed25519, `kty` must be `OKP`",
                jwk.kty
            ),
        ));
    }
    if jwk.crv != "Ed25519" {
        return Err(invalid(
            jwk,
            "crv",
            format!("is `{}`; bosun keys must use `crv` `Ed25519`", jwk.crv),
        ));
    }
    if let Some(alg) = jwk.alg.as_deref()
        && alg != "EdDSA"
        && alg != "Ed25519"
    {
        return Err(invalid(
            jwk,
            "alg",
            format!("is `{alg}`; expected `EdDSA` (or `Ed25519`), or leave it out"),
        ));
    }
    if let Some(use_) = jwk.use_.as_deref()
        && use_ != "sig"
    {
        return Err(invalid(
            jwk,
            "use",
            format!("is `{use_}`; expected `sig`, or leave it out"),
        ));
    }
    let x = decode_32(jwk, "x", &jwk.x)?;
    let key = VerifyingKey::from_bytes(&x).map_err(|_| {
        invalid(
            jwk,
            "x",
            "is not a valid Ed25519 public key (not a point on the curve)".into(),
        )
    })?;
    if key.is_weak() {
        return Err(invalid(
            jwk,
            "x",
            "is a weak (small-order) Ed25519 public key, which anyone can forge signatures for"
                .into(),
        ));
    }
    Ok(PublicKey(key))
}

fn decode_32(jwk: &Jwk, member: &'static str, text: &str) -> Result<[u8; 32], SignError> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|e| {
        invalid(
            jwk,
            member,
            format!("is not canonical base64url without padding ({e})"),
        )
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(
            jwk,
            member,
            format!(
                "decodes to {} bytes; Ed25519 keys are 32 bytes",
                bytes.len()
            ),
        )
    })
}
