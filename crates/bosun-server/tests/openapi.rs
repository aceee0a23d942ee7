//! `docs/openapi.json` is the OpenAPI document this build serves at
//! `/api/v1/openapi.json`: this test fails when the committed file is
//! stale (`BOSUN_BLESS=1 cargo test -p bosun-server --test openapi`
//! rewrites it), and checks what the document promises.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn the_committed_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let want = bosun_server::openapi::json();
    if std::env::var_os("BOSUN_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/openapi.json is stale: run `BOSUN_BLESS=1 cargo test -p bosun-server --test openapi` and commit it"
    );
}

#[test]
fn every_operation_is_documented_with_the_error_shape() {
    let doc: serde_json::Value = serde_json::from_str(&bosun_server::openapi::json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/status",
        "/ops",
        "/ops/{id}",
        "/approvals",
        "/step-reports",
        "/statements",
        "/hosts",
        "/blockers",
        "/rollouts/{id}",
        "/rollouts/{id}/prepare",
        "/rollouts/{id}/runs",
        "/ledger",
        "/ledger/checkpoints",
        "/ledger/proofs",
        "/ledger/consistency",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    let mut ops = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<_> = responses
                .iter()
                .filter(|(code, _)| !code.starts_with('2'))
                .collect();
            assert!(!errors.is_empty(), "{id}: no error response documented");
            for (code, r) in errors {
                let schema = &r["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{id} {code}: errors must have the one shape"
                );
            }
            // Reads carry the bearer requirement (a plan, and a rollout
            // op prepared for signing, are reads, though POSTed); changes
            // do not (the envelope is their authority).
            let secured = op
                .get("security")
                .is_some_and(|s| !s.as_array().unwrap().is_empty());
            // The kernel's changes carry it too: their body may be large,
            // so the route wants a reader before it reads one.
            let read = method == "get"
                || id == "plan"
                || id == "prepareRolloutRun"
                || id == "kernelChange";
            assert_eq!(secured, read, "{method} {path}: security {op}");
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{id}: no success response documented"
            );
            if method == "post" && id != "plan" {
                assert!(
                    responses.contains_key("422"),
                    "{id}: refusals not documented"
                );
                assert!(
                    op["requestBody"]["content"]["application/json"].is_object(),
                    "{id}: no JSON body"
                );
            }
        }
    }
    assert!(ops >= 14, "{ops} operations");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
