//! `bosun step report`: say how a step without a command went.

use std::process::ExitCode;

use bosun_api::views::{OpView, ReportOutcome};
use bosun_control::{Result, client, now};
use bosun_model::{Jti, Name, ReportStatus};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, key_id, other, refused};

#[derive(Subcommand, Debug)]
pub(crate) enum StepCmd {
    /// Say how a waiting step went; the run resumes with that result.
    #[command(
        after_help = "Examples:\n  bosun step report 01a24c look --status pass --as alice\n  bosun step report 01a24c look --status fail --note 'fan noisy' --host web-2 --as alice"
    )]
    Report(ReportArgs),
}

/// What `step report` takes.
#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
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
}

/// A report, parsed.
struct Report {
    /// The op as given (an id or a prefix).
    jti: String,
    step: Name,
    host: Option<Name>,
    status: ReportStatus,
    note: Option<String>,
    /// Who signs.
    as_: String,
    json: bool,
}

impl StepCmd {
    /// The report asked for: step and host are names, status pass or fail.
    fn report(self) -> Result<Report> {
        let StepCmd::Report(a) = self;
        Ok(Report {
            step: Name::parse(&a.step).map_err(|e| other(format!("step: {e}")))?,
            host: a
                .host
                .map(|h| Name::parse(&h).map_err(|e| other(format!("--host: {e}"))))
                .transpose()?,
            status: if a.status == "pass" {
                ReportStatus::Pass
            } else {
                ReportStatus::Fail
            },
            jti: a.jti,
            note: a.note,
            as_: a.as_,
            json: a.json,
        })
    }
}

/// Runs `bosun step …`.
pub(crate) fn run(ctx: &Ctx, cmd: StepCmd) -> Result<ExitCode> {
    let Report {
        jti: j,
        step,
        host,
        status,
        note,
        as_,
        json: js,
    } = cmd.report()?;
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let who = key_id(&as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let t = now();
    let op = ctl.resolve_op(&j)?;
    let env = ctl.sign_step_report(&key, &who, &op, &step, host, status, note, t)?;
    match ctl.accept_step_report(&gov, &env, t)? {
        Ok(out) => print_outcome(&out, js),
        Err(rej) => Ok(refused(&rej, js)),
    }
}

/// Runs `bosun step …` as a client of the daemon: the op is the daemon's,
/// the report is signed here.
pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, cmd: StepCmd) -> Result<ExitCode> {
    let rep = cmd.report()?;
    let (j, js) = (rep.jti.as_str(), rep.json);
    super::op_path_id(j)?;
    let view: OpView = match r.get(&format!("/ops/{j}"))? {
        Ok(v) => v,
        Err(e) => return Ok(super::refused_remote(&e, js)),
    };
    if !view.brief.jti.starts_with(j) {
        return Err(r.failed(format!(
            "asked for op `{j}`, it answered op `{}`; nothing was signed",
            view.brief.jti
        )));
    }
    let op = Jti::parse(&view.brief.jti).map_err(|e| r.failed(format!("its op id: {e}")))?;
    errln!(
        "signing as {}: step {}{} of op {op} ({} by {}) {}",
        rep.as_,
        rep.step,
        rep.host
            .as_ref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default(),
        view.brief.runbook,
        view.brief.iss,
        crate::output::word(&rep.status)
    );
    let s = super::remote_sign::RemoteSigner::new(ctx, r, &rep.as_)?;
    let env = s.signing().step_report(
        &op,
        &rep.step,
        rep.host.clone(),
        rep.status,
        rep.note.clone(),
    )?;
    match r.post::<_, ReportOutcome>("/step-reports", &json!({ "envelope": env }))? {
        Ok(out) => print_outcome(&out, js),
        Err(e) => Ok(super::refused_remote(&e, js)),
    }
}

/// What an accepted report did, as `step report` prints it.
fn print_outcome(out: &ReportOutcome, js: bool) -> Result<ExitCode> {
    if js {
        let j = serde_json::to_string(out).map_err(|e| other(e.to_string()))?;
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
