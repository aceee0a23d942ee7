//! Signing through `ssh-agent` with an Ed25519 key: the private key stays
//! in the agent (or on the hardware token behind it), and `ssh-add -c`
//! makes the agent ask its user to confirm every signature.
//!
//! This speaks the small subset of the agent protocol
//! (draft-miller-ssh-agent) that signing needs, over the Unix socket named
//! by `$SSH_AUTH_SOCK`: `SSH_AGENTC_REQUEST_IDENTITIES` (11) →
//! `SSH_AGENT_IDENTITIES_ANSWER` (12), and `SSH_AGENTC_SIGN_REQUEST` (13) →
//! `SSH_AGENT_SIGN_RESPONSE` (14) or `SSH_AGENT_FAILURE` (5). An `ssh-ed25519`
//! signature is a plain Ed25519 signature (RFC 8032) over the data, so an
//! envelope the agent signs is an ordinary EdDSA JWS; bosun still checks
//! each one against the public key before using it.
//!
//! FIDO2 keys (`sk-ssh-ed25519@openssh.com`) are refused: their signature is
//! over `SHA256(application) ‖ flags ‖ counter ‖ SHA256(message)`, not over
//! the message, so it is not an EdDSA signature of the JWS signing input.
//! Verifying one would need the flags and counter carried beside the
//! 64-byte signature and the application string in the registered key —
//! a new `alg`, a longer signature part and a non-standard JWK member,
//! which every verifier (ours and any JOSE library) would have to learn.
//! ARCHITECTURE.md (bosun-sign) says more.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SignError;
use crate::key::PublicKey;

/// The Ed25519 key type name in the SSH wire format.
const SSH_ED25519: &str = "ssh-ed25519";
/// The FIDO2 Ed25519 key type name, refused (see the module docs).
const SK_SSH_ED25519: &str = "sk-ssh-ed25519@openssh.com";
/// Largest agent reply read, in bytes (an agent holding many keys and
/// certificates stays far below it).
const MAX_REPLY_BYTES: usize = 256 * 1024;
/// How long to wait for the agent's answer: long enough for a person to
/// confirm an `ssh-add -c` prompt or touch a token.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;

fn agent_err(reason: impl Into<String>) -> SignError {
    SignError::Agent {
        reason: reason.into(),
    }
}

/// The agent socket from `$SSH_AUTH_SOCK`.
pub fn agent_socket() -> Result<PathBuf, SignError> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            agent_err(
                "SSH_AUTH_SOCK is not set, so no agent can be reached; start one \
                 (`eval $(ssh-agent)`) and add the key (`ssh-add -c ~/.ssh/id_ed25519`)",
            )
        })
}

/// An Ed25519 key held by the `ssh-agent` at `socket`.
#[derive(Clone, Debug)]
pub struct AgentKey {
    socket: PathBuf,
    public: PublicKey,
}

impl AgentKey {
    /// The key `public` in the agent at `socket`. Nothing is checked until
    /// it signs ([`AgentKey::try_sign`]) or [`AgentKey::check_loaded`].
    pub fn new(socket: PathBuf, public: PublicKey) -> AgentKey {
        AgentKey { socket, public }
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Checks that the agent holds this key.
    pub fn check_loaded(&self) -> Result<(), SignError> {
        if list_ed25519(&self.socket)?.contains(&self.public) {
            Ok(())
        } else {
            Err(agent_err(format!(
                "the agent at {} does not hold the key (thumbprint {}); add it with `ssh-add -c <private key file>`",
                self.socket.display(),
                self.public.thumbprint()
            )))
        }
    }

    /// Asks the agent to sign `msg`, and checks the signature against the
    /// public key before returning it.
    pub fn try_sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        let blob = ed25519_blob(&self.public);
        let mut req = vec![SSH_AGENTC_SIGN_REQUEST];
        put_string(&mut req, &blob);
        put_string(&mut req, msg);
        req.extend_from_slice(&0u32.to_be_bytes());
        let reply = request(&self.socket, &req)?;
        let mut r = Reader(&reply);
        match r.byte()? {
            SSH_AGENT_SIGN_RESPONSE => {}
            SSH_AGENT_FAILURE => {
                return Err(agent_err(format!(
                    "the agent at {} refused to sign with key {} (confirmation declined, \
                     or the key is not loaded: `ssh-add -l`); nothing was signed",
                    self.socket.display(),
                    self.public.thumbprint()
                )));
            }
            t => {
                return Err(agent_err(format!(
                    "unexpected reply type {t} to a sign request"
                )));
            }
        }
        let sig = r.string()?;
        let mut s = Reader(sig);
        let alg = s.string()?;
        if alg != SSH_ED25519.as_bytes() {
            return Err(agent_err(format!(
                "the agent signed with `{}`, expected `{SSH_ED25519}`",
                String::from_utf8_lossy(alg)
            )));
        }
        let bytes = <[u8; 64]>::try_from(s.string()?)
            .map_err(|_| agent_err("the agent's Ed25519 signature is not 64 bytes"))?;
        if !self.public.verify_bytes(msg, &bytes) {
            return Err(agent_err(
                "the agent's signature does not verify against the registered public key; \
                 nothing was signed",
            ));
        }
        Ok(bytes)
    }
}

