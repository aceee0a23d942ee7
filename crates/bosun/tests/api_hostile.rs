//! The HTTP API against a hostile client, beyond tests/api.rs: envelopes
//! forged, replayed or made for another workspace (refused in the one
//! error shape, naming the check, with nothing stored but the record of
//! the refusal), bodies that lie about their length or are cut off
//! mid-way (nothing stored at all, the daemon still answering), and many
//! idle connections held open while a normal request is still answered.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::api::{approval, daemon, signed_op, stored, token};
use common::http::{self, Target};
use common::{Lab, bin};

/// What is stored, as the CLI reads it: the ops, the ledger's size, and
/// how many refused inputs it records.
#[derive(Debug, PartialEq)]
struct Snapshot {
    ops: serde_json::Value,
    ledger: u64,
    rejections: Vec<serde_json::Value>,
}

fn snapshot(lab: &Lab) -> Snapshot {
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "the ledger does not verify: {v}");
    let r = lab.json(&["ops", "rejections", "--json", "--limit", "100000"]);
    Snapshot {
        ops: stored(lab),
        ledger: v["size"].as_u64().unwrap(),
        rejections: r.as_array().unwrap().clone(),
    }
}

/// `after` differs from `before` only by the record of one refusal by
/// `check` (the ledger keeps refused inputs): the ops are as they were.
fn only_the_refusal_recorded(before: &Snapshot, after: &Snapshot, check: &str) {
    assert_eq!(after.ops, before.ops, "a refused input changed the ops");
    let new = after.rejections.len() - before.rejections.len();
    assert!(new <= 1, "{new} refusals recorded for one input");
    assert_eq!(
        after.ledger - before.ledger,
        new as u64,
        "the ledger grew by more than the record of the refusal"
    );
    if new == 1 {
        // Newest first.
        assert_eq!(
            after.rejections[0]["check"], check,
            "{:?}",
            after.rejections[0]
        );
    }
}

fn tcp_addr(t: &Target) -> &str {
    match t {
        Target::Tcp(a) => a,
        Target::Unix(_) => unreachable!(),
    }
}

