//! A software authenticator for the tests: a P-256 key that answers
//! `navigator.credentials.create` with a "none" attestation and `.get` with
//! an assertion, byte for byte as WebAuthn lays them out, with switches to
//! lie (another origin or RP id, no user verification). For tests only
//! (feature `soft`): its key is derived from a one-byte seed.

#![expect(
    clippy::expect_used,
    reason = "a test fixture: its inputs are fixed, a failure is a broken test"
)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_cbor_2::Value;
use sha2::{Digest as _, Sha256};

/// A software passkey.
pub struct Soft {
    key: SigningKey,
    /// The credential id.
    pub id: Vec<u8>,
    /// The signature counter (counted up before each assertion).
    pub counter: u32,
    /// The origin the "browser" reports.
    pub origin: String,
    /// The RP id it hashes into the authenticator data.
    pub rp_id: String,
    /// Whether it sets the user-verified flag.
    pub verify_user: bool,
    /// Whether it sends bytes that are no signature (as Chromium's
    /// virtual authenticator does with `isBogusSignature`).
    pub bogus_signature: bool,
}

impl Soft {
    /// A passkey whose key and credential id derive from `seed`.
    pub fn new(seed: u8, origin: &str, rp_id: &str) -> Soft {
        let key = SigningKey::from_slice(&[seed.max(1); 32]).expect("a scalar");
        Soft {
            key,
            id: vec![seed; 16],
            counter: 0,
            origin: origin.to_string(),
            rp_id: rp_id.to_string(),
            verify_user: true,
            bogus_signature: false,
        }
    }

    fn auth_data(&self, attested: Option<Vec<u8>>) -> Vec<u8> {
        let mut d = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let mut flags = 0x01u8;
        if self.verify_user {
            flags |= 0x04;
        }
        if attested.is_some() {
            flags |= 0x40;
        }
        d.push(flags);
        d.extend_from_slice(&self.counter.to_be_bytes());
        if let Some(a) = attested {
            d.extend_from_slice(&a);
        }
        d
    }

    fn client_data(&self, typ: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": typ,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("json")
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = VerifyingKey::from(&self.key).to_sec1_point(false);
        let mut m = BTreeMap::new();
        m.insert(Value::Integer(1), Value::Integer(2));
        m.insert(Value::Integer(3), Value::Integer(-7));
        m.insert(Value::Integer(-1), Value::Integer(1));
        m.insert(
            Value::Integer(-2),
            Value::Bytes(point.x().expect("x").to_vec()),
        );
        m.insert(
            Value::Integer(-3),
            Value::Bytes(point.y().expect("y").to_vec()),
        );
        serde_cbor_2::to_vec(&Value::Map(m)).expect("cbor")
    }

    /// Answers creation options (as `Relying::start_registration` gave),
    /// as the browser's JSON.
    pub fn create(&self, options: &serde_json::Value) -> String {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("challenge");
        let mut attested = vec![0u8; 16];
        attested.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
        attested.extend_from_slice(&self.id);
        attested.extend_from_slice(&self.cose_key());
        let mut m = BTreeMap::new();
        m.insert(Value::Text("fmt".into()), Value::Text("none".into()));
        m.insert(Value::Text("attStmt".into()), Value::Map(BTreeMap::new()));
        m.insert(
            Value::Text("authData".into()),
            Value::Bytes(self.auth_data(Some(attested))),
        );
        let object = serde_cbor_2::to_vec(&Value::Map(m)).expect("cbor");
        serde_json::json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(object),
                "clientDataJSON": B64.encode(self.client_data("webauthn.create", challenge)),
            },
        })
        .to_string()
    }

    /// Asserts over `challenge` (raw bytes), counting up first, as the
    /// browser's JSON.
    pub fn get(&mut self, challenge: &[u8]) -> String {
        self.counter += 1;
        let client = self.client_data("webauthn.get", &B64.encode(challenge));
        let data = self.auth_data(None);
        let mut signed = data.clone();
        signed.extend_from_slice(&Sha256::digest(&client));
        let sig: Signature = self.key.sign(&signed);
        let sig = if self.bogus_signature {
            vec![0x30, 0x02, 0x01, 0x00]
        } else {
            sig.to_der().as_bytes().to_vec()
        };
        serde_json::json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(data),
                "clientDataJSON": B64.encode(client),
                "signature": B64.encode(sig),
                "userHandle": null,
            },
        })
        .to_string()
    }
}
