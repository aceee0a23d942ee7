//! `keeper.toml`: the shipped default parses; every kind of mistake is
//! refused at the right `line:column`; several mistakes are reported at once;
//! no input makes the parser panic.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bosun_model::{Requirement, Role};
use bosun_policy::error::line_col;
use bosun_policy::{
    DEFAULT_CEDAR, DEFAULT_KEEPER_TOML, ErrorKind, Mode, Policy, PolicyError, SourceFile,
};
use proptest::prelude::*;

const PATH: &str = "policy/keeper.toml";

fn load(keeper: &str) -> Result<Policy, Vec<PolicyError>> {
    Policy::load(
        &SourceFile::new(PATH, keeper),
        &[SourceFile::new("policy/default.cedar", DEFAULT_CEDAR)],
    )
    .map_err(|e| e.0)
}

/// The (line, column) of the first occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"));
    line_col(text, at)
}

fn at(e: &PolicyError) -> (usize, usize) {
    (e.line, e.column)
}

#[test]
fn the_default_file_parses() {
    let p = load(DEFAULT_KEEPER_TOML).unwrap();
    assert_eq!(p.mode(), Mode::Hybrid);
    assert_eq!(p.approval_validity_secs(), 24 * 3600);
    assert_eq!(
        p.adoption_requirement(),
        Requirement {
            m: 2,
            roles: vec![Role::Operator]
        }
    );
    assert_eq!(
        p.default_requirement(),
        Requirement {
            m: 1,
            roles: vec![Role::Operator]
        }
    );
    assert!(!p.allow_auto_promotion());
    assert_eq!(p.keeper().agent_max_hosts, Some(10));
    assert_eq!(p.budgets().len(), 1);
    assert_eq!(p.budgets()[0].role, Role::Agent);
    assert_eq!(p.budgets()[0].max_hosts, 50);
    assert_eq!(p.budgets()[0].per_secs, 3600);
    assert_eq!(p.keeper().windows.len(), 1);
    assert_eq!(p.keeper().windows[0].name, "business-hours");
    assert!(p.keeper().named.contains_key("two-operators"));
}

#[test]
fn minimal_file_parses_with_defaults() {
    let text = r#"
mode = "auto"
approval_validity = "30m"
approvals.default = { m = 1, roles = ["operator"] }
adoption = { m = 1, roles = ["operator"] }
"#;
    let p = load(text).unwrap();
    assert_eq!(p.mode(), Mode::Auto);
    assert_eq!(p.approval_validity_secs(), 1800);
    assert!(p.budgets().is_empty());
    assert_eq!(p.keeper().agent_max_hosts, None);
}

#[test]
fn unknown_key_is_refused_at_its_position() {
    let text = DEFAULT_KEEPER_TOML.replace(
        "agent_max_hosts = 10",
        "agent_max_hosts = 10\nagent_max_host = 3",
    );
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].kind, ErrorKind::Toml);
    assert_eq!(at(&errs[0]), pos(&text, "agent_max_host ="));
    assert!(errs[0].message.contains("agent_max_host"), "{}", errs[0]);
    assert!(
        errs[0]
            .to_string()
            .starts_with(&format!("{PATH}:{}:1: ", at(&errs[0]).0))
    );
}

#[test]
fn unknown_top_level_key_is_refused() {
    let text = format!("{DEFAULT_KEEPER_TOML}\n[extra]\nx = 1\n");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::Toml);
    assert_eq!(errs[0].line, pos(&text, "[extra]").0);
}

#[test]
fn bad_mode_is_refused_at_the_value() {
    let text = DEFAULT_KEEPER_TOML.replace("mode = \"hybrid\"", "mode = \"yolo\"");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].kind, ErrorKind::Keeper);
    assert_eq!(at(&errs[0]), pos(&text, "\"yolo\""));
    assert!(errs[0].message.contains("yolo"));
    assert!(errs[0].help.contains("hybrid"));
}

#[test]
fn bad_duration_is_refused_at_the_value() {
    let text = DEFAULT_KEEPER_TOML.replace("\"24h\"", "\"24 hours\"");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(at(&errs[0]), pos(&text, "\"24 hours\""));
    assert!(errs[0].message.contains("approval_validity"));
}

#[test]
fn bad_time_zone_is_refused_at_the_value() {
    let text = DEFAULT_KEEPER_TOML.replace("tz = \"UTC\"", "tz = \"Mars/Olympus_Mons\"");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(at(&errs[0]), pos(&text, "\"Mars/Olympus_Mons\""));
    assert!(errs[0].message.contains("time zone"));
}

#[test]
fn several_errors_are_reported_at_once() {
    let text = DEFAULT_KEEPER_TOML
        .replace("mode = \"hybrid\"", "mode = \"yolo\"")
        .replace("\"24h\"", "\"-3h\"")
        .replace("tz = \"UTC\"", "tz = \"Nowhere/City\"")
        .replace("per = \"1h\"", "per = \"soon\"")
        .replace("role = \"agent\"", "role = \"robot\"")
        .replace("\"09:00\"", "\"9am\"")
        .replace("[\"mon\", \"tue\"", "[\"monday\", \"tue\"");
    let errs = load(&text).unwrap_err();
    let lines: Vec<(usize, usize)> = errs.iter().map(at).collect();
    let want = vec![
        pos(&text, "\"yolo\""),
        pos(&text, "\"-3h\""),
        pos(&text, "\"robot\""),
        pos(&text, "\"soon\""),
        pos(&text, "\"Nowhere/City\""),
        pos(&text, "\"monday\""),
        pos(&text, "\"9am\""),
    ];
    assert_eq!(lines, want, "{errs:#?}");
    assert!(errs.iter().all(|e| e.kind == ErrorKind::Keeper));
}

