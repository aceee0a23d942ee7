//! A deliberately small HTTP/1.1 client for the API tests: raw bytes over
//! a Unix socket or TCP, so a test can send exactly what a hostile client
//! would (wrong lengths, partial headers, garbage).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Where the daemon answers.
#[derive(Debug, Clone)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// An answer: status, headers (lower-cased names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The `error.check` of an error answer (null when none).
    pub fn check(&self) -> serde_json::Value {
        let v = self.json();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("not the error shape: {v}"));
        assert!(e["message"].is_string(), "no message: {v}");
        assert_eq!(e.as_object().unwrap().len(), 2, "extra fields: {v}");
        e["check"].clone()
    }
}

pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

pub fn connect(t: &Target) -> Box<dyn Stream> {
    match t {
        Target::Unix(p) => {
            let s = std::os::unix::net::UnixStream::connect(p).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            Box::new(s)
        }
        Target::Tcp(a) => {
            let s = std::net::TcpStream::connect(a).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            Box::new(s)
        }
    }
}

/// Sends raw bytes and reads the answer to the end of the connection.
pub fn raw(t: &Target, bytes: &[u8]) -> Answer {
    let mut s = connect(t);
    // A server may answer (413) and close before it read everything.
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse(&out)
}

/// `method path` with `headers` and a JSON `body`, `Connection: close`.
pub fn request(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: bosun\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b.as_bytes());
    }
    raw(t, &bytes)
}

pub fn get(t: &Target, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request(t, "GET", path, &headers, None)
}

pub fn post(t: &Target, path: &str, body: &str) -> Answer {
    request(t, "POST", path, &[], Some(body))
}

/// `{"envelope": …}` for a POST of a signed envelope.
pub fn envelope(env: &str) -> String {
    serde_json::json!({ "envelope": env.trim() }).to_string()
}

fn parse(out: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}
