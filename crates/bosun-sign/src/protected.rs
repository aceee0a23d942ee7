//! Protected private keys: a passphrase-encrypted OpenSSH private key file
//! (`-----BEGIN OPENSSH PRIVATE KEY-----`, bcrypt-pbkdf + aes256-ctr — what
//! `ssh-keygen -p` writes), holding one Ed25519 key whose comment is the
//! identity's name.
//!
//! The format and its KDF are OpenSSH's, through the `ssh-key` crate; bosun
//! adds only limits: the file is at most [`MAX_PROTECTED_KEY_BYTES`], must be
//! encrypted (a plaintext OpenSSH key is refused: plaintext keys are `.jwk`),
//! must use bcrypt-pbkdf with at most [`MAX_KDF_ROUNDS`] rounds (so a planted
//! file cannot make unlocking take hours), and must hold exactly an Ed25519
//! key. Because it is OpenSSH's own format, `ssh-keygen -y -f alice.key`
//! checks a passphrase and `ssh-add -c alice.key` can move the key into an
//! agent.

use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData};
use ssh_key::public::Ed25519PublicKey;
use ssh_key::{Kdf, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::SignError;
use crate::key::{PublicKey, SecretKey};
use crate::passphrase::Passphrase;

/// Largest protected key file accepted, in bytes (an encrypted Ed25519
/// OpenSSH key is about 450).
pub const MAX_PROTECTED_KEY_BYTES: usize = 8 * 1024;

/// Most bcrypt-pbkdf rounds accepted (OpenSSH writes 16 by default; each
/// round is about 10 ms here).
pub const MAX_KDF_ROUNDS: u32 = 256;

fn format_err(reason: impl Into<String>) -> SignError {
    SignError::ProtectedKeyFormat {
        reason: reason.into(),
    }
}

/// A parsed protected key: the public key is readable, the private one
/// needs the passphrase ([`ProtectedKey::unlock`]).
#[derive(Clone, Debug)]
pub struct ProtectedKey {
    inner: PrivateKey,
    public: PublicKey,
}

impl ProtectedKey {
    /// Encrypts `key` with `passphrase` (bcrypt-pbkdf, 16 rounds, aes256-ctr,
    /// a fresh salt), with `name` as the key's comment (inside the encrypted part, as in
    /// OpenSSH).
    pub fn seal(key: &SecretKey, name: &str, passphrase: &Passphrase) -> Result<Self, SignError> {
        if passphrase.as_str().is_empty() {
            return Err(SignError::BadPassphrase {
                reason: "it is empty; a protected key needs a passphrase".into(),
            });
        }
        let seed = Zeroizing::new(key.seed());
        let pair = Ed25519Keypair {
            public: Ed25519PublicKey(key.public().to_bytes()),
            private: Ed25519PrivateKey::from_bytes(&seed),
        };
        let plain = PrivateKey::new(KeypairData::Ed25519(pair), name)
            .map_err(|e| format_err(format!("could not build the key ({e})")))?;
        let inner = plain
            .encrypt(&mut getrandom::SysRng, passphrase.as_str())
            .map_err(|e| format_err(format!("could not encrypt the key ({e})")))?;
        Ok(ProtectedKey {
            inner,
            public: key.public(),
        })
    }

    /// Parses a protected key file's text, checking the limits in the module
    /// docs. Never panics, whatever the bytes.
    pub fn parse(text: &[u8]) -> Result<Self, SignError> {
        if text.len() > MAX_PROTECTED_KEY_BYTES {
            return Err(format_err(format!(
                "{} bytes, over the {MAX_PROTECTED_KEY_BYTES}-byte limit",
                text.len()
            )));
        }
        let inner = PrivateKey::from_openssh(text)
            .map_err(|e| format_err(format!("expected an encrypted OpenSSH private key ({e})")))?;
        if !inner.is_encrypted() {
            return Err(format_err(
                "the OpenSSH private key is not encrypted; a `.key` file must be protected by a \
                 passphrase (`ssh-keygen -p -f <file>`), plaintext keys are `.jwk` files",
            ));
        }
        match inner.kdf() {
            Kdf::Bcrypt { rounds, salt } if *rounds <= MAX_KDF_ROUNDS && salt.len() <= 64 => {}
            Kdf::Bcrypt { rounds, .. } => {
                return Err(format_err(format!(
                    "bcrypt-pbkdf with {rounds} rounds, over the limit of {MAX_KDF_ROUNDS} \
                     (or an oversized salt)"
                )));
            }
            _ => {
                return Err(format_err(
                    "no bcrypt-pbkdf key derivation, which bosun expects",
                ));
            }
        }
        let ssh_key::public::KeyData::Ed25519(pk) = inner.public_key().key_data() else {
            return Err(format_err(format!(
                "key type `{}`, bosun keys are Ed25519",
                inner.algorithm()
            )));
        };
        let public = PublicKey::from_bytes(&pk.0)
            .ok_or_else(|| format_err("its public key is not a valid Ed25519 key"))?;
        Ok(ProtectedKey { inner, public })
    }

    /// The file's text (OpenSSH PEM, LF line endings).
    pub fn to_text(&self) -> Result<Zeroizing<String>, SignError> {
        self.inner
            .to_openssh(LineEnding::LF)
            .map_err(|e| format_err(format!("could not encode the key ({e})")))
    }

    /// The public key (readable without the passphrase).
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Decrypts the key. A wrong passphrase is `Ok(None)`: the caller names
    /// the file in its error ([`SignError::WrongPassphrase`]).
    pub fn unlock(&self, passphrase: &Passphrase) -> Result<Option<SecretKey>, SignError> {
        let Ok(plain) = self.inner.decrypt(passphrase.as_str()) else {
            // OpenSSH's check integers differ (or the padding is wrong)
            // unless the derived key is right: the passphrase is wrong.
            return Ok(None);
        };
        let KeypairData::Ed25519(pair) = plain.key_data() else {
            return Err(format_err("the decrypted key is not Ed25519"));
        };
        let seed = Zeroizing::new(pair.private.to_bytes());
        let key = SecretKey::from_seed(*seed);
        if key.public() != self.public || pair.public.0 != self.public.to_bytes() {
            return Err(format_err(
                "the decrypted private key does not match the file's public key: the file is \
                 corrupt or was edited",
            ));
        }
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.to_string())
    }

    #[test]
    fn seals_and_unlocks_with_the_right_passphrase_only() {
        let key = SecretKey::from_seed([5; 32]);
        let sealed = ProtectedKey::seal(&key, "alice", &pass("correct horse")).unwrap();
        let text = sealed.to_text().unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let parsed = ProtectedKey::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.public(), &key.public());
        let back = parsed.unlock(&pass("correct horse")).unwrap().unwrap();
        assert_eq!(back.seed(), key.seed());
        assert!(parsed.unlock(&pass("wrong horse")).unwrap().is_none());
        assert!(parsed.unlock(&pass("")).unwrap().is_none());
    }

    #[test]
    fn refuses_an_empty_passphrase_and_oversized_text() {
        let key = SecretKey::from_seed([5; 32]);
        assert!(matches!(
            ProtectedKey::seal(&key, "alice", &pass("")),
            Err(SignError::BadPassphrase { .. })
        ));
        let big = vec![b'a'; MAX_PROTECTED_KEY_BYTES + 1];
        let e = ProtectedKey::parse(&big).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
    }

    #[test]
    fn refuses_a_plaintext_openssh_key() {
        let key = SecretKey::from_seed([5; 32]);
        let pair = Ed25519Keypair {
            public: Ed25519PublicKey(key.public().to_bytes()),
            private: Ed25519PrivateKey::from_bytes(&key.seed()),
        };
        let plain = PrivateKey::new(KeypairData::Ed25519(pair), "alice").unwrap();
        let text = plain.to_openssh(LineEnding::LF).unwrap();
        let e = ProtectedKey::parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("not encrypted"), "{e}");
    }
}
