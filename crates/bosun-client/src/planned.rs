//! What a client checks before it signs a plan a daemon made: that it is
//! the plan asked for. A daemon — or whatever answers at `BOSUN_URL` —
//! cannot get another op signed.

use bosun_api::requests::{PlanRequest, RolloutVerb};
use bosun_api::views::{PlannedOp, PreparedRolloutOp, PreparedRun};
use bosun_control::{ControlError, Result};

/// The most a daemon may say an issuer's next sequence number is (far
/// above any real count, far below the 2^63 − 1 that would end the
/// issuer's ops for good).
pub const MAX_PLANNED_SEQ: u64 = 1 << 48;
/// The longest op lifetime a daemon may ask a client to sign (the longest
/// `op_ttl_secs` bosun.toml allows).
pub const MAX_PLANNED_TTL: i64 = 30 * 24 * 3600;

/// What the daemon planned is what `req` asked: not a check op, the same
/// runbook, every param given with its value (the others are the
/// runbook's defaults, which the signer is shown: [`shown_params`]),
/// hosts named plainly chosen as named, the workspace `ws` (when the
/// client knows one), a sane sequence number and lifetime.
pub fn check_planned(req: &PlanRequest, p: &PlannedOp, ws: Option<&str>) -> Result<()> {
    let refuse = |what: String| {
        Err(ControlError::Other(format!(
            "the daemon's plan is not what was asked ({what}); nothing was signed"
        )))
    };
    if p.check != req.check {
        return refuse(if p.check {
            "a check op, where a change was asked".into()
        } else {
            "a change, where a check op was asked".into()
        });
    }
    if p.runbook != req.runbook {
        return refuse(format!("runbook `{}`, not `{}`", p.runbook, req.runbook));
    }
    for (k, v) in &req.params {
        if p.params.get(k) != Some(v) {
            return refuse(format!("param `{k}` is {:?}, not {v:?}", p.params.get(k)));
        }
    }
    let plain = |t: &str| !t.contains(['*', '?', '[', ':', '!']);
    if req.targets.iter().all(|t| plain(t)) {
        let mut asked: Vec<&str> = req.targets.iter().map(String::as_str).collect();
        let mut got: Vec<&str> = p.targets.iter().map(String::as_str).collect();
        asked.sort_unstable();
        asked.dedup();
        got.sort_unstable();
        if asked != got {
            return refuse(format!("hosts {got:?}, not {asked:?}"));
        }
    }
    if let Some(why) = sane(p, ws) {
        return refuse(why);
    }
    if req.whole
        && let Some(why) = whole_differs(p)?
    {
        return refuse(why);
    }
    Ok(())
}

/// Whether the plan whole `p` carries (its digest recomputed here: an
/// error when it is not `p`'s) differs from the plan `p` summarises.
fn whole_differs(p: &PlannedOp) -> Result<Option<String>> {
    let plan = whole_plan(p)?;
    let differs = plan.runbook.as_str() != p.runbook
        || plan.params != p.params
        || plan.check != p.check
        || plan
            .targets
            .iter()
            .map(ToString::to_string)
            .ne(p.targets.iter().cloned());
    Ok(differs.then(|| "the plan whole is not the plan it summarises".to_string()))
}

/// What is wrong with the stamp of a plan the daemon made, if anything:
/// another workspace than `ws` (when the client knows one), a sequence
/// number or a lifetime out of range.
fn sane(p: &PlannedOp, ws: Option<&str>) -> Option<String> {
    if let Some(ws) = ws
        && ws != p.workspace
    {
        return Some(format!(
            "workspace `{}`, not this one's `{ws}`",
            p.workspace
        ));
    }
    if p.next_seq.is_some_and(|s| s == 0 || s > MAX_PLANNED_SEQ) {
        return Some(format!("sequence number {:?}", p.next_seq));
    }
    if !(1..=MAX_PLANNED_TTL).contains(&p.op_ttl_secs) {
        return Some(format!("op lifetime {} s", p.op_ttl_secs));
    }
    None
}

