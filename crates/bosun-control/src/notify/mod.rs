//! Consent reminders: what waits on a human (an op waiting for approval or
//! for a human step's report, an active blocker) is reminded on a ladder
//! (default: at once, +1h, +6h, +1d, then daily) through the sinks of
//! `bosun.toml`'s `[notify]`: the log, a webhook (JSON POST) and ntfy.
//!
//! Each wait (`op:<jti>:approval`, `op:<jti>:step:<idx>`, `blocker:<id>`,
//! `installable:<host>:<job>`: a kernel built for a host and not installed,
//! [`crate::kernel_wait`]) keeps how many reminders went
//! out and when; rung `n` is due at the start of the wait plus the ladder's
//! `n`-th offset, and after the ladder every `repeat`. A snooze (`bosun
//! snooze`) mutes a subject until it ends; a blocker's snooze never lifts
//! what it halts. A reminder counts as sent once it was offered to every
//! sink; a sink that fails is reported, not retried until the next rung.
//!
//! Sinks are implementations of [`NotifySink`] (`sink`): the log, a
//! webhook, ntfy; a new channel is a new implementation and one arm in
//! [`sinks_of`].

use std::time::Duration;

use bosun_api::NextAction;
use bosun_model::OpState;
use bosun_store::ReminderRow;
use serde::Serialize;

mod sink;

pub use sink::{Log, NotifySink, Ntfy, SinkError, Webhook, sinks_of};

use crate::{Control, Result};

/// How a face spells a [`NextAction`] for a person (the CLI: as a command
/// line). Sinks send reminders to people, so they take the face's words.
pub type Spell = dyn Fn(&NextAction) -> String + Sync;

/// One reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// `op:<jti>:approval`, `op:<jti>:step:<idx>`, `blocker:<id>` or
    /// `installable:<host>:<job>`.
    pub subject: String,
    /// Which reminder this is (1: the first).
    pub n: u32,
    /// One line: what waits.
    pub title: String,
    /// What ends the wait.
    pub next: Vec<NextAction>,
    /// What ends the wait in the words of the blocker kind's route, for a
    /// blocker of a kind in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Who is asked (a role or an owner).
    pub to: String,
    /// Since when it waits (Unix seconds).
    pub since: i64,
    /// The op, when the subject is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What one sink did with one reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// `log`, `webhook` or `ntfy`.
    pub sink: String,
    /// `None` when delivered, else why not.
    pub error: Option<String>,
}

/// Longest a sink may take to answer.
pub const SINK_TIMEOUT: Duration = Duration::from_secs(10);

/// When rung `n` (0-based) of a wait that began at `since` is due.
pub fn due_at(ladder: &[i64], repeat: i64, since: i64, n: u32, last_at: i64) -> i64 {
    match usize::try_from(n).ok().and_then(|i| ladder.get(i)) {
        Some(off) => since.saturating_add(*off),
        None => last_at.saturating_add(repeat.max(60)),
    }
}

impl Control {
    /// Everything that waits on a human now, whether due or not.
    pub fn waiting_on_humans(&self) -> Result<Vec<Reminder>> {
        let mut out = Vec::new();
        for o in self
            .store
            .list_ops(Some(OpState::PendingApproval), usize::MAX)?
        {
            out.push(Reminder {
                subject: format!("op:{}:approval", o.jti),
                n: 0,
                title: format!(
                    "op {} ({} on {} host(s), by {}) waits for approval",
                    o.jti, o.runbook, o.targets, o.iss
                ),
                next: vec![NextAction::Approve {
                    op: o.jti.to_string(),
                }],
                route: None,
                to: "operator".into(),
                since: o.created_at,
                jti: Some(o.jti.to_string()),
            });
        }
        for o in self.store.list_ops(Some(OpState::Running), usize::MAX)? {
            let Some(rec) = self.store.op(&o.jti)? else {
                continue;
            };
            if let Some(s) = rec
                .steps
                .iter()
                .find(|s| s.status == bosun_store::StepStatus::Waiting)
            {
                out.push(Reminder {
                    subject: format!("op:{}:step:{}", o.jti, s.idx),
                    n: 0,
                    title: format!(
                        "op {} ({}) waits for a human to report step `{}` on `{}`",
                        o.jti, o.runbook, s.step, s.host
                    ),
                    next: vec![NextAction::ReportStep {
                        op: o.jti.to_string(),
                        step: Some(s.step.clone()),
                        host: Some(s.host.clone()),
                    }],
                    route: None,
                    to: "operator".into(),
                    since: s.started_at,
                    jti: Some(o.jti.to_string()),
                });
            }
        }
        let kinds = self.blocker_kinds().ok();
        for b in self.store.blockers(false)? {
            let k = kinds.as_ref().and_then(|k| k.get(&b.kind));
            out.push(Reminder {
                subject: format!("blocker:{}", b.id),
                n: 0,
                title: format!(
                    "blocker {} ({} on `{}`) halts {}: {}",
                    b.id,
                    b.kind,
                    b.subject,
                    k.map_or("every change to its subject", |k| k.description.as_str()),
                    b.reason
                ),
                next: vec![crate::views::blocker_next(&b)],
                route: k.map(|k| k.next_for(b.id, &b.subject)),
                to: b.owner.clone(),
                since: b.since,
                jti: b.op.clone(),
            });
        }
        // A kernel built and signed for a host waits for a human to
        // install it (a job record that does not parse is skipped there).
        out.extend(self.installable()?.into_iter().map(|w| Reminder {
            subject: format!("installable:{}:{}", w.host, w.job),
            n: 0,
            title: format!(
                "host {}: kernel {} {} (job {}) is built and signed; it waits for a human to install it",
                w.host, w.pkgbase, w.version, w.job
            ),
            next: vec![NextAction::KernelInstall { host: w.host }],
            route: None,
            to: "operator".into(),
            since: w.since,
            jti: None,
        }));
        Ok(out)
    }

