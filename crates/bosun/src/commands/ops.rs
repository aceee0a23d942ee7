//! `bosun ops`: list ops, show one as an approver reads it, and the
//! rejected inputs.

use std::process::ExitCode;

use bosun_control::{Result, now};
use bosun_model::OpState;
use clap::Subcommand;

use super::{Ctx, answered, other};
use crate::output::{Listing, duration_ms, local, table};

#[derive(Subcommand, Debug)]
pub(crate) enum OpsCmd {
    /// List ops, newest first.
    #[command(
        after_help = "Examples:\n  bosun ops list\n  bosun ops list --state failed --limit 10 --json"
    )]
    List {
        /// Only ops in this state.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one op as an approver reads it (runbook, params, hosts and
    /// their rendered commands, decision, approvals, blockers), then its
    /// steps.
    #[command(
        after_help = "Examples:\n  bosun ops show 01a24c\n  bosun ops show 01a24c --envelope > op.jws"
    )]
    Show {
        /// The op's jti, or an unambiguous prefix of at least 6 characters.
        jti: String,
        /// Print the signed envelope only.
        #[arg(long)]
        envelope: bool,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rejected inputs, newest first.
    #[command(
        after_help = "Examples:\n  bosun ops rejections\n  bosun ops rejections --limit 5 --json"
    )]
    Rejections {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun ops …`.
pub(crate) fn run(ctx: &Ctx, cmd: OpsCmd) -> Result<ExitCode> {
    match cmd {
        OpsCmd::List {
            state,
            limit,
            json: j,
        } => list(ctx, state, limit, j),
        OpsCmd::Show {
            jti: j,
            envelope,
            json: js,
        } => show(ctx, &j, envelope, js),
        OpsCmd::Rejections { limit, json: j } => rejections(ctx, limit, j),
    }
}

/// `bosun ops …` as a client of the daemon (`BOSUN_URL`): the same
/// output from its views.
pub(crate) fn remote(r: &bosun_client::Remote, cmd: OpsCmd) -> Result<ExitCode> {
    match cmd {
        OpsCmd::List {
            state,
            limit,
            json: j,
        } => {
            let state = parse_state(state)?;
            let mut path = format!("/ops?limit={limit}");
            if let Some(s) = state {
                path.push_str(&format!("&state={}", s.as_str()));
            }
            match answered(r.get::<Vec<bosun_api::views::OpBrief>>(&path), j)? {
                Ok(ops) => print_list(&ops, j),
                Err(code) => Ok(code),
            }
        }
        OpsCmd::Show {
            jti,
            envelope: true,
            json: _,
        } => {
            let path = format!("/ops/{}/envelope", super::op_path_id(&jti)?);
            match answered(r.get::<bosun_api::views::EnvelopeView>(&path), false)? {
                Ok(v) => {
                    // The envelope's own claims name the op asked for.
                    let claims: Option<bosun_model::OpClaims> = bosun_sign::decode(&v.envelope)
                        .ok()
                        .and_then(|u| u.claims().ok());
                    match claims {
                        Some(c) if c.jti.as_str().starts_with(&jti) => {}
                        _ => {
                            return Err(r.failed(format!(
                                "asked for op `{jti}`'s envelope, it answered another op's (or none)"
                            )));
                        }
                    }
                    outln!("{}", v.envelope);
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            }
        }
        OpsCmd::Show {
            jti,
            envelope: false,
            json: true,
        } => {
            let path = format!("/ops/{}", super::op_path_id(&jti)?);
            match answered(r.get::<bosun_api::views::OpView>(&path), true)? {
                Ok(v) => {
                    outln!("{}", serde_json::to_string(&v).unwrap_or_default());
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            }
        }
        OpsCmd::Show {
            jti,
            envelope: false,
            json: false,
        } => {
            match super::approve_remote::fetch_checked(r, &jti, false)? {
                Ok((c, plan)) => print_op(&c, &plan)?,
                Err(code) => return Ok(code),
            }
            Ok(ExitCode::SUCCESS)
        }
        OpsCmd::Rejections { limit, json: j } => {
            let path = format!("/rejections?limit={limit}");
            match answered(r.get::<Vec<bosun_api::views::RejectionView>>(&path), j)? {
                Ok(rs) => {
                    print_rejections(&rs, j);
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            }
        }
    }
}

fn parse_state(state: Option<String>) -> Result<Option<OpState>> {
    state
        .map(|s| OpState::parse(&s).ok_or_else(|| other(format!("unknown state `{s}`; one of: submitted, pending_approval, approved, running, succeeded, failed, denied, needs_attention"))))
        .transpose()
}

/// `bosun ops list`.
fn list(ctx: &Ctx, state: Option<String>, limit: usize, j: bool) -> Result<ExitCode> {
    let ctl = ctx.reader()?;
    let state = parse_state(state)?;
    let ops = ctl.op_briefs(state, limit)?;
    print_list(&ops, j)
}

/// Prints ops as `ops list` does.
fn print_list(ops: &[bosun_api::views::OpBrief], j: bool) -> Result<ExitCode> {
    let mut list = Listing::new(&["jti", "issuer", "runbook", "hosts", "state", "submitted"]);
    for o in ops {
        let cells = vec![
            o.jti.clone(),
            o.iss.clone(),
            o.runbook.clone(),
            o.targets.to_string(),
            o.state.to_string(),
            local(o.created_at.as_second()),
        ];
        list.push(cells, serde_json::to_value(o).unwrap_or_default());
    }
    list.print(j);
    Ok(ExitCode::SUCCESS)
}

/// `bosun ops show`.
fn show(ctx: &Ctx, j: &str, envelope: bool, js: bool) -> Result<ExitCode> {
    let ctl = ctx.reader()?;
    let op = ctl.resolve_op(j)?;
    if envelope || js {
        let Some(rec) = ctl.op_record(&op)? else {
            return Err(other(format!(
                "no op with jti `{op}` (see `bosun ops list`)"
            )));
        };
        if envelope {
            outln!("{}", rec.envelope);
        } else {
            let v = bosun_control::views::op_view(&rec);
            outln!("{}", serde_json::to_string(&v).unwrap_or_default());
        }
    } else {
        let c = ctl.consent(&op, now())?;
        print_op(&c.view(), &c.op.plan)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `bosun ops rejections`.
fn rejections(ctx: &Ctx, limit: usize, j: bool) -> Result<ExitCode> {
    print_rejections(&ctx.reader()?.rejection_views(limit)?, j);
    Ok(ExitCode::SUCCESS)
}

/// Rejected inputs as a table, or their views as JSON.
fn print_rejections(rs: &[bosun_api::views::RejectionView], j: bool) {
    let mut list = Listing::new(&["at", "check", "jti", "message"]);
    for r in rs {
        let cells = vec![
            local(r.at.as_second()),
            r.check.clone(),
            r.jti.clone().unwrap_or_default(),
            r.message.clone(),
        ];
        list.push(cells, serde_json::to_value(r).unwrap_or_default());
    }
    list.print(j);
}

/// `ops show`: the op as an approver reads it, then how its run went and
/// what comes next.
fn print_op(c: &bosun_api::views::ConsentView, plan: &bosun_model::Plan) -> Result<()> {
    let op = &c.op;
    let mut text = super::consent::render(c, plan);
    if !op.detail.is_empty() {
        text.push_str(&format!("detail    {}\n", op.detail));
    }
    crate::output::emit(&text).map_err(|e| other(format!("stdout: {e}")))?;
    if !op.steps.is_empty() {
        let rows: Vec<Vec<String>> = op
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.idx.to_string(),
                    s.step.clone(),
                    s.host.clone(),
                    s.status.clone(),
                    s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                    duration_ms(s.duration_ms),
                ]
            })
            .collect();
        table(&["#", "step", "host", "status", "exit", "took"], &rows);
    }
    for n in &op.next {
        outln!("next      {}", crate::next::command(n));
    }
    Ok(())
}
