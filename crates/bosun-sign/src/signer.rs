//! Whatever can make an Ed25519 signature for an identity: the [`Sign`]
//! trait, and [`Signer`], the one a key directory hands out (a key in
//! memory, or a key held by `ssh-agent` that never leaves it).
//!
//! Every signer makes plain Ed25519 signatures (RFC 8032) over the bytes it
//! is given, so the envelopes they sign are the same JWS (`alg` EdDSA) and
//! verify the same way against the registered public key.

use crate::SignError;
use crate::agent::AgentKey;
use crate::key::{PublicKey, SecretKey};

/// Makes Ed25519 signatures for one key.
pub trait Sign {
    /// The public key the signatures verify against.
    fn public_key(&self) -> PublicKey;

    /// A plain Ed25519 signature over `msg`. May fail (an agent that is gone
    /// or refuses, e.g. when its user declines an `ssh-add -c` confirmation).
    fn try_sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError>;
}

impl Sign for SecretKey {
    fn public_key(&self) -> PublicKey {
        self.public()
    }

    fn try_sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        Ok(self.sign_bytes(msg))
    }
}

impl Sign for AgentKey {
    fn public_key(&self) -> PublicKey {
        self.public().clone()
    }

    fn try_sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        AgentKey::try_sign(self, msg)
    }
}

/// An identity's signer, as found in a key directory
/// ([`crate::KeyDir::signer`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Signer {
    /// A private key in memory: read from a plaintext key file, or
    /// decrypted from a protected one with its passphrase.
    Key(SecretKey),
    /// A key held by `ssh-agent`; each signature is a request to the agent.
    Agent(AgentKey),
}

impl Sign for Signer {
    fn public_key(&self) -> PublicKey {
        match self {
            Signer::Key(k) => k.public(),
            Signer::Agent(a) => a.public().clone(),
        }
    }

    fn try_sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        match self {
            Signer::Key(k) => Ok(k.sign_bytes(msg)),
            Signer::Agent(a) => a.try_sign(msg),
        }
    }
}
