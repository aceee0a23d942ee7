//! What a tool answers, as structured content: `{result, next, waiting}`.
//! `result` is what the CLI's `--json` prints for the same read or verb;
//! `next` the [`NextAction`]s that apply, each saying `by` whom (`you`:
//! the agent, with these tools; `human`: an operator's call, which no
//! tool can make); `waiting`, while an op waits on someone, says what it
//! waits for, so an agent waits instead of retrying. A refusal is a tool
//! error carrying the refusing check's name and message.

use bosun_api::NextAction;
use bosun_api::views::ops::OpView;
use bosun_model::OpState;
use rmcp::model::CallToolResult;
use serde::Serialize;
use serde_json::{Value, json};

use crate::core::Fault;

/// Who can take a next action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// The agent, with this server's tools.
    You,
    /// A human (an operator): no tool of this server can do it.
    Human,
}

/// A next action and who can take it.
#[derive(Debug, Clone, Serialize)]
pub struct Next {
    /// The action (`{"action": "approve", "op": …}`).
    #[serde(flatten)]
    pub action: NextAction,
    /// Who can take it.
    pub by: By,
}

/// Who can take `action`, given the op it is about (when known): reads the
/// tools offer are the agent's; a step report is the agent's only for an
/// `agent` or `both` step of a running op (the pipeline checks it again);
/// everything else is a human's.
pub fn by(action: &NextAction, op: Option<&OpView>) -> By {
    match action {
        NextAction::ShowOp { .. }
        | NextAction::ListBlockers { .. }
        | NextAction::ShowBlocker { .. }
        | NextAction::ListHosts
        | NextAction::ShowHost { .. }
        | NextAction::RolloutStatus { .. } => By::You,
        NextAction::ReportStep { step, host, .. } => match op {
            Some(v) if v.brief.state == OpState::Running => {
                let actor = v
                    .plan
                    .hosts
                    .iter()
                    .filter(|h| host.as_ref().is_none_or(|want| &h.host == want))
                    .flat_map(|h| h.steps.iter())
                    .find(|s| step.as_ref().is_some_and(|want| &s.step == want))
                    .map(|s| s.actor.as_str());
                if matches!(actor, Some("agent" | "both")) {
                    By::You
                } else {
                    By::Human
                }
            }
            _ => By::Human,
        },
        _ => By::Human,
    }
}

/// `actions`, each with who can take it.
pub fn nexts(actions: &[NextAction], op: Option<&OpView>) -> Vec<Next> {
    actions
        .iter()
        .map(|a| Next {
            action: a.clone(),
            by: by(a, op),
        })
        .collect()
}

/// What op `v` waits for, in words, while it waits on someone; `None`
/// once it has ended.
pub fn waiting(v: &OpView) -> Option<String> {
    let d = &v.policy_decision;
    match v.brief.state {
        OpState::Submitted => Some("waiting for intake's decision".into()),
        OpState::PendingApproval => {
            let given = v.approvals.iter().filter(|a| a.verdict == "approve").count();
            let needed = usize::try_from(d.approvals_needed).unwrap_or(usize::MAX);
            let left = needed.saturating_sub(given).max(1);
            let roles = d
                .approver_roles
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            let roles = if roles.is_empty() {
                "operator".to_string()
            } else {
                roles
            };
            Some(format!(
                "waiting for {left} {roles} approval{} ({given} of {needed} given): a human decides, no tool can approve; do not submit again, call op_status with wait_seconds to wait for it to move",
                if left == 1 { "" } else { "s" }
            ))
        }
        OpState::Approved => Some(
            "approved and queued: waiting for the controller to run it; nothing to do but wait (op_status with wait_seconds)".into(),
        ),
        OpState::Running => {
            let waits: Vec<String> = v
                .steps
                .iter()
                .filter(|s| s.status == "waiting")
                .map(|s| format!("{} on {}", s.step, s.host))
                .collect();
            Some(if waits.is_empty() {
                "running: wait for it to end (op_status with wait_seconds)".into()
            } else {
                format!(
                    "running, waiting for a report of {} (see next: a step `by` you is yours to report with step_report, the rest a human's)",
                    waits.join(", ")
                )
            })
        }
        OpState::NeedsAttention => Some(
            "needs attention: a step's outcome is unknown and only a human can say how it ended; its hosts stay held until then".into(),
        ),
        OpState::Succeeded | OpState::Failed | OpState::Denied => None,
    }
}

/// The answer of a tool that succeeded.
pub fn ok(result: impl Serialize, next: Vec<Next>, waiting: Option<String>) -> CallToolResult {
    match serde_json::to_value(result) {
        Ok(result) => CallToolResult::structured(json!({
            "result": result,
            "next": next,
            "waiting": waiting,
        })),
        Err(e) => fault(&Fault::failed(format!(
            "the answer could not be encoded: {e}"
        ))),
    }
}

/// The answer about op `v`: the view, its next actions and what it waits
/// for.
pub fn op(result: impl Serialize, v: &OpView) -> CallToolResult {
    ok(result, nexts(&v.next, Some(v)), waiting(v))
}

/// A tool error: `{check, message, jti, next}` (`check` is null when no
/// check refused: a store or workspace problem).
pub fn fault(f: &Fault) -> CallToolResult {
    let v: Value = match f {
        Fault::Refused(r) => json!({
            "check": r.check,
            "message": r.message,
            "jti": r.jti,
            "next": [],
        }),
        Fault::Failed { message, next } => json!({
            "check": null,
            "message": message,
            "next": nexts(next, None),
        }),
    };
    CallToolResult::structured_error(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_are_a_humans_and_reads_are_yours() {
        let approve = NextAction::Approve { op: "x".into() };
        assert_eq!(by(&approve, None), By::Human);
        assert_eq!(by(&NextAction::Resume, None), By::Human);
        assert_eq!(by(&NextAction::ResolveBlocker { id: 1 }, None), By::Human);
        assert_eq!(by(&NextAction::ShowOp { op: "x".into() }, None), By::You);
        let j = serde_json::to_value(nexts(&[approve], None)).unwrap();
        assert_eq!(j, json!([{"action": "approve", "op": "x", "by": "human"}]));
    }

    #[test]
    fn a_refusal_names_its_check() {
        let f = Fault::refused(bosun_api::Check::Format, "bad");
        let r = fault(&f);
        assert_eq!(r.is_error, Some(true));
        assert_eq!(r.structured_content.unwrap()["check"], "format");
    }
}
