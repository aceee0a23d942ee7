//! Runbooks: step lists (DAGs once the engine lands) that operators and
//! agents describe in `runbooks/<id>.toml`, their validation, and planning:
//! rendering every step's command over the resolved target hosts into a
//! [`bosun_model::Plan`] whose digest envelopes and approvals bind to.
//!
//! This crate does no I/O: callers hand it file names and texts.
#![deny(missing_docs)]

pub use bosun_model::Actor;

pub mod def;
pub mod graph;
pub mod params;
pub mod plan;
pub mod template;

pub use def::{
    ErrorSpec, Format, Param, ParamType, Runbook, RunbookError, Step, StepTarget, find_cycle,
    parse_runbook, raw_places, topo_order,
};
pub use graph::{dot, mermaid};
pub use plan::{PlanError, check_plan, plan, render_for_host};
pub use template::{Mode, shell_quote};
