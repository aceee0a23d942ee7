//! The one error type of this crate, [`SignError`].
//!
//! Every message says what happened, where (the path, the JWK member or the
//! part of the token) and what to do about it. Messages are self-contained:
//! the underlying reason (an I/O error, a serde message) is part of the text,
//! so printing `{err}` alone is enough.

use std::fmt;
use std::path::PathBuf;

/// Which part of a JWS compact token an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPart {
    /// The token as a whole (its size or the number of `.`-separated parts).
    Token,
    /// The first part: the base64url protected header.
    Header,
    /// The second part: the base64url payload (the claims).
    Payload,
    /// The third part: the base64url signature.
    Signature,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenPart::Token => "token",
            TokenPart::Header => "header (part 1 of 3)",
            TokenPart::Payload => "payload (part 2 of 3)",
            TokenPart::Signature => "signature (part 3 of 3)",
        })
    }
}

/// Everything that can go wrong with keys, key files and JWS envelopes.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum SignError {
    /// The operating system could not provide randomness for a new key.
    #[error(
        "could not generate a key: the operating system random source failed ({reason}); \
         check that getrandom(2) or /dev/urandom is available"
    )]
    Random {
        /// The getrandom error text.
        reason: String,
    },

    /// A JWK is larger than [`crate::MAX_JWK_BYTES`].
    #[error(
        "JWK is {len} bytes, over the {max}-byte limit; an Ed25519 JWK is about 200 bytes, \
         check that the right file was given"
    )]
    JwkTooLarge {
        /// Size of the rejected text in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// A JWK is not valid JSON or a member has the wrong JSON type.
    #[error(
        "JWK is not valid JSON: {reason}; expected an object like {{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"…\"}}"
    )]
    JwkJson {
        /// serde_json's message, with line and column.
        reason: String,
    },

    /// A JWK parsed as JSON but is not a usable Ed25519 key.
    #[error(
        "invalid Ed25519 JWK{}: member `{member}` {reason}",
        kid_suffix(kid.as_deref())
    )]
    InvalidJwk {
        /// The JWK's `kid`, if it had one.
        kid: Option<String>,
        /// The JWK member at fault (`kty`, `crv`, `x`, `d`, `alg`, `use`).
        member: &'static str,
        /// What is wrong with it and what was expected.
        reason: String,
    },

    /// A JWK given as a public key carries the private member `d`.
    #[error(
        "public key file contains a private key{} (member `d`); remove `d` and keep the private key \
         only in your key directory — anyone who can read this file can sign as this identity, \
         so treat the key as leaked and replace it",
        kid_suffix(kid.as_deref())
    )]
    PrivateKeyInPublicJwk {
        /// The JWK's `kid`, if it had one.
        kid: Option<String>,
    },

    /// A key name is not usable as a file name.
    #[error(
        "invalid key name `{name}`: use 1 to 64 characters from A-Z a-z 0-9 . _ - \
         not starting with `.` or `-`"
    )]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },

    /// A file-system operation on a key file or key directory failed.
    #[error("could not {action} {}: {error}", path.display())]
    Io {
        /// What was being done ("read private key file", "create key directory", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system error.
        error: std::io::Error,
    },

    /// `write_private_key` found a key file already in place.
    #[error(
        "refusing to overwrite the existing private key {}; choose another name, \
         or move the old key away first if you really mean to replace it",
        path.display()
    )]
    KeyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A private key file can be read or written by other users.
    #[error(
        "private key {} has permissions {mode:04o}, which lets other users access it; \
         refusing to use it. Run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o7777`).
        mode: u32,
    },

    /// No key file for that name exists in the key directory.
    #[error(
        "no private key for `{name}` in {}; register a key of that name first",
        dir.display()
    )]
    NoPrivateKey {
        /// The key name.
        name: String,
        /// The directory that was searched.
        dir: PathBuf,
    },

    /// A key file exists but its content is not a usable private key.
    #[error("private key file {}: {error}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        error: Box<SignError>,
    },

    /// A protected key needs its passphrase and none can be had (no
    /// terminal to ask on, no CI passphrase source configured). Nothing was
    /// signed.
    #[error(
        "private key of `{name}` ({}) is protected by a passphrase, and {reason}; \
         refusing to sign",
        path.display()
    )]
    PassphraseUnavailable {
        /// The key name.
        name: String,
        /// The protected key file.
        path: PathBuf,
        /// Why no passphrase could be had and what to do, from the
        /// [`crate::PassphraseSource`] (the edge knows its own remedies).
        reason: String,
    },

    /// The passphrase does not decrypt the protected key. Nothing was signed.
    #[error(
        "wrong passphrase for the private key {}: it does not decrypt the key; nothing was signed. \
         Try again with the passphrase given when the key was created",
        path.display()
    )]
    WrongPassphrase {
        /// The protected key file.
        path: PathBuf,
    },

    /// A passphrase given for a new protected key is unusable.
    #[error("unusable passphrase: {reason}")]
    BadPassphrase {
        /// What is wrong with it.
        reason: String,
    },

    /// A protected (passphrase-encrypted) key file is not in the expected
    /// format: an encrypted OpenSSH private key holding one Ed25519 key.
    #[error("not a protected bosun key: {reason}")]
    ProtectedKeyFormat {
        /// What is wrong with it.
        reason: String,
    },

    /// An OpenSSH public key line could not be used as a bosun identity.
    #[error("unusable OpenSSH public key: {reason}")]
    SshPublicKey {
        /// What is wrong with it and what to use instead.
        reason: String,
    },

    /// Talking to `ssh-agent` failed, or it refused to sign.
    #[error("ssh-agent: {reason}")]
    Agent {
        /// What happened and what to do.
        reason: String,
    },

    /// More than one kind of private key file exists for one name.
    #[error(
        "more than one private key for `{name}`: {}; keep one and move the others away",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The files found.
        paths: Vec<PathBuf>,
    },

    /// A token is larger than [`crate::MAX_ENVELOPE_BYTES`]; nothing was parsed.
    #[error(
        "signed envelope is {len} bytes, over the {max}-byte limit; refusing to parse it — \
         envelopes are small JSON claims, check that the right file or request body was sent"
    )]
    TooLarge {
        /// Size of the rejected token in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// A token is not a well-formed JWS compact serialization.
    #[error(
        "malformed signed envelope, {part}: {reason}; expected JWS compact form \
         `header.payload.signature`, each part base64url without padding"
    )]
    Malformed {
        /// The part at fault.
        part: TokenPart,
        /// What is wrong with it.
        reason: String,
    },

    /// The header's `alg` is not one bosun accepts.
    #[error(
        "signed envelope header has alg `{alg}`, which is not accepted; bosun envelopes are \
         signed with Ed25519 (alg `EdDSA`, or `Ed25519` from RFC 9864) — re-sign it with a bosun key"
    )]
    Algorithm {
        /// The `alg` found (or requested, when signing).
        alg: String,
    },

    /// The header carries a member bosun refuses to honour.
    #[error("signed envelope header has member `{member}`, which is refused: {reason}")]
    UnsupportedHeader {
        /// The header member (`crit`, `b64`, `jwk`, `jku`, `x5u`, …).
        member: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// The signature does not verify against the given key.
    #[error(
        "signature of the envelope{} does not verify against the registered key; the envelope \
         was altered or signed by another key — re-sign it with the key registered for its issuer",
        kid_suffix(kid.as_deref())
    )]
    BadSignature {
        /// The header's `kid`, if any.
        kid: Option<String>,
    },

    /// Batch verification failed: at least one of the signatures is bad.
    #[error(
        "batch verification of {count} envelopes failed: at least one signature is invalid; \
         verify them one by one (`Unverified::verify`) to find which"
    )]
    BatchFailed {
        /// How many envelopes were in the batch.
        count: usize,
    },

    /// The payload is not the JSON claims the caller expected.
    #[error("claims in the envelope payload are not valid: {reason}")]
    Claims {
        /// serde_json's message (names the claim and the position).
        reason: String,
    },

    /// The claims could not be serialized to JSON when signing.
    #[error("could not serialize the claims to sign: {reason}")]
    Serialize {
        /// serde_json's message.
        reason: String,
    },
}

fn kid_suffix(kid: Option<&str>) -> String {
    match kid {
        Some(kid) => format!(" (kid `{kid}`)"),
        None => String::new(),
    }
}
