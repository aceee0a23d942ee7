//! `bosun mcp`: serve the MCP tools on stdin/stdout for an agent (see
//! docs/mcp.md), signing as that agent: on the workspace here, or as a
//! client of the daemon with `BOSUN_URL` (the key stays here). Nothing is printed on stdout but
//! the protocol; refusals and errors go to stderr.

use std::process::ExitCode;
use std::sync::Arc;

use bosun_control::Result;
use bosun_mcp::{Core, Daemon, Embedded, StartError};
use clap::Args;

use super::{Ctx, REFUSED, other};

/// Serve bosun's MCP tools on stdio, for an AI agent (Claude Code and
/// other MCP clients start it as a tool server). Every submission, step
/// report and halt is signed with the agent's key; no tool can approve,
/// deny, adopt, resolve or resume. `--as` must name a key whose adopted
/// role is `agent`: an operator's key is refused. With BOSUN_URL (or
/// --server) it is a client of the daemon: reads are requests, and what
/// it signs is signed here and sent.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun mcp --as claude\n  claude mcp add bosun -- bosun -w ~/lab mcp --as claude\n  BOSUN_URL=unix:///var/lib/bosun/bosun.sock bosun mcp --as claude"
)]
pub(crate) struct McpArgs {
    /// The agent the server signs as (a key in the key directory whose
    /// adopted role is `agent`).
    #[arg(long = "as")]
    pub(crate) as_: String,
}

/// Runs `bosun mcp` on the workspace here.
pub(crate) fn run(ctx: &Ctx, a: McpArgs) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    serve(
        Embedded::start(ctl, &ctx.keys, &a.as_),
        &a,
        "the workspace here",
    )
}

/// Runs `bosun mcp` as a client of the daemon at `url` (`BOSUN_URL`).
pub(crate) fn remote(ctx: &Ctx, url: &str, a: &McpArgs) -> Result<ExitCode> {
    serve(Daemon::start(url, &ctx.keys, &a.as_), a, url)
}

fn serve<C: Core>(
    started: std::result::Result<C, StartError>,
    a: &McpArgs,
    on: &str,
) -> Result<ExitCode> {
    let core = match started {
        Ok(core) => core,
        Err(StartError::Control(e)) => return Err(e),
        Err(e @ StartError::NotAnAgent { .. }) => {
            errln!("refused: {e}");
            return Ok(ExitCode::from(REFUSED));
        }
        Err(e @ StartError::BadName { .. }) => return Err(other(e.to_string())),
    };
    tracing::info!(agent = %a.as_, on, "serving MCP tools on stdio");
    bosun_mcp::serve_stdio(Arc::new(core)).map_err(|e| other(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
