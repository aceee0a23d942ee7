//! The runbook catalog: each file of `runbooks/` with whether it is the
//! version in force and what it says (what `bosun runbook list --json`
//! prints, `GET /api/v1/runbooks` answers and the MCP `runbooks_list` tool
//! returns).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A runbook file of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunbookEntry {
    /// Its id (the file's stem).
    pub id: String,
    /// Its path, relative to the workspace.
    pub path: String,
    /// The file says it only reads.
    pub read_only: bool,
    /// How many steps it has (0 when it does not parse).
    pub steps: usize,
    /// `yes`, `no` or `differs`: whether this file is the version in force.
    pub adopted: String,
    /// It parses and validates.
    pub valid: bool,
    /// What it says it does.
    pub description: String,
}
