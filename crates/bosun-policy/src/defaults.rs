//! The texts bosun ships: the Cedar schema every rule is validated against,
//! and the `keeper.toml` and `.cedar` files `bosun init` scaffolds.

/// The Cedar schema (human-readable schema syntax) bosun evaluates rules
/// against. Rules are validated strictly against it at load time.
pub const SCHEMA: &str = r#"// The bosun keeper schema: what a rule in policy/*.cedar can see.
namespace Bosun {
  // A registered role: Bosun::Role::"operator", "agent", "controller", "keeper".
  entity Role;

  // The identity (key) that signed the op. It is `in` its registered role,
  // so `principal in Bosun::Role::"agent"` matches every agent.
  entity Identity in [Role] {
    // The key id, e.g. "claude".
    name: String,
  };

  // The runbook the op runs.
  entity Runbook {
    // The runbook only reads (its steps change nothing on a host).
    read_only: Bool,
    // The runbook has a step marked destructive (data loss if wrong).
    destructive: Bool,
  };

  // Running a runbook: the only action.
  action run appliesTo {
    principal: Identity,
    resource: Runbook,
    context: {
      // The target host names.
      targets: Set<String>,
      // How many hosts the op targets.
      target_count: Long,
      // Every tag of every target host.
      target_tags: Set<String>,
      // Whether any target is an infra host.
      infra_targets: Bool,
      // The names of the keeper.toml windows open right now.
      windows: Set<String>,
      // The current day in UTC: "mon" … "sun" (use windows for local time).
      weekday: String,
      // The current hour in UTC, 0–23 (use windows for local time).
      hour: Long,
    },
  };
}
"#;

/// The `policy/keeper.toml` `bosun init` writes.
pub const DEFAULT_KEEPER_TOML: &str = r#"# The keeper policy: the knobs around the Cedar rules in policy/*.cedar.
# Editing this file changes nothing until the change is adopted (`bosun adopt`),
# and adopting needs the approvals [adoption] asks for.

# auto:   a rule without an @outcome annotation lets the op run alone.
# hybrid: only rules annotated @outcome("auto") let an op run alone; a rule
#         without @outcome needs the default approvals.
# manual: nothing runs without a human.
mode = "hybrid"

# How long an approval stays valid after it was signed.
approval_validity = "24h"

# Reserved for rollouts: whether a wave may be promoted without a human.
allow_auto_promotion = false

[approvals]
# What @outcome("approvals") needs when the rule names no @requirement:
# m distinct approvers with one of these roles. Agents never approve, and
# nobody approves their own op, whatever is written here.
default = { m = 1, roles = ["operator"] }

# Named requirements a rule can ask for with @requirement("two-operators").
[approvals.named.two-operators]
m = 2
roles = ["operator"]

# What adopting a change to a governed file needs: the policy, the key
# registry, runbooks, the inventory (fleet/hosts.toml) and rollouts.
[adoption]
m = 2
roles = ["operator"]

# A quorum per kind of file, where it differs from the one above, e.g.
#   [adoption.subjects]
#   inventory = { m = 1, roles = ["operator"] }

[ceilings]
# An agent op touching more than this many hosts never runs alone.
agent_max_hosts = 10

# Blast-radius budget: once an agent has changed 50 hosts within the last
# hour, everything it submits needs a human.
[[budgets]]
role = "agent"
max_hosts = 50
per = "1h"

# A time window; rules see the open ones as context.windows, e.g.
#   when { context.windows.contains("business-hours") }
[[windows]]
name = "business-hours"
tz = "UTC"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "18:00"
"#;

/// The `policy/default.cedar` `bosun init` writes.
pub const DEFAULT_CEDAR: &str = r#"// The keeper's rules. Each op asks: may `principal` (the identity that
// signed it) `run` `resource` (the runbook) with `context` (targets, time)?
// An op nobody permits is denied. A matching `forbid` always wins.
// The annotations say what a matching permit means:
//   @outcome("auto")       the op runs alone (still subject to keeper.toml's
//                          mode, ceilings and budgets)
//   @outcome("approvals")  it waits for approvals; @requirement("name") picks
//                          a requirement from keeper.toml, else the default
//   @outcome("deny")       it is refused; @reason("...") says why
// What a rule can look at (the Cedar schema bosun ships):
//   principal  the identity that signed the op: principal.name, and
//              `principal in Bosun::Role::"agent"` (or "operator", ...)
//   resource   the runbook: Bosun::Runbook::"<name>", resource.read_only,
//              resource.destructive
//   context    targets, target_count, target_tags, infra_targets,
//              windows (keeper.toml windows open now), weekday, hour (UTC)

// 1. Read-only runbooks only look at hosts, so anyone may run them alone.
@id("read-only-runs-alone")
@outcome("auto")
permit (principal, action == Bosun::Action::"run", resource)
when { resource.read_only };

// 2. Anything that changes a host and comes from an agent waits for one
//    operator's approval (the default requirement in keeper.toml).
@id("agent-changes-need-an-operator")
@outcome("approvals")
permit (
  principal in Bosun::Role::"agent",
  action == Bosun::Action::"run",
  resource
)
when { !resource.read_only };

// 3. An operator's own changing op also needs one approval. Since nobody may
//    approve their own op, that means one *other* operator.
@id("operator-changes-need-another-operator")
@outcome("approvals")
permit (
  principal in Bosun::Role::"operator",
  action == Bosun::Action::"run",
  resource
)
when { !resource.read_only };

// Examples to adapt (remove the leading // to use one):
//
// Agents never touch infra hosts, whoever would approve:
// @id("agents-keep-off-infra")
// @reason("agents never target infra hosts; an operator must submit this op")
// forbid (principal in Bosun::Role::"agent", action, resource)
// when { context.infra_targets };
//
// Destructive runbooks need two operators:
// @id("destructive-needs-two")
// @outcome("approvals")
// @requirement("two-operators")
// permit (principal, action == Bosun::Action::"run", resource)
// when { resource.destructive };
//
// Agents may restart one service alone, in business hours only:
// @id("agent-restarts-in-hours")
// @outcome("auto")
// permit (principal in Bosun::Role::"agent", action, resource == Bosun::Runbook::"restart-web")
// when { context.windows.contains("business-hours") && context.target_count <= 3 };
"#;
