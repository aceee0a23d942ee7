//! HTTPS on the TCP listeners: a certificate chain and its private key,
//! PEM files read once at start and checked before anything binds (a
//! missing, unreadable or malformed file, a key that does not match the
//! certificate, a key file its group or others can read: each refused
//! naming the file), made into a rustls server on the `ring` provider —
//! TLS 1.2 and 1.3, HTTP/1.1 by ALPN or none. A renewed certificate is
//! taken at the next start.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Any access by group or others: a key file allows none.
const ANY_ACCESS_BY_OTHERS: u32 = 0o077;
/// The most bytes of a PEM file read (a chain is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The certificate chain.
    Certificate,
    /// The private key.
    Key,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Certificate => "certificate",
            Part::Key => "key",
        })
    }
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("TLS {what} {}: cannot read it: {source}", path.display())]
    Read {
        /// Which file.
        what: Part,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what it should be (not a regular file, too large,
    /// not PEM, no certificate or key in it).
    #[error("TLS {what} {}: {why}", path.display())]
    Bad {
        /// Which file.
        what: Part,
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The key file is open to its group or others.
    #[error(
        "TLS key {}: readable by its group or others (mode {mode:o}); whoever reads it can pose as this daemon and read the tokens and envelopes sent to it: `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key is not the certificate's.
    #[error("TLS key {} is not the key of the certificate {} (their public keys differ)", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair otherwise (a kind of key it does not
    /// support, mostly).
    #[error("TLS certificate {} with key {}: {source}", cert.display(), key.display())]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

/// A certificate and key, loaded: what the TCP listeners serve HTTPS with.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ServerConfig>,
    /// The certificate file it was loaded from.
    pub cert: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain at `cert` and the private key at `key`
    /// (PEM: PKCS#8, PKCS#1 or SEC1), refusing a key file its group or
    /// others can read, and makes the server config.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let chain_pem = read_pem(cert, Part::Certificate)?;
        let chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(cert, Part::Certificate, format!("not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(bad(
                cert,
                Part::Certificate,
                "no certificate in it (a PEM file with -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let key_pem = read_pem(key, Part::Key)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let why = match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no private key in it (a PEM file with -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)".to_string(),
                e => format!("not PEM: {e}"),
            };
            bad(key, Part::Key, why)
        })?;
        let pair = |source| match source {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert.into(),
                key: key.into(),
            },
            source => TlsError::Pair {
                cert: cert.into(),
                key: key.into(),
                source,
            },
        };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(pair)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(pair)?;
        // HTTP/1.1 only: a client that offers ALPN must offer it; one that
        // offers none is served HTTP/1.1 all the same.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            cert: cert.into(),
        })
    }

    /// What runs the handshake of each connection.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

fn bad(path: &Path, what: Part, why: String) -> TlsError {
    TlsError::Bad {
        what,
        path: path.into(),
        why,
    }
}

/// A regular file's bytes, at most [`MAX_PEM_BYTES`]; a key file only if
/// its group and others have no access to it.
fn read_pem(path: &Path, what: Part) -> Result<Vec<u8>, TlsError> {
    let read = |source| TlsError::Read {
        what,
        path: path.into(),
        source,
    };
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).map_err(read)?.is_file() {
        return Err(bad(path, what, "not a regular file".into()));
    }
    let f = std::fs::File::open(path).map_err(read)?;
    let m = f.metadata().map_err(read)?;
    if !m.is_file() {
        return Err(bad(path, what, "not a regular file".into()));
    }
    let mode = m.permissions().mode();
    if what == Part::Key && mode & ANY_ACCESS_BY_OTHERS != 0 {
        return Err(TlsError::KeyOpen {
            path: path.into(),
            mode: mode & 0o7777,
        });
    }
    let mut bytes = Vec::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(bad(
            path,
            what,
            format!("larger than {MAX_PEM_BYTES} bytes; not a PEM certificate or key"),
        ));
    }
    Ok(bytes)
}
