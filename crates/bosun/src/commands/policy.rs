//! `bosun policy`: lint the policy files on disk, and explain why an op
//! was decided as it was.

use std::process::ExitCode;

use bosun_control::Result;
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
    let d = &rec.decision;
    if js {
        outln!(
            "{}",
            json!({"jti": rec.summary.jti, "outcome": d.outcome, "policy_digest": d.policy_digest, "policy_ids": d.policy_ids, "reasons": d.reasons})
        );
    } else {
        outln!("{}", explain_text(&rec));
    }
    Ok(ExitCode::SUCCESS)
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
pub(crate) fn explain_text(rec: &bosun_store::OpRecord) -> String {
    let d = &rec.decision;
    let verdict = super::consent::verdict_text(&d.outcome);
    let mut s = format!(
        "op {} by {} ({}) — runbook {} on {} host(s)\ndecision: {verdict}\npolicy in force: {}\n",
        rec.summary.jti,
        rec.claims.iss,
        rec.role,
        rec.claims.runbook,
        rec.claims.targets.len(),
        d.policy_digest
    );
    if d.policy_ids.is_empty() {
        s.push_str("deciding rules: none matched\n");
    } else {
        s.push_str(&format!("deciding rules: {}\n", d.policy_ids.join(", ")));
    }
    for r in &d.reasons {
        s.push_str(&format!("  - {r}\n"));
    }
    s.trim_end().to_string()
}
