//! Planning: a runbook, parameters and resolved hosts become a
//! [`Plan`] with every command rendered. Templates use Jinja syntax
//! (minijinja) with strict undefined variables; they see only `params` and
//! `host` — no files, no environment — and every interpolation is quoted
//! for the shell (see [`crate::template`]).

use std::collections::BTreeMap;

use bosun_model::source::parse_duration;
use bosun_model::{BarCheck, CONTROLLER_HOST, Host, Name, OnError, Plan, PlanStep};
use minijinja::Value;

use crate::def::{ParamType, Runbook, StepTarget, check_value, topo_order, value_to_string};
use crate::template::{Mode, template_env};

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A parameter the runbook does not declare.
    #[error("runbook `{runbook}` has no parameter `{name}`; it declares: {declared}")]
    UnknownParam {
        /// Runbook id.
        runbook: String,
        /// The unknown name.
        name: String,
        /// What it does declare.
        declared: String,
    },
    /// A required parameter is missing.
    #[error("runbook `{runbook}` needs `--param {name}=…`")]
    MissingParam {
        /// Runbook id.
        runbook: String,
        /// The missing name.
        name: String,
    },
    /// A parameter value of the wrong type.
    #[error("{0}")]
    BadValue(String),
    /// No targets.
    #[error("no target hosts: give at least one `--target <host>`")]
    NoTargets,
    /// The runbook uses something the executor cannot run yet.
    #[error("{0}")]
    Unsupported(String),
    /// A step's template failed to render.
    #[error("step `{step}` on host `{host}`: {message}")]
    Template {
        /// Step id.
        step: String,
        /// Host name.
        host: String,
        /// What went wrong.
        message: String,
    },
}

/// Renders one template for one host, as step commands are rendered
/// (`{{ host.name }}`, `{{ params.x }}`, strict about undefined values;
/// params as the strings they are stored as). Used for rollout bars: their
/// commands in [`Mode::Shell`], their expected values in [`Mode::Text`].
pub fn render_for_host(
    tpl: &str,
    host: &Host,
    params: &BTreeMap<String, String>,
    mode: Mode,
) -> Result<String, String> {
    let env = template_env(mode);
    let tags: Vec<String> = host.tags.iter().cloned().collect();
    let ctx = minijinja::context! {
        params => params,
        host => minijinja::context! {
            name => host.name.as_str(),
            address => &host.address,
            arch => &host.arch,
            tags => tags,
        },
    };
    env.render_str(tpl, ctx).map_err(|e| e.to_string())
}

/// A step's template, compiled (its errors name the step).
fn compile<'e, 's>(
    env: &'e minijinja::Environment<'static>,
    tpl: &'s str,
    step: &Name,
) -> Result<minijinja::Template<'e, 's>, PlanError> {
    env.template_from_str(tpl).map_err(|e| PlanError::Template {
        step: step.to_string(),
        host: "(any)".into(),
        message: e.to_string(),
    })
}

/// The params as templates see them: `int` params as numbers, `bool`
/// params as booleans (so they render bare), the rest as strings.
fn typed_params(rb: &Runbook, full: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    full.iter()
        .map(|(k, v)| {
            let typed = match rb.params.get(k).map(|p| &p.ty) {
                Some(ParamType::Int) => v
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(v.as_str()), Value::from),
                Some(ParamType::Bool) => Value::from(v == "true"),
                _ => Value::from(v.as_str()),
            };
            (k.clone(), typed)
        })
        .collect()
}

