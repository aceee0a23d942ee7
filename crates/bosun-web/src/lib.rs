//! bosun's web dashboard pages, rendered on the server from the views
//! every face shows (`bosun-api`): the overview and an op as an approver
//! reads it, the sign-in page, and the stylesheet. Templates (minijinja,
//! HTML auto-escaped: nothing a user, an agent or a host wrote reaches the
//! page unescaped) and the stylesheet are compiled into the binary: no
//! build step, nothing loaded from another host.
//!
//! No I/O and no command text of its own: the daemon reads the views, and
//! how a next action is spelt as a command line comes from the CLI
//! ([`Commands`]), as it does for reminders.
#![deny(missing_docs)]

mod model;

use bosun_api::NextAction;
use bosun_api::views::{BlockerView, ConsentView, HostView, RolloutView, StatusView};
use minijinja::Environment;

pub use model::{Ago, ago};

/// The stylesheet, served at `/static/bosun.css`.
pub const STYLESHEET: &str = include_str!("../static/bosun.css");

/// The pages' one script, served at `/static/live.js`: on each change the
/// server announces (`/events`), the page fetches itself again and swaps
/// its `<main>`. Without it every page is whole as served.
pub const LIVE_JS: &str = include_str!("../static/live.js");

/// The passkey script, served at `/static/passkey.js`: registers a passkey
/// (`/passkeys`) and approves an op with one (its page), through the
/// browser's WebAuthn API. Without it, each form says what to run instead.
pub const PASSKEY_JS: &str = include_str!("../static/passkey.js");

/// The ledger page's script, served at `/static/ledger.js`: checks each
/// inclusion proof on the page in the browser (SHA-256 leaf and node
/// hashes up to the root, the checkpoint's Ed25519 signature with
/// WebCrypto against the ledger's published key) and says what it found.
pub const LEDGER_JS: &str = include_str!("../static/ledger.js");

/// The ledger page's facts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LedgerPage {
    /// The ledger's published verifier key (`name+id+key`), if any.
    pub vkey: Option<String>,
    /// Entries so far.
    pub size: u64,
    /// The newest checkpoints, newest first.
    pub checkpoints: Vec<CheckpointRow>,
    /// What was asked: an op's jti or an entry's index.
    pub query: Option<String>,
    /// The proofs of what was asked.
    pub proofs: Vec<ProofRow>,
    /// Why there are none, when asked.
    pub error: Option<String>,
}

/// A signed checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointRow {
    /// Tree size.
    pub size: u64,
    /// Root hash (base64).
    pub root: String,
    /// Signed at (Unix seconds).
    pub at: i64,
}

/// One entry with its inclusion proof, for the browser to check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProofRow {
    /// Leaf index.
    pub index: u64,
    /// The entry's kind (`op.approval`, …).
    pub kind: String,
    /// The entry, pretty-printed.
    pub pretty: String,
    /// The whole proof as JSON (entry, leaf hash, path, checkpoint).
    pub proof: String,
}

/// The passkeys page's facts: who is signed in and what they hold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasskeysPage {
    /// The signed-in identity.
    pub who: String,
    /// Its role.
    pub role: String,
    /// Whether this daemon takes passkeys (it has a web origin).
    pub enabled: bool,
    /// The origin passkeys are bound to.
    pub origin: Option<String>,
    /// Its passkeys: adopted, or registered and waiting for adoption.
    pub passkeys: Vec<PasskeyRow>,
    /// Where its passkeys are written (`keys/<who>.passkeys.json`).
    pub file: String,
}

/// One passkey on the passkeys page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasskeyRow {
    /// Its label.
    pub label: String,
    /// Its fingerprint (credential id and public key).
    pub fingerprint: String,
    /// Whether it is in the adopted key registry (else waiting).
    pub adopted: bool,
}

/// How the faces spell things the web does not write itself: a next
/// action as a command line, and how to get a read token.
pub struct Commands {
    /// A next action as the command line that takes it.
    pub command: Box<dyn Fn(&NextAction) -> String + Send + Sync>,
    /// The command that prints a read token (`… key token <you>`).
    pub token: String,
}

/// A page could not be rendered (a template error: a bug, not input).
#[derive(Debug, thiserror::Error)]
#[error("the {page} page: {source}")]
pub struct WebError {
    page: &'static str,
    #[source]
    source: minijinja::Error,
}

/// The pages, their templates loaded once.
pub struct Web {
    env: Environment<'static>,
    commands: Commands,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Web")
    }
}

impl Web {
    /// The pages, with `commands` for the command lines they show.
    pub fn new(commands: Commands) -> Result<Web, WebError> {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("../templates/base.html")),
            ("overview.html", include_str!("../templates/overview.html")),
            ("op.html", include_str!("../templates/op.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("missing.html", include_str!("../templates/missing.html")),
            ("hosts.html", include_str!("../templates/hosts.html")),
            ("blockers.html", include_str!("../templates/blockers.html")),
            ("rollouts.html", include_str!("../templates/rollouts.html")),
            ("rollout.html", include_str!("../templates/rollout.html")),
            ("passkeys.html", include_str!("../templates/passkeys.html")),
            ("ledger.html", include_str!("../templates/ledger.html")),
        ] {
            env.add_template(name, text)
                .map_err(|source| WebError { page: name, source })?;
        }
        Ok(Web { env, commands })
    }

