//! `bosun serve`: the daemon (`bosun_control::daemon`: the controller
//! until interrupted, with ledger checkpoints and reminders on scoped
//! threads of their own) and its HTTP API (`bosun_server`, on a thread
//! of its own: the Unix socket, and TCP where asked). It logs its events (through
//! `tracing`, to stderr, with times; `--log-format json`, `RUST_LOG`,
//! `-v`) rather than prints: a daemon's output is its log.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use bosun_control::Result;
use bosun_control::controller::Progress;
use bosun_control::daemon::{self, Daemon, Event, Options};
use bosun_control::notify::next_text;
use bosun_store::StepStatus;
use clap::Args;

use super::{Ctx, other};
use crate::output::time;

/// Run the controller and the HTTP API until interrupted (Ctrl-C).
///
/// The API answers on a Unix socket (`.bosun/bosun.sock`, or `[server]
/// socket` in bosun.toml; its group grants access) and on each `--listen`
/// address (or `[server] listen`). With a certificate (`--tls-cert` and
/// `--tls-key`, or `[server] tls`) every TCP listener serves HTTPS, on any
/// address; without one, plain HTTP is refused off loopback. Reads over
/// TCP need a bearer token (`bosun key token`); every change is a signed
/// envelope, whoever sends it.
/// Agents reach the MCP tools at `/mcp` with their token; the daemon
/// signs for them with their keys in its own key directory (`--key-dir`),
/// which holds agent keys only.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun serve\n  bosun serve --listen 127.0.0.1:7411\n  bosun serve --listen 0.0.0.0:7411 --tls-cert tls/cert.pem --tls-key tls/key.pem\n  curl --unix-socket .bosun/bosun.sock http://bosun/api/v1/status\n  bosun serve --listen 0.0.0.0:8443 --tls-cert tls/cert.pem --tls-key tls/key.pem --web-origin https://bosun.lan:8443\n  RUST_LOG=debug bosun serve --log-format json 2>> bosun.log"
)]
pub(crate) struct ServeArgs {
    /// Refuse instead of waiting when another controller holds the lease.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Also answer the API on this TCP address (loopback only without
    /// TLS; port 0 picks one, logged); repeatable. Adds to `[server]
    /// listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) listen: Vec<String>,
    /// Serve HTTPS on every TCP listener with this certificate chain (PEM,
    /// the server's certificate first); with `--tls-key`, instead of
    /// `[server] tls`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM; readable by its owner only).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<std::path::PathBuf>,
    /// The Unix socket's path (default: `[server] socket`, else
    /// `.bosun/bosun.sock`).
    #[arg(long, value_name = "PATH", conflicts_with = "no_socket")]
    pub(crate) socket: Option<std::path::PathBuf>,
    /// Answer no Unix socket (only the `--listen` addresses, if any).
    #[arg(long)]
    pub(crate) no_socket: bool,
    /// The dashboard's address as browsers reach it
    /// (`https://bosun.lan:8443`): passkey approvals are taken from this
    /// exact origin only; without it, passkeys are off. Plain
    /// `http://localhost:<port>` needs a loopback listener on that port,
    /// and the daemon then also holds `[::1]:<port>` (where browsers may
    /// look for `localhost` first), so no other process can serve it.
    #[arg(long, value_name = "URL")]
    pub(crate) web_origin: Option<String>,
}

/// Runs `bosun serve`.
pub(crate) fn run(ctx: &Ctx, a: ServeArgs) -> Result<ExitCode> {
    serve(ctx, a)
}

