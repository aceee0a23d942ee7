//! `bosun rollout`: canary-first rollouts — start, status, promote, retry,
//! drill, rollback, abort.

use std::process::ExitCode;

use bosun_api::views::RolloutView;
use bosun_api::views::fleet::RolloutRunView;
use bosun_client::Remote;
use bosun_control::{Control, Result, client};
use bosun_model::{Act, KeyId, Name};
use bosun_sign::KeyDir;
use clap::Subcommand;

use super::rollout_submit::report;
use super::{Ctx, answered, key_id, other, statement};
use crate::output::{Listing, table};

/// The long help of `bosun rollout`: enough to run one without being told.
pub const ROLLOUT_HELP: &str = "Roll a change out canary first, wave by wave.

A rollout is a file, rollouts/<id>.toml: the runbook and its params, the
rollback runbook, and [[waves]] in order (the first is the canary), each
with its hosts, max_parallel, max_fail, bake time and bars (heartbeat,
version, file, probe, burn_in) checked on every host after its change.

Each wave is an op of its own: `start` and `promote` print its jti, and
`bosun approve <jti> --as <operator>` lets it run. Every wave after the
canary needs a human, whatever the policy says, unless policy/keeper.toml
sets `allow_auto_promotion = true` (which `bosun policy lint` warns about).

The usual story:
  bosun rollout start k71 --as alice      # submits the canary wave
  bosun approve <jti> --as bob            # if the policy wants a human
  bosun rollout status k71                # bars per host, and what to do next
  bosun rollout drill k71 --as alice      # if require_rollback_drill: roll the canary back …
  bosun rollout retry k71 --as alice      # … and re-apply it
  bosun rollout promote k71 --as alice    # the next wave (after its bake time)
  bosun rollout rollback k71 --as alice   # a bar failed: undo every host changed
  bosun rollout abort k71 --as bob        # or stop here: nothing more runs

When a bar fails the wave halts, the host is marked drifted and a
`regression` blocker is filed: `rollout rollback` runs the rollback
runbook on every host changed so far; `rollout abort` stops the rollout
(an op of it not yet started never runs). An inconclusive bar (a
timeout, an answer neither pass nor fail) pauses the wave for you:
`promote --accept-inconclusive`, `retry`, or `abort`.";

/// `bosun rollout`.
#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// Start a rollout: freeze `rollouts/<id>.toml` and submit the canary wave.
    #[command(after_help = "Examples:\n  bosun rollout start pkg-upgrade --as alice")]
    Start {
        /// The rollout id (`rollouts/<id>.toml`).
        id: String,
        /// Who signs the wave's op.
        #[arg(long = "as")]
        as_: String,
        #[command(flatten)]
        out: OpOut,
    },
    /// Where a rollout stands: each wave's op, the bars per host, and the
    /// next command.
    #[command(after_help = "Examples:\n  bosun rollout status pkg-upgrade")]
    Status {
        /// The rollout id.
        id: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every rollout, with where it stands.
    #[command(after_help = "Examples:\n  bosun rollout list")]
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Submit the next wave (only after the current one passed and baked).
    #[command(after_help = "Examples:\n  bosun rollout promote pkg-upgrade --as alice")]
    Promote {
        /// The rollout id.
        id: String,
        /// Let a wave paused by an inconclusive bar count as passed
        /// (recorded).
        #[arg(long)]
        accept_inconclusive: bool,
        /// Who signs the wave's op.
        #[arg(long = "as")]
        as_: String,
        #[command(flatten)]
        out: OpOut,
    },
    /// Submit the current wave again (after a fix, a denial, a pause or
    /// the drill).
    #[command(after_help = "Examples:\n  bosun rollout retry pkg-upgrade --as alice")]
    Retry {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        #[command(flatten)]
        out: OpOut,
    },
    /// Run the rollback runbook on the canary, to prove rollback works
    /// before wider promotion.
    #[command(after_help = "Examples:\n  bosun rollout drill pkg-upgrade --as alice")]
    Drill {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        #[command(flatten)]
        out: OpOut,
    },
    /// Run the rollback runbook on every host the rollout changed.
    #[command(after_help = "Examples:\n  bosun rollout rollback pkg-upgrade --as alice")]
    Rollback {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        #[command(flatten)]
        out: OpOut,
    },
    /// Stop the rollout: nothing more is submitted; its ops not yet
    /// started never run.
    #[command(
        after_help = "Examples:\n  bosun rollout abort pkg-upgrade --why 'bad canary' --as bob"
    )]
    Abort {
        /// The rollout id.
        id: String,
        /// Why (recorded).
        #[arg(long, default_value = "aborted by an operator")]
        why: String,
        /// Who aborts (an operator key).
        #[arg(long = "as")]
        as_: String,
    },
}

