//! HTTPS listeners and `https://` clients, for real: certificates made by
//! the `openssl` CLI, a real `bosun serve` with `[server] tls` or
//! `--tls-cert/--tls-key`, the real CLI and `bosun mcp` as its clients
//! (trusting the certificate through `BOSUN_CA`), and `openssl s_client`
//! as a second, independent TLS client (of the API and of the daemon's
//! `/mcp`). Plain HTTP stays loopback-only, a plain
//! request to the TLS port gets no answer, a connection that never
//! handshakes is cut off, and a bad certificate or an open key file stops
//! `serve` before it binds anything, naming the file.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Lab;
use common::api::daemon_with;

/// A certificate and its key, made by `openssl`.
struct Cert {
    cert: PathBuf,
    key: PathBuf,
}

/// A self-signed certificate for `127.0.0.1`, `localhost` and `ips`,
/// under `dir/name-*`: not a CA (an end-entity certificate trusted as
/// itself), as docs/deploy.md makes it.
fn make_cert(dir: &Path, name: &str, ips: &[IpAddr]) -> Cert {
    make_cert_as(dir, name, ips, "basicConstraints=critical,CA:FALSE")
}

/// As [`make_cert`], with `constraints` as its basic constraints.
fn make_cert_as(dir: &Path, name: &str, ips: &[IpAddr], constraints: &str) -> Cert {
    assert!(
        Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "the openssl CLI is needed (scripts/test-deps.sh installs it)"
    );
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let mut san = "subjectAltName=IP:127.0.0.1,DNS:localhost".to_string();
    for ip in ips {
        san.push_str(&format!(",IP:{ip}"));
    }
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bosun-test",
            "-addext",
            &san,
            "-addext",
            constraints,
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl req: {o:?}");
    // openssl writes the key 0600; say so rather than rely on it.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    Cert { cert, key }
}

/// `bosun serve --listen listen` with `c` as its certificate, and the
/// address its HTTPS listener logged.
fn serve_tls(lab: &Lab, listen: &str, c: &Cert) -> (common::api::Daemon, String) {
    let (d, addrs) = daemon_with(
        lab,
        &[
            "--listen",
            listen,
            "--tls-cert",
            c.cert.to_str().unwrap(),
            "--tls-key",
            c.key.to_str().unwrap(),
        ],
        "https",
        1,
    );
    (d, addrs[0].clone())
}

/// This machine's address on its default route, if it has one that is
/// not loopback (a UDP "connect" picks the source address; nothing is
/// sent).
fn outward_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// `bosun args` as a client of `url`, trusting `ca`, as `as_`.
fn client(lab: &Lab, url: &str, ca: Option<&Path>, as_: Option<&str>, args: &[&str]) -> Output {
    let mut c = lab.cmd(args);
    c.env_remove("BOSUN_AS")
        .env_remove("BOSUN_TOKEN")
        .env_remove("BOSUN_CA")
        .env("BOSUN_URL", url);
    if let Some(ca) = ca {
        c.env("BOSUN_CA", ca);
    }
    if let Some(a) = as_ {
        c.env("BOSUN_AS", a);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"))
}

/// `openssl s_client` to `addr` with `args`, trusting `ca`, sending
/// `input` (then the end of its input): what it printed.
fn s_client(addr: &str, ca: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(ca)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The handshake `openssl s_client` makes with `args`: all it printed.
fn handshake(addr: &str, ca: &Path, args: &[&str]) -> String {
    let o = s_client(addr, ca, args, "");
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o))
}