    /// The reminders due at `now` (not snoozed), numbered.
    pub fn reminders_due(&self, now: i64) -> Result<Vec<Reminder>> {
        let (ladder, repeat) = self.ws.config.notify.schedule();
        let rows: std::collections::HashMap<String, ReminderRow> = self
            .store
            .reminders()?
            .into_iter()
            .map(|r| (r.subject.clone(), r))
            .collect();
        let snoozed_blockers: std::collections::HashMap<String, i64> = self
            .store
            .blockers(false)?
            .into_iter()
            .map(|b| (format!("blocker:{}", b.id), b.snoozed_until))
            .collect();
        let min_gap = ladder
            .windows(2)
            .map(|w| w[1] - w[0])
            .chain([repeat, 60])
            .filter(|g| *g > 0)
            .min()
            .unwrap_or(60);
        let mut due = Vec::new();
        for mut r in self.waiting_on_humans()? {
            let row = rows.get(&r.subject).cloned().unwrap_or_default();
            let muted = row
                .snoozed_until
                .max(snoozed_blockers.get(&r.subject).copied().unwrap_or(0));
            if muted > now {
                continue;
            }
            // Never closer together than the ladder's closest rungs (and
            // at most a minute): two passes, or a pass and a cron run, do
            // not send the same rung twice.
            if row.last_at > 0 && now - row.last_at < min_gap {
                continue;
            }
            if due_at(&ladder, repeat, r.since, row.sent, row.last_at) <= now {
                // A wait that began long ago (or was snoozed, or no
                // controller ran) gets one reminder at the highest rung due,
                // not a burst of the rungs it missed.
                let mut k = row.sent;
                while usize::try_from(k + 1)
                    .ok()
                    .and_then(|i| ladder.get(i))
                    .is_some_and(|off| r.since.saturating_add(*off) <= now)
                {
                    k += 1;
                }
                r.n = k + 1;
                due.push(r);
            }
        }
        Ok(due)
    }

    /// Sends every reminder due at `now` to every sink, with its next
    /// actions spelled by `spell`, and records it. Returns what was sent
    /// and what each sink did.
    pub fn remind(&self, now: i64, spell: &Spell) -> Result<Vec<(Reminder, Vec<Delivery>)>> {
        let due = self.reminders_due(now)?;
        let mut out = Vec::with_capacity(due.len());
        if due.is_empty() {
            return Ok(out);
        }
        let sinks = sinks_of(&self.ws.config.notify.sink);
        let ws = &self.ws.config.name;
        // A sink that failed (or timed out) is skipped for the rest of the
        // pass: one dead webhook costs one timeout, not one per reminder.
        let mut dead = vec![false; sinks.len()];
        for r in due {
            let mut deliveries = Vec::new();
            for (i, s) in sinks.iter().enumerate() {
                let error = if dead[i] {
                    Some("skipped: it failed earlier in this pass".into())
                } else {
                    s.send(ws, &r, &next_text(&r, spell))
                        .err()
                        .map(|e| e.to_string())
                };
                dead[i] |= error.is_some();
                deliveries.push(Delivery {
                    sink: s.name().into(),
                    error,
                });
            }
            self.store
                .note_reminder(&r.subject, r.n, now, r.jti.as_deref())?;
            out.push((r, deliveries));
        }
        Ok(out)
    }
}

/// What ends the wait of `r`, in words: the route of its blocker kind,
/// then each action as `spell` writes it.
pub fn next_text(r: &Reminder, spell: &Spell) -> String {
    r.route
        .iter()
        .cloned()
        .chain(r.next.iter().map(spell))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_then_the_repeat() {
        let ladder = [0, 3600, 6 * 3600, 86_400];
        assert_eq!(due_at(&ladder, 86_400, 1000, 0, 0), 1000);
        assert_eq!(due_at(&ladder, 86_400, 1000, 1, 1000), 4600);
        assert_eq!(due_at(&ladder, 86_400, 1000, 3, 22_600), 87_400);
        // After the ladder: every `repeat` after the last one sent.
        assert_eq!(due_at(&ladder, 86_400, 1000, 4, 90_000), 176_400);
        assert_eq!(
            due_at(&ladder, 0, 1000, 9, 5000),
            5060,
            "at least a minute apart"
        );
    }
}
