//! The proposing side: planning an op and signing op and approval
//! envelopes with a private key from the key directory. Intake never trusts
//! any of this: it re-plans and verifies everything itself.

use std::collections::BTreeMap;

use bosun_model::claims::{APPROVAL_TYP, OP_TYP, STATEMENT_TYP, STEP_REPORT_TYP};
use bosun_model::{
    Act, ApprovalClaims, Digest, Host, Jti, KeyId, Name, OpClaims, Plan, ReportStatus,
    StatementClaims, StepReportClaims, Verdict,
};
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
        let d = OpDraft::of_plan(&self.ws.config.name, self.ws.config.op_ttl_secs, plan);
        sign_op_draft(key, iss, &d, rollout, seq, now)
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
        self.signing(key, iss, now)
            .approval(op, plan_digest, verdict, reason)
    }

    /// A signing context for `iss` with `key` in this workspace, at `now`.
    pub fn signing<'a>(&'a self, key: &'a dyn Sign, iss: &'a KeyId, now: i64) -> Signing<'a> {
        Signing {
            key,
            iss,
            ws: &self.ws.config.name,
            ttl_secs: self.ws.config.op_ttl_secs,
            now,
        }
    }
}

/// Who signs, for which workspace, how long envelopes live and when: what
/// every envelope a client signs needs, with or without the workspace
/// open (a client of a daemon takes `ws` and `ttl_secs` from its
/// `/api/v1/info`).
#[derive(Clone, Copy)]
pub struct Signing<'a> {
    /// The private key.
    pub key: &'a dyn Sign,
    /// Its name: the envelope's issuer.
    pub iss: &'a KeyId,
    /// The workspace the envelope is for.
    pub ws: &'a Name,
    /// Seconds an op, approval or step report stays valid.
    pub ttl_secs: i64,
    /// The time of signing (Unix seconds).
    pub now: i64,
}

impl Signing<'_> {
    /// Signs an approval (or denial) of op or proposal `op` whose plan
    /// digest is `plan_digest`.
    pub fn approval(
        &self,
        op: &Jti,
        plan_digest: &Digest,
        verdict: Verdict,
        reason: Option<String>,
    ) -> Result<(ApprovalClaims, String)> {
        let claims = ApprovalClaims {
            jti: fresh_jti()?,
            iss: self.iss.clone(),
            iat: self.now,
            exp: self.now.saturating_add(self.ttl_secs),
            ws: self.ws.clone(),
            op: op.clone(),
            plan_digest: plan_digest.clone(),
            verdict,
            reason,
        };
        let token = self.seal(APPROVAL_TYP, &claims)?;
        Ok((claims, token))
    }

    /// Signs a report of how `step` of op `op` went (on `host` only, when
    /// given).
    pub fn step_report(
        &self,
        op: &Jti,
        step: &Name,
        host: Option<Name>,
        status: ReportStatus,
        note: Option<String>,
    ) -> Result<String> {
        let claims = StepReportClaims {
            jti: fresh_jti()?,
            iss: self.iss.clone(),
            iat: self.now,
            exp: self.now.saturating_add(self.ttl_secs),
            ws: self.ws.clone(),
            op: op.clone(),
            step: step.clone(),
            host,
            status,
            note,
        };
        self.seal(STEP_REPORT_TYP, &claims)
    }

    /// Signs a statement of `act` (it lives one minute: a statement is
    /// applied when it arrives).
    pub fn statement(&self, act: Act) -> Result<String> {
        let claims = StatementClaims {
            jti: fresh_jti()?,
            iss: self.iss.clone(),
            iat: self.now,
            exp: self.now.saturating_add(60),
            ws: self.ws.clone(),
            act,
        };
        self.seal(STATEMENT_TYP, &claims)
    }

    /// `claims` as a compact JWS of type `typ`, signed by the issuer.
    fn seal<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String> {
        Ok(bosun_sign::sign_compact(
            self.key,
            self.iss.as_str(),
            typ,
            claims,
        )?)
    }
}

/// What an op's claims say besides who signs it and when: from a plan
/// made here ([`OpDraft::of_plan`]) or by a daemon ([`OpDraft::planned`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpDraft {
    /// The workspace.
    pub ws: Name,
    /// Seconds the envelope stays valid.
    pub ttl_secs: i64,
    /// The runbook.
    pub runbook: Name,
    /// The target hosts.
    pub targets: Vec<Name>,
    /// The params, defaults filled in.
    pub params: BTreeMap<String, String>,
    /// A check op.
    pub check: bool,
    /// The plan's digest.
    pub plan_digest: Digest,
}

impl OpDraft {
    /// The draft of `plan` in workspace `ws`.
    pub fn of_plan(ws: &Name, ttl_secs: i64, plan: &Plan) -> OpDraft {
        OpDraft {
            ws: ws.clone(),
            ttl_secs,
            runbook: plan.runbook.clone(),
            targets: plan.targets.clone(),
            params: plan.params.clone(),
            check: plan.check,
            plan_digest: plan.digest(),
        }
    }

    /// The draft of a plan a daemon made (its names and digest checked).
    pub fn planned(p: &bosun_api::views::PlannedOp) -> Result<OpDraft> {
        let name = |s: &str| {
            Name::parse(s)
                .map_err(|e| ControlError::Other(format!("the daemon's plan: `{s}`: {e}")))
        };
        Ok(OpDraft {
            ws: name(&p.workspace)?,
            ttl_secs: p.op_ttl_secs,
            runbook: name(&p.runbook)?,
            targets: p.targets.iter().map(|t| name(t)).collect::<Result<_>>()?,
            params: p.params.clone(),
            check: p.check,
            plan_digest: Digest::try_from(p.plan_digest.clone())
                .map_err(|e| ControlError::Other(format!("the daemon's plan digest: {e}")))?,
        })
    }
}

/// The read-only `check` commands of `plan`, as an op of their own
/// (`plan --check`); an error when the runbook has none.
pub fn check_plan(plan: Plan) -> Result<Plan> {
    bosun_runbook::check_plan(plan).map_err(|e| ControlError::Other(e.to_string()))
}

/// Signs an op envelope for `d` as `iss` (a rollout's wave when `rollout`
/// is given): what a client signs, with or without the workspace open.
pub fn sign_op_draft(
    key: &dyn Sign,
    iss: &KeyId,
    d: &OpDraft,
    rollout: Option<bosun_model::RolloutRef>,
    seq: u64,
    now: i64,
) -> Result<(OpClaims, String)> {
    let claims = OpClaims {
        jti: fresh_jti()?,
        iss: iss.clone(),
        iat: now,
        exp: now.saturating_add(d.ttl_secs),
        ws: d.ws.clone(),
        runbook: d.runbook.clone(),
        targets: d.targets.clone(),
        params: d.params.clone(),
        seq,
        plan_digest: d.plan_digest.clone(),
        rollout,
        check: d.check,
    };
    let token = bosun_sign::sign_compact(key, iss.as_str(), OP_TYP, &claims)?;
    Ok((claims, token))
}
