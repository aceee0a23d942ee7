//! `Policy::decide`: the shipped defaults, how forbids, permits and their
//! annotations combine, what mode, ceilings, budgets and windows do, and the
//! per-runbook index with 500 rules.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bosun_model::{Decision, KeyId, Name, Outcome, Requirement, Role};
use bosun_policy::{DEFAULT_CEDAR, DEFAULT_KEEPER_TOML, Policy, Request, SourceFile};

fn policy(keeper: &str, cedar: &str) -> Policy {
    Policy::load(
        &SourceFile::new("policy/keeper.toml", keeper),
        &[SourceFile::new("policy/rules.cedar", cedar)],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn defaults() -> Policy {
    policy(DEFAULT_KEEPER_TOML, DEFAULT_CEDAR)
}

fn with_mode(mode: &str) -> String {
    DEFAULT_KEEPER_TOML.replace("mode = \"hybrid\"", &format!("mode = \"{mode}\""))
}

/// An op, with owned data, that builds a `Request`.
#[derive(Clone)]
struct Op {
    issuer: KeyId,
    role: Role,
    runbook: Name,
    read_only: bool,
    destructive: bool,
    targets: Vec<Name>,
    tags: BTreeSet<String>,
    infra: bool,
    now: jiff::Timestamp,
    used: u64,
}

impl Op {
    fn new(issuer: &str, role: Role, runbook: &str) -> Op {
        Op {
            issuer: KeyId::parse(issuer).unwrap(),
            role,
            runbook: Name::parse(runbook).unwrap(),
            read_only: false,
            destructive: false,
            targets: vec![Name::parse("web1").unwrap()],
            tags: BTreeSet::new(),
            infra: false,
            // Monday 2025-01-06 14:30 UTC.
            now: "2025-01-06T14:30:00Z".parse().unwrap(),
            used: 0,
        }
    }
    fn agent() -> Op {
        Op::new("claude", Role::Agent, "upgrade-nginx")
    }
    fn operator() -> Op {
        Op::new("alice", Role::Operator, "upgrade-nginx")
    }
    fn read_only(mut self) -> Op {
        self.read_only = true;
        self
    }
    fn hosts(mut self, n: usize) -> Op {
        self.targets = (0..n)
            .map(|i| Name::parse(&format!("h{i}")).unwrap())
            .collect();
        self
    }
    fn at(mut self, t: &str) -> Op {
        self.now = t.parse().unwrap();
        self
    }
    fn decide(&self, p: &Policy) -> Decision {
        let used = self.used;
        let f = move |_secs: i64| used;
        p.decide(&Request {
            issuer: &self.issuer,
            role: self.role,
            runbook: &self.runbook,
            read_only: self.read_only,
            destructive: self.destructive,
            targets: &self.targets,
            target_tags: &self.tags,
            infra_targets: self.infra,
            now: self.now,
            hosts_changed: &f,
        })
    }
}

fn operators(m: u32) -> Outcome {
    Outcome::Approvals(Requirement {
        m,
        roles: vec![Role::Operator],
    })
}

fn deny_reason(d: &Decision) -> &str {
    match &d.outcome {
        Outcome::Deny { reason } => reason,
        other => panic!("expected deny, got {other:?}"),
    }
}

#[test]
fn defaults_agent_read_only_runs_alone() {
    let p = defaults();
    let d = Op::agent().read_only().decide(&p);
    assert_eq!(d.outcome, Outcome::Auto, "{d:#?}");
    assert_eq!(d.policy_ids, vec!["read-only-runs-alone"]);
    assert_eq!(&d.policy_digest, p.digest());
    assert!(!d.reasons.is_empty());
}

#[test]
fn defaults_agent_change_needs_one_operator() {
    let d = Op::agent().decide(&defaults());
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert_eq!(d.policy_ids, vec!["agent-changes-need-an-operator"]);
    assert!(d.reasons[0].contains("agent-changes-need-an-operator"));
}

#[test]
fn defaults_operator_change_needs_one_approval() {
    let d = Op::operator().decide(&defaults());
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert_eq!(d.policy_ids, vec!["operator-changes-need-another-operator"]);
}

#[test]
fn defaults_deny_other_roles_changing() {
    let d = Op::new("ctl", Role::Controller, "upgrade-nginx").decide(&defaults());
    assert_eq!(deny_reason(&d), "no policy permits this op");
    assert!(d.policy_ids.is_empty());
}

const FORBID_INFRA: &str = r#"
@id("agents-keep-off-infra")
@reason("agents never target infra hosts")
forbid (principal in Bosun::Role::"agent", action, resource)
when { context.infra_targets };
"#;

#[test]
fn forbid_wins_over_permit() {
    let p = policy(
        DEFAULT_KEEPER_TOML,
        &format!("{DEFAULT_CEDAR}\n{FORBID_INFRA}"),
    );
    let mut op = Op::agent().read_only();
    assert_eq!(op.decide(&p).outcome, Outcome::Auto);
    op.infra = true;
    let d = op.decide(&p);
    assert_eq!(deny_reason(&d), "agents never target infra hosts");
    assert_eq!(d.policy_ids, vec!["agents-keep-off-infra"]);
    // An operator is not concerned.
    let mut op = Op::operator().read_only();
    op.infra = true;
    assert_eq!(op.decide(&p).outcome, Outcome::Auto);
}

#[test]
fn forbid_without_reason_names_itself() {
    let p = policy(
        DEFAULT_KEEPER_TOML,
        &format!(
            "{DEFAULT_CEDAR}\n@id(\"no-fridays\") forbid (principal, action, resource) when {{ context.weekday == \"mon\" }};"
        ),
    );
    let d = Op::operator().decide(&p);
    assert_eq!(deny_reason(&d), "forbidden by policy no-fridays");
}

#[test]
fn permit_annotated_deny_denies() {
    let p = policy(
        DEFAULT_KEEPER_TOML,
        &format!(
            "{DEFAULT_CEDAR}\n@id(\"not-that\") @outcome(\"deny\") @reason(\"use the new runbook\") permit (principal, action, resource == Bosun::Runbook::\"old\");"
        ),
    );
    let d = Op::new("alice", Role::Operator, "old").decide(&p);
    assert_eq!(deny_reason(&d), "use the new runbook");
    assert_eq!(d.policy_ids, vec!["not-that"]);
}

#[test]
fn no_permit_denies() {
    let p = policy(
        DEFAULT_KEEPER_TOML,
        "@outcome(\"auto\") permit (principal, action, resource == Bosun::Runbook::\"hello\");",
    );
    let d = Op::operator().decide(&p);
    assert_eq!(deny_reason(&d), "no policy permits this op");
    let d = Op::new("alice", Role::Operator, "hello").decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
}

#[test]
fn manual_mode_turns_auto_into_approvals() {
    let p = policy(&with_mode("manual"), DEFAULT_CEDAR);
    let d = Op::agent().read_only().decide(&p);
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert!(d.reasons.iter().any(|r| r.contains("manual")), "{d:#?}");
    assert_eq!(d.policy_ids, vec!["read-only-runs-alone"]);
}

const UNANNOTATED: &str = r#"
@id("plain")
permit (principal, action, resource == Bosun::Runbook::"plain");
@id("explicit")
@outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"explicit");
"#;

#[test]
fn hybrid_needs_explicit_auto() {
    let p = policy(&with_mode("hybrid"), UNANNOTATED);
    let d = Op::new("alice", Role::Operator, "plain").decide(&p);
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert!(d.reasons[0].contains("hybrid"));
    let d = Op::new("alice", Role::Operator, "explicit").decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
}

#[test]
fn auto_mode_runs_unannotated_permits_alone() {
    let p = policy(&with_mode("auto"), UNANNOTATED);
    let d = Op::new("alice", Role::Operator, "plain").decide(&p);
    assert_eq!(d.outcome, Outcome::Auto, "{d:#?}");
}

#[test]
fn strictest_permit_wins_with_named_requirement() {
    let extra = r#"
@id("destructive-needs-two")
@outcome("approvals")
@requirement("two-operators")
permit (principal, action == Bosun::Action::"run", resource)
when { resource.destructive };
"#;
    let p = policy(DEFAULT_KEEPER_TOML, &format!("{DEFAULT_CEDAR}\n{extra}"));
    let mut op = Op::agent();
    op.destructive = true;
    let d = op.decide(&p);
    assert_eq!(d.outcome, operators(2), "{d:#?}");
    assert_eq!(
        d.policy_ids,
        vec!["agent-changes-need-an-operator", "destructive-needs-two"]
    );
    assert_eq!(d.reasons.len(), 2);
}

#[test]
fn ceiling_turns_auto_into_approvals() {
    let p = defaults();
    let d = Op::agent().read_only().hosts(10).decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
    let d = Op::agent().read_only().hosts(11).decide(&p);
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("ceiling") && r.contains("11 hosts")),
        "{d:#?}"
    );
    // Operators are not held to the agent ceiling.
    let d = Op::operator().read_only().hosts(11).decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
}

