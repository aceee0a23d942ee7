//! Roles of identities. Only humans (`operator`) may approve; agents never.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The role a key is registered with in `keys/keys.toml`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A human who owns the fleet: proposes, approves, adopts.
    Operator,
    /// An AI agent or script: proposes only, never approves.
    Agent,
    /// The controller's own key: signs ledger checkpoints.
    Controller,
    /// The keeper's key: countersigns ops the policy lets run alone.
    Keeper,
}

impl Role {
    /// All roles, in a stable order.
    pub const ALL: [Role; 4] = [Role::Operator, Role::Agent, Role::Controller, Role::Keeper];

    /// Whether this role is a human one, the only kind that may approve.
    pub fn is_human(self) -> bool {
        matches!(self, Role::Operator)
    }

    /// The role's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Agent => "agent",
            Role::Controller => "controller",
            Role::Keeper => "keeper",
        }
    }

    /// Parses a lowercase role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
