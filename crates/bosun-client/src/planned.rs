//! What a client checks before it signs a plan a daemon made: that it is
//! the plan asked for. A daemon — or whatever answers at `BOSUN_URL` —
//! cannot get another op signed.

use bosun_api::requests::PlanRequest;
use bosun_api::views::PlannedOp;
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
    if let Some(ws) = ws
        && ws != p.workspace
    {
        return refuse(format!(
            "workspace `{}`, not this one's `{ws}`",
            p.workspace
        ));
    }
    if p.next_seq.is_some_and(|s| s == 0 || s > MAX_PLANNED_SEQ) {
        return refuse(format!("sequence number {:?}", p.next_seq));
    }
    if !(1..=MAX_PLANNED_TTL).contains(&p.op_ttl_secs) {
        return refuse(format!("op lifetime {} s", p.op_ttl_secs));
    }
    if req.whole {
        let plan = whole_plan(p)?;
        if plan.runbook.as_str() != p.runbook
            || plan.params != p.params
            || plan.check != p.check
            || plan
                .targets
                .iter()
                .map(ToString::to_string)
                .ne(p.targets.iter().cloned())
        {
            return refuse("the plan whole is not the plan it summarises".into());
        }
    }
    Ok(())
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
