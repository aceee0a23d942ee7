//! `fleet/hosts.toml`: the inventory; host selectors (`--target`) and key
//! scopes.

use bosun_model::source::{SourceError, find_offset, from_toml};
use bosun_model::{Host, Name};
use serde::Deserialize;

/// The parsed inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Hosts in file order.
    pub hosts: Vec<Host>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default)]
    host: Vec<Host>,
}

/// Most hosts in one inventory.
pub const MAX_HOSTS: usize = 100_000;

impl Inventory {
    /// Parses an inventory, reporting every problem.
    pub fn parse(path: &str, text: &str) -> Result<Inventory, Vec<SourceError>> {
        let w: Wire = from_toml(path, text, crate::MAX_CONFIG_BYTES).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if w.host.len() > MAX_HOSTS {
            errors.push(SourceError::whole(
                path,
                format!("more than {MAX_HOSTS} hosts"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for h in &w.host {
            if !seen.insert(h.name.clone()) {
                errors.push(SourceError::at(
                    path,
                    text,
                    find_offset(text, &format!("\"{}\"", h.name)),
                    format!("host `{}` is listed twice", h.name),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Inventory { hosts: w.host })
        } else {
            Err(errors)
        }
    }

    /// The host called `name`.
    pub fn get(&self, name: &Name) -> Option<&Host> {
        self.hosts.iter().find(|h| &h.name == name)
    }
}

/// Why a set of host selectors could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A plain name that is not in the inventory.
    #[error(
        "unknown host `{0}`: it is not in the inventory in force (an edit of fleet/hosts.toml counts once adopted)"
    )]
    Unknown(String),
    /// The selectors match nothing.
    #[error("the selectors {0} match no host")]
    Empty(String),
    /// An infra host matched without being named.
    #[error(
        "host `{host}` is an infra host and was selected by `{by}`: infra hosts are only targeted by name (`--target {host}`)"
    )]
    InfraImplicit {
        /// The infra host.
        host: String,
        /// The selector that matched it.
        by: String,
    },
    /// A selector that cannot be read.
    #[error("bad selector `{0}`: {1}")]
    Bad(String, String),
}

/// Most selectors in one request.
pub const MAX_SELECTORS: usize = 1000;

impl Inventory {
    /// Resolves host selectors, in inventory order: a name (`web-1`), a
    /// `*` glob (`web-*`), `tag:x`, `arch:aarch64`, or any of these after
    /// `!` to take hosts out (`!tag:canary`). With only `!` selectors, they
    /// take hosts out of the whole inventory. Infra hosts are selected only
    /// by their exact name.
    pub fn select(&self, selectors: &[String]) -> Result<Vec<Host>, SelectError> {
        if selectors.len() > MAX_SELECTORS {
            return Err(SelectError::Bad(
                format!("({} selectors)", selectors.len()),
                format!("at most {MAX_SELECTORS}"),
            ));
        }
        fn matches(sel: &str, h: &Host) -> bool {
            if let Some(t) = sel.strip_prefix("tag:") {
                h.tags.contains(t)
            } else if let Some(a) = sel.strip_prefix("arch:") {
                h.arch == a
            } else {
                glob(sel, h.name.as_str())
            }
        }
        let mut include: Vec<&str> = Vec::new();
        let mut exclude: Vec<&str> = Vec::new();
        for s in selectors {
            let s = s.trim();
            let (neg, body) = match s.strip_prefix('!') {
                Some(b) => (true, b),
                None => (false, s),
            };
            if body.is_empty() || body.len() > 256 || body.chars().any(char::is_whitespace) {
                return Err(SelectError::Bad(
                    s.to_string(),
                    "a selector is a host name, a `*` glob, tag:<t> or arch:<a>, without spaces"
                        .into(),
                ));
            }
            let plain = !body.contains('*') && !body.contains(':');
            if !neg && plain && !self.hosts.iter().any(|h| h.name.as_str() == body) {
                return Err(SelectError::Unknown(body.to_string()));
            }
            if neg {
                exclude.push(body);
            } else {
                include.push(body);
            }
        }
        let mut out = Vec::new();
        for h in &self.hosts {
            let by = if include.is_empty() {
                (!exclude.is_empty()).then_some("(all hosts)")
            } else {
                include.iter().copied().find(|s| matches(s, h))
            };
            let Some(by) = by else { continue };
            if exclude.iter().any(|s| matches(s, h)) {
                continue;
            }
            if h.infra && by != h.name.as_str() {
                return Err(SelectError::InfraImplicit {
                    host: h.name.to_string(),
                    by: by.to_string(),
                });
            }
            out.push(h.clone());
        }
        if out.is_empty() {
            return Err(SelectError::Empty(
                selectors
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
        }
        Ok(out)
    }
}

/// Whether a key with `scope` (host names, `*` globs, `tag:x`) may target `host`.
pub fn scope_allows(scope: &[String], host: &Host) -> bool {
    scope.iter().any(|s| match s.strip_prefix("tag:") {
        Some(tag) => host.tags.contains(tag),
        None => glob(s, host.name.as_str()),
    })
}

/// `*`-only glob match.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs() {
        assert!(glob("*", "x"));
        assert!(glob("web-*", "web-1"));
        assert!(!glob("web-*", "db-1"));
        assert!(glob("*-1", "web-1"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
        assert!(glob("h1", "h1") && !glob("h1", "h12"));
    }

    #[test]
    fn parse_and_duplicates() {
        let t = "[[host]]\nname = \"a\"\n[[host]]\nname = \"a\"\n";
        let e = Inventory::parse("fleet/hosts.toml", t).unwrap_err();
        assert!(e[0].message.contains("twice"));
        let e = Inventory::parse(
            "fleet/hosts.toml",
            "[[host]]\nname = \"a\"\ntransport = \"telnet\"\n",
        )
        .unwrap_err();
        assert_eq!(e[0].line, 3);
    }

    #[test]
    fn selectors() {
        let inv = Inventory::parse(
            "h.toml",
            "[[host]]\nname = \"canary-1\"\ntags = [\"canary\", \"web\"]\narch = \"x86_64\"\n\
             [[host]]\nname = \"web-1\"\ntags = [\"web\"]\narch = \"aarch64\"\n\
             [[host]]\nname = \"web-2\"\ntags = [\"web\"]\narch = \"x86_64\"\n\
             [[host]]\nname = \"nas\"\ninfra = true\ntags = [\"web\"]\n",
        )
        .unwrap();
        let names = |sel: &[&str]| {
            inv.select(&sel.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|hs| hs.iter().map(|h| h.name.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(names(&["web-*"]).unwrap(), ["web-1", "web-2"]);
        assert_eq!(names(&["web-*", "!arch:aarch64"]).unwrap(), ["web-2"]);
        assert_eq!(names(&["arch:aarch64"]).unwrap(), ["web-1"]);
        assert_eq!(
            names(&["web-2", "canary-1"]).unwrap(),
            ["canary-1", "web-2"]
        );
        assert_eq!(names(&["nas"]).unwrap(), ["nas"], "infra by name");
        assert!(matches!(
            names(&["tag:web"]),
            Err(SelectError::InfraImplicit { host, .. }) if host == "nas"
        ));
        assert_eq!(
            names(&["tag:web", "!nas"]).unwrap(),
            ["canary-1", "web-1", "web-2"]
        );
        assert_eq!(names(&["!tag:canary", "!nas"]).unwrap(), ["web-1", "web-2"]);
        assert!(matches!(names(&["web-9"]), Err(SelectError::Unknown(_))));
        assert!(matches!(names(&["db-*"]), Err(SelectError::Empty(_))));
        assert!(matches!(names(&["a b"]), Err(SelectError::Bad(..))));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = Inventory::parse("h.toml", &s);
        }

        #[test]
        fn selecting_never_panics(sels in proptest::collection::vec("\\PC{0,20}", 0..5)) {
            let inv = Inventory::parse("h.toml", "[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\ninfra = true\n").unwrap();
            let _ = inv.select(&sels);
        }
    }
}
