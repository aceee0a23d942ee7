//! The runbook file format and its validation.
//!
//! ```toml
//! id = "disk-usage"
//! description = "Report disk usage"
//! read_only = true
//! destructive = false
//!
//! [params.path]
//! type = "string"
//! default = "/"
//!
//! [[steps]]
//! id = "df"
//! cmd = "df -h {{ params.path }}"
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bosun_model::source::parse_duration;
use bosun_model::source::{SourceError, check_size, find_offset, from_toml};
use bosun_model::{Actor, Dependency, Digest, Name, Strategy};

pub use crate::params::{DEFAULT_MAX_LEN, Param, ParamType, check_value, value_to_string};
use serde::{Deserialize, Serialize};

/// Largest runbook file accepted.
pub const MAX_RUNBOOK_BYTES: usize = 256 * 1024;
/// Most steps in one runbook.
pub const MAX_STEPS: usize = 1000;

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StepTarget {
    /// On every target host.
    #[default]
    Each,
    /// Once, on the control host.
    Controller,
}

/// `on_error = { strategy, max, backoff }` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// `stop` (default), `continue` or `retry`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Retries after the first attempt (for `retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Wait before each retry (`5s`, `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the runbook.
    pub id: Name,
    /// What it does, in a word or two (`describe_build_flow`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// Who performs it.
    #[serde(default)]
    pub actor: Actor,
    /// A shell command, a template over `params` and `host`. Human steps
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// A read-only command for check mode (`bosun plan --check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Where it runs.
    #[serde(default)]
    pub target: StepTarget,
    /// Kill it after this long (`30s`, `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Safe to run again when its outcome is unknown.
    #[serde(default)]
    pub idempotent: bool,
    /// Steps that must end first, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// What a failure does.
    #[serde(default)]
    pub on_error: ErrorSpec,
    /// A note for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// At most this many hosts run this step at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// This step is a verification bar: its result is a verdict (pass,
    /// fail, inconclusive) and a failure marks the host drifted and files
    /// a `regression` blocker, as a rollout wave's bars do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar: Option<StepBar>,
}

/// The bar kinds a step can be (seed 001's five).
pub const BAR_KINDS: &[&str] = &["heartbeat", "version", "file", "probe", "burn_in"];

/// `bar = { kind = "version", expect = "{{ params.version }}" }` on a step:
/// its `cmd` is what the bar runs (`cat <path>` for `file`, `true` for a
/// `heartbeat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBar {
    /// `heartbeat`, `version`, `file`, `probe` or `burn_in`.
    pub kind: String,
    /// The expected output (`version`, `file`): a template, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// How long to hold before checking (`burn_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
}

/// A parsed, validated runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Its id, equal to the file stem.
    pub id: Name,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// Its steps only read: the policy may let it run alone.
    #[serde(default)]
    pub read_only: bool,
    /// It destroys data.
    #[serde(default)]
    pub destructive: bool,
    /// What kind of change it is, for blockers: `install`, `build`,
    /// `promote`, `sign`, `rollback`, `import`, or any other name. Without
    /// it, a changing runbook is a `change` and a read-only one a `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<Name>,
    /// Declared parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// What must hold before it runs (for humans and agents to check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<String>,
    /// What holds after it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postconditions: Vec<String>,
    /// At most this many steps run at once in one run, all hosts together
    /// (the controller's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    /// Hosts allowed to fail before nothing new starts anywhere (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<u32>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The digest, computed once (not part of the definition).
    #[serde(skip)]
    digest: DigestCache,
}

/// A lazily computed digest that takes no part in equality.
#[derive(Debug, Clone, Default)]
struct DigestCache(std::sync::OnceLock<Digest>);

impl PartialEq for DigestCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why a runbook file was refused: every problem found, each located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RunbookError(pub Vec<SourceError>);

impl Runbook {
    /// Digest of the runbook's definition (its canonical JSON), computed
    /// once per parsed runbook.
    pub fn digest(&self) -> Digest {
        self.digest
            .0
            .get_or_init(|| {
                Digest::of_json(self).unwrap_or_else(|e| Digest::of(e.to_string().as_bytes()))
            })
            .clone()
    }
}

/// The syntaxes a runbook file may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `runbooks/<id>.toml`
    Toml,
    /// `runbooks/<id>.yaml` or `.yml`
    Yaml,
    /// `runbooks/<id>.json` (for example `nickel export` output)
    Json,
}

