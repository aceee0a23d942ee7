//! The fleet verbs: `hosts`, `blockers` and `rollout`.

use std::process::ExitCode;

use bosun_control::rollout::status_words;
use bosun_control::{Control, ControlError, Result, client, now};
use bosun_model::{Act, KeyId, Name};
use bosun_sign::KeyDir;
use clap::Subcommand;
use serde_json::json;

use crate::output::{table, time};

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

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

/// The long help of `bosun blockers`.
pub const BLOCKERS_HELP: &str = "Blockers: typed, scoped stops.

A blocker halts exactly what its kind says, on its subject: `host-drifted`
halts installs to that host (builds run), `signing-fail` halts every build.
A held op stays queued and says which blocker holds it; everything else
runs. A failed rollout bar files a `regression` blocker on its host.

The kinds in force come from policy/blockers.toml (adopted with the policy,
so nobody loosens a blocker by editing a file) or, without it, from the
seed table: `bosun blockers kinds`.";

/// `bosun hosts`.
#[derive(Subcommand, Debug)]
pub enum HostsCmd {
    /// The inventory in force (the adopted fleet/hosts.toml; a warning says
    /// when the file differs): name, address, transport, arch, tags.
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One host: its inventory entry and what bosun knows of it.
    Show {
        /// The host's name.
        name: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One line per host: last op, installed version, drift, pending
    /// approvals, active blockers (the seed's `ka-status`).
    Status {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `bosun blockers`.
#[derive(Subcommand, Debug)]
pub enum BlockersCmd {
    /// The blocker kinds in force and what each halts.
    Kinds {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Active blockers (newest first); `--board` adds owner, route, next
    /// command and fallback.
    List {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
        /// The board view: owner, route, next command, fallback.
        #[arg(long)]
        board: bool,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One blocker in full.
    Show {
        /// Its number.
        id: u64,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// File a blocker by hand.
    File {
        /// Its kind (see `bosun blockers kinds`).
        kind: String,
        /// What it is about: a host, a build host, patches (comma-separated);
        /// empty for a global kind.
        #[arg(default_value = "")]
        subject: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who owns it (default: the kind's owner).
        #[arg(long)]
        owner: Option<String>,
        /// Who files it (a registered key).
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a blocker: what it held may run again.
    Resolve {
        /// Its number.
        id: u64,
        /// How it was resolved (recorded).
        #[arg(long, default_value = "resolved")]
        how: String,
        /// Who resolves it (an operator key).
        #[arg(long = "as")]
        as_: String,
    },
    /// Mute a blocker's reminders for a while. It still halts.
    Snooze {
        /// Its number.
        id: u64,
        /// For how long (`6h`, `1d`).
        #[arg(long = "for")]
        for_: String,
        /// Who snoozes it (an operator key).
        #[arg(long = "as")]
        as_: String,
    },
}

/// `bosun rollout`.
#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// Start a rollout: freeze `rollouts/<id>.toml` and submit the canary wave.
    Start {
        /// The rollout id (`rollouts/<id>.toml`).
        id: String,
        /// Who signs the wave's op.
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where a rollout stands: each wave's op, the bars per host, and the
    /// next command.
    Status {
        /// The rollout id.
        id: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every rollout, with where it stands.
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Submit the next wave (only after the current one passed and baked).
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
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Submit the current wave again (after a fix, a denial, a pause or
    /// the drill).
    Retry {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the rollback runbook on the canary, to prove rollback works
    /// before wider promotion.
    Drill {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the rollback runbook on every host the rollout changed.
    Rollback {
        /// The rollout id.
        id: String,
        /// Who signs the op.
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the rollout: nothing more is submitted; its ops not yet
    /// started never run.
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

fn key_id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|e| other(e.to_string()))
}

/// Runs `bosun hosts …`.
pub fn hosts(ctl: &Control, cmd: HostsCmd) -> Result<ExitCode> {
    let (inv, warning) = ctl.inventory_in_force()?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    match cmd {
        HostsCmd::List { json: j } => {
            if j {
                println!("{}", serde_json::to_string(&inv.hosts).unwrap_or_default());
            } else {
                let rows: Vec<Vec<String>> = inv
                    .hosts
                    .iter()
                    .map(|h| {
                        vec![
                            h.name.to_string(),
                            h.address.clone(),
                            format!("{:?}", h.transport).to_lowercase(),
                            h.arch.clone(),
                            h.tags.iter().cloned().collect::<Vec<_>>().join(","),
                            if h.infra {
                                "infra".into()
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect();
                table(&["HOST", "ADDRESS", "TRANSPORT", "ARCH", "TAGS", ""], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        HostsCmd::Show { name, json: j } => {
            let n = bosun_model::Name::parse(&name).map_err(|e| other(e.to_string()))?;
            let Some(h) = inv.get(&n) else {
                return Err(other(format!("no host `{name}` in fleet/hosts.toml")));
            };
            let rows = status_rows(ctl, std::slice::from_ref(h))?;
            let blockers: Vec<_> = ctl
                .store
                .blockers(false)?
                .into_iter()
                .filter(|b| b.subject == name)
                .collect();
            if j {
                println!(
                    "{}",
                    json!({"host": h, "status": rows.first(), "blockers": blockers})
                );
            } else {
                println!("{}", toml::to_string(h).unwrap_or_default());
                if let Some(r) = rows.first() {
                    println!("last op     {}", r["last_op"].as_str().unwrap_or("-"));
                    println!("version     {}", r["version"].as_str().unwrap_or("-"));
                    println!("drift       {}", r["drift"].as_str().unwrap_or("-"));
                    println!("pending     {}", r["pending_approvals"]);
                }
                for b in blockers {
                    println!("blocker {}  {}: {}", b.id, b.kind, b.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        HostsCmd::Status { json: j } => {
            if j {
                println!(
                    "{}",
                    serde_json::Value::Array(status_rows(ctl, &inv.hosts)?)
                );
            } else {
                print_host_status(ctl, &inv.hosts)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints one line per host: last op, version, drift, pending, blockers.
pub(crate) fn print_host_status(ctl: &Control, hosts: &[bosun_model::Host]) -> Result<()> {
    let rows = status_rows(ctl, hosts)?;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mut drift = s("drift");
            if drift.chars().count() > 60 {
                drift = drift.chars().take(59).collect::<String>() + "…";
            }
            vec![
                s("host"),
                s("last_op"),
                s("version"),
                drift,
                r["pending_approvals"].to_string(),
                s("blockers"),
            ]
        })
        .collect();
    table(
        &["HOST", "LAST OP", "VERSION", "DRIFT", "PENDING", "BLOCKERS"],
        &cells,
    );
    Ok(())
}

fn status_rows(ctl: &Control, hosts: &[bosun_model::Host]) -> Result<Vec<serde_json::Value>> {
    let states: std::collections::BTreeMap<String, bosun_store::HostState> = ctl
        .store
        .host_states()?
        .into_iter()
        .map(|s| (s.host.clone(), s))
        .collect();
    let blockers = ctl.store.blockers(false)?;
    Ok(hosts
        .iter()
        .map(|h| {
            let name = h.name.as_str();
            let st = states.get(name).cloned().unwrap_or_default();
            let on: Vec<String> = blockers
                .iter()
                .filter(|b| b.subject.split(',').any(|s| s.trim() == name))
                .map(|b| format!("{}#{}", b.kind, b.id))
                .collect();
            json!({
                "host": name,
                "last_op": st.last_op.as_ref().map(|(j, rb, s)| format!("{rb} {s} ({})", &j[..j.len().min(8)])).unwrap_or_else(|| "-".into()),
                "last_op_jti": st.last_op.as_ref().map(|o| o.0.clone()),
                "version": if st.version.is_empty() { "-".to_string() } else { st.version.clone() },
                "drift": match st.drifted_since {
                    Some(t) => format!("DRIFTED since {}: {}", time(t), st.drift_reason),
                    None => "-".into(),
                },
                "drifted": st.drifted_since.is_some(),
                "pending_approvals": st.pending_approvals,
                "blockers": if on.is_empty() { "-".to_string() } else { on.join(" ") },
            })
        })
        .collect())
}

/// Prints the active blockers.
pub(crate) fn print_blockers(ctl: &Control) -> Result<()> {
    let gov = ctl.governed()?;
    let rows: Vec<Vec<String>> = ctl
        .store
        .blockers(false)?
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.kind.clone(),
                b.subject.clone(),
                gov.blocker_kinds
                    .get(&b.kind)
                    .map_or_else(String::new, |k| k.description.clone()),
                b.reason.clone(),
            ]
        })
        .collect();
    table(&["ID", "KIND", "SUBJECT", "HALTS", "WHY"], &rows);
    Ok(())
}

/// Runs `bosun blockers …`.
pub fn blockers(ctl: &Control, keys: &KeyDir, cmd: BlockersCmd) -> Result<ExitCode> {
    let gov = ctl.governed()?;
    let kinds = &gov.blocker_kinds;
    let row = |b: &bosun_store::BlockerRow| {
        let k = kinds.get(&b.kind);
        json!({
            "id": b.id,
            "kind": b.kind,
            "subject": b.subject,
            "halts": k.map_or_else(|| "every change to its subject (kind not in force)".to_string(), |k| k.description.clone()),
            "halts_verbs": k.map(|k| k.halts.clone()),
            "scope": k.map(|k| k.scope.as_str()),
            "reason": b.reason,
            "owner": b.owner,
            "route": k.map(|k| k.route.clone()).unwrap_or_default(),
            "next": k.map_or_else(|| format!("bosun blockers show {}", b.id), |k| k.next_for(b.id, &b.subject)),
            "fallback": k.map(|k| k.fallback.clone()).unwrap_or_default(),
            "filed_by": b.filed_by,
            "op": b.op,
            "since": b.since,
            "snoozed_until": b.snoozed_until,
            "resolved_at": b.resolved_at,
            "resolved_by": b.resolved_by,
            "resolution": b.resolution,
        })
    };
    match cmd {
        BlockersCmd::Kinds { json: j } => {
            if j {
                println!(
                    "{}",
                    json!({"source": if kinds.default { "default (seed 001)" } else { bosun_workspace::governed::BLOCKERS_PATH }, "kinds": kinds.kinds})
                );
            } else {
                let rows: Vec<Vec<String>> = kinds
                    .kinds
                    .iter()
                    .map(|k| {
                        vec![
                            k.name.clone(),
                            k.halts.join(","),
                            k.scope.as_str().into(),
                            k.description.clone(),
                        ]
                    })
                    .collect();
                table(&["KIND", "HALTS", "SCOPE", "WHAT IT HALTS"], &rows);
                if kinds.default {
                    println!(
                        "(the default table from seed 001; write {} and adopt it to change it)",
                        bosun_workspace::governed::BLOCKERS_PATH
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::List {
            all,
            board,
            json: j,
        } => {
            let list = ctl.store.blockers(all)?;
            if j {
                println!(
                    "{}",
                    serde_json::Value::Array(list.iter().map(row).collect())
                );
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no {}blockers", if all { "" } else { "active " });
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|b| {
                    let r = row(b);
                    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    let mut v = vec![
                        b.id.to_string(),
                        b.kind.clone(),
                        if b.subject.is_empty() {
                            "(global)".into()
                        } else {
                            b.subject.clone()
                        },
                    ];
                    if board {
                        v.extend([s("owner"), s("route"), s("next"), s("fallback")]);
                    } else {
                        v.extend([
                            s("halts"),
                            time(b.since),
                            match b.resolved_at {
                                Some(_) => format!("resolved by {}", b.resolved_by),
                                None if b.snoozed_until > now() => {
                                    format!("snoozed until {}", time(b.snoozed_until))
                                }
                                None => "active".into(),
                            },
                        ]);
                    }
                    v
                })
                .collect();
            if board {
                table(
                    &[
                        "ID", "KIND", "SUBJECT", "OWNER", "ROUTE", "NEXT", "FALLBACK",
                    ],
                    &rows,
                );
            } else {
                table(&["ID", "KIND", "SUBJECT", "HALTS", "SINCE", "STATE"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::Show { id, json: j } => {
            let Some(b) = ctl.store.blocker(id)? else {
                return Err(other(format!("no blocker {id}")));
            };
            let r = row(&b);
            if j {
                println!("{r}");
            } else if let Some(m) = r.as_object() {
                for (k, v) in m {
                    println!(
                        "{k:<14}{}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::File {
            kind,
            subject,
            reason,
            owner,
            as_,
            json: j,
        } => {
            let act = Act::BlockerFile {
                kind: kind.clone(),
                subject: subject.clone(),
                reason,
                owner: owner.unwrap_or_default(),
            };
            let applied = match crate::cli::statement(keys, ctl, &as_, act, j)? {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let bosun_control::statement::Effect::BlockerFiled { id } = applied.effect else {
                return Err(other("the statement filed no blocker"));
            };
            if j {
                println!("{}", json!({"id": id, "kind": kind, "subject": subject}));
            } else {
                let halts = kinds.get(&kind).map_or("", |k| k.description.as_str());
                println!("blocker {id} filed: {kind} on `{subject}` halts {halts}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::Resolve { id, how, as_ } => {
            let act = Act::BlockerResolve { id, how };
            if let Err(code) = crate::cli::statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            println!(
                "blocker {id} resolved; the ops it held run again unless another blocker holds them"
            );
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::Snooze { id, for_, as_ } => {
            let secs = bosun_model::source::parse_duration(&for_)
                .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
            let until = now().saturating_add(secs);
            let act = Act::BlockerSnooze { id, until };
            if let Err(code) = crate::cli::statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            println!(
                "blocker {id}: reminders muted until {} (it still halts what it halts)",
                time(until)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_accepted(what: &str, a: &bosun_control::intake::Accepted, j: bool) {
    if j {
        println!(
            "{}",
            json!({"jti": a.jti, "state": a.state, "decision": bosun_control::intake::decision_word(&a.decision), "reasons": a.decision.reasons, "held": a.held})
        );
        return;
    }
    println!("{what}: op {} is {}", a.jti, a.state);
    match &a.decision.outcome {
        bosun_model::Outcome::Approvals(r) => {
            for why in &a.decision.reasons {
                println!("  {why}");
            }
            println!(
                "  it needs {} approval(s): bosun approve {} --as <operator>",
                r.m, a.jti
            );
        }
        bosun_model::Outcome::Deny { reason } => println!("  denied: {reason}"),
        bosun_model::Outcome::Auto => println!("  the policy lets it run alone"),
    }
    for h in &a.held {
        println!("  held by {h}");
    }
}

/// Prints a rollout's status: its ops, the latest bars, the next command.
pub(crate) fn print_status(st: &bosun_control::rollout::Status) {
    println!("rollout {}  ({})", st.id, st.phase.as_str());
    let rows: Vec<Vec<String>> = st
        .runs
        .iter()
        .map(|(r, s)| {
            let wave = usize::try_from(r.wave)
                .ok()
                .and_then(|i| st.waves.get(i))
                .map_or("?".to_string(), |w| w.0.clone());
            vec![
                wave,
                r.action.as_str().into(),
                r.op.clone(),
                r.hosts.len().to_string(),
                status_words(s),
            ]
        })
        .collect();
    table(&["WAVE", "ACTION", "OP", "HOSTS", "STATUS"], &rows);
    if !st.bars.is_empty() {
        println!();
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
    println!("\n{}", st.summary);
    print!("{}", crate::next::hint_lines(&st.next));
}

/// Runs `bosun rollout …`.
pub fn rollout(ctl: &Control, keys: &KeyDir, cmd: RolloutCmd) -> Result<ExitCode> {
    let signer = |who: &str| -> Result<(bosun_sign::Signer, KeyId)> {
        let id = key_id(who)?;
        Ok((client::load_secret(keys, &id)?, id))
    };
    match cmd {
        RolloutCmd::Start { id, as_, json: j } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_start(&id, &k, &who)?;
            print_accepted(
                &format!("rollout {id} started, canary wave submitted"),
                &a,
                j,
            );
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Promote {
            id,
            accept_inconclusive,
            as_,
            json: j,
        } => {
            let (k, who) = signer(&as_)?;
            match ctl.rollout_promote(&id, accept_inconclusive, &k, &who)? {
                Some(a) => print_accepted(&format!("rollout {id} promoted"), &a, j),
                None if j => println!("{}", json!({"rollout": id, "done": true})),
                None => println!("rollout {id} is done: every wave passed"),
            }
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Retry { id, as_, json: j } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_retry(&id, &k, &who)?;
            print_accepted(&format!("rollout {id}: wave submitted again"), &a, j);
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Drill { id, as_, json: j } => {
            let (k, who) = signer(&as_)?;
            let a = ctl.rollout_drill(&id, &k, &who)?;
            print_accepted(
                &format!("rollout {id}: rollback drill on the canary"),
                &a,
                j,
            );
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Rollback { id, as_, json: j } => {
            let (k, who) = signer(&as_)?;
            let (a, gone) = ctl.rollout_rollback(&id, &k, &who)?;
            print_accepted(&format!("rollout {id}: rollback submitted"), &a, j);
            if !gone.is_empty() && !j {
                println!(
                    "  not rolled back (no longer in the inventory): {}",
                    gone.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Abort { id, why, as_ } => {
            let name = Name::parse(&id).map_err(|e| other(format!("rollout `{id}`: {e}")))?;
            let act = Act::RolloutAbort { id: name, why };
            if let Err(code) = crate::cli::statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            println!(
                "rollout {id} aborted: nothing more is submitted, and its ops not yet started will not run"
            );
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Status { id, json: j } => {
            if j {
                let v = ctl.rollout_view(&id)?;
                println!("{}", serde_json::to_string(&v).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            let st = ctl.rollout_status(&id)?;
            print_status(&st);
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::List { json: j } => {
            let mut out = Vec::new();
            for rec in ctl.store.rollouts()? {
                let st = ctl.rollout_status(&rec.id)?;
                let last = st.runs.last().map(|(r, s)| {
                    (
                        usize::try_from(r.wave)
                            .ok()
                            .and_then(|i| st.waves.get(i))
                            .map_or("?".to_string(), |w| w.0.clone()),
                        status_words(s),
                    )
                });
                out.push((st, last));
            }
            if j {
                let v: Vec<_> = out
                    .iter()
                    .map(|(st, l)| json!({"id": st.id, "phase": st.phase, "wave": l.as_ref().map(|l| &l.0), "status": l.as_ref().map(|l| &l.1), "next": st.next}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                let rows: Vec<Vec<String>> = out
                    .iter()
                    .map(|(st, l)| {
                        vec![
                            st.id.clone(),
                            st.phase.as_str().to_string(),
                            l.as_ref().map_or("-".into(), |l| l.0.clone()),
                            l.as_ref().map_or("-".into(), |l| l.1.clone()),
                        ]
                    })
                    .collect();
                table(&["ROLLOUT", "PHASE", "WAVE", "STATUS"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
