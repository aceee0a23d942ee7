//! Approvals signed by a passkey in the browser (DESIGN §3a: "a passkey in
//! the browser" protects an operator's key like a passphrase does).
//!
//! The daemon is configured with its web origin ([`Control::set_web_origin`]);
//! without one, passkey envelopes are refused (`passkey_setup`). The page
//! asks [`Control::passkey_request`] for an approval's claims and the
//! WebAuthn options whose challenge is the SHA-256 digest of those claim
//! bytes; the browser's assertion comes back as a passkey envelope and goes
//! through [`Control::accept_approval`] like any approval. There
//! `verify_passkey_approval` checks, in order: the envelope's form, the
//! signer in the adopted key registry, the type (approvals only), that the
//! signer holds passkeys, the assertion (challenge recomputed from the
//! claims, exact origin, user verification, signature; `webauthn-rs`),
//! then the claims and their stamp as for an Ed25519 approval. Every hard
//! rule after that (humans only, not one's own op, the exact plan, replay)
//! is the same code for both kinds of signature.

use bosun_api::Check;
use bosun_model::claims::APPROVAL_TYP;
use bosun_model::{ApprovalClaims, Digest, Jti, KeyId, OpState, Role, Verdict};
use bosun_passkey::{Envelope, PasskeyCheck, PasskeyError, Relying, challenge_of};
use serde::Serialize;

use crate::intake::{Rejected, Stamp, check_envelope, reject};
use crate::{Control, ControlError, Result};

/// What the page needs to ask the authenticator for an approval.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyRequest {
    /// The approval's claims, as the exact JSON text to be signed.
    pub claims: String,
    /// Their digest, which is the WebAuthn challenge (`sha256:<hex>`).
    pub challenge: Digest,
    /// Options for `navigator.credentials.get` (binary fields base64url).
    pub options: serde_json::Value,
}

/// The pipeline's check for a passkey refusal.
pub fn check_of(e: &PasskeyError) -> Check {
    match e.check {
        PasskeyCheck::Format => Check::Format,
        PasskeyCheck::Credential => Check::PasskeyCredential,
        PasskeyCheck::Challenge => Check::PasskeyChallenge,
        PasskeyCheck::Origin => Check::PasskeyOrigin,
        PasskeyCheck::ClientData => Check::PasskeyClientData,
        PasskeyCheck::UserVerification => Check::PasskeyUserVerification,
        PasskeyCheck::Signature => Check::Signature,
        PasskeyCheck::Counter => Check::PasskeyCounter,
        PasskeyCheck::Setup => Check::PasskeySetup,
    }
}

/// Verifies a passkey approval envelope: see the module's order of checks.
/// Returns the claims, the signer's role and the credential that signed.
pub(crate) fn verify_passkey_approval(
    relying: Option<&Relying>,
    keys: &bosun_workspace::KeyRegistry,
    ws: &bosun_model::Name,
    envelope: &str,
    now: i64,
) -> std::result::Result<(ApprovalClaims, Role, String), Rejected> {
    let env = Envelope::decode(envelope).map_err(|e| reject(check_of(&e), e.message, None))?;
    let entry = KeyId::parse(&env.kid).ok().and_then(|k| keys.get(&k));
    let Some(entry) = entry else {
        return Err(reject(
            Check::UnknownKey,
            format!("key `{}` is not in the adopted key registry", env.kid),
            None,
        ));
    };
    if env.typ != APPROVAL_TYP {
        return Err(reject(
            Check::Type,
            format!(
                "a passkey signs approvals only (`{APPROVAL_TYP}`), not `{}`",
                env.typ
            ),
            None,
        ));
    }
    let Some(relying) = relying else {
        return Err(reject(
            Check::PasskeySetup,
            "this daemon takes no passkey approvals: it was started without a web origin",
            None,
        ));
    };
    let held: Vec<_> = entry.passkeys.values().cloned().collect();
    if held.is_empty() {
        return Err(reject(
            Check::PasskeyCredential,
            format!("`{}` holds no passkey in the adopted key registry", env.kid),
            None,
        ));
    }
    let verified = relying
        .verify(&held, &env.challenge(), &env.assertion)
        .map_err(|e| reject(check_of(&e), e.message, None))?;
    let c: ApprovalClaims = serde_json::from_slice(&env.claims)
        .map_err(|e| reject(Check::Claims, format!("the approval's claims: {e}"), None))?;
    let stamp = Stamp {
        iss: &c.iss,
        iat: c.iat,
        exp: c.exp,
        ws: &c.ws,
    };
    check_envelope(
        "approval",
        Some(&env.kid),
        &stamp,
        ws,
        now,
        Some(c.op.to_string()),
    )?;
    Ok((c, entry.role, verified.credential))
}

impl Control {
    /// Takes passkey approvals from browsers at `origin` (the daemon's
    /// address as the browser sees it, e.g. `https://bosun.lan:8443`).
    /// Set once, when the daemon starts.
    pub fn set_web_origin(&self, origin: &str) -> Result<()> {
        let relying = Relying::new(origin).map_err(|e| ControlError::Other(e.message))?;
        self.relying
            .set(relying)
            .map_err(|_| ControlError::Other("the web origin is already set".into()))
    }

    /// The relying party, when a web origin is set.
    pub fn relying(&self) -> Option<&Relying> {
        self.relying.get()
    }

    /// The claims of an approval of op `jti`'s exact plan by `who`, and the
    /// WebAuthn options to sign them with one of `who`'s passkeys.
    pub fn passkey_request(&self, who: &KeyId, jti: &Jti, now: i64) -> Result<PasskeyRequest> {
        let relying = self.relying().ok_or_else(|| {
            ControlError::Other("this daemon has no web origin: passkeys are off".into())
        })?;
        let gov = self.governed()?;
        let held: Vec<_> = gov
            .keys
            .get(who)
            .map(|e| e.passkeys.values().cloned().collect())
            .unwrap_or_default();
        let rec = self
            .store
            .op(jti)?
            .ok_or_else(|| ControlError::Other(format!("no op with jti `{jti}`")))?;
        if rec.summary.state != OpState::PendingApproval {
            return Err(ControlError::Other(format!(
                "op `{jti}` is {}, not pending approval",
                rec.summary.state
            )));
        }
        let claims = ApprovalClaims {
            jti: crate::fresh_jti()?,
            iss: who.clone(),
            iat: now,
            exp: now.saturating_add(self.ws.config.op_ttl_secs),
            ws: self.ws.config.name.clone(),
            op: jti.clone(),
            plan_digest: rec.plan.digest(),
            verdict: Verdict::Approve,
            reason: None,
        };
        let text =
            serde_json::to_string(&claims).map_err(|e| ControlError::Other(e.to_string()))?;
        let challenge = challenge_of(text.as_bytes());
        let options = relying
            .request_options(&held, &challenge)
            .map_err(|e| ControlError::Other(e.message))?;
        Ok(PasskeyRequest {
            challenge: Digest::of(text.as_bytes()),
            claims: text,
            options,
        })
    }

    /// The passkey envelope of claims `claims` (as [`Self::passkey_request`]
    /// gave them) and the browser's `assertion`.
    pub fn passkey_envelope(claims: &str, assertion: &str) -> Result<String> {
        let c: ApprovalClaims = serde_json::from_str(claims)
            .map_err(|e| ControlError::Other(format!("the approval's claims: {e}")))?;
        Ok(Envelope {
            kid: c.iss.to_string(),
            typ: APPROVAL_TYP.to_string(),
            claims: claims.as_bytes().to_vec(),
            assertion: assertion.to_string(),
        }
        .encode())
    }
}
