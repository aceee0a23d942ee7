//! Blocker kinds: `blockers.toml`, and whether an active blocker holds an
//! op.
//!
//! A blocker is a typed, scoped stop. Its kind says which verbs it halts
//! (`install`, `build`, `promote`, … or `*` for every changing verb) and
//! how its subject is matched against an op:
//!
//! | scope        | the op is held when …                                       |
//! |--------------|-------------------------------------------------------------|
//! | `host`       | the subject is one of its targets                           |
//! | `build-host` | the subject is its `build_host` param (or, for a `build` op with no such param, one of its targets) |
//! | `patch`      | one of the subject's patches is in its `patch`/`patches` params |
//! | `global`     | always                                                      |
//!
//! Read-only ops are never held: they are how a human looks at what the
//! blocker is about. A blocker whose kind is no longer defined holds every
//! changing op on its subject (fail closed).
//!
//! Without a `blockers.toml`, the kinds in force are the built-in table
//! ([`Kinds::builtin`]).

use std::collections::BTreeSet;

use bosun_model::source::{SourceError, find_offset, from_toml};
use serde::{Deserialize, Serialize};

/// How a blocker's subject is matched against an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The subject is a host the op targets.
    Host,
    /// The subject is the build host the op builds on.
    BuildHost,
    /// The subject is one or more patches (comma-separated) the op carries.
    Patch,
    /// Every op whose verb the kind halts.
    Global,
}

impl Scope {
    /// The name used in files and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::BuildHost => "build-host",
            Scope::Patch => "patch",
            Scope::Global => "global",
        }
    }
}

/// One blocker kind: what it halts and who deals with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kind {
    /// Its name (`host-drifted`).
    pub name: String,
    /// The verbs it halts; `*` halts every changing verb.
    pub halts: Vec<String>,
    /// How the subject is matched.
    pub scope: Scope,
    /// What it halts, in words (the built-in table's words).
    pub description: String,
    /// Who owns a blocker of this kind unless the filer names someone.
    #[serde(default = "default_owner")]
    pub owner: String,
    /// Where it is routed (a team, an agent, a channel).
    #[serde(default)]
    pub route: String,
    /// The next command that usually clears it; `{subject}` and `{id}`
    /// are filled in.
    #[serde(default)]
    pub next: String,
    /// What to do when the owner cannot.
    #[serde(default)]
    pub fallback: String,
}

fn default_owner() -> String {
    "operator".into()
}

/// What a blocker check needs to know about an op.
#[derive(Debug, Clone, Copy)]
pub struct OpView<'a> {
    /// The op's verb (its runbook's `verb`; `change` or `read` when unset).
    pub verb: &'a str,
    /// Whether the op only reads.
    pub read_only: bool,
    /// Its target hosts.
    pub targets: &'a [String],
    /// Its params.
    pub params: &'a std::collections::BTreeMap<String, String>,
}

impl OpView<'_> {
    fn patches(&self) -> BTreeSet<&str> {
        ["patch", "patches"]
            .iter()
            .filter_map(|k| self.params.get(*k))
            .flat_map(|v| split_list(v))
            .collect()
    }
}

/// Splits a comma- or whitespace-separated list, dropping empty items.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
}

impl Kind {
    /// Whether a blocker of this kind on `subject` holds `op`.
    pub fn holds(&self, subject: &str, op: &OpView<'_>) -> bool {
        if op.read_only {
            return false;
        }
        if !self.halts.iter().any(|v| v == "*" || v == op.verb) {
            return false;
        }
        scope_matches(self.scope, subject, op)
    }

    /// The next command for a blocker of this kind.
    pub fn next_for(&self, id: u64, subject: &str) -> String {
        self.next
            .replace("{subject}", subject)
            .replace("{id}", &id.to_string())
    }
}

