//! Passkeys: approvals signed in the browser by a WebAuthn authenticator.
//!
//! An operator's identity in the key registry may hold passkeys besides its
//! Ed25519 key. An approval signed by one is an [`envelope`]: the approval's
//! claims, exactly as the browser was shown them, and the authenticator's
//! assertion over a challenge that *is* the SHA-256 digest of those claims'
//! bytes ([`challenge_of`]). So the assertion consents to that approval and
//! no other: the jti, the op, the plan digest and the expiry.
//!
//! [`Relying`] is the relying party: it runs registration (the daemon keeps
//! the state between the two halves) and verifies an assertion against the
//! challenge recomputed from the claims, the daemon's exact origin, user
//! verification and the registered public key. Every WebAuthn, CBOR and
//! COSE check is `webauthn-rs`'s; this crate only chooses the challenge and
//! names the check that refused.
#![deny(missing_docs)]

pub mod envelope;
mod error;
mod relying;

pub use envelope::{ALG, Envelope, MAX_ENVELOPE_BYTES, challenge_of, is_passkey_envelope};
pub use error::{PasskeyCheck, PasskeyError};
pub use relying::{Credential, Registration, Relying, Verified};

#[cfg(any(test, feature = "soft"))]
pub mod soft;
#[cfg(test)]
mod tests;
