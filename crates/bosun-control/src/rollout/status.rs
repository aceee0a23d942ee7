//! A rollout's status, derived from its ops' states and bar results (there
//! is no second copy of the truth), and what a human can do next: every
//! text that names a command lives here.

use bosun_api::NextAction;
use bosun_fleet::bars::Verdict;
use bosun_model::{Jti, OpState, RolloutAction};
use bosun_store::{OpRecord, StepStatus};
use serde::Serialize;

use super::document::{Doc, Phase, RunRef};
use crate::bars::parse_bar_line;
use crate::{Control, Result, now};

/// How one submitted op of a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RunStatus {
    /// Waiting for approvals.
    AwaitingApproval,
    /// Queued or running (possibly held by a blocker).
    InFlight {
        /// The op's state.
        state: OpState,
    },
    /// Every step and bar passed.
    Passed {
        /// Finished at (Unix seconds).
        finished_at: i64,
    },
    /// A bar failed (or a runbook step did): the rollout halts.
    Halted {
        /// What failed, in words.
        why: String,
    },
    /// A bar could not decide and nothing failed: a human decides.
    Paused {
        /// Which bar, in words.
        why: String,
    },
    /// Denied by the policy or a human.
    Denied,
    /// Recorded by the rollout, but intake never stored the op (a crash
    /// or a refusal in between): submit the wave again.
    NotSubmitted,
    /// An outcome is unknown: a human must look.
    NeedsAttention,
}

impl RunStatus {
    /// The status's name (`awaiting_approval`, `in_flight`, `passed`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::InFlight { .. } => "in_flight",
            RunStatus::Passed { .. } => "passed",
            RunStatus::Halted { .. } => "halted",
            RunStatus::Paused { .. } => "paused",
            RunStatus::Denied => "denied",
            RunStatus::NotSubmitted => "not_submitted",
            RunStatus::NeedsAttention => "needs_attention",
        }
    }
}

/// A bar result on one host, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BarResult {
    /// The host.
    pub host: String,
    /// The bar step (`bar-1-version`).
    pub bar: String,
    /// pass, fail or inconclusive.
    pub verdict: String,
    /// Why.
    pub why: String,
}

/// A rollout's derived status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The rollout id.
    pub id: String,
    /// Where it stands.
    pub phase: Phase,
    /// The waves: name, hosts selector.
    pub waves: Vec<(String, String)>,
    /// Each submitted op with its status, in order.
    pub runs: Vec<(RunRef, RunStatus)>,
    /// Bar results of the latest run.
    pub bars: Vec<BarResult>,
    /// Where it stands, in words (no commands).
    pub summary: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
    /// The version of the stored document (for optimistic writes).
    #[serde(skip)]
    pub version: u64,
}

/// How an op of a rollout stands, from its state and its bar steps (only
/// steps the plan marks as bars count as bars: a runbook step's output
/// cannot pass itself off as a verdict).
fn run_status(op: &OpRecord, accepted: bool) -> RunStatus {
    match op.summary.state {
        OpState::PendingApproval | OpState::Submitted => RunStatus::AwaitingApproval,
        OpState::Approved | OpState::Running => RunStatus::InFlight {
            state: op.summary.state,
        },
        OpState::Succeeded => RunStatus::Passed {
            finished_at: op.summary.updated_at,
        },
        OpState::Denied => RunStatus::Denied,
        OpState::NeedsAttention => RunStatus::NeedsAttention,
        OpState::Failed => {
            let mut failed = None;
            let mut paused = None;
            let mut step_failed = None;
            let skipped = !every_host_checked(op);
            for s in &op.steps {
                if s.status != StepStatus::Failed {
                    continue;
                }
                match parse_bar_line(&s.output).filter(|_| is_bar(op, s)) {
                    Some((kind, Verdict::Fail, why)) => {
                        failed.get_or_insert(format!("bar {kind} failed on `{}`: {why}", s.host));
                    }
                    Some((kind, Verdict::Inconclusive, why)) => {
                        paused.get_or_insert(format!(
                            "bar {kind} was inconclusive on `{}`: {why}",
                            s.host
                        ));
                    }
                    _ => {
                        step_failed
                            .get_or_insert(format!("step `{}` failed on `{}`", s.step, s.host));
                    }
                }
            }
            match (failed.or(step_failed), paused) {
                (Some(why), _) => RunStatus::Halted { why },
                // Accepting a pause covers the hosts that were checked,
                // never hosts the pause kept from being changed.
                (None, Some(_)) if accepted && !skipped => RunStatus::Passed {
                    finished_at: op.summary.updated_at,
                },
                (None, Some(why)) if skipped => RunStatus::Paused {
                    why: format!(
                        "{why} (some hosts were not changed or not checked: retry the wave to finish them)"
                    ),
                },
                (None, Some(why)) => RunStatus::Paused { why },
                (None, None) => RunStatus::Halted {
                    why: if op.detail.is_empty() {
                        "the op failed".into()
                    } else {
                        op.detail.clone()
                    },
                },
            }
        }
    }
}

