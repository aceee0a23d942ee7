//! A client of bosun's daemon (what `BOSUN_URL` or `--server` names):
//! `unix:///path/to/bosun.sock`, `http://127.0.0.1:PORT` (loopback only),
//! `https://host:PORT` (any host; [`tls`]: the public roots and
//! `BOSUN_CA`). The CLI's remote mode and the MCP server's daemon-backed
//! core both use it.
//!
//! Requests go over hyper (HTTP/1.1, one connection per request) on a
//! small current-thread runtime made for the call, so callers stay
//! synchronous; keys stay with the caller and sign there — the daemon gets
//! envelopes, never a private key. Reads over TCP (plain or TLS) carry a
//! bearer token: `BOSUN_TOKEN`, or one signed here for `BOSUN_AS` (five
//! minutes).
#![deny(missing_docs)]

mod planned;
pub mod tls;

pub use planned::{
    MAX_PLANNED_SEQ, MAX_PLANNED_TTL, check_planned, check_prepared, shown_params, whole_plan,
};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bosun_control::{ControlError, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The most bytes of an answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where the daemon answers.
#[derive(Debug, Clone)]
pub enum Url {
    /// A Unix socket.
    Unix(PathBuf),
    /// Plain HTTP on a loopback address (`host:port`).
    Http(String),
    /// HTTPS on any host.
    Https {
        /// The host: a name or an IP address (an IPv6 one without its
        /// brackets), as the certificate must name it.
        host: String,
        /// The port (443 when the URL names none).
        port: u16,
    },
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Url::Unix(p) => write!(f, "unix://{}", p.display()),
            Url::Http(a) => write!(f, "http://{a}"),
            Url::Https { host, port } if host.contains(':') => write!(f, "https://[{host}]:{port}"),
            Url::Https { host, port } => write!(f, "https://{host}:{port}"),
        }
    }
}

impl Url {
    /// Parses `unix:///path`, `http://host:port` (loopback only) or
    /// `https://host[:port]`.
    pub fn parse(s: &str) -> Result<Url> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(bad_url(
                    s,
                    "a unix URL names the socket: unix:///path/to/bosun.sock",
                ));
            }
            return Ok(Url::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("http://") {
            let a = a.trim_end_matches('/');
            if a.is_empty() || a.contains('/') {
                return Err(bad_url(
                    s,
                    "an http URL is http://host:port, without a path",
                ));
            }
            // Plain HTTP carries tokens and envelopes in clear: loopback
            // only, as the daemon listens.
            let loopback = a
                .parse::<std::net::SocketAddr>()
                .map(|sa| sa.ip().is_loopback())
                .unwrap_or_else(|_| a.split(':').next() == Some("localhost"));
            if !loopback {
                return Err(bad_url(
                    s,
                    "plain http is for loopback addresses only (127.0.0.1, [::1], localhost); use https:// (a daemon serving TLS) or the daemon's Unix socket otherwise",
                ));
            }
            return Ok(Url::Http(a.to_string()));
        }
        if let Some(a) = s.strip_prefix("https://") {
            return https(s, a.trim_end_matches('/'));
        }
        Err(bad_url(
            s,
            "give unix:///path/to/bosun.sock, http://127.0.0.1:PORT or https://HOST:PORT",
        ))
    }

    /// Whether it is TCP (plain or TLS), where reads carry a token.
    pub fn is_tcp(&self) -> bool {
        !matches!(self, Url::Unix(_))
    }
}

/// `host[:port]` of an https URL: a name, an IPv4 address, or an IPv6 one
/// in brackets.
fn https(s: &str, a: &str) -> Result<Url> {
    let form = "an https URL is https://host:port, without a path or user";
    if a.is_empty() || a.contains(['/', '@', '?', '#']) {
        return Err(bad_url(s, form));
    }
    let (host, port) = match a.strip_prefix('[') {
        Some(v6) => {
            let (h, rest) = v6.split_once(']').ok_or_else(|| bad_url(s, form))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad_url(s, "the brackets hold an IPv6 address"));
            }
            if !rest.is_empty() && !rest.starts_with(':') {
                return Err(bad_url(s, form));
            }
            (h, rest.strip_prefix(':'))
        }
        None => match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        },
    };
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad_url(s, "the port is a number from 1 to 65535"))?,
    };
    if host.is_empty() || host.contains(':') && !a.starts_with('[') || port == 0 {
        return Err(bad_url(s, form));
    }
    Ok(Url::Https {
        host: host.to_string(),
        port,
    })
}

fn bad_url(s: &str, why: &str) -> ControlError {
    ControlError::Other(format!("BOSUN_URL / --server `{s}`: {why}"))
}

/// The daemon's error answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, and which check said so.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ErrorDetail {
    /// The check that refused, when one did.
    pub check: Option<bosun_api::Check>,
    /// Why, in words.
    pub message: String,
}