#[test]
fn requirements_are_checked() {
    let text = DEFAULT_KEEPER_TOML
        .replace(
            "default = { m = 1, roles = [\"operator\"] }",
            "default = { m = 0, roles = [\"agent\"] }",
        )
        .replace(
            "[adoption]\nm = 2\nroles = [\"operator\"]",
            "[adoption]\nm = 2\nroles = []",
        );
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_eq!(at(&errs[0]), pos(&text, "0, roles"));
    assert_eq!(at(&errs[1]), pos(&text, "\"agent\"] }"));
    assert!(errs[1].message.contains("never approve"));
    assert_eq!(at(&errs[2]), pos(&text, "[]"));
}

#[test]
fn keeper_and_cedar_errors_come_together() {
    let text = DEFAULT_KEEPER_TOML.replace("mode = \"hybrid\"", "mode = \"yolo\"");
    let errs = Policy::load(
        &SourceFile::new(PATH, text),
        &[SourceFile::new(
            "policy/x.cedar",
            "permit (principal, action, resource",
        )],
    )
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(errs[0].kind, ErrorKind::Keeper);
    assert_eq!(errs[1].kind, ErrorKind::CedarSyntax);
}

#[test]
fn oversized_file_is_refused() {
    let text = format!("{DEFAULT_KEEPER_TOML}\n#{}\n", "x".repeat(1 << 20));
    let errs = load(&text).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::TooLarge);
}

#[test]
fn statements_lifetimes_and_subject_quorums() {
    // The safe defaults: anyone stops work, only operators let it continue.
    let p = load(DEFAULT_KEEPER_TOML).unwrap();
    assert!(p.may(Role::Agent, "halt") && p.may(Role::Agent, "blocker_file"));
    for verb in [
        "resume",
        "blocker_resolve",
        "blocker_snooze",
        "snooze",
        "rollout_abort",
        "rollout_done",
    ] {
        assert!(
            p.may(Role::Operator, verb) && !p.may(Role::Agent, verb),
            "{verb}"
        );
    }
    assert_eq!(p.max_op_lifetime_secs(Role::Agent), 3600);
    assert_eq!(p.max_op_lifetime_secs(Role::Operator), 86_400);
    assert_eq!(p.adoption_requirement_for("inventory").m, 2);
    let text = format!(
        "{DEFAULT_KEEPER_TOML}\n[statements]\nhalt = [\"operator\"]\n\n[max_op_lifetime]\nagent = \"10m\"\n"
    )
    .replace(
        "[adoption]\nm = 2\nroles = [\"operator\"]\n",
        "[adoption]\nm = 2\nroles = [\"operator\"]\nsubjects = { inventory = { m = 1, roles = [\"operator\"] } }\n",
    );
    let p = load(&text).unwrap();
    assert!(!p.may(Role::Agent, "halt") && p.may(Role::Operator, "halt"));
    assert_eq!(p.max_op_lifetime_secs(Role::Agent), 600);
    assert_eq!(p.adoption_requirement_for("inventory").m, 1);
    assert_eq!(p.adoption_requirement_for("runbook").m, 2);
    // No policy lets an agent resume; unknown verbs, roles and kinds are
    // refused at their place.
    for (bad, needle, want) in [
        (
            "\n[statements]\nresume = [\"operator\", \"agent\"]\n",
            "\"agent\"]",
            "may never resume",
        ),
        (
            "\n[statements]\nreboot = [\"operator\"]\n",
            "[\"operator\"]\n",
            "not a verb",
        ),
        (
            "\n[max_op_lifetime]\nrobot = \"1h\"\n",
            "\"1h\"",
            "unknown role",
        ),
    ] {
        let text = format!("{DEFAULT_KEEPER_TOML}{bad}");
        let errs = load(&text).unwrap_err();
        assert!(errs[0].message.contains(want), "{:?}", errs[0]);
        let last = text.rfind(needle).unwrap();
        assert_eq!(at(&errs[0]), line_col(&text, last), "{:?}", errs[0]);
    }
    let text = DEFAULT_KEEPER_TOML.replace(
        "[adoption]\nm = 2\nroles = [\"operator\"]\n",
        "[adoption]\nm = 2\nroles = [\"operator\"]\nsubjects = { fleet = { m = 1, roles = [\"operator\"] } }\n",
    );
    let errs = load(&text).unwrap_err();
    assert!(
        errs[0].message.contains("not a kind of adoption subject"),
        "{:?}",
        errs[0]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        let _ = load(&s);
    }

    #[test]
    fn mutated_default_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[ -~\\n]{0,4}"), 1..5)
    ) {
        let mut text = DEFAULT_KEEPER_TOML.to_string();
        for (ix, op, s) in edits {
            let mut at = ix.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match op {
                0 => text.insert_str(at, &s),
                1 => {
                    let mut end = (at + s.len().max(1)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + s.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, &s);
                }
            }
        }
        if let Err(errs) = load(&text) {
            prop_assert!(!errs.is_empty());
            for e in errs {
                prop_assert!(e.line >= 1 && e.column >= 1);
                prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}