/// The op a rollout verb is to sign, from what the daemon prepared: the
/// op of rollout `id` that verb `verb` submits (its action; the canary
/// wave for a start or a drill, a later one for a promote), a change
/// (not a check op), a start nonce, for the workspace `ws` (when the
/// client knows one), with a sequence number and a sane lifetime, and the
/// plan whole whose digest, recomputed here, is the one signed. `None`:
/// the daemon says a promote would mark the rollout done (of the start
/// `p.start`).
pub fn check_prepared<'a>(
    id: &str,
    verb: RolloutVerb,
    p: &'a PreparedRun,
    ws: Option<&str>,
) -> Result<Option<&'a PreparedRolloutOp>> {
    let refuse = |what: String| {
        Err(ControlError::Other(format!(
            "the daemon's rollout op is not what was asked ({what}); nothing was signed"
        )))
    };
    if p.rollout != id || p.verb != verb {
        return refuse(format!(
            "`{}` of rollout `{}`, not `{}` of `{id}`",
            p.verb.as_str(),
            p.rollout,
            verb.as_str()
        ));
    }
    if p.start.is_empty() {
        return refuse("no start nonce".into());
    }
    let op = match (&p.op, p.done) {
        (None, true) if verb == RolloutVerb::Promote => return Ok(None),
        (Some(op), false) => op,
        _ => return refuse("neither an op nor the end of a promote".into()),
    };
    if op.action != verb.action() {
        return refuse(format!("a {} op", op.action.as_str()));
    }
    // A start and a drill are of the canary; a promote is past it.
    let canary = match verb {
        RolloutVerb::Start | RolloutVerb::Drill => Some(true),
        RolloutVerb::Promote => Some(false),
        RolloutVerb::Retry | RolloutVerb::Rollback => None,
    };
    if canary.is_some_and(|c| c != (op.wave == 0)) {
        return refuse(format!("wave {}", op.wave));
    }
    if op.planned.check {
        return refuse("a check op, where a change was asked".into());
    }
    if op.planned.next_seq.is_none() {
        return refuse("no sequence number for the signer".into());
    }
    if let Some(why) = sane(&op.planned, ws) {
        return refuse(why);
    }
    // The digest signed is recomputed here from the plan whole.
    if let Some(why) = whole_differs(&op.planned)? {
        return refuse(why);
    }
    Ok(Some(op))
}

/// The plan whole that `p` carries (asked with `PlanRequest.whole`), its
/// digest recomputed here: it must be `p`'s digest, the one a signer
/// signs, or it is refused.
pub fn whole_plan(p: &PlannedOp) -> Result<bosun_model::Plan> {
    let refuse = |what: String| {
        ControlError::Other(format!(
            "the daemon's plan is not what was asked ({what}); nothing was signed"
        ))
    };
    let v = p
        .whole
        .clone()
        .ok_or_else(|| refuse("no plan whole, though asked".into()))?;
    let plan: bosun_model::Plan =
        serde_json::from_value(v).map_err(|e| refuse(format!("its plan whole: {e}")))?;
    let digest = plan.digest();
    if digest.as_str() != p.plan_digest {
        return Err(refuse(format!(
            "the plan whole has digest {digest}, not the {} it names",
            p.plan_digest
        )));
    }
    Ok(plan)
}

