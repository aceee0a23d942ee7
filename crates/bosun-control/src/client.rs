//! The proposing side: planning an op and signing op and approval
//! envelopes with a private key from the key directory. Intake never trusts
//! any of this: it re-plans and verifies everything itself.

use std::collections::BTreeMap;

use bosun_model::claims::{APPROVAL_TYP, OP_TYP};
use bosun_model::{ApprovalClaims, Digest, Host, Jti, KeyId, Name, OpClaims, Plan, Verdict};
use bosun_sign::{KeyDir, Sign, Signer};

use crate::governed::Governed;
use crate::{Control, ControlError, Result, fresh_jti};

/// `name`'s signer from the key directory `keys` (see
/// [`bosun_sign::default_key_dir`]): a plaintext key, a protected key
/// unlocked with a passphrase from the directory's source (refused when
/// none can be had), or an `ssh-agent` key.
pub fn load_secret(keys: &KeyDir, name: &KeyId) -> Result<Signer> {
    Ok(keys.signer(name.as_str())?)
}

/// Resolves host names against the inventory.
pub fn resolve_targets(gov: &Governed, targets: &[Name]) -> Result<Vec<Host>> {
    let mut hosts = Vec::with_capacity(targets.len());
    for t in targets {
        match gov.inventory.get(t) {
            Some(h) => hosts.push(h.clone()),
            None => {
                return Err(crate::hinted(
                    format!(
                        "unknown host `{t}`: it is not in the inventory in force (an edit of fleet/hosts.toml counts once adopted)"
                    ),
                    bosun_api::NextAction::ListHosts,
                ));
            }
        }
    }
    Ok(hosts)
}

/// Makes the plan of `runbook` over `targets` with `params`.
pub fn plan(
    gov: &Governed,
    runbook: &str,
    targets: &[Name],
    params: &BTreeMap<String, String>,
) -> Result<Plan> {
    let Some(rb) = gov.runbooks.get(runbook) else {
        let known: Vec<&str> = gov.runbooks.keys().map(String::as_str).collect();
        return Err(ControlError::Other(format!(
            "unknown runbook `{runbook}`; known: {}",
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let hosts = resolve_targets(gov, targets)?;
    Ok(bosun_runbook::plan(&rb.runbook, &hosts, params)?)
}

impl Control {
    /// The next sequence number for `iss` (one above the last accepted).
    pub fn next_seq(&self, iss: &KeyId) -> Result<u64> {
        Ok(self.store.last_seq(iss)?.map_or(1, |s| s + 1))
    }

    /// Signs an op envelope for `plan`.
    pub fn sign_op(
        &self,
        key: &dyn Sign,
        iss: &KeyId,
        plan: &Plan,
        seq: u64,
        now: i64,
    ) -> Result<(OpClaims, String)> {
        self.sign_rollout_op(key, iss, plan, None, seq, now)
    }

    /// Signs an op envelope for `plan`, as a wave of a rollout when
    /// `rollout` is given.
    pub fn sign_rollout_op(
        &self,
        key: &dyn Sign,
        iss: &KeyId,
        plan: &Plan,
        rollout: Option<bosun_model::RolloutRef>,
        seq: u64,
        now: i64,
    ) -> Result<(OpClaims, String)> {
        let claims = OpClaims {
            jti: fresh_jti()?,
            iss: iss.clone(),
            iat: now,
            exp: now + self.ws.config.op_ttl_secs,
            ws: self.ws.config.name.clone(),
            runbook: plan.runbook.clone(),
            targets: plan.targets.clone(),
            params: plan.params.clone(),
            seq,
            plan_digest: plan.digest(),
            rollout,
            check: plan.check,
        };
        let token = bosun_sign::sign_compact(key, iss.as_str(), OP_TYP, &claims)?;
        Ok((claims, token))
    }

    /// Signs an approval (or denial) of op or proposal `op` whose plan
    /// digest is `plan_digest`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_approval(
        &self,
        key: &dyn Sign,
        iss: &KeyId,
        op: &Jti,
        plan_digest: &Digest,
        verdict: Verdict,
        reason: Option<String>,
        now: i64,
    ) -> Result<(ApprovalClaims, String)> {
        let claims = ApprovalClaims {
            jti: fresh_jti()?,
            iss: iss.clone(),
            iat: now,
            exp: now + self.ws.config.op_ttl_secs,
            ws: self.ws.config.name.clone(),
            op: op.clone(),
            plan_digest: plan_digest.clone(),
            verdict,
            reason,
        };
        let token = bosun_sign::sign_compact(key, iss.as_str(), APPROVAL_TYP, &claims)?;
        Ok((claims, token))
    }
}
