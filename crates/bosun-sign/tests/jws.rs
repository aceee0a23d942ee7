//! JWS envelopes: round trips, tampering, algorithm pinning, refused headers,
//! size limit, and no panics on garbage.

// Helpers outside #[test] fns panic on setup failures too.
#![allow(clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bosun_sign::{
    Header, MAX_ENVELOPE_BYTES, SecretKey, SignError, TokenPart, decode, kid_of, sign_compact,
    sign_raw, verify_batch,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Claims {
    jti: String,
    seq: u64,
    targets: Vec<String>,
}

fn claims() -> Claims {
    Claims {
        jti: "op-01".into(),
        seq: 7,
        targets: vec!["web1".into(), "web2".into()],
    }
}

fn alice() -> SecretKey {
    SecretKey::from_seed([1; 32])
}

fn token() -> String {
    sign_compact(&alice(), "alice", "bosun-op+jwt", &claims()).expect("signs")
}

/// A token with an arbitrary header JSON, signed by alice over `{}`.
fn token_with_header(header_json: &str) -> String {
    use ed25519_dalek::Signer as _;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode("{}")
    );
    let sig = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

#[test]
fn round_trip() {
    let token = token();
    let unverified = decode(&token).expect("decodes");
    assert_eq!(unverified.kid(), Some("alice"));
    assert_eq!(
        unverified.header(),
        &Header {
            alg: "EdDSA".into(),
            kid: Some("alice".into()),
            typ: Some("bosun-op+jwt".into()),
        }
    );
    unverified.verify(&alice().public()).expect("verifies");
    assert_eq!(unverified.claims::<Claims>().expect("claims"), claims());
}

#[test]
fn another_key_fails() {
    let unverified = decode(&token()).expect("decodes");
    let mallory = SecretKey::from_seed([2; 32]).public();
    let err = unverified.verify(&mallory).expect_err("must fail");
    assert!(matches!(err, SignError::BadSignature { ref kid } if kid.as_deref() == Some("alice")));
    assert!(err.to_string().contains("alice"), "{err}");
}

#[test]
fn generated_keys_differ_and_work() {
    let a = SecretKey::generate().expect("os rng");
    let b = SecretKey::generate().expect("os rng");
    assert_ne!(a.public(), b.public());
    let t = sign_compact(&a, "a", "t", &claims()).expect("signs");
    decode(&t)
        .expect("decodes")
        .verify(&a.public())
        .expect("verifies");
}

#[test]
fn secret_key_debug_hides_private_bytes() {
    let key = alice();
    let jwk = key.to_private_jwk("alice");
    let d = jwk.d.clone().expect("private jwk has d");
    for shown in [format!("{key:?}"), format!("{jwk:?}")] {
        assert!(!shown.contains(&d), "{shown}");
    }
}

#[test]
fn claims_error_names_the_claim() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Wrong {
        seq: String,
    }
    let err = decode(&token())
        .expect("decodes")
        .claims::<Wrong>()
        .expect_err("seq is a number");
    assert!(matches!(err, SignError::Claims { .. }));
    assert!(err.to_string().contains("expected a string"), "{err}");
}