/// How reads over TCP are authorized.
enum Auth {
    /// No token: reads over TCP are refused (the Unix socket needs none).
    None,
    /// A token given (`BOSUN_TOKEN`), used as it is.
    Given(String),
    /// Tokens signed here as `who` for the daemon's workspace, each for
    /// [`OWN_TOKEN_SECS`], a fresh one when the last has under a minute
    /// left.
    Own {
        key: Arc<Mutex<bosun_sign::Signer>>,
        who: bosun_model::KeyId,
        ws: bosun_model::Name,
        last: Mutex<Option<(String, i64)>>,
    },
}

/// A client of one daemon.
pub struct Remote {
    /// Where the daemon answers.
    pub url: Url,
    auth: Auth,
    /// For an `https` URL: what it trusts.
    tls: Option<tls::Trust>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `BOSUN_TOKEN`, trimmed, when it is set to something.
fn given_token() -> Option<String> {
    std::env::var("BOSUN_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// An answer: the value, or the daemon's refusal (a 4xx naming a check).
pub type Answer<T> = std::result::Result<T, ErrorDetail>;

/// How long a token this client signs for itself lives.
const OWN_TOKEN_SECS: i64 = 300;

impl Remote {
    /// A client of the daemon at `url`. Over TCP, reads carry
    /// `BOSUN_TOKEN`, or tokens signed here with `BOSUN_AS`'s key from
    /// `keys` for the workspace the daemon names at `/api/v1/info`. Over
    /// HTTPS it trusts the public roots and `BOSUN_CA`'s certificates.
    pub fn connect(url: &str, keys: &bosun_sign::KeyDir) -> Result<Remote> {
        let who = match std::env::var("BOSUN_AS") {
            Ok(w) if !w.trim().is_empty() => Some(
                bosun_model::KeyId::parse(w.trim())
                    .map_err(|e| ControlError::Other(format!("BOSUN_AS: {e}")))?,
            ),
            _ => None,
        };
        let url = Url::parse(url)?;
        match (given_token(), who) {
            (Some(t), _) => Remote::new(url, Auth::Given(t)),
            (None, Some(who)) if url.is_tcp() => {
                let key = bosun_control::client::load_secret(keys, &who)?;
                Remote::signing(url, Arc::new(Mutex::new(key)), who)
            }
            (None, _) => Remote::new(url, Auth::None),
        }
    }

    /// A client of the daemon at `url` for one signer (`who`, with `key`):
    /// over TCP (plain or TLS) its reads carry `BOSUN_TOKEN` when set,
    /// else tokens signed here as `who`; over the Unix socket they need
    /// none.
    pub fn for_signer(
        url: &str,
        key: Arc<Mutex<bosun_sign::Signer>>,
        who: bosun_model::KeyId,
    ) -> Result<Remote> {
        let url = Url::parse(url)?;
        if let Some(t) = given_token() {
            return Remote::new(url, Auth::Given(t));
        }
        if url.is_tcp() {
            Remote::signing(url, key, who)
        } else {
            Remote::new(url, Auth::None)
        }
    }

    /// A client of `url` with `auth`, and for `https` its trust
    /// ([`tls::Trust::from_env`]: the public roots and `BOSUN_CA`).
    fn new(url: Url, auth: Auth) -> Result<Remote> {
        let tls = match url {
            Url::Https { .. } => Some(tls::Trust::from_env()?),
            _ => None,
        };
        Ok(Remote { url, auth, tls })
    }

    /// A client of the daemon at `url` that signs its own read tokens as
    /// `who` with `key` (for the workspace the daemon names at
    /// `/api/v1/info`, asked now).
    pub fn signing(
        url: Url,
        key: Arc<Mutex<bosun_sign::Signer>>,
        who: bosun_model::KeyId,
    ) -> Result<Remote> {
        let mut r = Remote::new(url, Auth::None)?;
        let ws = r.info()?.workspace;
        let ws = bosun_model::Name::parse(&ws)
            .map_err(|e| r.failed(format!("its workspace name: {e}")))?;
        r.auth = Auth::Own {
            key,
            who,
            ws,
            last: Mutex::new(None),
        };
        Ok(r)
    }

    /// What the daemon says about itself (public: no token needed).
    pub fn info(&self) -> Result<bosun_api::views::ServerInfo> {
        self.get("/info")?.map_err(|e| self.failed(e.message))
    }

    /// The bearer token for the next request over TCP.
    fn token(&self) -> Result<Option<String>> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Given(t) => Ok(Some(t.clone())),
            Auth::Own { key, who, ws, last } => {
                let now = bosun_control::now();
                let mut last = last
                    .lock()
                    .map_err(|_| ControlError::Other("a token signing failed earlier".into()))?;
                if let Some((t, exp)) = last.as_ref()
                    && *exp - now > 60
                {
                    return Ok(Some(t.clone()));
                }
                let key = key
                    .lock()
                    .map_err(|_| ControlError::Other("a signing failed earlier".into()))?;
                let t = bosun_control::token::sign(&*key, who, ws, OWN_TOKEN_SECS, now)?;
                *last = Some((t.clone(), now + OWN_TOKEN_SECS));
                Ok(Some(t))
            }
        }
    }

    /// Whether reads over TCP carry a token.
    pub fn has_token(&self) -> bool {
        !matches!(self.auth, Auth::None)
    }

    /// GETs `path` (under `/api/v1`).
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>> {
        self.call("GET", path, None)
    }

    /// POSTs `body` as JSON to `path` (under `/api/v1`).
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Answer<T>> {
        let body = serde_json::to_vec(body).map_err(|e| ControlError::Other(e.to_string()))?;
        self.call("POST", path, Some(body))
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer<T>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ControlError::Other(format!("cannot start the client runtime: {e}")))?;
        let (status, bytes) = rt
            .block_on(async {
                tokio::time::timeout(TIMEOUT, self.exchange(method, path, body)).await
            })
            .map_err(|_| self.failed(format!("no answer within {} s", TIMEOUT.as_secs())))??;
        if status < 400 {
            return serde_json::from_slice(&bytes)
                .map(Ok)
                .map_err(|e| self.failed(format!("the answer to {method} {path} is not what this CLI expects ({e}); are the CLI and the daemon the same version?")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) if status < 500 && b.error.check.is_some() => Ok(Err(b.error)),
            Ok(b) => Err(self.failed(format!("{status}: {}", b.error.message))),
            Err(_) => Err(self.failed(format!("{status}: {}", String::from_utf8_lossy(&bytes)))),
        }
    }

    /// An error about this daemon.
    pub fn failed(&self, why: String) -> ControlError {
        ControlError::Other(format!("the daemon at {}: {why}", self.url))
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header("host", "bosun");
        if self.url.is_tcp()
            && let Some(t) = self.token()?
        {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.failed(e.to_string()))?;
        let res = match &self.url {
            Url::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p).await.map_err(|e| {
                    self.failed(format!(
                        "cannot connect ({e}); is the daemon running, and may you use its socket?"
                    ))
                })?;
                self.send(s, req, "").await?
            }
            Url::Http(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(|e| {
                        self.failed(format!(
                            "cannot connect ({e}); is the daemon running and listening on {a}?"
                        ))
                    })?;
                // A daemon with a certificate answers plain HTTP with a
                // TLS alert, which does not parse as HTTP.
                self.send(s, req, "; if the daemon serves HTTPS there, use https://")
                    .await?
            }
            Url::Https { host, port } => {
                let s = self.tls_connect(host, *port).await?;
                self.send(s, req, "").await?
            }
        };
        let status = res.status().as_u16();
        let limited = http_body_util::Limited::new(res.into_body(), MAX_ANSWER_BYTES);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| self.failed(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// A TLS connection to `host:port`, its certificate checked against
    /// what this client trusts.
    async fn tls_connect(
        &self,
        host: &str,
        port: u16,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let trust = self
            .tls
            .as_ref()
            .ok_or_else(|| self.failed("no TLS configuration".into()))?;
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| self.failed(format!("`{host}` is not a host name or address: {e}")))?;
        let s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| {
                self.failed(format!(
                    "cannot connect ({e}); is the daemon listening there with TLS?"
                ))
            })?;
        let _ = s.set_nodelay(true);
        tokio_rustls::TlsConnector::from(trust.config.clone())
            .connect(name, s)
            .await
            .map_err(|e| match tls::untrusted(&e, trust) {
                Some(why) => self.failed(why),
                None if tls::not_tls(&e) => self.failed(format!(
                    "the TLS handshake failed ({e}); is it serving plain HTTP (no certificate)? Then use http:// on loopback, or give it TLS"
                )),
                None => self.failed(format!("the TLS handshake failed: {e}")),
            })
    }

    /// Sends `req` over `s`; an answer that does not parse as HTTP is
    /// reported with `unparsed_hint` added.
    async fn send<S>(
        &self,
        s: S,
        req: hyper::Request<Full<Bytes>>,
        unparsed_hint: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender.send_request(req).await.map_err(|e| {
            let hint = if e.is_parse() { unparsed_hint } else { "" };
            self.failed(format!("{e}{hint}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_their_rules() {
        let https = |s: &str| match Url::parse(s) {
            Ok(Url::Https { host, port }) => (host, port),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(https("https://bosun.lan:7411"), ("bosun.lan".into(), 7411));
        assert_eq!(
            https("https://192.168.1.5:7411/"),
            ("192.168.1.5".into(), 7411)
        );
        assert_eq!(https("https://[fd00::5]:7411"), ("fd00::5".into(), 7411));
        assert_eq!(https("https://bosun.lan"), ("bosun.lan".into(), 443));
        assert_eq!(
            Url::parse("https://[fd00::5]:7411").unwrap().to_string(),
            "https://[fd00::5]:7411"
        );
        for bad in [
            "https://",
            "https://h:0",
            "https://h:port",
            "https://h:7411/api",
            "https://u@h:7411",
            "https://fd00::5:7411",
            "https://[nothost]:7411",
            "https://[::1]x:7411",
            "https://[::1]7411",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        // Plain http stays loopback only, and says what to use instead.
        assert!(matches!(
            Url::parse("http://127.0.0.1:7411"),
            Ok(Url::Http(_))
        ));
        let e = Url::parse("http://192.168.1.5:7411").unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
        assert!(!Url::parse("unix:///run/bosun.sock").unwrap().is_tcp());
    }
}