impl Format {
    /// The format a path's extension names.
    pub fn of_path(path: &str) -> Option<Format> {
        match std::path::Path::new(path).extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Guesses the format of text whose file name is not known (an adopted
    /// runbook): JSON starts with `{`; text that parses as a TOML table is
    /// TOML; anything else is YAML.
    pub fn sniff(text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            Format::Json
        } else if toml::from_str::<toml::Table>(text).is_ok() {
            Format::Toml
        } else {
            Format::Yaml
        }
    }
}

fn deserialize(path: &str, text: &str, format: Format) -> Result<Runbook, SourceError> {
    check_size(path, text, MAX_RUNBOOK_BYTES)?;
    let located = |line: usize, col: usize, message: String| SourceError {
        path: path.to_string(),
        line: line.max(1),
        col: col.max(1),
        message,
    };
    match format {
        Format::Toml => from_toml(path, text, MAX_RUNBOOK_BYTES),
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m)
                .to_string();
            located(e.line(), e.column(), msg)
        }),
        Format::Yaml => serde_saphyr::from_str(text).map_err(|e| {
            let (line, col) = e.location().map_or((1, 1), |l| {
                (
                    usize::try_from(l.line()).unwrap_or(1),
                    usize::try_from(l.column()).unwrap_or(1),
                )
            });
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
            located(line, col, first)
        }),
    }
}

