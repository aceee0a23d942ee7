//! Plans: a runbook rendered against resolved targets, with a digest that
//! op envelopes and approvals bind to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::host::HostBinding;
use crate::ids::Name;

/// Who performs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The controller runs its command.
    #[default]
    #[serde(alias = "Agent")]
    Agent,
    /// A human does it and reports the result (`bosun step report`).
    #[serde(alias = "Human")]
    Human,
    /// Either.
    #[serde(alias = "Both")]
    Both,
}

/// When a dependent step runs, given how its dependency ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DepKind {
    /// Whatever the dependency's outcome (it must have ended).
    #[serde(alias = "Always")]
    Always,
    /// Only when the dependency succeeded.
    #[default]
    #[serde(alias = "OnSuccess")]
    OnSuccess,
    /// Only when the dependency failed.
    #[serde(alias = "OnFailure")]
    OnFailure,
}

/// A dependency on another step (on the same host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The step depended on.
    pub step: Name,
    /// When this step runs.
    #[serde(default)]
    pub kind: DepKind,
}

/// What a failed step does to the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Cancel what has not started; the run fails.
    #[default]
    #[serde(alias = "Stop")]
    Stop,
    /// Record the failure and let the rest run (its dependents decide).
    #[serde(alias = "Continue")]
    Continue,
    /// Run it again, up to `max` more times, waiting `backoff` between.
    #[serde(alias = "Retry")]
    Retry,
}

/// A step's error handling, as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OnError {
    /// The strategy.
    pub strategy: Strategy,
    /// Retries after the first attempt (for `retry`).
    pub max: u32,
    /// Seconds to wait before each retry.
    pub backoff_secs: u64,
}

/// One rendered step on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// The step id in the runbook.
    pub step: Name,
    /// The host it runs on.
    pub host: Name,
    /// The rendered command.
    pub cmd: String,
    /// Whether re-running it after an unknown outcome is safe.
    #[serde(default)]
    pub idempotent: bool,
    /// Steps (on the same host) that must end first, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// What a failure does.
    #[serde(default)]
    pub on_error: OnError,
    /// Kill it after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Who performs it. A step with no command (`cmd` empty) waits for a
    /// signed `bosun step report` from an identity this actor allows.
    #[serde(default)]
    pub actor: Actor,
    /// Runs once on the control host (`target = "controller"`) instead of
    /// on each target; `host` is then [`CONTROLLER_HOST`]. Its dependencies
    /// are that step on every target; each-host steps that depend on it
    /// wait for its one run.
    #[serde(default, skip_serializing_if = "is_false")]
    pub controller: bool,
    /// At most this many hosts run this step at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// The rendered read-only check command (`bosun plan --check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// A verification bar (a rollout wave's check after the host's
    /// change): how the command's result becomes pass, fail or
    /// inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar: Option<BarCheck>,
}

/// A verification bar as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarCheck {
    /// `heartbeat`, `version`, `file`, `probe` or `burn_in`.
    pub kind: String,
    /// The rendered expected value (`version`, `file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Seconds to hold before checking (`burn_in`), counted from the
    /// bar's recorded start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_secs: Option<u64>,
}

/// The verbs runbooks declare and blocker kinds halt (`*` in a kind: every
/// changing verb).
pub const VERBS: &[&str] = &[
    "*", "change", "install", "build", "promote", "sign", "rollback", "import", "read",
];

/// The host name a `target = "controller"` step is planned on.
pub const CONTROLLER_HOST: &str = "controller";

fn is_false(b: &bool) -> bool {
    !*b
}

impl PlanStep {
    /// Whether the controller waits for a human's report instead of
    /// running a command.
    pub fn needs_report(&self) -> bool {
        self.cmd.is_empty() && self.actor != Actor::Agent
    }
}

/// The dry run of a runbook: every step, host and command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The runbook's id.
    pub runbook: Name,
    /// Digest of the runbook definition the plan was made from.
    pub runbook_digest: Digest,
    /// The runbook only reads.
    pub read_only: bool,
    /// The runbook destroys data.
    pub destructive: bool,
    /// What kind of change it is (`install`, `build`, `promote`, …), for
    /// blockers; `None`: `change`, or `read` when read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// Resolved target hosts, in the order given.
    pub targets: Vec<Name>,
    /// Where and how each target runs its steps, as the inventory in force
    /// said when the plan was made: part of the digest, so an approval
    /// covers it, and the controller refuses to run the plan once the
    /// inventory says otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<Name, HostBinding>,
    /// Parameters, with defaults filled in.
    pub params: BTreeMap<String, String>,
    /// Rendered steps in execution order.
    pub steps: Vec<PlanStep>,
    /// At most this many steps of the run execute at once (all hosts
    /// together); `None` is the controller's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    /// Hosts that may fail (a `stop` failure ends that host's run) before
    /// nothing new starts on any host; `None` is 0: the first failed host
    /// cancels what has not started everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<u32>,
    /// A check plan: each step runs the runbook step's read-only `check`
    /// command (steps without one are left out), so the plan only reads.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check: bool,
}

impl Plan {
    /// The verb blockers judge: the runbook's, else `read` or `change`.
    pub fn verb(&self) -> &str {
        match &self.verb {
            Some(v) => v,
            None if self.read_only => "read",
            None => "change",
        }
    }

    /// The canonical digest: SHA-256 of the plan's canonical JSON.
    pub fn digest(&self) -> Digest {
        // A Plan holds only strings, bools and sequences: serialising it
        // cannot fail, but stay total rather than panic.
        Digest::of_json(self).unwrap_or_else(|e| Digest::of(e.to_string().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            runbook: Name::parse("df").unwrap(),
            runbook_digest: Digest::of(b"rb"),
            read_only: true,
            destructive: false,
            verb: None,
            targets: vec![Name::parse("h1").unwrap()],
            hosts: BTreeMap::new(),
            params: BTreeMap::new(),
            steps: vec![PlanStep {
                step: Name::parse("s").unwrap(),
                host: Name::parse("h1").unwrap(),
                cmd: "df -h".into(),
                idempotent: false,
                depends_on: vec![],
                on_error: OnError::default(),
                timeout_secs: None,
                actor: Actor::Agent,
                controller: false,
                max_parallel: None,
                check: None,
                bar: None,
            }],
            parallel: None,
            max_fail: None,
            check: false,
        }
    }

    #[test]
    fn digest_changes_with_any_field() {
        let a = plan();
        let mut b = plan();
        assert_eq!(a.digest(), b.digest());
        b.steps[0].cmd = "df -h /".into();
        assert_ne!(a.digest(), b.digest());
    }
}
