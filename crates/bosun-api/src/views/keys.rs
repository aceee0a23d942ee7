//! The adopted key registry as a client sees it: each identity, its role,
//! its scope and its public key (what `GET /api/v1/keys` answers). A
//! client checks here that the key it holds is the adopted one before it
//! signs for a daemon.

use bosun_model::Role;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One adopted identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyView {
    /// Its name.
    pub name: String,
    /// Its role: `operator`, `agent` or `controller`.
    pub role: Role,
    /// Host selectors it may target.
    pub scope: Vec<String>,
    /// Its Ed25519 public key, base64url without padding (a JWK's `x`).
    pub x: String,
    /// Its RFC 7638 JWK thumbprint.
    pub thumbprint: String,
}
