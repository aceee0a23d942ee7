//! `bosun blockers`: typed, scoped stops — the kinds in force; list,
//! show, file, resolve, snooze.

use std::process::ExitCode;

use bosun_control::{Control, Result, now};
use bosun_model::Act;
use bosun_sign::KeyDir;
use clap::Subcommand;
use serde_json::json;

use super::{other, statement};
use crate::output::{local, table, time, time_opt};

/// The long help of `bosun blockers`.
pub const BLOCKERS_HELP: &str = "Blockers: typed, scoped stops.

A blocker halts exactly what its kind says, on its subject: `host-drifted`
halts installs to that host (builds run), `signing-fail` halts every build.
A held op stays queued and says which blocker holds it; everything else
runs. A failed rollout bar files a `regression` blocker on its host.

The kinds in force come from policy/blockers.toml (adopted with the policy,
so nobody loosens a blocker by editing a file) or, without it, from the
default table: `bosun blockers kinds`.";

/// `bosun blockers`.
#[derive(Subcommand, Debug)]
pub enum BlockersCmd {
    /// The blocker kinds in force and what each halts.
    #[command(after_help = "Examples:\n  bosun blockers kinds")]
    Kinds {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Active blockers (newest first); `--board` adds owner, route, next
    /// command and fallback.
    #[command(after_help = "Examples:\n  bosun blockers list\n  bosun blockers list --all --board")]
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
    #[command(after_help = "Examples:\n  bosun blockers show 3")]
    Show {
        /// Its number.
        id: u64,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// File a blocker by hand.
    #[command(
        after_help = "Examples:\n  bosun blockers file host-drifted web-2 --reason 'kernel differs' --as alice"
    )]
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
    #[command(after_help = "Examples:\n  bosun blockers resolve 3 --how 'reimaged' --as alice")]
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
    #[command(after_help = "Examples:\n  bosun blockers snooze 3 --for 6h --as alice")]
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

/// Prints the active blockers.
pub(crate) fn print_blockers(ctl: &Control) -> Result<()> {
    let gov = ctl.governed()?;
    let rows: Vec<Vec<String>> = ctl
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

/// `blockers show`: one blocker in words (what its kind says from `r`,
/// its JSON row); what is absent is left out.
fn print_blocker(b: &bosun_store::BlockerRow, r: &serde_json::Value) {
    let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let line = |label: &str, text: &str| {
        if !text.is_empty() {
            outln!("{label:<10}{text}");
        }
    };
    let subject = if b.subject.is_empty() {
        "(global)"
    } else {
        b.subject.as_str()
    };
    outln!("blocker {}: {} on {subject}", b.id, b.kind);
    let verbs: Vec<&str> = r["halts_verbs"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let how = match (verbs.is_empty(), r["scope"].as_str()) {
        (false, Some(scope)) => format!(" — halts {}, scope {scope}", verbs.join(", ")),
        _ => String::new(),
    };
    line("halts", &format!("{}{how}", text("halts")));
    line("reason", &b.reason);
    line("owner", &b.owner);
    let from = b.op.as_deref().map(|o| format!(", from op {o}"));
    line(
        "filed",
        &format!(
            "{} by {}{}",
            local(b.since),
            b.filed_by,
            from.unwrap_or_default()
        ),
    );
    match b.resolved_at {
        Some(t) => line(
            "resolved",
            &format!("{} by {}: {}", local(t), b.resolved_by, b.resolution),
        ),
        None => {
            line("state", "active");
            if b.snoozed_until > 0 {
                line(
                    "snoozed",
                    &format!("reminders muted until {}", local(b.snoozed_until)),
                );
            }
        }
    }
    line("route", &text("route"));
    line("next", &text("ends_when"));
    line("fallback", &text("fallback"));
}

impl BlockersCmd {
    /// Whether the verb only reads (its store is opened read-only).
    pub(crate) fn reads_only(&self) -> bool {
        matches!(
            self,
            BlockersCmd::Kinds { .. } | BlockersCmd::List { .. } | BlockersCmd::Show { .. }
        )
    }
}

/// Runs `bosun blockers …`.
pub(crate) fn run(ctl: &Control, keys: &KeyDir, cmd: BlockersCmd) -> Result<ExitCode> {
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
            "ends_when": k.map_or_else(|| format!("look at blocker {}", b.id), |k| k.next_for(b.id, &b.subject)),
            "next": b.resolved_at.is_none().then(|| bosun_control::views::blocker_next(b)).into_iter().collect::<Vec<_>>(),
            "fallback": k.map(|k| k.fallback.clone()).unwrap_or_default(),
            "filed_by": b.filed_by,
            "op": b.op,
            "since": time(b.since),
            "snoozed_until": (b.snoozed_until > 0).then(|| time(b.snoozed_until)),
            "resolved_at": time_opt(b.resolved_at),
            "resolved_by": b.resolved_by,
            "resolution": b.resolution,
        })
    };
    match cmd {
        BlockersCmd::Kinds { json: j } => {
            if j {
                outln!(
                    "{}",
                    json!({"source": if kinds.default { "default" } else { bosun_workspace::governed::BLOCKERS_PATH }, "kinds": kinds.kinds})
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
                    outln!(
                        "(the default table; write {} and adopt it to change it)",
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
            let list = ctl.blockers(all)?;
            if j {
                outln!(
                    "{}",
                    serde_json::Value::Array(list.iter().map(row).collect())
                );
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                outln!("no {}blockers", if all { "" } else { "active " });
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
                        v.extend([s("owner"), s("route"), s("ends_when"), s("fallback")]);
                    } else {
                        v.extend([
                            s("halts"),
                            local(b.since),
                            match b.resolved_at {
                                Some(_) => format!("resolved by {}", b.resolved_by),
                                None if b.snoozed_until > now() => {
                                    format!("snoozed until {}", local(b.snoozed_until))
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
            let Some(b) = ctl.blocker_view(id)? else {
                return Err(other(format!("no blocker {id}")));
            };
            if j {
                outln!("{}", serde_json::to_string(&b).unwrap_or_default());
            } else {
                let Some(rec) = ctl.blocker(id)? else {
                    return Err(other(format!("no blocker {id}")));
                };
                print_blocker(&rec, &row(&rec));
                for n in &b.next {
                    outln!("then      {}", crate::next::command(n));
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
            let applied = match statement(keys, ctl, &as_, act, j)? {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let bosun_control::statement::Effect::BlockerFiled { id } = applied.effect else {
                return Err(other("the statement filed no blocker"));
            };
            if j {
                outln!("{}", json!({"id": id, "kind": kind, "subject": subject}));
            } else {
                let halts = kinds.get(&kind).map_or("", |k| k.description.as_str());
                outln!("blocker {id} filed: {kind} on `{subject}` halts {halts}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::Resolve { id, how, as_ } => {
            let act = Act::BlockerResolve { id, how };
            if let Err(code) = statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            outln!(
                "blocker {id} resolved; the ops it held run again unless another blocker holds them"
            );
            Ok(ExitCode::SUCCESS)
        }
        BlockersCmd::Snooze { id, for_, as_ } => {
            let secs = bosun_model::source::parse_duration(&for_)
                .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
            let until = now().saturating_add(secs);
            let act = Act::BlockerSnooze { id, until };
            if let Err(code) = statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            outln!(
                "blocker {id}: reminders muted until {} (it still halts what it halts)",
                local(until)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
