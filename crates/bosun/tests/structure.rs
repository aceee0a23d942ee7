//! The shape of the tree, checked (ARCHITECTURE.md, "Architecture
//! invariants"): files stay in the hundreds of lines, only the CLI crate
//! writes command text, `bosun-control` keeps its store private, and the
//! modules listed here do not import each other in a cycle.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The most lines a source file may have.
const MAX_LINES: usize = 800;

/// The CLI's verbs: `bosun <verb>` in a string below the CLI crate is
/// command text that belongs to the CLI.
const VERBS: &[&str] = &[
    "init", "key", "adopt", "status", "plan", "submit", "approve", "deny", "ops", "policy", "halt",
    "resume", "serve", "work", "step", "runbook", "hosts", "blockers", "rollout", "remind",
    "snooze", "ledger", "demo", "bench", "patches", "kernel", "campaign",
];

/// Files whose strings are the contents of files scaffolded for users,
/// which document themselves (and so may name commands).
const SCAFFOLDED: &[&str] = &[
    "crates/bosun-workspace/src/scaffold.rs",
    "crates/bosun-policy/src/defaults.rs",
];

/// Modules (as directories or files under `crates/bosun-control/src`) that
/// must not import the other: `(module, must not import)`. Rollout
/// registers its admission checks with intake (`intake::RolloutAdmission`),
/// so intake never names rollout; the engine (intake, controller, rollout)
/// never reaches up into the facade's views or the daemon.
const NO_IMPORT: &[(&str, &str)] = &[
    ("intake", "rollout"),
    ("intake", "controller"),
    ("controller", "intake"),
    ("controller", "rollout"),
    ("controller", "daemon"),
    ("intake", "views"),
    ("controller", "views"),
    ("rollout", "views"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for c in std::fs::read_dir(repo().join("crates")).unwrap() {
        rust_files(&c.unwrap().path().join("src"), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .replace("/../..", "");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(p, text)| format!("{p}: {} lines", text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files above {MAX_LINES} lines (a long file is a folder): {long:#?}"
    );
}

/// The code part of a line: what comes before a `//` comment (a `//`
/// inside a string, as in a URL, keeps the line).
fn code(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") { "" } else { line }
}

fn command_text(line: &str) -> Option<String> {
    let mut rest = line;
    while let Some(i) = rest.find("bosun ") {
        let after = &rest[i + "bosun ".len()..];
        let word: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        // A command starts a string or a code span, or follows a colon:
        // "bosun key" in prose ("a bosun key") is not one.
        let before = rest[..i].trim_end_matches(' ').chars().last();
        let starts = before.is_none_or(|c| matches!(c, '`' | '"' | '\'' | ':'));
        if starts && VERBS.contains(&word.as_str()) {
            return Some(format!("bosun {word}"));
        }
        rest = after;
    }
    None
}

#[test]
fn only_the_cli_writes_command_text() {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if path.starts_with("crates/bosun/")
            || path.ends_with("/tests.rs")
            || SCAFFOLDED.contains(&path.as_str())
        {
            continue;
        }
        let mut in_tests = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            if in_tests {
                continue;
            }
            if let Some(cmd) = command_text(code(line)) {
                found.push(format!("{path}:{}: `{cmd}`", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "command text below the CLI (return a bosun_api::NextAction instead): {found:#?}"
    );
}

#[test]
fn bosun_control_keeps_its_store_private() {
    for (path, text) in sources() {
        if !path.starts_with("crates/bosun-control/") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let l = code(line).trim_start();
            assert!(
                !(l.starts_with("pub store:")
                    || l.starts_with("pub store ")
                    || l.starts_with("pub fn store(")
                    || l.starts_with("pub fn store<")),
                "{path}:{}: the store is exposed: {l}",
                n + 1
            );
        }
    }
}

#[test]
fn listed_modules_do_not_import_each_other() {
    let src = repo().join("crates/bosun-control/src");
    for (module, forbidden) in NO_IMPORT {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            files.push(file);
        }
        assert!(!files.is_empty(), "no module `{module}`");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let l = code(line);
                assert!(
                    !l.contains(&format!("crate::{forbidden}::"))
                        && !l.contains(&format!("crate::{forbidden};"))
                        && !l.contains(&format!("crate::{{{forbidden}")),
                    "{}:{}: `{module}` imports `{forbidden}`",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn command_text_is_recognised() {
    assert_eq!(
        command_text("format!(\"run `bosun adopt --as x`\")").as_deref(),
        Some("bosun adopt")
    );
    assert_eq!(command_text("\"the bosun schema\""), None);
    assert_eq!(command_text("\"re-sign it with a bosun key\""), None);
    assert_eq!(
        command_text("\"reports: bosun step report x\"").as_deref(),
        Some("bosun step")
    );
    assert_eq!(command_text("bosun-control"), None);
    assert_eq!(code("    // see `bosun adopt`"), "");
}
