//! The CLI as a client of the daemon (`BOSUN_URL`): the verbs that talk to
//! it say the same, with the same exit statuses, as when they open the
//! workspace themselves — over the Unix socket and over loopback TCP
//! (with a token the CLI signs for `BOSUN_AS`). Keys stay with the CLI:
//! the daemon plans, the CLI signs, the daemon's intake decides.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use common::api::daemon;

use common::api::{json_of as json, run_at as run, url};

/// claude's pkg-upgrade 2.0 on `host` submitted through `url` (None:
/// embedded): its id.
fn submit_upgrade(lab: &Lab, url: Option<&str>, host: &str) -> String {
    let o = run(
        lab,
        url,
        None,
        &[
            "submit",
            "pkg-upgrade",
            "-t",
            host,
            "-p",
            "version=2.0",
            "--as",
            "claude",
            "--json",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    json(&o)["jti"].as_str().unwrap().to_string()
}

/// The overview without the lease's expiry, which a renewal moves.
fn steady(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(c) = v.get_mut("controller").and_then(|c| c.as_object_mut()) {
        c.remove("expires_at");
    }
    v
}

#[test]
fn the_verbs_say_the_same_in_both_modes() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let unix = url(&d.unix);
    let tcp = url(&d.tcp);

    // Submitted through the socket: the daemon plans, the CLI signs.
    let s = run(
        &lab,
        Some(&unix),
        None,
        &[
            "submit",
            "pkg-upgrade",
            "-t",
            "web-1",
            "-p",
            "version=2.0",
            "--as",
            "claude",
            "--json",
        ],
    );
    assert!(s.status.success(), "{s:?}");
    let sub = json(&s);
    assert_eq!(sub["decision"], "pending_approval", "{sub}");
    assert_eq!(sub["state"], "pending_approval", "{sub}");
    let jti = sub["jti"].as_str().unwrap().to_string();
    // And through TCP, a second op of the same issuer (its next seq).
    let s = run(
        &lab,
        Some(&tcp),
        Some("claude"),
        &[
            "submit",
            "pkg-upgrade",
            "-t",
            "web-2",
            "-p",
            "version=2.0",
            "--as",
            "claude",
            "-q",
        ],
    );
    assert!(s.status.success(), "{s:?}");

    // Reads: the same JSON embedded, over the socket, over TCP.
    for args in [
        &["ops", "list", "--json"][..],
        &["ops", "show", &jti, "--json"][..],
    ] {
        let here = run(&lab, None, None, args);
        let sock = run(&lab, Some(&unix), None, args);
        let net = run(&lab, Some(&tcp), Some("alice"), args);
        assert!(
            here.status.success() && sock.status.success() && net.status.success(),
            "{args:?}: {sock:?} {net:?}"
        );
        assert_eq!(json(&here), json(&sock), "{args:?} over the socket");
        assert_eq!(json(&here), json(&net), "{args:?} over TCP");
    }
    let here = steady(json(&run(&lab, None, None, &["status", "--json"])));
    let sock = steady(json(&run(&lab, Some(&unix), None, &["status", "--json"])));
    assert_eq!(here, sock);
    assert_eq!(here["pending_approval"].as_array().unwrap().len(), 2);

    // Human output says which mode it is in.
    let h = run(&lab, Some(&tcp), Some("claude"), &["status"]);
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(
        text.contains(&format!("mode       client of {tcp}")),
        "{text}"
    );
    let h = run(&lab, None, None, &["status"]);
    assert!(String::from_utf8_lossy(&h.stdout).contains("mode       embedded"));

    // The same exit statuses: a replayed envelope is refused (3) in both.
    let env = run(
        &lab,
        Some(&unix),
        None,
        &[
            "submit",
            "pkg-upgrade",
            "-t",
            "canary-1",
            "-p",
            "version=2.1",
            "--as",
            "claude",
            "--sign-only",
        ],
    );
    assert!(env.status.success(), "{env:?}");
    let file = lab.tmp.path().join("op.jws");
    std::fs::write(&file, &env.stdout).unwrap();
    let f = file.to_str().unwrap();
    let first = run(
        &lab,
        Some(&unix),
        None,
        &["submit", "--envelope", f, "--json"],
    );
    assert!(first.status.success(), "{first:?}");
    for u in [None, Some(unix.as_str())] {
        let again = run(&lab, u, None, &["submit", "--envelope", f, "--json"]);
        assert_eq!(again.status.code(), Some(3), "{u:?}: {again:?}");
        assert_eq!(json(&again)["check"], "replay", "{u:?}");
    }
    // A plan that cannot be made is an error (1) in both.
    for u in [None, Some(unix.as_str())] {
        let o = run(
            &lab,
            u,
            None,
            &["submit", "no-such-runbook", "-t", "web-1", "--as", "claude"],
        );
        assert_eq!(o.status.code(), Some(1), "{u:?}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no-such-runbook"),
            "{o:?}"
        );
    }
}

