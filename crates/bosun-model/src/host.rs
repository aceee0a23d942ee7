//! Inventory hosts as `fleet/hosts.toml` describes them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::Name;

/// How bosun reaches a host.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A child process on the control host (optionally under a per-host root).
    #[default]
    Local,
    /// The system OpenSSH client.
    Ssh,
}

/// One `[[host]]` of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The host's name, as ops target it.
    #[schemars(with = "String")]
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
    /// Build capabilities: what this host builds for, as an architecture
    /// (`"aarch64"`) or a table (`{ arch = "aarch64", role = "fallback",
    /// on_demand = true, idle_release = "30m", ccache = "…" }`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<Build>,
    /// A command run on the control host to wake this host before it is
    /// needed (`wake-host data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<String>,
}

/// A build host's place in the routing of its architecture's builds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BuildRole {
    /// Tried first.
    #[default]
    Primary,
    /// Tried when no primary can take the build.
    Secondary,
    /// Tried last.
    Fallback,
}

impl BuildRole {
    /// As written in the inventory.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildRole::Primary => "primary",
            BuildRole::Secondary => "secondary",
            BuildRole::Fallback => "fallback",
        }
    }
}

/// One entry of a host's `builds`: an architecture it builds for and how.
/// `"aarch64"` is `{ arch = "aarch64" }` (a primary that is always on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Build {
    /// The architecture built (`aarch64`, `x86_64`).
    pub arch: String,
    /// Its place in the routing: `primary`, `secondary` or `fallback`.
    #[serde(default)]
    pub role: BuildRole,
    /// Asleep until needed: woken by the host's `wake` command (bounded
    /// wait) and released after `idle_release` without a build.
    #[serde(default, skip_serializing_if = "is_false")]
    pub on_demand: bool,
    /// How long an on-demand host stays up after its last build (`30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_release: Option<String>,
    /// The command run on the control host to release it (power it off,
    /// stop its container) once idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The host's ccache directory, passed to the build as `CCACHE_DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccache: Option<String>,
    /// The command run in a job's directory to build it (default
    /// `makepkg --noconfirm --nodeps`). Part of the adopted inventory, so
    /// what runs on a build host is what the operators adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Where jobs are staged and built on the host (default
    /// `kernel-builds`: under a `local` host's root, or the ssh login's
    /// home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildTable {
    arch: String,
    #[serde(default)]
    role: BuildRole,
    #[serde(default)]
    on_demand: bool,
    #[serde(default)]
    idle_release: Option<String>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    ccache: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    dir: Option<String>,
}

impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Build, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Build;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an architecture (\"aarch64\") or a table { arch, role, on_demand, idle_release, release, ccache, command, dir }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Build, E> {
                Ok(Build::plain(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Build, A::Error> {
                let t = BuildTable::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                if let Some(d) = &t.idle_release {
                    crate::source::parse_duration(d).map_err(|e| {
                        serde::de::Error::custom(format!("idle_release `{d}`: {e}"))
                    })?;
                }
                Ok(Build {
                    arch: t.arch,
                    role: t.role,
                    on_demand: t.on_demand,
                    idle_release: t.idle_release,
                    release: t.release,
                    ccache: t.ccache,
                    command: t.command,
                    dir: t.dir,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Build {
    /// An always-on primary for `arch`.
    pub fn plain(arch: &str) -> Build {
        Build {
            arch: arch.to_string(),
            role: BuildRole::Primary,
            on_demand: false,
            idle_release: None,
            release: None,
            ccache: None,
            command: None,
            dir: None,
        }
    }

    /// The build command (`command`, or makepkg's).
    pub fn command(&self) -> &str {
        self.command
            .as_deref()
            .unwrap_or("makepkg --noconfirm --nodeps")
    }

    /// The build directory (`dir`, or `kernel-builds`).
    pub fn dir(&self) -> &str {
        self.dir.as_deref().unwrap_or("kernel-builds")
    }
}

/// Where and how a host's steps run: every attribute of a [`Host`] that
/// decides which machine a command reaches, as whom, or what runs on the
/// control host before it. A plan records each target's binding, so its
/// digest (and every approval of it) covers them; an op planned for one
/// binding never runs under another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostBinding {
    /// How the host is reached.
    pub transport: Transport,
    /// Its address (or ssh config alias).
    pub address: String,
    /// SSH port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Remote user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Directory a `local` host's commands run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// An ssh_config file used instead of the user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<String>,
    /// Extra `ssh -o` options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_options: Vec<String>,
    /// The command run on the control host to wake it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<String>,
}

impl Host {
    /// This host's [`HostBinding`].
    pub fn binding(&self) -> HostBinding {
        HostBinding {
            transport: self.transport,
            address: self.address.clone(),
            port: self.port,
            user: self.user.clone(),
            root: self.root.clone(),
            ssh_config: self.ssh_config.clone(),
            ssh_options: self.ssh_options.clone(),
            wake: self.wake.clone(),
        }
    }

    /// The attributes of this host's binding that differ from `planned`,
    /// by name (`address`, `wake`, …): empty when it still runs where and
    /// how it was planned to.
    pub fn binding_changes(&self, planned: &HostBinding) -> Vec<&'static str> {
        let now = self.binding();
        let mut out = Vec::new();
        let mut diff = |name: &'static str, same: bool| {
            if !same {
                out.push(name);
            }
        };
        diff("transport", now.transport == planned.transport);
        diff("address", now.address == planned.address);
        diff("port", now.port == planned.port);
        diff("user", now.user == planned.user);
        diff("root", now.root == planned.root);
        diff("ssh_config", now.ssh_config == planned.ssh_config);
        diff("ssh_options", now.ssh_options == planned.ssh_options);
        diff("wake", now.wake == planned.wake);
        out
    }
}
