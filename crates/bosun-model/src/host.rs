//! Inventory hosts as `fleet/hosts.toml` describes them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::Name;

/// How bosun reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A child process on the control host (optionally under a per-host root).
    #[default]
    Local,
    /// The system OpenSSH client.
    Ssh,
}

/// One `[[host]]` of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The host's name, as ops target it.
    pub name: Name,
    /// DNS name or IP address (or an ssh config alias).
    #[serde(default)]
    pub address: String,
    /// How to reach it.
    #[serde(default)]
    pub transport: Transport,
    /// SSH port, when not 22.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Remote user, when not the ssh default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// CPU architecture (`x86_64`, `aarch64`).
    #[serde(default)]
    pub arch: String,
    /// Free-form tags (`canary`, `storage`).
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Infrastructure host: never targeted unless an op names it explicitly.
    #[serde(default)]
    pub infra: bool,
    /// For `local` hosts: a directory the host's commands run in, so many
    /// simulated hosts can share one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// For `ssh` hosts: an ssh_config file to use instead of the user's
    /// (`ssh -F`), relative to the workspace. Without it, `~/.ssh/config`,
    /// the agent, ProxyJump and known_hosts work as they do for `ssh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<String>,
    /// For `ssh` hosts: extra `-o` options (`"IdentityFile=~/.ssh/lab"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_options: Vec<String>,
    /// For `infra` hosts: the runbooks this host opts in to. An infra host
    /// is targeted only when an op names it explicitly *and* runs one of
    /// these runbooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runbooks: Vec<String>,
    /// Build capabilities: the architectures (or package kinds) this host
    /// builds for (`aarch64`, `x86_64`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<String>,
    /// A command run on the control host to wake this host before it is
    /// needed (`wake-host data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<String>,
}