#[test]
fn budget_turns_auto_into_approvals() {
    // An auto rule for agents' changing ops, so the budget has work to do.
    let cedar = r#"
@id("agents-restart-alone")
@outcome("auto")
permit (principal in Bosun::Role::"agent", action, resource == Bosun::Runbook::"restart");
"#;
    let p = policy(DEFAULT_KEEPER_TOML, cedar);
    let mut op = Op::new("claude", Role::Agent, "restart").hosts(2);
    op.used = 10;
    assert_eq!(op.decide(&p).outcome, Outcome::Auto);
    // Spent: everything needs a human, even a small op.
    op.used = 50;
    let d = op.decide(&p);
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    assert!(d.reasons.iter().any(|r| r.contains("budget")), "{d:#?}");
    // Would overspend.
    op.used = 49;
    let d = op.decide(&p);
    assert_eq!(d.outcome, operators(1), "{d:#?}");
    // Operators have no budget in the default file.
    let mut op = Op::new("alice", Role::Operator, "restart");
    op.used = 1000;
    assert!(matches!(op.decide(&p).outcome, Outcome::Deny { .. }));
}

#[test]
fn budget_asks_for_the_window_it_was_given() {
    let p = defaults();
    let asked = std::cell::Cell::new(0i64);
    let f = |secs: i64| {
        asked.set(secs);
        0
    };
    let op = Op::agent().read_only();
    p.decide(&Request {
        issuer: &op.issuer,
        role: op.role,
        runbook: &op.runbook,
        read_only: true,
        destructive: false,
        targets: &op.targets,
        target_tags: &op.tags,
        infra_targets: false,
        now: op.now,
        hosts_changed: &f,
    });
    assert_eq!(asked.get(), 3600);
}

