//! The CLI as a client of the daemon (`BOSUN_URL`): the verbs that talk to
//! it say the same, with the same exit statuses, as when they open the
//! workspace themselves — over the Unix socket and over loopback TCP
//! (with a token the CLI signs for `BOSUN_AS`). Keys stay with the CLI:
//! the daemon plans, the CLI signs, the daemon's intake decides.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use common::http::{Target, daemon};

fn url(t: &Target) -> String {
    match t {
        Target::Unix(p) => format!("unix://{}", p.display()),
        Target::Tcp(a) => format!("http://{a}"),
    }
}

/// `bosun args` against `url` (None: embedded), as `as_` for TCP tokens.
fn run(lab: &Lab, url: Option<&str>, as_: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = lab.cmd(args);
    c.env_remove("BOSUN_URL")
        .env_remove("BOSUN_AS")
        .env_remove("BOSUN_TOKEN");
    if let Some(u) = url {
        c.env("BOSUN_URL", u);
    }
    if let Some(a) = as_ {
        c.env("BOSUN_AS", a);
    }
    c.output().unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
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
fn a_client_cannot_read_over_tcp_without_a_token_nor_do_what_is_not_built() {
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
    // Verbs that do not talk to a daemon yet say so instead of opening
    // the workspace behind the user's back.
    let o = run(
        &lab,
        Some(&url(&d.unix)),
        None,
        &["approve", "0123456789", "--as", "alice", "--yes"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not talk to a daemon yet"),
        "{o:?}"
    );
    // A bad URL is named.
    let o = run(&lab, Some("ftp://x"), None, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("BOSUN_URL"),
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
