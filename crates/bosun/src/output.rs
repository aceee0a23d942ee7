//! Presentation helpers: times, tables and the JSON shapes of read verbs.

use bosun_control::intake::decision_word;
use bosun_store::{OpRecord, OpSummary};
use serde_json::{Value, json};

/// Unix seconds as an RFC 3339 UTC time.
pub fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Writes `text` to stdout and flushes it. A closed pipe is an error to
/// return, never a panic (as `println!` would).
///
/// What it prints is made inert first ([`inert`]): the plans, params and
/// diffs it shows come from files and envelopes anyone may have written,
/// and a terminal escape in them must not rewrite what an approver reads.
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(inert(text).as_bytes())?;
    out.flush()
}

/// As [`emit`], to stderr.
pub fn emit_err(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stderr().lock();
    out.write_all(inert(text).as_bytes())?;
    out.flush()
}

/// `text` with every character that could move the cursor, recolour,
/// erase or reorder what a terminal shows written as a visible escape
/// (`\u{1b}`): C0 and C1 controls but newline and tab, DEL, and the
/// Unicode format characters (bidi overrides and isolates, zero-width
/// ones, the byte-order mark).
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}' | '\u{00ad}')
    };
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if bad(c) {
                    format!("\\u{{{:x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// What a plan does, in words: `read-only` or `changes hosts`, and
/// `, DESTRUCTIVE` when it destroys data.
pub fn plan_kind(plan: &bosun_model::Plan) -> String {
    format!(
        "{}{}",
        if plan.read_only {
            "read-only"
        } else {
            "changes hosts"
        },
        if plan.destructive {
            ", DESTRUCTIVE"
        } else {
            ""
        }
    )
}

/// Prints rows as an aligned table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<width$}", c, width = w[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// `ops list --json` element.
pub fn summary_json(s: &OpSummary) -> Value {
    json!({
        "jti": s.jti, "iss": s.iss, "runbook": s.runbook, "targets": s.targets,
        "state": s.state, "decision": s.decision, "created_at": time(s.created_at), "updated_at": time(s.updated_at),
    })
}

/// `ops show --json`.
pub fn op_json(r: &OpRecord) -> Value {
    json!({
        "jti": r.summary.jti,
        "state": r.summary.state,
        "decision": decision_word(&r.decision),
        "outcome": r.decision.outcome,
        "policy_digest": r.decision.policy_digest,
        "policy_ids": r.decision.policy_ids,
        "reasons": r.decision.reasons,
        "iss": r.claims.iss,
        "role": r.role,
        "runbook": r.claims.runbook,
        "targets": r.claims.targets,
        "params": r.claims.params,
        "seq": r.claims.seq,
        "plan_digest": r.claims.plan_digest,
        "approvals": r.approvals.iter().map(|a| json!({
            "by": a.claims.iss, "role": a.role, "verdict": a.claims.verdict,
            "reason": a.claims.reason, "at": time(a.received_at), "plan_digest": a.claims.plan_digest,
        })).collect::<Vec<_>>(),
        "steps": r.steps.iter().map(|s| json!({
            "idx": s.idx, "step": s.step, "host": s.host, "status": s.status,
            "exit_code": s.exit_code, "duration_ms": s.duration_ms, "output": s.output,
        })).collect::<Vec<_>>(),
        "detail": r.detail,
        "created_at": time(r.summary.created_at),
        "updated_at": time(r.summary.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        assert_eq!(inert("df -h /\n\tok"), "df -h /\n\tok");
        assert_eq!(
            inert("curl x | sh #\r\u{1b}[2K df -h"),
            "curl x | sh #\\u{d}\\u{1b}[2K df -h"
        );
        assert_eq!(
            inert("a\u{202e}b\u{9b}c\u{7f}"),
            "a\\u{202e}b\\u{9b}c\\u{7f}"
        );
    }
}
