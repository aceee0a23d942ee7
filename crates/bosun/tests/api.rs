//! The HTTP API of a real `bosun serve`, over its Unix socket and loopback
//! TCP, driven by raw HTTP as a script or a hostile client would: an op
//! from signed envelope to finished, tokens for reads over TCP (missing,
//! forged, expired), and bad input (oversized, malformed, replayed,
//! unknown paths, slow headers) answered 4xx in the one error shape while
//! nothing stored changes.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::Lab;
use common::api::{approval, daemon, signed_op, stored, token};
use common::http::{self, Target};

#[test]
fn an_op_goes_from_envelope_to_finished_over_the_api() {
    let lab = Lab::new();
    let d = daemon(&lab);

    // Reads over the socket need no token; its permissions decide.
    let s = http::get(&d.unix, "/api/v1/status", None);
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.json()["workspace"], "lab");

    // Submitting needs no token: the envelope is the authority.
    let op = http::post(
        &d.tcp,
        "/api/v1/ops",
        &http::envelope(&signed_op(&lab, "web-1")),
    );
    assert_eq!(op.status, 201, "{}", op.body);
    let v = op.json();
    assert_eq!(v["state"], "pending_approval", "{v}");
    let jti = v["jti"].as_str().unwrap().to_string();
    assert!(
        !v["next"].as_array().unwrap().is_empty(),
        "no next action: {v}"
    );

    // An agent's approval is refused by the pipeline, named.
    let a = http::post(
        &d.unix,
        "/api/v1/approvals",
        &http::envelope(&approval(&lab, &jti, "claude")),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.check(), "approver_role");

    // An operator's approval is taken; the controller runs the op.
    let a = http::post(
        &d.tcp,
        "/api/v1/approvals",
        &http::envelope(&approval(&lab, &jti, "alice")),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let t = token(&lab, "claude", "10m");
    let end = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let o = http::get(&d.tcp, &format!("/api/v1/ops/{}", &jti[..10]), Some(&t));
        assert_eq!(o.status, 200, "{}", o.body);
        let v = o.json();
        if v["state"] == "succeeded" {
            break v;
        }
        assert!(Instant::now() < end, "never finished: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!done["steps"].as_array().unwrap().is_empty(), "{done}");

    // The listing and the CLI agree.
    let list = http::get(&d.tcp, "/api/v1/ops?state=succeeded", Some(&t)).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(lab.state(&jti), "succeeded");

    // Metrics count what happened.
    let m = http::get(&d.tcp, "/metrics", None);
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("bosun_ops{state=\"succeeded\"} 1\n"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("bosun_intake_seconds_count{outcome=\"accepted\"} 1\n"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("bosun_controller_lease{holder="),
        "{}",
        m.body
    );

    // The document is public and is the committed one.
    let doc = http::get(&d.tcp, "/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .unwrap();
    assert_eq!(doc.body, committed);

    // Every read route answers its view.
    for path in [
        "/api/v1/hosts",
        "/api/v1/blockers?all=true",
        "/api/v1/ledger",
        "/api/v1/ledger/checkpoints",
    ] {
        let r = http::get(&d.tcp, path, Some(&t));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let _ = r.json();
    }
}

#[test]
fn reads_over_tcp_need_a_valid_token() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let none = http::get(&d.tcp, "/api/v1/status", None);
    assert_eq!(none.status, 401);
    assert_eq!(none.check(), "token");

    let good = token(&lab, "claude", "5m");
    assert_eq!(http::get(&d.tcp, "/api/v1/status", Some(&good)).status, 200);

    // A forged signature, another token's payload, garbage.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let sig = parts[2].clone();
    parts[2] = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    let forged = parts.join(".");
    let r = http::get(&d.tcp, "/api/v1/status", Some(&forged));
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.check(), "signature");
    let r = http::get(&d.tcp, "/api/v1/status", Some("not.a.token"));
    assert_eq!(r.status, 401);
    assert_eq!(r.check(), "format");
    let r = http::request(
        &d.tcp,
        "GET",
        "/api/v1/status",
        &[("Authorization", "Basic YTpi")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.check(), "token");

    // An op envelope is not a token, whoever signed it.
    let r = http::get(
        &d.tcp,
        "/api/v1/status",
        Some(signed_op(&lab, "web-1").trim()),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.check(), "type");

    // Expired.
    let short = token(&lab, "claude", "1s");
    std::thread::sleep(Duration::from_millis(2100));
    let r = http::get(&d.tcp, "/api/v1/status", Some(&short));
    assert_eq!(r.status, 401);
    assert_eq!(r.check(), "expired");

    // No long-lived tokens.
    let o = lab.run(&["key", "token", "claude", "--ttl", "25h"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("24 hours"),
        "{o:?}"
    );
}

#[test]
fn bad_input_is_refused_in_one_shape_and_changes_nothing() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let env = signed_op(&lab, "web-2");
    let first = http::post(&d.unix, "/api/v1/ops", &http::envelope(&env));
    assert_eq!(first.status, 201, "{}", first.body);
    let before = stored(&lab);

    // Replayed.
    let r = http::post(&d.unix, "/api/v1/ops", &http::envelope(&env));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.check(), "replay");

    // Oversized: declared, and sent in chunks without a length.
    let big = format!("{{\"envelope\": \"{}\"}}", "a".repeat(200 * 1024));
    let r = http::post(&d.tcp, "/api/v1/ops", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.check(), "size");
    let mut chunked = b"POST /api/v1/ops HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 10240, "a".repeat(10240)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = http::raw(&d.tcp, &chunked);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.check(), "size");

    // Malformed, wrong shape, wrong type, garbage envelope.
    for (body, status, check) in [
        ("{not json", 400, "format"),
        ("{\"envelope\": 7}", 400, "format"),
        ("{\"envelope\": \"x\", \"as\": \"alice\"}", 400, "format"),
        ("{\"envelope\": \"a.b.c\"}", 400, "format"),
    ] {
        let r = http::post(&d.tcp, "/api/v1/ops", body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.check(), check, "{body}");
    }
    let r = http::request(
        &d.tcp,
        "POST",
        "/api/v1/ops",
        &[("Content-Type", "text/plain"), ("Content-Length", "2")],
        None,
    );
    assert!(r.status == 415 || r.status == 400, "{}", r.body);
    let r = http::raw(
        &d.tcp,
        b"POST /api/v1/ops HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(r.status, 415, "{}", r.body);
    assert_eq!(r.check(), "format");

    // A statement sent as an op, an op sent as an approval.
    let r = http::post(&d.tcp, "/api/v1/approvals", &http::envelope(&env));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.check(), "type");

    // Unknown paths, methods, query keys, ids.
    let r = http::get(&d.unix, "/api/v2/status", None);
    assert_eq!(r.status, 404);
    assert!(r.check().is_null());
    let r = http::request(&d.unix, "DELETE", "/api/v1/ops", &[], None);
    assert_eq!(r.status, 405, "{}", r.body);
    let r = http::get(&d.unix, "/api/v1/ops?stat=running", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.check(), "format");
    let r = http::get(&d.unix, "/api/v1/ops?state=exploded", None);
    assert_eq!(r.status, 400, "{}", r.body);
    for limit in ["0", "1001", "99999999999999999999999"] {
        let r = http::get(&d.unix, &format!("/api/v1/ops?limit={limit}"), None);
        assert_eq!(r.status, 400, "{limit}: {}", r.body);
        assert_eq!(r.check(), "format");
    }
    let r = http::get(&d.unix, "/api/v1/ops/zzzzzzzz", None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = http::get(&d.unix, "/api/v1/rollouts/nope", None);
    assert_eq!(r.status, 404, "{}", r.body);

    // Proofs of what no checkpoint covers are not found, and sizes given
    // backwards are malformed: never a failure of the server (both were
    // 500 until the property tests, tests/api_fuzz.rs, found them).
    for path in [
        "/api/v1/ledger/proofs?index=999999",
        "/api/v1/ledger/consistency?from=0",
        "/api/v1/ledger/consistency?from=999999",
    ] {
        let r = http::get(&d.unix, path, None);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.check().is_null(), "{path}");
    }
    let r = http::get(&d.unix, "/api/v1/ledger/consistency?from=9&to=1", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.check(), "format");

    // Headers past the cap are refused by the connection layer.
    let huge = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: b\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(64 * 1024)
    );
    let r = http::raw(&d.tcp, huge.as_bytes());
    assert!(r.status == 431 || r.status == 0, "{}: {}", r.status, r.body);

    assert_eq!(stored(&lab), before, "bad input changed what is stored");
    // And the daemon still answers.
    assert_eq!(http::get(&d.unix, "/api/v1/status", None).status, 200);
}

