//! Private key files: permissions, no overwrite, clear errors; public JWK strictness.

// Helpers outside #[test] fns panic on setup failures too.
#![allow(clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;

use bosun_sign::{
    Jwk, PublicKey, SecretKey, SignError, find_private_key, parse_jwk, read_private_key,
    write_private_key,
};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn write_then_read_and_find() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nested").join("keys");
    let key = SecretKey::from_seed([3; 32]);
    let path = write_private_key(&dir, "alice", &key).expect("writes");
    assert_eq!(path, dir.join("alice.jwk"));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let read = read_private_key(&path).expect("reads");
    assert_eq!(read.public(), key.public());
    let found = find_private_key(&dir, "alice").expect("finds");
    assert_eq!(found.public(), key.public());
    let jwk = parse_jwk(&std::fs::read_to_string(&path).expect("read")).expect("jwk");
    assert_eq!(jwk.kid.as_deref(), Some("alice"));
    // No temporary files are left behind.
    let entries: Vec<_> = std::fs::read_dir(&dir).expect("ls").collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn overwrite_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = SecretKey::from_seed([3; 32]);
    let path = write_private_key(tmp.path(), "alice", &first).expect("writes");
    let err = write_private_key(tmp.path(), "alice", &SecretKey::from_seed([4; 32]))
        .expect_err("must refuse");
    assert!(matches!(err, SignError::KeyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(
        read_private_key(&path).expect("still there").public(),
        first.public()
    );
}

#[test]
fn group_readable_key_refused_with_chmod_hint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_private_key(tmp.path(), "alice", &SecretKey::from_seed([3; 32])).expect("w");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = read_private_key(&path).expect_err("must refuse");
    assert!(
        matches!(err, SignError::InsecurePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("0644"), "{msg}");
    assert!(
        msg.contains(&format!("chmod 600 {}", path.display())),
        "{msg}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    read_private_key(&path).expect("0400 is fine");
}

#[test]
fn missing_key_says_to_register_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = find_private_key(tmp.path(), "bob").expect_err("none");
    assert!(matches!(err, SignError::NoPrivateKey { .. }));
    let msg = err.to_string();
    assert!(msg.contains("register a key of that name"), "{msg}");
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
}

#[test]
fn bad_names_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed([3; 32]);
    for name in ["", "../x", "a/b", ".hidden", "-rf", "a b"] {
        assert!(
            matches!(
                write_private_key(tmp.path(), name, &key),
                Err(SignError::InvalidKeyName { .. })
            ),
            "{name:?}"
        );
    }
}

#[test]
fn corrupt_key_file_names_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("k.jwk");
    let mut jwk = SecretKey::from_seed([3; 32]).to_private_jwk("k");
    jwk.x = SecretKey::from_seed([4; 32]).public().to_jwk("k").x;
    std::fs::write(&path, serde_json::to_string(&jwk).expect("json")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = read_private_key(&path).expect_err("x does not match d");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("does not match"), "{msg}");
}

#[test]
fn public_jwk_with_d_refused() {
    let jwk = SecretKey::from_seed([3; 32]).to_private_jwk("alice");
    let err = PublicKey::from_jwk(&jwk).expect_err("has d");
    assert!(matches!(err, SignError::PrivateKeyInPublicJwk { .. }));
    assert!(
        err.to_string()
            .contains("public key file contains a private key"),
        "{err}"
    );
}

#[test]
fn public_jwk_strictness() {
    let good = SecretKey::from_seed([3; 32]).public().to_jwk("alice");
    assert_eq!(
        PublicKey::from_jwk(&good).expect("ok").to_jwk("alice"),
        good
    );
    let with = |f: &dyn Fn(&mut Jwk)| {
        let mut j = good.clone();
        f(&mut j);
        PublicKey::from_jwk(&j)
    };
    type Edit = Box<dyn Fn(&mut Jwk)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("kty", Box::new(|j| j.kty = "EC".into())),
        ("crv", Box::new(|j| j.crv = "X25519".into())),
        ("alg", Box::new(|j| j.alg = Some("ES256".into()))),
        ("use", Box::new(|j| j.use_ = Some("enc".into()))),
        ("x", Box::new(|j| j.x.push('A'))),
        ("x", Box::new(|j| j.x.push('='))),
        ("x", Box::new(|j| j.x = "AAAA".into())),
        // Identity point: small order, refused as weak.
        (
            "x",
            Box::new(|j| j.x = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ),
    ];
    for (member, f) in cases {
        match with(&*f) {
            Err(SignError::InvalidJwk { member: m, .. }) => assert_eq!(m, member),
            other => panic!("expected InvalidJwk on {member}, got {other:?}"),
        }
    }
}

#[test]
fn jwk_parsing_ignores_unknown_members_and_limits_size() {
    let jwk = parse_jwk(
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","key_ops":["verify"],"ext":true}"#,
    )
    .expect("unknown members ignored");
    PublicKey::from_jwk(&jwk).expect("valid");
    let big = format!(r#"{{"kty":"OKP","pad":"{}"}}"#, "a".repeat(5000));
    assert!(matches!(
        parse_jwk(&big),
        Err(SignError::JwkTooLarge { .. })
    ));
    assert!(matches!(parse_jwk("{"), Err(SignError::JwkJson { .. })));
}
