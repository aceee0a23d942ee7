//! The ledger: its size, checkpoints, and the result of a verification.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A signed checkpoint of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckpointView {
    /// How many entries it covers.
    pub size: u64,
    /// The Merkle root, base64 (as the signed note writes it).
    pub root: String,
    /// When it was signed.
    pub at: Timestamp,
    /// The signed note (C2SP tlog-checkpoint), as text.
    pub note: String,
}

/// The ledger at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerStatusView {
    /// How many entries it holds.
    pub size: u64,
    /// The newest checkpoint, if any.
    pub checkpoint: Option<CheckpointView>,
}
