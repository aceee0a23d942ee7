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
fn policy_bench_meets_only_the_policies_that_can_apply() {
    let v = bench(&["policy", "--iters", "50"]);
    assert_eq!(v["rules"], 500);
    let cases = v["cases"].as_array().unwrap();
    let considered: Vec<u64> = cases
        .iter()
        .map(|c| c["considered"].as_u64().unwrap())
        .collect();
    assert_eq!(
        considered,
        [1, 11, 11, 500],
        "a changing runbook meets its own rule (the 10 generic ones start with resource.read_only); a read-only one meets all 11; unindexed, all 500"
    );
    assert_eq!(cases[0]["policy_ids_rb_7"], serde_json::json!(["rb-7"]));
    assert_eq!(cases[3]["policy_ids_rb_7"], serde_json::json!(["rb-7"]));
    assert_eq!(cases[1]["policy_ids_rb_7"].as_array().unwrap().len(), 11);
}

#[test]
fn verify_bench_runs() {
    let v = bench(&["verify", "--n", "64"]);
    assert!(v["single_us"].as_f64().unwrap() > 0.0);
}

#[test]
fn mcp_bench_times_plan_over_stdio_and_the_daemons_mcp() {
    let v = bench(&["mcp", "--calls", "5"]);
    assert_eq!(v["calls"], 5);
    for t in ["stdio_round_trip_us", "http_round_trip_us"] {
        assert!(v[t]["p50"].as_f64().unwrap() > 0.0, "{v}");
    }
}

#[test]
fn web_bench_reads_the_page_and_runs_intake_beside_watchers() {
    let v = bench(&[
        "web",
        "--pending",
        "150",
        "--hosts",
        "10",
        "--blockers",
        "3",
        "--reads",
        "3",
        "--watchers",
        "4",
        "--ops",
        "32",
    ]);
    // The page counts every pending op and lists at most 100.
    let bytes = v["overview_page"]["bytes"].as_u64().unwrap();
    assert!(bytes > 5_000, "{v}");
    assert_eq!(v["intake_ops_per_sec"]["watchers"], 4, "{v}");
    assert!(
        v["intake_ops_per_sec"]["alone"].as_f64().unwrap() > 0.0,
        "{v}"
    );
}