/// Whether step result `s` is one of the op's bars (only those yield
/// verdicts; a runbook step's output cannot pass itself off as one).
pub(super) fn is_bar(op: &OpRecord, s: &bosun_store::StepResult) -> bool {
    usize::try_from(s.idx)
        .ok()
        .and_then(|i| op.plan.steps.get(i))
        .is_some_and(|p| p.bar.is_some())
}

/// Whether every host of the op was changed (one of its change steps ran)
/// and got a verdict from each of its bars: only then may an inconclusive
/// pause be accepted as a pass.
fn every_host_checked(op: &OpRecord) -> bool {
    let result = |i: usize| {
        op.steps
            .iter()
            .find(|s| usize::try_from(s.idx).ok() == Some(i))
    };
    op.plan.targets.iter().all(|h| {
        let mine: Vec<(usize, &bosun_model::PlanStep)> = op
            .plan
            .steps
            .iter()
            .enumerate()
            .filter(|(_, p)| &p.host == h)
            .collect();
        let changed = mine.iter().any(|(i, p)| {
            p.bar.is_none() && result(*i).is_some_and(|r| r.status != StepStatus::Skipped)
        });
        let checked = mine
            .iter()
            .filter(|(_, p)| p.bar.is_some())
            .all(|(i, _)| result(*i).is_some_and(|r| parse_bar_line(&r.output).is_some()));
        changed && checked
    })
}

impl Control {
    /// A rollout's status, derived from its ops.
    pub fn rollout_status(&self, id: &str) -> Result<Status> {
        let (doc, version) = self.rollout_doc(id)?;
        self.status_of(id, &doc, version)
    }

    /// The status of rollout `id` from its document at `version`.
    pub(super) fn status_of(&self, id: &str, doc: &Doc, version: u64) -> Result<Status> {
        let mut runs = Vec::new();
        let mut bars = Vec::new();
        for (i, r) in doc.runs.iter().enumerate() {
            let op = match Jti::try_from(r.op.clone()) {
                Ok(jti) => self.store.op(&jti)?,
                Err(_) => None,
            };
            let Some(op) = op else {
                runs.push((r.clone(), RunStatus::NotSubmitted));
                continue;
            };
            let accepted = doc.accepted_inconclusive.contains(&r.op);
            if i + 1 == doc.runs.len() {
                for s in &op.steps {
                    if let Some((_, v, why)) = parse_bar_line(&s.output).filter(|_| is_bar(&op, s))
                    {
                        bars.push(BarResult {
                            host: s.host.clone(),
                            bar: s.step.clone(),
                            verdict: v.as_str().into(),
                            why: why.into(),
                        });
                    }
                }
            }
            runs.push((r.clone(), run_status(&op, accepted)));
        }
        let mut st = Status {
            id: id.to_string(),
            phase: doc.phase,
            waves: doc
                .def
                .waves
                .iter()
                .map(|w| (w.name.clone(), w.hosts.clone()))
                .collect(),
            runs,
            bars,
            summary: String::new(),
            next: Vec::new(),
            version,
        };
        let (Ok(m) | Err(m)) = next_move(doc, &st);
        st.summary = m.summary;
        st.next = m.next;
        if doc.phase == Phase::RollingBack
            && matches!(st.runs.last(), Some((r, RunStatus::Passed { .. })) if r.action == RolloutAction::Rollback)
        {
            st.phase = Phase::RolledBack;
        }
        Ok(st)
    }
}

/// Where a rollout stands, in words without commands, and what can be
/// done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// Where it stands.
    pub summary: String,
    /// What can be done next.
    pub next: Vec<NextAction>,
}

