//! What every transport does with a step's output: cap it (head and tail
//! kept), take the ssh wrapper's markers out of stderr, and scrub
//! credentials from it.

use std::io::Read;
use std::sync::{Arc, Mutex, mpsc};

/// Bytes of output kept from the start and from the end of a step's output.
pub const KEEP_HEAD: usize = 8 * 1024;
/// See [`KEEP_HEAD`].
pub const KEEP_TAIL: usize = 8 * 1024;

/// A step's output, capped: the first [`KEEP_HEAD`] and last [`KEEP_TAIL`]
/// bytes, and how many were dropped in between.
#[derive(Default)]
pub(crate) struct Capped {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl Capped {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.head.len() < KEEP_HEAD {
                self.head.push(b);
            } else {
                if self.tail.len() == KEEP_TAIL {
                    self.tail.pop_front();
                    self.dropped += 1;
                }
                self.tail.push_back(b);
            }
        }
    }

    pub(crate) fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!("\n[… {} bytes omitted …]\n", self.dropped));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        s.push_str(&String::from_utf8_lossy(&tail));
        s
    }
}

/// What the remote wrapper reported (ssh only).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Markers {
    /// The remote process group.
    pub(crate) pgid: Option<i32>,
    /// The command's exit status.
    pub(crate) rc: Option<i32>,
}

/// The record separator that starts a marker on the remote stderr.
const RS: u8 = 0x1e;

/// Copies stderr into `sink`, taking out `RS bosun-<nonce>-…:<n>\n`
/// markers. Detached: see `child`'s module docs for why.
pub(crate) fn pump_markers(
    mut r: impl Read + Send + 'static,
    sink: Arc<Mutex<Capped>>,
    markers: Arc<Mutex<Markers>>,
    nonce: String,
    done: mpsc::Sender<()>,
) -> std::thread::JoinHandle<()> {
    let pgid_tag = format!("bosun-{nonce}-pgid:");
    let rc_tag = format!("bosun-{nonce}-rc:");
    std::thread::spawn(move || {
        // Dropped when the pump ends: the step's waiter hears it at once.
        let _done = done;
        let mut buf = [0u8; 8192];
        let mut marker: Option<Vec<u8>> = None;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut plain = Vec::with_capacity(n);
            for &b in &buf[..n] {
                match marker.as_mut() {
                    None if b == RS => marker = Some(Vec::new()),
                    None => plain.push(b),
                    Some(m) if b == b'\n' => {
                        let text = String::from_utf8_lossy(m).into_owned();
                        let mut known = false;
                        if let Ok(mut mk) = markers.lock() {
                            if let Some(v) = text.strip_prefix(&pgid_tag) {
                                known = true;
                                // The first one only, and never 0 or 1: a
                                // process group that `kill -- -<n>` may hit.
                                if mk.pgid.is_none() {
                                    mk.pgid = v.trim().parse().ok().filter(|&g: &i32| g > 1);
                                }
                            } else if let Some(v) = text.strip_prefix(&rc_tag) {
                                known = true;
                                mk.rc = v.trim().parse().ok();
                            }
                        }
                        if !known {
                            // Not ours (no nonce): the command's own text.
                            plain.push(RS);
                            plain.append(m);
                            plain.push(b'\n');
                        }
                        marker = None;
                    }
                    // Not a marker after all (too long): give it back.
                    Some(m) if m.len() >= 64 => {
                        plain.push(RS);
                        plain.append(m);
                        plain.push(b);
                        marker = None;
                    }
                    Some(m) => m.push(b),
                }
            }
            if let Ok(mut c) = sink.lock() {
                c.push(&plain);
            }
        }
    })
}

/// Copies a pipe into `sink`. Detached: see `child`'s module docs for why.
pub(crate) fn pump(
    mut r: impl Read + Send + 'static,
    sink: Arc<Mutex<Capped>>,
    done: mpsc::Sender<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _done = done;
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut c) = sink.lock() {
                        c.push(&buf[..n]);
                    }
                }
            }
        }
    })
}

/// Scrubs `output`: [`scrub`], then the workspace's `patterns`.
pub(crate) fn scrub_all(output: &str, patterns: &[regex::Regex]) -> String {
    let mut output = scrub(output);
    for p in patterns {
        if p.is_match(&output) {
            output = p.replace_all(&output, "***").into_owned();
        }
    }
    output
}

const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
];

/// Removes credentials from step output: the password of `scheme://user:pass@host`
/// URLs and the value of `password=…`/`token: …`-style assignments.
pub fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&scrub_assignments(&scrub_urls(line)));
    }
    out
}

fn scrub_urls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn scrub_assignments(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut cut: Option<usize> = None;
    for w in SECRET_WORDS {
        let mut from = 0;
        while let Some(p) = lower[from..].find(w) {
            let after = from + p + w.len();
            let rest = &line[after..];
            let trimmed = rest.trim_start_matches(['"', '\'', ' ']);
            if let Some(v) = trimmed.strip_prefix(['=', ':']) {
                let start = line.len() - v.len();
                let v_trim = v.trim_start();
                let start = start + (v.len() - v_trim.len());
                if !v_trim.is_empty() {
                    cut = Some(cut.map_or(start, |c: usize| c.min(start)));
                }
            }
            from = after;
        }
    }
    match cut {
        Some(c) => {
            let value_end = line[c..]
                .find(char::is_whitespace)
                .map_or(line.len(), |e| c + e);
            let mut s = line[..c].to_string();
            s.push_str("***");
            s.push_str(&scrub_assignments(&line[value_end..]));
            s
        }
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs() {
        assert_eq!(
            scrub("git clone https://bob:hunter2@git.lan/x"),
            "git clone https://bob:***@git.lan/x"
        );
        assert_eq!(scrub("TOKEN=abc123 next"), "TOKEN=*** next");
        assert_eq!(scrub("db password: s3cret"), "db password: ***");
        assert_eq!(
            scrub("nothing here http://host:8080/"),
            "nothing here http://host:8080/"
        );
        assert_eq!(scrub("a\npassword=x\nb"), "a\npassword=***\nb");
    }

    #[test]
    fn markers_are_taken_out_of_stderr() {
        let sink = Arc::new(Mutex::new(Capped::default()));
        let mk = Arc::new(Mutex::new(Markers::default()));
        let input: &[u8] = b"\x1ebosun-n1-pgid:4242\nwarn: x\x1ebosun-n1-pgid:1\npartial\x1ebosun-n1-rc:3\n\x1ebosun-other-pgid:7\n\x1enot a marker but a long line of text that goes on and on and on and on\n";
        pump_markers(
            input,
            sink.clone(),
            mk.clone(),
            "n1".into(),
            mpsc::channel().0,
        )
        .join()
        .unwrap();
        let m = *mk.lock().unwrap();
        assert_eq!((m.pgid, m.rc), (Some(4242), Some(3)));
        let text = sink.lock().unwrap().text();
        assert_eq!(
            text,
            "warn: xpartial\u{1e}bosun-other-pgid:7\n\u{1e}not a marker but a long line of text that goes on and on and on and on\n"
        );
    }

    #[test]
    fn caps_output() {
        let mut c = Capped::default();
        c.push(&vec![b'a'; KEEP_HEAD]);
        c.push(&vec![b'b'; 100_000]);
        c.push(b"END");
        let t = c.text();
        assert!(t.len() < KEEP_HEAD + KEEP_TAIL + 100);
        assert!(t.ends_with("END"));
        assert!(t.contains("bytes omitted"));
    }
}
