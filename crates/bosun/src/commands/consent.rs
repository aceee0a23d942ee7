//! Consent you can read: the text a human sees before signing an approval
//! or a denial (`bosun approve`, `bosun deny`) or an adoption (`bosun
//! adopt --approve`), and the question that asks them. `bosun ops show`
//! prints the same rendering of an op, so what an approver read can be
//! read again later.
//!
//! An op is shown from its consent view ([`bosun_api::views::ConsentView`],
//! the same from the store here or from the daemon) and its plan: the runbook and
//! whether its definition is the adopted one, the plan digest the
//! signature binds to, the params, where each host runs (transport,
//! address, user, root, and a `wake` command, which runs on the control
//! host), every host's rendered commands (hosts whose commands are
//! identical are shown once, together), the decision with the rules and
//! reasons behind it, the approvals so far, and the blockers and budgets
//! that apply. A proposal is shown as a unified diff per subject.
//!
//! Nothing is signed without an answer: on a terminal the question
//! defaults to no; without a terminal, only `--yes` signs.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};

use bosun_api::views::ConsentView;
use bosun_api::views::ops::DecisionView;
use bosun_control::adopt::Change;
use bosun_control::{ControlError, Result};
use bosun_model::{CONTROLLER_HOST, HostBinding, Outcome, Plan, PlanStep, Transport};

use crate::output::{local, word};

/// The op and its plan, as an approver reads it: `c` as this CLI read it
/// (from its store, or from the daemon) and `plan`, the op's plan whole
/// (the daemon's, with its digest recomputed here).
pub fn render(c: &ConsentView, plan: &Plan) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_op(&mut s, c, plan);
    s
}

fn write_op(s: &mut String, c: &ConsentView, plan: &Plan) -> std::fmt::Result {
    let op = &c.op;
    writeln!(s, "op        {}  ({})", op.brief.jti, op.brief.state)?;
    writeln!(
        s,
        "issuer    {} ({}), seq {}, submitted {}",
        op.brief.iss,
        op.role,
        op.seq,
        local(op.brief.created_at.as_second())
    )?;
    writeln!(
        s,
        "runbook   {} — {}, verb `{}`",
        plan.runbook,
        crate::output::plan_kind(plan),
        plan.verb()
    )?;
    let standing = c.standing_words();
    writeln!(
        s,
        "          definition {}: {standing}",
        plan.runbook_digest
    )?;
    writeln!(
        s,
        "plan      {}  (an approval signs exactly this plan)",
        plan.digest()
    )?;
    write_params(s, plan)?;
    write_hosts(s, plan)?;
    write_commands(s, plan)?;
    write_decision(s, c)?;
    write_waits(s, c)?;
    Ok(())
}

/// The policy's outcome a decision's view states.
pub fn outcome_of(d: &DecisionView) -> Outcome {
    match d.outcome.as_str() {
        "auto" => Outcome::Auto,
        "deny" => Outcome::Deny {
            reason: d.denied_because.clone().unwrap_or_default(),
        },
        _ => Outcome::Approvals(bosun_model::Requirement {
            m: d.approvals_needed,
            roles: d.approver_roles.clone(),
        }),
    }
}

fn write_params(s: &mut String, plan: &Plan) -> std::fmt::Result {
    if plan.params.is_empty() {
        return writeln!(s, "params    (none)");
    }
    for (i, (k, v)) in plan.params.iter().enumerate() {
        let head = if i == 0 { "params" } else { "" };
        writeln!(s, "{head:<10}{k} = {v}")?;
    }
    Ok(())
}

/// Where and how one host runs its commands, in words.
fn binding_text(b: &HostBinding) -> String {
    let mut t = match b.transport {
        Transport::Local => "local (on the control host)".to_string(),
        Transport::Ssh => {
            let mut t = "ssh ".to_string();
            if let Some(u) = &b.user {
                t.push_str(u);
                t.push('@');
            }
            t.push_str(&b.address);
            if let Some(p) = b.port {
                t.push_str(&format!(":{p}"));
            }
            t
        }
    };
    if b.transport == Transport::Local
        && let Some(u) = &b.user
    {
        t.push_str(&format!(", user {u}"));
    }
    if let Some(r) = &b.root {
        t.push_str(&format!(", root {r}"));
    }
    if let Some(c) = &b.ssh_config {
        t.push_str(&format!(", ssh_config {c}"));
    }
    for o in &b.ssh_options {
        t.push_str(&format!(", -o {o}"));
    }
    t
}

fn write_hosts(s: &mut String, plan: &Plan) -> std::fmt::Result {
    let width = plan
        .targets
        .iter()
        .map(|t| t.as_str().len())
        .max()
        .unwrap_or(0)
        .min(64);
    for (i, t) in plan.targets.iter().enumerate() {
        let head = if i == 0 { "hosts" } else { "" };
        match plan.hosts.get(t) {
            Some(b) => {
                writeln!(s, "{head:<10}{:<width$}  {}", t.as_str(), binding_text(b))?;
                if let Some(w) = &b.wake {
                    writeln!(
                        s,
                        "{:<10}{:<width$}  wake: {w}  (runs on the control host first)",
                        "", ""
                    )?;
                }
            }
            None => writeln!(
                s,
                "{head:<10}{:<width$}  (the plan records no binding: planned before bindings were)",
                t.as_str()
            )?,
        }
    }
    Ok(())
}

