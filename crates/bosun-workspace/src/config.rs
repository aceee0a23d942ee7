//! `bosun.toml`: the workspace's name, storage, op lifetime and the
//! patterns scrubbed from step output.

use bosun_model::Name;
use bosun_model::source::{SourceError, from_toml};
use serde::{Deserialize, Serialize};

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind", from = "StorageWire")]
pub enum Storage {
    /// One SQLite file under `.bosun/`.
    #[default]
    Embedded,
}

/// `[storage]` as written: serde ignores unknown keys beside the tag of an
/// internally tagged unit variant, so the table is read as a struct that
/// refuses them (a misspelt key must not be dropped silently).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageWire {
    kind: StorageKind,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum StorageKind {
    Embedded,
}

impl From<StorageWire> for Storage {
    fn from(w: StorageWire) -> Storage {
        match w.kind {
            StorageKind::Embedded => Storage::Embedded,
        }
    }
}

/// The validated `bosun.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The workspace's name: ops carry it as `ws` and it is the ledger's origin.
    pub name: Name,
    /// Storage backend.
    #[serde(default)]
    pub storage: Storage,
    /// Seconds an op envelope stays valid after it is signed.
    #[serde(default = "default_op_ttl")]
    pub op_ttl_secs: i64,
    /// Regular expressions whose matches are replaced by `***` in step
    /// output before it is stored (besides the built-in credential rules:
    /// `password=…`, `token: …`, passwords in URLs), e.g.
    /// `scrub = ["AKIA[0-9A-Z]{16}", "ghp_[A-Za-z0-9]{36}"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrub: Vec<String>,
    /// Reminders for what waits on a human: the ladder and the sinks.
    #[serde(default)]
    pub notify: Notify,
    /// `[server]`: where `bosun serve` answers its HTTP API.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where the state lives — the embedded database, step records, the
    /// API socket: a directory relative to the workspace, or absolute
    /// (`/var/lib/bosun/state` for a daemon under its own user). Default
    /// `.bosun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// `[kernel]`: kernel builds, their retention, the package repository.
    #[serde(default)]
    pub kernel: crate::kernel::KernelConfig,
}

/// `[server]`: where `bosun serve` listens and who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The Unix socket's path, relative to the workspace (default
    /// `.bosun/bosun.sock`); its group grants access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// TCP addresses (`"127.0.0.1:7411"`); plain HTTP on loopback only,
    /// any address with `tls`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// The certificate and key every TCP listener serves HTTPS with:
    /// `tls = { cert = "tls/cert.pem", key = "tls/key.pem" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Who may read `/metrics` over TCP: `public` or `token`. Unset: public
    /// while every TCP listener is on loopback, a token once one is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsAccess>,
}

/// `[server] tls`: PEM files, relative to the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, the server's certificate first.
    pub cert: String,
    /// The private key (readable by the daemon's user only).
    pub key: String,
}

/// Who may read `/metrics` over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who can connect.
    #[default]
    Public,
    /// Only with a bearer token, like every other read.
    Token,
}

/// `[notify]`: when and where to remind humans of what waits on them (ops
/// waiting for approval or a step report, active blockers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// When to remind, counted from when the wait began (`0s` is at once).
    #[serde(default = "default_ladder")]
    pub ladder: Vec<String>,
    /// After the ladder, remind this often.
    #[serde(default = "default_repeat")]
    pub repeat: String,
    /// Where reminders go (default: the controller's log only).
    #[serde(default = "default_sinks")]
    pub sink: Vec<Sink>,
}

impl Default for Notify {
    fn default() -> Notify {
        Notify {
            ladder: default_ladder(),
            repeat: default_repeat(),
            sink: default_sinks(),
        }
    }
}

fn default_ladder() -> Vec<String> {
    ["0s", "1h", "6h", "1d"].map(String::from).to_vec()
}

fn default_repeat() -> String {
    "1d".into()
}

fn default_sinks() -> Vec<Sink> {
    vec![Sink::Log]
}

/// One place reminders go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", deny_unknown_fields)]
pub enum Sink {
    /// The controller's log (standard error of `serve`, the output of
    /// `bosun remind`).
    Log,
    /// An HTTP(S) POST of a JSON document.
    Webhook {
        /// Where to POST.
        url: String,
    },
    /// An ntfy topic (`https://ntfy.sh/<topic>` or a server of your own).
    Ntfy {
        /// The topic's URL.
        url: String,
        /// The environment variable holding an access token, if the topic
        /// needs one (never the token itself: no secrets in the workspace).
        #[serde(default)]
        token_env: Option<String>,
    },
}

impl Notify {
    /// The ladder in seconds from the start of the wait, and the repeat
    /// interval (both checked when parsed).
    pub fn schedule(&self) -> (Vec<i64>, i64) {
        (
            self.ladder
                .iter()
                .filter_map(|d| ladder_secs(d).ok())
                .collect(),
            bosun_model::source::parse_duration(&self.repeat).unwrap_or(86_400),
        )
    }
}

/// A ladder rung: a duration, or `0s`/`now` for at once.
fn ladder_secs(d: &str) -> Result<i64, String> {
    match d.trim() {
        "0" | "0s" | "now" => Ok(0),
        other => bosun_model::source::parse_duration(other),
    }
}

/// Most scrub patterns, and the longest one, accepted.
pub const MAX_SCRUB_PATTERNS: usize = 64;
/// See [`MAX_SCRUB_PATTERNS`].
pub const MAX_SCRUB_PATTERN_LEN: usize = 512;

