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
    /// A fresh id laid out as a UUIDv7 (RFC 9562 §5.7), in 32 lowercase hex
    /// digits: 48 bits of Unix time in milliseconds, then the version and
    /// variant bits, then 74 of the caller's random bits. Ids made later
    /// sort later, so the stores' indexes keyed by jti take each new op
    /// next to the last one instead of on a random page; the random bits
    /// keep it unguessable and unique (the bytes come from the caller's
    /// CSPRNG, so that this crate stays free of I/O). `unix_ms` past 2^48 (the year
    /// 10889) wraps.
    pub fn time_ordered(unix_ms: u64, random: [u8; 10]) -> Self {
        let mut b = [0u8; 16];
        let ms = unix_ms.to_be_bytes();
        b[..6].copy_from_slice(&ms[2..]);
        b[6..].copy_from_slice(&random);
        b[6] = 0x70 | (b[6] & 0x0f);
        b[8] = 0x80 | (b[8] & 0x3f);
        Self(hex32(b))
    }
}

fn hex32(bytes: [u8; 16]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(32);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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

    #[test]
    fn time_ordered_jtis_are_uuid_v7_and_sort_by_time() {
        // RFC 9562 Appendix A.6: 2022-02-22 19:22:22 UTC = 0x017F22E279B0 ms.
        let j = Jti::time_ordered(
            0x017F_22E2_79B0,
            [0xcc, 0xc3, 0x98, 0xc4, 0xdc, 0x0c, 0x0c, 0x07, 0x39, 0x8f],
        );
        assert_eq!(j.as_str(), "017f22e279b07cc398c4dc0c0c07398f");
        assert!(Jti::parse(j.as_str()).is_ok());
        let (a, b) = (
            Jti::time_ordered(1_000, [0xff; 10]),
            Jti::time_ordered(1_001, [0; 10]),
        );
        assert!(a.as_str() < b.as_str());
        assert_eq!(&b.as_str()[12..13], "7");
        assert_eq!(&b.as_str()[16..17], "8");
    }

    proptest! {
        #[test]
        fn time_ordered_jtis_keep_time_order(t in 0u64..(1 << 48), d in 1u64..1_000_000, r1: [u8; 10], r2: [u8; 10]) {
            let later = (t + d).min((1 << 48) - 1);
            prop_assume!(later > t);
            prop_assert!(Jti::time_ordered(t, r1).as_str() < Jti::time_ordered(later, r2).as_str());
        }

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