#[test]
fn a_slow_client_is_cut_off_and_others_are_served() {
    use std::io::{Read, Write};
    let lab = Lab::new();
    let d = daemon(&lab);
    let Target::Tcp(addr) = &d.tcp else {
        unreachable!()
    };
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: b\r\n")
        .unwrap();
    // Others are served meanwhile.
    assert_eq!(http::get(&d.unix, "/api/v1/status", None).status, 200);
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "not cut off after {waited:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
}

#[test]
fn plain_http_off_loopback_is_refused_with_the_reason() {
    let lab = Lab::new();
    let o = lab.run(&["serve", "--no-wait", "--listen", "0.0.0.0:0"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("in clear"),
        "{err}"
    );
    // Nothing was left behind.
    assert!(!lab.path(".bosun/bosun.sock").exists());
}

#[test]
fn an_adoption_is_in_force_for_the_next_api_submission() {
    let lab = Lab::new();
    let d = daemon(&lab);
    // The server's intake pipeline exists and judges by what is adopted.
    let r = http::post(
        &d.unix,
        "/api/v1/ops",
        &http::envelope(&signed_op(&lab, "web-1")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    lab.ok(&["key", "new", "dave", "--role", "agent"]);
    let sign_as_dave = || {
        lab.ok(&[
            "submit",
            "pkg-upgrade",
            "--target",
            "web-2",
            "--param",
            "version=3.0",
            "--as",
            "dave",
            "--sign-only",
        ])
    };
    // Registered on disk only: not an identity yet.
    let r = http::post(&d.unix, "/api/v1/ops", &http::envelope(&sign_as_dave()));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.check(), "unknown_key");
    lab.adopt();
    // In force for API submissions within 100 ms of the adoption.
    std::thread::sleep(Duration::from_millis(300));
    let r = http::post(&d.unix, "/api/v1/ops", &http::envelope(&sign_as_dave()));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["state"], "pending_approval");
}

#[test]
fn serve_refuses_state_another_user_could_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let lab = Lab::new();
    let state = lab.path(".bosun");
    // The store made it private, whatever the umask.
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o022, 0, "state dir mode {mode:o}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o775)).unwrap();
    let o = lab.run(&["serve", "--no-wait"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing to serve")
            && err.contains("open to its group")
            && err.contains("chmod 700"),
        "{err}"
    );
    assert!(!lab.path(".bosun/bosun.sock").exists());
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
}
