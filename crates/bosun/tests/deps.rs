//! The dependency rules of ARCHITECTURE.md, checked: domain crates never
//! depend on the CLI, bosun-model and bosun-sign depend on no bosun crate,
//! only bosun-control and the CLI may depend on bosun-store, and only the
//! CLI parses command lines (clap, clap_complete, clap_mangen), draws
//! progress (indicatif) or sets up logging (tracing-subscriber).

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
            !d.iter().any(|x| x.starts_with("clap")),
            "{c} must not parse command lines (nor make completions or man pages)"
        );
        assert!(
            !d.iter()
                .any(|x| x == "indicatif" || x == "tracing-subscriber"),
            "{c} must not draw progress bars or set up logging: only the CLI does"
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
    let ws = deps("bosun-workspace");
    assert!(
        !ws.iter()
            .any(|d| d == "bosun-store" || d == "bosun-control"),
        "bosun-workspace is below the store and control"
    );
}
