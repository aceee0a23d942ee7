//! Rollout ops signed by a client of the daemon, whose key never reaches
//! it: `Control::rollout_prepare` (a view) answers the op a verb would
//! submit now (writing nothing), the client checks and signs it, and
//! [`Control::rollout_run_signed`] takes the envelope. That decides
//! again, under the state held then, as the envelope's verified signer,
//! and commits only an envelope whose claims are exactly the op decided:
//! the same rollout claim (id, wave, action, start nonce), hosts,
//! runbook, params and plan digest. Who acts is the signature's, never a
//! name in a request; intake then checks the envelope as it checks every
//! op.

use bosun_api::Check;
use bosun_api::requests::RolloutVerb;
use bosun_model::OpClaims;
use bosun_model::claims::OP_TYP;

use super::decide::{Decided, NextRun, RolloutAsk};
use super::engine::Submitted;
use crate::approve::verify_signed;
use crate::governed::Governed;
use crate::intake::{Rejected, reject};
use crate::{Control, Result};

impl Control {
    /// Takes op envelope `env`, signed by a client for verb `verb` of
    /// rollout `id`: verifies its signature against the adopted registry,
    /// decides the verb again as its signer, and commits it when its
    /// claims are the op decided. A refusal (of the signature, of claims
    /// that are not that op, of intake) is the inner error, with its
    /// check, recorded as intake records its own; the rollout is
    /// unchanged then. A verb the rollout's state does not allow now is
    /// the outer error, as when the verb runs here.
    pub fn rollout_run_signed(
        &self,
        id: &str,
        verb: RolloutVerb,
        accept_inconclusive: bool,
        env: &str,
    ) -> Result<std::result::Result<Submitted, Rejected>> {
        let gov = self.governed()?;
        match self.judge_signed(&gov, id, verb, accept_inconclusive, env)? {
            Ok((claims, next)) => self.rollout_commit(&gov, *next, &claims.iss, &claims.jti, env),
            Err(rej) => {
                self.record_refusal(&rej, env, crate::now())?;
                Ok(Err(rej))
            }
        }
    }

    /// The verified claims of `env` and the op verb `verb` of rollout
    /// `id` submits now as its signer, when the claims are that op.
    fn judge_signed(
        &self,
        gov: &Governed,
        id: &str,
        verb: RolloutVerb,
        accept_inconclusive: bool,
        env: &str,
    ) -> Result<std::result::Result<(OpClaims, Box<NextRun>), Rejected>> {
        let claims = match verify_signed::<OpClaims>(&gov.keys, env, OP_TYP) {
            Ok((c, _, kid)) if c.iss.as_str() == kid => c,
            Ok((c, _, kid)) => {
                return Ok(Err(reject(
                    Check::Issuer,
                    format!("signed by key `{kid}`, but its issuer claim is `{}`", c.iss),
                    Some(c.jti.to_string()),
                )));
            }
            Err(rej) => return Ok(Err(rej)),
        };
        let jti = Some(claims.jti.to_string());
        let refuse = |why: String| Ok(Err(reject(Check::Rollout, why, jti.clone())));
        let Some(r) = &claims.rollout else {
            return refuse(format!(
                "the envelope is not an op of rollout `{id}` (it has no rollout claim)"
            ));
        };
        if r.id.as_str() != id || r.action != verb.action() {
            return refuse(format!(
                "the envelope is a {} op of rollout `{}`, not what `{}` of rollout `{id}` submits",
                r.action.as_str(),
                r.id,
                verb.as_str()
            ));
        }
        let ask = RolloutAsk {
            id,
            verb,
            who: &claims.iss,
            accept_inconclusive,
            start: (verb == RolloutVerb::Start).then_some(r.start.as_str()),
        };
        let next = match self.rollout_decide(gov, &ask)? {
            Decided::Run(n) => n,
            Decided::Done(_) => {
                return refuse(format!(
                    "every wave of rollout `{id}` passed: a promote submits no op now"
                ));
            }
        };
        if let Some(why) = differs(&claims, &next) {
            return refuse(format!(
                "the envelope is not the op `{}` of rollout `{id}` submits now: {why}",
                verb.as_str()
            ));
        }
        Ok(Ok((claims, next)))
    }
}

/// How `claims` differ from the op decided, if they do.
fn differs(claims: &OpClaims, next: &NextRun) -> Option<String> {
    let want = &next.rollout;
    let plan = &next.plan;
    if claims.rollout.as_ref() != Some(want) {
        return Some(format!(
            "its rollout claim is not {} of wave {} of start {}",
            want.action.as_str(),
            want.wave,
            want.start
        ));
    }
    if claims.targets != plan.targets {
        return Some(format!(
            "its hosts are not {}",
            plan.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if claims.runbook != plan.runbook || claims.params != plan.params || claims.check != plan.check
    {
        return Some(format!(
            "its runbook and params are not the rollout's ({})",
            plan.runbook
        ));
    }
    if claims.plan_digest != plan.digest() {
        return Some(format!("its plan digest is not {}", plan.digest()));
    }
    None
}
