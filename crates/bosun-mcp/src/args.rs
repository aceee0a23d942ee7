//! The tools' arguments: what an agent may send, with JSON schemas, and
//! their validation. Everything here is untrusted input: unknown fields
//! are refused (an `as`, `issuer` or `key` field cannot choose who
//! signs), strings and lists have size limits, and ids go through
//! bosun-model's parsers before anything else sees them. Nothing panics on
//! any input.

use std::collections::BTreeMap;

use bosun_api::Check;
use bosun_model::{Jti, Name, OpState, ReportStatus};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::core::{Fault, PlanRequest, StepReport};

/// The longest free text (a param's value, a note, a halt's reason).
pub const MAX_TEXT: usize = 4096;
/// The most target selectors one call takes.
pub const MAX_TARGETS: usize = 256;
/// The longest target selector.
pub const MAX_SELECTOR: usize = 256;
/// The most params one call takes.
pub const MAX_PARAMS: usize = 64;
/// The longest a call may wait for an op to move, in seconds.
pub const MAX_WAIT_SECS: u32 = 300;
/// The most ops `ops_list` returns.
pub const MAX_OPS: usize = 1000;

/// No arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A runbook's id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookArgs {
    /// The runbook's id, as `runbooks_list` shows it.
    pub id: String,
}

/// A runbook over hosts with params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanArgs {
    /// The runbook's id, as `runbooks_list` shows it.
    pub runbook: String,
    /// Target hosts: names, `*` globs (`web-*`), `tag:x`, `arch:aarch64`,
    /// or `!` before any of these to take hosts out.
    pub targets: Vec<String>,
    /// The runbook's params: strings, numbers or booleans.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// A runbook over hosts to submit, and how long to wait for a human.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitArgs {
    /// The runbook's id, as `runbooks_list` shows it.
    pub runbook: String,
    /// Target hosts: names, `*` globs (`web-*`), `tag:x`, `arch:aarch64`,
    /// or `!` before any of these to take hosts out.
    pub targets: Vec<String>,
    /// The runbook's params: strings, numbers or booleans.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// When the op must wait for a human, wait up to this many seconds
    /// (at most 300) for it to move, with progress notifications, before
    /// answering. 0 or absent: answer at once.
    #[serde(default)]
    pub wait_seconds: Option<u32>,
}

/// An op, and how long to wait for it to move.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpArgs {
    /// The op's jti, or an unambiguous prefix of at least 6 characters.
    pub op: String,
    /// Wait up to this many seconds (at most 300) for the op to leave the
    /// state it is in (approval, queue, run), with progress
    /// notifications, before answering. 0 or absent: answer at once.
    #[serde(default)]
    pub wait_seconds: Option<u32>,
}

/// An op.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveArgs {
    /// The op's jti, or an unambiguous prefix of at least 6 characters.
    pub op: String,
}

/// Which ops to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsArgs {
    /// Only ops in this state.
    #[serde(default)]
    pub state: Option<OpState>,
    /// At most this many (default 50, at most 1000), newest first.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// How a step without a command went.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepReportArgs {
    /// The op's jti, or an unambiguous prefix of at least 6 characters.
    pub op: String,
    /// The step's id.
    pub step: String,
    /// Only this host's step (default: every host waiting on it).
    #[serde(default)]
    pub host: Option<String>,
    /// `pass` or `fail`.
    pub status: Status,
    /// What to record with it (scrubbed of credentials).
    #[serde(default)]
    pub note: Option<String>,
}

/// How a step went.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It went as it should.
    Pass,
    /// It did not.
    Fail,
}

/// Which blockers to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockersArgs {
    /// Resolved blockers too.
    #[serde(default)]
    pub all: bool,
}

/// A rollout's id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutArgs {
    /// The rollout's id (its file `rollouts/<id>.toml`).
    pub rollout: String,
}

/// A host with a kernel manifest.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelHostArgs {
    /// The host (its manifest is `fleet/<host>.yaml`).
    pub host: String,
}

/// Patches to import into the kernel patch tree.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchesImportArgs {
    /// The campaign the patches come from (`fresnel-fourier`).
    pub campaign: String,
    /// The narrowest correct scope (`board/pinebook-pro`, `soc/rockchip/rk3399`).
    pub scope: String,
    /// The patches, in order: `git format-patch` output or unified diffs.
    pub files: Vec<PatchFileArg>,
}

/// One patch file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchFileArg {
    /// Its file name, ending in `.patch` (`0001-arm64-dts-….patch`).
    pub name: String,
    /// Its text, whole (authorship headers kept).
    pub text: String,
}

/// Why to halt.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltArgs {
    /// Why, in words (recorded in the ledger).
    pub why: String,
}

/// The JSON schema of `T` as a tool's input schema (the schema of no
/// arguments, should `T`'s not be one an MCP client takes: a unit test
/// checks that every tool's is).
pub fn schema<T: JsonSchema + 'static>() -> std::sync::Arc<rmcp::model::JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|_| rmcp::handler::server::common::schema_for_empty_input())
}

/// A tool's arguments as `T`: anything else (a missing or unknown field,
/// a wrong type) is refused by the `format` check, saying what was wrong.
pub fn parse<T: serde::de::DeserializeOwned>(raw: rmcp::model::JsonObject) -> Result<T, Fault> {
    serde_json::from_value(serde_json::Value::Object(raw)).map_err(|e| {
        let mut m = e.to_string();
        if m.len() > 512 {
            m.truncate(m.char_indices().nth(512).map_or(m.len(), |(i, _)| i));
            m.push('…');
        }
        Fault::refused(Check::Format, format!("arguments: {m}"))
    })
}