/// How a verb that submits a rollout's op reports it.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct OpOut {
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print only the op's jti (for scripts: `op=$(bosun rollout … -q)`).
    #[arg(short, long, conflicts_with = "json")]
    pub(crate) quiet: bool,
}

/// Prints a rollout's status: its ops, the latest bars, the next command.
pub(crate) fn print_status(st: &RolloutView) {
    outln!("rollout {}  ({})", st.id, st.phase);
    let rows: Vec<Vec<String>> = st
        .runs
        .iter()
        .map(|r| {
            vec![
                wave_name(st, r.wave).to_string(),
                r.action.clone(),
                r.op.clone(),
                r.hosts.len().to_string(),
                run_words(r),
            ]
        })
        .collect();
    table(&["WAVE", "ACTION", "OP", "HOSTS", "STATUS"], &rows);
    if !st.bars.is_empty() {
        outln!();
        let rows: Vec<Vec<String>> = st
            .bars
            .iter()
            .map(|b| {
                vec![
                    b.host.clone(),
                    b.bar.clone(),
                    b.verdict.to_uppercase(),
                    b.why.clone(),
                ]
            })
            .collect();
        table(&["HOST", "BAR", "VERDICT", "WHY"], &rows);
    }
    outln!("\n{}", st.summary);
    for n in &st.next {
        outln!("next: {}", crate::next::command(n));
    }
}

/// How a rollout's op went, in the words of `rollout status`.
fn run_words(r: &RolloutRunView) -> String {
    let why = r.why.as_deref().unwrap_or_default();
    match r.status.as_str() {
        "awaiting_approval" => "awaiting approval".into(),
        "in_flight" => r
            .state
            .map_or_else(|| "in flight".into(), |s| s.to_string()),
        "halted" => format!("HALTED: {why}"),
        "paused" => format!("PAUSED: {why}"),
        "not_submitted" => "not submitted".into(),
        "needs_attention" => "needs attention".into(),
        other => other.to_string(),
    }
}

/// The name of wave `i` of a rollout (`?` when it has none).
fn wave_name(st: &RolloutView, i: u32) -> &str {
    usize::try_from(i)
        .ok()
        .and_then(|i| st.waves.get(i))
        .map_or("?", |w| w.name.as_str())
}

/// `rollout list`: a line per rollout, or their views as JSON.
fn print_list(views: Vec<RolloutView>, j: bool) {
    let mut list = Listing::new(&["ROLLOUT", "PHASE", "WAVE", "STATUS"]);
    for v in views {
        let last = v.runs.last();
        let cells = vec![
            v.id.clone(),
            v.phase.clone(),
            last.map_or("-".into(), |r| wave_name(&v, r.wave).to_string()),
            last.map_or("-".into(), run_words),
        ];
        list.push(cells, serde_json::to_value(&v).unwrap_or_default());
    }
    list.print(j);
}

/// What `rollout abort` prints once it is in force.
fn print_aborted(id: &str) {
    outln!(
        "rollout {id} aborted: nothing more is submitted, and its ops not yet started will not run"
    );
}

