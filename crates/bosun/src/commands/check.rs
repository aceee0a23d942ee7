//! `bosun plan --check`: a runbook's read-only checks, run as an op of the
//! signing identity through intake and the controller like any other op
//! (so policy, scope, infra rules, budgets and the ledger apply), of an
//! adopted runbook only. Nothing runs outside the pipeline.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bosun_control::controller::Controller;
use bosun_control::{Control, Result, client, now};
use bosun_model::{KeyId, OpState};
use serde_json::json;

use bosun_api::requests::PlanRequest;
use bosun_api::views::{OpView, SubmittedView};
use bosun_client::Remote;

use super::plan::PlanArgs;
use super::{Ctx, other, refused};

/// How long `plan --check` waits for a daemon's controller to run the op.
const WAIT: Duration = Duration::from_secs(120);

/// Signs the check op as `who`, submits it, runs it (or waits for the
/// daemon to) and prints what each check reported.
pub(crate) fn check_cmd(ctx: &Ctx, p: &PlanArgs, who: &str) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let plan = super::plan::plan_of(&gov, p)?;
    let plan = bosun_runbook::check_plan(plan).map_err(|e| other(e.to_string()))?;
    let who = KeyId::parse(who).map_err(|e| other(format!("--as `{who}`: {e}")))?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let t = now();
    let (_, env) = ctl.sign_op(&key, &who, &plan, ctl.next_seq(&who)?, t)?;
    let accepted = match ctl
        .intake(&gov, std::slice::from_ref(&env), t)?
        .into_iter()
        .next()
    {
        Some(Ok(a)) => a,
        Some(Err(rej)) => return Ok(refused(&rej, p.json)),
        None => return Err(other("intake returned nothing")),
    };
    let jti = accepted.jti.clone();
    if accepted.state == OpState::Approved {
        run_or_wait(ctx, &ctl, &jti)?;
    }
    let Some(rec) = ctl.op_record(&jti)? else {
        return Err(other(format!("check op {jti} is not in the store")));
    };
    let v = bosun_control::views::op_view(&rec);
    print_checks(&v, &plan, p.json);
    Ok(status(rec.summary.state))
}

/// `plan --check` as a client of the daemon: the daemon plans the checks
/// (the plan whole, its digest recomputed here), the op is signed here and
/// submitted, and the daemon's controller runs it while this waits (up to
/// [`WAIT`]).
pub(crate) fn remote(ctx: &Ctx, r: &Remote, p: &PlanArgs, who: &str) -> Result<ExitCode> {
    let runbook = p
        .runbook
        .clone()
        .ok_or_else(|| other("name a runbook: `bosun plan <runbook> --target <host> --check`"))?;
    let who = KeyId::parse(who).map_err(|e| other(format!("--as `{who}`: {e}")))?;
    let req = PlanRequest {
        runbook,
        targets: p.targets.clone(),
        params: super::params::parse_params(&p.params)?,
        issuer: None,
        check: true,
        whole: true,
    };
    let (planned, env) = super::submit::sign_planned(ctx, r, &who, req)?;
    let plan = bosun_client::whole_plan(&planned)?;
    let sub: SubmittedView = match r.post("/ops", &json!({ "envelope": env }))? {
        Ok(v) => v,
        Err(e) => return Ok(super::refused_remote(&e, p.json)),
    };
    let path = format!("/ops/{}", sub.jti);
    let end = Instant::now() + WAIT;
    let halted = |r: &Remote| -> Result<bool> {
        let st: bosun_api::views::StatusView = r.get("/status")?.map_err(|e| other(e.message))?;
        Ok(st.halt.is_some())
    };
    let v = loop {
        let v: OpView = r.get(&path)?.map_err(|e| other(e.message))?;
        let waiting = matches!(v.brief.state, OpState::Approved | OpState::Running);
        // Nothing starts while the fleet is halted: say it is queued.
        if !waiting
            || sub.state != OpState::Approved
            || Instant::now() >= end
            || (v.brief.state == OpState::Approved && halted(r)?)
        {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    print_checks(&v, &plan, p.json);
    Ok(status(v.brief.state))
}

/// What `plan --check` prints of its op `v` with the checks `plan`.
fn print_checks(v: &OpView, plan: &bosun_model::Plan, j: bool) {
    let jti = &v.brief.jti;
    let state = v.brief.state;
    if j {
        let checks: Vec<_> = v
            .steps
            .iter()
            .map(|s| json!({"step": s.step, "host": s.host, "status": s.status, "exit_code": s.exit_code, "output": s.output}))
            .collect();
        outln!(
            "{}",
            json!({"jti": jti, "state": state, "digest": plan.digest(), "plan": plan, "checks": checks})
        );
        return;
    }
    outln!("check op {jti} ({state}): only `check` commands of the adopted runbook run");
    match state {
        OpState::PendingApproval => outln!(
            "it needs an approval first: bosun approve {jti} --as <operator>, then `bosun work`"
        ),
        OpState::Approved => outln!(
            "queued: the controller runs it (held or waiting: {})",
            v.detail
        ),
        _ => {}
    }
    for s in &v.steps {
        outln!(
            "  [{}] {}: {} (exit {})",
            s.host,
            s.step,
            s.status,
            s.exit_code.map_or("-".to_string(), |c| c.to_string())
        );
        for line in s.output.lines() {
            outln!("      {line}");
        }
    }
}

/// 4 when the check op ended failed or needing attention (a host could
/// not be reached, a check failed), 0 otherwise.
fn status(state: OpState) -> ExitCode {
    if matches!(state, OpState::Failed | OpState::NeedsAttention) {
        ExitCode::from(super::OP_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs the controller until the queue is empty when no other controller
/// holds the lease; otherwise waits (up to [`WAIT`]) for it to end the op.
fn run_or_wait(ctx: &Ctx, ctl: &Control, jti: &bosun_model::Jti) -> Result<()> {
    let mut c = Controller::new(ctx.control()?);
    if c.acquire()?.is_ok() {
        c.work_until_idle(&mut print_progress_quiet)?;
        c.release()?;
        return Ok(());
    }
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        match ctl.op_record(jti)? {
            Some(r) if r.summary.state.is_terminal() => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    Ok(())
}

/// Controller progress is not this command's output.
fn print_progress_quiet(p: bosun_control::controller::Progress) {
    if let bosun_control::controller::Progress::Warning(w) = &p {
        errln!("warning: {w}");
    }
}