/// Plans `rb` over `hosts` with `params` (strings, as given on the command
/// line; defaults are filled in and types checked).
pub fn plan(
    rb: &Runbook,
    hosts: &[Host],
    params: &BTreeMap<String, String>,
) -> Result<Plan, PlanError> {
    if hosts.is_empty() {
        return Err(PlanError::NoTargets);
    }
    for name in params.keys() {
        if !rb.params.contains_key(name) {
            return Err(PlanError::UnknownParam {
                runbook: rb.id.to_string(),
                name: name.clone(),
                declared: if rb.params.is_empty() {
                    "(none)".into()
                } else {
                    rb.params.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            });
        }
    }
    let mut full = BTreeMap::new();
    for (name, p) in &rb.params {
        let v = match (params.get(name), &p.default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => value_to_string(d),
            (None, None) => {
                return Err(PlanError::MissingParam {
                    runbook: rb.id.to_string(),
                    name: name.clone(),
                });
            }
        };
        check_value(name, p, &v).map_err(PlanError::BadValue)?;
        full.insert(name.clone(), v);
    }
    let Some(order) = topo_order(rb) else {
        return Err(PlanError::Unsupported(format!(
            "runbook `{}` has a dependency cycle",
            rb.id
        )));
    };
    let has_controller_steps = rb.steps.iter().any(|s| s.target == StepTarget::Controller);
    if has_controller_steps && hosts.iter().any(|h| h.name.as_str() == CONTROLLER_HOST) {
        return Err(PlanError::Unsupported(format!(
            "runbook `{}` has steps with target = \"controller\", and a target host is also named `{CONTROLLER_HOST}`: rename that host",
            rb.id
        )));
    }
    let env = template_env(Mode::Shell);
    let text_env = template_env(Mode::Text);
    let typed = typed_params(rb, &full);
    let ctx_of = |name: &str, address: &str, arch: &str, tags: Vec<String>| {
        minijinja::context! {
            params => &typed,
            host => minijinja::context! {
                name => name,
                address => address,
                arch => arch,
                tags => tags,
            },
        }
    };
    let controller_ctx = ctx_of(
        CONTROLLER_HOST,
        "localhost",
        std::env::consts::ARCH,
        Vec::new(),
    );
    let host_ctx: Vec<minijinja::Value> = hosts
        .iter()
        .map(|h| {
            ctx_of(
                h.name.as_str(),
                &h.address,
                &h.arch,
                h.tags.iter().cloned().collect(),
            )
        })
        .collect();
    // Durations were validated at parse time.
    let secs = |d: &Option<String>| {
        d.as_deref()
            .and_then(|t| parse_duration(t).ok())
            .and_then(|v| u64::try_from(v).ok())
    };
    let controller_name = Name::parse(CONTROLLER_HOST)
        .map_err(|e| PlanError::Unsupported(format!("controller host name: {e}")))?;
    // Step-major: each step on every host, then the next step.
    let mut steps = Vec::with_capacity(rb.steps.len() * hosts.len());
    for &i in &order {
        let step = &rb.steps[i];
        let on_controller = step.target == StepTarget::Controller;
        let places: Vec<(&Name, &minijinja::Value)> = if on_controller {
            vec![(&controller_name, &controller_ctx)]
        } else {
            hosts.iter().map(|h| &h.name).zip(host_ctx.iter()).collect()
        };
        // Each template is compiled once and rendered for every host.
        let cmd_tpl = compile(&env, step.cmd.as_deref().unwrap_or_default(), &step.id)?;
        let check_tpl = match step.check.as_deref() {
            Some(t) => Some(compile(&env, t, &step.id)?),
            None => None,
        };
        // A bar's expected value is text, compared, never run.
        let expect_tpl = match step.bar.as_ref().and_then(|b| b.expect.as_deref()) {
            Some(t) => Some(compile(&text_env, t, &step.id)?),
            None => None,
        };
        for (host, ctx) in places {
            let render = |t: &minijinja::Template<'_, '_>| {
                t.render(ctx).map_err(|e| PlanError::Template {
                    step: step.id.to_string(),
                    host: host.to_string(),
                    message: e.to_string(),
                })
            };
            let cmd = render(&cmd_tpl)?;
            let check = check_tpl.as_ref().map(render).transpose()?;
            let bar = match (&step.bar, &expect_tpl) {
                (Some(b), tpl) => Some(BarCheck {
                    kind: b.kind.clone(),
                    expect: tpl.as_ref().map(render).transpose()?,
                    hold_secs: secs(&b.hold),
                }),
                (None, _) => None,
            };
            steps.push(PlanStep {
                step: step.id.clone(),
                host: host.clone(),
                cmd,
                // A bar only looks: it is always safe to run again.
                idempotent: step.idempotent || step.bar.is_some(),
                depends_on: step.depends_on.clone(),
                on_error: OnError {
                    strategy: step.on_error.strategy,
                    max: step.on_error.max.unwrap_or(0),
                    backoff_secs: secs(&step.on_error.backoff).unwrap_or(0),
                },
                timeout_secs: secs(&step.timeout),
                actor: step.actor,
                controller: on_controller,
                max_parallel: step.max_parallel,
                check,
                bar,
            });
        }
    }
    Ok(Plan {
        runbook: rb.id.clone(),
        runbook_digest: rb.digest(),
        read_only: rb.read_only,
        destructive: rb.destructive,
        verb: rb.verb.as_ref().map(|v| v.to_string()),
        targets: hosts.iter().map(|h| h.name.clone()).collect::<Vec<Name>>(),
        hosts: hosts
            .iter()
            .map(|h| (h.name.clone(), h.binding()))
            .collect(),
        params: full,
        steps,
        parallel: rb.parallel,
        max_fail: rb.max_fail,
        check: false,
    })
}

/// The check plan of `plan` (`bosun plan --check`): each entry with a
/// `check` command runs that command instead of its own, as an idempotent
/// step that lets the others run whatever it reports; entries without one
/// (and human steps) are left out. The plan is read-only: the runbook's
/// author promised that its checks only read, and only an adopted
/// runbook's checks are run (intake says so). Refused when no step has a
/// check.
pub fn check_plan(mut plan: Plan) -> Result<Plan, PlanError> {
    plan.steps
        .retain(|s| s.check.is_some() && !s.needs_report());
    if plan.steps.is_empty() {
        return Err(PlanError::Unsupported(format!(
            "runbook `{}` has no `check` commands: nothing to check",
            plan.runbook
        )));
    }
    for s in &mut plan.steps {
        s.cmd = s.check.take().unwrap_or_default();
        s.idempotent = true;
        s.depends_on.clear();
        s.on_error = OnError {
            strategy: bosun_model::Strategy::Continue,
            max: 0,
            backoff_secs: 0,
        };
        s.bar = None;
    }
    plan.read_only = true;
    plan.destructive = false;
    plan.verb = None;
    plan.max_fail = None;
    plan.check = true;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::parse_runbook;

    fn host(n: &str) -> Host {
        Host {
            name: Name::parse(n).unwrap(),
            address: "127.0.0.1".into(),
            transport: Default::default(),
            port: None,
            user: None,
            arch: "x86_64".into(),
            tags: Default::default(),
            infra: false,
            root: None,
            ssh_config: None,
            ssh_options: Vec::new(),
            runbooks: Vec::new(),
            builds: Vec::new(),
            wake: None,
        }
    }

    const RB: &str = r#"
id = "pkg"
[params.version]
type = "string"
required = true
[[steps]]
id = "install"
cmd = "install pkg={{ params.version }} on {{ host.name }} ({{ host.arch }})"
"#;

    #[test]
    fn renders_over_hosts() {
        let rb = parse_runbook("r.toml", RB).unwrap();
        let p = plan(
            &rb,
            &[host("a"), host("b")],
            &BTreeMap::from([("version".into(), "1.2".into())]),
        )
        .unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[1].cmd, "install pkg=1.2 on b (x86_64)");
    }

    #[test]
    fn refuses_missing_unknown_and_undefined() {
        let rb = parse_runbook("r.toml", RB).unwrap();
        assert!(matches!(
            plan(&rb, &[host("a")], &BTreeMap::new()),
            Err(PlanError::MissingParam { .. })
        ));
        assert!(matches!(
            plan(
                &rb,
                &[host("a")],
                &BTreeMap::from([("nope".into(), "1".into())])
            ),
            Err(PlanError::UnknownParam { .. })
        ));
        // A template reading anything but params and host is refused when
        // the runbook is loaded, with its place.
        let bad = parse_runbook(
            "r.toml",
            "id=\"x\"\n[[steps]]\nid=\"s\"\ncmd=\"{{ env.HOME }}\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.starts_with("r.toml:3:") && bad.contains("`{{ env.HOME }}` is not defined"),
            "{bad}"
        );
    }

    #[test]
    fn params_are_data_not_code() {
        let rb = parse_runbook(
            "r.toml",
            "id=\"q\"\n[params.m]\ntype=\"string\"\n[params.n]\ntype=\"int\"\n[[steps]]\nid=\"s\"\ncmd=\"echo {{ params.m }} {{ params.m | quote }} {{ params.n }}\"\n",
        )
        .unwrap();
        let p = plan(
            &rb,
            &[host("a")],
            &BTreeMap::from([
                ("m".into(), ".; touch pwned".into()),
                ("n".into(), "-3".into()),
            ]),
        )
        .unwrap();
        assert_eq!(p.steps[0].cmd, "echo '.; touch pwned' '.; touch pwned' -3");
    }

    #[test]
    fn digest_binds_params() {
        let rb = parse_runbook("r.toml", RB).unwrap();
        let a = plan(
            &rb,
            &[host("a")],
            &BTreeMap::from([("version".into(), "1".into())]),
        )
        .unwrap();
        let b = plan(
            &rb,
            &[host("a")],
            &BTreeMap::from([("version".into(), "2".into())]),
        )
        .unwrap();
        assert_ne!(a.digest(), b.digest());
    }
}
