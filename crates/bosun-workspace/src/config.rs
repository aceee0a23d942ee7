//! `bosun.toml`: the workspace's name and storage.

use bosun_model::Name;
use bosun_model::source::{SourceError, from_toml};
use serde::{Deserialize, Serialize};

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind", deny_unknown_fields)]
pub enum Storage {
    /// One SQLite file under `.bosun/`.
    #[default]
    Embedded,
}

/// The validated `bosun.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The workspace's name: ops carry it as `ws` and it is the ledger's origin.
    pub name: Name,
    /// Storage backend.
    #[serde(default)]
    pub storage: Storage,
    /// Seconds an op envelope stays valid after it is signed.
    #[serde(default = "default_op_ttl")]
    pub op_ttl_secs: i64,
}

fn default_op_ttl() -> i64 {
    3600
}

impl Config {
    /// Parses `bosun.toml`.
    pub fn parse(path: &str, text: &str) -> Result<Config, SourceError> {
        let c: Config = from_toml(path, text, crate::MAX_CONFIG_BYTES)?;
        if c.op_ttl_secs <= 0 || c.op_ttl_secs > 30 * 86400 {
            return Err(SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, "op_ttl_secs"),
                "op_ttl_secs must be between 1 and 2592000 (30 days)",
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_locates() {
        let c = Config::parse("bosun.toml", "name = \"lab\"\n").unwrap();
        assert_eq!(c.name.as_str(), "lab");
        assert_eq!(c.storage, Storage::Embedded);
        let e = Config::parse(
            "bosun.toml",
            "name = \"lab\"\nstorage = { kind = \"cloud\" }\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (2, "bosun.toml"));
        let e = Config::parse("bosun.toml", "name = \"a b\"\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = Config::parse("bosun.toml", &s);
        }
    }
}