#[test]
fn pinned_algorithm() {
    for alg in ["none", "HS256", "RS256", "ES256", "eddsa", ""] {
        let t = token_with_header(&format!(r#"{{"alg":"{alg}"}}"#));
        match decode(&t) {
            Err(SignError::Algorithm { alg: found }) => assert_eq!(found, alg),
            other => panic!("alg {alg:?}: expected Algorithm error, got {other:?}"),
        }
    }
    // An unsigned `none` token with an empty signature is refused too.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode("{}")
    );
    assert!(matches!(decode(&none), Err(SignError::Algorithm { .. })));
}

#[test]
fn ed25519_alg_is_accepted() {
    let t = token_with_header(r#"{"alg":"Ed25519","kid":"alice","x-extra":1}"#);
    let u = decode(&t).expect("RFC 9864 alg accepted");
    assert_eq!(u.header().alg, "Ed25519");
    u.verify(&alice().public()).expect("verifies");
}

#[test]
fn signing_refuses_other_algs() {
    let header = Header {
        alg: "HS256".into(),
        kid: None,
        typ: None,
    };
    assert!(matches!(
        sign_raw(&alice(), &header, b"{}"),
        Err(SignError::Algorithm { .. })
    ));
}

#[test]
fn refused_header_members() {
    for (header, member) in [
        (r#"{"alg":"EdDSA","crit":["exp"]}"#, "crit"),
        (r#"{"alg":"EdDSA","crit":null}"#, "crit"),
        (r#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#, "crit"),
        (r#"{"alg":"EdDSA","b64":false}"#, "b64"),
        (r#"{"alg":"EdDSA","jwk":{"kty":"OKP"}}"#, "jwk"),
        (
            r#"{"alg":"EdDSA","jku":"https://evil.example/keys"}"#,
            "jku",
        ),
        (
            r#"{"alg":"EdDSA","x5u":"https://evil.example/cert"}"#,
            "x5u",
        ),
        (r#"{"alg":"EdDSA","x5c":[]}"#, "x5c"),
    ] {
        match decode(&token_with_header(header)) {
            Err(SignError::UnsupportedHeader { member: m, .. }) => {
                assert_eq!(m, member, "{header}")
            }
            other => panic!("{header}: expected UnsupportedHeader, got {other:?}"),
        }
    }
    decode(&token_with_header(r#"{"alg":"EdDSA","b64":true}"#)).expect("b64 true is the default");
}

#[test]
fn duplicate_header_members_refused() {
    let t = token_with_header(r#"{"alg":"EdDSA","alg":"none"}"#);
    assert!(matches!(
        decode(&t),
        Err(SignError::Malformed {
            part: TokenPart::Header,
            ..
        })
    ));
}

#[test]
fn structure_errors_name_the_part() {
    let t = token();
    let parts: Vec<&str> = t.split('.').collect();
    let cases = [
        (format!("{}.{}", parts[0], parts[1]), TokenPart::Token),
        (format!("{t}.x"), TokenPart::Token),
        (
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            TokenPart::Header,
        ),
        (format!("e30.{}.{}", parts[1], parts[2]), TokenPart::Header),
        (
            format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
            TokenPart::Payload,
        ),
        (
            format!("{}.{}.{}AA", parts[0], parts[1], parts[2]),
            TokenPart::Signature,
        ),
        (format!("{}.{}.", parts[0], parts[1]), TokenPart::Signature),
        (format!("{t}\n"), TokenPart::Signature),
    ];
    for (token, part) in cases {
        match decode(&token) {
            Err(SignError::Malformed { part: p, .. }) => assert_eq!(p, part, "{token}"),
            other => panic!("{token}: expected Malformed {part:?}, got {other:?}"),
        }
    }
}

#[test]
fn oversized_token_refused_before_parsing() {
    // Not even valid structure: the size check must come first.
    let huge = "!".repeat(MAX_ENVELOPE_BYTES + 1);
    match decode(&huge) {
        Err(SignError::TooLarge { len, max }) => {
            assert_eq!(len, MAX_ENVELOPE_BYTES + 1);
            assert_eq!(max, MAX_ENVELOPE_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // And signing something that would be refused is an error, not a bad token.
    let big = vec!["x".repeat(1000); 60];
    assert!(matches!(
        sign_compact(&alice(), "alice", "t", &big),
        Err(SignError::TooLarge { .. })
    ));
}

#[test]
fn batch_verification() {
    let keys: Vec<SecretKey> = (0..5u8)
        .map(|i| SecretKey::from_seed([i + 10; 32]))
        .collect();
    let publics: Vec<_> = keys.iter().map(SecretKey::public).collect();
    let tokens: Vec<_> = keys
        .iter()
        .map(|k| decode(&sign_compact(k, "k", "t", &claims()).expect("signs")).expect("decodes"))
        .collect();
    let items: Vec<_> = tokens.iter().zip(&publics).collect();
    let items: Vec<_> = items.iter().map(|(u, k)| (*u, *k)).collect();
    verify_batch(&items).expect("all good");
    verify_batch(&[]).expect("empty batch");

    let mut bad = items.clone();
    bad[3].1 = &publics[0];
    assert!(matches!(
        verify_batch(&bad),
        Err(SignError::BatchFailed { count: 5 })
    ));
    // The documented fallback finds the bad one.
    let failing: Vec<usize> = bad
        .iter()
        .enumerate()
        .filter(|(_, (u, k))| u.verify(k).is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failing, vec![3]);
}

/// `kid_of` reads the key however the header is written, as `decode`
/// does, and nothing from a header that is not one.
#[test]
fn kid_of_reads_the_header_alone() {
    assert_eq!(kid_of(&token()).as_deref(), Some("alice"));
    let a = token_with_header(r#"{"alg":"EdDSA","kid":"alice"}"#);
    let b = token_with_header(r#"{ "kid" : "alice", "typ":"x", "alg":"Ed25519" }"#);
    assert_eq!(kid_of(&a), kid_of(&b));
    assert_eq!(decode(&b).expect("decodes").kid(), Some("alice"));
    assert_eq!(kid_of(&token_with_header(r#"{"alg":"EdDSA"}"#)), None);
    assert_eq!(kid_of("not a token"), None);
    assert_eq!(kid_of(&"a".repeat(MAX_ENVELOPE_BYTES + 1)), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn kid_of_never_panics_and_agrees_with_decode(s in "\\PC{0,300}") {
        if let (Some(k), Ok(u)) = (kid_of(&s), decode(&s)) {
            prop_assert_eq!(Some(k.as_str()), u.kid());
        }
    }

    #[test]
    fn any_single_byte_change_fails(pos in 0usize..10_000, byte in any::<u8>()) {
        let token = token();
        let mut bytes = token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        let public = alice().public();
        let outcome = String::from_utf8(bytes)
            .ok()
            .and_then(|t| decode(&t).ok())
            .map(|u| u.verify(&public));
        prop_assert!(!matches!(outcome, Some(Ok(()))), "tampered token verified (pos {})", pos);
    }

    #[test]
    fn any_base64_char_change_fails(pos in 0usize..10_000, c in proptest::sample::select(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
    )) {
        // Stays within the alphabet, so most mutations decode and reach verify.
        let token = token();
        let mut bytes = token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != b'.' && bytes[pos] != c);
        bytes[pos] = c;
        let t = String::from_utf8(bytes).expect("ascii");
        if let Ok(u) = decode(&t) {
            prop_assert!(u.verify(&alice().public()).is_err(), "tampered token verified (pos {})", pos);
        }
    }

    #[test]
    fn garbage_never_panics(s in ".{0,300}") {
        let _ = decode(&s);
        let _ = bosun_sign::parse_jwk(&s);
    }

    #[test]
    fn dotted_garbage_never_panics(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,100}") {
        let _ = decode(&format!("{a}.{b}.{c}"));
    }

    #[test]
    fn byte_mutations_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = token().into_bytes();
        for (pos, byte) in edits {
            let pos = pos % bytes.len();
            bytes[pos] = byte;
        }
        let t = String::from_utf8_lossy(&bytes);
        if let Ok(u) = decode(&t) {
            let _ = u.verify(&alice().public());
            let _ = u.claims::<Claims>();
            let _ = u.claims::<serde_json::Value>();
        }
    }
}