/// The Ed25519 keys the agent at `socket` holds (other kinds are skipped).
pub fn list_ed25519(socket: &Path) -> Result<Vec<PublicKey>, SignError> {
    let reply = request(socket, &[SSH_AGENTC_REQUEST_IDENTITIES])?;
    let mut r = Reader(&reply);
    match r.byte()? {
        SSH_AGENT_IDENTITIES_ANSWER => {}
        t => {
            return Err(agent_err(format!(
                "unexpected reply type {t} to a list request"
            )));
        }
    }
    let n = r.u32()?;
    let mut keys = Vec::new();
    for _ in 0..n {
        let blob = r.string()?;
        let _comment = r.string()?;
        let mut b = Reader(blob);
        if b.string()? == SSH_ED25519.as_bytes()
            && let Ok(raw) = <[u8; 32]>::try_from(b.string()?)
            && let Some(k) = PublicKey::from_bytes(&raw)
        {
            keys.push(k);
        }
    }
    Ok(keys)
}

/// Reads an OpenSSH public key line (`ssh-ed25519 AAAA… comment`, as in
/// `~/.ssh/id_ed25519.pub`). Only plain Ed25519 keys are accepted.
pub fn parse_ssh_public_key(line: &str) -> Result<PublicKey, SignError> {
    let bad = |reason: String| SignError::SshPublicKey { reason };
    let line = line.trim();
    if line.len() > 16 * 1024 {
        return Err(bad(format!(
            "{} bytes is too long for a key line",
            line.len()
        )));
    }
    if line.starts_with(SK_SSH_ED25519) {
        return Err(bad(format!(
            "`{SK_SSH_ED25519}` (FIDO2) keys cannot sign bosun envelopes: their signature \
             covers the application, flags and counter, not the message, so it is not an \
             EdDSA signature a JWS verifier accepts; use an `ssh-ed25519` key, in ssh-agent \
             with `ssh-add -c`"
        )));
    }
    let key = ssh_key::PublicKey::from_openssh(line)
        .map_err(|e| bad(format!("not an OpenSSH public key line ({e})")))?;
    match key.key_data() {
        ssh_key::public::KeyData::Ed25519(k) => {
            PublicKey::from_bytes(&k.0).ok_or_else(|| bad("not a valid Ed25519 public key".into()))
        }
        other => Err(bad(format!(
            "key type `{}`: bosun identities are Ed25519, use an `ssh-ed25519` key \
             (`ssh-keygen -t ed25519`)",
            other.algorithm()
        ))),
    }
}

/// The OpenSSH public key line for `key` with `comment`.
pub fn ssh_public_key_line(key: &PublicKey, comment: &str) -> String {
    use base64::Engine as _;
    let blob = ed25519_blob(key);
    format!(
        "{SSH_ED25519} {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

fn ed25519_blob(key: &PublicKey) -> Vec<u8> {
    let mut blob = Vec::with_capacity(51);
    put_string(&mut blob, SSH_ED25519.as_bytes());
    put_string(&mut blob, &key.to_bytes());
    blob
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Every string bosun sends is far below 4 GiB (envelopes are ≤ 64 KiB).
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

/// One request, one reply, on a fresh connection.
fn request(socket: &Path, msg: &[u8]) -> Result<Vec<u8>, SignError> {
    let io = |what: &str, e: std::io::Error| {
        agent_err(format!(
            "could not {what} the agent at {} ({e}); is it running (`ssh-add -l`)?",
            socket.display()
        ))
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| io("connect to", e))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| io("talk to", e))?;
    let mut framed = Vec::with_capacity(msg.len() + 4);
    put_string(&mut framed, msg);
    stream.write_all(&framed).map_err(|e| io("write to", e))?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| io("read from", e))?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len == 0 || len > MAX_REPLY_BYTES {
        return Err(agent_err(format!(
            "reply of {len} bytes is empty or over the {MAX_REPLY_BYTES}-byte limit"
        )));
    }
    let mut reply = vec![0u8; len];
    stream
        .read_exact(&mut reply)
        .map_err(|e| io("read from", e))?;
    Ok(reply)
}

/// A cursor over SSH wire data; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SignError> {
        if n > self.0.len() {
            return Err(agent_err("truncated reply"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, SignError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SignError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], SignError> {
        let n = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    #[test]
    fn public_key_lines_round_trip_and_refuse_other_kinds() {
        let k = SecretKey::from_seed([3; 32]).public();
        let line = ssh_public_key_line(&k, "alice@lab");
        assert_eq!(parse_ssh_public_key(&line).unwrap(), k);
        let sk = parse_ssh_public_key("sk-ssh-ed25519@openssh.com AAAA x").unwrap_err();
        assert!(sk.to_string().contains("FIDO2"), "{sk}");
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDfQ9gEGqpa2Zqjg9jTxG4Hq0Jxk1EB3+X1+Zp3lLzZNjR8aGvkm6LoQyYhaCGbTXM6wFQvqkIPCEXNqCtwb/2E8jxPz3IkhNx/eDm8P4gPcvuxQB3JPfRQuZVP8qnAaMJzwg4NEp5IoITzNJVFzyWoMjTNMbygbr6rMGdj4YbW5w== x";
        let e = parse_ssh_public_key(rsa).unwrap_err();
        assert!(e.to_string().contains("Ed25519"), "{e}");
        assert!(parse_ssh_public_key("garbage").is_err());
    }

    #[test]
    fn the_reader_never_reads_past_the_end() {
        let mut r = Reader(&[0, 0, 0, 9, 1, 2]);
        assert!(r.string().is_err());
        let mut r = Reader(&[0xff, 0xff, 0xff, 0xff]);
        assert!(r.string().is_err());
        let mut r = Reader(&[]);
        assert!(r.byte().is_err());
    }
}
