//! RFC 8037 Appendix A test vectors: keys, thumbprint, signing, verification.

// Helpers outside #[test] fns panic on setup failures too.
#![allow(clippy::expect_used)]

use bosun_sign::{Header, Jwk, PublicKey, SecretKey, decode, parse_jwk, sign_raw};

const D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// The RFC 8037 §A.4 value, as also used by the JOSE cookbook test suites.
const A4_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn a1_private() -> SecretKey {
    let jwk = parse_jwk(&format!(
        r#"{{"kty":"OKP","crv":"Ed25519","d":"{D}","x":"{X}"}}"#
    ))
    .expect("A.1 parses");
    SecretKey::from_private_jwk(&jwk).expect("A.1 is a valid private key")
}

#[test]
fn a1_private_key_round_trips() {
    let key = a1_private();
    let jwk = key.to_private_jwk("a1");
    assert_eq!(jwk.d.as_deref(), Some(D));
    assert_eq!(jwk.x, X);
}

#[test]
fn a2_public_key() {
    let jwk = parse_jwk(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{X}"}}"#)).expect("parses");
    let public = PublicKey::from_jwk(&jwk).expect("A.2 is a valid public key");
    assert_eq!(public, a1_private().public());
    assert_eq!(public.to_jwk("k").x, X);
}

#[test]
fn a3_thumbprint() {
    assert_eq!(a1_private().public().thumbprint(), THUMBPRINT);
}

#[test]
fn a4_signing_is_byte_exact() {
    let header = Header {
        alg: "EdDSA".into(),
        kid: None,
        typ: None,
    };
    let token = sign_raw(&a1_private(), &header, b"Example of Ed25519 signing").expect("signs");
    assert_eq!(token, A4_JWS);
}

#[test]
fn a5_verification() {
    let public = PublicKey::from_jwk(&Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: X.into(),
        d: None,
        kid: None,
        alg: None,
        use_: None,
    })
    .expect("valid");
    let unverified = decode(A4_JWS).expect("decodes");
    assert_eq!(unverified.header().alg, "EdDSA");
    assert_eq!(unverified.payload(), b"Example of Ed25519 signing");
    unverified.verify(&public).expect("A.5 verifies");
}
