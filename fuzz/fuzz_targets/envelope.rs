//! The envelope decoder: what intake (`bosun-control::intake::prepare`)
//! and `bosun submit --envelope` do with untrusted bytes — `kid_of`,
//! `bosun_sign::decode` (size, three canonical base64url parts, header,
//! pinned algorithm, refused members, 64-byte signature), the key id, the
//! signature check and the claims of every envelope type.
//!
//! Properties: nothing panics; a token that verifies under the seed
//! workspace's keys is one of the seed tokens (`fuzz/seeds/envelope/`),
//! byte for byte — a mutated token never verifies.

#![no_main]

use std::sync::LazyLock;

use bosun_sign::PublicKey;
use libfuzzer_sys::fuzz_target;

/// The public keys of the throwaway workspace the seeds were signed in.
const JWKS: [&str; 2] = [
    r#"{"kty":"OKP","crv":"Ed25519","x":"kfXsx4Roibr-iXaTCw3_7XUZi_oTjqYFWiWTv--gKCw","kid":"claude"}"#,
    r#"{"kty":"OKP","crv":"Ed25519","x":"ZWevbrWnBx3R9ml6vJSFcDcW3n2ilwPLWZvc-E_YWek","kid":"alice"}"#,
];

/// The signed tokens of that workspace: the only ones that may verify.
const SEEDS: [&str; 4] = [
    include_str!("../seeds/envelope/op-1.jws"),
    include_str!("../seeds/envelope/op-2.jws"),
    include_str!("../seeds/envelope/op-3.jws"),
    include_str!("../seeds/envelope/approval-1.jws"),
];

static KEYS: LazyLock<Vec<PublicKey>> = LazyLock::new(|| {
    JWKS.iter()
        .map(|t| PublicKey::from_jwk(&bosun_sign::parse_jwk(t).unwrap()).unwrap())
        .collect()
});

fuzz_target!(|data: &[u8]| {
    // Intake takes envelopes as text; bytes that are not UTF-8 never get here.
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let kid = bosun_sign::kid_of(token);
    let Ok(u) = bosun_sign::decode(token) else {
        return;
    };
    assert_eq!(kid.as_deref(), u.kid(), "kid_of and decode disagree");
    let _ = bosun_model::KeyId::parse(u.kid().unwrap_or_default());
    let verified = KEYS.iter().any(|k| u.verify(k).is_ok());
    let pairs: Vec<_> = KEYS.iter().map(|k| (&u, k)).collect();
    let _ = bosun_sign::verify_batch(&pairs);
    // The product reads claims after the signature check; reading them from
    // any payload must not panic either.
    let _ = u.claims::<bosun_model::OpClaims>();
    let _ = u.claims::<bosun_model::ApprovalClaims>();
    let _ = u.claims::<bosun_model::StepReportClaims>();
    let _ = u.claims::<bosun_model::StatementClaims>();
    if verified {
        assert!(
            SEEDS.contains(&token),
            "a token that is not a seed verified: {token}"
        );
    }
});
