//! The seam between the MCP tools and bosun: the few synchronous calls the
//! tools make ([`Core`]), with what they return and how they fail
//! ([`Fault`]). [`crate::Embedded`] implements it over a workspace opened
//! in this process: `bosun mcp`'s, or the daemon's own (its `/mcp` serves
//! these tools over one `Embedded` per agent). A client of the daemon's
//! HTTP API can implement it too.
//!
//! Every call that changes state is signed by the agent the implementation
//! was started for, on its side; no call here can approve, deny, adopt,
//! resolve or resume anything.

use std::collections::BTreeMap;

use bosun_api::views::ReportOutcome;
use bosun_api::views::fleet::{BlockerView, HostView, RolloutView};
use bosun_api::views::ops::{OpBrief, OpView};
use bosun_api::views::{KernelStatusView, PlannedOp, PromotePreviewView, RunbookEntry};
use bosun_api::{Check, NextAction, Rejection};
use bosun_control::ControlError;
use bosun_model::{KeyId, Name, OpState, ReportStatus};
use serde::Serialize;

/// Why a call did not answer: a check refused the input (the pipeline's
/// own refusals and the edge's validation of arguments), or something
/// else went wrong, in words, with what could be done about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fault {
    /// A check refused the input; nothing changed.
    #[error("refused by the `{}` check: {}", .0.check, .0.message)]
    Refused(Rejection),
    /// Not a verdict on the input: a store, workspace or key problem.
    #[error("{message}")]
    Failed {
        /// What happened.
        message: String,
        /// What can be done about it.
        next: Vec<NextAction>,
    },
}

impl Fault {
    /// A refusal by `check`, about no particular op.
    pub fn refused(check: Check, message: impl Into<String>) -> Fault {
        Fault::Refused(Rejection {
            check,
            message: message.into(),
            jti: None,
        })
    }

    /// A failure in words, with nothing specific to do.
    pub fn failed(message: impl Into<String>) -> Fault {
        Fault::Failed {
            message: message.into(),
            next: Vec::new(),
        }
    }
}

impl From<ControlError> for Fault {
    fn from(e: ControlError) -> Fault {
        Fault::Failed {
            message: e.to_string(),
            next: e.next(),
        }
    }
}

impl From<Rejection> for Fault {
    fn from(r: Rejection) -> Fault {
        Fault::Refused(r)
    }
}

/// A runbook over hosts with params: what `plan` shows and `submit` signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// The runbook's id.
    pub runbook: Name,
    /// Target selectors: names, `*` globs, `tag:x`, `arch:a`, `!…`.
    pub targets: Vec<String>,
    /// The runbook's params, as text.
    pub params: BTreeMap<String, String>,
}

/// What intake did with a submitted op (what the CLI's `submit --json`
/// prints).
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    /// The op's jti.
    pub jti: String,
    /// `auto`, `approvals` or `deny`.
    pub decision: String,
    /// Where the op stands.
    pub state: OpState,
    /// The policies that decided.
    pub policy_ids: Vec<String>,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// A report of how a step without a command went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The op's jti, or an unambiguous prefix of it.
    pub op: String,
    /// The step.
    pub step: Name,
    /// Only this host's step (default: every host waiting on it).
    pub host: Option<Name>,
    /// Pass or fail.
    pub status: ReportStatus,
    /// What to record with it.
    pub note: Option<String>,
}

/// What a halt did (what the CLI's `halt --json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct Halted {
    /// Always true: the fleet is halted.
    pub halted: bool,
    /// Why, as given.
    pub why: String,
    /// The verified signer.
    pub by: String,
    /// Ops running when the halt came: their running step finishes, then
    /// they pause.
    pub in_flight: Vec<OpBrief>,
}

/// The calls the MCP tools make. Synchronous: the tools run them on
/// tokio's blocking pool, a few at a time.
pub trait Core: Send + Sync + 'static {
    /// The agent this implementation signs as.
    fn agent(&self) -> &KeyId;
    /// The hosts of the inventory in force, with what bosun knows of each.
    fn hosts(&self) -> Result<Vec<HostView>, Fault>;
    /// The runbook catalog.
    fn runbooks(&self) -> Result<Vec<RunbookEntry>, Fault>;
    /// One runbook's definition, parsed.
    fn runbook(&self, id: &Name) -> Result<serde_json::Value, Fault>;
    /// The plan of a runbook over hosts, as the API's `POST /plan`
    /// answers it; nothing runs.
    fn plan(&self, req: &PlanRequest) -> Result<PlannedOp, Fault>;
    /// Plans, signs as [`Core::agent`] and hands the op to intake.
    fn submit(&self, req: &PlanRequest) -> Result<Submitted, Fault>;
    /// One op (by jti or an unambiguous prefix of at least 6 characters).
    fn op(&self, op: &str) -> Result<OpView, Fault>;
    /// The newest ops, of one state when given.
    fn ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpBrief>, Fault>;
    /// Signs a step report as [`Core::agent`] and hands it over.
    fn report_step(&self, report: &StepReport) -> Result<ReportOutcome, Fault>;
    /// The blockers (`all`: resolved ones too).
    fn blockers(&self, all: bool) -> Result<Vec<BlockerView>, Fault>;
    /// A rollout, wave by wave.
    fn rollout(&self, id: &Name) -> Result<RolloutView, Fault>;
    /// Each host with a kernel manifest, at a glance.
    fn kernel_status(&self) -> Result<KernelStatusView, Fault>;
    /// What promoting `host` would produce, and the op that would do it.
    fn kernel_promote(&self, host: &Name) -> Result<PromotePreviewView, Fault>;
    /// The build op of `host`'s promoted lock.
    fn kernel_build(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault>;
    /// The kernel build jobs, newest first.
    fn kernel_jobs(&self) -> Result<bosun_api::views::KernelJobsView, Fault>;
    /// The install op of `host`'s newest published build.
    fn kernel_install(&self, host: &Name) -> Result<bosun_api::views::KernelOpView, Fault>;
    /// `host`'s series applied patch by patch to the configured baseline
    /// checkout (`[kernel.baselines]`).
    fn kernel_check(&self, host: &Name) -> Result<bosun_api::views::PatchCheckView, Fault>;
    /// Signs, as [`Core::agent`], an import of `files` (name, bytes) into
    /// `patches/<scope>/<campaign>/` and hands it over with them.
    fn patches_import(
        &self,
        campaign: &str,
        scope: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<bosun_api::views::KernelChangeView, Fault>;
    /// The inclusion proofs of an op's ledger entries against the newest
    /// checkpoint.
    fn prove(&self, op: &str) -> Result<serde_json::Value, Fault>;
    /// Signs a halt as [`Core::agent`] and hands it over.
    fn halt(&self, why: &str) -> Result<Halted, Fault>;
}