/// `s` as a name (a runbook, host, step or rollout id), or a refusal
/// naming `what`.
pub fn name(what: &str, s: &str) -> Result<Name, Fault> {
    Name::parse(s).map_err(|e| Fault::refused(Check::Format, format!("{what}: {e}")))
}

/// `s` as an op id or a prefix of one (the same alphabet and length).
pub fn op_id(s: &str) -> Result<String, Fault> {
    Jti::parse(s)
        .map(|j| j.to_string())
        .map_err(|e| Fault::refused(Check::Format, format!("op: {e}")))
}

/// `s` as free text of at most [`MAX_TEXT`] bytes.
pub fn text(what: &str, s: &str) -> Result<String, Fault> {
    if s.len() > MAX_TEXT {
        return Err(Fault::refused(
            Check::Size,
            format!("{what}: {} bytes, over the {MAX_TEXT} allowed", s.len()),
        ));
    }
    Ok(s.to_string())
}

/// How long to wait, capped at [`MAX_WAIT_SECS`].
pub fn wait(secs: Option<u32>) -> u32 {
    secs.unwrap_or(0).min(MAX_WAIT_SECS)
}

/// The plan a call asks for, validated.
pub fn plan_request(
    runbook: &str,
    targets: &[String],
    params: &BTreeMap<String, serde_json::Value>,
) -> Result<PlanRequest, Fault> {
    let runbook = name("runbook", runbook)?;
    if targets.len() > MAX_TARGETS {
        return Err(Fault::refused(
            Check::Size,
            format!("{} targets, over the {MAX_TARGETS} allowed", targets.len()),
        ));
    }
    if let Some(t) = targets.iter().find(|t| t.len() > MAX_SELECTOR) {
        return Err(Fault::refused(
            Check::Size,
            format!(
                "a target selector of {} bytes, over the {MAX_SELECTOR} allowed",
                t.len()
            ),
        ));
    }
    if params.len() > MAX_PARAMS {
        return Err(Fault::refused(
            Check::Size,
            format!("{} params, over the {MAX_PARAMS} allowed", params.len()),
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in params {
        let key = name("param name", k)?;
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Fault::refused(
                    Check::Format,
                    format!("param `{key}` is not a string, number or boolean"),
                ));
            }
        };
        out.insert(key.to_string(), text(&format!("param `{key}`"), &v)?);
    }
    Ok(PlanRequest {
        runbook,
        targets: targets.to_vec(),
        params: out,
    })
}

/// The step report a call asks for, validated.
pub fn step_report(a: &StepReportArgs) -> Result<StepReport, Fault> {
    Ok(StepReport {
        op: op_id(&a.op)?,
        step: name("step", &a.step)?,
        host: a.host.as_deref().map(|h| name("host", h)).transpose()?,
        status: match a.status {
            Status::Pass => ReportStatus::Pass,
            Status::Fail => ReportStatus::Fail,
        },
        note: a.note.as_deref().map(|n| text("note", n)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused_by_the_format_check() {
        for bad in [
            "../../keys",
            "a b",
            "x;rm -rf /",
            "",
            "$(id)",
            &"a".repeat(5000),
        ] {
            match name("runbook", bad) {
                Err(Fault::Refused(r)) => assert_eq!(r.check, Check::Format, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn params_are_scalars_within_limits() {
        let mut p = BTreeMap::new();
        p.insert("version".to_string(), serde_json::json!(2));
        p.insert("force".to_string(), serde_json::json!(true));
        let r = plan_request("pkg", &["web-1".into()], &p).unwrap();
        assert_eq!(r.params["version"], "2");
        assert_eq!(r.params["force"], "true");
        p.insert("x".to_string(), serde_json::json!({"a": 1}));
        assert!(plan_request("pkg", &["web-1".into()], &p).is_err());
        p.remove("x");
        p.insert(
            "big".to_string(),
            serde_json::json!("a".repeat(MAX_TEXT + 1)),
        );
        match plan_request("pkg", &["web-1".into()], &p) {
            Err(Fault::Refused(r)) => assert_eq!(r.check, Check::Size),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_input_schema_is_an_object_schema() {
        for s in [
            schema::<NoArgs>(),
            schema::<RunbookArgs>(),
            schema::<PlanArgs>(),
            schema::<SubmitArgs>(),
            schema::<OpArgs>(),
            schema::<ProveArgs>(),
            schema::<OpsArgs>(),
            schema::<StepReportArgs>(),
            schema::<BlockersArgs>(),
            schema::<RolloutArgs>(),
            schema::<KernelHostArgs>(),
            schema::<HaltArgs>(),
        ] {
            assert_eq!(s["type"], "object", "{s:?}");
            assert_eq!(s["additionalProperties"], false, "{s:?}");
        }
    }

    #[test]
    fn an_issuer_field_is_refused_not_ignored() {
        let v = serde_json::json!({"why": "x", "as": "alice"});
        assert!(serde_json::from_value::<HaltArgs>(v).is_err());
        let v = serde_json::json!({"op": "abc", "issuer": "alice"});
        assert!(serde_json::from_value::<OpArgs>(v).is_err());
    }
}
