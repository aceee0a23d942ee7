//! A real MCP client for the MCP tests (rmcp's): connected to `bosun mcp`
//! over the child's stdio, or to the daemon's `/mcp` over streamable HTTP
//! (through its Unix socket, or through loopback TCP by way of [`relay`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, NumberOrString, ProgressNotificationParam,
    ProgressToken, RequestMetaObject, Tool,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::{Value, json};

use super::Lab;

/// An MCP client that keeps the progress notifications it receives.
#[derive(Clone, Default)]
pub struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A client connected to bosun's MCP tools, on a runtime of its own (one
/// worker thread, so that a [`relay`] on it runs between calls).
pub struct Mcp {
    pub rt: tokio::runtime::Runtime,
    pub client: RunningService<RoleClient, Recorder>,
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

impl Mcp {
    /// `bosun mcp --as <agent>` on `lab` (its stderr in `mcp.stderr`).
    pub fn stdio(lab: &Lab, agent: &str) -> Mcp {
        Mcp::stdio_with(lab, agent, &[])
    }

    /// [`Mcp::stdio`] with `env` set on top of the lab's (`BOSUN_URL`: a
    /// client of the daemon).
    pub fn stdio_with(lab: &Lab, agent: &str, env: &[(&str, &str)]) -> Mcp {
        let rt = runtime();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bosun"));
        cmd.args(["mcp", "--as", agent])
            .env("BOSUN_WORKSPACE", &lab.ws)
            .env("BOSUN_KEY_DIR", &lab.keys)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied());
        let log = std::fs::File::create(lab.tmp.path().join("mcp.stderr")).unwrap();
        let rec = Recorder::default();
        let progress = Arc::clone(&rec.progress);
        let client = rt
            .block_on(async {
                let (child, _) = TokioChildProcess::builder(cmd).stderr(log).spawn().unwrap();
                rec.serve(child).await
            })
            .unwrap();
        Mcp {
            rt,
            client,
            progress,
        }
    }

    /// The daemon's `/mcp` at `uri` through the Unix socket `socket`,
    /// with `token` as the bearer token; `via` (a TCP address) to go
    /// through a [`relay`] made in `dir` instead.
    pub fn http(socket: &Path, uri: &str, token: &str, via: Option<(&str, &Path)>) -> Mcp {
        let rt = runtime();
        let socket = match via {
            Some((tcp, dir)) => relay(&rt, dir, tcp),
            None => socket.to_path_buf(),
        };
        let config = StreamableHttpClientTransportConfig::with_uri(uri).auth_header(token);
        let rec = Recorder::default();
        let progress = Arc::clone(&rec.progress);
        let client = rt
            .block_on(async {
                let t = StreamableHttpClientTransport::from_unix_socket_with_config(
                    socket.to_str().unwrap(),
                    config,
                );
                rec.serve(t).await
            })
            .unwrap();
        Mcp {
            rt,
            client,
            progress,
        }
    }

    pub fn tools(&self) -> Vec<Tool> {
        self.rt.block_on(self.client.list_all_tools()).unwrap()
    }

    pub fn try_call(&self, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let mut p = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            p = p.with_arguments(m);
        }
        p.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(7),
        )));
        self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(120), self.client.call_tool(p))
                .await
                .expect("the tool answered within 2 minutes")
        })
    }

    /// Calls `tool`, expecting it to answer (not a tool error): its
    /// structured content.
    pub fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.try_call(tool, args.clone()).unwrap();
        let v = r.structured_content.clone().unwrap_or(Value::Null);
        assert_eq!(r.is_error, Some(false), "{tool} {args}: {v}");
        v
    }

    /// Calls `tool`, expecting a tool error: its structured content.
    pub fn refused(&self, tool: &str, args: Value) -> Value {
        let r = self.try_call(tool, args.clone()).unwrap();
        let v = r.structured_content.clone().unwrap_or(Value::Null);
        assert_eq!(r.is_error, Some(true), "{tool} {args}: {v}");
        v
    }

    pub fn stop(self) {
        let Mcp { rt, client, .. } = self;
        rt.block_on(async { client.cancel().await }).unwrap();
    }
}

/// A Unix socket in `dir` whose every connection `rt` forwards, byte for
/// byte, to the TCP address `tcp`: rmcp's streamable HTTP client speaks
/// over a Unix socket (hyper, no reqwest), and this puts its requests on
/// the daemon's loopback TCP listener unchanged.
pub fn relay(rt: &tokio::runtime::Runtime, dir: &Path, tcp: &str) -> PathBuf {
    let path = dir.join("relay.sock");
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&path) })
        .unwrap();
    let tcp = tcp.to_string();
    rt.spawn(async move {
        while let Ok((mut from, _)) = listener.accept().await {
            let tcp = tcp.clone();
            tokio::spawn(async move {
                if let Ok(mut to) = tokio::net::TcpStream::connect(&tcp).await {
                    let _ = tokio::io::copy_bidirectional(&mut from, &mut to).await;
                }
            });
        }
    });
    path
}

/// What an agent saw of an op it submitted: its jti, and what
/// `op_status` answered once a human had approved it.
pub struct Approved {
    pub jti: String,
    pub status: Value,
}

/// `args` submitted through `mcp`, signed as `agent`: the op waits for
/// one operator approval and says so (a human's part: `next` says
/// `approve` by `human`); the agent then waits on it with `op_status`,
/// receiving progress, while alice approves with the CLI on the
/// workspace.
pub fn submit_until_approved(lab: &Lab, mcp: &Mcp, args: Value, agent: &str) -> Approved {
    let s = mcp.ok("submit", args);
    let jti = s["result"]["jti"].as_str().unwrap().to_string();
    assert_eq!(s["result"]["state"], "pending_approval", "{s}");
    let waiting = s["waiting"].as_str().unwrap();
    assert!(
        waiting.starts_with("waiting for 1 operator approval"),
        "{waiting}"
    );
    let approve = json!({"action": "approve", "op": jti, "by": "human"});
    assert!(s["next"].as_array().unwrap().contains(&approve), "{s}");
    let shown = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(shown["iss"], agent, "signed as the agent being served");

    mcp.progress.lock().unwrap().clear();
    let status = std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(2500));
            lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
        });
        mcp.ok("op_status", json!({"op": jti, "wait_seconds": 60}))
    });
    assert_ne!(status["result"]["state"], "pending_approval", "{status}");
    let progress = mcp.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "progress was sent while waiting");
    let first = progress[0].message.as_deref().unwrap();
    assert!(
        first.starts_with("waiting for 1 operator approval"),
        "{progress:?}"
    );
    Approved { jti, status }
}

/// `done`, what `op_status` answered for the op `jti`, shows it finished
/// as the CLI does: succeeded, waiting on nobody, every step succeeded
/// and their output shown.
pub fn assert_finished(lab: &Lab, jti: &str, done: &Value) {
    assert_eq!(done["result"]["state"], "succeeded", "{done}");
    assert!(done["waiting"].is_null(), "{done}");
    let steps = done["result"]["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert!(
        steps.iter().all(|s| s["status"] == "succeeded"),
        "{steps:?}"
    );
    assert!(
        (steps.iter()).any(|s| !s["output"].as_str().unwrap_or("").is_empty()),
        "step outputs are shown: {steps:?}"
    );
    assert_eq!(done["result"], lab.json(&["ops", "show", jti, "--json"]));
}
