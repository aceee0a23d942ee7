//! The relying party: registration of a passkey, and the check of an
//! assertion over a challenge bosun chose (the digest of an approval's
//! claims).
//!
//! `webauthn-rs` makes its own random challenge and offers no way to give
//! one (kanidm/webauthn-rs#549). Its authentication state is serialisable
//! (the `danger-allow-state-serialisation` feature), so [`Relying::verify`]
//! makes a state for the identity's credentials, replaces its challenge by
//! the one recomputed from the claims, and lets `webauthn-rs` check the
//! rest: client data type, challenge, origin, RP id hash, user presence and
//! verification, counter, and the signature. The state is never kept or
//! taken from a client: it is made and used inside one call. A test pins
//! the state's shape, so a new `webauthn-rs` that moves it fails loudly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::error::{PasskeyCheck, PasskeyError, from_webauthn};

/// The largest browser response (assertion or attestation) read.
const MAX_RESPONSE_BYTES: usize = 32 * 1024;

/// A registered passkey: its credential id and public key (COSE), as
/// `webauthn-rs` keeps them. Held in the key registry under an identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credential(Passkey);

impl PartialEq for Credential {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl Eq for Credential {}

impl Credential {
    /// The credential id, base64url.
    pub fn id(&self) -> String {
        B64.encode(self.0.cred_id().as_slice())
    }

    /// A short fingerprint of the credential id and public key (16 hex
    /// digits), to compare what the page registered with what is adopted.
    pub fn fingerprint(&self) -> String {
        let key = serde_json::to_vec(self.0.get_public_key()).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.0.cred_id().as_slice());
        h.update(&key);
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Parses a credential from its JSON (as the registry stores it).
    pub fn from_json(text: &str) -> Result<Credential, PasskeyError> {
        if text.len() > MAX_RESPONSE_BYTES {
            return Err(PasskeyError::new(
                PasskeyCheck::Format,
                format!("a passkey credential is at most {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        serde_json::from_str(text).map_err(|e| {
            PasskeyError::new(
                PasskeyCheck::Format,
                format!("not a passkey credential: {e}"),
            )
        })
    }
}

/// A registration in progress: kept by the daemon between the two halves
/// of the ceremony, never sent to the browser.
#[derive(Debug, Clone)]
pub struct Registration(PasskeyRegistration);

/// What a verified assertion proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The credential that made it (base64url id).
    pub credential: String,
    /// The authenticator's signature counter (0 if it keeps none).
    pub counter: u32,
    /// Whether the authenticator verified the user (always, once verified).
    pub user_verified: bool,
}

/// The relying party of one daemon: its origin (scheme, host, port) and
/// RP id (the origin's host).
pub struct Relying {
    webauthn: Webauthn,
    origin: String,
}

impl std::fmt::Debug for Relying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relying")
            .field("origin", &self.origin)
            .finish()
    }
}

fn format(message: impl Into<String>) -> PasskeyError {
    PasskeyError::new(PasskeyCheck::Format, message)
}

fn parse_response<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, PasskeyError> {
    if text.len() > MAX_RESPONSE_BYTES {
        return Err(format(format!(
            "the browser's {what} is {} bytes; the limit is {MAX_RESPONSE_BYTES}",
            text.len()
        )));
    }
    serde_json::from_str(text).map_err(|e| format(format!("the browser's {what}: {e}")))
}