impl RolloutCmd {
    /// Whether the verb only reads (its store is opened read-only).
    pub(crate) fn reads_only(&self) -> bool {
        matches!(self, RolloutCmd::Status { .. } | RolloutCmd::List { .. })
    }
}

/// Runs `bosun rollout …`.
pub(crate) fn run(ctl: &Control, keys: &KeyDir, cmd: RolloutCmd) -> Result<ExitCode> {
    use bosun_api::requests::RolloutVerb::{Drill, Promote, Retry, Rollback, Start};
    use bosun_control::views::submitted_view;
    let signer = |who: &str| -> Result<(bosun_sign::Signer, KeyId)> {
        let id = key_id(who)?;
        Ok((client::load_secret(keys, &id)?, id))
    };
    match cmd {
        RolloutCmd::Start { id, as_, out } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_start(&id, &k, &who)?;
            Ok(report(Start, &id, Some(&submitted_view(&a)), &[], out))
        }
        RolloutCmd::Promote {
            id,
            accept_inconclusive,
            as_,
            out,
        } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_promote(&id, accept_inconclusive, &k, &who)?;
            let v = a.as_ref().map(submitted_view);
            Ok(report(Promote, &id, v.as_ref(), &[], out))
        }
        RolloutCmd::Retry { id, as_, out } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_retry(&id, &k, &who)?;
            Ok(report(Retry, &id, Some(&submitted_view(&a)), &[], out))
        }
        RolloutCmd::Drill { id, as_, out } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_drill(&id, &k, &who)?;
            Ok(report(Drill, &id, Some(&submitted_view(&a)), &[], out))
        }
        RolloutCmd::Rollback { id, as_, out } => {
            let (k, who) = signer(&as_)?;
            let (a, gone) = ctl.rollout_rollback(&id, &k, &who)?;
            Ok(report(Rollback, &id, Some(&submitted_view(&a)), &gone, out))
        }
        RolloutCmd::Abort { id, why, as_ } => {
            let name = Name::parse(&id).map_err(|e| other(format!("rollout `{id}`: {e}")))?;
            let act = Act::RolloutAbort { id: name, why };
            if let Err(code) = statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            print_aborted(&id);
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Status { id, json: j } => {
            let v = ctl.rollout_view(&id)?;
            if j {
                outln!("{}", serde_json::to_string(&v).unwrap_or_default());
            } else {
                print_status(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::List { json: j } => {
            let mut views = Vec::new();
            for rec in ctl.rollouts()? {
                views.push(ctl.rollout_view(&rec.id)?);
            }
            print_list(views, j);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `bosun rollout status|list|abort` as a client of the daemon: the same
/// output from its views; the abort signed here.
pub(crate) fn remote(ctx: &Ctx, r: &Remote, cmd: RolloutCmd) -> Result<ExitCode> {
    match cmd {
        RolloutCmd::Status { id, json: j } => {
            let path = format!(
                "/rollouts/{}",
                Name::parse(&id).map_err(|e| other(format!("rollout `{id}`: {e}")))?
            );
            match answered(r.get::<RolloutView>(&path), j)? {
                Ok(v) if j => outln!("{}", serde_json::to_string(&v).unwrap_or_default()),
                Ok(v) => print_status(&v),
                Err(code) => return Ok(code),
            }
        }
        RolloutCmd::List { json: j } => {
            match answered(r.get::<Vec<RolloutView>>("/rollouts"), j)? {
                Ok(v) => print_list(v, j),
                Err(code) => return Ok(code),
            }
        }
        RolloutCmd::Abort { id, why, as_ } => {
            let name = Name::parse(&id).map_err(|e| other(format!("rollout `{id}`: {e}")))?;
            let act = Act::RolloutAbort { id: name, why };
            if let Err(code) = super::remote_sign::statement(ctx, r, &as_, act, false)? {
                return Ok(code);
            }
            print_aborted(&id);
        }
        // start, promote, retry, drill, rollback: signed here.
        cmd => return super::rollout_submit::remote(ctx, r, &cmd),
    }
    Ok(ExitCode::SUCCESS)
}
