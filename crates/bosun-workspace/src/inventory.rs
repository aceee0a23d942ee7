//! `fleet/hosts.toml`: the inventory, and host selectors for key scopes.

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

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = Inventory::parse("h.toml", &s);
        }
    }
}
