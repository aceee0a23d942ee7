//! A key directory and the three kinds of private key it can hold for an
//! identity `<name>`:
//!
//! - `<name>.jwk` — a plaintext private JWK (agents, CI, tests;
//!   [`crate::write_private_key`]);
//! - `<name>.key` — a protected key, passphrase-encrypted in OpenSSH's
//!   format ([`crate::ProtectedKey`]); the passphrase comes from the
//!   directory's [`PassphraseSource`];
//! - `<name>.ssh-agent` — the OpenSSH public key line of a key that
//!   `ssh-agent` holds; signing asks the agent at `$SSH_AUTH_SOCK`.
//!
//! All are 0600 in a 0700 directory, written the same way (complete or not
//! at all, never over an existing file) and refused when other users can
//! access them. More than one kind for one name is refused as ambiguous.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::agent::{AgentKey, agent_socket, parse_ssh_public_key, ssh_public_key_line};
use crate::key::{PublicKey, SecretKey};
use crate::keyfile::{open_private_file, validate_key_name, write_key_file};
use crate::passphrase::{NoPassphrase, Passphrase, PassphraseRequest, PassphraseSource};
use crate::protected::{MAX_PROTECTED_KEY_BYTES, ProtectedKey};
use crate::signer::Signer;
use crate::{SignError, read_private_key};

/// The kind of private key file a name has in a key directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `<name>.jwk`: a plaintext private JWK.
    Plaintext,
    /// `<name>.key`: a passphrase-encrypted OpenSSH private key.
    Protected,
    /// `<name>.ssh-agent`: a key held by `ssh-agent`.
    SshAgent,
}

impl KeyKind {
    /// Every kind, in lookup order.
    pub const ALL: [KeyKind; 3] = [KeyKind::Plaintext, KeyKind::Protected, KeyKind::SshAgent];

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            KeyKind::Plaintext => "jwk",
            KeyKind::Protected => "key",
            KeyKind::SshAgent => "ssh-agent",
        }
    }

    /// A word for messages: `plaintext`, `protected`, `ssh-agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Plaintext => "plaintext",
            KeyKind::Protected => "protected",
            KeyKind::SshAgent => "ssh-agent",
        }
    }
}

/// A directory of private keys, with where passphrases come from.
#[derive(Clone)]
pub struct KeyDir {
    path: PathBuf,
    passphrase: Arc<dyn PassphraseSource>,
}