#[test]
fn windows_follow_their_time_zone() {
    let keeper = format!(
        "{}\n[[windows]]\nname = \"ny-hours\"\ntz = \"America/New_York\"\ndays = [\"mon\"]\nstart = \"09:00\"\nend = \"17:00\"\n",
        DEFAULT_KEEPER_TOML
    );
    let cedar = r#"
@id("deploy-in-ny-hours")
@outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"deploy")
when { context.windows.contains("ny-hours") };
"#;
    let p = policy(&keeper, cedar);
    let op = Op::new("alice", Role::Operator, "deploy");
    // 14:30 UTC = 09:30 in New York (EST, UTC-5): open.
    assert_eq!(op.decide(&p).outcome, Outcome::Auto);
    assert_eq!(
        p.windows_at(op.now),
        vec!["business-hours".to_string(), "ny-hours".to_string()]
    );
    // 13:30 UTC = 08:30 in New York: closed, though business hours (UTC) are open.
    let d = op.clone().at("2025-01-06T13:30:00Z").decide(&p);
    assert_eq!(deny_reason(&d), "no policy permits this op");
    // Summer time: 13:30 UTC = 09:30 EDT on Monday 2025-07-07: open.
    let d = op.clone().at("2025-07-07T13:30:00Z").decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
    // Tuesday: closed.
    let d = op.at("2025-01-07T14:30:00Z").decide(&p);
    assert!(matches!(d.outcome, Outcome::Deny { .. }));
}

