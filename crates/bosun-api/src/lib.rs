//! The wire types every face of bosun stands on: what the CLI renders as
//! tables or JSON, what the HTTP API and MCP server will send, what the
//! dashboard will draw.
//!
//! - [`check::Check`] names the check that refused an input, and
//!   [`check::Rejection`] carries it with the message;
//! - [`next::NextAction`] says what a human or agent can do next, as data:
//!   the CLI turns it into a command line, a dashboard into a button;
//! - [`views`] are the read models: ops and their plans, the overview,
//!   rollouts, blockers, hosts, the ledger.
//!
//! Times are [`jiff::Timestamp`], serialised as RFC 3339 strings; there are
//! no tuples and no display strings in these types. [`schema::all`] gives
//! the JSON schema of every view, from which the documented JSON shapes are
//! generated.
#![deny(missing_docs)]

pub mod check;
pub mod next;
pub mod requests;
pub mod schema;
pub mod time;
pub mod views;

pub use check::{Check, Rejection};
pub use next::NextAction;
pub use time::Timestamp;
