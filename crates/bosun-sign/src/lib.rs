//! Signing for bosun: Ed25519 keys as JWKs (RFC 8037), JWS compact envelopes
//! (RFC 7515) and private key files with ssh-style permission checks.
//!
//! This crate depends on no other bosun crate: envelopes are generic over any
//! `serde` claims type. It does no I/O except in the key file functions
//! ([`write_private_key`], [`read_private_key`], [`find_private_key`]), and
//! never prints.
//!
//! ```
//! use bosun_sign::{SecretKey, decode, sign_compact};
//!
//! let key = SecretKey::from_seed([7; 32]);
//! let token = sign_compact(&key, "alice", "bosun-op+jwt", &serde_json::json!({"jti": "op-1"}))?;
//! let unverified = decode(&token)?;
//! assert_eq!(unverified.kid(), Some("alice"));
//! unverified.verify(&key.public())?;
//! let claims: serde_json::Value = unverified.claims()?;
//! assert_eq!(claims["jti"], "op-1");
//! # Ok::<(), bosun_sign::SignError>(())
//! ```

#![deny(missing_docs)]

mod error;
mod jws;
mod key;
mod keyfile;

pub use error::{SignError, TokenPart};
pub use jws::{
    ALG_ED25519, ALG_EDDSA, Header, MAX_ENVELOPE_BYTES, Unverified, decode, kid_of, sign_compact,
    sign_raw, verify_batch,
};
pub use key::{Jwk, MAX_JWK_BYTES, PublicKey, SecretKey, parse_jwk};
pub use keyfile::{
    default_key_dir, find_private_key, read_private_key, validate_key_name, write_private_key,
};