fn scope_matches(scope: Scope, subject: &str, op: &OpView<'_>) -> bool {
    match scope {
        Scope::Global => true,
        Scope::Host => op.targets.iter().any(|t| t == subject),
        Scope::BuildHost => match op.params.get("build_host").filter(|b| !b.is_empty()) {
            Some(b) => b == subject,
            None => op.verb == "build" && op.targets.iter().any(|t| t == subject),
        },
        Scope::Patch => {
            let carried = op.patches();
            split_list(subject).any(|p| carried.contains(p))
        }
    }
}

/// The blocker kinds in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kinds {
    /// In file order.
    pub kinds: Vec<Kind>,
    /// Whether these are the built-in defaults (no `blockers.toml`).
    pub default: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default)]
    kind: Vec<Kind>,
}

/// Most kinds in one `blockers.toml`.
pub const MAX_KINDS: usize = 1_000;

/// The verbs bosun knows; others are refused so a typo cannot make a kind
/// halt nothing.
pub const VERBS: &[&str] = bosun_model::VERBS;

impl Kinds {
    /// The built-in table (the kernel workflow's): what halts what.
    pub fn builtin() -> Kinds {
        let k = |name: &str, halts: &[&str], scope, description: &str, next: &str| Kind {
            name: name.into(),
            halts: halts.iter().map(|s| s.to_string()).collect(),
            scope,
            description: description.into(),
            owner: default_owner(),
            route: String::new(),
            next: next.into(),
            fallback: String::new(),
        };
        Kinds {
            default: true,
            kinds: vec![
                k(
                    "patch-fail",
                    &["promote"],
                    Scope::Patch,
                    "only that patch's promotes",
                    "fix or yank the patch, then resolve blocker {id}",
                ),
                k(
                    "campaign-conflict",
                    &["promote"],
                    Scope::Patch,
                    "those patches across the involved campaigns",
                    "settle which campaign owns {subject}, then resolve blocker {id}",
                ),
                k(
                    "host-drifted",
                    &["install"],
                    Scope::Host,
                    "installs to that host (builds OK)",
                    "look at host {subject}; converge it, then resolve blocker {id}",
                ),
                k(
                    "build-fail",
                    &["build"],
                    Scope::BuildHost,
                    "builds routing to that build host",
                    "read the failed build's log (its op's output), then resolve blocker {id}",
                ),
                k(
                    "bootstrap-missing",
                    &["build"],
                    Scope::BuildHost,
                    "builds for that build host",
                    "provision the build host {subject}, then resolve blocker {id}",
                ),
                k(
                    "host-changed",
                    &["build"],
                    Scope::Host,
                    "builds to that host until pre-flight re-passes",
                    "re-run the pre-flight for {subject}, then resolve blocker {id}",
                ),
                k(
                    "signing-fail",
                    &["build", "sign"],
                    Scope::Global,
                    "global (all builds need signing)",
                    "check the signing key and host, then resolve blocker {id}",
                ),
                k(
                    "regression",
                    &["install"],
                    Scope::Host,
                    "installs to that host until triaged",
                    "triage {subject} (look at the host), roll back or fix, then resolve blocker {id}",
                ),
            ],
        }
    }

