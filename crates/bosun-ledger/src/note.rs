//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys: a text
//! ending in a newline, a blank line, then one line per signature,
//! `— <key name> base64(key ID || signature)`. The key ID is
//! `SHA-256(key name || 0x0A || 0x01 || public key)[:4]`; verifier keys are
//! written `<name>+<hex key ID>+base64(0x01 || public key)`, as Go's
//! `sumdb/note` and every tlog tool read them.

use base64::Engine;
use bosun_sign::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

/// Largest note accepted (a checkpoint is ~200 bytes plus ~100 per signature).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

const ALG_ED25519: u8 = 0x01;
const DASH: &str = "\u{2014} ";

fn b64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// Why a note (or a key) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a well-formed note: what is wrong.
    #[error("malformed note: {0}")]
    Malformed(String),
    /// A malformed verifier or signer key string.
    #[error("malformed key `{0}`: {1}")]
    BadKey(String, String),
    /// A signature by a known key did not verify.
    #[error("invalid signature for key {0}")]
    BadSignature(String),
    /// No signature is by a known key.
    #[error("the note has no signature by a known key (signed by: {0})")]
    NoKnownSignature(String),
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key name.
    pub name: String,
    /// The 4-byte key ID.
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub sig: Vec<u8>,
}

impl Signature {
    /// The line, with its final newline.
    pub fn line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.sig);
        format!("{DASH}{} {}\n", self.name, b64().encode(raw))
    }
}

/// A parsed note: its text (with the final newline) and signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Signature lines, in order.
    pub sigs: Vec<Signature>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_chars(text: &str) -> Result<(), NoteError> {
    if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(format!(
            "control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

impl Note {
    /// Parses a signed note (without checking signatures).
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed(format!(
                "{} bytes, over the limit of {MAX_NOTE_BYTES}",
                bytes.len()
            )));
        }
        let s = std::str::from_utf8(bytes)
            .map_err(|e| NoteError::Malformed(format!("not UTF-8: {e}")))?;
        check_chars(s)?;
        // The text ends at the last blank line.
        let split = s
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let text = &s[..=split];
        let sigs_part = &s[split + 2..];
        if sigs_part.is_empty() || !sigs_part.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature lines must follow the blank line, each ending in a newline".into(),
            ));
        }
        let mut sigs = Vec::new();
        for line in sigs_part[..sigs_part.len() - 1].split('\n') {
            if sigs.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed(format!(
                    "more than {MAX_SIGNATURES} signatures"
                )));
            }
            let rest = line.strip_prefix(DASH).ok_or_else(|| {
                NoteError::Malformed(format!("`{line}` is not a signature line (— name sig)"))
            })?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed(format!("`{line}` has no signature")))?;
            if !valid_name(name) {
                return Err(NoteError::Malformed(format!("bad key name `{name}`")));
            }
            let raw = b64()
                .decode(sig)
                .map_err(|e| NoteError::Malformed(format!("signature of `{name}`: {e}")))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed(format!(
                    "signature of `{name}` is too short"
                )));
            }
            let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            sigs.push(Signature {
                name: name.to_string(),
                key_id,
                sig: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_string(),
            sigs,
        })
    }

    /// The note as bytes: text, blank line, signature lines.
    pub fn encode(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.sigs {
            s.push_str(&sig.line());
        }
        s
    }

    /// Verifies with `verifiers`: every signature by a known key (name and
    /// ID both match) must verify, unknown ones are ignored (witness
    /// cosignatures of keys not configured, say), and at least one must be
    /// known. Returns the names of the keys that verified.
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<Vec<String>, NoteError> {
        let mut ok = Vec::new();
        for sig in &self.sigs {
            let Some(v) = verifiers
                .iter()
                .find(|v| v.name == sig.name && v.key_id == sig.key_id)
            else {
                continue;
            };
            let good = <[u8; 64]>::try_from(sig.sig.as_slice())
                .is_ok_and(|s| v.key.verify_bytes(self.text.as_bytes(), &s));
            if !good {
                return Err(NoteError::BadSignature(v.to_string()));
            }
            if !ok.contains(&v.name) {
                ok.push(v.name.clone());
            }
        }
        if ok.is_empty() {
            let names: Vec<String> = self
                .sigs
                .iter()
                .map(|s| format!("{}+{:08x}", s.name, s.key_id))
                .collect();
            return Err(NoteError::NoKnownSignature(names.join(", ")));
        }
        Ok(ok)
    }
}