/// Waits (30 s at most) until op `jti` is in `state`, read over the API.
fn wait_for_state(d: &common::api::Daemon, t: &str, jti: &str, state: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let v = http::get(&d.tcp, &format!("/api/v1/ops/{jti}"), Some(t)).json();
        if v["state"] == state {
            return;
        }
        assert!(Instant::now() < end, "never {state}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn forged_and_foreign_envelopes_are_refused_naming_the_check() {
    let lab = Lab::new();
    let d = daemon(&lab);

    // A forged op envelope: valid JSON, a genuine header and payload, the
    // signature altered.
    let env = signed_op(&lab, "web-1");
    let mut parts: Vec<String> = env.trim().split('.').map(String::from).collect();
    let sig = parts[2].clone();
    parts[2] = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    let before = snapshot(&lab);
    let r = http::post(&d.tcp, "/api/v1/ops", &http::envelope(&parts.join(".")));
    assert!((400..500).contains(&r.status), "{}", r.body);
    assert_eq!(r.check(), "signature", "{}", r.body);
    only_the_refusal_recorded(&before, &snapshot(&lab), "signature");

    // An envelope signed by the same key, for another workspace that
    // trusts it too.
    let other = lab.tmp.path().join("other");
    let o = bin()
        .args(["init", other.to_str().unwrap()])
        .env("BOSUN_KEY_DIR", &lab.keys)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for f in ["alice.jwk", "bob.jwk", "claude.jwk", "keys.toml"] {
        std::fs::copy(lab.path("keys").join(f), other.join("keys").join(f)).unwrap();
    }
    let in_other = |args: &[&str]| {
        let o = bin()
            .args(args)
            .env("BOSUN_WORKSPACE", &other)
            .env("BOSUN_KEY_DIR", &lab.keys)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    in_other(&["adopt", "--yes", "--as", "alice"]);
    let foreign = in_other(&[
        "submit",
        "pkg-upgrade",
        "--target",
        "web-2",
        "--param",
        "version=9.0",
        "--as",
        "claude",
        "--sign-only",
    ]);
    let before = snapshot(&lab);
    let r = http::post(&d.tcp, "/api/v1/ops", &http::envelope(&foreign));
    assert!((400..500).contains(&r.status), "{}", r.body);
    assert_eq!(r.check(), "workspace", "{}", r.body);
    only_the_refusal_recorded(&before, &snapshot(&lab), "workspace");
}

#[test]
fn an_approval_replayed_is_refused_and_changes_nothing() {
    // Agents' changes need two operators here, so the op still waits
    // after the first approval and the replay is judged as one.
    let lab = Lab::new_with(|lab| {
        let rules = std::fs::read_to_string(lab.path("policy/rules.cedar")).unwrap();
        let two = rules.replace(
            "@id(\"agent-changes-need-an-operator\")\n@outcome(\"approvals\")",
            "@id(\"agent-changes-need-an-operator\")\n@outcome(\"approvals\")\n@requirement(\"two-operators\")",
        );
        assert_ne!(rules, two, "the default rules changed");
        lab.write("policy/rules.cedar", &two);
    });
    let d = daemon(&lab);
    let t = token(&lab, "claude", "10m");
    let op = http::post(
        &d.tcp,
        "/api/v1/ops",
        &http::envelope(&signed_op(&lab, "web-1")),
    );
    assert_eq!(op.status, 201, "{}", op.body);
    let jti = op.json()["jti"].as_str().unwrap().to_string();
    let yes = http::envelope(&approval(&lab, &jti, "alice"));
    let a = http::post(&d.tcp, "/api/v1/approvals", &yes);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["state"], "pending_approval", "{}", a.body);

    let before = snapshot(&lab);
    for via in [&d.tcp, &d.unix] {
        let r = http::post(via, "/api/v1/approvals", &yes);
        assert!((400..500).contains(&r.status), "{}", r.body);
        assert_eq!(r.check(), "replay", "{}", r.body);
    }
    let after = snapshot(&lab);
    assert_eq!(after.ops, before.ops, "a replay changed the ops");
    let new = after.rejections.len() - before.rejections.len();
    assert!(new <= 2, "{new} refusals recorded for two replays");
    // The same input refused again is the same fact to the ledger: one
    // entry however many rows the listing of refusals shows.
    let grew = after.ledger - before.ledger;
    assert!(
        grew <= new as u64 && (new == 0 || grew >= 1),
        "{grew} entries for {new} refusals"
    );
    assert!(
        after.rejections[..new]
            .iter()
            .all(|r| r["check"] == "replay")
    );

    // The second operator's approval still counts: the op runs.
    let b = http::post(
        &d.unix,
        "/api/v1/approvals",
        &http::envelope(&approval(&lab, &jti, "bob")),
    );
    assert_eq!(b.status, 200, "{}", b.body);
    wait_for_state(&d, &t, &jti, "succeeded");
}

/// A POST of `body` to `/api/v1/ops` declaring `declared` bytes, written
/// as far as `send` bytes, then the writing half closed.
fn lying_post(addr: &str, body: &str, declared: usize, send: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let head = format!(
        "POST /api/v1/ops HTTP/1.1\r\nHost: bosun\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body.as_bytes()[..send]).unwrap();
    s.flush().unwrap();
    s
}

#[test]
fn bodies_that_lie_about_their_length_or_stop_midway_change_nothing() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let addr = tcp_addr(&d.tcp).to_string();
    let body = http::envelope(&signed_op(&lab, "web-1"));
    let before = snapshot(&lab);

    // Shorter than declared, then the writing half closed: the answer is
    // a refusal of the body, in the one shape.
    let mut s = lying_post(&addr, &body, body.len() + 100, body.len());
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((400..500).contains(&status), "{text}");
    let v: serde_json::Value = serde_json::from_str(rest).unwrap();
    assert_eq!(v["error"]["check"], "format", "{text}");

    // Half the declared body, then gone altogether, on both listeners.
    drop(lying_post(&addr, &body, body.len(), body.len() / 2));
    let mut u = std::os::unix::net::UnixStream::connect(lab.path(".bosun/bosun.sock")).unwrap();
    let head = format!(
        "POST /api/v1/ops HTTP/1.1\r\nHost: bosun\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    u.write_all(head.as_bytes()).unwrap();
    u.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    drop(u);

    // The daemon still answers, and nothing at all was stored: a body
    // never whole is never judged.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http::get(&d.unix, "/api/v1/status", None).status, 200);
    assert_eq!(
        snapshot(&lab),
        before,
        "a broken body changed what is stored"
    );

    // The same envelope whole is taken: it was never seen before.
    let r = http::post(&d.tcp, "/api/v1/ops", &body);
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn two_hundred_idle_connections_do_not_keep_a_request_out() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let addr = tcp_addr(&d.tcp).to_string();
    let t = token(&lab, "claude", "10m");
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Half of them with a request begun and never finished.
    for s in idle.iter().step_by(2) {
        (&*s)
            .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: b\r\n")
            .unwrap();
    }
    let started = Instant::now();
    let r = http::get(&d.tcp, "/api/v1/status", Some(&t));
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert_eq!(http::get(&d.unix, "/api/v1/status", None).status, 200);

    // The idle ones are cut off by the header timeout, not held forever.
    let mut s = &idle[1];
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "an idle connection was held {:?}",
        started.elapsed()
    );
    drop(idle);
    assert_eq!(http::get(&d.tcp, "/api/v1/status", Some(&t)).status, 200);
}

/// A client without any key floods the daemon with distinct forged
/// envelopes, as an agent that wants to fill the disk or drown the
/// ledger would: each is refused naming its check, but past a burst only
/// a trickle is recorded (the rest counted in `/metrics`), and what a key
/// vouches for — an op, a replay — is still stored and recorded.
#[test]
fn a_flood_of_unauthenticated_input_is_refused_but_not_all_recorded() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let env = signed_op(&lab, "web-1");
    let parts: Vec<&str> = env.trim().split('.').collect();
    let before = snapshot(&lab);
    let n = 400;
    for i in 0..n {
        // A different signature each time: no two inputs are the same fact.
        let forged = format!("{}.{}.{:0>85}A", parts[0], parts[1], i);
        let via = if i % 2 == 0 { &d.tcp } else { &d.unix };
        let r = http::post(via, "/api/v1/ops", &http::envelope(&forged));
        assert!((400..500).contains(&r.status), "{}", r.body);
        assert_eq!(r.check(), "signature", "{}", r.body);
    }
    let after = snapshot(&lab);
    assert_eq!(after.ops, before.ops);
    let recorded = after.rejections.len() - before.rejections.len();
    assert!(
        (100..n / 2).contains(&recorded),
        "{recorded} of {n} forged envelopes recorded"
    );
    let m = http::get(&d.tcp, "/metrics", None);
    let unrecorded: u64 = m
        .body
        .lines()
        .find_map(|l| l.strip_prefix("bosun_refusals_unrecorded_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(unrecorded as usize + recorded, n, "{}", m.body);

    // A signed op is still taken, and its replay still recorded.
    let r = http::post(&d.unix, "/api/v1/ops", &http::envelope(&env));
    assert_eq!(r.status, 201, "{}", r.body);
    let before = snapshot(&lab);
    let r = http::post(&d.unix, "/api/v1/ops", &http::envelope(&env));
    assert_eq!(r.check(), "replay", "{}", r.body);
    only_the_refusal_recorded(&before, &snapshot(&lab), "replay");
    assert_eq!(snapshot(&lab).rejections[0]["check"], "replay");
}
