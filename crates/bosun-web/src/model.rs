//! What the templates read: the views as they are, with times made
//! relative (the exact time kept for a hover), ids shortened for links,
//! and command lines spelt by the CLI's [`Commands`].

use bosun_api::NextAction;
use bosun_api::views::{BlockerView, ConsentView, HostView, OpBrief, RolloutView, StatusView};
use jiff::Timestamp;
use minijinja::{Value, context};
use serde::Serialize;

use crate::Commands;

/// A time as the page shows it: relative, and exact on hover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ago {
    /// `42s ago`, `5m ago`, `3h ago`, `2d ago`; `just now` for the future.
    pub rel: String,
    /// RFC 3339, UTC.
    pub exact: String,
}

/// `t` as seen at `now`.
pub fn ago(t: Timestamp, now: Timestamp) -> Ago {
    let secs = now.as_second().saturating_sub(t.as_second());
    let rel = match secs {
        s if s < 1 => "just now".to_string(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3_600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3_600),
        s => format!("{}d ago", s / 86_400),
    };
    Ago {
        rel,
        exact: t.to_string(),
    }
}

/// An op as a row of the overview.
#[derive(Serialize)]
struct OpRow {
    jti: String,
    short: String,
    runbook: String,
    iss: String,
    targets: u32,
    at: Ago,
    approve: String,
}

fn rows(ops: &[OpBrief], now: Timestamp, cmds: &Commands) -> Vec<OpRow> {
    ops.iter()
        .map(|o| OpRow {
            jti: o.jti.clone(),
            short: o.jti.chars().take(12).collect(),
            runbook: o.runbook.clone(),
            iss: o.iss.clone(),
            targets: o.targets,
            at: ago(o.created_at, now),
            approve: (cmds.command)(&NextAction::Approve { op: o.jti.clone() }),
        })
        .collect()
}

/// The most ops a list of the overview shows (the rest are counted): the
/// page stays small whatever the queue.
pub const MAX_ROWS: usize = 100;

/// The overview page's context.
pub(crate) fn overview(s: &StatusView, now: Timestamp, cmds: &Commands) -> Value {
    let halt = s.halt.as_ref().map(|h| {
        context! { why => h.why.clone(), by => h.by.clone(), since => ser(&ago(h.since, now)) }
    });
    // Approvals are on their rows already.
    let next: Vec<String> = s
        .next
        .iter()
        .filter(|n| !matches!(n, NextAction::Approve { .. }))
        .map(|n| (cmds.command)(n))
        .collect();
    context! {
        title => "overview",
        workspace => s.workspace.clone(),
        halt => halt,
        pending => ser(&rows(&s.pending_approval[..s.pending_approval.len().min(MAX_ROWS)], now, cmds)),
        pending_total => s.pending_approval.len(),
        attention => ser(&rows(&s.needs_attention[..s.needs_attention.len().min(MAX_ROWS)], now, cmds)),
        attention_total => s.needs_attention.len(),
        rollouts => ser(&s.active_rollouts),
        blockers => ser(&s.active_blockers),
        controller => ser(&s.controller),
        queue_depth => s.queue_depth,
        proposals => ser(&s.open_proposals),
        drift => ser(&s.drift),
        next => next,
    }
}

/// A step of the run as a row.
#[derive(Serialize)]
struct StepRow {
    idx: u32,
    step: String,
    host: String,
    status: String,
    exit_code: Option<i32>,
    took: String,
    output: String,
}

/// Milliseconds as people read them: `340ms`, `1.2s`, `3m05s`.
fn took(ms: u64) -> String {
    match ms {
        m if m < 1_000 => format!("{m}ms"),
        m if m < 60_000 => format!("{:.1}s", m as f64 / 1_000.0),
        m => format!("{}m{:02}s", m / 60_000, (m % 60_000) / 1_000),
    }
}

/// A step of the run's graph, with how it went.
#[derive(Serialize)]
struct Node {
    step: String,
    status: String,
    after: Vec<String>,
}

/// One host's part of the run as a graph: its steps by depth (a step
/// comes one column after the last of the steps it waits for).
#[derive(Serialize)]
struct HostDag {
    host: String,
    columns: Vec<Vec<Node>>,
}

/// The run as a graph per host, each step with its latest state.
fn dag(o: &bosun_api::views::OpView) -> Vec<HostDag> {
    o.plan
        .hosts
        .iter()
        .map(|h| {
            let mut depth: Vec<usize> = Vec::with_capacity(h.steps.len());
            for (i, st) in h.steps.iter().enumerate() {
                // Plan order puts a step after the steps it waits for.
                let d = st
                    .depends_on
                    .iter()
                    .filter_map(|dep| h.steps[..i].iter().position(|x| &x.step == dep))
                    .map(|j| depth[j] + 1)
                    .max()
                    .unwrap_or(0);
                depth.push(d);
            }
            let mut columns: Vec<Vec<Node>> = Vec::new();
            for (st, d) in h.steps.iter().zip(&depth) {
                let status = o
                    .steps
                    .iter()
                    .rev()
                    .find(|s| s.step == st.step && s.host == h.host)
                    .map_or_else(|| "not started".to_string(), |s| s.status.clone());
                while columns.len() <= *d {
                    columns.push(Vec::new());
                }
                columns[*d].push(Node {
                    step: st.step.clone(),
                    status,
                    after: st.depends_on.clone(),
                });
            }
            HostDag {
                host: h.host.clone(),
                columns,
            }
        })
        .collect()
}

