//! The hard approval rules, which hold whatever the policy says:
//!
//! - only human identities approve; agents never do, even when a requirement
//!   lists their role;
//! - nobody approves their own op;
//! - an approval binds to one plan digest: any other plan voids it;
//! - an approval expires after the policy's validity, or at its own `exp`;
//! - M means M *distinct* identities: a second approval by the same identity
//!   counts once;
//! - a valid denial by a human denies the op.

use bosun_model::{ApprovalClaims, Digest, KeyId, Requirement, Role, Verdict};

/// How far in the future an approval's `iat` may be (clock skew) before the
/// approval is void.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A verified approval (or denial) envelope with its issuer's registered role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// The verified claims.
    pub claims: ApprovalClaims,
    /// The approver's registered role (from the key registry, not the envelope).
    pub role: Role,
}

/// The outcome of counting approvals against a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    /// Distinct identities whose approval counts, in the order given.
    pub valid: Vec<KeyId>,
    /// Approvals (and denials) that do not count, with why.
    pub void: Vec<(KeyId, String)>,
    /// The first valid denial: who, and their reason.
    pub denied_by: Option<(KeyId, String)>,
    /// Whether the requirement is met and nobody denied.
    pub satisfied: bool,
}

/// Why an approval or denial does not count, if it does not: the checks
/// both share (human, plan digest, validity, expiry).
fn common_void(
    a: &ApprovalRecord,
    plan_digest: &Digest,
    now_unix: i64,
    validity_secs: i64,
) -> Option<String> {
    let c = &a.claims;
    if !a.role.is_human() {
        return Some(format!(
            "{} is registered as {}; only humans approve or deny",
            c.iss, a.role
        ));
    }
    if &c.plan_digest != plan_digest {
        return Some(format!(
            "it is for plan {}, not {}; the plan changed, so it must be approved again",
            c.plan_digest.short(),
            plan_digest.short()
        ));
    }
    if now_unix.saturating_sub(c.iat) > validity_secs {
        return Some(format!(
            "it was signed {}s ago; approvals are valid for {validity_secs}s",
            now_unix.saturating_sub(c.iat)
        ));
    }
    if now_unix >= c.exp {
        return Some("it is past its own expiry (exp)".into());
    }
    if c.iat > now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Some("it is signed in the future; check the approver's clock".into());
    }
    None
}

/// Counts `approvals` for an op issued by `op_issuer` with plan
/// `plan_digest` against `req`. The caller passes only approvals that answer
/// this op (their `op` claim) and whose signatures it verified.
///
/// `req.m` is taken as at least 1: an op that waits for approvals needs a human.
pub fn tally(
    req: &Requirement,
    op_issuer: &KeyId,
    plan_digest: &Digest,
    approvals: &[ApprovalRecord],
    now_unix: i64,
    validity_secs: i64,
) -> Tally {
    let mut t = Tally::default();
    for a in approvals {
        let c = &a.claims;
        let why = common_void(a, plan_digest, now_unix, validity_secs);
        match c.verdict {
            Verdict::Deny => match why {
                // A denial only makes things stricter, so any valid human
                // denial counts, even from the issuer or a role the
                // requirement does not list.
                None => {
                    if t.denied_by.is_none() {
                        let reason = c.reason.clone().unwrap_or_else(|| "no reason given".into());
                        t.denied_by = Some((c.iss.clone(), reason));
                    }
                }
                Some(why) => t.void.push((c.iss.clone(), format!("denial void: {why}"))),
            },
            Verdict::Approve => {
                let why = why.or_else(|| {
                    if &c.iss == op_issuer {
                        Some("nobody approves their own op".into())
                    } else if !req.roles.contains(&a.role) {
                        Some(format!(
                            "role {} is not among the roles this op needs ({})",
                            a.role,
                            roles_list(&req.roles)
                        ))
                    } else if t.valid.contains(&c.iss) {
                        Some("this identity already approved; it counts once".into())
                    } else {
                        None
                    }
                });
                match why {
                    None => t.valid.push(c.iss.clone()),
                    Some(why) => t.void.push((c.iss.clone(), why)),
                }
            }
        }
    }
    let m = usize::try_from(req.m.max(1)).unwrap_or(usize::MAX);
    t.satisfied = t.denied_by.is_none() && t.valid.len() >= m;
    t
}