fn moves(summary: impl Into<String>, next: Vec<NextAction>) -> Move {
    Move {
        summary: summary.into(),
        next,
    }
}

/// What may happen next: `Ok` when promotion is allowed now, `Err` (why
/// not, and what to do instead) otherwise.
pub(super) fn next_move(doc: &Doc, st: &Status) -> std::result::Result<Move, Move> {
    let rollout = doc.def.id.to_string();
    let start = || NextAction::RolloutStart {
        rollout: rollout.clone(),
    };
    let retry = || NextAction::RolloutRetry {
        rollout: rollout.clone(),
    };
    let abort = || NextAction::RolloutAbort {
        rollout: rollout.clone(),
    };
    let promote = |accept_inconclusive| NextAction::RolloutPromote {
        rollout: rollout.clone(),
        accept_inconclusive,
    };
    match doc.phase {
        Phase::Aborted => {
            return Err(moves(
                format!("aborted ({}); starting it again starts it over", doc.note),
                vec![start()],
            ));
        }
        Phase::Done => return Err(moves("done: every wave passed", Vec::new())),
        Phase::RolledBack => return Err(moves("rolled back", vec![start()])),
        Phase::RollingBack => {
            return Err(match st.runs.last() {
                Some((r, RunStatus::Passed { .. })) if r.action == RolloutAction::Rollback => {
                    moves(
                        "rolled back; starting it again starts it over",
                        vec![start()],
                    )
                }
                Some((r, s)) => moves(
                    format!("rollback op {}: {}", r.op, status_words(s)),
                    vec![match s {
                        RunStatus::AwaitingApproval => NextAction::Approve { op: r.op.clone() },
                        _ => NextAction::ShowOp { op: r.op.clone() },
                    }],
                ),
                None => moves("rolling back", Vec::new()),
            });
        }
        Phase::Active => {}
    }
    let Some((last, status)) = st.runs.last() else {
        return Err(moves("nothing submitted yet", vec![retry()]));
    };
    let wave_name = |w: u32| {
        usize::try_from(w)
            .ok()
            .and_then(|i| doc.def.wave(i))
            .map_or("?", |w| w.name.as_str())
            .to_string()
    };
    let op = || last.op.clone();
    match (last.action, status) {
        (_, RunStatus::AwaitingApproval) => Err(moves(
            format!(
                "wave `{}` ({}) waits for approval",
                wave_name(last.wave),
                last.action.as_str()
            ),
            vec![NextAction::Approve { op: op() }],
        )),
        (_, RunStatus::InFlight { state }) => Err(moves(
            format!(
                "wave `{}` ({}) is {state}",
                wave_name(last.wave),
                last.action.as_str()
            ),
            vec![NextAction::ShowOp { op: op() }],
        )),
        (_, RunStatus::Halted { why }) => Err(moves(
            format!("HALTED: {why}. Roll back, or fix it and retry, or abort"),
            vec![
                NextAction::RolloutRollback {
                    rollout: rollout.clone(),
                },
                retry(),
                abort(),
            ],
        )),
        (_, RunStatus::Paused { why }) => Err(moves(
            format!(
                "PAUSED: {why}. Decide: accept the inconclusive bar and promote (an operator), retry, or abort"
            ),
            vec![promote(true), retry(), abort()],
        )),
        (_, RunStatus::Denied | RunStatus::NotSubmitted) => Err(moves(
            format!("op {} was {}", last.op, status_words(status)),
            vec![retry(), abort()],
        )),
        (_, RunStatus::NeedsAttention) => Err(moves(
            format!("op {} needs attention (an outcome is unknown)", last.op),
            vec![NextAction::ShowOp { op: op() }],
        )),
        (RolloutAction::Drill, RunStatus::Passed { .. }) => Err(moves(
            "the rollback drill passed; the canary is rolled back: re-apply it",
            vec![retry()],
        )),
        (RolloutAction::Rollback, RunStatus::Passed { .. }) => {
            Err(moves("rolled back", vec![start()]))
        }
        (RolloutAction::Apply, RunStatus::Passed { finished_at }) => {
            let wave = usize::try_from(last.wave).unwrap_or(usize::MAX);
            let Some(w) = doc.def.wave(wave) else {
                return Err(moves("unknown wave", Vec::new()));
            };
            let bake_left = finished_at
                .saturating_add(w.bake_secs())
                .saturating_sub(now());
            if bake_left > 0 {
                return Err(moves(
                    format!(
                        "wave `{}` passed and bakes for {bake_left}s more; then it can be promoted",
                        w.name
                    ),
                    vec![promote(false)],
                ));
            }
            if doc.def.require_rollback_drill
                && !st.runs.iter().any(|(r, s)| {
                    r.action == RolloutAction::Drill && matches!(s, RunStatus::Passed { .. })
                })
            {
                return Err(moves(
                    format!(
                        "wave `{}` passed, but this rollout requires a rollback drill on the canary first",
                        w.name
                    ),
                    vec![NextAction::RolloutDrill {
                        rollout: rollout.clone(),
                    }],
                ));
            }
            match doc.def.wave(wave + 1) {
                Some(next) => Ok(moves(
                    format!(
                        "wave `{}` passed: promoting submits wave `{}` ({})",
                        w.name, next.name, next.hosts
                    ),
                    vec![promote(false)],
                )),
                None => Ok(moves(
                    format!(
                        "the last wave `{}` passed: promoting marks the rollout done",
                        w.name
                    ),
                    vec![promote(false)],
                )),
            }
        }
    }
}

