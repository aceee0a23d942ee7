//! `bosun init`: the files of a new workspace.

use std::path::Path;

use bosun_model::Name;

use crate::{Result, WsError, io};

const HOSTS: &str = r#"# The inventory: one [[host]] table per host.
#   transport = "local" runs commands as child processes on this machine,
#   inside `root` when given (simulated hosts); "ssh" uses your OpenSSH
#   client, so ~/.ssh/config, your agent and ProxyJump apply.
#   infra = true hosts are never targeted unless an op names them.

[[host]]
name = "canary-1"
address = "localhost"
transport = "local"
arch = "x86_64"
tags = ["canary"]
root = ".bosun/sim/canary-1"

[[host]]
name = "web-1"
address = "localhost"
transport = "local"
arch = "x86_64"
tags = ["web"]
root = ".bosun/sim/web-1"

[[host]]
name = "web-2"
address = "localhost"
transport = "local"
arch = "aarch64"
tags = ["web"]
root = ".bosun/sim/web-2"

# [[host]]
# name = "nas"
# address = "nas.lan"
# transport = "ssh"
# port = 22
# user = "ops"
# arch = "x86_64"
# tags = ["storage"]
# infra = true
"#;

const DISK_USAGE: &str = r#"# A read-only runbook: the scaffolded policy lets it run without a human.
id = "disk-usage"
description = "Report disk usage of a path on each target"
read_only = true
destructive = false

# Every {{ … }} is quoted as one shell word; `path` refuses a leading `-`.
[params.path]
type = "path"
default = "."
description = "the path to measure"

[[steps]]
id = "df"
cmd = "du -sh {{ params.path }} 2>/dev/null || echo 'no such path'"
idempotent = true
"#;

const PKG_UPGRADE: &str = r#"# A changing runbook: an agent's op needs one operator's approval.
id = "pkg-upgrade"
description = "Install a package version on each target (simulated: writes a version file)"
read_only = false
destructive = false
# What kind of change this is: blockers halt verbs (a `regression` blocker
# halts installs to its host).
verb = "install"

[params.package]
type = "string"
pattern = "[a-z0-9][a-z0-9+.-]*"   # a Debian package name
default = "qat-driver"

[params.version]
type = "version"
required = true
description = "the version to install"

[[steps]]
id = "install"
cmd = "mkdir -p pkgs && echo {{ params.version }} > pkgs/{{ params.package }}.version && echo installed {{ params.package }} {{ params.version }} on {{ host.name }}"

[[steps]]
id = "verify"
cmd = "test \"$(cat pkgs/{{ params.package }}.version)\" = {{ params.version }} && echo verified"
idempotent = true
"#;

const PKG_ROLLBACK: &str = r#"id = "pkg-rollback"
description = "Put a package back to the previous version (simulated)"
read_only = false
verb = "rollback"

[params.package]
type = "string"
pattern = "[a-z0-9][a-z0-9+.-]*"
default = "qat-driver"

[params.version]
type = "version"
default = "previous"

[[steps]]
id = "restore"
cmd = "mkdir -p pkgs && echo previous > pkgs/{{ params.package }}.version && rm -f pkgs/{{ params.package }}.crash && echo rolled back {{ params.package }} on {{ host.name }}"
"#;

const PKG_ROLLOUT: &str = r#"# A canary-first rollout: `bosun rollout start pkg-upgrade --as <you>`.
# Every wave is an op of its own; waves after the canary always need a human.
id = "pkg-upgrade"
description = "qat-driver 2.5.0: canary first, then the web hosts"
runbook = "pkg-upgrade"
params = { version = "2.5.0" }
rollback = "pkg-rollback"
# Seed 000: the rollback path is tested on the canary before wider promotion.
require_rollback_drill = true

[[waves]]
name = "canary"
hosts = "tag:canary"
max_parallel = 1
bake = "1s"
bars = [
  { kind = "heartbeat", within = "30s" },
  { kind = "version", cmd = "cat pkgs/qat-driver.version", expect = "{{ params.version }}" },
]