/// A step as a line of the commands section.
fn step_text(st: &PlanStep) -> String {
    if st.needs_report() {
        format!(
            "(a {} step: the run waits for `bosun step report`)",
            word(&st.actor)
        )
    } else {
        st.cmd.clone()
    }
}

/// One step of a host, as shown.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    step: &'a str,
    text: String,
}

/// Hosts that run the same steps with the same commands.
#[derive(Debug)]
struct Group<'a> {
    hosts: Vec<&'a str>,
    lines: Vec<Line<'a>>,
}

impl Group<'_> {
    fn on_controller(&self) -> bool {
        self.hosts.first() == Some(&CONTROLLER_HOST)
    }
}

/// The hosts' steps grouped: hosts whose steps and commands are identical
/// share one group, in the order the hosts first appear in the plan; the
/// control host's once-only steps come last, on their own.
fn groups(plan: &Plan) -> Vec<Group<'_>> {
    let mut per_host: Vec<Group<'_>> = Vec::new();
    for st in &plan.steps {
        let host = st.host.as_str();
        let line = Line {
            step: st.step.as_str(),
            text: step_text(st),
        };
        match per_host.iter_mut().find(|g| g.hosts.first() == Some(&host)) {
            Some(g) => g.lines.push(line),
            None => per_host.push(Group {
                hosts: vec![host],
                lines: vec![line],
            }),
        }
    }
    // The controller's steps last, whatever the plan order (a stable sort).
    per_host.sort_by_key(Group::on_controller);
    let mut out: Vec<Group<'_>> = Vec::new();
    for g in per_host {
        let same = out
            .iter_mut()
            .find(|o| !o.on_controller() && !g.on_controller() && o.lines == g.lines);
        match same {
            Some(o) => o.hosts.extend(g.hosts),
            None => out.push(g),
        }
    }
    out
}

fn write_commands(s: &mut String, plan: &Plan) -> std::fmt::Result {
    let gs = groups(plan);
    if gs.is_empty() {
        return writeln!(s, "commands  (none)");
    }
    for (i, g) in gs.iter().enumerate() {
        let head = if i == 0 { "commands" } else { "" };
        let who = if g.on_controller() {
            "on the control host, once".to_string()
        } else {
            g.hosts.join(", ")
        };
        writeln!(
            s,
            "{head:<10}{who}: {} step(s){}",
            g.lines.len(),
            if g.hosts.len() > 1 {
                ", the same on each"
            } else {
                ""
            }
        )?;
        let width = g
            .lines
            .iter()
            .map(|l| l.step.len())
            .max()
            .unwrap_or(0)
            .min(64);
        for (n, l) in g.lines.iter().enumerate() {
            writeln!(
                s,
                "{:<10}  {:>2}. {:<width$}  {}",
                "",
                n + 1,
                l.step,
                l.text
            )?;
        }
    }
    Ok(())
}

