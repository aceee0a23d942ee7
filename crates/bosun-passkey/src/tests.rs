//! Tests against the software authenticator: a registration and an
//! assertion that pass, and one refusal per check.

use proptest::prelude::*;

use crate::soft::Soft;
use crate::{Credential, Envelope, PasskeyCheck, Relying, challenge_of, is_passkey_envelope};

const ORIGIN: &str = "http://localhost:8080";

fn registered(seed: u8) -> (Relying, Soft, Credential) {
    let rp = Relying::new(ORIGIN).expect("relying party");
    let soft = Soft::new(seed, ORIGIN, "localhost");
    let (options, state) = rp.start_registration("alice", &[]).expect("start");
    let cred = rp
        .finish_registration(&soft.create(&options), &state)
        .expect("registration verifies");
    (rp, soft, cred)
}

#[test]
fn an_assertion_over_the_claims_digest_verifies() {
    let (rp, mut soft, cred) = registered(7);
    let claims = br#"{"jti":"a","plan_digest":"sha256:00"}"#;
    let challenge = challenge_of(claims);
    let v = rp
        .verify(
            std::slice::from_ref(&cred),
            &challenge,
            &soft.get(&challenge),
        )
        .expect("verifies");
    assert_eq!(v.credential, cred.id());
    assert_eq!(v.counter, 1);
    assert!(v.user_verified);
}

#[test]
fn the_request_options_carry_the_claims_digest_as_challenge() {
    let (rp, _, cred) = registered(3);
    let challenge = challenge_of(b"claims");
    let o = rp
        .request_options(std::slice::from_ref(&cred), &challenge)
        .expect("options");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, challenge);
    assert_eq!(o["publicKey"]["challenge"], serde_json::json!(b64));
    assert_eq!(o["publicKey"]["userVerification"], "required");
    assert_eq!(
        o["publicKey"]["allowCredentials"][0]["id"],
        serde_json::json!(cred.id())
    );
}

#[test]
fn an_assertion_for_other_claims_is_refused_as_challenge() {
    let (rp, mut soft, cred) = registered(7);
    let signed = soft.get(&challenge_of(b"claims the operator saw"));
    let e = rp
        .verify(&[cred], &challenge_of(b"claims swapped in later"), &signed)
        .expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Challenge, "{e}");
}

#[test]
fn an_assertion_made_on_another_origin_is_refused_as_origin() {
    let (rp, mut soft, cred) = registered(7);
    soft.origin = "https://evil.example".into();
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &soft.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Origin, "{e}");
}

#[test]
fn an_assertion_for_another_rp_id_is_refused_as_origin() {
    let (rp, mut soft, cred) = registered(7);
    soft.rp_id = "evil.example".into();
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &soft.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Origin, "{e}");
}

#[test]
fn an_assertion_without_user_verification_is_refused() {
    let (rp, mut soft, cred) = registered(7);
    soft.verify_user = false;
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &soft.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::UserVerification, "{e}");
}

#[test]
fn an_assertion_by_another_key_is_refused() {
    let (rp, _, cred) = registered(7);
    let mut other = Soft::new(9, ORIGIN, "localhost");
    other.id = Soft::new(7, ORIGIN, "localhost").id;
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &other.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Signature, "{e}");
}

#[test]
fn bytes_that_are_no_signature_are_refused_as_signature() {
    let (rp, mut soft, cred) = registered(7);
    soft.bogus_signature = true;
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &soft.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Signature, "{e}");
}

#[test]
fn an_assertion_by_an_unregistered_credential_is_refused() {
    let (rp, _, cred) = registered(7);
    let mut other = Soft::new(9, ORIGIN, "localhost");
    let c = challenge_of(b"x");
    let e = rp.verify(&[cred], &c, &other.get(&c)).expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::Credential, "{e}");
}

#[test]
fn registration_without_user_verification_is_refused() {
    let rp = Relying::new(ORIGIN).expect("relying party");
    let mut soft = Soft::new(5, ORIGIN, "localhost");
    soft.verify_user = false;
    let (options, state) = rp.start_registration("alice", &[]).expect("start");
    let e = rp
        .finish_registration(&soft.create(&options), &state)
        .expect_err("refused");
    assert_eq!(e.check, PasskeyCheck::UserVerification, "{e}");
}

#[test]
fn origins_that_cannot_hold_passkeys_are_refused() {
    for o in [
        "http://127.0.0.1:8080",
        "http://bosun.lan:8080",
        "https://bosun.lan/path",
        "ftp://localhost",
        "not a url",
    ] {
        let e = Relying::new(o).expect_err(o);
        assert_eq!(e.check, PasskeyCheck::Setup, "{o}: {e}");
    }
    assert_eq!(
        Relying::new("https://bosun.lan:8443").expect("ok").origin(),
        "https://bosun.lan:8443"
    );
}

#[test]
fn a_credential_round_trips_through_its_json() {
    let (_, _, cred) = registered(4);
    let text = serde_json::to_string(&cred).expect("json");
    let back = Credential::from_json(&text).expect("parses");
    assert_eq!(back, cred);
    assert_eq!(back.fingerprint(), cred.fingerprint());
    assert_eq!(back.fingerprint().len(), 16);
}

#[test]
fn envelopes_round_trip_and_are_told_from_jws() {
    let e = Envelope {
        kid: "alice".into(),
        typ: "bosun-approval+jws".into(),
        claims: b"{\"a\":1}".to_vec(),
        assertion: "{}".into(),
    };
    let t = e.encode();
    assert!(is_passkey_envelope(&t));
    assert_eq!(Envelope::decode(&t).expect("decodes"), e);
    assert!(!is_passkey_envelope("eyJhbGciOiJFZERTQSJ9.e30.sig"));
    assert!(Envelope::decode(&"a".repeat(70_000)).is_err());
}

proptest! {
    #[test]
    fn decode_never_panics(s in "\\PC{0,300}") {
        let _ = Envelope::decode(&s);
        let _ = is_passkey_envelope(&s);
    }

    #[test]
    fn verify_never_panics_on_garbage(s in "\\PC{0,300}") {
        let (rp, _, cred) = registered(2);
        let e = rp.verify(&[cred], &[0; 32], &s).expect_err("garbage is refused");
        prop_assert!(matches!(e.check, PasskeyCheck::Format | PasskeyCheck::Credential));
    }
}
