//! Running verification bars and recording what they found.
//!
//! A bar is a plan step with a [`BarCheck`]: the controller runs its
//! command over the host's transport like any step, then
//! [`bosun_fleet::bars::verdict`] turns what it observed into pass, fail or
//! inconclusive, which (not the exit code) decides the step's status. The
//! step's output starts with `[bar <kind>: <verdict>] <why>`.
//!
//! A failed bar marks the host drifted and files a `regression` blocker
//! (seed 001: "failure → \[ka:regression\] block, host marked drifted"). A
//! passed `version` bar records the version it saw; a host whose last bar
//! passes is converged (its drift is cleared).

use std::path::Path;
use std::time::Duration;

use bosun_fleet::bars::{Observed, Verdict, verdict};
use bosun_model::{BarCheck, Host, Jti, Plan, PlanStep};
use bosun_store::{NewBlocker, StepResult};

use crate::exec::{StepOutput, run_step_scrubbed};
use crate::{Control, Result, now};

/// The blocker kind a failed bar files.
pub const BAR_FAIL_KIND: &str = "regression";

/// A bar's run: what its command did and the verdict on it (which, not
/// the exit code, decides the step's status).
#[derive(Debug, Clone)]
pub struct BarOutcome {
    /// The command's output, behind the `[bar <kind>: <verdict>] <why>`
    /// line.
    pub out: StepOutput,
    /// The verdict.
    pub verdict: Verdict,
}

/// Runs one bar on `host`: for a burn-in, first waits until `hold_from +
/// hold`; then runs `cmd` and judges the result.
pub fn run_bar(
    bar: &BarCheck,
    root: &Path,
    host: &Host,
    cmd: &str,
    timeout: Duration,
    patterns: &[regex::Regex],
    hold_from: i64,
) -> BarOutcome {
    if let Some(hold) = bar.hold_secs {
        let due = hold_from.saturating_add(i64::try_from(hold).unwrap_or(i64::MAX));
        loop {
            let left = due.saturating_sub(now());
            if left <= 0 {
                break;
            }
            std::thread::sleep(Duration::from_secs(u64::try_from(left.min(5)).unwrap_or(1)));
        }
    }
    let mut out = run_step_scrubbed(root, host, cmd, timeout, patterns);
    let (v, why) = verdict(
        &bar.kind,
        bar.expect.as_deref(),
        &Observed {
            exit_code: out.exit_code,
            timed_out: out.timed_out,
            gone: out.lost || out.unreachable,
            output: &out.output,
        },
    );
    out.output = format!("[bar {}: {}] {why}\n{}", bar.kind, v.as_str(), out.output);
    out.lost = false;
    BarOutcome { out, verdict: v }
}

/// What a bar step's recorded output says: its kind, verdict and reason.
pub fn parse_bar_line(output: &str) -> Option<(&str, Verdict, &str)> {
    let line = output.lines().next()?;
    let rest = line.strip_prefix("[bar ")?;
    let (head, why) = rest.split_once("] ")?;
    let (kind, v) = head.split_once(": ")?;
    let v = match v {
        "pass" => Verdict::Pass,
        "fail" => Verdict::Fail,
        "inconclusive" => Verdict::Inconclusive,
        _ => return None,
    };
    Some((kind, v, why))
}

/// Records what a bar's verdict means for its host (see the module docs).
/// `changed`: every change step on the host succeeded (or was skipped).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_effects(
    ctl: &Control,
    plan: &Plan,
    jti: &Jti,
    ps: &PlanStep,
    bar: &BarCheck,
    v: Verdict,
    result: &StepResult,
    changed: bool,
) -> Result<()> {
    let host = ps.host.as_str();
    let t = now();
    match v {
        Verdict::Pass => {
            if bar.kind == "version" {
                // The value compared: the output after the verdict line.
                let seen = result.output.split_once('\n').map_or("", |(_, o)| o.trim());
                ctl.store.set_host_version(host, seen, t)?;
            }
            let last_bar = plan
                .steps
                .iter()
                .rev()
                .find(|s| s.host == ps.host && s.bar.is_some())
                .is_some_and(|s| s.step == ps.step);
            // Converged: every bar passed and every change step on the host
            // succeeded (a `continue` failure lets the bars run, but the
            // change did not happen).
            if last_bar && changed {
                ctl.store.set_host_drift(host, None, t)?;
            }
        }
        Verdict::Fail => {
            let why = parse_bar_line(&result.output).map_or("", |(_, _, w)| w);
            let reason = format!("bar `{}` ({}) failed: {why}", ps.step, bar.kind);
            ctl.store.set_host_drift(host, Some(&reason), t)?;
            let owner = ctl
                .governed()
                .ok()
                .and_then(|g| g.blocker_kinds.get(BAR_FAIL_KIND).map(|k| k.owner.clone()))
                .unwrap_or_else(|| "operator".into());
            ctl.store.file_blocker(&NewBlocker {
                kind: BAR_FAIL_KIND.into(),
                subject: host.into(),
                reason,
                owner,
                filed_by: "controller".into(),
                op: Some(jti.to_string()),
                at: t,
            })?;
        }
        Verdict::Inconclusive => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lines_round_trip() {
        let (k, v, why) =
            parse_bar_line("[bar version: fail] expected `7.1`, got `7.0`\n7.0").unwrap();
        assert_eq!(
            (k, v, why),
            ("version", Verdict::Fail, "expected `7.1`, got `7.0`")
        );
        assert!(parse_bar_line("plain output").is_none());
        assert!(parse_bar_line("[bar x: maybe] y").is_none());
    }
}
