//! `[kernel]` in `bosun.toml`: how long kernel builds may take, how long
//! they are kept, and where published packages go. What runs on a build
//! host (its command and directory) is the adopted inventory's `builds`
//! entry, not this file's.
//!
//! ```toml
//! [kernel]
//! build_cap = "4h"        # absolute wall-clock cap of one build
//! wake_timeout = "5m"     # longest a build host may take to wake and answer
//! keep_failed = "7d"      # failed builds kept for inspection
//! keep_succeeded = "1d"
//! repo = "/srv/packages"  # the published repository (default <state>/kernel/repo)
//!
//! [kernel.baselines]      # a manifest's baseline tree -> a git checkout of it,
//! linux = "/srv/linux"    # where `patches check` applies (the daemon's, the API's)
//! ```

use bosun_model::source::parse_duration;
use serde::{Deserialize, Serialize};

/// `[kernel]` as written (every field has a default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    /// Absolute wall-clock cap of one build: past it the build is killed.
    #[serde(default = "default_build_cap")]
    pub build_cap: String,
    /// Longest wait for an on-demand build host to wake and answer.
    #[serde(default = "default_wake_timeout")]
    pub wake_timeout: String,
    /// How long a failed build is kept (its directory, log and sources).
    #[serde(default = "default_keep_failed")]
    pub keep_failed: String,
    /// How long a succeeded build's directory is kept.
    #[serde(default = "default_keep_succeeded")]
    pub keep_succeeded: String,
    /// The published repository's directory (absolute, or relative to the
    /// workspace); default `<state_dir>/kernel/repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Git checkouts of the manifests' baseline trees, by the manifest's
    /// `baseline.tree` (absolute, or relative to the workspace): where
    /// `patches check` applies a series when no `--baseline` is given
    /// (through the daemon, always).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub baselines: std::collections::BTreeMap<String, String>,
}

fn default_build_cap() -> String {
    "4h".into()
}
fn default_wake_timeout() -> String {
    "5m".into()
}
fn default_keep_failed() -> String {
    "7d".into()
}
fn default_keep_succeeded() -> String {
    "1d".into()
}

impl Default for KernelConfig {
    fn default() -> KernelConfig {
        KernelConfig {
            build_cap: default_build_cap(),
            wake_timeout: default_wake_timeout(),
            keep_failed: default_keep_failed(),
            keep_succeeded: default_keep_succeeded(),
            repo: None,
            baselines: std::collections::BTreeMap::new(),
        }
    }
}

/// The durations of `[kernel]`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelTimes {
    /// `build_cap`.
    pub build_cap: i64,
    /// `wake_timeout`.
    pub wake_timeout: i64,
    /// `keep_failed`.
    pub keep_failed: i64,
    /// `keep_succeeded`.
    pub keep_succeeded: i64,
}

impl KernelConfig {
    /// Every duration parsed, or the first bad one as (key, message).
    pub fn times(&self) -> Result<KernelTimes, (&'static str, String)> {
        let d = |key: &'static str, v: &str| {
            parse_duration(v)
                .and_then(|s| {
                    if s > 0 {
                        Ok(s)
                    } else {
                        Err("it must be longer than 0s".into())
                    }
                })
                .map_err(|e| (key, format!("kernel.{key} `{v}`: {e}")))
        };
        Ok(KernelTimes {
            build_cap: d("build_cap", &self.build_cap)?,
            wake_timeout: d("wake_timeout", &self.wake_timeout)?,
            keep_failed: d("keep_failed", &self.keep_failed)?,
            keep_succeeded: d("keep_succeeded", &self.keep_succeeded)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn kernel_settings_default_and_a_bad_one_is_named_with_its_line() {
        let c = Config::parse("bosun.toml", "name = \"w\"\n").unwrap();
        assert_eq!(c.kernel.times().unwrap().keep_failed, 7 * 86400);
        let c = Config::parse(
            "bosun.toml",
            "name = \"w\"\n[kernel]\nbuild_cap = \"90m\"\n",
        )
        .unwrap();
        assert_eq!(c.kernel.times().unwrap().build_cap, 5400);
        let e = Config::parse(
            "bosun.toml",
            "name = \"w\"\n[kernel]\nbuild_cap = \"forever\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("bosun.toml:3") && e.contains("kernel.build_cap"),
            "{e}"
        );
        let e = Config::parse(
            "bosun.toml",
            "name = \"w\"\n[kernel]\nwake_timeout = \"0s\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("kernel.wake_timeout"), "{e}");
        assert!(
            Config::parse("bosun.toml", "name = \"w\"\n[kernel]\nbuild_kap = \"1h\"\n").is_err()
        );
    }
}