/// The key ID of an Ed25519 key under `name`.
pub fn key_id(name: &str, key: &PublicKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.to_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Splits `<name>+<8 hex key ID>+base64(0x01 || 32 bytes)` (the form of
/// both verifier and signer keys): the name, the key ID (`None` when it is
/// not 8 hex digits) and the 32 key bytes.
fn split_key(s: &str) -> Result<(&str, Option<u32>, [u8; 32]), &'static str> {
    // The key (base64) may itself hold `+`: it is the rest.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected name+keyid+key");
    };
    let id = (id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(id, 16).ok())
        .flatten();
    let raw = b64().decode(key).map_err(|_| "the key is not base64")?;
    match raw
        .split_first()
        .map(|(alg, key)| (alg, <[u8; 32]>::try_from(key)))
    {
        Some((&ALG_ED25519, Ok(bytes))) => Ok((name, id, bytes)),
        _ => Err("not an Ed25519 (0x01) key of 32 bytes"),
    }
}

/// A key that checks note signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    /// The key name.
    pub name: String,
    /// Its key ID.
    pub key_id: u32,
    /// The Ed25519 public key.
    pub key: PublicKey,
}

impl NoteVerifier {
    /// The verifier for `key` under `name`.
    pub fn new(name: &str, key: PublicKey) -> Result<NoteVerifier, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(
                name.into(),
                "a key name is non-empty, without spaces or `+`".into(),
            ));
        }
        Ok(NoteVerifier {
            name: name.into(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Reads `<name>+<hex key ID>+base64(0x01 || public key)`.
    pub fn parse(s: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |why: &str| NoteError::BadKey(s.into(), why.into());
        let (name, id, bytes) = split_key(s).map_err(bad)?;
        let id = id.ok_or_else(|| bad("the key ID is 8 hex digits"))?;
        let key = PublicKey::from_bytes(&bytes).ok_or_else(|| bad("not a valid Ed25519 key"))?;
        let v = NoteVerifier::new(name, key)?;
        if v.key_id != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(v)
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, b64().encode(raw))
    }
}

/// A key that signs notes.
pub struct NoteSigner {
    /// The key name.
    pub name: String,
    key: SecretKey,
    /// Its key ID.
    pub key_id: u32,
}

impl NoteSigner {
    /// The signer for `key` under `name`.
    pub fn new(name: &str, key: SecretKey) -> Result<NoteSigner, NoteError> {
        let v = NoteVerifier::new(name, key.public())?;
        Ok(NoteSigner {
            name: v.name,
            key_id: v.key_id,
            key,
        })
    }

    /// Reads Go's `PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || seed)`.
    pub fn parse(s: &str) -> Result<NoteSigner, NoteError> {
        let bad = |why: &str| NoteError::BadKey("PRIVATE+KEY+…".into(), why.into());
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("expected PRIVATE+KEY+name+keyid+key"))?;
        let (name, id, seed) = split_key(rest).map_err(bad)?;
        let id = id.ok_or_else(|| bad("the key ID is 8 hex digits"))?;
        let signer = NoteSigner::new(name, SecretKey::from_seed(seed))?;
        if id != signer.key_id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(signer)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.public(),
        }
    }

    /// This key's signature over `text`.
    pub fn sign(&self, text: &str) -> Signature {
        Signature {
            name: self.name.clone(),
            key_id: self.key_id,
            sig: self.key.sign_bytes(text.as_bytes()).to_vec(),
        }
    }
}