/// The decision's verdict in words.
pub fn verdict_text(o: &Outcome) -> String {
    match o {
        Outcome::Auto => "runs without a human (auto)".to_string(),
        Outcome::Approvals(r) => format!(
            "needs {} approval(s) from: {}",
            r.m,
            r.roles
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Outcome::Deny { reason } => format!("denied: {reason}"),
    }
}

fn write_decision(s: &mut String, c: &ConsentView) -> std::fmt::Result {
    let d = &c.op.policy_decision;
    writeln!(s, "decision  {}", verdict_text(&outcome_of(d)))?;
    if d.rules.is_empty() {
        writeln!(s, "          rules: none matched")?;
    } else {
        writeln!(s, "          rules: {}", d.rules.join(", "))?;
    }
    for r in &d.reasons {
        writeln!(s, "          - {r}")?;
    }
    Ok(())
}

fn write_waits(s: &mut String, c: &ConsentView) -> std::fmt::Result {
    let op = &c.op;
    if let Outcome::Approvals(req) = outcome_of(&op.policy_decision) {
        let valid = &c.approvals_valid;
        writeln!(
            s,
            "approvals {} of {} so far{}",
            valid.len(),
            req.m,
            if valid.is_empty() {
                String::new()
            } else {
                format!(": {}", valid.join(", "))
            }
        )?;
        if let Some(by) = &c.denied_by {
            writeln!(s, "          denied by {by}")?;
        }
        for v in &c.approvals_void {
            writeln!(s, "          does not count: {} — {}", v.by, v.why)?;
        }
    }
    for a in &op.approvals {
        writeln!(
            s,
            "          {} by {} ({}) at {}{}",
            a.verdict,
            a.by,
            a.role,
            local(a.at.as_second()),
            a.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )?;
    }
    for (i, h) in c.holds.iter().enumerate() {
        let head = if i == 0 { "held by" } else { "" };
        writeln!(s, "{head:<10}{h}")?;
    }
    for b in &c.budgets {
        writeln!(
            s,
            "budget    {} ({}) changed {} of at most {} host(s) in the last {} (ops not denied, pending ones too)",
            op.brief.iss,
            op.role,
            b.used,
            b.max_hosts,
            window(b.per_secs)
        )?;
    }
    Ok(())
}

/// Seconds as the largest whole unit: `1h`, `30m`, `2d`, `45s`.
fn window(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// A proposal's changes as unified diffs, one per subject, with the
/// digests in force and proposed.
pub fn render_changes(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let _ = writeln!(
            s,
            "── {} {} → {}",
            c.subject,
            c.old_digest.as_ref().map_or("(new)", |d| d.short()),
            c.new_digest.short()
        );
        if c.old_text == c.new_text {
            let _ = writeln!(s, "   (the same as what is in force now)");
            continue;
        }
        let diff = similar::TextDiff::from_lines(&c.old_text, &c.new_text);
        let old = if c.old_digest.is_some() {
            format!("{} (in force)", c.subject)
        } else {
            "/dev/null".to_string()
        };
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&old, &format!("{} (proposed)", c.subject))
            .to_string();
        s.push_str(&text);
        if !text.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Shows `text` to whoever is about to sign: on stdout, or on stderr when
/// stdout carries JSON. Failing to show it is an error unless `--yes`
/// was given (nobody reads it then).
pub fn show(text: &str, json_out: bool, yes: bool) -> Result<()> {
    let r = if json_out {
        crate::output::emit_err(text)
    } else {
        crate::output::emit(text)
    };
    match r {
        Err(e) if !yes => Err(ControlError::Other(format!(
            "nothing was signed: the plan could not be shown ({e})"
        ))),
        _ => Ok(()),
    }
}

/// Asks `question` (`approve?`, `deny?`) on a terminal, defaulting to no.
/// `yes` (`--yes`) answers it for scripts. Without a terminal on stdin
/// and without `yes`, nothing may be signed: an error says to pass
/// `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(ControlError::Other(format!(
            "nothing was signed: stdin is not a terminal, so bosun cannot ask `{question}`; read what is shown above and pass --yes to sign without the question"
        )));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut line = String::new();
    stdin
        .lock()
        .take(256)
        .read_line(&mut line)
        .map_err(|e| ControlError::Other(format!("nothing was signed: reading the answer: {e}")))?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        "" => Err(ControlError::Other(
            "nothing was signed: the answer was no (the default)".into(),
        )),
        a => Err(ControlError::Other(format!(
            "nothing was signed: the answer was `{a}`, not `y`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_model::{Digest, Name};

    fn step(step: &str, host: &str, cmd: &str, controller: bool) -> PlanStep {
        PlanStep {
            step: Name::parse(step).unwrap(),
            host: Name::parse(host).unwrap(),
            cmd: cmd.into(),
            idempotent: false,
            depends_on: vec![],
            on_error: Default::default(),
            timeout_secs: None,
            actor: Default::default(),
            controller,
            max_parallel: None,
            check: None,
            bar: None,
        }
    }

    #[test]
    fn identical_hosts_group_and_the_controller_comes_last_alone() {
        let plan = Plan {
            runbook: Name::parse("rb").unwrap(),
            runbook_digest: Digest::of(b"rb"),
            read_only: false,
            destructive: false,
            verb: None,
            targets: ["a", "b", "c"].map(|h| Name::parse(h).unwrap()).to_vec(),
            hosts: Default::default(),
            params: Default::default(),
            // Step-major, as plans are; the controller's step in between.
            steps: vec![
                step("one", "a", "x", false),
                step("one", "b", "x", false),
                step("one", "c", "x", false),
                step("note", CONTROLLER_HOST, "x", true),
                step("two", "a", "y", false),
                step("two", "b", "y", false),
                step("two", "c", "z", false),
            ],
            parallel: None,
            max_fail: None,
            check: false,
        };
        let g = groups(&plan);
        let hosts: Vec<Vec<&str>> = g.iter().map(|g| g.hosts.clone()).collect();
        assert_eq!(
            hosts,
            vec![vec!["a", "b"], vec!["c"], vec![CONTROLLER_HOST]]
        );
        assert_eq!(g[0].lines.len(), 2);
        let mut s = String::new();
        write_commands(&mut s, &plan).unwrap();
        assert!(s.contains("a, b: 2 step(s), the same on each"), "{s}");
        assert!(s.contains("on the control host, once: 1 step(s)"), "{s}");
    }

    #[test]
    fn windows_read_as_whole_units() {
        assert_eq!(window(3600), "1h");
        assert_eq!(window(5400), "90m");
        assert_eq!(window(86_400 * 2), "2d");
        assert_eq!(window(61), "61s");
    }
}