/// The plan's params as a signer reads them before signing: `k=v`, the
/// ones `req` did not give marked as defaults.
pub fn shown_params(req: &PlanRequest, p: &PlannedOp) -> String {
    if p.params.is_empty() {
        return "no params".into();
    }
    p.params
        .iter()
        .map(|(k, v)| {
            if req.params.contains_key(k) {
                format!("{k}={v}")
            } else {
                format!("{k}={v} (default)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bosun_api::views::PlanView;
    use bosun_model::RolloutAction;

    use super::*;

    fn prepared(verb: RolloutVerb, action: RolloutAction, wave: u32) -> PreparedRun {
        let name = |s: &str| bosun_model::Name::parse(s).unwrap();
        let plan = bosun_model::Plan {
            runbook: name("install-pkg"),
            runbook_digest: bosun_model::Digest::of(b"install-pkg"),
            read_only: false,
            destructive: false,
            verb: None,
            targets: vec![name("canary-1")],
            hosts: BTreeMap::new(),
            params: BTreeMap::new(),
            steps: Vec::new(),
            parallel: None,
            max_fail: None,
            check: false,
        };
        let planned = PlannedOp {
            workspace: "lab".into(),
            op_ttl_secs: 600,
            runbook: "install-pkg".into(),
            targets: vec!["canary-1".into()],
            params: BTreeMap::new(),
            check: false,
            plan_digest: plan.digest().to_string(),
            whole: Some(serde_json::to_value(&plan).unwrap()),
            next_seq: Some(3),
            plan: PlanView {
                runbook: "install-pkg".into(),
                runbook_digest: "sha256:00".into(),
                digest: "sha256:00".into(),
                kind: "change".into(),
                targets: vec!["canary-1".into()],
                params: BTreeMap::new(),
                hosts: Vec::new(),
            },
        };
        PreparedRun {
            rollout: "pkg".into(),
            verb,
            done: false,
            start: "s1".into(),
            op: Some(PreparedRolloutOp {
                planned,
                wave,
                action,
                version: 1,
                not_in_inventory: Vec::new(),
            }),
        }
    }

    fn refused(p: &PreparedRun, verb: RolloutVerb) -> String {
        check_prepared("pkg", verb, p, Some("lab"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_op_asked_for_is_signed() {
        let p = prepared(RolloutVerb::Promote, RolloutAction::Apply, 1);
        let op = check_prepared("pkg", RolloutVerb::Promote, &p, Some("lab")).unwrap();
        assert_eq!(op.map(|o| o.wave), Some(1));
        let done = PreparedRun {
            done: true,
            op: None,
            ..p.clone()
        };
        assert!(
            check_prepared("pkg", RolloutVerb::Promote, &done, None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn another_rollout_verb_action_wave_or_stamp_is_refused() {
        let start = prepared(RolloutVerb::Start, RolloutAction::Apply, 0);
        assert!(refused(&start, RolloutVerb::Retry).contains("`start` of rollout"));
        let other = PreparedRun {
            rollout: "other".into(),
            ..start.clone()
        };
        assert!(refused(&other, RolloutVerb::Start).contains("rollout `other`"));
        let drill = prepared(RolloutVerb::Drill, RolloutAction::Rollback, 0);
        assert!(refused(&drill, RolloutVerb::Drill).contains("a rollback op"));
        let late = prepared(RolloutVerb::Start, RolloutAction::Apply, 2);
        assert!(refused(&late, RolloutVerb::Start).contains("wave 2"));
        let back = prepared(RolloutVerb::Promote, RolloutAction::Apply, 0);
        assert!(refused(&back, RolloutVerb::Promote).contains("wave 0"));
        let done = PreparedRun {
            done: true,
            op: None,
            ..prepared(RolloutVerb::Retry, RolloutAction::Apply, 0)
        };
        assert!(refused(&done, RolloutVerb::Retry).contains("neither"));
        let no_start = PreparedRun {
            start: String::new(),
            ..start.clone()
        };
        assert!(refused(&no_start, RolloutVerb::Start).contains("no start nonce"));
        let stamp = |edit: fn(&mut PlannedOp)| {
            let mut p = start.clone();
            if let Some(op) = p.op.as_mut() {
                edit(&mut op.planned);
            }
            refused(&p, RolloutVerb::Start)
        };
        assert!(stamp(|p| p.check = true).contains("check op"));
        assert!(stamp(|p| p.next_seq = None).contains("no sequence number"));
        assert!(stamp(|p| p.next_seq = Some(0)).contains("sequence number"));
        assert!(stamp(|p| p.op_ttl_secs = MAX_PLANNED_TTL + 1).contains("lifetime"));
        assert!(stamp(|p| p.workspace = "prod".into()).contains("workspace `prod`"));
        // The plan whole: its digest must be the one signed, and it must
        // be the plan summarised.
        assert!(stamp(|p| p.whole = None).contains("no plan whole"));
        assert!(stamp(|p| p.plan_digest = "sha256:00".into()).contains("digest"));
        assert!(stamp(|p| p.targets = vec!["web-1".into()]).contains("not the plan it summarises"));
    }
}
