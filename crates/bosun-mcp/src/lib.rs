//! bosun's MCP server: the tools an agent uses to plan, submit, watch ops,
//! report its steps and halt, over the Model Context Protocol (the
//! official Rust SDK, `rmcp`).
//!
//! - [`core`] is the seam: the synchronous calls the tools make
//!   ([`Core`]), which [`Embedded`] answers from a workspace opened in
//!   this process and [`Daemon`] from the daemon's HTTP API (`bosun
//!   mcp` with `BOSUN_URL`), signing on the client's side;
//! - [`tools`] holds the tools ([`Tools`]), their honest annotations and
//!   the bounded hop from async to the synchronous core;
//! - [`args`] validates what an agent sends (untrusted input);
//! - [`reply`] shapes every answer as `{result, next, waiting}`.
//!
//! The server signs every submission, report and halt as the one agent it
//! was started for, whose adopted role must be `agent`. No tool approves,
//! denies, adopts, resolves or resumes: those need an operator.
#![deny(missing_docs)]

pub mod args;
pub mod core;
pub mod daemon;
pub mod embedded;
pub mod reply;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt as _;

pub use crate::core::{Core, Fault};
pub use crate::daemon::Daemon;
pub use crate::embedded::{Embedded, StartError};
pub use crate::tools::Tools;

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The async runtime could not start.
    #[error("the MCP server's runtime could not start: {0}")]
    Runtime(#[source] std::io::Error),
    /// The client's `initialize` handshake failed.
    #[error("the MCP handshake failed: {0}")]
    Handshake(#[from] Box<rmcp::service::ServerInitializeError>),
    /// The service's task ended abnormally.
    #[error("the MCP server stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Serves `core`'s tools on stdin/stdout (how Claude Code and other MCP
/// clients run a tool server) until the client closes the connection
/// (before the handshake too: that is no error).
/// Blocks; builds its own single-threaded runtime, whose blocking pool
/// runs the calls into the core ([`tools::MAX_CALLS`] at a time).
pub fn serve_stdio(core: Arc<dyn Core>) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(tools::MAX_CALLS + 2)
        .build()
        .map_err(ServeError::Runtime)?;
    let served = rt.block_on(async move {
        let running = match Tools::new(core).serve(rmcp::transport::stdio()).await {
            Ok(r) => r,
            // The client went away before saying hello: nothing to serve.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(e) => return Err(ServeError::Handshake(Box::new(e))),
        };
        running.waiting().await?;
        Ok::<(), ServeError>(())
    });
    // A call still running in the blocking pool is not waited for long:
    // the client is gone.
    rt.shutdown_timeout(Duration::from_secs(5));
    served
}