    fn render(&self, page: &'static str, ctx: minijinja::Value) -> Result<String, WebError> {
        self.env
            .get_template(page)
            .and_then(|t| t.render(ctx))
            .map_err(|source| WebError { page, source })
    }

    /// The overview: what waits for a human first, then what needs
    /// attention, rollouts, blockers, the controller.
    pub fn overview(&self, s: &StatusView, now: jiff::Timestamp) -> Result<String, WebError> {
        let ctx = model::overview(s, now, &self.commands);
        self.render("overview.html", ctx)
    }

    /// One op as an approver reads it: claims, decision and its rules,
    /// approvals so far, holds, the plan host by host with every command,
    /// and the run's steps with their output.
    pub fn op(
        &self,
        workspace: &str,
        c: &ConsentView,
        now: jiff::Timestamp,
    ) -> Result<String, WebError> {
        self.op_for(workspace, c, now, None)
    }

    /// [`Self::op`] for a viewer who may approve with a passkey as
    /// `passkey_as`: a pending op gets an "approve with a passkey" button
    /// beside the command.
    pub fn op_for(
        &self,
        workspace: &str,
        c: &ConsentView,
        now: jiff::Timestamp,
        passkey_as: Option<&str>,
    ) -> Result<String, WebError> {
        let ctx = model::op(workspace, c, now, &self.commands, passkey_as);
        self.render("op.html", ctx)
    }

    /// The passkeys page: the signed-in operator's passkeys and the form
    /// that registers one.
    pub fn passkeys(&self, workspace: &str, p: &PasskeysPage) -> Result<String, WebError> {
        let adopt = (self.commands.command)(&NextAction::Adopt);
        let ctx = minijinja::context! {
            title => "passkeys",
            workspace => workspace,
            p => minijinja::Value::from(minijinja::value::Serde(p)),
            operator => p.role == "operator",
            adopt => adopt,
        };
        self.render("passkeys.html", ctx)
    }

    /// The ledger browser: checkpoints, and an op's entries (or one entry)
    /// with inclusion proofs the page checks in the browser.
    pub fn ledger(
        &self,
        workspace: &str,
        l: &LedgerPage,
        now: jiff::Timestamp,
    ) -> Result<String, WebError> {
        let checkpoints: Vec<minijinja::Value> = l
            .checkpoints
            .iter()
            .map(|c| {
                minijinja::context! { size => c.size, root => c.root.clone(), at => minijinja::Value::from(minijinja::value::Serde(&ago(jiff::Timestamp::from_second(c.at).unwrap_or_default(), now))) }
            })
            .collect();
        let ctx = minijinja::context! {
            title => "ledger",
            workspace => workspace,
            l => minijinja::Value::from(minijinja::value::Serde(l)),
            checkpoints => checkpoints,
        };
        self.render("ledger.html", ctx)
    }

    /// A next action as the command line that takes it.
    pub fn command(&self, n: &NextAction) -> String {
        (self.commands.command)(n)
    }

    /// The hosts table: last op, version, drift, pending, blockers.
    pub fn hosts(&self, workspace: &str, hosts: &[HostView]) -> Result<String, WebError> {
        self.hosts_selected(workspace, hosts, None, None)
    }

    /// [`Self::hosts`] for the hosts a selector chose (`tag:web
    /// !web-2`), shown in the filter's field, or the selector's error.
    pub fn hosts_selected(
        &self,
        workspace: &str,
        hosts: &[HostView],
        select: Option<&str>,
        error: Option<&str>,
    ) -> Result<String, WebError> {
        self.render("hosts.html", model::hosts(workspace, hosts, select, error))
    }

    /// The blocker board: kind, what it halts, subject, why, owner, since,
    /// state, what ends it (`all`: the resolved ones too).
    pub fn blockers(
        &self,
        workspace: &str,
        list: &[BlockerView],
        all: bool,
        now: jiff::Timestamp,
    ) -> Result<String, WebError> {
        let ctx = model::blockers(workspace, list, all, now, &self.commands);
        self.render("blockers.html", ctx)
    }

    /// Every rollout with its phase and where it stands.
    pub fn rollouts(&self, workspace: &str, list: &[RolloutView]) -> Result<String, WebError> {
        self.render("rollouts.html", model::rollouts(workspace, list))
    }

    /// One rollout wave by wave: its ops, the latest bars per host, what
    /// comes next.
    pub fn rollout(
        &self,
        workspace: &str,
        r: &RolloutView,
        now: jiff::Timestamp,
    ) -> Result<String, WebError> {
        let ctx = model::rollout(workspace, r, now, &self.commands);
        self.render("rollout.html", ctx)
    }

    /// The sign-in page (over TCP), with why the last try failed.
    pub fn login(&self, workspace: &str, error: Option<&str>) -> Result<String, WebError> {
        self.render(
            "login.html",
            minijinja::context! {
                title => "sign in",
                workspace => workspace,
                error => error,
                token_cmd => &self.commands.token,
            },
        )
    }

    /// A page for what is not there.
    pub fn missing(&self, workspace: &str, message: &str) -> Result<String, WebError> {
        self.render(
            "missing.html",
            minijinja::context! { title => "not found", workspace => workspace, message => message },
        )
    }
}

#[cfg(test)]
mod tests;
