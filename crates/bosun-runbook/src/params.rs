//! Runbook parameters: their types and rules (`string` with `pattern`,
//! `enum` and `max_len`; `int`; `bool`; `path`; `version`), and the check
//! every value passes before anything is planned, naming the parameter and
//! the rule it breaks.

use serde::{Deserialize, Serialize};

/// Type of a runbook parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Any string (not starting with `-` unless its `pattern` allows).
    String,
    /// A signed integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// One of `values` (a `string` with `enum = […]` is the same).
    Enum,
    /// A file system path: no control characters, not starting with `-`
    /// (it would read as an option), at most 4096 bytes.
    Path,
    /// A package or software version: a letter or digit, then letters,
    /// digits and `.+~:_-`, at most 128 bytes.
    Version,
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
    /// Allowed values for `enum` (or `enum = […]` on a `string`).
    #[serde(default, alias = "enum", skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// A `string` must match this regular expression, whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// A `string` is at most this many bytes (default
    /// [`DEFAULT_MAX_LEN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `pattern`, compiled once (not part of the definition).
    #[serde(skip)]
    compiled: PatternCache,
}

/// The longest `string` param value when the runbook sets no `max_len`.
pub const DEFAULT_MAX_LEN: usize = 4096;

/// A compiled `pattern` that takes no part in equality.
#[derive(Debug, Clone, Default)]
struct PatternCache(std::sync::OnceLock<Result<regex::Regex, String>>);

impl PartialEq for PatternCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Param {
    /// `pattern` anchored at both ends and compiled (once).
    pub(crate) fn pattern(&self) -> Option<&Result<regex::Regex, String>> {
        let p = self.pattern.as_deref()?;
        Some(self.compiled.0.get_or_init(|| {
            regex::RegexBuilder::new(&format!("^(?:{p})$"))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| e.to_string())
        }))
    }
}

fn default_type() -> ParamType {
    ParamType::String
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
    let bad = |rule: &str| Err(format!("parameter `{name}`: `{}` {rule}", shown(value)));
    match p.ty {
        ParamType::String => {
            let max = p.max_len.unwrap_or(DEFAULT_MAX_LEN);
            if value.len() > max {
                return Err(format!(
                    "parameter `{name}`: {} bytes, over its max_len of {max}",
                    value.len()
                ));
            }
            if !p.values.is_empty() && !p.values.iter().any(|v| v == value) {
                return bad(&format!("is not one of its enum: {}", p.values.join(", ")));
            }
            // A quoted word is still an option to the program that gets it
            // (`-rf`, `-1`): only a `pattern` that says so lets one through.
            if value.starts_with('-') && p.pattern.is_none() && p.values.is_empty() {
                return bad(
                    "starts with `-` and would read as an option: give the parameter a `pattern` that allows it",
                );
            }
            match p.pattern() {
                Some(Ok(re)) if !re.is_match(value) => bad(&format!(
                    "does not match its pattern `{}`",
                    p.pattern.as_deref().unwrap_or_default()
                )),
                Some(Err(e)) => Err(format!("parameter `{name}`: bad pattern: {e}")),
                _ => Ok(()),
            }
        }
        ParamType::Int => value
            .parse::<i64>()
            .map(|_| ())
            .or_else(|_| bad("is not an integer")),
        ParamType::Bool => match value {
            "true" | "false" => Ok(()),
            _ => bad("is not true or false"),
        },
        ParamType::Enum => {
            if p.values.iter().any(|v| v == value) {
                Ok(())
            } else {
                bad(&format!("is not one of {}", p.values.join(", ")))
            }
        }
        ParamType::Path => {
            if value.is_empty() {
                bad("is not a path: it is empty")
            } else if value.len() > 4096 {
                bad("is not a path: over 4096 bytes")
            } else if value.starts_with('-') {
                bad("is not a path: it starts with `-` and would read as an option (write `./-…`)")
            } else if value.chars().any(char::is_control) {
                bad("is not a path: it holds a control character")
            } else {
                Ok(())
            }
        }
        ParamType::Version => {
            let ok = value.len() <= 128
                && value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".+~:_-".contains(c));
            if ok {
                Ok(())
            } else {
                bad(
                    "is not a version: a letter or digit, then letters, digits and `.+~:_-`, at most 128 bytes",
                )
            }
        }
    }
}

/// A value as an error message shows it: escaped, and cut at 80
/// characters.
fn shown(value: &str) -> String {
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::parse_runbook;

    #[test]
    fn typed_params_name_the_param_and_the_rule() {
        let rb = |params: &str| {
            parse_runbook(
                "r.toml",
                &format!("id = \"t\"\n{params}\n[[steps]]\nid = \"s\"\ncmd = \"true\"\n"),
            )
        };
        let r = rb("[params.p]\ntype = \"path\"\n[params.v]\ntype = \"version\"\n[params.s]\ntype = \"string\"\npattern = \"[a-z]+\"\nmax_len = 5\n[params.e]\ntype = \"string\"\nenum = [\"a\", \"b\"]\n[params.n]\ntype = \"int\"\n").unwrap();
        let check = |name: &str, v: &str| check_value(name, &r.params[name], v);
        for (name, good) in [
            ("p", "/var/log"),
            ("p", ".; x"),
            ("v", "2.4.1~rc1+b2"),
            ("s", "abc"),
            ("e", "b"),
            ("n", "-3"),
        ] {
            assert_eq!(check(name, good), Ok(()), "{name}={good}");
        }
        for (name, bad, rule) in [
            ("p", "-rf", "starts with `-`"),
            ("p", "a\nb", "control character"),
            ("p", "", "empty"),
            ("v", "1.0; reboot", "is not a version"),
            ("v", "-1", "is not a version"),
            ("s", "ab1", "does not match its pattern `[a-z]+`"),
            ("s", "abcdef", "over its max_len of 5"),
            ("e", "-a", "not one of its enum"),
            ("e", "c", "not one of its enum: a, b"),
            ("n", "1.5", "is not an integer"),
        ] {
            let e = check(name, bad).unwrap_err();
            assert!(
                e.starts_with(&format!("parameter `{name}`")) && e.contains(rule),
                "{e}"
            );
        }
        // The pattern is anchored: a match inside the value is not enough.
        assert!(check("s", "x;y").is_err());
        // A string with no max_len has the default one.
        let r = rb("[params.s]\ntype = \"string\"\n").unwrap();
        assert!(check_value("s", &r.params["s"], &"x".repeat(DEFAULT_MAX_LEN + 1)).is_err());
        // Nor one that reads as an option, unless a pattern allows it.
        let e = check_value("s", &r.params["s"], "-rf").unwrap_err();
        assert!(e.contains("would read as an option"), "{e}");
        // Rules on the wrong type, and a bad pattern, are refused at load.
        for (params, want) in [
            (
                "[params.p]\ntype = \"int\"\npattern = \"x\"\n",
                "apply to `string` parameters only",
            ),
            (
                "[params.p]\ntype = \"bool\"\nenum = [\"x\"]\n",
                "apply to `string` parameters only",
            ),
            (
                "[params.p]\ntype = \"string\"\npattern = \"(\"\n",
                "not a valid regular expression",
            ),
        ] {
            let e = rb(params).unwrap_err().to_string();
            assert!(e.starts_with("r.toml:2:") && e.contains(want), "{e}");
        }
    }
}