[[waves]]
name = "web"
hosts = "tag:web"
max_parallel = 1
max_fail = 0
bars = [
  { kind = "version", cmd = "cat pkgs/qat-driver.version", expect = "{{ params.version }}" },
  { kind = "probe", cmd = "test ! -e pkgs/qat-driver.crash" },
]
"#;

const KEYS: &str = r#"# The key registry: one [[key]] per identity; public keys are keys/<name>.jwk.
# Add keys with `bosun key new <name> --role operator|agent`, then `bosun adopt`.
"#;

/// Writes a new workspace named `name` into `dir` (which must not already
/// hold a `bosun.toml`).
pub fn init(dir: &Path, name: &Name) -> Result<()> {
    if dir.join("bosun.toml").exists() {
        return Err(WsError::Other(format!(
            "{} already holds a bosun workspace (bosun.toml exists); nothing was changed",
            dir.display()
        )));
    }
    let files: [(&str, String); 10] = [
        (
            "bosun.toml",
            format!(
                "# The workspace. See `bosun --help`.\nname = \"{name}\"\n\n# Regular expressions scrubbed (replaced by ***) from step output before\n# it is stored, besides the built-in rules for passwords and tokens:\n# scrub = [\"AKIA[0-9A-Z]{{16}}\", \"ghp_[A-Za-z0-9]{{36}}\"]\n\n# Embedded storage: one SQLite file under .bosun/.\n[storage]\nkind = \"embedded\"\n\n# Reminders of what waits on a human (approvals, step reports, blockers),\n# counted from when the wait began, then every `repeat`; `bosun serve`\n# sends them (or `bosun remind` from cron). Without this: the log only.\n# [notify]\n# ladder = [\"0s\", \"1h\", \"6h\", \"1d\"]\n# repeat = \"1d\"\n# [[notify.sink]]\n# kind = \"log\"\n# [[notify.sink]]\n# kind = \"ntfy\"\n# url = \"https://ntfy.sh/my-homelab\"\n# token_env = \"NTFY_TOKEN\"   # the name of a variable, never the token\n# [[notify.sink]]\n# kind = \"webhook\"\n# url = \"http://chat.lan/hooks/bosun\"\n"
            ),
        ),
        ("keys/keys.toml", KEYS.to_string()),
        (
            "policy/keeper.toml",
            bosun_policy::DEFAULT_KEEPER_TOML.to_string(),
        ),
        (
            "policy/rules.cedar",
            bosun_policy::DEFAULT_CEDAR.to_string(),
        ),
        ("fleet/hosts.toml", HOSTS.to_string()),
        ("runbooks/disk-usage.toml", DISK_USAGE.to_string()),
        ("runbooks/pkg-upgrade.toml", PKG_UPGRADE.to_string()),
        ("runbooks/pkg-rollback.toml", PKG_ROLLBACK.to_string()),
        ("rollouts/pkg-upgrade.toml", PKG_ROLLOUT.to_string()),
        (".gitignore", ".bosun/\n".to_string()),
    ];
    for (rel, text) in files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&p, text).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffold_is_valid() {
        let d = tempfile::tempdir().unwrap();
        init(d.path(), &Name::parse("lab").unwrap()).unwrap();
        let ws = crate::Workspace::open(d.path()).unwrap();
        assert_eq!(ws.config.name.as_str(), "lab");
        assert_eq!(ws.inventory().unwrap().hosts.len(), 3);
        ws.disk_policy().unwrap().load().unwrap();
        for (_, path, text) in ws.disk_runbooks().unwrap() {
            bosun_runbook::parse_runbook(&path, &text).unwrap();
        }
        assert!(ws.disk_keys().unwrap().keys.is_empty());
        assert!(
            init(d.path(), &Name::parse("lab").unwrap()).is_err(),
            "init refuses to overwrite"
        );
    }
}