/// Parses and validates a runbook file, in the format its extension names
/// (TOML, YAML or JSON; guessed when `path` has none). `path` is used in
/// messages.
pub fn parse_runbook(path: &str, text: &str) -> Result<Runbook, RunbookError> {
    let format = Format::of_path(path).unwrap_or_else(|| Format::sniff(text));
    let rb = deserialize(path, text, format).map_err(|e| RunbookError(vec![e]))?;
    let mut errors = Vec::new();
    // Point at the first place a quoted id appears (TOML, JSON), or where a
    // YAML value `: id` does.
    let at = |needle: &str, msg: String| {
        let offset = text.find(needle).unwrap_or_else(|| {
            let bare = needle.trim_matches('"');
            text.find(&format!(": {bare}"))
                .map(|o| o + 2)
                .unwrap_or_else(|| find_offset(text, bare))
        });
        SourceError::at(path, text, offset, msg)
    };
    if rb.steps.is_empty() {
        errors.push(SourceError::whole(
            path,
            "a runbook needs at least one [[steps]] table",
        ));
    }
    if let Some(v) = &rb.verb
        && (!bosun_model::VERBS.contains(&v.as_str()) || v.as_str() == "*")
    {
        errors.push(at(
            "verb",
            format!(
                "verb `{v}` is not one blockers know ({}): a misspelt verb would slip past every blocker",
                bosun_model::VERBS[1..].join(", ")
            ),
        ));
    }
    if rb.steps.len() > MAX_STEPS {
        errors.push(SourceError::whole(
            path,
            format!("{} steps, over the limit of {MAX_STEPS}", rb.steps.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    for s in &rb.steps {
        if !seen.insert(s.id.as_str()) {
            errors.push(at(
                &format!("\"{}\"", s.id),
                format!("duplicate step id `{}`; step ids must be unique", s.id),
            ));
        }
    }
    for (name, p) in &rb.params {
        if Name::parse(name).is_err() || name.contains('.') || name.contains('-') {
            errors.push(at(
                name,
                format!("parameter name `{name}` must be letters, digits and `_`"),
            ));
        }
        if p.ty == ParamType::Enum && p.values.is_empty() {
            errors.push(at(name, format!("enum parameter `{name}` needs `values`")));
        }
        if p.ty != ParamType::String && (p.pattern.is_some() || p.max_len.is_some()) {
            errors.push(at(
                name,
                format!(
                    "parameter `{name}`: `pattern` and `max_len` apply to `string` parameters only"
                ),
            ));
        }
        if !matches!(p.ty, ParamType::String | ParamType::Enum) && !p.values.is_empty() {
            errors.push(at(
                name,
                format!("parameter `{name}`: `enum` values apply to `string` parameters only"),
            ));
        }
        if let Some(Err(e)) = p.pattern() {
            let first = e.lines().last().unwrap_or(e).trim();
            errors.push(at(
                name,
                format!("parameter `{name}`: `pattern` is not a valid regular expression: {first}"),
            ));
        }
        if let Some(d) = &p.default
            && let Err(e) = check_value(name, p, &value_to_string(d))
        {
            errors.push(at(name, format!("default of {e}")));
        }
    }
    if rb.parallel == Some(0) {
        errors.push(at(
            "parallel",
            "`parallel` must be at least 1 (it is how many steps may run at once)".into(),
        ));
    }
    check_steps(&rb, &mut errors, &at);
    if errors.is_empty() {
        Ok(rb)
    } else {
        Err(RunbookError(errors))
    }
}

/// Variables a template may use besides `params.<declared>`.
pub const HOST_VARS: [&str; 4] = ["host.name", "host.address", "host.arch", "host.tags"];

/// Step-level checks: dependencies, cycles, actors and commands, durations,
/// error strategies and template variables.
fn check_bar(
    rb: &Runbook,
    s: &Step,
    b: &StepBar,
    here: &str,
    errors: &mut Vec<SourceError>,
    at: &dyn Fn(&str, String) -> SourceError,
) {
    let id = &s.id;
    if !BAR_KINDS.contains(&b.kind.as_str()) {
        errors.push(at(
            here,
            format!(
                "step `{id}`: bar kind `{}` is not one of {}",
                b.kind,
                BAR_KINDS.join(", ")
            ),
        ));
    }
    let needs_expect = matches!(b.kind.as_str(), "version" | "file");
    if needs_expect != b.expect.is_some() {
        errors.push(at(
            here,
            format!(
                "step `{id}`: a `{}` bar {} `expect`",
                b.kind,
                if needs_expect { "needs" } else { "takes no" }
            ),
        ));
    }
    match (&b.hold, b.kind.as_str()) {
        (Some(h), "burn_in") => {
            if let Err(e) = parse_duration(h) {
                errors.push(at(here, format!("step `{id}`: bar hold `{h}`: {e}")));
            }
        }
        (None, "burn_in") => {
            errors.push(at(here, format!("step `{id}`: a burn_in bar needs `hold`")))
        }
        (Some(_), _) => errors.push(at(
            here,
            format!("step `{id}`: only a burn_in bar takes `hold`"),
        )),
        (None, _) => {}
    }
    if s.target == StepTarget::Controller || s.actor != Actor::Agent || s.check.is_some() {
        errors.push(at(
            here,
            format!("step `{id}`: a bar runs on each target, by bosun, with no `check`"),
        ));
    }
    if let Some(e) = &b.expect {
        for msg in template_problems(rb, e) {
            errors.push(at(here, format!("step `{id}` bar expect: {msg}")));
        }
    }
}

fn check_steps(
    rb: &Runbook,
    errors: &mut Vec<SourceError>,
    at: &dyn Fn(&str, String) -> SourceError,
) {
    let ids: BTreeSet<&str> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    let quoted = |id: &str| format!("\"{id}\"");
    for s in &rb.steps {
        let here = quoted(s.id.as_str());
        for d in &s.depends_on {
            if !ids.contains(d.step.as_str()) {
                errors.push(at(
                    &quoted(d.step.as_str()),
                    format!(
                        "step `{}` depends on `{}`, which is not a step of this runbook",
                        s.id, d.step
                    ),
                ));
            } else if d.step == s.id {
                errors.push(at(&here, format!("step `{}` depends on itself", s.id)));
            }
        }
        match (s.actor, &s.cmd) {
            (Actor::Human, Some(_)) => errors.push(at(
                &here,
                format!("step `{}` is a human step with a command: a human reports it with a signed step report; remove `cmd` or make the actor `agent` or `both`", s.id),
            )),
            (Actor::Agent, None) => errors.push(at(&here, format!("step `{}` is an agent step and needs a `cmd`", s.id))),
            _ => {}
        }
        if let Some(t) = &s.timeout
            && let Err(e) = parse_duration(t)
        {
            errors.push(at(&here, format!("step `{}`: timeout `{t}`: {e}", s.id)));
        }
        if let Some(b) = &s.on_error.backoff
            && let Err(e) = parse_duration(b)
        {
            errors.push(at(&here, format!("step `{}`: backoff `{b}`: {e}", s.id)));
        }
        if let Some(b) = &s.bar {
            check_bar(rb, s, b, &here, errors, at);
        }
        if s.max_parallel == Some(0) {
            errors.push(at(
                &here,
                format!("step `{}`: `max_parallel` must be at least 1", s.id),
            ));
        }
        if s.on_error.strategy == Strategy::Retry && s.on_error.max.unwrap_or(0) == 0 {
            errors.push(at(
                &here,
                format!(
                    "step `{}`: strategy `retry` needs `max` (how many retries, at least 1)",
                    s.id
                ),
            ));
        }
        for (what, tpl) in [("cmd", &s.cmd), ("check", &s.check)] {
            if let Some(t) = tpl {
                for msg in template_problems(rb, t) {
                    errors.push(at(&here, format!("step `{}` {what}: {msg}", s.id)));
                }
                for (off, body) in crate::template::arithmetic_interpolations(t) {
                    let name = body.trim().strip_prefix("params.").unwrap_or_default();
                    let is_int = rb.params.get(name).is_some_and(|p| p.ty == ParamType::Int);
                    if !is_int {
                        let tag: String = t[off..].chars().take_while(|&c| c != '}').collect();
                        errors.push(at(
                            &here,
                            format!(
                                "step `{}` {what}: `{tag}}}}}` sits inside shell arithmetic, where bash evaluates even a quoted string (`a[$(cmd)]` runs cmd): only an `int` param may go there",
                                s.id
                            ),
                        ));
                    }
                }
                for off in crate::template::quoted_interpolations(t) {
                    let tag: String = t[off..].chars().take_while(|&c| c != '}').collect();
                    errors.push(at(
                        &here,
                        format!(
                            "step `{}` {what}: `{tag}}}}}` sits inside shell quotes or an unquoted here-document, where a quoted value is not one word: remove the quotes around it (every interpolation is already quoted as one shell word), quote the here-document's delimiter (<<'EOF'), or write `| raw` and have a human approve every run",
                            s.id
                        ),
                    ));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(rb) {
        errors.push(at(
            &quoted(&cycle[0]),
            format!(
                "steps depend on each other in a cycle: {}",
                cycle.join(" → ")
            ),
        ));
    }
}

/// Syntax errors and variables other than `params.<declared>` and `host.*`.
fn template_problems(rb: &Runbook, tpl: &str) -> Vec<String> {
    let env = crate::template::template_env(crate::template::Mode::Shell);
    let t = match env.template_from_str(tpl) {
        Ok(t) => t,
        Err(e) => return vec![format!("template error: {e}")],
    };
    let mut out = Vec::new();
    let mut vars: Vec<String> = t.undeclared_variables(true).into_iter().collect();
    vars.sort();
    for v in vars {
        let ok = match v.strip_prefix("params.") {
            Some(p) => rb.params.contains_key(p.split('.').next().unwrap_or(p)),
            None => HOST_VARS.contains(&v.as_str()),
        };
        if !ok {
            out.push(format!(
                "`{{{{ {v} }}}}` is not defined: templates see `params.<name>` for declared parameters and {}",
                HOST_VARS.join(", ")
            ));
        }
    }
    out
}

/// Step id → its position in the file.
fn step_index(rb: &Runbook) -> BTreeMap<&str, usize> {
    rb.steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect()
}

/// The first dependency cycle, as step ids with the first repeated at the end.
pub fn find_cycle(rb: &Runbook) -> Option<Vec<String>> {
    let idx = step_index(rb);
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; rb.steps.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        rb: &Runbook,
        idx: &BTreeMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        stack.push(i);
        for d in &rb.steps[i].depends_on {
            let Some(&j) = idx.get(d.step.as_str()) else {
                continue;
            };
            if j == i {
                continue; // reported as self-dependency
            }
            if state[j] == 1 {
                let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                let mut c: Vec<String> = stack[from..]
                    .iter()
                    .map(|&k| rb.steps[k].id.to_string())
                    .collect();
                c.push(rb.steps[j].id.to_string());
                return Some(c);
            }
            if state[j] == 0
                && let Some(c) = visit(j, rb, idx, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    for i in 0..rb.steps.len() {
        if state[i] == 0
            && let Some(c) = visit(i, rb, &idx, &mut state, &mut stack)
        {
            return Some(c);
        }
    }
    None
}

/// Step indices in an order where every step comes after the steps it
/// depends on; among ready steps, file order. `None` when there is a cycle.
pub fn topo_order(rb: &Runbook) -> Option<Vec<usize>> {
    let idx = step_index(rb);
    let mut indeg = vec![0usize; rb.steps.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); rb.steps.len()];
    for (i, s) in rb.steps.iter().enumerate() {
        for d in &s.depends_on {
            if let Some(&j) = idx.get(d.step.as_str()) {
                indeg[i] += 1;
                users[j].push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..rb.steps.len()).filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::with_capacity(rb.steps.len());
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.insert(u);
            }
        }
    }
    (out.len() == rb.steps.len()).then_some(out)
}

/// Where a runbook writes a value unquoted (`| raw`), as located warnings:
/// such a runbook never runs without a human. Empty for most runbooks.
pub fn raw_places(path: &str, text: &str, rb: &Runbook) -> Vec<SourceError> {
    let mut out = Vec::new();
    for s in &rb.steps {
        for (what, tpl) in [("cmd", &s.cmd), ("check", &s.check)] {
            let Some(t) = tpl else { continue };
            for _ in crate::template::raw_uses(t) {
                let step_at = text.find(&format!("\"{}\"", s.id)).unwrap_or(0);
                let off = text[step_at..].find("raw").map_or(step_at, |o| step_at + o);
                out.push(SourceError::at(
                    path,
                    text,
                    off,
                    format!(
                        "step `{}` {what} writes a value unquoted (`raw`): this runbook never runs without a human",
                        s.id
                    ),
                ));
            }
        }
    }
    out
}

impl Runbook {
    /// Whether any step writes a value unquoted (`| raw`): such a runbook
    /// never runs without a human, whatever the policy says.
    pub fn writes_raw(&self) -> bool {
        self.steps.iter().any(|s| {
            [&s.cmd, &s.check]
                .into_iter()
                .flatten()
                .any(|t| !crate::template::raw_uses(t).is_empty())
        })
    }
}

#[cfg(test)]
mod tests;
