//! Validated identifiers: key ids, names (hosts, runbooks, workspaces) and
//! op ids (`jti`). Each is a newtype whose constructor checks length and
//! alphabet, so ids are safe to print, to use in file names and in SQL.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("{kind} is empty")]
    Empty {
        /// What kind of id was expected.
        kind: &'static str,
    },
    /// The string is longer than allowed.
    #[error("{kind} `{value}` is longer than {max} characters")]
    TooLong {
        /// What kind of id was expected.
        kind: &'static str,
        /// The offending value (truncated).
        value: String,
        /// The limit.
        max: usize,
    },
    /// The string has a character outside the allowed set.
    #[error(
        "{kind} `{value}` has the character {ch:?}; use letters, digits, `-`, `_` and `.`, starting with a letter or digit"
    )]
    BadChar {
        /// What kind of id was expected.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The first bad character.
        ch: char,
    },
}

fn check(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong {
            kind,
            value: s.chars().take(max).collect(),
            max,
        });
    }
    for (i, ch) in s.chars().enumerate() {
        let ok = ch.is_ascii_alphanumeric() || (i > 0 && matches!(ch, '-' | '_' | '.'));
        if !ok {
            return Err(IdError::BadChar {
                kind,
                value: s.to_string(),
                ch,
            });
        }
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check($kind, s, $max)?;
                Ok(Self(s.to_string()))
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                check($kind, &s, $max)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// The name of a signing identity (`alice`, `claude`, `controller`).
    KeyId,
    "key id",
    64
);
id_type!(
    /// A name of a host, runbook, workspace or step.
    Name,
    "name",
    128
);
id_type!(
    /// The id of an op or approval envelope (JWT `jti`).
    Jti,
    "jti",
    128
);

impl Jti {
    /// A fresh random-looking id built from 16 bytes the caller supplies
    /// (from a CSPRNG), so that this crate stays free of I/O.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        use std::fmt::Write;
        let mut s = String::with_capacity(32);
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_refuses() {
        assert!(KeyId::parse("alice").is_ok());
        assert!(KeyId::parse("ci-bot.2").is_ok());
        assert!(matches!(KeyId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            KeyId::parse("-x"),
            Err(IdError::BadChar { ch: '-', .. })
        ));
        assert!(matches!(
            KeyId::parse("../etc"),
            Err(IdError::BadChar { .. })
        ));
        assert!(matches!(
            KeyId::parse(&"a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn serde_validates() {
        let ok: Result<KeyId, _> = serde_json::from_str("\"bob\"");
        assert!(ok.is_ok());
        let bad: Result<KeyId, _> = serde_json::from_str("\"b/ob\"");
        assert!(bad.is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_valid_ids_are_path_safe(s in "\\PC{0,200}") {
            if let Ok(id) = Name::parse(&s) {
                prop_assert!(!id.as_str().contains('/'));
                prop_assert!(!id.as_str().starts_with('.'));
                prop_assert!(id.as_str().len() <= 128);
            }
        }
    }
}
