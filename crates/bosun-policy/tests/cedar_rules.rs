//! Loading `.cedar` files: syntax and schema errors point at
//! `file:line:column` with the policy id; ids are unique and stable;
//! annotations are checked; the digest covers every file.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bosun_policy::error::line_col;
use bosun_policy::{
    DEFAULT_CEDAR, DEFAULT_KEEPER_TOML, ErrorKind, Policy, PolicyError, SCHEMA, SourceFile,
};

fn keeper() -> SourceFile {
    SourceFile::new("policy/keeper.toml", DEFAULT_KEEPER_TOML)
}

fn load(files: &[(&str, &str)]) -> Result<Policy, Vec<PolicyError>> {
    let files: Vec<SourceFile> = files.iter().map(|(p, t)| SourceFile::new(*p, *t)).collect();
    Policy::load(&keeper(), &files).map_err(|e| e.0)
}

fn pos(text: &str, needle: &str) -> (usize, usize) {
    line_col(
        text,
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in the text")),
    )
}

#[test]
fn schema_and_defaults_load() {
    assert!(SCHEMA.contains("namespace Bosun"));
    let p = load(&[("policy/default.cedar", DEFAULT_CEDAR)]).unwrap();
    assert_eq!(
        p.policy_ids(),
        vec![
            "agent-changes-need-an-operator",
            "operator-changes-need-another-operator",
            "read-only-runs-alone"
        ]
    );
}

#[test]
fn syntax_error_is_refused_with_its_position() {
    let text =
        "// ok so far\npermit (principal, action, resource)\nwhen { resource.read_only && };\n";
    let errs = load(&[("policy/bad.cedar", text)]).unwrap_err();
    assert!(!errs.is_empty());
    let e = &errs[0];
    assert_eq!(e.kind, ErrorKind::CedarSyntax);
    assert_eq!(e.path, "policy/bad.cedar");
    assert_eq!((e.line, e.column), pos(text, "};"), "{e}");
    assert!(e.to_string().starts_with("policy/bad.cedar:3:"), "{e}");
}

#[test]
fn unknown_attribute_is_refused_by_the_schema() {
    let text = "@id(\"first\")\n@outcome(\"auto\")\npermit (principal, action, resource)\nwhen { resource.read_only };\n\n@id(\"second\")\npermit (principal, action, resource)\nwhen {\n  resource.nonexistent\n};\n";
    let errs = load(&[("policy/a.cedar", text)]).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.kind, ErrorKind::CedarValidation);
    assert_eq!(e.policy_id.as_deref(), Some("second"));
    assert_eq!((e.line, e.column), pos(text, "resource.nonexistent"), "{e}");
    assert!(e.to_string().contains("nonexistent"), "{e}");
    assert!(e.to_string().contains("policy `second`"), "{e}");
}

#[test]
fn type_errors_are_refused_in_strict_mode() {
    // A Long compared with a String.
    let text = "permit (principal, action, resource) when { context.hour == \"nine\" };";
    let errs = load(&[("policy/t.cedar", text)]).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::CedarValidation);
    assert_eq!(errs[0].policy_id.as_deref(), Some("t:0"));
}

#[test]
fn errors_in_several_files_come_together() {
    let errs = load(&[
        (
            "policy/b.cedar",
            "permit (principal, action, resource) when { resource.nope };",
        ),
        ("policy/a.cedar", "permit (principal, action resource);"),
    ])
    .unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    // Files in name order.
    assert_eq!(errs[0].path, "policy/a.cedar");
    assert_eq!(errs[1].path, "policy/b.cedar");
}

#[test]
fn duplicate_ids_are_refused() {
    let a = "@id(\"same\")\npermit (principal, action, resource);\n";
    let b = "// b\n@id(\"same\")\nforbid (principal, action, resource);\n";
    let errs = load(&[("policy/a.cedar", a), ("policy/b.cedar", b)]).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].kind, ErrorKind::Duplicate);
    assert_eq!(errs[0].path, "policy/b.cedar");
    assert_eq!(errs[0].line, 2);
    assert!(
        errs[0].message.contains("policy/a.cedar:1:1"),
        "{}",
        errs[0]
    );

    // An explicit id that collides with a generated one.
    let c = "permit (principal, action, resource);\n@id(\"c:0\")\npermit (principal, action, resource);\n";
    let errs = load(&[("policy/c.cedar", c)]).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::Duplicate);
    assert_eq!(errs[0].line, 2);
}

