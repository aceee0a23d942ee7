//! `bosun hosts`: the inventory in force and each host's state.

use std::process::ExitCode;

use bosun_control::{Control, Result};
use clap::Subcommand;
use serde_json::json;

use bosun_api::views::{BlockerView, HostView, InventoryView};
use bosun_client::Answer;

use super::{answered, other};
use crate::output::{local, table};

/// `bosun hosts`.
#[derive(Subcommand, Debug)]
pub enum HostsCmd {
    /// The inventory in force (the adopted fleet/hosts.toml; a warning says
    /// when the file differs): name, address, transport, arch, tags.
    #[command(after_help = "Examples:\n  bosun hosts list")]
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One host: its inventory entry and what bosun knows of it.
    #[command(after_help = "Examples:\n  bosun hosts show web-1")]
    Show {
        /// The host's name.
        name: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One line per host: last op, installed version, drift, pending
    /// approvals, active blockers.
    #[command(after_help = "Examples:\n  bosun hosts status\n  bosun hosts status --json")]
    Status {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where `hosts` reads: the store here, or the daemon.
enum Source<'a> {
    Here(&'a Control),
    Daemon(&'a bosun_client::Remote),
}

impl Source<'_> {
    fn inventory(&self) -> Result<Answer<InventoryView>> {
        match self {
            Source::Here(ctl) => Ok(Ok(ctl.inventory_view()?)),
            Source::Daemon(r) => r.get("/inventory"),
        }
    }

    fn views(&self, hosts: &[bosun_model::Host]) -> Result<Answer<Vec<HostView>>> {
        match self {
            Source::Here(ctl) => Ok(Ok(ctl.host_views(hosts)?)),
            Source::Daemon(r) => r.get("/hosts"),
        }
    }

    fn blockers(&self) -> Result<Answer<Vec<BlockerView>>> {
        match self {
            Source::Here(ctl) => Ok(Ok(ctl.blocker_views(false)?)),
            Source::Daemon(r) => r.get("/blockers"),
        }
    }
}

/// Runs `bosun hosts …`.
pub(crate) fn run(ctl: &Control, cmd: HostsCmd) -> Result<ExitCode> {
    hosts(&Source::Here(ctl), cmd)
}

/// Runs `bosun hosts …` as a client of the daemon: the same output, from
/// its views.
pub(crate) fn remote(r: &bosun_client::Remote, cmd: HostsCmd) -> Result<ExitCode> {
    hosts(&Source::Daemon(r), cmd)
}

fn hosts(src: &Source<'_>, cmd: HostsCmd) -> Result<ExitCode> {
    let j = match &cmd {
        HostsCmd::List { json } | HostsCmd::Show { json, .. } | HostsCmd::Status { json } => *json,
    };
    let inv = match answered(src.inventory(), j)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    if let Some(w) = &inv.warning {
        errln!("warning: {w}");
    }
    match cmd {
        HostsCmd::List { json: j } => {
            if j {
                outln!("{}", serde_json::to_string(&inv.hosts).unwrap_or_default());
            } else {
                print_inventory(&inv.hosts);
            }
        }
        HostsCmd::Show { name, json: j } => {
            let Some(h) = inv.hosts.iter().find(|h| h.name.as_str() == name) else {
                bosun_model::Name::parse(&name).map_err(|e| other(e.to_string()))?;
                return Err(other(format!("no host `{name}` in fleet/hosts.toml")));
            };
            let (views, blockers) = match (
                answered(src.views(std::slice::from_ref(h)), j)?,
                answered(src.blockers(), j)?,
            ) {
                (Ok(v), Ok(b)) => (v, b),
                (Err(code), _) | (_, Err(code)) => return Ok(code),
            };
            let row = views
                .into_iter()
                .find(|v| v.host == name)
                .map(|v| serde_json::to_value(v).unwrap_or_default());
            let blockers: Vec<BlockerView> =
                blockers.into_iter().filter(|b| b.subject == name).collect();
            if j {
                outln!(
                    "{}",
                    json!({"host": h, "status": row, "blockers": blockers})
                );
            } else {
                outln!("{}", toml::to_string(h).unwrap_or_default());
                if let Some(r) = &row {
                    let c = status_cells(r);
                    outln!("last op     {}", c[1]);
                    outln!("version     {}", c[2]);
                    match (r["drifted_since"].as_str(), r["drift_reason"].as_str()) {
                        (Some(t), Some(why)) => outln!(
                            "drift       since {}: {why}",
                            t.parse::<jiff::Timestamp>()
                                .map_or(t.to_string(), |ts| local(ts.as_second()))
                        ),
                        _ => outln!("drift       none"),
                    }
                    outln!("pending     {} approval(s)", r["pending_approvals"]);
                }
                for b in blockers {
                    outln!("blocker {}  {}: {}", b.id, b.kind, b.reason);
                }
            }
        }
        HostsCmd::Status { json: j } => {
            let views = match answered(src.views(&inv.hosts), j)? {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
            let rows: Vec<serde_json::Value> = views
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect();
            if j {
                outln!("{}", serde_json::Value::Array(rows));
            } else {
                print_rows(&rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hosts list`: name, address, transport, arch, tags, infra.
fn print_inventory(hosts: &[bosun_model::Host]) {
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            vec![
                h.name.to_string(),
                h.address.clone(),
                crate::output::word(&h.transport),
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

/// Prints one line per host: last op, version, drift, pending, blockers.
pub(crate) fn print_host_status(ctl: &Control, hosts: &[bosun_model::Host]) -> Result<()> {
    print_rows(&status_rows(ctl, hosts)?);
    Ok(())
}

/// The status table of host rows (`HostView`s as JSON).
fn print_rows(rows: &[serde_json::Value]) {
    let cells: Vec<Vec<String>> = rows.iter().map(status_cells).collect();
    table(
        &["HOST", "LAST OP", "VERSION", "DRIFT", "PENDING", "BLOCKERS"],
        &cells,
    );
}

/// A host's status row (JSON) as the words of `hosts status`'s columns;
/// absent values are `-`.
fn status_cells(r: &serde_json::Value) -> Vec<String> {
    let or_dash = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let last_op = match &r["last_op"] {
        serde_json::Value::Null => "-".to_string(),
        o => {
            let jti = o["jti"].as_str().unwrap_or_default();
            format!(
                "{} {} ({})",
                o["runbook"].as_str().unwrap_or_default(),
                o["state"].as_str().unwrap_or_default(),
                &jti[..jti.len().min(8)]
            )
        }
    };
    let drift = match r["drifted_since"].as_str() {
        Some(_) => {
            let mut d = format!(
                "DRIFTED: {}",
                r["drift_reason"].as_str().unwrap_or_default()
            );
            if d.chars().count() > 60 {
                d = d.chars().take(59).collect::<String>() + "…";
            }
            d
        }
        None => "-".into(),
    };
    let blockers: Vec<String> = r["blockers"]
        .as_array()
        .map(|bs| {
            bs.iter()
                .map(|b| format!("{}#{}", b["kind"].as_str().unwrap_or_default(), b["id"]))
                .collect()
        })
        .unwrap_or_default();
    vec![
        or_dash(&r["host"]),
        last_op,
        or_dash(&r["version"]),
        drift,
        r["pending_approvals"].to_string(),
        if blockers.is_empty() {
            "-".into()
        } else {
            blockers.join(" ")
        },
    ]
}

/// Each host's status as JSON (`bosun_api::views::HostView`): the last
/// op, the version, drift, pending approvals and active blockers, absent
/// values `null`.
fn status_rows(ctl: &Control, hosts: &[bosun_model::Host]) -> Result<Vec<serde_json::Value>> {
    Ok(ctl
        .host_views(hosts)?
        .iter()
        .map(|v| serde_json::to_value(v).unwrap_or_default())
        .collect())
}