fn roles_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_model::{Jti, Name};

    const NOW: i64 = 1_800_000_000;
    const VALIDITY: i64 = 86_400;

    fn key(s: &str) -> KeyId {
        KeyId::parse(s).unwrap()
    }

    fn plan() -> Digest {
        Digest::of(b"plan A")
    }

    fn approval(iss: &str, role: Role) -> ApprovalRecord {
        ApprovalRecord {
            claims: ApprovalClaims {
                jti: Jti::parse(&format!("appr-{iss}")).unwrap(),
                iss: key(iss),
                iat: NOW - 60,
                exp: NOW + 3600,
                ws: Name::parse("ws").unwrap(),
                op: Jti::parse("op1").unwrap(),
                plan_digest: plan(),
                verdict: Verdict::Approve,
                reason: None,
            },
            role,
        }
    }

    fn req(m: u32, roles: &[Role]) -> Requirement {
        Requirement {
            m,
            roles: roles.to_vec(),
        }
    }

    fn run(r: &Requirement, approvals: &[ApprovalRecord]) -> Tally {
        tally(r, &key("claude"), &plan(), approvals, NOW, VALIDITY)
    }

    #[test]
    fn one_operator_satisfies_m1() {
        let t = run(
            &req(1, &[Role::Operator]),
            &[approval("alice", Role::Operator)],
        );
        assert!(t.satisfied);
        assert_eq!(t.valid, vec![key("alice")]);
        assert!(t.void.is_empty());
    }

    #[test]
    fn agents_never_approve_even_when_listed() {
        let r = req(1, &[Role::Agent, Role::Operator]);
        let t = run(&r, &[approval("gpt", Role::Agent)]);
        assert!(!t.satisfied);
        assert!(t.valid.is_empty());
        assert!(t.void[0].1.contains("only humans"), "{:?}", t.void);
        // Nor the controller or keeper keys.
        let t = run(
            &req(1, &[Role::Controller, Role::Keeper]),
            &[
                approval("ctl", Role::Controller),
                approval("kpr", Role::Keeper),
            ],
        );
        assert!(!t.satisfied);
        assert_eq!(t.void.len(), 2);
    }

    #[test]
    fn nobody_approves_their_own_op() {
        // The issuer is a human operator this time.
        let t = tally(
            &req(1, &[Role::Operator]),
            &key("alice"),
            &plan(),
            &[approval("alice", Role::Operator)],
            NOW,
            VALIDITY,
        );
        assert!(!t.satisfied);
        assert!(t.void[0].1.contains("own op"));
    }

    #[test]
    fn same_identity_counts_once() {
        let mut second = approval("alice", Role::Operator);
        second.claims.jti = Jti::parse("another").unwrap();
        let t = run(
            &req(2, &[Role::Operator]),
            &[approval("alice", Role::Operator), second],
        );
        assert!(!t.satisfied);
        assert_eq!(t.valid, vec![key("alice")]);
        assert!(t.void[0].1.contains("counts once"));
    }

    #[test]
    fn m_distinct_identities_satisfy() {
        let t = run(
            &req(2, &[Role::Operator]),
            &[
                approval("alice", Role::Operator),
                approval("bob", Role::Operator),
            ],
        );
        assert!(t.satisfied);
        assert_eq!(t.valid.len(), 2);
    }

    #[test]
    fn approval_for_another_plan_is_void() {
        let mut a = approval("alice", Role::Operator);
        a.claims.plan_digest = Digest::of(b"plan B");
        let t = run(&req(1, &[Role::Operator]), &[a]);
        assert!(!t.satisfied);
        assert!(t.void[0].1.contains("plan changed"));
    }

    #[test]
    fn expired_approvals_are_void() {
        let mut old = approval("alice", Role::Operator);
        old.claims.iat = NOW - VALIDITY - 1;
        old.claims.exp = NOW + 10;
        let mut past_exp = approval("bob", Role::Operator);
        past_exp.claims.exp = NOW;
        let mut future = approval("carol", Role::Operator);
        future.claims.iat = NOW + MAX_CLOCK_SKEW_SECS + 1;
        future.claims.exp = NOW + 2 * MAX_CLOCK_SKEW_SECS;
        let t = run(&req(1, &[Role::Operator]), &[old, past_exp, future]);
        assert!(!t.satisfied);
        assert_eq!(t.void.len(), 3, "{:?}", t.void);
        // Exactly at the validity edge still counts.
        let mut edge = approval("dave", Role::Operator);
        edge.claims.iat = NOW - VALIDITY;
        assert!(run(&req(1, &[Role::Operator]), &[edge]).satisfied);
    }

    #[test]
    fn role_must_be_listed() {
        // A human role not in the requirement: none exists besides operator
        // today, so an empty role list shows the rule.
        let t = run(&req(1, &[]), &[approval("alice", Role::Operator)]);
        assert!(!t.satisfied);
        assert!(t.void[0].1.contains("not among"));
    }

    #[test]
    fn m_zero_still_needs_one_human() {
        assert!(!run(&req(0, &[Role::Operator]), &[]).satisfied);
    }

    #[test]
    fn a_human_denial_denies() {
        let mut d = approval("bob", Role::Operator);
        d.claims.verdict = Verdict::Deny;
        d.claims.reason = Some("not during the migration".into());
        let t = run(
            &req(1, &[Role::Operator]),
            &[approval("alice", Role::Operator), d],
        );
        assert!(!t.satisfied);
        assert_eq!(
            t.denied_by,
            Some((key("bob"), "not during the migration".to_string()))
        );
    }

    #[test]
    fn an_agent_denial_or_stale_denial_is_void() {
        let mut d = approval("gpt", Role::Agent);
        d.claims.verdict = Verdict::Deny;
        let mut stale = approval("bob", Role::Operator);
        stale.claims.verdict = Verdict::Deny;
        stale.claims.plan_digest = Digest::of(b"plan B");
        let t = run(
            &req(1, &[Role::Operator]),
            &[approval("alice", Role::Operator), d, stale],
        );
        assert!(t.satisfied);
        assert!(t.denied_by.is_none());
        assert_eq!(t.void.len(), 2);
    }
}