#[test]
fn generated_ids_are_file_stem_and_index() {
    let a = "permit (principal, action, resource);\n@id(\"named\")\npermit (principal, action, resource);\npermit (principal, action, resource);\n";
    let p = load(&[("policy/base.cedar", a)]).unwrap();
    assert_eq!(p.policy_ids(), vec!["base:0", "base:2", "named"]);
}

#[test]
fn annotations_are_checked() {
    let text = r#"
@outcom("approvals")
permit (principal, action, resource);

@outcome("maybe")
permit (principal, action, resource);

@outcome("auto")
forbid (principal, action, resource);

@outcome("approvals")
@requirement("three-admins")
permit (principal, action, resource);

@requirement("two-operators")
permit (principal, action, resource);
"#;
    let errs = load(&[("policy/ann.cedar", text)]).unwrap_err();
    let got: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        got,
        vec![
            pos(text, "@outcom("),
            pos(text, "@outcome(\"maybe"),
            pos(text, "@outcome(\"auto"),
            pos(text, "@requirement(\"three"),
            pos(text, "@requirement(\"two"),
        ],
        "{errs:#?}"
    );
    assert!(errs.iter().all(|e| e.kind == ErrorKind::Annotation));
    assert!(errs[3].message.contains("two-operators"), "{}", errs[3]);
}

#[test]
fn templates_are_refused() {
    let text = "permit (principal == ?principal, action, resource);";
    let errs = load(&[("policy/t.cedar", text)]).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::Template);
}

#[test]
fn duplicate_file_names_are_refused() {
    let errs = load(&[
        ("policy/a.cedar", "permit (principal, action, resource);"),
        ("other/a.cedar", "permit (principal, action, resource);"),
    ])
    .unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::Duplicate);
}

#[test]
fn digest_covers_every_file_and_not_their_order() {
    let k = keeper();
    let a = SourceFile::new("policy/a.cedar", "permit (principal, action, resource);");
    let b = SourceFile::new(
        "policy/b.cedar",
        "@outcome(\"auto\") permit (principal, action, resource);",
    );
    let d1 = Policy::load(&k, &[a.clone(), b.clone()])
        .unwrap()
        .digest()
        .clone();
    let d2 = Policy::load(&k, &[b.clone(), a.clone()])
        .unwrap()
        .digest()
        .clone();
    assert_eq!(d1, d2);
    // Same files elsewhere on disk: same digest.
    let a_moved = SourceFile::new("/elsewhere/policy/a.cedar", a.text.clone());
    let d3 = Policy::load(&k, &[a_moved, b.clone()])
        .unwrap()
        .digest()
        .clone();
    assert_eq!(d1, d3);
    // A comment is a change.
    let a2 = SourceFile::new("policy/a.cedar", format!("{}\n// x", a.text));
    let d4 = Policy::load(&k, &[a2, b.clone()]).unwrap().digest().clone();
    assert_ne!(d1, d4);
    // keeper.toml is covered.
    let k2 = SourceFile::new("policy/keeper.toml", format!("{DEFAULT_KEEPER_TOML}\n"));
    let d5 = Policy::load(&k2, &[a.clone(), b.clone()])
        .unwrap()
        .digest()
        .clone();
    assert_ne!(d1, d5);
    // Moving text between files is a change (names and lengths frame each file).
    let ab = SourceFile::new("policy/a.cedar", format!("{}\n{}", a.text, b.text));
    let empty = SourceFile::new("policy/b.cedar", "");
    let d6 = Policy::load(&k, &[ab, empty]).unwrap().digest().clone();
    assert_ne!(d1, d6);
}

#[test]
fn too_many_policies_are_refused() {
    let text = "permit (principal, action, resource);\n".repeat(10_001);
    let errs = load(&[("policy/many.cedar", &text)]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, ErrorKind::TooLarge);
    assert_eq!(errs[0].line, 10_001);
}

#[test]
fn oversized_file_is_refused() {
    let text = format!(
        "permit (principal, action, resource);\n//{}",
        "x".repeat(1 << 20)
    );
    let errs = load(&[("policy/big.cedar", &text)]).unwrap_err();
    assert_eq!(errs[0].kind, ErrorKind::TooLarge);
}