/// Signs `text` (which must end in a newline and hold no control
/// characters) with `signers`, as a note.
pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<Note, NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end in a newline".into(),
        ));
    }
    check_chars(text)?;
    Ok(Note {
        text: text.to_string(),
        sigs: signers.iter().map(|s| s.sign(text)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Published in golang.org/x/mod/sumdb/note's tests.
    const PETER_V: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_S: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_V: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn signs_byte_exact_like_go_sumdb_note() {
        let signer = NoteSigner::parse(PETER_S).unwrap();
        assert_eq!(signer.verifier().to_string(), PETER_V);
        let note = sign(TEXT, &[&signer]).unwrap();
        assert_eq!(note.encode(), format!("{TEXT}\n{PETER_SIG}"));
    }

    #[test]
    fn opens_published_notes() {
        let peter = NoteVerifier::parse(PETER_V).unwrap();
        let enoch = NoteVerifier::parse(ENOCH_V).unwrap();
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = Note::parse(both.as_bytes()).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(n.encode(), both, "round trip");
        assert_eq!(
            n.verify(std::slice::from_ref(&peter)).unwrap(),
            ["PeterNeumann"]
        );
        assert_eq!(
            n.verify(&[peter.clone(), enoch.clone()]).unwrap(),
            ["PeterNeumann", "EnochRoot"]
        );
        assert!(matches!(n.verify(&[]), Err(NoteError::NoKnownSignature(_))));
        // A known key whose signature is wrong fails the whole note.
        let bad = both.replacen("SffcvIAQ", "SffcvIAR", 1);
        let n = Note::parse(bad.as_bytes()).unwrap();
        assert!(matches!(
            n.verify(&[peter]),
            Err(NoteError::BadSignature(_))
        ));
        // The C2SP examples parse and round-trip byte for byte.
        for ex in [
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n",
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n",
        ] {
            let n = Note::parse(ex.as_bytes()).unwrap();
            assert_eq!(n.encode(), ex);
        }
    }

    #[test]
    fn malformed_notes_and_keys_are_refused() {
        for bad in [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\u{1}{TEXT}\n{PETER_SIG}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1)),
        ] {
            assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let b = PETER_V.as_bytes();
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = String::from_utf8(m) {
                assert!(NoteVerifier::parse(&s).is_err(), "{s}");
            }
        }
        assert!(NoteVerifier::parse(&PETER_V[..PETER_V.len() - 1]).is_err());
        // Empty keys are refused, not a panic.
        assert!(NoteVerifier::parse("name+abcd1234+").is_err());
        assert!(NoteSigner::parse("PRIVATE+KEY+x+00000000+").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Note::parse(&b);
            let s = String::from_utf8_lossy(&b);
            let _ = NoteVerifier::parse(&s);
            let _ = NoteSigner::parse(&s);
            let _ = NoteVerifier::parse(&format!("n+00000000+{s}"));
            let _ = NoteSigner::parse(&format!("PRIVATE+KEY+n+00000000+{s}"));
        }

        #[test]
        fn mutated_notes_never_verify_wrongly(pos in 0usize..400, byte in any::<u8>()) {
            let peter = NoteVerifier::parse(PETER_V).unwrap();
            let good = format!("{TEXT}\n{PETER_SIG}");
            let mut b = good.as_bytes().to_vec();
            let i = pos % b.len();
            if b[i] == byte { return Ok(()); }
            b[i] = byte;
            if let Ok(n) = Note::parse(&b) {
                // The text may have changed or the signature may have: it
                // must not verify unless neither did (a base64 variant of
                // the same bytes is the only way).
                if n.verify(std::slice::from_ref(&peter)).is_ok() {
                    prop_assert_eq!(n.text.as_str(), TEXT);
                }
            }
        }
    }
}