#[test]
fn a_client_cannot_read_over_tcp_without_a_token_nor_work_the_daemons_queue() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let tcp = url(&d.tcp);
    let o = run(&lab, Some(&tcp), None, &["ops", "list", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(json(&o)["check"], "token");
    // A key that is not an adopted identity signs no usable token.
    lab.ok(&["key", "new", "mallory", "--role", "agent"]);
    let o = run(
        &lab,
        Some(&tcp),
        Some("mallory"),
        &["ops", "list", "--json"],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(json(&o)["check"], "unknown_key");
    // The daemon's own work is not done here behind its back.
    let o = run(&lab, Some(&url(&d.unix)), None, &["work", "--until-idle"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("runs the controller"),
        "{o:?}"
    );
    // A bad URL is named.
    let o = run(&lab, Some("ftp://x"), None, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("BOSUN_URL"),
        "{o:?}"
    );
    // https:// to a plain-HTTP listener: said, with what to use.
    let https = tcp.replacen("http://", "https://", 1);
    let o = run(&lab, Some(&https), None, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("serving plain HTTP"),
        "{o:?}"
    );
    // Nothing listens: said plainly.
    let o = run(
        &lab,
        Some("unix:///nonexistent/bosun.sock"),
        None,
        &["status"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot connect"),
        "{o:?}"
    );
}

/// A daemon that answers every request with `body` (status 200) and
/// records the request lines it got.
fn fake_daemon(body: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    fake_daemon_by(move |_| body.clone())
}

/// A daemon that answers each request with `answer(request line)` (status
/// 200) and records the request lines it got.
fn fake_daemon_by(
    answer: impl Fn(&str) -> String + Send + 'static,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            log.lock().unwrap().push(line.trim().to_string());
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut b = vec![0; len];
            r.read_exact(&mut b).unwrap();
            let body = answer(line.trim());
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

/// claude signs pkg-upgrade 2.0 on web-1, printing the envelope.
const SIGN_UPGRADE: &[&str] = &[
    "submit",
    "pkg-upgrade",
    "-t",
    "web-1",
    "-p",
    "version=2.0",
    "--as",
    "claude",
    "--sign-only",
];

#[test]
fn the_cli_signs_only_the_plan_it_asked_for() {
    let lab = Lab::new();
    // A real plan of what is asked, from the real daemon.
    let d = daemon(&lab);
    let real = common::http::post(
        &d.unix,
        "/api/v1/plan",
        r#"{"runbook": "pkg-upgrade", "targets": ["web-1"], "params": {"version": "2.0"}, "issuer": "claude", "whole": true}"#,
    );
    assert_eq!(real.status, 200, "{}", real.body);
    let real = real.json();
    let planned = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut p = real.clone();
        edit(&mut p);
        p.to_string()
    };
    // The real answer itself is signed.
    let (url, _) = fake_daemon(planned(&|_| {}));
    let o = run(&lab, Some(&url), None, SIGN_UPGRADE);
    assert!(o.status.success(), "{o:?}");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "another runbook",
            Box::new(|p| p["runbook"] = "disk-usage".into()),
        ),
        (
            "another param value",
            Box::new(|p| p["params"]["version"] = "0.9.8-evil".into()),
        ),
        (
            "more hosts",
            Box::new(|p| p["targets"] = serde_json::json!(["web-1", "web-2", "canary-1"])),
        ),
        (
            "another workspace",
            Box::new(|p| p["workspace"] = "elsewhere".into()),
        ),
        (
            "a sequence number that ends the issuer",
            Box::new(|p| p["next_seq"] = serde_json::json!(9223372036854775807u64)),
        ),
        (
            "an op that never expires",
            Box::new(|p| p["op_ttl_secs"] = serde_json::json!(i64::MAX)),
        ),
        (
            "a plan whole of another digest",
            Box::new(|p| p["whole"]["params"]["version"] = "0.9.8-evil".into()),
        ),
        (
            "a digest of another plan",
            Box::new(|p| {
                p["plan_digest"] =
                    "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                        .into();
            }),
        ),
        (
            "no plan whole",
            Box::new(|p| p["whole"] = serde_json::Value::Null),
        ),
    ];
    for (what, edit) in cases {
        let (url, seen) = fake_daemon(planned(edit.as_ref()));
        let o = run(
            &lab,
            Some(&url),
            None,
            &[
                "submit",
                "pkg-upgrade",
                "-t",
                "web-1",
                "-p",
                "version=2.0",
                "--as",
                "claude",
                "--sign-only",
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {o:?}");
        assert!(o.stdout.is_empty(), "{what}: something was signed: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("not what was asked") && err.contains("nothing was signed"),
            "{what}: {err}"
        );
        assert!(
            seen.lock()
                .unwrap()
                .iter()
                .all(|l| !l.starts_with("POST /api/v1/ops")),
            "{what}"
        );
    }
    // Plain http off loopback is refused before anything is sent.
    let o = run(&lab, Some("http://192.0.2.1:7411"), None, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("loopback"),
        "{o:?}"
    );
}

/// `approve` and `deny` over the daemon: the op the daemon holds is shown
/// with its plan digest, the answer is signed here; an agent's approval is
/// refused with the same exit status and check as embedded, and changes
/// nothing; a denial needs its reason and is recorded with it.
#[test]
fn approve_and_deny_talk_to_the_daemon_and_refuse_as_embedded() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let unix = url(&d.unix);
    let tcp = url(&d.tcp);
    let a = submit_upgrade(&lab, Some(&unix), "web-1");
    let b = submit_upgrade(&lab, Some(&unix), "web-2");

    // An agent cannot approve, remotely as embedded: the same refusal.
    let agent = ["approve", a.as_str(), "--as", "claude", "--yes", "--json"];
    let here = run(&lab, None, None, &agent);
    let there = run(&lab, Some(&tcp), Some("claude"), &agent);
    assert_eq!(here.status.code(), Some(3), "{here:?}");
    assert_eq!(there.status.code(), Some(3), "{there:?}");
    assert_eq!(json(&here)["check"], json(&there)["check"]);
    assert_eq!(lab.state(&a), "pending_approval");

    // Without a terminal nothing is signed unless --yes.
    let asked = run(&lab, Some(&unix), None, &["approve", &a, "--as", "alice"]);
    assert_eq!(asked.status.code(), Some(1), "{asked:?}");
    assert!(String::from_utf8_lossy(&asked.stderr).contains("nothing was signed"));
    assert_eq!(lab.state(&a), "pending_approval");

    // The operator approves over TCP: the plan digest is shown first.
    let o = run(
        &lab,
        Some(&tcp),
        Some("alice"),
        &["approve", &a, "--as", "alice", "--yes"],
    );
    assert!(o.status.success(), "{o:?}");
    let shown = String::from_utf8_lossy(&o.stdout);
    let digest = lab.json(&["ops", "show", &a, "--json"])["plan_digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(shown.contains(&digest), "{shown}");
    assert!(shown.contains("approved"), "{shown}");
    assert_ne!(lab.state(&a), "pending_approval");

    // A denial over the socket, with its reason.
    let o = run(
        &lab,
        Some(&unix),
        None,
        &[
            "deny",
            &b,
            "--why",
            "not today",
            "--as",
            "alice",
            "--yes",
            "--json",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(json(&o)["state"], "denied");
    let shown = lab.json(&["ops", "show", &b, "--json"]);
    assert_eq!(shown["approvals"][0]["reason"], "not today", "{shown}");
    // Approving what is denied: refused (3) as embedded.
    let late = run(
        &lab,
        Some(&unix),
        None,
        &["approve", &b, "--as", "alice", "--yes", "--json"],
    );
    assert_eq!(late.status.code(), Some(3), "{late:?}");
}

/// `hosts status`, `runbook list`/`show`, `halt`, `resume` and `step
/// report` over the daemon say
/// what they say embedded: the same JSON and lines, the same refusals.
#[test]
fn halt_resume_hosts_and_step_reports_talk_to_the_daemon() {
    let lab = Lab::new_with(|lab| {
        lab.write(
            "runbooks/with-look.toml",
            "id = \"with-look\"\n[[steps]]\nid = \"prep\"\ncmd = \"echo prepared\"\n\
             [[steps]]\nid = \"look\"\nactor = \"human\"\nnote = \"look at it\"\n\
             depends_on = [{ step = \"prep\" }]\n",
        );
    });
    let d = daemon(&lab);
    let unix = url(&d.unix);
    let tcp = url(&d.tcp);

    for args in [
        &["hosts", "status", "--json"][..],
        &["hosts", "status"][..],
        &["runbook", "list"][..],
        &["runbook", "list", "--json"][..],
        &["runbook", "show", "pkg-upgrade"][..],
        &["runbook", "show", "with-look", "--json"][..],
    ] {
        let here = run(&lab, None, None, args);
        let there = run(&lab, Some(&tcp), Some("alice"), args);
        assert!(here.status.success() && there.status.success(), "{there:?}");
        assert_eq!(here.stdout, there.stdout, "{args:?}");
    }

    // Halt (an agent may), then resume (an operator must), over the daemon.
    let h = run(
        &lab,
        Some(&unix),
        None,
        &["halt", "--why", "disk alarms", "--as", "claude", "--json"],
    );
    assert!(h.status.success(), "{h:?}");
    let v = json(&h);
    assert_eq!(v["halted"], true);
    assert_eq!(v["by"], "claude");
    assert_eq!(v["in_flight"], serde_json::json!([]));
    let st = json(&run(&lab, None, None, &["status", "--json"]));
    assert_eq!(st["halt"]["why"], "disk alarms", "{st}");
    let agent = run(
        &lab,
        Some(&tcp),
        Some("claude"),
        &["resume", "--as", "claude"],
    );
    let here = run(&lab, None, None, &["resume", "--as", "claude"]);
    assert_eq!(agent.status.code(), Some(3), "{agent:?}");
    assert_eq!(here.status.code(), agent.status.code());
    assert_eq!(agent.stdout, here.stdout);
    let r = run(
        &lab,
        Some(&tcp),
        Some("alice"),
        &["resume", "--as", "alice"],
    );
    assert!(r.status.success(), "{r:?}");
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "resumed: dispatch continues\n"
    );
    let again = run(&lab, Some(&unix), None, &["resume", "--as", "alice"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("not halted"));

    // A human step, reported over the daemon once the daemon's controller
    // waits on it; an agent may not report a human step.
    let o = run(
        &lab,
        Some(&unix),
        None,
        &[
            "submit",
            "with-look",
            "-t",
            "web-1",
            "--as",
            "claude",
            "--json",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let jti = json(&o)["jti"].as_str().unwrap().to_string();
    let o = run(
        &lab,
        Some(&unix),
        None,
        &["approve", &jti, "--as", "alice", "--yes"],
    );
    assert!(o.status.success(), "{o:?}");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lab
        .json(&["ops", "show", &jti, "--json"])
        .to_string()
        .contains("report_step")
    {
        assert!(
            std::time::Instant::now() < end,
            "the run never waited on `look`"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let report = [
        "step",
        "report",
        &jti[..12],
        "look",
        "--status",
        "pass",
        "--json",
    ];
    let mut as_agent = report.to_vec();
    as_agent.extend(["--as", "claude"]);
    let o = run(&lab, Some(&unix), None, &as_agent);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let mut as_alice = report.to_vec();
    as_alice.extend(["--as", "alice"]);
    let o = run(&lab, Some(&tcp), Some("alice"), &as_alice);
    assert!(o.status.success(), "{o:?}");
    let v = json(&o);
    assert_eq!(v["jti"], jti.as_str(), "{v}");
    assert_eq!(v["hosts"], serde_json::json!(["web-1"]), "{v}");
    assert_eq!(v["status"], "pass", "{v}");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lab.state(&jti) != "succeeded" {
        assert!(std::time::Instant::now() < end, "{}", lab.state(&jti));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `state_dir` in bosun.toml moves the state out of the workspace: the
/// state of an embedded workspace moved there (as docs/deploy.md says)
/// is the same state — ops, ledger — and `serve` puts its socket there
/// and refuses it when others may enter it.
#[test]
fn state_dir_moves_the_state_and_serve_guards_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let lab = Lab::new();
    let jti = submit_upgrade(&lab, None, "web-1");
    let state = lab.tmp.path().join("var-lib-bosun");
    std::fs::rename(lab.path(".bosun"), &state).unwrap();
    let toml = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
    lab.write(
        "bosun.toml",
        &format!("state_dir = {:?}\n{toml}", state.to_str().unwrap()),
    );
    assert_eq!(lab.state(&jti), "pending_approval");
    assert!(!lab.path(".bosun/bosun.db").exists());
    let (ok, v) = lab.ledger_verify(&[]);
    assert!(ok, "{v}");

    let d = daemon(&lab);
    assert!(
        state.join("bosun.sock").exists(),
        "the socket is in the state dir"
    );
    let sock = format!("unix://{}", state.join("bosun.sock").display());
    let o = run(&lab, Some(&sock), None, &["ops", "list", "--json"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(json(&o)[0]["jti"], jti.as_str());
    drop(d);

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = lab.run(&["serve", "--no-wait"]);
    assert!(!o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(state.to_str().unwrap()), "{err}");

    // A state_dir that is no path is refused with where it is.
    lab.write("bosun.toml", &format!("state_dir = \"  \"\n{toml}"));
    let o = lab.run(&["ops", "list"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bosun.toml:1") && err.contains("state_dir"),
        "{err}"
    );
}

/// `approve` over a daemon that lies: the plan it shows must hash to the
/// digest the op signed, and the op must be the one asked for, or nothing
/// is signed — so an agent answering at `BOSUN_URL` cannot show a human
/// one plan and have them approve another.
#[test]
fn approve_signs_only_the_plan_it_showed() {
    let lab = Lab::new();
    let d = daemon(&lab);
    let jti = submit_upgrade(&lab, Some(&url(&d.unix)), "web-1");
    let get = |path: &str| {
        let a = common::http::get(&d.unix, path, None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.json()
    };
    let info = get("/api/v1/info");
    let view = get(&format!("/api/v1/ops/{jti}/consent"));
    let plan = get(&format!("/api/v1/ops/{jti}/plan"));
    let liar = |view: serde_json::Value, plan: serde_json::Value| {
        let (info, view, plan) = (info.to_string(), view.to_string(), plan.to_string());
        fake_daemon_by(move |line| {
            if line.contains("/plan ") {
                plan.clone()
            } else if line.contains("/ops/") {
                view.clone()
            } else {
                info.clone()
            }
        })
    };
    let approve = |url: &str| {
        run(
            &lab,
            Some(url),
            None,
            &[
                "approve",
                &jti[..10],
                "--as",
                "alice",
                "--yes",
                "--sign-only",
            ],
        )
    };
    // The truth, relayed: signed.
    let (u, _) = liar(view.clone(), plan.clone());
    let o = approve(&u);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim().split('.').count(),
        3
    );
    // A plan other than the one the op signed (a param changed): refused.
    let mut other = plan.clone();
    other["params"]["version"] = "0.9.8-evil".into();
    let (u, seen) = liar(view.clone(), other);
    let o = approve(&u);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty(), "something was signed: {o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing was signed"),
        "{o:?}"
    );
    assert!(seen.lock().unwrap().iter().all(|l| !l.starts_with("POST")));
    // Another op than the one asked for: refused.
    let mut elsewhere = view.clone();
    elsewhere["op"]["jti"] = "0000000000000000000000000000".into();
    let (u, _) = liar(elsewhere, plan);
    let o = approve(&u);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty(), "something was signed: {o:?}");
    // A consent view that says the op signed another digest than its
    // plan's: refused.
    let mut digest = view.clone();
    digest["op"]["plan_digest"] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".into();
    let (u, _) = liar(digest, get(&format!("/api/v1/ops/{jti}/plan")));
    let o = approve(&u);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty(), "something was signed: {o:?}");
}

/// `ledger checkpoints`, `prove` and `consistency` over the daemon read its
/// ledger, and what `prove` prints there verifies offline with the
/// published verifier key; `verify-proof` needs no workspace and works
/// with `BOSUN_URL` set; making a checkpoint is the daemon's, and refused.
#[test]
fn ledger_reads_and_proofs_talk_to_the_daemon() {
    let lab = Lab::busy();
    let d = daemon(&lab);
    let unix = url(&d.unix);
    let tcp = url(&d.tcp);
    for args in [
        &["ledger", "checkpoints", "--json"][..],
        &["ledger", "checkpoints"][..],
    ] {
        let here = run(&lab, None, None, args);
        let there = run(&lab, Some(&tcp), Some("alice"), args);
        assert!(here.status.success() && there.status.success(), "{there:?}");
        assert_eq!(here.stdout, there.stdout, "{args:?}");
    }
    let jti = lab.json(&["ops", "list", "--json"])[0]["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run(&lab, Some(&unix), None, &["ledger", "prove", &jti[..12]]);
    assert!(o.status.success(), "{o:?}");
    let proof = lab.tmp.path().join("proof.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let key = lab.path("keys/ledger.vkey");
    let o = run(
        &lab,
        Some(&unix),
        None,
        &[
            "ledger",
            "verify-proof",
            proof.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ok  entry "));
    let sizes: Vec<u64> = lab
        .json(&["ledger", "checkpoints", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    let from = sizes[0].to_string();
    let o = run(
        &lab,
        Some(&unix),
        None,
        &["ledger", "consistency", "--from", &from, "--json"],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(json(&o).is_object(), "{o:?}");
    let o = run(&lab, Some(&unix), None, &["ledger", "checkpoint"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("the ledger key only it reads"));
}
