//! Content digests (`sha256:<hex>`) and the canonical JSON they are taken of.
//!
//! Canonical JSON here means: `serde_json` output of a `serde_json::Value`
//! (whose objects are `BTreeMap`s, so keys are sorted by byte order), with no
//! insignificant whitespace. Numbers are integers only in every structure we
//! digest. This is the subset of RFC 8785 (JCS) our data needs.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest printed as `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// A string that is not `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a digest of the form sha256:<64 lowercase hex digits>")]
pub struct BadDigest(pub String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let h = Sha256::digest(bytes);
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in h.iter() {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        Digest(s)
    }

    /// The digest of the canonical JSON of `value`.
    pub fn of_json<T: Serialize>(value: &T) -> Result<Digest, serde_json::Error> {
        Ok(Digest::of(&canonical_json(value)?))
    }

    /// The digest as `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for human views.
    pub fn short(&self) -> &str {
        self.0.get(7..19).unwrap_or(&self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl TryFrom<String> for Digest {
    type Error = BadDigest;
    fn try_from(s: String) -> Result<Self, BadDigest> {
        let ok = s.len() == 71
            && s.starts_with("sha256:")
            && s.bytes().skip(7).all(|b| HEX.contains(&b));
        if ok { Ok(Digest(s)) } else { Err(BadDigest(s)) }
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Canonical JSON bytes of `value` (sorted keys, no whitespace).
///
/// Keys are sorted as they are written: another crate in the build
/// (cedar-policy) turns on serde_json's `preserve_order`, which would
/// otherwise keep insertion order and make digests depend on the build.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(256);
    write_sorted(&v, &mut out)?;
    Ok(out)
}

fn write_sorted(v: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_sorted(x, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(x, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            Digest::of(b"abc").as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn canonical_sorts_keys() {
        let a = serde_json::json!({"b": 1, "a": [2, {"d": 1, "c": 2}]});
        assert_eq!(
            canonical_json(&a).unwrap(),
            br#"{"a":[2,{"c":2,"d":1}],"b":1}"#.to_vec()
        );
    }

    #[test]
    fn parse_digest() {
        assert!(Digest::try_from(Digest::of(b"x").to_string()).is_ok());
        assert!(Digest::try_from("sha256:XYZ".to_string()).is_err());
    }
}
