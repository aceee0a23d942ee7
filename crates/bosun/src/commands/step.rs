//! `bosun step report`: say how a step without a command went.

use std::process::ExitCode;

use bosun_control::{Result, client, now};
use bosun_model::Name;
use clap::Subcommand;

use super::{Ctx, key_id, other, refused};

#[derive(Subcommand, Debug)]
pub(crate) enum StepCmd {
    /// Say how a waiting step went; the run resumes with that result.
    #[command(
        after_help = "Examples:\n  bosun step report 01a24c look --status pass --as alice\n  bosun step report 01a24c look --status fail --note 'fan noisy' --host web-2 --as alice"
    )]
    Report {
        /// The op's jti (one run per op).
        jti: String,
        /// The step id.
        step: String,
        /// `pass` or `fail`.
        #[arg(long, value_parser = ["pass", "fail"])]
        status: String,
        /// What to record with it (scrubbed of credentials).
        #[arg(long)]
        note: Option<String>,
        /// Only this host's step (default: every host waiting on it).
        #[arg(long)]
        host: Option<String>,
        /// Sign as this identity (a human for `human` steps).
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun step …`.
pub(crate) fn run(ctx: &Ctx, cmd: StepCmd) -> Result<ExitCode> {
    let StepCmd::Report {
        jti: j,
        step,
        status,
        note,
        host,
        as_,
        json: js,
    } = cmd;
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let who = key_id(&as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let step = Name::parse(&step).map_err(|e| other(format!("step: {e}")))?;
    let host = host
        .map(|h| Name::parse(&h).map_err(|e| other(format!("--host: {e}"))))
        .transpose()?;
    let status = if status == "pass" {
        bosun_model::ReportStatus::Pass
    } else {
        bosun_model::ReportStatus::Fail
    };
    let t = now();
    let op = ctl.resolve_op(&j)?;
    let env = ctl.sign_step_report(&key, &who, &op, &step, host, status, note, t)?;
    match ctl.accept_step_report(&gov, &env, t)? {
        Ok(out) => {
            if js {
                let j = serde_json::to_string(&out).map_err(|e| other(e.to_string()))?;
                outln!("{j}");
            } else {
                let then = if out.still_unknown.is_empty() {
                    "the run resumes at the controller's next pass".to_string()
                } else {
                    format!(
                        "the op still needs attention: report {} too, then its run resumes",
                        out.still_unknown.join(", ")
                    )
                };
                outln!(
                    "reported {} for step {} on {}: {then}",
                    crate::output::word(&out.status),
                    out.step,
                    out.hosts.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rej) => Ok(refused(&rej, js)),
    }
}
