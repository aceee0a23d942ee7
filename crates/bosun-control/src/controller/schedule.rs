//! The run's scheduler as data, no I/O: where each plan entry stands
//! ([`Slot`]), whether a pending one may start ([`Ready`]), which entries
//! each dependency and each host's order stand for, and the failures that
//! cancel what has not started ([`Accounting`]).

use std::collections::HashMap;

use bosun_model::{DepKind, Strategy};
use bosun_store::StepStatus;

/// Where one plan entry stands in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// Not started.
    Pending,
    /// Running since (Unix seconds).
    Running(i64),
    /// Waiting for a human's report.
    Waiting,
    /// Ended.
    Done(StepStatus),
}

/// Whether a pending entry can start.
pub(super) enum Ready {
    /// A dependency has not ended yet.
    NotYet,
    /// It will never run: why.
    Skip(String),
    /// Every dependency ended the way its kind asks.
    Go,
}

/// For each plan entry and each of its dependencies, the entries that
/// dependency stands for: the same step on the same host, on every host
/// (a controller step depending on a per-host step), or the one controller
/// entry.
pub(super) fn dependency_entries(
    plan: &bosun_model::Plan,
) -> Vec<Vec<(DepKind, String, Vec<usize>)>> {
    let mut by_step: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, p) in plan.steps.iter().enumerate() {
        by_step.entry(p.step.as_str()).or_default().push(j);
    }
    plan.steps
        .iter()
        .map(|ps| {
            ps.depends_on
                .iter()
                .map(|dep| {
                    let entries = by_step
                        .get(dep.step.as_str())
                        .map(|js| {
                            js.iter()
                                .copied()
                                .filter(|&j| {
                                    let q = &plan.steps[j];
                                    ps.controller || q.controller || q.host == ps.host
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (dep.kind, dep.step.to_string(), entries)
                })
                .collect()
        })
        .collect()
}

/// For each plan entry, the entries that must have ended before it starts:
/// a host runs its steps one at a time, in plan order; a controller step
/// waits for everything before it, and everything after waits for it.
/// Hosts run in parallel between controller steps.
pub(super) fn sequence(plan: &bosun_model::Plan) -> Vec<Vec<usize>> {
    let mut last_on_host: HashMap<&str, usize> = HashMap::new();
    let mut last_controller: Option<usize> = None;
    plan.steps
        .iter()
        .enumerate()
        .map(|(i, ps)| {
            if ps.controller {
                last_controller = Some(i);
                last_on_host.clear();
                return (0..i).collect();
            }
            let mut before: Vec<usize> = last_controller.into_iter().collect();
            if let Some(j) = last_on_host.insert(ps.host.as_str(), i) {
                before.push(j);
            }
            before
        })
        .collect()
}

pub(super) fn readiness(
    plan: &bosun_model::Plan,
    deps: &[(DepKind, String, Vec<usize>)],
    slots: &[Slot],
) -> Ready {
    for (kind, step, entries) in deps {
        let mut statuses = Vec::with_capacity(entries.len());
        for &j in entries {
            match slots[j] {
                Slot::Done(s) => statuses.push((s, &plan.steps[j].host)),
                _ => return Ready::NotYet,
            }
        }
        let holds = match kind {
            DepKind::Always => true,
            DepKind::OnSuccess => statuses.iter().all(|(s, _)| *s == StepStatus::Succeeded),
            DepKind::OnFailure => statuses.iter().any(|(s, _)| *s == StepStatus::Failed),
        };
        if !holds {
            let ended: Vec<String> = statuses
                .iter()
                .map(|(s, h)| {
                    if statuses.len() > 1 {
                        format!("{} on `{h}`", s.as_str())
                    } else {
                        s.as_str().to_string()
                    }
                })
                .collect();
            let ended = if ended.is_empty() {
                "did not run".to_string()
            } else {
                ended.join(", ")
            };
            return Ready::Skip(format!(
                "skipped: it runs {} `{step}`, which {ended}",
                match kind {
                    DepKind::Always => "after",
                    DepKind::OnSuccess => "when it succeeds:",
                    DepKind::OnFailure => "when it fails:",
                },
            ));
        }
    }
    Ready::Go
}

/// Failures of a run and what they cancel.
#[derive(Default)]
pub(super) struct Accounting {
    /// Every failed step, in words.
    pub(super) failures: Vec<String>,
    /// Hosts whose run a `stop` failure ended, with why.
    pub(super) host_stopped: HashMap<String, String>,
    /// Why nothing new starts anywhere (a controller step failed, or more
    /// hosts failed than `max_fail` allows).
    pub(super) run_stopped: Option<String>,
}

impl Accounting {
    /// Accounts a failed step; `unknown`: its outcome cannot be known, and
    /// nothing more runs on its host whatever its strategy.
    pub(super) fn failed(&mut self, ps: &bosun_model::PlanStep, max_fail: usize, unknown: bool) {
        let what = format!("step `{}` on `{}`", ps.step, ps.host);
        self.failures.push(what.clone());
        if ps.on_error.strategy == Strategy::Continue && !unknown {
            return;
        }
        if ps.controller {
            self.run_stopped.get_or_insert(format!("{what} failed"));
            return;
        }
        self.host_stopped
            .entry(ps.host.to_string())
            .or_insert(format!("{what} failed"));
        if self.host_stopped.len() > max_fail && self.run_stopped.is_none() {
            let mut hosts: Vec<&str> = self.host_stopped.keys().map(String::as_str).collect();
            hosts.sort_unstable();
            self.run_stopped = Some(if max_fail == 0 {
                format!("{what} failed")
            } else {
                format!(
                    "{} hosts failed ({}), over max_fail = {max_fail}",
                    hosts.len(),
                    hosts.join(", ")
                )
            });
        }
    }

    pub(super) fn cancelled(&self, ps: &bosun_model::PlanStep) -> Option<&str> {
        self.run_stopped.as_deref().or_else(|| {
            (!ps.controller)
                .then(|| self.host_stopped.get(ps.host.as_str()).map(String::as_str))
                .flatten()
        })
    }
}
