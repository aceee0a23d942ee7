//! The dashboard: its pages over HTTP (sign-in by token, the session
//! cookie, the security headers, the Unix socket trusted by its
//! permissions) and in a real headless Chromium (Debian's) driven by
//! playwright-core (`tests/browser/dashboard.mjs`): sign in, the overview,
//! a pending op's page with its plan and the exact approve command, the
//! page following the op live (Server-Sent Events) to its end when an
//! operator approves it from the CLI, the op's ledger entries proved in
//! the browser (and a tampered one failing), nothing a param wrote
//! running as script, the board and the hosts, a phone's width; and
//! (`tests/browser/passkey.mjs`, Chromium's virtual authenticator) an
//! operator registering a passkey, the operators adopting it, a forged
//! signature refused, and the agent's op approved with the passkey and
//! run, live. Screenshots land in `target/browser/` (CI keeps them as
//! artifacts).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use common::api::{daemon, token};
use common::browser;
use common::http::{Target, request};

fn header<'a>(a: &'a common::http::Answer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A lab with claude's op waiting for approval (a param that is HTML) and
/// a blocker filed.
fn lab_with_work() -> (Lab, String) {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/say.toml",
            "id = \"say\"\nverb = \"install\"\n[params.msg]\ntype = \"string\"\nrequired = true\n[[steps]]\nid = \"say\"\ncmd = \"echo {{ params.msg }}\"\n",
        );
    });
    let s = common::submit(
        &lab,
        "claude",
        "say",
        "web-1",
        &["msg=<img src=x onerror=alert(1)>"],
    );
    assert_eq!(s["state"], "pending_approval", "{s}");
    lab.ok(&[
        "blockers",
        "file",
        "host-drifted",
        "web-2",
        "--reason",
        "<script>alert(2)</script>",
        "--as",
        "alice",
    ]);
    (lab, common::jti(&s))
}

