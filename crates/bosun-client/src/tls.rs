//! `https://` daemons: rustls on the `ring` provider, TLS 1.2 and 1.3,
//! HTTP/1.1 by ALPN. Trusted: Mozilla's public roots (`webpki-roots`,
//! compiled in) and the certificates of the PEM bundle `BOSUN_CA` names
//! (a private CA, or a self-signed certificate itself, as a homelab has).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bosun_control::{ControlError, Result};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

/// The environment variable naming extra certificates to trust.
pub const CA_VAR: &str = "BOSUN_CA";

/// The most bytes of a `BOSUN_CA` bundle read.
const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;

/// What a client trusts.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The rustls client config.
    pub config: Arc<rustls::ClientConfig>,
    /// The bundle of extra certificates, when one was given.
    pub ca: Option<PathBuf>,
}

impl Trust {
    /// The public roots, and the certificates of the PEM bundle `ca`
    /// names when it is set.
    pub fn from_env() -> Result<Trust> {
        let ca = std::env::var_os(CA_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(Trust {
            config: config(ca.as_deref())?,
            ca,
        })
    }

    /// What to say when the daemon's certificate is not trusted.
    pub fn hint(&self) -> String {
        match &self.ca {
            None => format!(
                "if it is signed by your own CA or self-signed, set {CA_VAR}=/path/to/ca.pem"
            ),
            Some(p) => format!(
                "{CA_VAR} is {}, which does not vouch for this certificate (nor does a public root), or the certificate does not name this host",
                p.display()
            ),
        }
    }
}

/// The client config: the public roots, and `ca`'s certificates when
/// given (a PEM bundle).
pub fn config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        for cert in read_bundle(path)? {
            roots
                .add(cert)
                .map_err(|e| ca_error(path, &format!("a certificate in it is not usable: {e}")))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| ControlError::Other(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of the PEM bundle at `path`, at least one.
fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| ca_error(path, &e.to_string()))?;
    if !meta.is_file() {
        return Err(ca_error(path, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| ca_error(path, &e.to_string()))?;
    if bytes.len() as u64 > MAX_CA_BYTES {
        return Err(ca_error(path, "larger than 4 MiB; not a PEM bundle"));
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ca_error(path, &format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ca_error(
            path,
            "no certificate in it (a PEM file with -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn ca_error(path: &Path, why: &str) -> ControlError {
    ControlError::Other(format!("{CA_VAR} {}: {why}", path.display()))
}

/// When `e` (from a handshake) says the daemon's certificate was not
/// trusted: why, and what to do, in words.
pub fn untrusted(e: &std::io::Error, trust: &Trust) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))
            if matches!(
                o.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            Some("its TLS certificate is marked as a CA (basicConstraints CA:TRUE, as `openssl req -x509` makes by default), so it cannot also be the daemon's own; make it with `-addext basicConstraints=critical,CA:FALSE`, or sign it with a CA of its own (docs/deploy.md, \"TLS\")".into())
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => Some(
            format!("its TLS certificate is not trusted ({inner}); {}", trust.hint()),
        ),
        _ => None,
    }
}

/// When `e` (from a handshake) says the other side does not speak TLS at
/// all: a daemon without a certificate answers plain HTTP.
pub fn not_tls(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|i| matches!(i, rustls::Error::InvalidMessage(_)))
}