    /// Parses `blockers.toml`, reporting every problem with file:line.
    pub fn parse(path: &str, text: &str) -> Result<Kinds, Vec<SourceError>> {
        let w: Wire = from_toml(path, text, crate::MAX_FILE_BYTES).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if w.kind.is_empty() {
            errors.push(SourceError::whole(
                path,
                "no [[kind]] tables: delete the file to use the default table, or define at least one kind",
            ));
        }
        if w.kind.len() > MAX_KINDS {
            errors.push(SourceError::whole(
                path,
                format!("more than {MAX_KINDS} kinds"),
            ));
        }
        let mut seen = BTreeSet::new();
        for k in &w.kind {
            let at = find_offset(text, &format!("\"{}\"", k.name));
            if !valid_name(&k.name) {
                errors.push(SourceError::at(
                    path,
                    text,
                    at,
                    format!(
                        "kind name `{}` must be 1-64 lowercase letters, digits or `-`",
                        k.name
                    ),
                ));
            }
            if !seen.insert(k.name.as_str()) {
                errors.push(SourceError::at(
                    path,
                    text,
                    at,
                    format!("kind `{}` is defined twice", k.name),
                ));
            }
            if k.halts.is_empty() {
                errors.push(SourceError::at(
                    path,
                    text,
                    at,
                    format!(
                        "kind `{}` halts nothing: give `halts` at least one verb",
                        k.name
                    ),
                ));
            }
            for v in &k.halts {
                if !VERBS.contains(&v.as_str()) {
                    errors.push(SourceError::at(
                        path,
                        text,
                        find_offset(text, &format!("\"{v}\"")),
                        format!(
                            "kind `{}` halts unknown verb `{v}` (known: {})",
                            k.name,
                            VERBS.join(", ")
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(Kinds {
                kinds: w.kind,
                default: false,
            })
        } else {
            Err(errors)
        }
    }

    /// The kind called `name`.
    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// Whether a blocker of kind `kind` on `subject` holds `op`. A kind not
    /// in force holds every changing op on its subject (as a host, a build
    /// host or a patch), and every changing op when the subject is empty.
    pub fn holds(&self, kind: &str, subject: &str, op: &OpView<'_>) -> bool {
        match self.get(kind) {
            Some(k) => k.holds(subject, op),
            None => {
                !op.read_only
                    && (subject.is_empty()
                        || [Scope::Host, Scope::BuildHost, Scope::Patch]
                            .into_iter()
                            .any(|s| scope_matches(s, subject, op)))
            }
        }
    }
}

/// A kind name: 1-64 of `a-z`, `0-9`, `-`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn op<'a>(
        verb: &'a str,
        targets: &'a [String],
        params: &'a BTreeMap<String, String>,
    ) -> OpView<'a> {
        OpView {
            verb,
            read_only: false,
            targets,
            params,
        }
    }

    #[test]
    fn default_table_is_the_seed_table() {
        let k = Kinds::builtin();
        let names: Vec<_> = k.kinds.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "patch-fail",
                "campaign-conflict",
                "host-drifted",
                "build-fail",
                "bootstrap-missing",
                "host-changed",
                "signing-fail",
                "regression"
            ]
        );
    }

    #[test]
    fn read_only_ops_are_never_held() {
        let k = Kinds::builtin();
        let t = vec!["h1".to_string()];
        let p = BTreeMap::new();
        let mut v = op("install", &t, &p);
        assert!(k.holds("host-drifted", "h1", &v));
        v.read_only = true;
        assert!(!k.holds("host-drifted", "h1", &v));
        assert!(!k.holds("no-such-kind", "h1", &v));
    }

    #[test]
    fn unknown_kind_fails_closed_on_its_subject() {
        let k = Kinds::builtin();
        let t = vec!["h1".to_string()];
        let p = BTreeMap::new();
        assert!(k.holds("gone", "h1", &op("change", &t, &p)));
        assert!(!k.holds("gone", "h2", &op("change", &t, &p)));
    }

    #[test]
    fn parse_errors_are_located() {
        let text =
            "[[kind]]\nname = \"x\"\nhalts = [\"instal\"]\nscope = \"host\"\ndescription = \"d\"\n";
        let e = Kinds::parse("blockers.toml", text).unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
        assert!(e[0].message.contains("unknown verb `instal`"), "{e:?}");
        let e = Kinds::parse(
            "blockers.toml",
            "[[kind]]\nname = \"x\"\nscope = \"moon\"\n",
        )
        .unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,400}") {
            let _ = Kinds::parse("b.toml", &s);
        }

        #[test]
        fn parse_never_panics_on_near_valid(
            name in "[a-z!-]{0,8}", verb in "[a-z*]{0,8}", scope in "[a-z-]{0,10}"
        ) {
            let text = format!(
                "[[kind]]\nname = \"{name}\"\nhalts = [\"{verb}\"]\nscope = \"{scope}\"\ndescription = \"d\"\n"
            );
            if let Ok(k) = Kinds::parse("b.toml", &text) {
                proptest::prop_assert_eq!(&k.kinds[0].name, &name);
            }
        }
    }
}