/// Where the API listens, from the flags and `[server]`, with the TLS
/// certificate loaded (the flags' over the file's) and the daemon's key
/// directory for `/mcp`: every error here comes before anything binds.
fn listeners(
    ws: &bosun_workspace::Workspace,
    a: &ServeArgs,
    keys: &bosun_sign::KeyDir,
) -> Result<bosun_server::Options> {
    let cfg = &ws.config.server;
    let files = match (&a.tls_cert, &a.tls_key, &cfg.tls) {
        (Some(c), Some(k), _) => Some((c.clone(), k.clone())),
        (_, _, Some(t)) => Some((ws.root.join(&t.cert), ws.root.join(&t.key))),
        _ => None,
    };
    let tls = files
        .map(|(c, k)| bosun_server::Tls::load(&c, &k))
        .transpose()
        .map_err(|e| other(format!("refusing to serve: {e}")))?;
    let mut listen = Vec::new();
    if !a.no_socket {
        let path = match (&a.socket, &cfg.socket) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => ws.root.join(p),
            (None, None) => ws.state_dir().join("bosun.sock"),
        };
        listen.push(bosun_server::Listen::Unix(path));
    }
    for addr in cfg.listen.iter().chain(&a.listen) {
        listen.push(bosun_server::Listen::tcp(addr, tls.is_some()).map_err(|e| match e {
            bosun_server::ListenError::NotLoopback { .. } => other(format!(
                "{e}\nTLS: `[server] tls = {{ cert = \"cert.pem\", key = \"key.pem\" }}` in bosun.toml, or `bosun serve --tls-cert FILE --tls-key FILE`"
            )),
            e => other(e.to_string()),
        })?);
    }
    if let Some(origin) = &a.web_origin {
        localhost_twice(origin, &mut listen)?;
    }
    if let Some(t) = &tls
        && !listen
            .iter()
            .any(|l| matches!(l, bosun_server::Listen::Tcp(_)))
    {
        tracing::warn!(
            cert = %t.cert.display(),
            "a TLS certificate is set but there is no TCP listener (`--listen` or `[server] listen`): nothing serves HTTPS"
        );
    }
    // Public on loopback unless bosun.toml says otherwise; off loopback
    // (with TLS) a token, unless it says `public`.
    let metrics_public = match cfg.metrics {
        Some(m) => m == bosun_workspace::MetricsAccess::Public,
        None => listen.iter().all(|l| match l {
            bosun_server::Listen::Tcp(a) => a.ip().is_loopback(),
            bosun_server::Listen::Unix(_) => true,
        }),
    };
    Ok(bosun_server::Options {
        listen,
        tls,
        metrics_public,
        keys: Some(keys.clone()),
        web: Some(std::sync::Arc::new(
            bosun_web::Web::new(bosun_web::Commands {
                command: Box::new(crate::next::command),
                token: "bosun key token <you> --ttl 12h".into(),
            })
            .map_err(|e| other(e.to_string()))?,
        )),
        ..bosun_server::Options::default()
    })
}

/// For a plain `http://localhost:<port>` origin: the daemon must listen
/// on loopback at that port, and it takes `[::1]:<port>` too (when this
/// machine has IPv6 loopback), since a browser may try either address for
/// `localhost` and a process holding the other would serve the origin.
fn localhost_twice(origin: &str, listen: &mut Vec<bosun_server::Listen>) -> Result<()> {
    let Some(rest) = origin.strip_prefix("http://localhost") else {
        return Ok(());
    };
    let port: u16 = rest
        .strip_prefix(':')
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(80);
    let tcp: Vec<std::net::SocketAddr> = listen
        .iter()
        .filter_map(|l| match l {
            bosun_server::Listen::Tcp(a) => Some(*a),
            bosun_server::Listen::Unix(_) => None,
        })
        .collect();
    if !tcp.iter().any(|a| a.ip().is_loopback() && a.port() == port) {
        return Err(other(format!(
            "--web-origin {origin}: the daemon must listen on loopback at port {port} (`--listen 127.0.0.1:{port}`)"
        )));
    }
    let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let has_v6 = std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)).is_ok();
    if has_v6 && !tcp.contains(&v6) {
        listen.push(bosun_server::Listen::Tcp(v6));
    }
    Ok(())
}

/// The API's thread: waits for the lease (or the stop), binds, serves
/// until the stop. A listener that cannot be bound stops the daemon too.
fn api(
    ctl: bosun_control::Control,
    opts: &bosun_server::Options,
    metrics: std::sync::Arc<bosun_server::metrics::Metrics>,
    on_lease: std::sync::mpsc::Receiver<()>,
    stop: &std::sync::Arc<AtomicBool>,
    web_origin: Option<&str>,
) -> Result<()> {
    use std::sync::atomic::Ordering;
    loop {
        match on_lease.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(()) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => {}
            Err(_) => return Ok(()),
        }
    }
    let passkeys = ctl.clone();
    let server = match bosun_server::Server::bind(ctl, opts, metrics) {
        Ok(s) => s,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            return Err(other(e.to_string()));
        }
    };
    for url in server.urls() {
        tracing::info!(%url, "API listening");
    }
    match web_origin {
        Some(origin) => match passkeys.set_web_origin(origin) {
            Ok(()) => tracing::info!(%origin, "passkey approvals from the dashboard at"),
            Err(e) => tracing::warn!(error = %e, "passkeys are off"),
        },
        None => tracing::info!(
            "passkeys are off: give the dashboard's address with `--web-origin https://<name>:<port>`"
        ),
    }
    server.run(stop.clone()).map_err(|e| other(e.to_string()))
}

