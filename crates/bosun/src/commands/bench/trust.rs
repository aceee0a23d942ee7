//! `bosun bench trust`: what the trust boundary costs per op, in-process
//! and without a disk: planning a runbook whose every interpolation is
//! shell-quoted (beside the same runbook with `| raw`, which writes values
//! as they are: the quoting's own cost is the difference), and the checks
//! the controller makes before it runs an op (the stored plan's digest
//! recomputed, every host's binding against the inventory in force, the
//! approvals tallied again).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bosun_control::{ControlError, Result};
use bosun_model::{ApprovalClaims, Digest, Jti, KeyId, Name, Requirement, Role, Verdict};
use serde_json::json;

/// The scaffold's `pkg-upgrade`: three interpolations in the first step,
/// two in the second.
const QUOTED: &str = r#"
id = "pkg-upgrade"
verb = "install"
[params.package]
type = "string"
pattern = "[a-z0-9][a-z0-9+.-]*"
default = "qat-driver"
[params.version]
type = "version"
required = true
[[steps]]
id = "install"
cmd = "mkdir -p pkgs && echo {{ params.version }} > pkgs/{{ params.package }}.version && echo installed {{ params.package }} {{ params.version }} on {{ host.name }}"
[[steps]]
id = "verify"
cmd = "test \"$(cat pkgs/{{ params.package }}.version)\" = {{ params.version }} && echo verified"
idempotent = true
"#;

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn p50_p99(mut t: Vec<Duration>) -> (f64, f64) {
    t.sort();
    let at = |p: f64| {
        let i = ((t.len() as f64 - 1.0) * p).round() as usize;
        t.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    (at(0.5), at(0.99))
}

fn time(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..iters.min(100) {
        f()?;
    }
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed());
    }
    Ok(p50_p99(t))
}

/// Runs the benchmark over `hosts` targets and prints its figures.
pub fn run(hosts: usize, iters: usize, json_out: bool) -> Result<()> {
    let raw_text = QUOTED
        .replace("{{ params.version }}", "{{ params.version | raw }}")
        .replace("{{ params.package }}", "{{ params.package | raw }}")
        .replace("{{ host.name }}", "{{ host.name | raw }}");
    let quoted = bosun_runbook::parse_runbook("runbooks/pkg-upgrade.toml", QUOTED)
        .map_err(|e| other(e.to_string()))?;
    let raw = bosun_runbook::parse_runbook("runbooks/pkg-upgrade.toml", &raw_text)
        .map_err(|e| other(e.to_string()))?;
    let mut inv = String::new();
    for i in 0..hosts {
        inv.push_str(&format!(
            "[[host]]\nname = \"h{i}\"\naddress = \"10.0.{}.{}\"\ntransport = \"ssh\"\nuser = \"ops\"\nssh_options = [\"ConnectTimeout=5\"]\nwake = \"wake-host h{i}\"\n",
            i / 250,
            i % 250
        ));
    }
    let inventory = bosun_workspace::Inventory::parse("fleet/hosts.toml", &inv)
        .map_err(|e| other(format!("{e:?}")))?;
    let targets = inventory.hosts.clone();
    let params = BTreeMap::from([("version".to_string(), "2.4.1~rc1".to_string())]);
    let plan_of = |rb: &bosun_runbook::Runbook| {
        bosun_runbook::plan(rb, &targets, &params).map_err(|e| other(e.to_string()))
    };
    let (q50, q99) = time(iters, || plan_of(&quoted).map(|_| ()))?;
    let (r50, r99) = time(iters, || plan_of(&raw).map(|_| ()))?;

    let plan = plan_of(&quoted)?;
    let signed = plan.digest();
    let iss = KeyId::parse("claude").map_err(|e| other(e.to_string()))?;
    let approver = KeyId::parse("alice").map_err(|e| other(e.to_string()))?;
    let now = bosun_control::now();
    let approvals = [bosun_policy::ApprovalRecord {
        claims: ApprovalClaims {
            jti: Jti::parse("01a24bc39c157b6795972b0e5a9f99fe")
                .map_err(|e| other(e.to_string()))?,
            iss: approver,
            iat: now,
            exp: now + 3600,
            ws: Name::parse("bench").map_err(|e| other(e.to_string()))?,
            op: Jti::parse("01a24bc39c157b6795972b0e5a9f99ff").map_err(|e| other(e.to_string()))?,
            plan_digest: signed.clone(),
            verdict: Verdict::Approve,
            reason: None,
        },
        role: Role::Operator,
    }];
    let req = Requirement {
        m: 1,
        roles: vec![Role::Operator],
    };
    let check = |signed: &Digest| -> Result<()> {
        let digest =
            bosun_control::dispatch::digest_matches(&plan, signed).map_err(|r| other(r.text()))?;
        bosun_control::dispatch::check_hosts(&plan, &inventory).map_err(|r| other(r.text()))?;
        let t = bosun_policy::tally(&req, &iss, &digest, &approvals, now, 86_400);
        if !t.satisfied {
            return Err(other("the bench's approval does not count"));
        }
        Ok(())
    };
    let (d50, d99) = time(iters, || check(&signed))?;
    let fig = json!({
        "bench": "trust", "hosts": hosts, "steps": plan.steps.len(), "iters": iters,
        "plan_quoted_us": {"p50": q50, "p99": q99},
        "plan_raw_us": {"p50": r50, "p99": r99},
        "quoting_us_per_op": q50 - r50,
        "dispatch_checks_us": {"p50": d50, "p99": d99},
    });
    if json_out {
        outln!("{fig}");
    } else {
        outln!(
            "trust: pkg-upgrade over {hosts} host(s) ({} plan entries), {iters} times each",
            plan.steps.len()
        );
        outln!("  plan, every interpolation quoted   p50 {q50:.1} µs, p99 {q99:.1} µs");
        outln!("  plan, the same with | raw          p50 {r50:.1} µs, p99 {r99:.1} µs");
        outln!(
            "  quoting's cost per op              {:.1} µs (p50 difference)",
            q50 - r50
        );
        outln!(
            "  dispatch checks (digest recomputed, host bindings, approvals tallied)  p50 {d50:.1} µs, p99 {d99:.1} µs"
        );
    }
    Ok(())
}
