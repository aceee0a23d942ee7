//! The dependency rules of ARCHITECTURE.md, checked: domain crates never
//! depend on the CLI, bosun-model and bosun-sign depend on no bosun crate,
//! the store's traits hold no database (SQLite is a backend above them),
//! and only bosun-control and the CLI may depend on bosun-store.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn deps(krate: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: toml_like::Doc = toml_like::parse(&text);
    v.deps
}

mod toml_like {
    //! Just enough to list `[dependencies]` keys without another crate.
    pub struct Doc {
        pub deps: Vec<String>,
    }
    pub fn parse(text: &str) -> Doc {
        let mut in_deps = false;
        let mut deps = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_deps = l == "[dependencies]";
                continue;
            }
            if in_deps && let Some((k, _)) = l.split_once('=') {
                deps.push(k.trim().to_string());
            }
        }
        Doc { deps }
    }
}

#[test]
fn dependency_rules_hold() {
    let crates = [
        "bosun-model",
        "bosun-sign",
        "bosun-policy",
        "bosun-runbook",
        "bosun-store",
        "bosun-store-sqlite",
        "bosun-workspace",
        "bosun-control",
        "bosun-ledger",
        "bosun-fleet",
    ];
    for c in crates {
        let d = deps(c);
        assert!(
            !d.iter().any(|x| x == "bosun"),
            "{c} must not depend on the CLI"
        );
        assert!(
            !d.iter().any(|x| x == "clap"),
            "{c} must not parse command lines"
        );
    }
    for c in ["bosun-model", "bosun-sign"] {
        let ours: Vec<String> = deps(c)
            .into_iter()
            .filter(|d| d.starts_with("bosun"))
            .collect();
        assert!(
            ours.is_empty(),
            "{c} depends on no bosun crate, found {ours:?}"
        );
    }
    let ledger: Vec<String> = deps("bosun-ledger")
        .into_iter()
        .filter(|d| d.starts_with("bosun") && d != "bosun-sign")
        .collect();
    assert!(
        ledger.is_empty(),
        "bosun-ledger may depend only on bosun-sign, found {ledger:?}"
    );
    for c in [
        "bosun-policy",
        "bosun-runbook",
        "bosun-store",
        "bosun-fleet",
    ] {
        let ours: Vec<String> = deps(c)
            .into_iter()
            .filter(|d| {
                d.starts_with("bosun")
                    && d != "bosun-model"
                    && !(c == "bosun-store" && d == "bosun-ledger")
            })
            .collect();
        assert!(
            ours.is_empty(),
            "{c} may depend only on bosun-model (the store also on bosun-ledger), found {ours:?}"
        );
    }
    // The traits hold no database: a second backend needs no SQLite.
    assert!(
        !deps("bosun-store").iter().any(|d| d == "rusqlite"),
        "bosun-store holds the traits, not a database: rusqlite belongs in bosun-store-sqlite"
    );
    let sqlite: Vec<String> = deps("bosun-store-sqlite")
        .into_iter()
        .filter(|d| {
            d.starts_with("bosun")
                && !["bosun-store", "bosun-model", "bosun-ledger"].contains(&d.as_str())
        })
        .collect();
    assert!(
        sqlite.is_empty(),
        "bosun-store-sqlite may depend only on bosun-store, bosun-model and bosun-ledger, found {sqlite:?}"
    );
    // Only the pipeline opens a backend; everything else sees the traits.
    for c in crates
        .iter()
        .copied()
        .chain(["bosun"])
        .filter(|c| *c != "bosun-control")
    {
        assert!(
            !deps(c).iter().any(|d| d == "bosun-store-sqlite"),
            "{c} must not depend on bosun-store-sqlite: only bosun-control opens the store"
        );
    }
    let ws = deps("bosun-workspace");
    assert!(
        !ws.iter()
            .any(|d| d == "bosun-store" || d == "bosun-store-sqlite" || d == "bosun-control"),
        "bosun-workspace is below the store and control"
    );
}
