//! `bosun hosts`: the inventory in force and each host's state.

use std::process::ExitCode;

use bosun_control::{Control, Result};
use clap::Subcommand;
use serde_json::json;

use super::other;
use crate::output::{table, time};

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

/// Runs `bosun hosts …`.
pub(crate) fn run(ctl: &Control, cmd: HostsCmd) -> Result<ExitCode> {
    let (inv, warning) = ctl.inventory_in_force()?;
    if let Some(w) = warning {
        errln!("warning: {w}");
    }
    match cmd {
        HostsCmd::List { json: j } => {
            if j {
                outln!("{}", serde_json::to_string(&inv.hosts).unwrap_or_default());
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
                outln!(
                    "{}",
                    json!({"host": h, "status": rows.first(), "blockers": blockers})
                );
            } else {
                outln!("{}", toml::to_string(h).unwrap_or_default());
                if let Some(r) = rows.first() {
                    outln!("last op     {}", r["last_op"].as_str().unwrap_or("-"));
                    outln!("version     {}", r["version"].as_str().unwrap_or("-"));
                    outln!("drift       {}", r["drift"].as_str().unwrap_or("-"));
                    outln!("pending     {}", r["pending_approvals"]);
                }
                for b in blockers {
                    outln!("blocker {}  {}: {}", b.id, b.kind, b.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        HostsCmd::Status { json: j } => {
            if j {
                outln!(
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
