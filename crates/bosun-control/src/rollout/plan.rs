//! The plan of a rollout op: the rollout's runbook (or its rollback
//! runbook) on the wave's hosts, with the wave's limits and, after each
//! host's steps, the wave's bars as plan entries.

use std::collections::BTreeSet;

use bosun_fleet::bars::Bar;
use bosun_fleet::rollout::Rollout;
use bosun_model::source::parse_duration;
use bosun_model::{
    BarCheck, DepKind, Dependency, Host, Name, OnError, Plan, PlanStep, RolloutAction, RolloutRef,
};

use crate::governed::Governed;
use crate::{ControlError, Result};

fn step_name(s: &str) -> Result<Name> {
    Name::parse(s).map_err(|e| ControlError::Other(format!("bar step name: {e}")))
}

fn secs(d: Option<&str>) -> Option<u64> {
    d.and_then(|d| parse_duration(d).ok())
        .and_then(|v| u64::try_from(v).ok())
}

/// The plan of a rollout op: for `apply`, the rollout's runbook on the
/// hosts with the wave's limits and, after each host's steps, the wave's
/// bars; for `rollback` and `drill`, the rollback runbook.
pub fn plan_for(gov: &Governed, def: &Rollout, r: &RolloutRef, hosts: &[Host]) -> Result<Plan> {
    let wave = usize::try_from(r.wave)
        .ok()
        .and_then(|w| def.wave(w))
        .ok_or_else(|| {
            ControlError::Other(format!("rollout `{}` has no wave {}", def.id, r.wave))
        })?;
    let (runbook, params) = match r.action {
        RolloutAction::Apply => (def.runbook.as_str(), &def.params),
        RolloutAction::Rollback | RolloutAction::Drill => (
            def.rollback.as_deref().ok_or_else(|| {
                ControlError::Other(format!("rollout `{}` names no rollback runbook", def.id))
            })?,
            def.rollback_params(),
        ),
    };
    let Some(rb) = gov.runbooks.get(runbook) else {
        return Err(ControlError::Other(format!(
            "rollout `{}` names runbook `{runbook}`, which is not in runbooks/",
            def.id
        )));
    };
    let mut plan = bosun_runbook::plan(&rb.runbook, hosts, params)?;
    if r.action != RolloutAction::Apply {
        return Ok(plan);
    }
    if wave.max_parallel.is_some() {
        plan.parallel = wave.max_parallel;
    }
    if wave.max_fail.is_some() {
        plan.max_fail = wave.max_fail;
    }
    let each_host: Vec<Name> = {
        let mut seen = BTreeSet::new();
        plan.steps
            .iter()
            .filter(|s| !s.controller && seen.insert(s.step.clone()))
            .map(|s| s.step.clone())
            .collect()
    };
    for h in hosts {
        let mut prev: Vec<Dependency> = each_host
            .iter()
            .map(|s| Dependency {
                step: s.clone(),
                kind: DepKind::Always,
            })
            .collect();
        for (i, bar) in wave.bars.iter().enumerate() {
            let render_as = |t: &str, mode| {
                bosun_runbook::render_for_host(t, h, &plan.params, mode).map_err(|e| {
                    ControlError::Other(format!(
                        "rollout `{}` wave `{}` bar {} on `{}`: {e}",
                        def.id,
                        wave.name,
                        i + 1,
                        h.name
                    ))
                })
            };
            // Commands are shell (every interpolation one word); expected
            // values and paths are text, compared or quoted here.
            let render = |t: &str| render_as(t, bosun_runbook::Mode::Shell);
            let text = |t: &str| render_as(t, bosun_runbook::Mode::Text);
            let (cmd, expect, timeout, hold) = match bar {
                Bar::Heartbeat { within } => ("true".to_string(), None, within.as_deref(), None),
                Bar::Version {
                    cmd,
                    expect,
                    timeout,
                } => (render(cmd)?, Some(text(expect)?), timeout.as_deref(), None),
                Bar::File {
                    path,
                    expect,
                    timeout,
                } => (
                    format!("cat -- {}", bosun_runbook::shell_quote(&text(path)?)),
                    Some(text(expect)?),
                    timeout.as_deref(),
                    None,
                ),
                Bar::Probe { cmd, timeout } => (render(cmd)?, None, timeout.as_deref(), None),
                Bar::BurnIn { hold, cmd, timeout } => (
                    render(cmd.as_deref().unwrap_or("true"))?,
                    None,
                    timeout.as_deref(),
                    secs(Some(hold)),
                ),
            };
            let name = step_name(&format!("bar-{}-{}", i + 1, bar.kind().replace('_', "-")))?;
            plan.steps.push(PlanStep {
                step: name.clone(),
                host: h.name.clone(),
                cmd,
                idempotent: true,
                depends_on: std::mem::take(&mut prev),
                on_error: OnError::default(),
                timeout_secs: Some(
                    secs(timeout).unwrap_or(bosun_fleet::bars::DEFAULT_TIMEOUT_SECS),
                ),
                actor: bosun_model::Actor::Agent,
                controller: false,
                max_parallel: None,
                check: None,
                bar: Some(BarCheck {
                    kind: bar.kind().to_string(),
                    expect,
                    hold_secs: hold,
                }),
            });
            prev = vec![Dependency {
                step: name,
                kind: DepKind::OnSuccess,
            }];
        }
    }
    // Host by host: a host's steps, then its bars, before the next host
    // (the scheduler starts the lowest ready entry), so a wave's
    // `max_parallel` hosts are checked before more are changed. A runbook
    // with controller steps keeps its step-major order (they are barriers
    // across hosts).
    if !plan.steps.iter().any(|s| s.controller) {
        let rank: std::collections::HashMap<&Name, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (&h.name, i))
            .collect();
        let mut steps = std::mem::take(&mut plan.steps);
        steps.sort_by_key(|s| rank.get(&s.host).copied().unwrap_or(usize::MAX));
        plan.steps = steps;
    }
    Ok(plan)
}

/// The hosts wave `wave` of `def` selects in the inventory in force.
pub(super) fn wave_hosts(gov: &Governed, def: &Rollout, wave: u32) -> Result<Vec<Host>> {
    let w = usize::try_from(wave)
        .ok()
        .and_then(|i| def.wave(i))
        .ok_or_else(|| ControlError::Other(format!("no wave {wave}")))?;
    gov.inventory
        .select(&w.selectors())
        .map_err(|e| ControlError::Other(format!("rollout `{}` wave `{}`: {e}", def.id, w.name)))
}

/// The named hosts still in the inventory, and the names that are not.
pub(super) fn resolve(gov: &Governed, names: &[String]) -> (Vec<Host>, Vec<String>) {
    let mut hosts = Vec::new();
    let mut gone = Vec::new();
    for n in names {
        match Name::parse(n).ok().and_then(|n| gov.inventory.get(&n)) {
            Some(h) => hosts.push(h.clone()),
            None => gone.push(n.clone()),
        }
    }
    (hosts, gone)
}
