//! The runbook file format and its validation.
//!
//! ```toml
//! id = "disk-usage"
//! description = "Report disk usage"
//! read_only = true
//! destructive = false
//!
//! [params.path]
//! type = "string"
//! default = "/"
//!
//! [[steps]]
//! id = "df"
//! cmd = "df -h {{ params.path }}"
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bosun_model::source::{SourceError, find_offset, from_toml};
use bosun_model::{Digest, Name};
use serde::{Deserialize, Serialize};

/// Largest runbook file accepted.
pub const MAX_RUNBOOK_BYTES: usize = 256 * 1024;
/// Most steps in one runbook.
pub const MAX_STEPS: usize = 1000;

/// Type of a runbook parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Any string.
    String,
    /// A signed integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// One of `values`.
    Enum,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Its type.
    #[serde(rename = "type", default = "default_type")]
    pub ty: ParamType,
    /// Value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<toml::Value>,
    /// Must be given when there is no default.
    #[serde(default)]
    pub required: bool,
    /// Allowed values for `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn default_type() -> ParamType {
    ParamType::String
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the runbook.
    pub id: Name,
    /// A shell command, a template over `params` and `host`.
    pub cmd: String,
    /// Safe to run again when its outcome is unknown.
    #[serde(default)]
    pub idempotent: bool,
    /// A note for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A parsed, validated runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Its id, equal to the file stem.
    pub id: Name,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// Its steps only read: the policy may let it run alone.
    #[serde(default)]
    pub read_only: bool,
    /// It destroys data.
    #[serde(default)]
    pub destructive: bool,
    /// Declared parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The digest, computed once (not part of the definition).
    #[serde(skip)]
    digest: DigestCache,
}

/// A lazily computed digest that takes no part in equality.
#[derive(Debug, Clone, Default)]
struct DigestCache(std::sync::OnceLock<Digest>);

impl PartialEq for DigestCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why a runbook file was refused: every problem found, each located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RunbookError(pub Vec<SourceError>);

impl Runbook {
    /// Digest of the runbook's definition (its canonical JSON), computed
    /// once per parsed runbook.
    pub fn digest(&self) -> Digest {
        self.digest
            .0
            .get_or_init(|| {
                Digest::of_json(self).unwrap_or_else(|e| Digest::of(e.to_string().as_bytes()))
            })
            .clone()
    }
}

/// Parses and validates a runbook file. `path` is used in messages.
pub fn parse_runbook(path: &str, text: &str) -> Result<Runbook, RunbookError> {
    let rb: Runbook =
        from_toml(path, text, MAX_RUNBOOK_BYTES).map_err(|e| RunbookError(vec![e]))?;
    let mut errors = Vec::new();
    let at =
        |needle: &str, msg: String| SourceError::at(path, text, find_offset(text, needle), msg);
    if rb.steps.is_empty() {
        errors.push(SourceError::whole(
            path,
            "a runbook needs at least one [[steps]] table",
        ));
    }
    if rb.steps.len() > MAX_STEPS {
        errors.push(SourceError::whole(
            path,
            format!("{} steps, over the limit of {MAX_STEPS}", rb.steps.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    for s in &rb.steps {
        if !seen.insert(s.id.as_str()) {
            errors.push(at(
                &format!("\"{}\"", s.id),
                format!("duplicate step id `{}`; step ids must be unique", s.id),
            ));
        }
    }
    for (name, p) in &rb.params {
        if Name::parse(name).is_err() || name.contains('.') || name.contains('-') {
            errors.push(at(
                name,
                format!("parameter name `{name}` must be letters, digits and `_`"),
            ));
        }
        if p.ty == ParamType::Enum && p.values.is_empty() {
            errors.push(at(name, format!("enum parameter `{name}` needs `values`")));
        }
        if let Some(d) = &p.default
            && let Err(e) = check_value(name, p, &value_to_string(d))
        {
            errors.push(at(name, format!("default of {e}")));
        }
    }
    if errors.is_empty() {
        Ok(rb)
    } else {
        Err(RunbookError(errors))
    }
}

/// A TOML default as the string a `--param` would give.
pub fn value_to_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks that `value` fits parameter `p`.
pub fn check_value(name: &str, p: &Param, value: &str) -> Result<(), String> {
    match p.ty {
        ParamType::String => Ok(()),
        ParamType::Int => value
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("parameter `{name}`: `{value}` is not an integer")),
        ParamType::Bool => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!(
                "parameter `{name}`: `{value}` is not true or false"
            )),
        },
        ParamType::Enum => {
            if p.values.iter().any(|v| v == value) {
                Ok(())
            } else {
                Err(format!(
                    "parameter `{name}`: `{value}` is not one of {}",
                    p.values.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "disk-usage"
description = "Report disk usage"
read_only = true

[params.path]
type = "string"
default = "/"

[[steps]]
id = "df"
cmd = "df -h {{ params.path }}"
"#;

    #[test]
    fn parses_good() {
        let rb = parse_runbook("runbooks/disk-usage.toml", GOOD).unwrap();
        assert_eq!(rb.id.as_str(), "disk-usage");
        assert!(rb.read_only);
        assert_eq!(rb.steps.len(), 1);
    }

    #[test]
    fn duplicate_step_is_located() {
        let text = format!("{GOOD}\n[[steps]]\nid = \"df\"\ncmd = \"true\"\n");
        let e = parse_runbook("r.toml", &text).unwrap_err();
        assert!(e.to_string().contains("duplicate step id `df`"), "{e}");
        assert!(e.to_string().starts_with("r.toml:"), "{e}");
    }

    #[test]
    fn unknown_field_is_located() {
        let e = parse_runbook(
            "r.toml",
            "id = \"x\"\nbogus = 1\n[[steps]]\nid=\"a\"\ncmd=\"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("r.toml:2:1:"), "{e}");
    }

    #[test]
    fn bad_default_refused() {
        let e = parse_runbook(
            "r.toml",
            "id = \"x\"\n[params.n]\ntype = \"int\"\ndefault = \"many\"\n[[steps]]\nid=\"a\"\ncmd=\"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not an integer"), "{e}");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "id = \"r\"\nread_only = true\n[params.p]\ntype = \"int\"\ndefault = 3\n[[steps]]\nid = \"a\"\ncmd = \"echo {{ params.p }}\"\n[[steps]]\nid = \"b\"\ncmd = \"true\"\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
            let _ = parse_runbook("r.toml", &s);
        }

        #[test]
        fn mutated_runbooks_never_panic_and_errors_are_located(pos in 0usize..200, byte in any::<u8>()) {
            let mut b = VALID.as_bytes().to_vec();
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(text) = String::from_utf8(b)
                && let Err(e) = parse_runbook("r.toml", &text)
            {
                for err in &e.0 {
                    prop_assert_eq!(err.path.as_str(), "r.toml");
                    prop_assert!(err.line >= 1 && err.line <= text.lines().count().max(1) + 1);
                }
            }
        }
    }
}