/// The op page's context.
pub(crate) fn op(
    workspace: &str,
    c: &ConsentView,
    now: Timestamp,
    cmds: &Commands,
    passkey_as: Option<&str>,
) -> Value {
    let o = &c.op;
    let d = &o.policy_decision;
    let words = match d.outcome.as_str() {
        "auto" => "runs without a human".to_string(),
        "deny" => format!("denied: {}", d.denied_because.as_deref().unwrap_or("")),
        _ => format!(
            "needs {} approval(s) from: {}",
            d.approvals_needed,
            d.approver_roles
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let approvals_line = (d.outcome == "approvals").then(|| {
        let mut line = format!(
            "{} of {} so far",
            c.approvals_valid.len(),
            d.approvals_needed
        );
        if !c.approvals_valid.is_empty() {
            line.push_str(&format!(": {}", c.approvals_valid.join(", ")));
        }
        if let Some(by) = &c.denied_by {
            line.push_str(&format!("; denied by {by}"));
        }
        line
    });
    let standing = c.standing_words();
    let approvals: Vec<Value> = o
        .approvals
        .iter()
        .map(|a| {
            context! { verdict => a.verdict.clone(), by => a.by.clone(), role => a.role.to_string(), reason => a.reason.clone(), at => ser(&ago(a.at, now)) }
        })
        .collect();
    let pending = o.brief.state == bosun_model::OpState::PendingApproval;
    let approve = pending.then(|| {
        (cmds.command)(&NextAction::Approve {
            op: o.brief.jti.clone(),
        })
    });
    let next: Vec<String> = o
        .next
        .iter()
        .filter(|n| !matches!(n, NextAction::Approve { .. }))
        .map(|n| (cmds.command)(n))
        .collect();
    let steps: Vec<StepRow> = o
        .steps
        .iter()
        .map(|s| StepRow {
            idx: s.idx,
            step: s.step.clone(),
            host: s.host.clone(),
            status: s.status.clone(),
            exit_code: s.exit_code,
            took: took(s.duration_ms),
            output: s.output.clone(),
        })
        .collect();
    let state = o.brief.state.as_str();
    context! {
        title => format!("op {}", o.brief.jti.chars().take(12).collect::<String>()),
        workspace => workspace,
        op => context! {
            jti => o.brief.jti.clone(),
            state => state,
            state_words => state.replace('_', " "),
            iss => o.brief.iss.clone(),
            role => o.role.to_string(),
            seq => o.seq,
            at => ser(&ago(o.brief.created_at, now)),
        },
        plan => ser(&o.plan),
        standing => standing,
        decision => context! { outcome => d.outcome.clone(), words => words, rules => ser(&d.rules), reasons => ser(&d.reasons) },
        approvals_line => approvals_line,
        void => ser(&c.approvals_void),
        approvals => approvals,
        holds => ser(&c.holds),
        detail => o.detail.clone(),
        passkey => if pending { passkey_as } else { None },
        approve => approve,
        next => next,
        steps => ser(&steps),
        dag => ser(&dag(o)),
    }
}

/// Any serialisable value as the templates read it.
fn ser<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The hosts page's context.
pub(crate) fn hosts(
    workspace: &str,
    hosts: &[HostView],
    select: Option<&str>,
    error: Option<&str>,
) -> Value {
    context! { title => "hosts", workspace => workspace, hosts => ser(&hosts), select => select, error => error }
}

/// A blocker as a row of the board.
#[derive(Serialize)]
struct BlockerRow<'a> {
    #[serde(flatten)]
    b: &'a BlockerView,
    since: Ago,
    snoozed: bool,
    next: Vec<String>,
}

/// The blocker board's context.
pub(crate) fn blockers(
    workspace: &str,
    list: &[BlockerView],
    all: bool,
    now: Timestamp,
    cmds: &Commands,
) -> Value {
    let rows: Vec<BlockerRow<'_>> = list
        .iter()
        .map(|b| BlockerRow {
            b,
            since: ago(b.since, now),
            snoozed: b.snoozed_until.is_some_and(|u| u > now),
            next: b.next.iter().map(|n| (cmds.command)(n)).collect(),
        })
        .collect();
    context! { title => "blockers", workspace => workspace, blockers => ser(&rows), all => all }
}

/// The rollouts page's context.
pub(crate) fn rollouts(workspace: &str, list: &[RolloutView]) -> Value {
    context! { title => "rollouts", workspace => workspace, rollouts => ser(&list) }
}

/// One op of a rollout as a row.
#[derive(Serialize)]
struct RunRow {
    wave_name: String,
    action: String,
    op: String,
    short: String,
    hosts: Vec<String>,
    status: String,
    why: Option<String>,
    by: String,
    at: Ago,
}

/// A rollout's page context.
pub(crate) fn rollout(workspace: &str, r: &RolloutView, now: Timestamp, cmds: &Commands) -> Value {
    let runs: Vec<RunRow> = r
        .runs
        .iter()
        .map(|x| RunRow {
            wave_name: usize::try_from(x.wave)
                .ok()
                .and_then(|i| r.waves.get(i))
                .map_or_else(|| x.wave.to_string(), |w| w.name.clone()),
            action: x.action.clone(),
            op: x.op.clone(),
            short: x.op.chars().take(12).collect(),
            hosts: x.hosts.clone(),
            status: x.status.clone(),
            why: x.why.clone(),
            by: x.by.clone(),
            at: ago(x.at, now),
        })
        .collect();
    let next: Vec<String> = r.next.iter().map(|n| (cmds.command)(n)).collect();
    context! {
        title => format!("rollout {}", r.id),
        workspace => workspace,
        r => ser(r),
        runs => ser(&runs),
        next => next,
    }
}
