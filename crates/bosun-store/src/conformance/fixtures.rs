//! The records the checks submit: ops, approvals and ids.

use std::collections::BTreeMap;

use bosun_model::{
    ApprovalClaims, Decision, Digest, Jti, KeyId, Name, OpClaims, OpState, Outcome, Plan, PlanStep,
    Requirement, Role, Verdict,
};

use crate::records::*;

pub(crate) fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// A jti (panics unless `s` is a valid id).
pub fn jti(s: &str) -> Jti {
    Jti::parse(s).unwrap()
}

/// An op of `iss` with `seq`, one step per target, in `state` (with the
/// decision that state implies), received at 100 with no budget basis.
pub fn new_op(
    id: &str,
    iss: &str,
    seq: u64,
    targets: &[&str],
    read_only: bool,
    state: OpState,
) -> NewOp {
    let targets: Vec<Name> = targets.iter().map(|t| name(t)).collect();
    let plan = Plan {
        runbook: name("rb"),
        runbook_digest: Digest::of(b"rb"),
        read_only,
        destructive: false,
        verb: None,
        targets: targets.clone(),
        check: false,
        hosts: Default::default(),
        params: BTreeMap::new(),
        steps: targets
            .iter()
            .map(|h| PlanStep {
                step: name("s1"),
                host: h.clone(),
                cmd: "true".into(),
                idempotent: false,
                depends_on: vec![],
                on_error: Default::default(),
                timeout_secs: None,
                actor: Default::default(),
                controller: false,
                max_parallel: None,
                check: None,
                bar: None,
            })
            .collect(),
        parallel: None,
        max_fail: None,
    };
    let outcome = match state {
        OpState::Approved => Outcome::Auto,
        OpState::Denied => Outcome::Deny {
            reason: "no".into(),
        },
        _ => Outcome::Approvals(Requirement {
            m: 1,
            roles: vec![Role::Operator],
        }),
    };
    NewOp {
        envelope: format!("envelope-of-{id}"),
        claims: OpClaims {
            jti: jti(id),
            iss: KeyId::parse(iss).unwrap(),
            iat: 100,
            exp: 1000,
            ws: name("ws"),
            runbook: name("rb"),
            targets,
            params: BTreeMap::new(),
            seq,
            plan_digest: plan.digest(),
            rollout: None,
            check: false,
        },
        role: Role::Agent,
        decision: Decision {
            outcome,
            policy_digest: Digest::of(b"p"),
            policy_ids: vec!["p1".into()],
            reasons: vec![],
        },
        plan,
        state,
        received_at: 100,
        budget_basis: vec![],
        adopted_basis: None,
    }
}

/// A `verdict` on `op` by `by` (an operator), with approval jti `id`.
pub fn approval(id: &str, op: &NewOp, by: &str, verdict: Verdict) -> NewApproval {
    NewApproval {
        envelope: format!("approval-{id}"),
        claims: ApprovalClaims {
            jti: jti(id),
            iss: KeyId::parse(by).unwrap(),
            iat: 110,
            exp: 1000,
            ws: name("ws"),
            op: op.claims.jti.clone(),
            plan_digest: op.claims.plan_digest.clone(),
            verdict,
            reason: None,
        },
        role: Role::Operator,
        received_at: 110,
        passkey: None,
    }
}

/// A refusal at intake (a bad signature), numbered `n` in its message
/// (`bad <n>`) and its input digest.
pub(crate) fn rejection(n: u8) -> Rejection {
    Rejection {
        at: 100,
        check: "signature".into(),
        message: format!("bad {n}"),
        jti: None,
        iss: None,
        input_digest: Digest::of(&[n]),
    }
}
