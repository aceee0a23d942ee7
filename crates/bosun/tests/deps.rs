//! The dependency rules of ARCHITECTURE.md, checked against `cargo
//! metadata`: every workspace crate has a rule naming the bosun crates it
//! may depend on (a new crate without one fails here until its place is
//! decided), nothing but the CLI parses command lines, and nothing below
//! `bosun-control` reaches the store or the pipeline.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Each crate and the bosun crates its normal (non-dev) dependencies may
/// name. The comment on the root Cargo.toml says the same in words.
const RULES: &[(&str, &[&str])] = &[
    ("bosun-model", &[]),
    ("bosun-sign", &[]),
    ("bosun-passkey", &[]),
    ("bosun-kernel", &["bosun-model"]),
    ("bosun-api", &["bosun-model"]),
    ("bosun-policy", &["bosun-model"]),
    ("bosun-runbook", &["bosun-model"]),
    ("bosun-fleet", &["bosun-model"]),
    ("bosun-transport", &["bosun-model"]),
    ("bosun-ledger", &["bosun-sign"]),
    ("bosun-store", &["bosun-model", "bosun-ledger"]),
    (
        "bosun-store-sqlite",
        &["bosun-model", "bosun-ledger", "bosun-store"],
    ),
    (
        "bosun-workspace",
        &[
            "bosun-model",
            "bosun-sign",
            "bosun-passkey",
            "bosun-policy",
            "bosun-runbook",
            "bosun-fleet",
        ],
    ),
    (
        "bosun-control",
        &[
            "bosun-api",
            "bosun-model",
            "bosun-sign",
            "bosun-passkey",
            "bosun-policy",
            "bosun-runbook",
            "bosun-fleet",
            "bosun-kernel",
            "bosun-transport",
            "bosun-ledger",
            "bosun-store",
            "bosun-store-sqlite",
            "bosun-workspace",
        ],
    ),
    (
        "bosun-mcp",
        &[
            "bosun-api",
            "bosun-client",
            "bosun-model",
            "bosun-sign",
            "bosun-runbook",
            "bosun-workspace",
            "bosun-control",
        ],
    ),
    (
        "bosun-client",
        &["bosun-api", "bosun-model", "bosun-sign", "bosun-control"],
    ),
    ("bosun-web", &["bosun-api", "bosun-model"]),
    (
        "bosun-server",
        &[
            "bosun-api",
            "bosun-model",
            "bosun-sign",
            "bosun-workspace",
            "bosun-control",
            "bosun-client",
            "bosun-mcp",
            "bosun-web",
            "bosun-passkey",
        ],
    ),
    ("bosun", &["*"]),
];

/// Only bosun-control opens a database: the faces go through it.
const ONLY_CONTROL_OPENS_THE_STORE: &[&str] = &["bosun-store-sqlite"];

/// Crates that only the CLI (the edge) may use.
const EDGE_ONLY: &[&str] = &[
    "clap",
    "clap_complete",
    "clap_mangen",
    "indicatif",
    "tracing-subscriber",
    "insta",
];

/// Async crates: only the edges that serve (the HTTP server, the MCP
/// server) and the CLI that starts them; the core stays synchronous.
const ASYNC_EDGE_ONLY: &[&str] = &[
    "tokio",
    "tokio-rustls",
    "axum",
    "aide",
    "rmcp",
    "hyper",
    "hyper-util",
];
const ASYNC_EDGES: &[&str] = &["bosun", "bosun-server", "bosun-mcp", "bosun-client"];

/// Each workspace crate with its normal dependencies, from `cargo metadata`.
fn workspace() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

#[test]
fn every_crate_keeps_its_dependency_rule() {
    let ws = workspace();
    assert!(ws.len() >= 10, "{ws:?}");
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let mut broken = Vec::new();
    for (krate, deps) in &ws {
        let Some(allowed) = rules.get(krate.as_str()) else {
            broken.push(format!(
                "{krate} has no dependency rule: add it to RULES here and to the root Cargo.toml"
            ));
            continue;
        };
        for d in deps {
            let ours = ws.contains_key(d);
            if ours && !allowed.contains(&"*") && !allowed.contains(&d.as_str()) {
                broken.push(format!(
                    "{krate} may not depend on {d} (allowed: {allowed:?})"
                ));
            }
            if krate != "bosun-control" && ONLY_CONTROL_OPENS_THE_STORE.contains(&d.as_str()) {
                broken.push(format!(
                    "{krate} depends on {d}: only bosun-control opens the store"
                ));
            }
            if krate != "bosun" && EDGE_ONLY.contains(&d.as_str()) {
                broken.push(format!("{krate} uses {d}, which only the CLI may"));
            }
            if !ASYNC_EDGES.contains(&krate.as_str()) && ASYNC_EDGE_ONLY.contains(&d.as_str()) {
                broken.push(format!(
                    "{krate} uses {d}: async lives only in {ASYNC_EDGES:?}"
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn nothing_depends_on_the_cli() {
    for (krate, deps) in workspace() {
        assert!(
            !deps.iter().any(|d| d == "bosun"),
            "{krate} depends on the CLI"
        );
    }
}
