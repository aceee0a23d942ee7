//! `bosun plan`: a runbook's plan over hosts, and (`--check`) its
//! read-only checks run as an op (see [`super::check`]).

use std::process::ExitCode;

use bosun_control::{Result, client};
use clap::Args;
use serde_json::json;

use super::params::{parse_params, targets};
use super::{Ctx, other};

/// Show the plan of a runbook over hosts: every step, host and command.
/// Nothing runs, unless `--check`: then only the steps' read-only
/// `check` commands run, to show what would change.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun plan pkg-upgrade -t web-1 -p version=2.0\n  bosun plan pkg-upgrade -t 'web-*' -p @params.toml\n  bosun plan disk-usage -t tag:canary --check --as claude"
)]
pub(crate) struct PlanCmdArgs {
    #[command(flatten)]
    pub(crate) args: PlanArgs,
    /// Run each step's `check` command on its host (read-only by the
    /// runbook's promise) and show what they report. The checks are an
    /// op of `--as` through intake like any other (policy, scope, infra
    /// rules, budgets and the ledger apply), of an adopted runbook only;
    /// without a daemon running, this command runs the controller until
    /// the queue is empty.
    #[arg(long)]
    pub(crate) check: bool,
    /// Who signs the check op (with `--check`).
    #[arg(long = "as")]
    pub(crate) as_: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// The runbook id (see runbooks/).
    pub(crate) runbook: Option<String>,
    /// Target hosts (repeatable): a name, a `*` glob (`web-*`), `tag:x`,
    /// `arch:aarch64`, or `!` before any of these to take hosts out.
    /// Infra hosts are only ever selected by their exact name.
    #[arg(long = "target", short = 't')]
    pub(crate) targets: Vec<String>,
    /// A runbook parameter `k=v` (repeatable).
    #[arg(long = "param", short = 'p')]
    pub(crate) params: Vec<String>,
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `bosun plan`.
pub(crate) fn run(ctx: &Ctx, a: PlanCmdArgs) -> Result<ExitCode> {
    let PlanCmdArgs { args, check, as_ } = a;
    match (check, as_) {
        (false, _) => plan_cmd(ctx, &args),
        (true, Some(who)) => super::check::check_cmd(ctx, &args, &who),
        (true, None) => Err(other(
            "`plan --check` runs the checks as an op of yours: say who signs it with --as <key>",
        )),
    }
}

/// The plan `p` names: its runbook over its targets with its params.
pub(crate) fn plan_of(
    gov: &bosun_control::governed::Governed,
    p: &PlanArgs,
) -> Result<bosun_model::Plan> {
    let runbook = p
        .runbook
        .as_deref()
        .ok_or_else(|| other("name a runbook: `bosun plan <runbook> --target <host>`"))?;
    client::plan(
        gov,
        runbook,
        &targets(&gov.inventory, &p.targets)?,
        &parse_params(&p.params)?,
    )
}

fn plan_cmd(ctx: &Ctx, p: &PlanArgs) -> Result<ExitCode> {
    let ctl = ctx.reader()?;
    let gov = ctl.governed()?;
    print_plan(&plan_of(&gov, p)?, p);
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun plan` as a client of the daemon: it plans (`POST
/// /api/v1/plan`), the plan comes whole and its digest is recomputed
/// here, and it is printed as embedded prints it; `--check` signs the
/// check op here and waits for the daemon to run it.
pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, a: PlanCmdArgs) -> Result<ExitCode> {
    let PlanCmdArgs {
        args: p,
        check,
        as_,
    } = a;
    match (check, as_) {
        (false, _) => {}
        (true, Some(who)) => return super::check::remote(ctx, r, &p, &who),
        (true, None) => {
            return Err(other(
                "`plan --check` runs the checks as an op of yours: say who signs it with --as <key>",
            ));
        }
    }
    let runbook = p
        .runbook
        .clone()
        .ok_or_else(|| other("name a runbook: `bosun plan <runbook> --target <host>`"))?;
    if p.targets.is_empty() {
        return Err(other(
            "no target hosts: give at least one `--target <selector>` (a host, web-*, tag:x, arch:aarch64, !tag:x)",
        ));
    }
    let req = bosun_api::requests::PlanRequest {
        runbook,
        targets: p.targets.clone(),
        params: parse_params(&p.params)?,
        issuer: None,
        check: false,
        whole: true,
    };
    // A plan the daemon cannot make is an error here, as it is when the
    // CLI plans itself.
    let planned: bosun_api::views::PlannedOp =
        r.post("/plan", &req)?.map_err(|e| other(e.message))?;
    bosun_client::check_planned(&req, &planned, None)?;
    print_plan(&bosun_client::whole_plan(&planned)?, &p);
    Ok(ExitCode::SUCCESS)
}

/// Prints a plan as `bosun plan` does: its steps, or JSON.
fn print_plan(plan: &bosun_model::Plan, p: &PlanArgs) {
    if p.json {
        outln!("{}", json!({"digest": plan.digest(), "plan": plan}));
    } else {
        outln!(
            "plan {} — runbook {} ({})",
            plan.digest(),
            plan.runbook,
            crate::output::plan_kind(plan)
        );
        for (k, v) in &plan.params {
            outln!("  param {k} = {v}");
        }
        for (i, s) in plan.steps.iter().enumerate() {
            if s.needs_report() {
                outln!(
                    "  {i:>3}. [{}] {}: (a {} step: the run waits for `bosun step report`)",
                    s.host,
                    s.step,
                    crate::output::word(&s.actor)
                );
            } else {
                outln!("  {i:>3}. [{}] {}: {}", s.host, s.step, s.cmd);
            }
        }
        let args: Vec<String> = plan
            .targets
            .iter()
            .map(|t| format!("-t {t}"))
            .chain(p.params.iter().map(|kv| format!("-p {}", shell_word(kv))))
            .collect();
        outln!(
            "nothing ran. To run it: bosun submit {} {} --as <you>",
            plan.runbook,
            args.join(" ")
        );
    }
}

/// `s` as one shell word: as it is when plain, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-/:=@+,%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn a_param_is_one_shell_word() {
        assert_eq!(shell_word("version=1.2"), "version=1.2");
        assert_eq!(shell_word("msg=hello world"), "'msg=hello world'");
        assert_eq!(shell_word("a='b'"), r"'a='\''b'\'''");
    }
}
