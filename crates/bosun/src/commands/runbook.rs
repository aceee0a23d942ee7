//! `bosun runbook`: the catalog on disk — list, show, validate, graph.

use std::process::ExitCode;

use bosun_control::{Control, Result};
use bosun_workspace::Workspace;
use clap::Subcommand;
use serde_json::json;

use super::{Ctx, other};
use crate::output::Listing;

#[derive(Subcommand, Debug)]
pub(crate) enum RunbookCmd {
    /// The runbooks in runbooks/, and whether each is adopted.
    #[command(after_help = "Examples:\n  bosun runbook list")]
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One runbook: flags, parameters, steps and their dependencies.
    #[command(after_help = "Examples:\n  bosun runbook show pkg-upgrade")]
    Show {
        /// The runbook id.
        id: String,
        /// Output JSON (the parsed definition).
        #[arg(long)]
        json: bool,
    },
    /// Check runbook files (all, or one) and report every problem with file:line:col.
    #[command(
        after_help = "Examples:\n  bosun runbook validate\n  bosun runbook validate pkg-upgrade --json"
    )]
    Validate {
        /// Only this runbook.
        id: Option<String>,
        /// Output JSON: `{ok, runbooks: [{id, path, ok, errors, warnings}]}`.
        #[arg(long)]
        json: bool,
    },
    /// The step graph as Mermaid (default) or Graphviz DOT.
    #[command(
        after_help = "Examples:\n  bosun runbook graph pkg-upgrade\n  bosun runbook graph pkg-upgrade --format dot | dot -Tsvg > graph.svg"
    )]
    Graph {
        /// The runbook id.
        id: String,
        /// `mermaid` or `dot`.
        #[arg(long, default_value = "mermaid", value_parser = ["mermaid", "dot"])]
        format: String,
    },
}

/// Runs `bosun runbook …`.
pub(crate) fn run(ctx: &Ctx, cmd: RunbookCmd) -> Result<ExitCode> {
    runbook_cmd(ctx, cmd)
}

fn disk_runbook(ws: &Workspace, id: &str) -> Result<(String, String)> {
    ws.disk_runbooks()?
        .into_iter()
        .find(|(i, _, _)| i == id)
        .map(|(_, p, t)| (p, t))
        .ok_or_else(|| {
            other(format!(
                "no runbook `{id}` in runbooks/ (see `bosun runbook list`)"
            ))
        })
}

