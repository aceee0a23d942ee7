//! Blockers in the pipeline: which active blockers hold an op (intake
//! reports them, the controller keeps the op queued while they are
//! active), and filing and resolving them.
//!
//! What a kind halts comes from the adopted blocker kinds
//! ([`crate::governed::Governed::blocker_kinds`]); see
//! [`bosun_fleet::blockers`] for the matching rules.

use bosun_fleet::blockers::{Kinds, OpView};
use bosun_model::Plan;
use bosun_store::{BlockerRow, NewBlocker};

use crate::{Control, Result};

/// An active blocker that holds an op, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    /// The blocker's number.
    pub id: u64,
    /// Its kind.
    pub kind: String,
    /// Its subject.
    pub subject: String,
    /// What the kind halts, in words.
    pub halts: String,
    /// The next command that usually clears it.
    pub next: String,
}

impl Hold {
    /// One line: `blocker 3 (regression on h1: installs to that host until triaged); next: …`.
    pub fn text(&self) -> String {
        let on = if self.subject.is_empty() {
            String::new()
        } else {
            format!(" on `{}`", self.subject)
        };
        let mut s = format!("blocker {} ({}{on}: {})", self.id, self.kind, self.halts);
        if !self.next.is_empty() {
            s.push_str(&format!("; next: {}", self.next));
        }
        s
    }
}

/// The active blockers among `active` that hold an op with `plan`.
pub fn holding(kinds: &Kinds, active: &[BlockerRow], plan: &Plan) -> Vec<Hold> {
    if active.is_empty() {
        return Vec::new();
    }
    let targets: Vec<String> = plan.targets.iter().map(|t| t.to_string()).collect();
    let view = OpView {
        verb: plan.verb(),
        read_only: plan.read_only,
        targets: &targets,
        params: &plan.params,
    };
    active
        .iter()
        // An unknown outcome holds its host through the run's lock, with
        // the step report that releases it in its message.
        .filter(|b| b.active() && b.kind != bosun_store::UNKNOWN_OUTCOME)
        .filter(|b| kinds.holds(&b.kind, &b.subject, &view))
        .map(|b| {
            let kind = kinds.get(&b.kind);
            Hold {
                id: b.id,
                kind: b.kind.clone(),
                subject: b.subject.clone(),
                halts: kind.map_or_else(
                    || "a kind not in force: every change to its subject".to_string(),
                    |k| k.description.clone(),
                ),
                next: kind.map_or_else(
                    || format!("look at blocker {}", b.id),
                    |k| k.next_for(b.id, &b.subject),
                ),
            }
        })
        .collect()
}

impl Control {
    /// The active blockers that hold an op with `plan` (none when no
    /// blocker is active; the kinds are only loaded when one is).
    pub fn holds(&self, kinds: Option<&Kinds>, plan: &Plan) -> Result<Vec<Hold>> {
        let active = self.store.blockers(false)?;
        if active.is_empty() {
            return Ok(Vec::new());
        }
        match kinds {
            Some(k) => Ok(holding(k, &active, plan)),
            None => Ok(holding(&self.blocker_kinds()?, &active, plan)),
        }
    }

    /// Files a blocker of a kind in force; an empty `owner` is the
    /// kind's owner.
    pub(crate) fn file_blocker(&self, kinds: &Kinds, mut b: NewBlocker) -> Result<u64> {
        let Some(k) = kinds.get(&b.kind) else {
            let known: Vec<&str> = kinds.kinds.iter().map(|k| k.name.as_str()).collect();
            return Err(crate::hinted(
                format!(
                    "no blocker kind `{}` is in force (known: {})",
                    b.kind,
                    known.join(", ")
                ),
                bosun_api::NextAction::BlockerKinds,
            ));
        };
        if b.subject.is_empty() && k.scope != bosun_fleet::blockers::Scope::Global {
            return Err(crate::ControlError::Other(format!(
                "a `{}` blocker needs a subject (a {})",
                b.kind,
                k.scope.as_str()
            )));
        }
        if matches!(
            k.scope,
            bosun_fleet::blockers::Scope::Host | bosun_fleet::blockers::Scope::BuildHost
        ) {
            let known = bosun_model::Name::parse(&b.subject)
                .ok()
                .and_then(|n| self.inventory_in_force().ok()?.0.get(&n).cloned());
            if known.is_none() {
                return Err(crate::ControlError::Other(format!(
                    "a `{}` blocker's subject is one host of fleet/hosts.toml; `{}` is not one",
                    b.kind, b.subject
                )));
            }
        }
        if b.owner.is_empty() {
            b.owner = k.owner.clone();
        }
        Ok(self.store.file_blocker(&b)?)
    }
}
