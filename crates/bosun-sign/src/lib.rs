//! Signing for bosun: Ed25519 keys as JWKs (RFC 8037), JWS compact envelopes
//! (RFC 7515) and private keys with ssh-style permission checks — plaintext
//! JWK files, passphrase-protected OpenSSH key files, and keys held by
//! `ssh-agent` ([`KeyDir`], [`Signer`]).
//!
//! This crate depends on no other bosun crate: envelopes are generic over any
//! `serde` claims type. It does no I/O except in the key file functions
//! ([`write_private_key`], [`read_private_key`], [`find_private_key`],
//! [`KeyDir`], [`PassphraseFile`]) and the `ssh-agent` client ([`AgentKey`]),
//! and never prints: asking a person for a passphrase is the edge's
//! [`PassphraseSource`].
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

mod agent;
mod error;
mod jws;
mod key;
mod keydir;
mod keyfile;
mod passphrase;
mod protected;
mod signer;

pub use agent::{AgentKey, agent_socket, list_ed25519, parse_ssh_public_key, ssh_public_key_line};
pub use keydir::{KeyDir, KeyKind, read_agent_key, read_protected_key};
pub use passphrase::{
    NoPassphrase, Passphrase, PassphraseFile, PassphraseRequest, PassphraseSource,
};
pub use protected::{MAX_KDF_ROUNDS, MAX_PROTECTED_KEY_BYTES, ProtectedKey};
pub use signer::{Sign, Signer};

pub use error::{SignError, TokenPart};
pub use jws::{
    ALG_ED25519, ALG_EDDSA, Header, MAX_ENVELOPE_BYTES, Unverified, decode, kid_of, sign_compact,
    sign_raw, verify_batch,
};
pub use key::{Jwk, MAX_JWK_BYTES, PublicKey, SecretKey, parse_jwk};
pub use keyfile::{
    default_key_dir, find_private_key, read_private_key, validate_key_name, write_private_key,
};
