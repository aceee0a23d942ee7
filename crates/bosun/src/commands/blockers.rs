//! `bosun blockers`: typed, scoped stops — the kinds in force; list,
//! show, file, resolve, snooze.

use std::process::ExitCode;

use bosun_control::{Control, Result, now};
use bosun_model::Act;
use bosun_sign::KeyDir;
use clap::Subcommand;
use serde_json::json;

use bosun_api::views::{BlockerKindView, BlockerKindsView, BlockerView};
use bosun_client::Remote;

use super::remote_sign::RemoteSigner;
use super::{Ctx, answered, other, statement};
use crate::output::{local, table};

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
    let kinds = ctl.blocker_kinds_view()?;
    let rows: Vec<Vec<String>> = ctl
        .blocker_views(false)?
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.kind.clone(),
                b.subject.clone(),
                kind_of(&kinds, &b.kind).map_or_else(String::new, |k| k.description.clone()),
                b.reason.clone(),
            ]
        })
        .collect();
    table(&["ID", "KIND", "SUBJECT", "HALTS", "WHY"], &rows);
    Ok(())
}

/// The kind in force named `name`, if it is one.
fn kind_of<'a>(kinds: &'a BlockerKindsView, name: &str) -> Option<&'a BlockerKindView> {
    kinds.kinds.iter().find(|k| k.name == name)
}

/// A blocker as `blockers list --json` prints it: the view, with what
/// its kind in force says in words.
fn row(b: &BlockerView, k: Option<&BlockerKindView>) -> serde_json::Value {
    json!({
        "id": b.id,
        "kind": b.kind,
        "subject": b.subject,
        "halts": k.map_or_else(|| "every change to its subject (kind not in force)".to_string(), |k| k.description.clone()),
        "halts_verbs": k.map(|k| k.halts.clone()),
        "scope": k.map(|k| k.scope.clone()),
        "reason": b.reason,
        "owner": b.owner,
        "route": k.map(|k| k.route.clone()).unwrap_or_default(),
        "ends_when": if k.is_some() { b.route.clone() } else { format!("look at blocker {}", b.id) },
        "next": b.next,
        "fallback": k.map(|k| k.fallback.clone()).unwrap_or_default(),
        "filed_by": b.filed_by,
        "op": b.op,
        "since": b.since,
        "snoozed_until": b.snoozed_until,
        "resolved_at": b.resolved_at,
        "resolved_by": b.resolved_by.clone().unwrap_or_default(),
        "resolution": b.resolution.clone().unwrap_or_default(),
    })
}

/// `blockers show`: one blocker in words (what its kind says from `r`,
/// its JSON row); what is absent is left out.
fn print_blocker(b: &BlockerView, r: &serde_json::Value) {
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
            local(b.since.as_second()),
            b.filed_by,
            from.unwrap_or_default()
        ),
    );
    match b.resolved_at {
        Some(t) => line(
            "resolved",
            &format!(
                "{} by {}: {}",
                local(t.as_second()),
                b.resolved_by.as_deref().unwrap_or_default(),
                b.resolution.as_deref().unwrap_or_default()
            ),
        ),
        None => {
            line("state", "active");
            if let Some(t) = b.snoozed_until {
                line(
                    "snoozed",
                    &format!("reminders muted until {}", local(t.as_second())),
                );
            }
        }
    }
    line("route", &text("route"));
    line("next", &text("ends_when"));
    line("fallback", &text("fallback"));
}

/// `blockers kinds`.
fn print_kinds(kinds: &BlockerKindsView, j: bool) {
    if j {
        outln!("{}", serde_json::to_string(kinds).unwrap_or_default());
        return;
    }
    let rows: Vec<Vec<String>> = kinds
        .kinds
        .iter()
        .map(|k| {
            vec![
                k.name.clone(),
                k.halts.join(","),
                k.scope.clone(),
                k.description.clone(),
            ]
        })
        .collect();
    table(&["KIND", "HALTS", "SCOPE", "WHAT IT HALTS"], &rows);
    if kinds.source == "default" {
        outln!(
            "(the default table; write {} and adopt it to change it)",
            bosun_workspace::governed::BLOCKERS_PATH
        );
    }
}

