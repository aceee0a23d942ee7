//! The dashboard: its pages over HTTP (sign-in by token, the session
//! cookie, the security headers, the Unix socket trusted by its
//! permissions) and in a real headless Chromium (Debian's) driven by
//! playwright-core (`tests/browser/dashboard.mjs`): sign in, the overview,
//! a pending op's page with its plan and the exact approve command,
//! nothing a param wrote running as script, a phone's width. Screenshots
//! land in `target/browser/` (CI keeps them as artifacts).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use common::api::{daemon, token};
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
    for path in ["/".to_string(), format!("/ops/{jti}")] {
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
    // The stylesheet is the binary's own.
    let a = request(&d.tcp, "GET", "/static/bosun.css", &[], None);
    assert_eq!(a.status, 200);
    assert!(a.body.contains("prefers-color-scheme: dark"));
}

/// Where `npm ci` put playwright-core (`scripts/test-deps.sh`), and
/// Debian's Chromium.
fn browser() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/browser/dashboard.mjs");
    let module = root.join("tests/browser/node_modules/playwright-core");
    let chromium = std::path::PathBuf::from("/usr/bin/chromium");
    (module.exists() && chromium.exists()).then_some((script, chromium))
}

#[test]
fn an_operator_reads_the_dashboard_in_a_real_browser() {
    let Some((script, chromium)) = browser() else {
        // CI installs both (scripts/test-deps.sh); say so loudly there.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium and tests/browser/node_modules (scripts/test-deps.sh)"
        );
        eprintln!(
            "skipped: no Chromium or playwright-core here (scripts/test-deps.sh installs them)"
        );
        return;
    };
    let (lab, _jti) = lab_with_work();
    let d = daemon(&lab);
    let Target::Tcp(addr) = &d.tcp else {
        panic!("no TCP listener")
    };
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser");
    std::fs::create_dir_all(&shots).unwrap();
    let t = token(&lab, "alice", "1h");
    let o = std::process::Command::new("node")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(&t)
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(seen["state"], "pending approval", "{seen}");
    for png in ["overview.png", "op.png", "overview-phone.png"] {
        let len = std::fs::metadata(shots.join(png)).unwrap().len();
        assert!(len > 10_000, "{png}: {len} bytes");
    }
}
