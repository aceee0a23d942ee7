//! `docs/JSON.md`, the documented JSON shapes of every view, is generated
//! from `bosun-api`'s schemas; this test fails when the committed file is
//! stale. Regenerate it with `BOSUN_BLESS=1 cargo test -p bosun-api --test
//! json_doc`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

/// A property's type in words: `string`, `[OpBrief]`, `Timestamp | null`.
fn type_of(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return format!("`{}`", r.rsplit('/').next().unwrap_or(r));
    }
    if let Some(alts) = v
        .get("anyOf")
        .or_else(|| v.get("oneOf"))
        .and_then(Value::as_array)
    {
        return alts.iter().map(type_of).collect::<Vec<_>>().join(" or ");
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    let t = match v.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    };
    if t == "array" {
        return format!("list of {}", v.get("items").map_or("any".into(), type_of));
    }
    if let Some(add) = v
        .get("additionalProperties")
        .filter(|a| t == "object" && a.is_object())
    {
        return format!("map to {}", type_of(add));
    }
    if let Some(f) = v.get("format").and_then(Value::as_str) {
        return format!("{t} ({f})");
    }
    t
}

fn props(out: &mut String, v: &Value) {
    let required: Vec<&str> = v
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(p) = v.get("properties").and_then(Value::as_object) {
        out.push_str("\n| field | type | |\n|---|---|---|\n");
        // Sorted here: serde_json's map order depends on its features.
        let mut p: Vec<_> = p.iter().collect();
        p.sort_by_key(|(k, _)| *k);
        for (k, pv) in p {
            let desc = pv
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\n', " ");
            let opt = if required.contains(&k.as_str()) {
                ""
            } else {
                " (optional)"
            };
            out.push_str(&format!("| `{k}`{opt} | {} | {desc} |\n", type_of(pv)));
        }
    }
}

fn render() -> String {
    let mut out = String::from(
        "# JSON shapes\n\n\
         Generated from the `bosun-api` crate's schemas by \
         `BOSUN_BLESS=1 cargo test -p bosun-api --test json_doc`; do not edit by hand.\n\n\
         The read verbs `status`, `ops list`, `ops show`, `hosts status`, `rollout \
         status`, `rollout list`, `blockers show` and `ledger checkpoints` print \
         these views (or lists of them) with `--json`, and the HTTP API to come \
         will send them; the other verbs' JSON (`blockers list`, `ledger verify`, \
         `ledger prove`, …) is objects with the same conventions. Times are RFC 3339 strings; absent \
         values are left out or `null`, never `0` or `\"-\"`. A refusal (exit code 3) is \
         a `Rejection`; what can be done next is a list of `NextAction`s, tagged by \
         `action`.\n",
    );
    let mut defs: Vec<_> = bosun_api::schema::definitions().into_iter().collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, v) in defs {
        out.push_str(&format!("\n## `{name}`\n\n"));
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            out.push_str(d);
            out.push('\n');
        }
        props(&mut out, &v);
        if let Some(alts) = v.get("oneOf").and_then(Value::as_array) {
            for a in alts {
                let tag = a
                    .pointer("/properties/action/const")
                    .map(ToString::to_string)
                    .unwrap_or_else(|| type_of(a));
                let d = a.get("description").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!("\n- {tag}: {d}"));
                let fields: Vec<String> = a
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| {
                        p.iter()
                            .filter(|(k, _)| k.as_str() != "action")
                            .collect::<std::collections::BTreeMap<_, _>>()
                            .into_iter()
                            .map(|(k, pv)| format!("`{k}`: {}", type_of(pv)))
                            .collect()
                    })
                    .unwrap_or_default();
                if !fields.is_empty() {
                    out.push_str(&format!(" ({})", fields.join(", ")));
                }
            }
            out.push('\n');
        } else if v.get("properties").is_none() {
            out.push_str(&format!("\nA {}.\n", type_of(&v)));
        }
    }
    out
}

#[test]
fn the_json_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/JSON.md");
    let want = render();
    if std::env::var_os("BOSUN_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/JSON.md is stale: run `BOSUN_BLESS=1 cargo test -p bosun-api --test json_doc` and commit it"
    );
}