/// `blockers list`: a table (or the board), or the rows as JSON.
fn print_list(kinds: &BlockerKindsView, list: &[BlockerView], all: bool, board: bool, j: bool) {
    if j {
        let rows = list.iter().map(|b| row(b, kind_of(kinds, &b.kind)));
        outln!("{}", serde_json::Value::Array(rows.collect()));
        return;
    }
    if list.is_empty() {
        outln!("no {}blockers", if all { "" } else { "active " });
        return;
    }
    let t = now();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            let r = row(b, kind_of(kinds, &b.kind));
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
                    local(b.since.as_second()),
                    match (b.resolved_at, b.snoozed_until) {
                        (Some(_), _) => format!(
                            "resolved by {}",
                            b.resolved_by.as_deref().unwrap_or_default()
                        ),
                        (None, Some(u)) if u.as_second() > t => {
                            format!("snoozed until {}", local(u.as_second()))
                        }
                        (None, _) => "active".into(),
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
}

/// `blockers show`: the view as JSON, or in words with what comes next.
fn print_show(kinds: &BlockerKindsView, b: &BlockerView, j: bool) {
    if j {
        outln!("{}", serde_json::to_string(b).unwrap_or_default());
        return;
    }
    print_blocker(b, &row(b, kind_of(kinds, &b.kind)));
    for n in &b.next {
        outln!("then      {}", crate::next::command(n));
    }
}

/// The statement `blockers file` signs.
pub(crate) fn file_act(kind: &str, subject: &str, reason: String, owner: Option<String>) -> Act {
    Act::BlockerFile {
        kind: kind.to_string(),
        subject: subject.to_string(),
        reason,
        owner: owner.unwrap_or_default(),
    }
}

/// What `blockers file` prints once blocker `id` is filed.
fn print_filed(kinds: &BlockerKindsView, id: u64, kind: &str, subject: &str, j: bool) {
    if j {
        outln!("{}", json!({"id": id, "kind": kind, "subject": subject}));
    } else {
        let halts = kind_of(kinds, kind).map_or("", |k| k.description.as_str());
        outln!("blocker {id} filed: {kind} on `{subject}` halts {halts}");
    }
}

/// What `blockers resolve` prints.
fn print_resolved(id: u64) {
    outln!("blocker {id} resolved; the ops it held run again unless another blocker holds them");
}

/// What `blockers snooze` prints.
fn print_snoozed(id: u64, until: i64) {
    outln!(
        "blocker {id}: reminders muted until {} (it still halts what it halts)",
        local(until)
    );
}

/// `--for` as the instant it ends.
fn until(for_: &str) -> Result<i64> {
    let secs = bosun_model::source::parse_duration(for_)
        .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
    Ok(now().saturating_add(secs))
}

impl BlockersCmd {
    /// Whether the verb only reads (its store is opened read-only).
    pub(crate) fn reads_only(&self) -> bool {
        matches!(
            self,
            BlockersCmd::Kinds { .. } | BlockersCmd::List { .. } | BlockersCmd::Show { .. }
        )
    }

    /// Whether `--json` was asked.
    fn json(&self) -> bool {
        match self {
            BlockersCmd::Kinds { json }
            | BlockersCmd::List { json, .. }
            | BlockersCmd::Show { json, .. }
            | BlockersCmd::File { json, .. } => *json,
            BlockersCmd::Resolve { .. } | BlockersCmd::Snooze { .. } => false,
        }
    }
}

/// Runs `bosun blockers …`.
pub(crate) fn run(ctl: &Control, keys: &KeyDir, cmd: BlockersCmd) -> Result<ExitCode> {
    let kinds = ctl.blocker_kinds_view()?;
    match cmd {
        BlockersCmd::Kinds { json: j } => print_kinds(&kinds, j),
        BlockersCmd::List {
            all,
            board,
            json: j,
        } => print_list(&kinds, &ctl.blocker_views(all)?, all, board, j),
        BlockersCmd::Show { id, json: j } => {
            let Some(b) = ctl.blocker_view(id)? else {
                return Err(other(format!("no blocker {id}")));
            };
            print_show(&kinds, &b, j);
        }
        BlockersCmd::File {
            kind,
            subject,
            reason,
            owner,
            as_,
            json: j,
        } => {
            let act = file_act(&kind, &subject, reason, owner);
            let applied = match statement(keys, ctl, &as_, act, j)? {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let bosun_control::statement::Effect::BlockerFiled { id } = applied.effect else {
                return Err(other("the statement filed no blocker"));
            };
            print_filed(&kinds, id, &kind, &subject, j);
        }
        BlockersCmd::Resolve { id, how, as_ } => {
            let act = Act::BlockerResolve { id, how };
            if let Err(code) = statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            print_resolved(id);
        }
        BlockersCmd::Snooze { id, for_, as_ } => {
            let until = until(&for_)?;
            let act = Act::BlockerSnooze { id, until };
            if let Err(code) = statement(keys, ctl, &as_, act, false)? {
                return Ok(code);
            }
            print_snoozed(id, until);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun blockers …` as a client of the daemon: the same output
/// from its views; statements signed here.
pub(crate) fn remote(ctx: &Ctx, r: &Remote, cmd: BlockersCmd) -> Result<ExitCode> {
    let j = cmd.json();
    let kinds: BlockerKindsView = match answered(r.get("/blockers/kinds"), j)? {
        Ok(k) => k,
        Err(code) => return Ok(code),
    };
    match cmd {
        BlockersCmd::Kinds { json: j } => print_kinds(&kinds, j),
        BlockersCmd::List {
            all,
            board,
            json: j,
        } => match answered(
            r.get::<Vec<BlockerView>>(&format!("/blockers?all={all}")),
            j,
        )? {
            Ok(list) => print_list(&kinds, &list, all, board, j),
            Err(code) => return Ok(code),
        },
        BlockersCmd::Show { id, json: j } => {
            match answered(r.get::<BlockerView>(&format!("/blockers/{id}")), j)? {
                Ok(b) => print_show(&kinds, &b, j),
                Err(code) => return Ok(code),
            }
        }
        BlockersCmd::File {
            kind,
            subject,
            reason,
            owner,
            as_,
            json: j,
        } => {
            let act = file_act(&kind, &subject, reason, owner);
            let env = RemoteSigner::new(ctx, r, &as_)?.signing().statement(act)?;
            match r.post::<_, BlockerView>("/blockers", &json!({ "envelope": env }))? {
                Ok(b) => print_filed(&kinds, b.id, &kind, &subject, j),
                Err(e) => return Ok(super::refused_remote(&e, j)),
            }
        }
        BlockersCmd::Resolve { id, how, as_ } => {
            let act = Act::BlockerResolve { id, how };
            if let Err(code) = super::remote_sign::statement(ctx, r, &as_, act, false)? {
                return Ok(code);
            }
            print_resolved(id);
        }
        BlockersCmd::Snooze { id, for_, as_ } => {
            let until = until(&for_)?;
            let act = Act::BlockerSnooze { id, until };
            if let Err(code) = super::remote_sign::statement(ctx, r, &as_, act, false)? {
                return Ok(code);
            }
            print_snoozed(id, until);
        }
    }
    Ok(ExitCode::SUCCESS)
}