fn serve(ctx: &Ctx, a: ServeArgs) -> Result<ExitCode> {
    let no_wait = a.no_wait;
    if let Some(o) = &a.web_origin {
        bosun_passkey::Relying::new(o).map_err(|e| other(format!("--web-origin: {e}")))?;
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| other(format!("signal handler: {e}")))?;
    }
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    bosun_control::owned::check_private_to_me(&ws, &ctx.key_dir)?;
    let opts = listeners(&ws, &a, &ctx.keys)?;
    // On a full disk, waits for space rather than exiting.
    let Some(ctl) = daemon::open_store(&ws, "controller", &stop, &|e| log_event(e, false, None))?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let log_reminders = ctl
        .ws
        .config
        .notify
        .sink
        .contains(&bosun_workspace::Sink::Log);
    // The API is the controller's: it is bound once this daemon holds the
    // lease (a standby waiting for it serves nothing, and takes the socket
    // over when it takes the lease).
    let metrics = std::sync::Arc::new(bosun_server::metrics::Metrics::default());
    let (leased, on_lease) = std::sync::mpsc::channel::<()>();
    let api_ctl = ctl.clone();
    let daemon = Daemon::new(
        ctl,
        Options {
            no_wait,
            key_dir: ctx.key_dir.clone(),
            spell: crate::next::command,
        },
    );
    std::thread::scope(|s| {
        let (opts, stop_api, metrics_api) = (&opts, &stop, metrics.clone());
        let origin = a.web_origin.as_deref();
        let api = s.spawn(move || api(api_ctl, opts, metrics_api, on_lease, stop_api, origin));
        let r = daemon.run(&stop, &|e| {
            if matches!(e, Event::Started(_)) {
                let _ = leased.send(());
            }
            log_event(e, log_reminders, Some(&metrics));
        });
        // The daemon stopped (asked to, or failed): the API stops with it.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let served = api
            .join()
            .map_err(|_| other("the HTTP server's thread panicked"))?;
        r?;
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon's events as log events (and steps into the API's metrics).
fn log_event(e: Event<'_>, log_reminders: bool, metrics: Option<&bosun_server::metrics::Metrics>) {
    if let (Event::Progress(Progress::StepFinished { result, .. }), Some(m)) = (&e, metrics) {
        m.step(std::time::Duration::from_millis(result.duration_ms));
    }
    match e {
        Event::Waiting(l) => tracing::info!(
            holder = %l.holder,
            until = %time(l.expires_at),
            "another controller holds the lease; waiting"
        ),
        Event::Started(l) => tracing::info!(token = l.token, "controller started"),
        Event::Progress(p) => log_progress(p),
        Event::Halted(h) => {
            tracing::warn!(by = %h.by, why = %h.why, "halted: waiting for `bosun resume`");
        }
        Event::Reminded(r, d) => {
            if log_reminders {
                tracing::info!(
                    n = r.n,
                    to = %r.to,
                    since = %time(r.since),
                    next = %next_text(r, &crate::next::command),
                    "reminder: {}",
                    r.title
                );
            }
            for x in d.iter().filter(|x| x.error.is_some()) {
                tracing::warn!(
                    subject = %r.subject,
                    sink = %x.sink,
                    error = x.error.as_deref().unwrap_or(""),
                    "reminder sink failed"
                );
            }
        }
        Event::Housekept(v) => {
            tracing::info!(
                pruned = ?v.pruned,
                released = ?v.released,
                "kernel housekeeping: {}",
                v.summary
            );
            for p in &v.problems {
                tracing::warn!("kernel housekeeping: {p}");
            }
        }
        Event::Failed { what, error } => tracing::warn!(error = %error, "{what} failed"),
        Event::DiskFull {
            what,
            error,
            retry_in,
        } => tracing::warn!(
            error = %error,
            "disk full: {what} retrying in {}s",
            retry_in.as_secs()
        ),
        Event::Stopped => tracing::info!("controller stopped"),
    }
}

/// The controller's reports as log events: runs and steps at `info`
/// (a failed step at `warn`), warnings at `warn`.
fn log_progress(p: Progress) {
    match p {
        Progress::RunStarted {
            jti,
            runbook,
            total,
            resumed,
        } => tracing::info!(%jti, %runbook, total, resumed, "run started"),
        Progress::StepStarted { .. } => {}
        Progress::StepFinished { jti, result } => {
            let status = result.status.as_str();
            let took_ms = result.duration_ms;
            let (step, host) = (&result.step, &result.host);
            if result.status == StepStatus::Failed {
                tracing::warn!(%jti, %step, %host, status, exit_code = result.exit_code.unwrap_or(-1), took_ms, "step ended");
            } else {
                tracing::info!(%jti, %step, %host, status, took_ms, "step ended");
            }
        }
        Progress::RunEnded(r) => {
            tracing::info!(jti = %r.jti, state = %r.state, detail = %r.detail, "run ended");
        }
        Progress::Warning(w) => tracing::warn!("{w}"),
    }
}