fn runbook_cmd(ctx: &Ctx, cmd: RunbookCmd) -> Result<ExitCode> {
    let ws = Workspace::open(&ctx.workspace)?;
    match cmd {
        RunbookCmd::List { json: j } => {
            let ctl = Control::open_read_only(ws.clone())?;
            print_entries(&ctl.runbook_entries()?, j)
        }
        RunbookCmd::Show { id, json: j } => {
            let (path, text) = disk_runbook(&ws, &id)?;
            let rb =
                bosun_runbook::parse_runbook(&path, &text).map_err(|e| other(e.to_string()))?;
            print_runbook(&rb, &path, j)
        }
        RunbookCmd::Validate { id, json: j } => validate(&ws, id.as_deref(), j),
        RunbookCmd::Graph { id, format } => {
            let (path, text) = disk_runbook(&ws, &id)?;
            let rb =
                bosun_runbook::parse_runbook(&path, &text).map_err(|e| other(e.to_string()))?;
            out!(
                "{}",
                if format == "dot" {
                    bosun_runbook::dot(&rb)
                } else {
                    bosun_runbook::mermaid(&rb)
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `bosun runbook validate`: every runbook file (or one) parsed, each
/// problem with file:line:col; exit 1 when one is invalid.
fn validate(ws: &Workspace, id: Option<&str>, j: bool) -> Result<ExitCode> {
    let mut report = Vec::new();
    for (rid, path, text) in ws.disk_runbooks()? {
        if id.is_some_and(|want| want != rid) {
            continue;
        }
        let (errors, warnings) = match bosun_runbook::parse_runbook(&path, &text) {
            Ok(rb) if rb.id.as_str() == rid => (
                Vec::new(),
                bosun_runbook::raw_places(&path, &text, &rb)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
            Ok(rb) => (
                vec![format!(
                    "{path}:1:1: its id is `{}`, not the file name `{rid}`",
                    rb.id
                )],
                Vec::new(),
            ),
            Err(e) => (vec![e.to_string()], Vec::new()),
        };
        report.push(json!({"id": rid, "path": path, "ok": errors.is_empty(), "errors": errors, "warnings": warnings}));
    }
    if report.is_empty() {
        return Err(other(match id {
            Some(i) => format!("no runbook `{i}` in runbooks/"),
            None => "no runbooks in runbooks/".into(),
        }));
    }
    let bad = report.iter().filter(|r| r["ok"] == false).count();
    if j {
        outln!("{}", json!({"ok": bad == 0, "runbooks": report}));
    } else {
        for r in &report {
            let lines = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if r["ok"] == true {
                outln!("ok  {}", r["path"].as_str().unwrap_or_default());
            }
            for e in lines("errors") {
                errln!("{e}");
            }
            for w in lines("warnings") {
                errln!("warning: {w}");
            }
        }
        if bad > 0 {
            errln!("error: {bad} of {} runbook(s) are invalid", report.len());
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The runbook catalog, as `runbook list` prints it.
fn print_entries(entries: &[bosun_api::views::RunbookEntry], j: bool) -> Result<ExitCode> {
    let mut list = Listing::new(&["id", "kind", "steps", "adopted", "description"]);
    for e in entries {
        let cells = vec![
            e.id.clone(),
            if e.read_only { "read-only" } else { "changes" }.into(),
            e.steps.to_string(),
            e.adopted.clone(),
            if e.valid {
                e.description.clone()
            } else {
                "INVALID: bosun runbook validate".into()
            },
        ];
        let row = serde_json::to_value(e).map_err(|e| other(e.to_string()))?;
        list.push(cells, row);
    }
    list.print(j);
    Ok(ExitCode::SUCCESS)
}

/// One runbook, as `runbook show` prints it (`path`: its file).
fn print_runbook(rb: &bosun_runbook::Runbook, path: &str, j: bool) -> Result<ExitCode> {
    if j {
        outln!(
            "{}",
            serde_json::to_string(&rb).map_err(|e| other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} — {}", rb.id, rb.description);
    outln!(
        "{}{}  ({path})",
        if rb.read_only {
            "read-only"
        } else {
            "changes hosts"
        },
        if rb.destructive { ", DESTRUCTIVE" } else { "" }
    );
    for (name, p) in &rb.params {
        let d = p.default.as_ref().map(bosun_runbook::def::value_to_string);
        outln!(
            "  param {name}: {}{}{}",
            crate::output::word(&p.ty),
            d.map(|d| format!(" = {d}")).unwrap_or_default(),
            if p.required { " (required)" } else { "" }
        );
    }
    for c in &rb.preconditions {
        outln!("  before: {c}");
    }
    for st in &rb.steps {
        let deps: Vec<String> = st
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.step, crate::output::word(&d.kind)))
            .collect();
        outln!(
            "  step {} [{}]{}{}",
            st.id,
            crate::output::word(&st.actor),
            if deps.is_empty() {
                String::new()
            } else {
                format!(" after {}", deps.join(", "))
            },
            if st.idempotent { " idempotent" } else { "" }
        );
        if let Some(c) = &st.cmd {
            outln!("      $ {c}");
        }
    }
    for c in &rb.postconditions {
        outln!("  after: {c}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `bosun runbook …` as a client of the daemon: `list` and `show`, from
/// the daemon's workspace; `validate` and `graph` check the files of the
/// workspace here, as an author does before proposing them.
pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, cmd: RunbookCmd) -> Result<ExitCode> {
    let entries =
        |j: bool| -> Result<std::result::Result<Vec<bosun_api::views::RunbookEntry>, ExitCode>> {
            Ok(match r.get("/runbooks")? {
                Ok(v) => Ok(v),
                Err(e) => Err(super::refused_remote(&e, j)),
            })
        };
    match cmd {
        RunbookCmd::List { json: j } => match entries(j)? {
            Ok(list) => print_entries(&list, j),
            Err(code) => Ok(code),
        },
        RunbookCmd::Show { id, json: j } => {
            bosun_model::Name::parse(&id).map_err(|e| other(format!("`{id}`: {e}")))?;
            let list = match entries(j)? {
                Ok(list) => list,
                Err(code) => return Ok(code),
            };
            let Some(entry) = list.iter().find(|e| e.id == id) else {
                return Err(other(format!(
                    "no runbook `{id}` in the daemon's runbooks/"
                )));
            };
            let v: serde_json::Value = match r.get(&format!("/runbooks/{id}"))? {
                Ok(v) => v,
                Err(e) => return Ok(super::refused_remote(&e, j)),
            };
            let rb: bosun_runbook::Runbook = serde_json::from_value(v).map_err(|e| {
                r.failed(format!(
                    "its runbook `{id}` is not one this CLI reads ({e})"
                ))
            })?;
            print_runbook(&rb, &entry.path, j)
        }
        c @ (RunbookCmd::Validate { .. } | RunbookCmd::Graph { .. }) => run(ctx, c),
    }
}
