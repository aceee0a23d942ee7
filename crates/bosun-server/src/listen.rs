//! Where the server listens: a Unix socket (by default `bosun.sock` in the
//! state directory; the socket file's group grants access) and TCP
//! addresses, plain HTTP or HTTPS ([`crate::tls`]). Plain HTTP is allowed
//! on loopback only: a non-loopback address without TLS is refused with
//! the reason, because tokens and envelopes would cross the network in
//! clear.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::tls::Tls;

/// A place to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket at this path.
    Unix(PathBuf),
    /// A TCP address (loopback only, unless the server has TLS).
    Tcp(SocketAddr),
}

/// `unix:///path`, or `tcp://ADDR:PORT` (whether it serves plain HTTP or
/// HTTPS is the server's: [`crate::Options::tls`]).
impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix://{}", p.display()),
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address does not parse.
    #[error("`{given}` is not ADDR:PORT (e.g. 127.0.0.1:7411 or [::1]:7411): {why}")]
    Address {
        /// What was given.
        given: String,
        /// Why it does not parse.
        why: String,
    },
    /// Plain HTTP off loopback.
    #[error(
        "refusing to listen on {addr} with plain HTTP: it is not a loopback address, so bearer tokens and envelopes would cross the network in clear. Give the TCP listeners a TLS certificate and key (docs/deploy.md, \"TLS\"), or listen on 127.0.0.1 or [::1] (a TLS proxy in front must forward to this TCP listener, never to the Unix socket, whose clients read without a token)"
    )]
    NotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// Something other than a socket is at the socket's path.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another server answers on the socket.
    #[error("another server already listens on {} (is a daemon already running for this workspace?)", path.display())]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The OS refused.
    #[error("cannot listen on {what}: {source}")]
    Io {
        /// Where.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Listen {
    /// A TCP address from `ADDR:PORT`, refused unless it is loopback or
    /// the server has `tls`.
    pub fn tcp(given: &str, tls: bool) -> Result<Listen, ListenError> {
        let addr: SocketAddr = given
            .trim()
            .parse()
            .map_err(|e: std::net::AddrParseError| ListenError::Address {
                given: given.into(),
                why: e.to_string(),
            })?;
        check_tcp(addr, tls)?;
        Ok(Listen::Tcp(addr))
    }
}

/// Refuses plain HTTP off loopback.
fn check_tcp(addr: SocketAddr, tls: bool) -> Result<(), ListenError> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ListenError::NotLoopback { addr })
    }
}

/// A listener bound by the OS, not yet handed to the runtime.
#[derive(Debug)]
pub enum Bound {
    /// A Unix socket, its path, and the (device, inode) of the socket
    /// file it made (removed when the server stops, only if still its own).
    Unix(std::os::unix::net::UnixListener, PathBuf, (u64, u64)),
    /// A TCP socket, serving HTTPS with this certificate when given.
    Tcp(std::net::TcpListener, Option<Tls>),
}

impl Bound {
    /// Where it listens, as a URL (`unix:///…`, `http://127.0.0.1:PORT`,
    /// `https://…`: the port the OS picked when 0 was asked).
    pub fn url(&self) -> String {
        match self {
            Bound::Unix(_, p, _) => format!("unix://{}", p.display()),
            Bound::Tcp(l, tls) => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                match l.local_addr() {
                    Ok(a) => format!("{scheme}://{a}"),
                    Err(_) => format!("{scheme}://?"),
                }
            }
        }
    }
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ListenError {
    let what = what.to_string();
    move |source| ListenError::Io { what, source }
}

/// Binds `l`: a TCP address as given (HTTPS with `tls`; plain HTTP on
/// loopback only); a Unix socket after removing a stale one (nothing
/// answers on it), with mode 0660 so that its group grants access.
pub fn bind(l: &Listen, tls: Option<&Tls>) -> Result<Bound, ListenError> {
    match l {
        Listen::Tcp(a) => {
            check_tcp(*a, tls.is_some())?;
            let s = std::net::TcpListener::bind(a).map_err(io(a))?;
            s.set_nonblocking(true).map_err(io(a))?;
            Ok(Bound::Tcp(s, tls.cloned()))
        }
        Listen::Unix(p) => bind_unix(p),
    }
}

fn bind_unix(path: &Path) -> Result<Bound, ListenError> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(ListenError::NotASocket { path: path.into() });
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ListenError::InUse { path: path.into() });
            }
            std::fs::remove_file(path).map_err(io(&shown))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&shown)(e)),
    }
    let s = bind_private(path).map_err(io(&shown))?;
    s.set_nonblocking(true).map_err(io(&shown))?;
    let id = socket_id(path).ok_or_else(|| ListenError::NotASocket { path: path.into() })?;
    Ok(Bound::Unix(s, path.into(), id))
}

/// Binds the socket at `path` with mode 0660 from its first moment: it is
/// bound inside a fresh directory only this user may enter, given its
/// mode there, then linked into place (which fails rather than replace a
/// socket another daemon bound meanwhile) — so no client connects while
/// it still has the umask's mode. Where the private name would be too long
/// for a socket address, it is bound in place under a umask-independent
/// chmod (the old way).
fn bind_private(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::DirBuilderExt as _;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let private = parent.join(format!(".bosun-bind-{}-{nonce}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let tmp = private.join("s");
    let bound: std::io::Result<std::os::unix::net::UnixListener> = (|| {
        let s = std::os::unix::net::UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
        // A link, not a rename: it fails if another daemon bound the path
        // meanwhile, instead of replacing its live socket.
        std::fs::hard_link(&tmp, path)?;
        Ok(s)
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    match bound {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            let s = std::os::unix::net::UnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
            Ok(s)
        }
        other => other,
    }
}

/// The (device, inode) of the socket file at `path`, if one is there.
pub fn socket_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_loopback_only() {
        for tls in [false, true] {
            assert!(matches!(
                Listen::tcp("127.0.0.1:7411", tls),
                Ok(Listen::Tcp(_))
            ));
            assert!(matches!(Listen::tcp("[::1]:0", tls), Ok(Listen::Tcp(_))));
        }
        for off in ["0.0.0.0:7411", "192.168.1.5:80", "[::]:7411"] {
            let e = Listen::tcp(off, false).unwrap_err();
            assert!(matches!(e, ListenError::NotLoopback { .. }), "{off}: {e}");
            assert!(e.to_string().contains("in clear"), "{e}");
            assert!(e.to_string().contains("TLS certificate"), "{e}");
            assert!(
                matches!(Listen::tcp(off, true), Ok(Listen::Tcp(_))),
                "{off}"
            );
            // Bound directly, without TLS: refused there too.
            let Ok(Listen::Tcp(a)) = Listen::tcp(off, true) else {
                unreachable!()
            };
            assert!(matches!(
                bind(&Listen::Tcp(a), None),
                Err(ListenError::NotLoopback { .. })
            ));
        }
        for bad in ["", "localhost", "127.0.0.1", "127.0.0.1:99999", "host:80"] {
            assert!(
                matches!(Listen::tcp(bad, false), Err(ListenError::Address { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_file_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bosun.sock");
        let first = bind(&Listen::Unix(p.clone()), None).unwrap();
        // A live one is in use.
        assert!(matches!(
            bind(&Listen::Unix(p.clone()), None),
            Err(ListenError::InUse { .. })
        ));
        drop(first);
        // Its file remains, stale: replaced.
        assert!(bind(&Listen::Unix(p.clone()), None).is_ok());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let f = d.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(matches!(
            bind(&Listen::Unix(f.clone()), None),
            Err(ListenError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");
    }
}