/// A run status in a few words.
pub fn status_words(s: &RunStatus) -> String {
    match s {
        RunStatus::AwaitingApproval => "awaiting approval".into(),
        RunStatus::InFlight { state } => state.to_string(),
        RunStatus::Passed { .. } => "passed".into(),
        RunStatus::Halted { why } => format!("HALTED: {why}"),
        RunStatus::Paused { why } => format!("PAUSED: {why}"),
        RunStatus::Denied => "denied".into(),
        RunStatus::NotSubmitted => "not submitted".into(),
        RunStatus::NeedsAttention => "needs attention".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::fixture;

    fn doc(runs: &[(RunRef, RunStatus)]) -> (Doc, Status) {
        let doc = fixture::doc(runs.iter().map(|(r, _)| r.clone()).collect(), Phase::Active);
        let st = Status {
            id: "k71".into(),
            phase: Phase::Active,
            waves: Vec::new(),
            runs: runs.to_vec(),
            bars: Vec::new(),
            summary: String::new(),
            next: Vec::new(),
            version: 1,
        };
        (doc, st)
    }

    fn run(op: &str, action: RolloutAction) -> RunRef {
        fixture::run(op, action, 0)
    }

    #[test]
    fn a_passed_canary_needs_its_drill_before_promotion() {
        let passed = RunStatus::Passed { finished_at: 0 };
        let (d, st) = doc(&[(run("op1", RolloutAction::Apply), passed.clone())]);
        let why = next_move(&d, &st).unwrap_err();
        assert!(why.summary.contains("requires a rollback drill"), "{why:?}");
        assert_eq!(
            why.next,
            vec![NextAction::RolloutDrill {
                rollout: "k71".into()
            }]
        );
        let (d, st) = doc(&[
            (run("op1", RolloutAction::Apply), passed.clone()),
            (run("op2", RolloutAction::Drill), passed.clone()),
            (run("op3", RolloutAction::Apply), passed),
        ]);
        let next = next_move(&d, &st).unwrap();
        assert!(next.summary.contains("submits wave `rest`"), "{next:?}");
    }

    #[test]
    fn a_halted_or_waiting_wave_says_what_to_do() {
        let halted = RunStatus::Halted {
            why: "bar version failed on `lab-a`".into(),
        };
        let (d, st) = doc(&[(run("op1", RolloutAction::Apply), halted)]);
        assert!(
            next_move(&d, &st)
                .unwrap_err()
                .summary
                .starts_with("HALTED: bar version")
        );
        let (d, st) = doc(&[(
            run("op1", RolloutAction::Apply),
            RunStatus::AwaitingApproval,
        )]);
        assert!(
            next_move(&d, &st)
                .unwrap_err()
                .next
                .contains(&NextAction::Approve { op: "op1".into() })
        );
        let (d, st) = doc(&[]);
        assert!(
            next_move(&d, &st)
                .unwrap_err()
                .summary
                .starts_with("nothing submitted yet")
        );
    }

    #[test]
    fn status_words_are_short() {
        assert_eq!(status_words(&RunStatus::NotSubmitted), "not submitted");
        let paused = RunStatus::Paused { why: "x".into() };
        assert_eq!(status_words(&paused), "PAUSED: x");
    }
}
