//! Why a passkey ceremony was refused, named by the check that refused it.

use std::fmt;

/// The check a passkey assertion or registration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyCheck {
    /// The envelope or the browser's response is not well formed.
    Format,
    /// The assertion names a credential the identity does not hold.
    Credential,
    /// The assertion was made for another challenge (other claims).
    Challenge,
    /// The assertion was made on another origin or relying party.
    Origin,
    /// The browser's client data is not a `webauthn.get` (or `.create`).
    ClientData,
    /// The authenticator did not verify the user (PIN, biometrics).
    UserVerification,
    /// The signature does not verify with the registered public key.
    Signature,
    /// The authenticator's counter went backwards: a cloned credential.
    Counter,
    /// The relying party is not configured (no origin), or refused setup.
    Setup,
}

impl PasskeyCheck {
    /// The check's name, as refusals record it.
    pub fn as_str(self) -> &'static str {
        match self {
            PasskeyCheck::Format => "format",
            PasskeyCheck::Credential => "passkey_credential",
            PasskeyCheck::Challenge => "passkey_challenge",
            PasskeyCheck::Origin => "passkey_origin",
            PasskeyCheck::ClientData => "passkey_client_data",
            PasskeyCheck::UserVerification => "passkey_user_verification",
            PasskeyCheck::Signature => "signature",
            PasskeyCheck::Counter => "passkey_counter",
            PasskeyCheck::Setup => "passkey_setup",
        }
    }
}

impl fmt::Display for PasskeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused passkey ceremony: the check and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PasskeyError {
    /// The check that refused.
    pub check: PasskeyCheck,
    /// What it saw, in words.
    pub message: String,
}

impl PasskeyError {
    pub(crate) fn new(check: PasskeyCheck, message: impl Into<String>) -> PasskeyError {
        PasskeyError {
            check,
            message: message.into(),
        }
    }
}

/// Names the check behind a `webauthn-rs` error.
pub(crate) fn from_webauthn(e: &webauthn_rs::prelude::WebauthnError) -> PasskeyError {
    use webauthn_rs::prelude::WebauthnError as W;
    let check = match e {
        W::MismatchedChallenge | W::ChallengeNotFound => PasskeyCheck::Challenge,
        W::InvalidRPOrigin | W::InvalidRPIDHash => PasskeyCheck::Origin,
        W::InvalidClientDataType => PasskeyCheck::ClientData,
        W::UserNotVerified | W::UserNotPresent => PasskeyCheck::UserVerification,
        W::CredentialPossibleCompromise => PasskeyCheck::Counter,
        W::AuthenticationFailure | W::SignatureInvalid => PasskeyCheck::Signature,
        W::CredentialNotFound => PasskeyCheck::Credential,
        W::Configuration => PasskeyCheck::Setup,
        _ => PasskeyCheck::Format,
    };
    let what = match check {
        PasskeyCheck::Challenge => {
            "the assertion was made for another challenge: it signs other claims than these"
        }
        PasskeyCheck::Origin => "the assertion was made on another origin than this daemon's",
        PasskeyCheck::ClientData => "the browser's client data is not a WebAuthn assertion",
        PasskeyCheck::UserVerification => {
            "the authenticator did not verify the user (user verification is required)"
        }
        PasskeyCheck::Counter => {
            "the authenticator's counter went backwards: the credential may be cloned"
        }
        PasskeyCheck::Signature => "the assertion's signature does not verify",
        PasskeyCheck::Credential => "the assertion names a credential this identity does not hold",
        PasskeyCheck::Setup => "the relying party is misconfigured",
        PasskeyCheck::Format => "the assertion is not well formed",
    };
    PasskeyError::new(check, format!("{what} ({e})"))
}
