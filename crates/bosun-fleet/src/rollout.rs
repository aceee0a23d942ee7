//! Rollout files, `rollouts/<id>.toml`: one runbook applied in waves. The
//! first wave is the canary; every later wave is an op of its own that
//! needs its own approval.
//!
//! ```toml
//! id = "kernel-7-1"
//! runbook = "install-kernel"
//! params = { version = "7.1" }
//! rollback = "rollback-kernel"        # runbook run by `rollout rollback`
//! require_rollback_drill = true       # rollback must pass on the canary first
//!
//! [[waves]]
//! name = "canary"
//! hosts = "tag:canary"                # selectors, as --target takes them
//! max_parallel = 1
//! max_fail = 0
//! bake = "10m"                        # wait before the next wave may start
//! bars = [
//!   { kind = "heartbeat", within = "60s" },
//!   { kind = "version", cmd = "cat /etc/kernel-version", expect = "{{ params.version }}" },
//! ]
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bosun_model::source::{SourceError, find_offset, from_toml, parse_duration};
use serde::{Deserialize, Serialize};

use crate::bars::Bar;

/// Most waves in one rollout.
pub const MAX_WAVES: usize = 100;
/// Most bars in one wave.
pub const MAX_BARS: usize = 32;

/// One wave: a set of hosts, its limits and its bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// Its name (`canary`, `rest`).
    pub name: String,
    /// Host selectors, separated by spaces or commas (`tag:canary`,
    /// `web-*`, `!tag:infra`).
    pub hosts: String,
    /// At most this many hosts change at once.
    #[serde(default)]
    pub max_parallel: Option<u32>,
    /// Hosts that may fail before the wave stops starting new ones.
    #[serde(default)]
    pub max_fail: Option<u32>,
    /// How long the wave bakes after it ends before the next may start.
    #[serde(default)]
    pub bake: Option<String>,
    /// The bars checked on each host after its change.
    #[serde(default)]
    pub bars: Vec<Bar>,
}

impl Wave {
    /// The wave's selectors.
    pub fn selectors(&self) -> Vec<String> {
        crate::blockers::split_list(&self.hosts)
            .map(str::to_string)
            .collect()
    }

    /// The bake time in seconds (0 without one).
    pub fn bake_secs(&self) -> i64 {
        self.bake
            .as_deref()
            .and_then(|b| parse_duration(b).ok())
            .unwrap_or(0)
    }
}

/// A parsed, validated rollout file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Its id (the file's stem).
    pub id: String,
    /// What it rolls out, in words.
    #[serde(default)]
    pub description: String,
    /// The runbook each wave runs.
    pub runbook: String,
    /// The runbook's params.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The runbook `rollout rollback` runs on the hosts changed so far.
    #[serde(default)]
    pub rollback: Option<String>,
    /// Params of the rollback runbook (default: `params`).
    #[serde(default)]
    pub rollback_params: Option<BTreeMap<String, String>>,
    /// The rollback runbook must have succeeded on the canary (`rollout
    /// drill`) before any later wave starts.
    #[serde(default)]
    pub require_rollback_drill: bool,
    /// The waves, in order; the first is the canary.
    pub waves: Vec<Wave>,
}