impl std::fmt::Debug for KeyDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDir")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl KeyDir {
    /// The key directory at `path`; protected keys are refused
    /// ([`NoPassphrase`]) until [`KeyDir::with_passphrase`].
    pub fn new(path: impl Into<PathBuf>) -> KeyDir {
        KeyDir {
            path: path.into(),
            passphrase: Arc::new(NoPassphrase),
        }
    }

    /// The same directory, asking `source` for passphrases.
    pub fn with_passphrase(mut self, source: Arc<dyn PassphraseSource>) -> KeyDir {
        self.passphrase = source;
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file of `kind` for `name` (it may not exist).
    pub fn file(&self, name: &str, kind: KeyKind) -> PathBuf {
        self.path.join(format!("{name}.{}", kind.extension()))
    }

    /// Which kind of key `name` has; [`SignError::NoPrivateKey`] when none,
    /// [`SignError::AmbiguousKey`] when more than one.
    pub fn kind_of(&self, name: &str) -> Result<KeyKind, SignError> {
        validate_key_name(name)?;
        let found: Vec<KeyKind> = KeyKind::ALL
            .into_iter()
            .filter(|k| fs::symlink_metadata(self.file(name, *k)).is_ok())
            .collect();
        match found.as_slice() {
            [] => Err(SignError::NoPrivateKey {
                name: name.into(),
                dir: self.path.clone(),
            }),
            [one] => Ok(*one),
            many => Err(SignError::AmbiguousKey {
                name: name.into(),
                paths: many.iter().map(|k| self.file(name, *k)).collect(),
            }),
        }
    }

    /// The signer for `name`: the plaintext key, the protected key unlocked
    /// with a passphrase from the source (refused without one), or the
    /// agent's key (checked to be loaded in the agent).
    pub fn signer(&self, name: &str) -> Result<Signer, SignError> {
        let kind = self.kind_of(name)?;
        let path = self.file(name, kind);
        match kind {
            KeyKind::Plaintext => Ok(Signer::Key(read_private_key(&path)?)),
            KeyKind::Protected => {
                let sealed = read_protected_key(&path)?;
                let pass = self.passphrase.passphrase(&PassphraseRequest {
                    name,
                    path: &path,
                    new_key: false,
                })?;
                match sealed.unlock(&pass)? {
                    Some(k) => Ok(Signer::Key(k)),
                    None => Err(SignError::WrongPassphrase { path }),
                }
            }
            KeyKind::SshAgent => {
                let public = read_agent_key(&path)?;
                let key = AgentKey::new(agent_socket()?, public);
                key.check_loaded()?;
                Ok(Signer::Agent(key))
            }
        }
    }

    /// Writes `key` as the protected key `<name>.key`, encrypted with a
    /// passphrase from the source (asked as for a new key), and returns the
    /// path. Never overwrites; refused when `name` has a key of any kind.
    pub fn write_protected(&self, name: &str, key: &SecretKey) -> Result<PathBuf, SignError> {
        self.refuse_existing(name)?;
        let path = self.file(name, KeyKind::Protected);
        let pass = self.passphrase.passphrase(&PassphraseRequest {
            name,
            path: &path,
            new_key: true,
        })?;
        self.write_protected_with(name, key, &pass)
    }

    /// [`KeyDir::write_protected`] with an explicit passphrase.
    pub fn write_protected_with(
        &self,
        name: &str,
        key: &SecretKey,
        passphrase: &Passphrase,
    ) -> Result<PathBuf, SignError> {
        self.refuse_existing(name)?;
        let text = ProtectedKey::seal(key, name, passphrase)?.to_text()?;
        write_key_file(
            &self.path,
            name,
            KeyKind::Protected.extension(),
            text.as_bytes(),
        )
    }

    /// Records that `name`'s key is `public`, held by `ssh-agent`
    /// (`<name>.ssh-agent`, the OpenSSH public key line), and returns the
    /// path. The private key never touches the directory.
    pub fn write_agent_key(&self, name: &str, public: &PublicKey) -> Result<PathBuf, SignError> {
        self.refuse_existing(name)?;
        let mut line = ssh_public_key_line(public, name);
        line.push('\n');
        write_key_file(
            &self.path,
            name,
            KeyKind::SshAgent.extension(),
            line.as_bytes(),
        )
    }

    fn refuse_existing(&self, name: &str) -> Result<(), SignError> {
        validate_key_name(name)?;
        for kind in KeyKind::ALL {
            let path = self.file(name, kind);
            if fs::symlink_metadata(&path).is_ok() {
                return Err(SignError::KeyExists { path });
            }
        }
        Ok(())
    }
}

fn read_limited(path: &Path, max: usize) -> Result<Vec<u8>, SignError> {
    let file = open_private_file(path)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| SignError::Io {
            action: "read private key file",
            path: path.to_path_buf(),
            error,
        })?;
    Ok(bytes)
}

fn in_file(path: &Path) -> impl FnOnce(SignError) -> SignError {
    let path = path.to_path_buf();
    move |error| SignError::KeyFile {
        path,
        error: Box::new(error),
    }
}

/// Reads a protected key file (permissions checked like any key file).
pub fn read_protected_key(path: &Path) -> Result<ProtectedKey, SignError> {
    let bytes = read_limited(path, MAX_PROTECTED_KEY_BYTES)?;
    ProtectedKey::parse(&bytes).map_err(in_file(path))
}

/// Reads an `ssh-agent` key file: one OpenSSH public key line.
pub fn read_agent_key(path: &Path) -> Result<PublicKey, SignError> {
    let bytes = read_limited(path, 16 * 1024)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        in_file(path)(SignError::SshPublicKey {
            reason: "not UTF-8 text".into(),
        })
    })?;
    parse_ssh_public_key(&text).map_err(in_file(path))
}
