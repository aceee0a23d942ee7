//! Approvals and denials of ops. The hard rules hold whatever the policy
//! says: only human identities approve (agents never), nobody approves their
//! own op, an approval binds to the op's plan digest and expires, and M
//! approvals means M distinct identities. A refused approval is recorded.

use bosun_api::Check;
use bosun_model::claims::APPROVAL_TYP;
use bosun_model::{ApprovalClaims, Digest, Jti, OpState, Outcome, Verdict};
use bosun_policy::{ApprovalRecord, tally};
use bosun_store::{NewApproval, Rejection, StoreError};

use crate::governed::Governed;
use crate::intake::{Rejected, Stamp, check_envelope, reject};
use crate::{Control, Result};

/// What an accepted approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalOutcome {
    /// The op.
    pub op: Jti,
    /// Its state afterwards.
    pub state: OpState,
    /// Distinct valid approvals so far.
    pub approvals: usize,
    /// Approvals it needs.
    pub needed: u32,
}

/// Verifies a signed envelope of type `typ` against the registry: size,
/// format, known key, type, signature, claims. Returns the claims, the
/// signer's registered role and its key id.
pub(crate) fn verify_signed<T: serde::de::DeserializeOwned>(
    keys: &bosun_workspace::KeyRegistry,
    envelope: &str,
    typ: &str,
) -> std::result::Result<(T, bosun_model::Role, String), Rejected> {
    let u = bosun_sign::decode(envelope).map_err(|e| reject(Check::Format, e.to_string(), None))?;
    let kid = u.kid().unwrap_or_default().to_string();
    let entry = bosun_model::KeyId::parse(&kid)
        .ok()
        .and_then(|k| keys.get(&k));
    let Some(entry) = entry else {
        return Err(reject(
            Check::UnknownKey,
            format!("key `{kid}` is not in the adopted key registry"),
            None,
        ));
    };
    if u.header().typ.as_deref() != Some(typ) {
        return Err(reject(
            Check::Type,
            format!(
                "envelope type is `{}`, not `{typ}`",
                u.header().typ.as_deref().unwrap_or("(none)")
            ),
            None,
        ));
    }
    let Some(public) = entry.public.as_ref() else {
        return Err(reject(
            Check::UnknownKey,
            format!("key `{kid}` has no usable public key"),
            None,
        ));
    };
    u.verify(public)
        .map_err(|e| reject(Check::Signature, e.to_string(), None))?;
    let c: T = u
        .claims()
        .map_err(|e| reject(Check::Claims, e.to_string(), None))?;
    Ok((c, entry.role, kid))
}

/// Claims of a signed envelope that carry the common stamp (issuer,
/// validity window, workspace): approvals, step reports, statements.
pub(crate) trait Stamped: serde::de::DeserializeOwned {
    /// The envelope's JWS `typ`.
    const TYP: &'static str;
    /// What the envelope is called in messages.
    const WHAT: &'static str;
    /// Its stamp.
    fn stamp(&self) -> Stamp<'_>;
    /// The id a refusal names (the op answered, or the envelope's own).
    fn subject(&self) -> String;
}

impl Stamped for ApprovalClaims {
    const TYP: &'static str = APPROVAL_TYP;
    const WHAT: &'static str = "approval";
    fn stamp(&self) -> Stamp<'_> {
        Stamp {
            iss: &self.iss,
            iat: self.iat,
            exp: self.exp,
            ws: &self.ws,
        }
    }
    fn subject(&self) -> String {
        self.op.to_string()
    }
}

impl Stamped for bosun_model::StepReportClaims {
    const TYP: &'static str = bosun_model::claims::STEP_REPORT_TYP;
    const WHAT: &'static str = "step report";
    fn stamp(&self) -> Stamp<'_> {
        Stamp {
            iss: &self.iss,
            iat: self.iat,
            exp: self.exp,
            ws: &self.ws,
        }
    }
    fn subject(&self) -> String {
        self.op.to_string()
    }
}

impl Stamped for bosun_model::StatementClaims {
    const TYP: &'static str = bosun_model::claims::STATEMENT_TYP;
    const WHAT: &'static str = "statement";
    fn stamp(&self) -> Stamp<'_> {
        Stamp {
            iss: &self.iss,
            iat: self.iat,
            exp: self.exp,
            ws: &self.ws,
        }
    }
    fn subject(&self) -> String {
        self.jti.to_string()
    }
}

/// Verifies a stamped envelope: [`verify_signed`], then issuer, validity
/// and workspace. Returns the claims and the signer's registered role.
pub(crate) fn verify_stamped<T: Stamped>(
    keys: &bosun_workspace::KeyRegistry,
    ws: &bosun_model::Name,
    envelope: &str,
    now: i64,
) -> std::result::Result<(T, bosun_model::Role), Rejected> {
    let (c, role, kid): (T, _, _) = verify_signed(keys, envelope, T::TYP)?;
    check_envelope(T::WHAT, Some(&kid), &c.stamp(), ws, now, Some(c.subject()))?;
    Ok((c, role))
}

impl Control {
    pub(crate) fn record_refusal(&self, rej: &Rejected, envelope: &str, now: i64) -> Result<()> {
        if !self.records(rej.check) {
            return Ok(());
        }
        self.store.record_rejection(&Rejection {
            at: now,
            check: rej.check.as_str().to_string(),
            message: rej.message.clone(),
            jti: rej.jti.clone(),
            iss: None,
            input_digest: Digest::of(envelope.as_bytes()),
        })?;
        Ok(())
    }