impl Rollout {
    /// Parses and checks a rollout file. `stem` is the file name without
    /// `.toml`, which must equal `id`.
    pub fn parse(path: &str, stem: &str, text: &str) -> Result<Rollout, Vec<SourceError>> {
        let r: Rollout = from_toml(path, text, crate::MAX_FILE_BYTES).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut err = |needle: &str, msg: String| {
            errors.push(SourceError::at(path, text, find_offset(text, needle), msg));
        };
        if bosun_model::Name::parse(&r.id).is_err() {
            err("id", format!("rollout id `{}` is not a valid name", r.id));
        } else if r.id != stem {
            err(
                "id",
                format!(
                    "rollout id `{}` does not match its file name `{stem}.toml`",
                    r.id
                ),
            );
        }
        for (field, rb) in [
            ("runbook", Some(&r.runbook)),
            ("rollback", r.rollback.as_ref()),
        ] {
            if let Some(rb) = rb
                && bosun_model::Name::parse(rb).is_err()
            {
                err(
                    field,
                    format!("`{field}` = `{rb}` is not a valid runbook id"),
                );
            }
        }
        if r.require_rollback_drill && r.rollback.is_none() {
            err(
                "require_rollback_drill",
                "`require_rollback_drill` needs a `rollback` runbook to drill".into(),
            );
        }
        if r.waves.is_empty() {
            err(
                "id",
                "a rollout needs at least one [[waves]] table (the canary)".into(),
            );
        }
        if r.waves.len() > MAX_WAVES {
            err("[[waves]]", format!("more than {MAX_WAVES} waves"));
        }
        let mut names = BTreeSet::new();
        for w in &r.waves {
            let at = format!("\"{}\"", w.name);
            if bosun_model::Name::parse(&w.name).is_err() {
                err(&at, format!("wave name `{}` is not a valid name", w.name));
            }
            if !names.insert(w.name.as_str()) {
                err(&at, format!("wave `{}` is defined twice", w.name));
            }
            if w.selectors().is_empty() {
                err(
                    &at,
                    format!("wave `{}` selects no hosts (`hosts` is empty)", w.name),
                );
            }
            if w.max_parallel == Some(0) {
                err(
                    "max_parallel",
                    format!("wave `{}`: max_parallel must be at least 1", w.name),
                );
            }
            if w.bars.len() > MAX_BARS {
                err(
                    &at,
                    format!("wave `{}` has more than {MAX_BARS} bars", w.name),
                );
            }
            if let Some(b) = &w.bake
                && let Err(e) = parse_duration(b)
            {
                err(b, format!("wave `{}`: bake `{b}`: {e}", w.name));
            }
            for bar in &w.bars {
                for (field, d) in bar.durations() {
                    if let Err(e) = parse_duration(d) {
                        err(
                            &format!("\"{d}\""),
                            format!(
                                "wave `{}`: {} bar `{field}` = `{d}`: {e}",
                                w.name,
                                bar.kind()
                            ),
                        );
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(r)
        } else {
            Err(errors)
        }
    }

    /// The wave at `i`, if any.
    pub fn wave(&self, i: usize) -> Option<&Wave> {
        self.waves.get(i)
    }

    /// The rollback runbook's params.
    pub fn rollback_params(&self) -> &BTreeMap<String, String> {
        self.rollback_params.as_ref().unwrap_or(&self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "k71"
runbook = "install-kernel"
params = { version = "7.1" }
rollback = "rollback-kernel"
require_rollback_drill = true

[[waves]]
name = "canary"
hosts = "tag:canary"
max_parallel = 1
bake = "10m"
bars = [{ kind = "heartbeat" }, { kind = "version", cmd = "cat /v", expect = "{{ params.version }}" }]

[[waves]]
name = "rest"
hosts = "tag:lab, !tag:canary"
"#;

    #[test]
    fn parses_a_rollout() {
        let r = Rollout::parse("rollouts/k71.toml", "k71", GOOD).unwrap();
        assert_eq!(r.waves.len(), 2);
        assert_eq!(r.waves[0].bake_secs(), 600);
        assert_eq!(r.waves[1].selectors(), ["tag:lab", "!tag:canary"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = GOOD.replace("bake = \"10m\"", "bake = \"10 minutes\"");
        let e = Rollout::parse("rollouts/k71.toml", "k71", &bad).unwrap_err();
        assert!(
            e[0].to_string().starts_with("rollouts/k71.toml:12:"),
            "{e:?}"
        );
        let e = Rollout::parse("rollouts/x.toml", "x", GOOD).unwrap_err();
        assert!(
            e[0].message.contains("does not match its file name"),
            "{e:?}"
        );
        let bad = GOOD.replace("kind = \"heartbeat\"", "kind = \"heartbeet\"");
        let e = Rollout::parse("rollouts/k71.toml", "k71", &bad).unwrap_err();
        assert_eq!(e[0].line, 13, "{e:?}");
        let bad = GOOD.replace("rollback = \"rollback-kernel\"\n", "");
        let e = Rollout::parse("rollouts/k71.toml", "k71", &bad).unwrap_err();
        assert!(e[0].message.contains("needs a `rollback`"), "{e:?}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,600}") {
            let _ = Rollout::parse("r.toml", "r", &s);
        }

        #[test]
        fn parse_never_panics_on_mutations(at in 0usize..400, ch in "\\PC") {
            let mut s = GOOD.to_string();
            let mut at = at.min(s.len());
            while !s.is_char_boundary(at) { at -= 1; }
            s.insert_str(at, &ch);
            let _ = Rollout::parse("r.toml", "k71", &s);
        }
    }
}