#[test]
fn pages_need_a_session_over_tcp_and_answer_with_strict_headers() {
    let (lab, jti) = lab_with_work();
    let d = daemon(&lab);
    // Over TCP without a session: to the sign-in page.
    let a = request(&d.tcp, "GET", "/", &[], None);
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(header(&a, "location"), Some("/login"));
    let a = request(&d.tcp, "GET", &format!("/ops/{jti}"), &[], None);
    assert_eq!(a.status, 303);
    // A bearer header is not a session: pages read the cookie only.
    let t = token(&lab, "alice", "1h");
    let bearer = format!("Bearer {t}");
    let a = request(&d.tcp, "GET", "/", &[("Authorization", &bearer)], None);
    assert_eq!(a.status, 303);
    // A forged cookie is no session either.
    let a = request(
        &d.tcp,
        "GET",
        "/",
        &[("Cookie", "bosun_session=abc.def.ghi")],
        None,
    );
    assert_eq!(a.status, 303);
    // Signing in: a refused token is said on the page, and sets nothing.
    let form = |body: &str| {
        let mut req = format!(
            "POST /login HTTP/1.1\r\nHost: bosun\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body.as_bytes());
        common::http::raw(&d.tcp, &req)
    };
    // Another site cannot sign this browser in (login CSRF).
    for extra in [
        "Origin: https://evil.example\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
    ] {
        let body = format!("token={t}");
        let mut req = format!(
            "POST /login HTTP/1.1\r\nHost: bosun\r\nConnection: close\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body.as_bytes());
        let a = common::http::raw(&d.tcp, &req);
        assert_eq!(a.status, 403, "{extra}: {}", a.body);
        assert!(header(&a, "set-cookie").is_none());
    }
    let a = form("token=nope");
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(header(&a, "set-cookie").is_none());
    let a = form(&format!("token={t}"));
    assert_eq!(a.status, 303, "{}", a.body);
    let cookie = header(&a, "set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    // With the session: the overview and the op, with strict headers.
    for path in [
        "/".to_string(),
        format!("/ops/{jti}"),
        "/ledger".to_string(),
        format!("/ledger?q={jti}"),
        "/ledger?q=%23999999".to_string(),
        "/passkeys".to_string(),
    ] {
        let a = request(&d.tcp, "GET", &path, &[("Cookie", &session)], None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let csp = header(&a, "content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(header(&a, "x-content-type-options"), Some("nosniff"));
        assert!(
            !a.body.contains("<script>alert") && !a.body.contains("<img src=x"),
            "{}",
            a.body
        );
    }
    // Over the Unix socket its permissions decide: no sign-in.
    let a = request(&d.unix, "GET", "/", &[], None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains(&jti), "{}", a.body);
    // The other pages, over the socket.
    for (path, want) in [
        ("/hosts", "web-2"),
        ("/blockers", "host-drifted"),
        ("/blockers?all=true", "host-drifted"),
        ("/rollouts", "No rollout was started"),
    ] {
        let a = request(&d.unix, "GET", path, &[], None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(a.body.contains(want), "{path}: {}", a.body);
        assert!(!a.body.contains("<script>alert"), "{path}: {}", a.body);
    }
    let a = request(&d.unix, "GET", "/rollouts/nosuch", &[], None);
    assert_eq!(a.status, 404, "{}", a.body);
    // An op that is not there: a page saying so.
    let a = request(&d.unix, "GET", "/ops/zzzzzzzzzzzz", &[], None);
    assert_eq!(a.status, 404, "{}", a.body);
    // Live: /events announces the ledger's size as a `change` with its
    // id; a reconnect with that Last-Event-ID hears nothing until the next.
    let first = sse(&d.unix, None);
    let id = first
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no event: {first}"))
        .to_string();
    assert!(first.contains("event: change"), "{first}");
    let again = sse(&d.unix, Some(&id));
    assert!(!again.contains("event: change"), "{again}");
    // The stylesheet is the binary's own.
    let a = request(&d.tcp, "GET", "/static/bosun.css", &[], None);
    assert_eq!(a.status, 200);
    assert!(a.body.contains("prefers-color-scheme: dark"));
}

/// What `/events` sends within 1.5 s (as `Last-Event-ID: last`), over
/// the Unix socket `t`.
fn sse(t: &Target, last: Option<&str>) -> String {
    use std::io::{Read as _, Write as _};
    let Target::Unix(p) = t else {
        panic!("the socket")
    };
    let mut s = std::os::unix::net::UnixStream::connect(p).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let mut req =
        "GET /events HTTP/1.1\r\nHost: bosun\r\nAccept: text/event-stream\r\n".to_string();
    if let Some(l) = last {
        req.push_str(&format!("Last-Event-ID: {l}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn an_operator_reads_the_dashboard_in_a_real_browser() {
    if !browser::available() {
        return;
    }
    let (lab, jti) = lab_with_work();
    let d = daemon(&lab);
    let Target::Tcp(addr) = &d.tcp else {
        panic!("no TCP listener")
    };
    let t = token(&lab, "alice", "1h");
    let base = format!("http://{addr}");
    // Once the op's page is open: approve it from the CLI, as an operator
    // at a terminal beside the browser would.
    let seen = browser::run("dashboard.mjs", &[&base, &t], "ready", |_| {
        lab.ok(&["approve", &jti, "--as", "alice", "--yes"]);
    });
    assert_eq!(seen["state"], "pending approval", "{seen}");
    assert_eq!(seen["live_state"], "succeeded", "{seen}");
    browser::saved(&[
        "overview.png",
        "op.png",
        "op-done.png",
        "ledger.png",
        "blockers.png",
        "hosts.png",
        "overview-phone.png",
    ]);
}

/// `bosun serve` taking passkeys at `http://localhost:<port>` (a free
/// port), and that origin.
fn passkey_daemon(lab: &Lab) -> (common::api::Daemon, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let (d, _) = common::api::daemon_with(
        lab,
        &["--listen", &listen, "--web-origin", &origin],
        "http",
        1,
    );
    (d, origin)
}

#[test]
fn an_operator_approves_an_agents_op_with_a_passkey_in_a_real_browser() {
    if !browser::available() {
        return;
    }
    let (lab, jti) = lab_with_work();
    // A passkey's relying party is a name: the browser goes to localhost.
    let (_d, origin) = passkey_daemon(&lab);
    let t = token(&lab, "alice", "1h");
    let adopted = browser::shots().join("passkey-adopted");
    let _ = std::fs::remove_file(&adopted);
    // The page wrote the passkey into the key registry's files: the
    // operators adopt it from their terminals (alice proposes, bob too),
    // then tell the page.
    let seen = browser::run(
        "passkey.mjs",
        &[&origin, &t, &jti],
        "passkey-registered",
        |fingerprint| {
            let file = std::fs::read_to_string(lab.path("keys/alice.passkeys.json")).unwrap();
            assert!(file.contains("\"phone\""), "{file}");
            assert_eq!(fingerprint.len(), 16, "{fingerprint}");
            let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
            let id = p["proposal"].as_str().unwrap();
            let p = lab.json(&["adopt", "--approve", id, "--as", "bob", "--yes", "--json"]);
            assert_eq!(p["adopted"], true, "{p}");
            std::fs::write(&adopted, "adopted").unwrap();
        },
    );
    assert_eq!(seen["final"], "succeeded", "{seen}");
    // The ledger proves the approval and names the passkey (once the
    // daemon's checkpointer, which signs within a second, covers it).
    let end = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let entries = loop {
        let proofs = lab.ok(&["ledger", "prove", &jti, "--json"]);
        if proofs.contains("op.approval") || std::time::Instant::now() > end {
            break proofs;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert!(entries.contains("op.approval"), "{entries}");
    assert!(entries.contains("passkey"), "{entries}");
    let refused: serde_json::Value =
        serde_json::from_str(&lab.ok(&["ops", "rejections", "--json"])).unwrap();
    assert!(refused.to_string().contains("signature"), "{refused}");
    browser::saved(&[
        "passkey-registered.png",
        "passkey-refused.png",
        "passkey-approved.png",
    ]);
}

#[test]
fn passkey_calls_need_an_operators_session_json_and_the_dashboards_origin() {
    let (lab, jti) = lab_with_work();
    let (d, origin) = passkey_daemon(&lab);
    let json = ("Content-Type", "application/json");
    let post = |path: &str, headers: &[(&str, &str)], body: &str| {
        request(&d.tcp, "POST", path, headers, Some(body))
    };
    let start = "/passkeys/register/start";
    let label = r#"{"label":"phone"}"#;
    // No session: refused, whoever asks.
    let a = post(start, &[json], label);
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.body.contains("\"check\":\"token\""), "{}", a.body);
    let alice = format!("bosun_session={}", token(&lab, "alice", "1h"));
    let claude = format!("bosun_session={}", token(&lab, "claude", "1h"));
    // A form post (what a cross-site page can send) is not JSON: refused.
    let a = post(
        start,
        &[
            ("Cookie", &alice),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "label=phone",
    );
    assert_eq!(a.status, 415, "{}", a.body);
    // Another origin: refused, naming the check.
    let a = post(
        start,
        &[("Cookie", &alice), json, ("Origin", "https://evil.example")],
        label,
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("passkey_origin"), "{}", a.body);
    // An agent cannot register a passkey, and its page says why.
    let a = post(
        start,
        &[("Cookie", &claude), json, ("Origin", &origin)],
        label,
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("only operators hold passkeys"),
        "{}",
        a.body
    );
    let a = request(&d.tcp, "GET", "/passkeys", &[("Cookie", &claude)], None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("only operators hold passkeys"),
        "{}",
        a.body
    );
    // Nor ask to approve with one.
    let a = post(
        &format!("/ops/{jti}/passkey/start"),
        &[("Cookie", &claude), json],
        "{}",
    );
    assert_eq!(a.status, 403, "{}", a.body);
    // An operator gets creation options bound to this origin's name,
    // with user verification required.
    let a = post(
        start,
        &[("Cookie", &alice), json, ("Origin", &origin)],
        label,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let o: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(o["options"]["publicKey"]["rp"]["id"], "localhost", "{o}");
    assert_eq!(
        o["options"]["publicKey"]["authenticatorSelection"]["userVerification"], "required",
        "{o}"
    );
    // A bad label, a made-up ticket: refused; nothing is written.
    let a = post(start, &[("Cookie", &alice), json], r#"{"label":"../x"}"#);
    assert_eq!(a.status, 400, "{}", a.body);
    let a = post(
        "/passkeys/register/finish",
        &[("Cookie", &alice), json],
        r#"{"ticket":"nope","credential":{}}"#,
    );
    assert_eq!(a.status, 409, "{}", a.body);
    let a = post(
        "/passkeys/register/finish",
        &[("Cookie", &alice), json],
        &format!(
            r#"{{"ticket":"{}","credential":{{"id":"x"}}}}"#,
            o["ticket"].as_str().unwrap()
        ),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(!lab.path("keys/alice.passkeys.json").exists());
    // alice holds no adopted passkey yet: asking to approve says so.
    let a = post(
        &format!("/ops/{jti}/passkey/start"),
        &[("Cookie", &alice), json],
        "{}",
    );
    assert!(a.status >= 400, "{}", a.body);
    assert!(a.body.contains("holds no passkey"), "{}", a.body);
}

/// `rollout status pkg --json` once `done` says so (the daemon runs the
/// waves), within 30 s.
fn rollout_when(lab: &Lab, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let st = lab.json(&["rollout", "status", "pkg", "--json"]);
        if done(&st) {
            return st;
        }
        assert!(std::time::Instant::now() < end, "{st}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn an_operator_watches_a_rollout_mid_way_in_a_real_browser() {
    if !browser::available() {
        return;
    }
    let lab = common::rollout::rollout_lab(common::rollout::TWO_WAVES);
    // web-2 will fail its probe bar.
    std::fs::create_dir_all(lab.path(".bosun/sim/web-2")).unwrap();
    std::fs::write(lab.path(".bosun/sim/web-2/broken"), "").unwrap();
    let d = daemon(&lab);
    let Target::Tcp(addr) = &d.tcp else {
        panic!("no TCP listener")
    };
    let approve = |v: &serde_json::Value| {
        if v["state"] == "pending_approval" {
            lab.ok(&[
                "approve",
                "--yes",
                v["jti"].as_str().unwrap(),
                "--as",
                "bob",
            ]);
        }
    };
    let w0 = lab.json(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    approve(&w0);
    rollout_when(&lab, |st| st["runs"][0]["status"] == "passed");
    // Between the waves the page is open; promoted from a terminal.
    let base = format!("http://{addr}");
    let t = token(&lab, "alice", "1h");
    browser::run("rollout.mjs", &[&base, &t], "rollout-ready", |_| {
        let w1 = lab.json(&["rollout", "promote", "pkg", "--as", "alice", "--json"]);
        approve(&w1);
    });
    let st = rollout_when(&lab, |st| {
        st["runs"].as_array().unwrap().last().unwrap()["status"] == "halted"
    });
    assert!(st["summary"].as_str().is_some(), "{st}");
    browser::saved(&[
        "rollout-canary.png",
        "rollout-halted.png",
        "rollout-blocker.png",
    ]);
}
