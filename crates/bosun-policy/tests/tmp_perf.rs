//! temp
use bosun_model::*;
use bosun_policy::*;
use std::collections::BTreeSet;
fn rules(scoped: bool) -> String {
    let mut s = String::new();
    for i in 0..490 {
        if scoped {
            s.push_str(&format!("@id(\"rb-{i}\") @outcome(\"approvals\")\npermit (principal in Bosun::Role::\"agent\", action == Bosun::Action::\"run\", resource == Bosun::Runbook::\"rb-{i}\")\nwhen {{ context.target_count <= 5 }};\n"));
        } else {
            s.push_str(&format!("@id(\"rb-{i}\") @outcome(\"approvals\")\npermit (principal in Bosun::Role::\"agent\", action == Bosun::Action::\"run\", resource) when {{ resource == Bosun::Runbook::\"rb-{i}\" && context.target_count <= 5 }};\n"));
        }
    }
    for j in 0..10 {
        s.push_str(&format!("@id(\"g-{j}\") forbid (principal, action, resource) when {{ context.target_tags.contains(\"frozen-{j}\") }};\n"));
    }
    s
}
#[test]
fn perf() {
    for scoped in [true, false] {
        let p = Policy::load(
            &SourceFile::new("k", DEFAULT_KEEPER_TOML),
            &[SourceFile::new("r.cedar", rules(scoped))],
        )
        .unwrap();
        let issuer = KeyId::parse("claude").unwrap();
        let rb = Name::parse("rb-250").unwrap();
        let targets: Vec<Name> = (0..3)
            .map(|i| Name::parse(&format!("h{i}")).unwrap())
            .collect();
        let tags = BTreeSet::from(["web".to_string()]);
        let f = |_: i64| 0u64;
        let req = Request {
            issuer: &issuer,
            role: Role::Agent,
            runbook: &rb,
            read_only: false,
            destructive: false,
            targets: &targets,
            target_tags: &tags,
            infra_targets: false,
            now: jiff::Timestamp::now(),
            hosts_changed: &f,
        };
        let mut ts = Vec::new();
        for _ in 0..200 {
            p.decide(&req);
        }
        for _ in 0..5000 {
            let t = std::time::Instant::now();
            let d = p.decide(&req);
            ts.push(t.elapsed().as_nanos());
            assert_eq!(d.outcome.kind(), "approvals");
        }
        ts.sort();
        println!(
            "scoped={scoped} considered={} p50={}ns p90={}ns p99={}ns",
            p.policies_considered(&rb),
            ts[ts.len() / 2],
            ts[ts.len() * 9 / 10],
            ts[ts.len() * 99 / 100]
        );
    }
}
