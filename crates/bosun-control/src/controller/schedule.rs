//! The run's scheduler as data, no I/O: where each plan entry stands
//! ([`Slot`]), whether a pending one may start ([`Ready`]), which entries
//! each dependency and each host's order stand for, and the failures that
//! cancel what has not started ([`Accounting`]).

use std::collections::HashMap;

use bosun_model::{DepKind, PlanStep, Strategy};
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
pub(super) fn dependency_entries(steps: &[PlanStep]) -> Vec<Vec<(DepKind, String, Vec<usize>)>> {
    let mut by_step: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, p) in steps.iter().enumerate() {
        by_step.entry(p.step.as_str()).or_default().push(j);
    }
    steps
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
                                    let q = &steps[j];
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
pub(super) fn sequence(steps: &[PlanStep]) -> Vec<Vec<usize>> {
    let mut last_on_host: HashMap<&str, usize> = HashMap::new();
    let mut last_controller: Option<usize> = None;
    steps
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

/// Whether a pending entry whose dependencies stand for `deps` (see
/// [`dependency_entries`]) may start, given where every entry stands.
pub(super) fn readiness(
    steps: &[PlanStep],
    deps: &[(DepKind, String, Vec<usize>)],
    slots: &[Slot],
) -> Ready {
    for (kind, step, entries) in deps {
        let mut statuses = Vec::with_capacity(entries.len());
        for &j in entries {
            match slots[j] {
                Slot::Done(s) => statuses.push((s, &steps[j].host)),
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
    /// Hosts where a step's outcome is unknown: what is left there waits
    /// (neither runs nor is skipped) until a human reports that step and
    /// the run resumes. `None` in the set: a controller step, which holds
    /// the whole run.
    pub(super) unknown: std::collections::HashSet<Option<String>>,
}

impl Accounting {
    /// Accounts a failed step; `unknown`: its outcome cannot be known, and
    /// nothing more runs on its host whatever its strategy.
    pub(super) fn failed(&mut self, ps: &PlanStep, max_fail: usize, unknown: bool) {
        let what = format!("step `{}` on `{}`", ps.step, ps.host);
        if unknown {
            self.unknown
                .insert((!ps.controller).then(|| ps.host.to_string()));
            return;
        }
        self.failures.push(what.clone());
        if ps.on_error.strategy == Strategy::Continue {
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

    /// Whether `ps` waits for a human's report of a step whose outcome is
    /// unknown (on its host, or a controller step's).
    pub(super) fn held(&self, ps: &PlanStep) -> bool {
        self.unknown.contains(&None)
            || (!ps.controller && self.unknown.contains(&Some(ps.host.to_string())))
    }

    /// Why `ps` will not start any more (its host or the whole run was
    /// stopped by a failure), if it will not.
    pub(super) fn cancelled(&self, ps: &PlanStep) -> Option<&str> {
        self.run_stopped.as_deref().or_else(|| {
            (!ps.controller)
                .then(|| self.host_stopped.get(ps.host.as_str()).map(String::as_str))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_model::{Actor, Dependency, Name, OnError};

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    /// Step `step` on `host` (`controller` for the control host), after
    /// `deps`.
    fn entry(step: &str, host: &str, deps: &[(&str, DepKind)]) -> PlanStep {
        PlanStep {
            step: name(step),
            host: name(host),
            cmd: "true".into(),
            idempotent: false,
            depends_on: deps
                .iter()
                .map(|(s, kind)| Dependency {
                    step: name(s),
                    kind: *kind,
                })
                .collect(),
            on_error: OnError::default(),
            timeout_secs: None,
            actor: Actor::default(),
            controller: host == "controller",
            max_parallel: None,
            check: None,
            bar: None,
        }
    }

    fn stop_on_error(mut ps: PlanStep) -> PlanStep {
        ps.on_error.strategy = Strategy::Stop;
        ps
    }

    #[test]
    fn hosts_run_in_order_and_controller_steps_fence_them() {
        let steps = [
            entry("a", "h1", &[]),
            entry("a", "h2", &[]),
            entry("b", "h1", &[]),
            entry("gate", "controller", &[]),
            entry("c", "h1", &[]),
            entry("c", "h2", &[]),
        ];
        assert_eq!(
            sequence(&steps),
            vec![vec![], vec![], vec![0], vec![0, 1, 2], vec![3], vec![3],]
        );
    }

    #[test]
    fn dependencies_stand_for_the_same_host_or_every_host() {
        let steps = [
            entry("a", "h1", &[]),
            entry("a", "h2", &[]),
            entry("b", "h2", &[("a", DepKind::OnSuccess)]),
            entry("all", "controller", &[("a", DepKind::Always)]),
            entry("c", "h1", &[("missing", DepKind::Always)]),
        ];
        let deps = dependency_entries(&steps);
        assert!(deps[0].is_empty());
        assert_eq!(deps[2], vec![(DepKind::OnSuccess, "a".into(), vec![1])]);
        assert_eq!(deps[3], vec![(DepKind::Always, "a".into(), vec![0, 1])]);
        assert_eq!(deps[4], vec![(DepKind::Always, "missing".into(), vec![])]);
    }

    #[test]
    fn readiness_follows_the_dependency_kind() {
        let steps = [
            entry("a", "h1", &[]),
            entry("ok", "h1", &[("a", DepKind::OnSuccess)]),
            entry("fix", "h1", &[("a", DepKind::OnFailure)]),
            entry("then", "h1", &[("a", DepKind::Always)]),
        ];
        let deps = dependency_entries(&steps);
        let mut slots = vec![Slot::Pending; 4];
        assert!(matches!(readiness(&steps, &deps[1], &slots), Ready::NotYet));
        slots[0] = Slot::Running(1);
        assert!(matches!(readiness(&steps, &deps[3], &slots), Ready::NotYet));
        slots[0] = Slot::Done(StepStatus::Failed);
        match readiness(&steps, &deps[1], &slots) {
            Ready::Skip(why) => {
                assert_eq!(why, "skipped: it runs when it succeeds: `a`, which failed");
            }
            _ => panic!("an on_success step after a failure is skipped"),
        }
        assert!(matches!(readiness(&steps, &deps[2], &slots), Ready::Go));
        assert!(matches!(readiness(&steps, &deps[3], &slots), Ready::Go));
        slots[0] = Slot::Done(StepStatus::Succeeded);
        assert!(matches!(readiness(&steps, &deps[1], &slots), Ready::Go));
        assert!(matches!(
            readiness(&steps, &deps[2], &slots),
            Ready::Skip(_)
        ));
    }

    #[test]
    fn a_dependency_on_no_entry_only_holds_vacuously() {
        let steps = [
            entry("c", "h1", &[("missing", DepKind::OnSuccess)]),
            entry("d", "h1", &[("missing", DepKind::OnFailure)]),
        ];
        let deps = dependency_entries(&steps);
        let slots = [Slot::Pending; 2];
        assert!(matches!(readiness(&steps, &deps[0], &slots), Ready::Go));
        match readiness(&steps, &deps[1], &slots) {
            Ready::Skip(why) => assert!(why.ends_with("which did not run"), "{why}"),
            _ => panic!("nothing failed: skipped"),
        }
    }

    #[test]
    fn continue_failures_cancel_nothing() {
        let mut ps = entry("a", "h1", &[]);
        ps.on_error.strategy = Strategy::Continue;
        let mut acct = Accounting::default();
        acct.failed(&ps, 0, false);
        assert_eq!(acct.failures, vec!["step `a` on `h1`".to_string()]);
        assert_eq!(acct.cancelled(&entry("b", "h1", &[])), None);
        // An unknown outcome holds its host whatever the strategy: what is
        // left there waits for a report, neither cancelled nor run.
        acct.failed(&ps, 1, true);
        assert_eq!(acct.cancelled(&entry("b", "h1", &[])), None);
        assert!(acct.held(&entry("b", "h1", &[])));
        assert!(!acct.held(&entry("b", "h2", &[])));
        let mut c = entry("c", "ctl", &[]);
        c.controller = true;
        acct.failed(&c, 1, true);
        assert!(
            acct.held(&entry("b", "h2", &[])),
            "a controller step holds the run"
        );
    }

    #[test]
    fn stop_failures_cancel_their_host_until_max_fail_then_the_run() {
        let mut acct = Accounting::default();
        acct.failed(&stop_on_error(entry("a", "h1", &[])), 1, false);
        assert_eq!(
            acct.cancelled(&entry("b", "h1", &[])),
            Some("step `a` on `h1` failed")
        );
        assert_eq!(acct.cancelled(&entry("b", "h2", &[])), None);
        assert_eq!(acct.run_stopped, None);
        acct.failed(&stop_on_error(entry("a", "h2", &[])), 1, false);
        assert_eq!(
            acct.cancelled(&entry("b", "h3", &[])),
            Some("2 hosts failed (h1, h2), over max_fail = 1")
        );
    }

    #[test]
    fn a_failed_controller_step_stops_the_run() {
        let mut acct = Accounting::default();
        acct.failed(&stop_on_error(entry("gate", "controller", &[])), 5, false);
        assert_eq!(
            acct.cancelled(&entry("b", "h9", &[])),
            Some("step `gate` on `controller` failed")
        );
    }
}
