//! `bosun bench` runs end to end on small sizes, so the figures in
//! docs/BENCHMARKS.md come from code that CI exercises. (Speed itself is
//! never asserted here: it is measured with the release build.)

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

fn bench(args: &[&str]) -> serde_json::Value {
    let o = common::bin()
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn intake_bench_stores_and_queues_every_op() {
    let v = bench(&[
        "intake",
        "--ops",
        "300",
        "--submitters",
        "3",
        "--batch",
        "64",
    ]);
    assert_eq!(v["ops"], 300);
    assert!(v["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["latency_us"]["p99"].as_f64().unwrap() >= v["latency_us"]["p50"].as_f64().unwrap());
}

#[test]
fn policy_bench_meets_only_the_runbooks_policies() {
    let v = bench(&["policy", "--iters", "50"]);
    assert_eq!(v["rules"], 500);
    assert_eq!(
        v["considered"], 11,
        "the index hands a request its runbook's rule plus the 10 generic ones"
    );
    assert_eq!(v["outcome"], "approvals");
}

#[test]
fn verify_bench_runs() {
    let v = bench(&["verify", "--n", "64"]);
    assert!(v["single_us"].as_f64().unwrap() > 0.0);
}
