//! Rollouts in a lab: an install runbook and its rollback, and a lab
//! with them and a rollout file adopted.

use super::Lab;

/// `install-pkg`: writes `params.version` to `version`.
pub const INSTALL: &str = r#"
id = "install-pkg"
verb = "install"
[params.version]
type = "string"
required = true
[[steps]]
id = "install"
cmd = "echo {{ params.version }} > version"
"#;

/// `rollback-pkg`: writes `old` to `version`.
pub const ROLLBACK: &str = r#"
id = "rollback-pkg"
verb = "rollback"
[params.version]
type = "string"
required = true
[[steps]]
id = "restore"
cmd = "echo old > version && echo rolled back on {{ host.name }}"
"#;

/// A [`Lab`] with both runbooks and `rollouts/pkg.toml` = `rollout`,
/// adopted.
pub fn rollout_lab(rollout: &str) -> Lab {
    let lab = Lab::new();
    lab.write("runbooks/install-pkg.toml", INSTALL);
    lab.write("runbooks/rollback-pkg.toml", ROLLBACK);
    lab.write("rollouts/pkg.toml", rollout);
    lab.adopt();
    lab
}

/// `pkg`: two waves, no drill — the canary (heartbeat, version and file
/// bars), then `tag:web` one host at a time (version and probe bars).
pub const TWO_WAVES: &str = r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
rollback = "rollback-pkg"

[[waves]]
name = "canary"
hosts = "tag:canary"
bars = [
  { kind = "heartbeat" },
  { kind = "version", cmd = "cat version", expect = "{{ params.version }}" },
  { kind = "file", path = "version", expect = "2.0" },
]

[[waves]]
name = "rest"
hosts = "tag:web"
max_parallel = 1
bars = [
  { kind = "version", cmd = "cat version", expect = "{{ params.version }}" },
  { kind = "probe", cmd = "test ! -f broken" },
]
"#;