fn compile(p: &str) -> Result<regex::Regex, String> {
    if p.len() > MAX_SCRUB_PATTERN_LEN {
        return Err(format!("over {MAX_SCRUB_PATTERN_LEN} characters"));
    }
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

fn default_op_ttl() -> i64 {
    3600
}

impl Config {
    /// Parses `bosun.toml`.
    pub fn parse(path: &str, text: &str) -> Result<Config, SourceError> {
        let c: Config = from_toml(path, text, crate::MAX_CONFIG_BYTES)?;
        if c.op_ttl_secs <= 0 || c.op_ttl_secs > 30 * 86400 {
            return Err(SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, "op_ttl_secs"),
                "op_ttl_secs must be between 1 and 2592000 (30 days)",
            ));
        }
        if let Some(d) = &c.state_dir
            && (d.trim().is_empty() || d.contains('\0') || d.len() > 4096)
        {
            return Err(SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, "state_dir"),
                "state_dir must be a directory path (relative to the workspace, or absolute)",
            ));
        }
        if let Err((key, msg)) = c.kernel.times() {
            return Err(SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, key),
                msg,
            ));
        }
        if c.scrub.len() > MAX_SCRUB_PATTERNS {
            return Err(SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, "scrub"),
                format!("more than {MAX_SCRUB_PATTERNS} scrub patterns"),
            ));
        }
        let at = |needle: &str, msg: String| {
            SourceError::at(
                path,
                text,
                bosun_model::source::find_offset(text, needle),
                msg,
            )
        };
        if c.notify.ladder.is_empty() || c.notify.ladder.len() > 32 {
            return Err(at("ladder", "notify.ladder needs 1 to 32 rungs".into()));
        }
        let mut last = -1;
        for d in &c.notify.ladder {
            match ladder_secs(d) {
                Ok(v) if v > last => last = v,
                Ok(_) => {
                    return Err(at(
                        d,
                        format!("notify.ladder rung `{d}` is not after the one before it"),
                    ));
                }
                Err(e) => return Err(at(d, format!("notify.ladder rung `{d}`: {e}"))),
            }
        }
        if let Err(e) = bosun_model::source::parse_duration(&c.notify.repeat) {
            return Err(at(
                "repeat",
                format!("notify.repeat `{}`: {e}", c.notify.repeat),
            ));
        }
        for s in &c.notify.sink {
            if let Sink::Ntfy {
                url,
                token_env: Some(_),
            } = s
                && !url.starts_with("https://")
            {
                return Err(at(
                    url,
                    format!("sink url `{url}` carries an access token: it must be https://"),
                ));
            }
            if let Sink::Webhook { url } | Sink::Ntfy { url, .. } = s
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(at(
                    url,
                    format!("sink url `{url}` must start with http:// or https://"),
                ));
            }
        }
        for p in &c.scrub {
            if let Err(e) = compile(p) {
                return Err(SourceError::at(
                    path,
                    text,
                    bosun_model::source::find_offset(text, p),
                    format!("scrub pattern `{p}` is not a valid regular expression: {e}"),
                ));
            }
        }
        Ok(c)
    }

    /// The scrub patterns, compiled (they were checked when parsed).
    pub fn scrub_patterns(&self) -> Vec<regex::Regex> {
        self.scrub.iter().filter_map(|p| compile(p).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scrub_patterns_are_checked_with_their_place() {
        let c = Config::parse(
            "bosun.toml",
            "name = \"lab\"\nscrub = [\"AKIA[0-9A-Z]{16}\"]\n",
        )
        .unwrap();
        assert_eq!(c.scrub_patterns().len(), 1);
        let e =
            Config::parse("bosun.toml", "name = \"lab\"\nscrub = [\"(unclosed\"]\n").unwrap_err();
        assert!(e.to_string().starts_with("bosun.toml:2:"), "{e}");
    }

    #[test]
    fn parses_and_locates() {
        let c = Config::parse("bosun.toml", "name = \"lab\"\n").unwrap();
        assert_eq!(c.name.as_str(), "lab");
        assert_eq!(c.storage, Storage::Embedded);
        let e = Config::parse(
            "bosun.toml",
            "name = \"lab\"\nstorage = { kind = \"cloud\" }\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (2, "bosun.toml"));
        // An unknown key beside the kind is refused with its line, not dropped.
        let e = Config::parse(
            "bosun.toml",
            "name = \"lab\"\n[storage]\nkind = \"embedded\"\npath = \"/srv/db\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().contains("path"), "{e}");
        let e = Config::parse("bosun.toml", "name = \"a b\"\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn server_tls_names_both_files() {
        let c = Config::parse(
            "bosun.toml",
            "name = \"lab\"\n[server]\nlisten = [\"0.0.0.0:7411\"]\ntls = { cert = \"tls/cert.pem\", key = \"tls/key.pem\" }\n",
        )
        .unwrap();
        let tls = c.server.tls.unwrap();
        assert_eq!(
            (tls.cert.as_str(), tls.key.as_str()),
            ("tls/cert.pem", "tls/key.pem")
        );
        for bad in [
            "tls = { cert = \"c.pem\" }",
            "tls = { cert = \"c.pem\", key = \"k.pem\", ca = \"ca.pem\" }",
        ] {
            let e = Config::parse("bosun.toml", &format!("name = \"lab\"\n[server]\n{bad}\n"))
                .unwrap_err();
            assert_eq!(e.line, 3, "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = Config::parse("bosun.toml", &s);
        }
    }
}
