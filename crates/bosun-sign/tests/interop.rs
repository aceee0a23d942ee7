//! Interop with an independent JOSE implementation (PyJWT + cryptography):
//! PyJWT verifies what bosun signs, and bosun verifies what PyJWT signs.
//!
//! Needs `python3 -m pip install pyjwt cryptography`. When they are missing the
//! tests print a notice and pass, unless `CI` is set, where they fail.

// Helpers outside #[test] fns panic on setup failures too.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bosun_sign::{SecretKey, decode, sign_compact};
use serde_json::json;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
        .join(name)
}

/// Whether python3 with PyJWT and cryptography is available.
fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but python3 with PyJWT is missing: run `python3 -m pip install pyjwt cryptography`"
        );
        eprintln!(
            "notice: skipping JOSE interop test, python3 with PyJWT is missing \
             (python3 -m pip install pyjwt cryptography)"
        );
    }
    ok
}

fn run(script_name: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg(script(script_name))
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{script_name} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn claims() -> serde_json::Value {
    json!({
        "jti": "op-7f3a",
        "iss": "agent-1",
        "iat": 1_700_000_000,
        "exp": 1_700_000_600,
        "targets": ["web1", "web2"],
        "params": {"version": "1.2.3", "unicode": "é✓"},
        "seq": 42,
    })
}

#[test]
fn pyjwt_verifies_bosun_tokens() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed([9; 32]);
    let token = sign_compact(&key, "agent-1", "bosun-op+jwt", &claims()).expect("signs");
    let jwk_path = dir.path().join("agent-1.jwk");
    let token_path = dir.path().join("op.jws");
    std::fs::write(
        &jwk_path,
        serde_json::to_string(&key.public().to_jwk("agent-1")).expect("json"),
    )
    .expect("write jwk");
    std::fs::write(&token_path, &token).expect("write token");

    let printed = run("verify_jws.py", &[&jwk_path, &token_path]);
    let verified: serde_json::Value = serde_json::from_str(printed.trim()).expect("claims JSON");
    assert_eq!(verified, claims());

    // And PyJWT rejects a token signed by another key.
    let other = SecretKey::from_seed([10; 32]);
    std::fs::write(
        &jwk_path,
        serde_json::to_string(&other.public().to_jwk("x")).expect("json"),
    )
    .expect("write jwk");
    let out = Command::new("python3")
        .arg(script("verify_jws.py"))
        .args([&jwk_path, &token_path])
        .output()
        .expect("run python3");
    assert!(
        !out.status.success(),
        "PyJWT accepted a token under the wrong key"
    );
}

#[test]
fn bosun_verifies_pyjwt_tokens() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed([11; 32]);
    let jwk_path = dir.path().join("k.jwk");
    let claims_path = dir.path().join("claims.json");
    std::fs::write(
        &jwk_path,
        serde_json::to_string(&key.to_private_jwk("human-1")).expect("json"),
    )
    .expect("write jwk");
    std::fs::write(&claims_path, claims().to_string()).expect("write claims");

    let token = run("sign_jws.py", &[&jwk_path, &claims_path]);
    let unverified = decode(token.trim()).expect("bosun decodes PyJWT's token");
    assert_eq!(unverified.kid(), Some("human-1"));
    unverified
        .verify(&key.public())
        .expect("bosun verifies PyJWT's signature");
    assert_eq!(
        unverified.claims::<serde_json::Value>().expect("claims"),
        claims()
    );
}