    /// Signs, as `who` (its signer from `keys`), an approval of op
    /// `jti`'s exact plan digest, and takes it: what `bosun approve` does.
    pub fn approve_as(
        &self,
        keys: &bosun_sign::KeyDir,
        who: &bosun_model::KeyId,
        jti: &Jti,
        now: i64,
    ) -> Result<std::result::Result<ApprovalOutcome, Rejected>> {
        let gov = self.governed()?;
        let rec = self
            .store
            .op(jti)?
            .ok_or_else(|| crate::ControlError::Other(format!("no op with jti `{jti}`")))?;
        let key = crate::client::load_secret(keys, who)?;
        let (_, env) = self.sign_approval(
            &key,
            who,
            jti,
            &rec.claims.plan_digest,
            Verdict::Approve,
            None,
            now,
        )?;
        self.accept_approval(&gov, &env, now)
    }

    /// Takes an approval or denial envelope for an op. Refusals are recorded
    /// and returned as the inner error.
    pub fn accept_approval(
        &self,
        gov: &Governed,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<ApprovalOutcome, Rejected>> {
        let r = self.check_approval(gov, envelope, now);
        match r {
            Ok(Ok(out)) => Ok(Ok(out)),
            Ok(Err(rej)) => {
                self.record_refusal(&rej, envelope, now)?;
                Ok(Err(rej))
            }
            Err(e) => Err(e),
        }
    }

    fn check_approval(
        &self,
        gov: &Governed,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<ApprovalOutcome, Rejected>> {
        let verified = if bosun_passkey::is_passkey_envelope(envelope) {
            crate::passkey::verify_passkey_approval(
                self.relying(),
                &gov.keys,
                &self.ws.config.name,
                envelope,
                now,
            )
            .map(|(c, role, cred)| (c, role, Some(cred)))
        } else {
            verify_stamped::<ApprovalClaims>(&gov.keys, &self.ws.config.name, envelope, now)
                .map(|(c, role)| (c, role, None))
        };
        let (c, role, passkey) = match verified {
            Ok(v) => v,
            Err(rej) => return Ok(Err(rej)),
        };
        let jti = Some(c.op.to_string());
        let Some(op) = self.store.op(&c.op)? else {
            return Ok(Err(reject(
                Check::Op,
                format!("no op with jti `{}`", c.op),
                jti,
            )));
        };
        if op.summary.state != OpState::PendingApproval {
            return Ok(Err(reject(
                Check::State,
                format!(
                    "op `{}` is {}, not pending approval",
                    c.op, op.summary.state
                ),
                jti,
            )));
        }
        if !role.is_human() {
            return Ok(Err(reject(
                Check::ApproverRole,
                format!("`{}` is an {role}: agents never approve or deny ops", c.iss),
                jti,
            )));
        }
        if c.iss == op.claims.iss {
            return Ok(Err(reject(
                Check::SelfApproval,
                format!(
                    "`{}` submitted this op: nobody approves their own op",
                    c.iss
                ),
                jti,
            )));
        }
        let plan_digest = op.plan.digest();
        if c.plan_digest != plan_digest {
            return Ok(Err(reject(
                Check::PlanDigest,
                format!(
                    "the approval is for plan {}, the op's plan is {}: an approval binds to the exact plan",
                    c.plan_digest.short(),
                    plan_digest.short()
                ),
                jti,
            )));
        }
        let Outcome::Approvals(req) = &op.decision.outcome else {
            return Ok(Err(reject(
                Check::State,
                "the op's decision does not call for approvals",
                jti,
            )));
        };
        if c.verdict == Verdict::Approve && !req.roles.contains(&role) {
            return Ok(Err(reject(
                Check::ApproverRole,
                format!(
                    "`{}` is an {role}; this op needs approvals from: {}",
                    c.iss,
                    req.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                jti,
            )));
        }
        let mut records = approval_records(&op);
        records.push(ApprovalRecord {
            claims: c.clone(),
            role,
        });
        let t = tally(
            req,
            &op.claims.iss,
            &plan_digest,
            &records,
            now,
            gov.policy.approval_validity_secs(),
        );
        let transition = if t.denied_by.is_some() {
            Some(OpState::Denied)
        } else if t.satisfied {
            Some(OpState::Approved)
        } else {
            None
        };
        let new = NewApproval {
            envelope: envelope.to_string(),
            claims: c.clone(),
            role,
            received_at: now,
            passkey,
        };
        match self.store.add_approval(&new, transition) {
            Ok(()) => {}
            Err(StoreError::ApprovalReplay(j)) => {
                return Ok(Err(reject(
                    Check::Replay,
                    format!("approval `{j}` was already recorded"),
                    jti,
                )));
            }
            Err(StoreError::WrongState { state, .. }) => {
                return Ok(Err(reject(
                    Check::State,
                    format!("op `{}` is {state}, not pending approval", c.op),
                    jti,
                )));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Ok(ApprovalOutcome {
            op: c.op,
            state: transition.unwrap_or(OpState::PendingApproval),
            approvals: t.valid.len(),
            needed: req.m,
        }))
    }
}

/// An op's stored approvals as the tally reads them.
pub(crate) fn approval_records(op: &bosun_store::OpRecord) -> Vec<ApprovalRecord> {
    op.approvals
        .iter()
        .map(|a| ApprovalRecord {
            claims: a.claims.clone(),
            role: a.role,
        })
        .collect()
}
