//! `bosun policy`: lint the policy files on disk, and explain why an op
//! was decided as it was.

use std::process::ExitCode;

use bosun_api::views::OpView;
use bosun_control::Result;
use bosun_model::Outcome;
use bosun_workspace::Workspace;
use clap::Subcommand;
use serde_json::json;

use super::{Ctx, other};

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCmd {
    /// Check the policy files on disk (policy/): errors with file:line
    /// (exit 1), and warnings for settings that loosen a hard rule, such
    /// as `allow_auto_promotion = true`.
    #[command(after_help = "Examples:\n  bosun policy lint\n  bosun policy lint --json")]
    Lint {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why an op was decided as it was: policy digest, deciding rules, reasons.
    #[command(after_help = "Examples:\n  bosun policy explain 01a24c")]
    Explain {
        /// The op's jti.
        jti: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun policy …`.
pub(crate) fn run(ctx: &Ctx, cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Lint { json: js } => lint(ctx, js),
        PolicyCmd::Explain { jti: j, json: js } => explain(ctx, &j, js),
    }
}

/// `bosun policy lint`.
fn lint(ctx: &Ctx, js: bool) -> Result<ExitCode> {
    let ws = Workspace::open(&ctx.workspace)?;
    let files = ws.disk_policy()?;
    let (errors, warnings) = match files.load() {
        Err(e) => (e.0.iter().map(ToString::to_string).collect(), Vec::new()),
        Ok(p) => (Vec::new(), policy_warnings(&p, &files)),
    };
    // Runbooks that write a value unquoted never run alone: say where.
    let mut warnings = warnings;
    for (_, path, text) in ws.disk_runbooks()? {
        if let Ok(rb) = bosun_runbook::parse_runbook(&path, &text) {
            warnings.extend(
                bosun_runbook::raw_places(&path, &text, &rb)
                    .iter()
                    .map(ToString::to_string),
            );
        }
    }
    if js {
        outln!("{}", json!({"errors": errors, "warnings": warnings}));
    } else {
        for e in &errors {
            outln!("error: {e}");
        }
        for w in &warnings {
            outln!("warning: {w}");
        }
        if errors.is_empty() && warnings.is_empty() {
            outln!("policy/ is valid; nothing loosens a hard rule");
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `bosun policy explain`.
fn explain(ctx: &Ctx, j: &str, js: bool) -> Result<ExitCode> {
    let ctl = ctx.reader()?;
    let op = ctl.resolve_op(j)?;
    let Some(rec) = ctl.op_record(&op)? else {
        return Err(other(format!("no op with jti `{op}`")));
    };
    print_explained(&Explained::of_record(&rec), js);
    Ok(ExitCode::SUCCESS)
}

/// `bosun policy explain` as a client of the daemon (the op's view);
/// `policy lint` reads the files here, and runs here.
pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Lint { json: js } => lint(ctx, js),
        PolicyCmd::Explain { jti, json: js } => {
            let path = format!("/ops/{}", super::op_path_id(&jti)?);
            match super::answered(r.get::<OpView>(&path), js)? {
                Ok(v) => {
                    print_explained(&Explained::of_view(&v), js);
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            }
        }
    }
}

/// What `policy explain` says of an op's decision.
pub(crate) struct Explained {
    jti: String,
    iss: String,
    role: String,
    runbook: String,
    targets: usize,
    outcome: Outcome,
    policy_digest: String,
    policy_ids: Vec<String>,
    reasons: Vec<String>,
}

impl Explained {
    /// From the op's record, here.
    pub(crate) fn of_record(rec: &bosun_store::OpRecord) -> Explained {
        let d = &rec.decision;
        Explained {
            jti: rec.summary.jti.to_string(),
            iss: rec.claims.iss.to_string(),
            role: rec.role.to_string(),
            runbook: rec.claims.runbook.to_string(),
            targets: rec.claims.targets.len(),
            outcome: d.outcome.clone(),
            policy_digest: d.policy_digest.to_string(),
            policy_ids: d.policy_ids.clone(),
            reasons: d.reasons.clone(),
        }
    }

    /// From the op's view, as the daemon reports it.
    fn of_view(v: &OpView) -> Explained {
        let d = &v.policy_decision;
        let outcome = super::consent::outcome_of(d);
        Explained {
            jti: v.brief.jti.clone(),
            iss: v.brief.iss.clone(),
            role: v.role.to_string(),
            runbook: v.brief.runbook.clone(),
            targets: usize::try_from(v.brief.targets).unwrap_or(usize::MAX),
            outcome,
            policy_digest: d.policy_digest.clone(),
            policy_ids: d.rules.clone(),
            reasons: d.reasons.clone(),
        }
    }
}

/// `policy explain`'s output: JSON, or [`explain_text`].
fn print_explained(e: &Explained, js: bool) {
    if js {
        outln!(
            "{}",
            json!({"jti": e.jti, "outcome": e.outcome, "policy_digest": e.policy_digest, "policy_ids": e.policy_ids, "reasons": e.reasons})
        );
    } else {
        outln!("{}", explain_text(e));
    }
}

/// Settings that loosen a hard rule, located in their file.
fn policy_warnings(p: &bosun_policy::Policy, files: &bosun_workspace::PolicyFiles) -> Vec<String> {
    let at = |needle: &str| {
        let off = bosun_model::source::find_offset(&files.keeper, needle);
        let (l, c) = bosun_model::line_col(&files.keeper, off);
        format!("policy/keeper.toml:{l}:{c}")
    };
    let mut w = Vec::new();
    if p.allow_auto_promotion() {
        w.push(format!(
            "{}: allow_auto_promotion = true lifts the hard rule \"never auto-promote\": rollout waves after the canary may run without a human",
            at("allow_auto_promotion")
        ));
    }
    if p.mode() == bosun_policy::Mode::Auto {
        w.push(format!(
            "{}: mode = \"auto\": every op the rules do not stop runs without a human",
            at("mode")
        ));
    }
    w
}

/// The decision on an op in words: verdict, policy, rules, reasons.
pub(crate) fn explain_text(e: &Explained) -> String {
    let verdict = super::consent::verdict_text(&e.outcome);
    let mut s = format!(
        "op {} by {} ({}) — runbook {} on {} host(s)\ndecision: {verdict}\npolicy in force: {}\n",
        e.jti, e.iss, e.role, e.runbook, e.targets, e.policy_digest
    );
    if e.policy_ids.is_empty() {
        s.push_str("deciding rules: none matched\n");
    } else {
        s.push_str(&format!("deciding rules: {}\n", e.policy_ids.join(", ")));
    }
    for r in &e.reasons {
        s.push_str(&format!("  - {r}\n"));
    }
    s.trim_end().to_string()
}