#[test]
fn overnight_windows_wrap_past_midnight() {
    let keeper = DEFAULT_KEEPER_TOML
        .replace(
            "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            "days = [\"fri\"]",
        )
        .replace("\"09:00\"", "\"22:00\"")
        .replace("\"18:00\"", "\"06:00\"");
    let p = policy(&keeper, DEFAULT_CEDAR);
    let open = |t: &str| !p.windows_at(t.parse().unwrap()).is_empty();
    assert!(open("2025-01-10T23:00:00Z")); // Friday 23:00
    assert!(open("2025-01-11T05:59:00Z")); // Saturday 05:59
    assert!(!open("2025-01-11T06:00:00Z")); // Saturday 06:00
    assert!(!open("2025-01-10T05:00:00Z")); // Friday 05:00 (Thursday night)
    assert!(!open("2025-01-10T21:59:00Z"));
}

#[test]
fn context_carries_targets_tags_and_time() {
    let cedar = r#"
@id("tagged")
@outcome("auto")
permit (principal, action, resource)
when {
  context.targets.contains("web1") &&
  context.target_count == 1 &&
  context.target_tags.contains("canary") &&
  context.weekday == "mon" &&
  context.hour == 14 &&
  principal.name == "alice"
};
"#;
    let p = policy(DEFAULT_KEEPER_TOML, cedar);
    let mut op = Op::operator();
    assert!(matches!(op.decide(&p).outcome, Outcome::Deny { .. }));
    op.tags.insert("canary".into());
    assert_eq!(op.decide(&p).outcome, Outcome::Auto);
}

/// 490 rules scoped to their own runbook, 10 generic ones.
fn big_rules(scoped_by_scope: bool) -> String {
    let mut s = String::new();
    for i in 0..490 {
        let outcome = match i % 3 {
            0 => "@outcome(\"auto\")",
            1 => "@outcome(\"approvals\") @requirement(\"two-operators\")",
            _ => "@outcome(\"deny\") @reason(\"retired\")",
        };
        let limit = i % 7 + 1;
        if scoped_by_scope {
            s.push_str(&format!(
                "@id(\"rb-{i}\") {outcome}\npermit (principal in Bosun::Role::\"agent\", action == Bosun::Action::\"run\", resource == Bosun::Runbook::\"rb-{i}\")\nwhen {{ context.target_count <= {limit} }};\n"
            ));
        } else {
            s.push_str(&format!(
                "@id(\"rb-{i}\") {outcome}\npermit (principal in Bosun::Role::\"agent\", action == Bosun::Action::\"run\", resource)\nwhen {{ resource == Bosun::Runbook::\"rb-{i}\" && context.target_count <= {limit} }};\n"
            ));
        }
    }
    for j in 0..5 {
        s.push_str(&format!(
            "@id(\"frozen-{j}\") @reason(\"frozen {j}\")\nforbid (principal, action, resource) when {{ context.target_tags.contains(\"frozen-{j}\") }};\n"
        ));
    }
    for j in 0..4 {
        s.push_str(&format!(
            "@id(\"generic-{j}\") @outcome(\"auto\")\npermit (principal in Bosun::Role::\"operator\", action, resource) when {{ context.target_count == {j} }};\n"
        ));
    }
    s.push_str("@id(\"read-only\") @outcome(\"auto\")\npermit (principal, action, resource) when { resource.read_only };\n");
    s
}

#[test]
fn index_with_500_rules() {
    let p = policy(DEFAULT_KEEPER_TOML, &big_rules(true));
    assert_eq!(p.policy_ids().len(), 500);
    let n = |s: &str| Name::parse(s).unwrap();
    // An agent on a changing runbook: its runbook's rule and the five
    // forbids (the operator rules and the read-only rule cannot apply).
    assert_eq!(
        p.policies_considered(&n("rb-17"), Role::Agent, false, false),
        6
    );
    assert_eq!(
        p.policies_considered(&n("rb-17"), Role::Agent, true, false),
        7
    );
    assert_eq!(
        p.policies_considered(&n("rb-17"), Role::Operator, false, false),
        9
    );
    assert_eq!(
        p.policies_considered(&n("unknown"), Role::Agent, false, false),
        5
    );
    assert_eq!(
        p.policies_considered(&n("unknown"), Role::Operator, true, true),
        10
    );

    for i in [0usize, 1, 2, 3, 100, 244, 488, 489] {
        let rb = format!("rb-{i}");
        let limit = i % 7 + 1;
        let op = Op::new("claude", Role::Agent, &rb).hosts(limit);
        let d = op.decide(&p);
        match i % 3 {
            0 => assert_eq!(d.outcome, Outcome::Auto, "{rb}: {d:#?}"),
            1 => assert_eq!(d.outcome, operators(2), "{rb}: {d:#?}"),
            _ => assert_eq!(deny_reason(&d), "retired"),
        }
        assert_eq!(d.policy_ids, vec![rb.clone()]);
        // Over its limit: nothing permits.
        let d = op.clone().hosts(limit + 1).decide(&p);
        assert_eq!(deny_reason(&d), "no policy permits this op", "{rb}");
        // Generic forbids still apply to scoped runbooks.
        let mut frozen = op.clone();
        frozen.tags.insert("frozen-3".into());
        let d = frozen.decide(&p);
        assert_eq!(deny_reason(&d), "frozen 3");
        assert_eq!(d.policy_ids, vec!["frozen-3"]);
        // A scoped rule for another runbook never leaks in: an operator
        // (not an agent) on rb-i only meets the generic rules.
        let d = Op::new("alice", Role::Operator, &rb).hosts(2).decide(&p);
        assert_eq!(d.outcome, Outcome::Auto);
        assert_eq!(d.policy_ids, vec!["generic-2"]);
    }
    // Runbooks without a bucket see only the generic rules.
    let d = Op::new("claude", Role::Agent, "unknown")
        .hosts(1)
        .decide(&p);
    assert_eq!(deny_reason(&d), "no policy permits this op");
    let d = Op::new("claude", Role::Agent, "unknown")
        .read_only()
        .decide(&p);
    assert_eq!(d.outcome, Outcome::Auto);
    assert_eq!(d.policy_ids, vec!["read-only"]);
}

#[test]
fn index_decides_like_the_unindexed_set() {
    let indexed = policy(DEFAULT_KEEPER_TOML, &big_rules(true));
    let flat = policy(DEFAULT_KEEPER_TOML, &big_rules(false));
    // In the flat set no rule names a runbook in its scope.
    assert_eq!(
        flat.policies_considered(&Name::parse("rb-3").unwrap(), Role::Agent, false, false),
        495
    );
    for i in (0..490).step_by(13).chain([489, 490, 1000]) {
        for hosts in [0, 1, 3, 8] {
            for role in [Role::Agent, Role::Operator] {
                for tag in [None, Some("frozen-1")] {
                    let mut op = Op::new("x", role, &format!("rb-{i}")).hosts(hosts);
                    if let Some(t) = tag {
                        op.tags.insert(t.to_string());
                    }
                    let a = op.decide(&indexed);
                    let b = op.decide(&flat);
                    assert_eq!(a.outcome, b.outcome, "rb-{i} {hosts} {role}");
                    assert_eq!(a.policy_ids, b.policy_ids, "rb-{i} {hosts} {role}");
                }
            }
        }
    }
}

#[test]
fn repeated_ops_see_their_own_attributes() {
    // The same issuer and runbook with different attributes or roles must
    // never share a cached view.
    let p = defaults();
    let ro = Op::agent().read_only();
    let rw = Op::agent();
    let mut as_operator = Op::agent();
    as_operator.role = Role::Operator;
    for _ in 0..2 {
        assert_eq!(ro.decide(&p).outcome, Outcome::Auto);
        assert_eq!(rw.decide(&p).outcome, operators(1));
        assert_eq!(
            as_operator.decide(&p).policy_ids,
            vec!["operator-changes-need-another-operator"]
        );
    }
}

#[test]
fn in_and_is_in_scopes_are_indexed() {
    let cedar = r#"
@id("in") @outcome("auto")
permit (principal, action, resource in Bosun::Runbook::"a");
@id("is-in") @outcome("auto")
permit (principal, action, resource is Bosun::Runbook in Bosun::Runbook::"b");
@id("is") @outcome("approvals")
permit (principal, action, resource is Bosun::Runbook) when { resource.destructive };
"#;
    let p = policy(DEFAULT_KEEPER_TOML, cedar);
    let n = |s: &str| Name::parse(s).unwrap();
    assert_eq!(
        p.policies_considered(&n("a"), Role::Operator, false, true),
        2
    );
    assert_eq!(
        p.policies_considered(&n("b"), Role::Operator, false, true),
        2
    );
    assert_eq!(
        p.policies_considered(&n("c"), Role::Operator, false, true),
        1
    );
    // `is` alone is no runbook, but its first condition needs a
    // destructive runbook.
    assert_eq!(
        p.policies_considered(&n("c"), Role::Operator, false, false),
        0
    );
    assert_eq!(
        Op::new("alice", Role::Operator, "a").decide(&p).outcome,
        Outcome::Auto
    );
    assert_eq!(
        Op::new("alice", Role::Operator, "b").decide(&p).outcome,
        Outcome::Auto
    );
    let d = Op::new("alice", Role::Operator, "c").decide(&p);
    assert_eq!(deny_reason(&d), "no policy permits this op");
}

/// Rules the index can slice, and some it must not: every op decided with
/// the index is decided as with every policy (`Policy::unindexed`), with
/// the same outcome and the same deciding ids.
#[test]
fn the_index_never_changes_a_decision() {
    let cedar = r#"
@id("ro-auto") @outcome("auto")
permit (principal, action, resource) when { resource.read_only && context.hour != 99 };
@id("rw-agent") @outcome("approvals")
permit (principal in Bosun::Role::"agent", action, resource) when { !resource.read_only };
@id("rw-op") @outcome("approvals") @requirement("two-operators")
permit (principal is Bosun::Identity in Bosun::Role::"operator", action, resource) unless { resource.read_only };
@id("no-destroy-agents") @reason("agents never destroy")
forbid (principal in Bosun::Role::"agent", action, resource) when { resource.destructive && context.target_count > 0 };
@id("keeper-nothing") @outcome("deny")
permit (principal in Bosun::Role::"keeper", action, resource);
@id("ghost-role") @outcome("auto")
permit (principal in Bosun::Role::"nobody", action, resource);
@id("second-conjunct") @outcome("auto")
permit (principal, action, resource) when { context.target_count == 3 && resource.destructive };
@id("or") @outcome("auto")
permit (principal, action, resource) when { resource.read_only || context.target_count == 2 };
@id("two-clauses") @reason("odd hours")
forbid (principal, action, resource) when { context.hour == 3 } when { !resource.read_only };
@id("scoped-ro") @outcome("auto")
permit (principal in Bosun::Role::"operator", action, resource == Bosun::Runbook::"a") when { !resource.destructive };
@id("named") @outcome("auto")
permit (principal == Bosun::Identity::"claude", action, resource) when { resource.read_only };
"#;
    let indexed = policy(DEFAULT_KEEPER_TOML, cedar);
    let flat = policy(DEFAULT_KEEPER_TOML, cedar).unindexed();
    let mut checked = 0;
    for rb in ["a", "b"] {
        for role in Role::ALL {
            for who in ["claude", "alice"] {
                for (ro, de) in [(false, false), (true, false), (false, true), (true, true)] {
                    for hosts in [0, 1, 2, 3] {
                        for at in ["2025-01-06T03:30:00Z", "2025-01-06T14:30:00Z"] {
                            let mut op = Op::new(who, role, rb).hosts(hosts).at(at);
                            op.read_only = ro;
                            op.destructive = de;
                            let (a, b) = (op.decide(&indexed), op.decide(&flat));
                            let what = format!("{rb} {role} {who} ro={ro} de={de} {hosts} {at}");
                            assert_eq!(a.outcome, b.outcome, "{what}");
                            assert_eq!(a.policy_ids, b.policy_ids, "{what}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 4 * 2 * 4 * 4 * 2);
    let n = |s: &str| Name::parse(s).unwrap();
    // What the index keeps for an agent's changing op on `b`: rw-agent,
    // second-conjunct, or and two-clauses (their first conjuncts are not
    // about the runbook), not the read-only, named, operator, keeper,
    // ghost or destroy rules.
    assert_eq!(
        indexed.policies_considered(&n("b"), Role::Agent, false, false),
        4
    );
    assert_eq!(
        flat.policies_considered(&n("b"), Role::Agent, false, false),
        11
    );
}

/// `decide` builds only the context attributes the policies it meets read
/// (see `rules.rs`); it must decide exactly as with the whole context, for
/// rules that read each attribute in every way Cedar can, a `has`, a rule
/// that uses the context as a whole, and one that asks for an attribute no
/// request has.
#[test]
fn building_only_the_context_rules_read_never_changes_a_decision() {
    let keeper = format!(
        "{DEFAULT_KEEPER_TOML}\n[[windows]]\nname = \"maint\"\ntz = \"UTC\"\ndays = [\"mon\"]\nstart = \"02:00\"\nend = \"04:00\"\n"
    );
    let cedar = r#"
@id("targets") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"t") when { context.targets.contains("h1") };
@id("count") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"c") when { context["target_count"] < 3 };
@id("tags") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"g") when { context.target_tags.contains("db") };
@id("infra") @reason("no infra")
forbid (principal, action, resource == Bosun::Runbook::"i") when { context.infra_targets };
@id("infra-ok") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"i");
@id("window") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"w") when { context.windows.contains("maint") };
@id("day") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"d") unless { context.weekday == "mon" };
@id("hour") @outcome("approvals")
permit (principal, action, resource == Bosun::Runbook::"h") when { context.hour >= 3 };
@id("has") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"s") when { context has windows && context.windows.isEmpty() };
@id("whole") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"x") when { {"c": context}.c.hour == 3 };
@id("unknown") @reason("a name no request has")
forbid (principal, action, resource == Bosun::Runbook::"u") when { context has nothing || context.target_count > 1 };
@id("unknown-ok") @outcome("auto")
permit (principal, action, resource == Bosun::Runbook::"u");
"#;
    let indexed = policy(&keeper, cedar);
    let flat = policy(&keeper, cedar).unindexed();
    let n = |s: &str| Name::parse(s).unwrap();
    let mut checked = 0;
    let mut allowed = 0;
    for rb in ["t", "c", "g", "i", "w", "d", "h", "s", "x", "u", "none"] {
        for hosts in [0, 1, 2, 3] {
            for (tags, infra) in [(&[][..], false), (&["db"][..], true), (&["web"][..], false)] {
                for at in [
                    "2025-01-06T03:30:00Z",
                    "2025-01-06T14:30:00Z",
                    "2025-01-07T01:00:00Z",
                ] {
                    let mut op = Op::new("claude", Role::Agent, rb).hosts(hosts).at(at);
                    op.tags = tags.iter().map(|t| t.to_string()).collect();
                    op.infra = infra;
                    let (a, b) = (op.decide(&indexed), op.decide(&flat));
                    let what = format!("{rb} {hosts} {tags:?} {infra} {at}");
                    assert_eq!(a.outcome, b.outcome, "{what}");
                    assert_eq!(a.policy_ids, b.policy_ids, "{what}");
                    assert_eq!(a.reasons, b.reasons, "{what}");
                    allowed += usize::from(!matches!(a.outcome, Outcome::Deny { .. }));
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 11 * 4 * 3 * 3);
    // Not a suite of denials: most rules let some of these ops through.
    assert!(allowed > checked / 4, "{allowed} of {checked}");
    assert_eq!(
        indexed.policies_considered(&n("u"), Role::Agent, false, false),
        2
    );
}
