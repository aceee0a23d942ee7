//! The CLI as a client of the daemon (`BOSUN_URL` or `--server`):
//! `unix:///path/to/bosun.sock`, `http://127.0.0.1:PORT`. Requests go
//! over hyper (HTTP/1.1, one connection per request) on a small
//! current-thread runtime; keys stay here and sign here — the daemon gets
//! envelopes, never a private key. Reads over TCP carry a bearer token:
//! `BOSUN_TOKEN`, or one this CLI signs for `BOSUN_AS` (five minutes).

use std::path::PathBuf;
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
pub(crate) enum Url {
    /// A Unix socket.
    Unix(PathBuf),
    /// Plain HTTP on an address (`host:port`).
    Http(String),
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Url::Unix(p) => write!(f, "unix://{}", p.display()),
            Url::Http(a) => write!(f, "http://{a}"),
        }
    }
}

impl Url {
    /// Parses `unix:///path` or `http://host:port` (`https` is refused
    /// until the daemon has TLS listeners).
    pub(crate) fn parse(s: &str) -> Result<Url> {
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
                    "plain http is for loopback addresses only (127.0.0.1, [::1], localhost); use the daemon's Unix socket otherwise",
                ));
            }
            return Ok(Url::Http(a.to_string()));
        }
        if s.starts_with("https://") {
            return Err(bad_url(
                s,
                "the daemon has no TLS listener yet; use its Unix socket or loopback http",
            ));
        }
        Err(bad_url(
            s,
            "give unix:///path/to/bosun.sock or http://127.0.0.1:PORT",
        ))
    }
}

fn bad_url(s: &str, why: &str) -> ControlError {
    ControlError::Other(format!("BOSUN_URL / --server `{s}`: {why}"))
}

/// The daemon's error answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// What went wrong, and which check said so.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct ErrorDetail {
    pub(crate) check: Option<bosun_api::Check>,
    pub(crate) message: String,
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    pub(crate) url: Url,
    /// The bearer token for reads over TCP, when there is one.
    pub(crate) token: Option<String>,
}

/// An answer: the value, or the daemon's refusal (a 4xx naming a check).
pub(crate) type Answer<T> = std::result::Result<T, ErrorDetail>;

/// How long a token this CLI signs for itself lives.
const OWN_TOKEN_SECS: i64 = 300;

impl Remote {
    /// A client of the daemon at `url`. Over TCP, reads carry
    /// `BOSUN_TOKEN`, or a token signed here with `BOSUN_AS`'s key for the
    /// workspace the daemon names at `/api/v1/info`.
    pub(crate) fn connect(url: &str, keys: &bosun_sign::KeyDir) -> Result<Remote> {
        let mut r = Remote {
            url: Url::parse(url)?,
            token: std::env::var("BOSUN_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
        };
        if matches!(r.url, Url::Http(_))
            && r.token.is_none()
            && let Ok(who) = std::env::var("BOSUN_AS")
        {
            let who = bosun_model::KeyId::parse(who.trim())
                .map_err(|e| ControlError::Other(format!("BOSUN_AS: {e}")))?;
            let info: bosun_api::views::ServerInfo =
                r.get("/info")?.map_err(|e| r.failed(e.message))?;
            let ws = bosun_model::Name::parse(&info.workspace)
                .map_err(|e| r.failed(format!("its workspace name: {e}")))?;
            let key = bosun_control::client::load_secret(keys, &who)?;
            r.token = Some(bosun_control::token::sign(
                &key,
                &who,
                &ws,
                OWN_TOKEN_SECS,
                bosun_control::now(),
            )?);
        }
        Ok(r)
    }

    /// GETs `path` (under `/api/v1`).
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>> {
        self.call("GET", path, None)
    }

    /// POSTs `body` as JSON to `path` (under `/api/v1`).
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
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

    fn failed(&self, why: String) -> ControlError {
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
        if let (Url::Http(_), Some(t)) = (&self.url, &self.token) {
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
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| self.failed(format!("cannot connect ({e}); is `bosun serve` running, and may you use its socket?")))?;
                self.send(s, req).await?
            }
            Url::Http(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(|e| {
                        self.failed(format!(
                            "cannot connect ({e}); is `bosun serve --listen {a}` running?"
                        ))
                    })?;
                self.send(s, req).await?
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

    async fn send<S>(
        &self,
        s: S,
        req: hyper::Request<Full<Bytes>>,
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
        sender
            .send_request(req)
            .await
            .map_err(|e| self.failed(e.to_string()))
    }
}