impl Relying {
    /// A relying party for `origin` (e.g. `https://bosun.lan:8443`, or
    /// `http://localhost:8080`, which browsers treat as secure). The RP id
    /// is the origin's host; an IP address cannot be one.
    pub fn new(origin: &str) -> Result<Relying, PasskeyError> {
        let setup = |m: String| PasskeyError::new(PasskeyCheck::Setup, m);
        let url = Url::parse(origin).map_err(|e| setup(format!("origin `{origin}`: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.path() != "/" || url.query().is_some() {
            return Err(setup(format!(
                "origin `{origin}` must be scheme://host[:port] with nothing after"
            )));
        }
        let Some(host) = url.domain() else {
            return Err(setup(format!(
                "origin `{origin}` has no domain name (a passkey's relying party cannot be an IP address; use `localhost` or a name)"
            )));
        };
        if url.scheme() == "http" && host != "localhost" {
            return Err(setup(format!(
                "origin `{origin}`: browsers allow passkeys over plain http only on localhost; serve TLS"
            )));
        }
        let host = host.to_string();
        let webauthn = WebauthnBuilder::new(&host, &url)
            .and_then(|b| b.rp_name("bosun").build())
            .map_err(|e| setup(format!("origin `{origin}`: {e}")))?;
        Ok(Relying {
            webauthn,
            origin: url.origin().ascii_serialization(),
        })
    }

    /// The exact origin assertions must come from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Starts registering a passkey for `identity`: the options for the
    /// browser's `navigator.credentials.create` (JSON, binary fields in
    /// base64url) and the state to keep until [`Self::finish_registration`].
    /// User verification is required; attestation is not asked for.
    pub fn start_registration(
        &self,
        identity: &str,
        held: &[Credential],
    ) -> Result<(serde_json::Value, Registration), PasskeyError> {
        let id = Uuid::from_bytes(
            Sha256::digest(format!("bosun identity {identity}").as_bytes())[..16]
                .try_into()
                .unwrap_or([0; 16]),
        );
        let exclude = held
            .iter()
            .map(|c| c.0.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(id, identity, identity, Some(exclude))
            .map_err(|e| from_webauthn(&e))?;
        let options = serde_json::to_value(&options).map_err(|e| format(e.to_string()))?;
        Ok((options, Registration(state)))
    }

    /// Finishes a registration with the browser's response (JSON).
    pub fn finish_registration(
        &self,
        response: &str,
        state: &Registration,
    ) -> Result<Credential, PasskeyError> {
        let r: RegisterPublicKeyCredential = parse_response("registration", response)?;
        self.webauthn
            .finish_passkey_registration(&r, &state.0)
            .map(Credential)
            .map_err(|e| from_webauthn(&e))
    }

    fn state_for(
        &self,
        held: &[Credential],
        challenge: &[u8; 32],
    ) -> Result<(serde_json::Value, PasskeyAuthentication), PasskeyError> {
        if held.is_empty() {
            return Err(PasskeyError::new(
                PasskeyCheck::Credential,
                "this identity holds no passkey in the adopted key registry",
            ));
        }
        let creds: Vec<Passkey> = held.iter().map(|c| c.0.clone()).collect();
        let (mut options, state) = self
            .webauthn
            .start_passkey_authentication(&creds)
            .map(|(o, s)| (serde_json::to_value(&o), serde_json::to_value(&s)))
            .map_err(|e| from_webauthn(&e))?;
        let challenge = serde_json::Value::String(B64.encode(challenge));
        let mut state = state.map_err(|e| format(e.to_string()))?;
        let slot = state.pointer_mut("/ast/challenge").ok_or_else(|| {
            PasskeyError::new(PasskeyCheck::Setup, "webauthn-rs's state has no challenge")
        })?;
        *slot = challenge.clone();
        if let Ok(o) = options.as_mut()
            && let Some(slot) = o.pointer_mut("/publicKey/challenge")
        {
            *slot = challenge;
        }
        let options = options.map_err(|e| format(e.to_string()))?;
        let state: PasskeyAuthentication =
            serde_json::from_value(state).map_err(|e| format(e.to_string()))?;
        Ok((options, state))
    }

    /// The options for the browser's `navigator.credentials.get`: this
    /// `challenge`, the identity's credentials, user verification required.
    pub fn request_options(
        &self,
        held: &[Credential],
        challenge: &[u8; 32],
    ) -> Result<serde_json::Value, PasskeyError> {
        self.state_for(held, challenge).map(|(o, _)| o)
    }

    /// Verifies the browser's assertion (JSON) against `challenge`, this
    /// origin and the identity's registered credentials.
    pub fn verify(
        &self,
        held: &[Credential],
        challenge: &[u8; 32],
        assertion: &str,
    ) -> Result<Verified, PasskeyError> {
        let a: PublicKeyCredential = parse_response("assertion", assertion)?;
        if a.type_ != "public-key" {
            return Err(format(format!(
                "the assertion's type is `{}`, not `public-key`",
                a.type_
            )));
        }
        let (_, state) = self.state_for(held, challenge)?;
        let r = self
            .webauthn
            .finish_passkey_authentication(&a, &state)
            .map_err(|e| from_webauthn(&e))?;
        if !r.user_verified() {
            return Err(PasskeyError::new(
                PasskeyCheck::UserVerification,
                "the authenticator did not verify the user (user verification is required)",
            ));
        }
        Ok(Verified {
            credential: B64.encode(r.cred_id().as_slice()),
            counter: r.counter(),
            user_verified: true,
        })
    }
}