/// `request` (raw HTTP/1.1, `Connection: close`) over TLS to `addr`,
/// trusting `ca`: the answer as text.
fn https_raw(addr: &str, ca: &Path, request: &str) -> String {
    let o = s_client(addr, ca, &["-quiet", "-verify_return_error"], request);
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn the_cli_reads_over_https_trusting_bosun_ca() {
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert(dir.path(), "lab", &[]);
    // From bosun.toml, relative to the workspace.
    let lab = Lab::new_with(|lab| {
        std::fs::create_dir_all(lab.path("tls")).unwrap();
        std::fs::copy(&c.cert, lab.path("tls/cert.pem")).unwrap();
        std::fs::copy(&c.key, lab.path("tls/key.pem")).unwrap();
        let mut toml = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
        toml.push_str(
            "\n[server]\nlisten = [\"127.0.0.1:0\"]\ntls = { cert = \"tls/cert.pem\", key = \"tls/key.pem\" }\n",
        );
        lab.write("bosun.toml", &toml);
    });
    let (d, addrs) = daemon_with(&lab, &[], "https", 1);
    let addr = &addrs[0];
    let port = addr.rsplit(':').next().unwrap();
    let ca = lab.path("tls/cert.pem");

    // The CLI over https, by address and by name, with a token it signs.
    for url in [
        format!("https://{addr}"),
        format!("https://localhost:{port}"),
    ] {
        let o = client(&lab, &url, Some(&ca), Some("alice"), &["status", "--json"]);
        assert!(o.status.success(), "{url}: {o:?}");
        assert_eq!(json(&o)["workspace"], "lab", "{url}");
        let o = client(
            &lab,
            &url,
            Some(&ca),
            Some("alice"),
            &["ops", "list", "--json"],
        );
        assert!(o.status.success(), "{url}: {o:?}");
        assert!(json(&o).is_array(), "{url}: {o:?}");
    }
    let url = format!("https://{addr}");
    // Reads still need a token over TLS.
    let o = client(&lab, &url, Some(&ca), None, &["ops", "list", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(json(&o)["check"], "token");
    // Without BOSUN_CA the self-signed certificate is not trusted: said
    // plainly, naming the URL and the way out.
    let o = client(&lab, &url, None, Some("alice"), &["status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains(&url), "{e}");
    assert!(e.contains("not trusted"), "{e}");
    assert!(e.contains("BOSUN_CA="), "{e}");
    // A CA that does not vouch for it: said too.
    let other = make_cert(dir.path(), "other", &[]);
    let o = client(&lab, &url, Some(&other.cert), Some("alice"), &["status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("does not vouch"), "{o:?}");
    // A BOSUN_CA that is not a certificate is named.
    let o = client(&lab, &url, Some(&c.key), Some("alice"), &["status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains(&format!("BOSUN_CA {}", c.key.display())),
        "{o:?}"
    );

    // An independent client: TLS 1.2 and 1.3 both, HTTP/1.1 by ALPN,
    // verified against the certificate.
    for (v, shown) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = handshake(addr, &ca, &[v, "-alpn", "http/1.1"]);
        assert!(
            out.contains(&format!("Protocol  : {shown}")) || out.contains(&format!("New, {shown}")),
            "{v}: {out}"
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{v}: {out}");
        assert!(out.contains("ALPN protocol: http/1.1"), "{v}: {out}");
    }
    // A client that offers only h2 is refused (HTTP/1.1 is all it serves).
    let out = handshake(addr, &ca, &["-alpn", "h2"]);
    assert!(!out.contains("ALPN protocol: h2"), "{out}");
    assert!(
        out.contains("no application protocol") || out.contains("alert"),
        "{out}"
    );

    // The CLI told plain http for the TLS port says what to use.
    let o = client(
        &lab,
        &format!("http://{addr}"),
        None,
        Some("alice"),
        &["status"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("use https://"), "{o:?}");

    // Plain HTTP to the TLS port gets no answer served.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/v1/info HTTP/1.1\r\nHost: bosun\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("HTTP/1.1") && !text.contains("\"workspace\""),
        "{text}"
    );
    drop(d);
}

#[test]
fn a_connection_that_never_handshakes_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert(dir.path(), "lab", &[]);
    let lab = Lab::new();
    let (d, addr) = serve_tls(&lab, "127.0.0.1:0", &c);
    // Opens TCP and says nothing: the server closes it within its header
    // timeout (10 s), as it would a client that never sends headers.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let r = s.read(&mut buf);
    let took = t.elapsed();
    assert!(
        matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{r:?} after {took:?}"
    );
    assert!(
        (Duration::from_secs(5)..Duration::from_secs(15)).contains(&took),
        "closed after {took:?}"
    );
    drop(d);
}

#[test]
fn off_loopback_takes_tls_and_is_refused_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ip = outward_ip();
    let c = make_cert(dir.path(), "lab", ip.as_slice());
    let lab = Lab::new();
    // The machine's own address if it has one, else every address.
    let (bind, shown) = match ip {
        Some(ip) => (std::net::SocketAddr::new(ip, 0).to_string(), ip.to_string()),
        None => ("0.0.0.0:0".to_string(), "0.0.0.0".to_string()),
    };
    // Without TLS: refused before anything binds, saying how to give TLS.
    let o = lab.run(&["serve", "--listen", &bind]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains(&shown) && e.contains("in clear"), "{e}");
    assert!(
        e.contains("--tls-cert") && e.contains("[server] tls"),
        "{e}"
    );
    assert!(!lab.path(".bosun/bosun.sock").exists(), "{e}");
    // With TLS: served, and the CLI reads through it.
    let (d, addr) = serve_tls(&lab, &bind, &c);
    let port = addr.rsplit(':').next().unwrap();
    let url = match ip {
        Some(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        Some(ip) => format!("https://{ip}:{port}"),
        None => format!("https://127.0.0.1:{port}"),
    };
    let o = client(
        &lab,
        &url,
        Some(&c.cert),
        Some("alice"),
        &["ops", "list", "--json"],
    );
    assert!(o.status.success(), "{url}: {o:?}");
    assert!(json(&o).is_array());
    // Off loopback, /metrics takes a token unless bosun.toml says `public`.
    if ip.is_some() {
        let metrics = https_raw(
            &addr,
            &c.cert,
            "GET /metrics HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
        );
        assert!(metrics.starts_with("HTTP/1.1 401"), "{metrics}");
    }
    drop(d);
}

#[test]
fn a_bad_certificate_or_an_open_key_stops_serve_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert(dir.path(), "lab", &[]);
    let other = make_cert(dir.path(), "other", &[]);
    let lab = Lab::new();
    let serve = |cert: &Path, key: &Path| {
        let o = lab.run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(!lab.path(".bosun/bosun.sock").exists(), "{o:?}");
        stderr(&o)
    };
    // A key its group or others can read.
    let open = dir.path().join("open-key.pem");
    std::fs::copy(&c.key, &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = serve(&c.cert, &open);
    assert!(e.contains(&open.display().to_string()), "{e}");
    assert!(e.contains("chmod 600"), "{e}");
    // A missing certificate, one that is not PEM, a key that is not the
    // certificate's: each named.
    let missing = dir.path().join("missing.pem");
    let e = serve(&missing, &c.key);
    assert!(e.contains(&missing.display().to_string()), "{e}");
    let e = serve(&c.key, &c.key);
    assert!(
        e.contains(&format!("certificate {}", c.key.display())) && e.contains("no certificate"),
        "{e}"
    );
    let e = serve(&c.cert, &other.key);
    assert!(
        e.contains(&c.cert.display().to_string())
            && e.contains(&other.key.display().to_string())
            && e.contains("not the key of the certificate"),
        "{e}"
    );
    // Half a pair is a usage error.
    let o = lab.run(&["serve", "--tls-cert", c.cert.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn a_self_signed_certificate_marked_as_a_ca_gets_its_own_hint() {
    // `openssl req -x509` marks its certificate a CA unless told not to;
    // rustls will not take a CA as the server's own certificate.
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert_as(dir.path(), "ca", &[], "basicConstraints=critical,CA:TRUE");
    let lab = Lab::new();
    let (d, addr) = serve_tls(&lab, "127.0.0.1:0", &c);
    let url = format!("https://{addr}");
    let o = client(&lab, &url, Some(&c.cert), Some("alice"), &["status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains(&url) && e.contains("marked as a CA"), "{e}");
    assert!(e.contains("CA:FALSE"), "{e}");
    drop(d);
}

#[test]
fn mcp_over_https_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert(dir.path(), "lab", &[]);
    let lab = Lab::new();
    let (d, addr) = serve_tls(&lab, "127.0.0.1:0", &c);
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");
    let nowhere = lab.tmp.path().join("no-workspace-here");
    let (ca, nowhere) = (c.cert.to_str().unwrap(), nowhere.to_str().unwrap());

    // Without BOSUN_CA it does not start, and says why.
    let o = lab
        .cmd(&["mcp", "--as", "claude"])
        .env_remove("BOSUN_CA")
        .envs([("BOSUN_URL", url.as_str()), ("BOSUN_WORKSPACE", nowhere)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    assert!(stderr(&o).contains("BOSUN_CA="), "{o:?}");

    // With it, the agent's tools answer from the daemon, over TLS.
    let env = [
        ("BOSUN_URL", url.as_str()),
        ("BOSUN_CA", ca),
        ("BOSUN_WORKSPACE", nowhere),
    ];
    let mcp = common::mcp::Mcp::stdio_with(&lab, "claude", &env);
    let hosts = mcp.ok("hosts_list", serde_json::json!({}));
    assert_eq!(hosts["result"], lab.json(&["hosts", "status", "--json"]));
    let s = mcp.ok(
        "submit",
        serde_json::json!({"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": "2.0"}}),
    );
    let jti = s["result"]["jti"].as_str().unwrap().to_string();
    assert_eq!(s["result"]["state"], "pending_approval", "{s}");
    assert_eq!(lab.json(&["ops", "show", &jti, "--json"])["iss"], "claude");
    mcp.stop();

    // The daemon's own `/mcp`, over TLS, for an agent whose key it holds
    // (an MCP `initialize` sent by a client that is not ours).
    let token = common::api::token(&lab, "claude", "10m");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"s_client","version":"1"}}}"#;
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = https_raw(&addr, &c.cert, &req);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("serverInfo"), "{answer}");
    drop(d);
}

/// A daemon stopped when the test ends, passed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        common::terminate(&self.0);
        let _ = self.0.wait();
    }
}

#[test]
fn a_certificate_without_a_tcp_listener_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let c = make_cert(dir.path(), "lab", &[]);
    let lab = Lab::new();
    let log = lab.tmp.path().join("serve.log");
    let _d = Stopped(lab.serve(
        &[
            "--tls-cert",
            c.cert.to_str().unwrap(),
            "--tls-key",
            c.key.to_str().unwrap(),
        ],
        Stdio::null(),
        std::fs::File::create(&log).unwrap().into(),
    ));
    // Said before the lease is taken, so before `serve` returned.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("nothing serves HTTPS"), "{text}");
}
