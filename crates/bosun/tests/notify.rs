//! Consent reminders against a local HTTP receiver that records what it
//! got: the ladder (at once, then the next rung, nothing in between), the
//! webhook's JSON and ntfy's message, a failing sink reported without
//! stopping the others, and snoozes.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// A tiny HTTP/1.1 server: records each request, answers 200.
fn receiver() -> (u16, Arc<Mutex<Vec<Got>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end().to_string();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                    headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            g.lock().unwrap().push(Got {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
        }
    });
    (port, got)
}

#[test]
fn reminders_climb_the_ladder_through_every_sink() {
    let lab = Lab::new();
    let (port, got) = receiver();
    let dead = common::sshd::closed_port();
    let cfg = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
    lab.write(
        "bosun.toml",
        &format!(
            "{cfg}\n[notify]\nladder = [\"0s\", \"2s\"]\nrepeat = \"1h\"\n[[notify.sink]]\nkind = \"log\"\n[[notify.sink]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n[[notify.sink]]\nkind = \"ntfy\"\nurl = \"http://127.0.0.1:{port}/bosun-topic\"\n[[notify.sink]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{dead}/gone\"\n"
        ),
    );
    // alice's own change waits for another operator.
    let s = lab.json(&[
        "submit",
        "pkg-upgrade",
        "--target",
        "web-1",
        "--param",
        "version=2",
        "--as",
        "alice",
        "--json",
    ]);
    assert_eq!(s["state"], "pending_approval");
    let jti = s["jti"].as_str().unwrap();

    let first = lab.json(&["remind", "--json"]);
    let first = first.as_array().unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        first[0]["reminder"]["subject"],
        format!("op:{jti}:approval")
    );
    assert_eq!(first[0]["reminder"]["n"], 1);
    let errors: Vec<_> = first[0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["error"].is_null())
        .collect();
    assert_eq!(errors.len(), 1, "only the dead sink fails: {first:?}");
    {
        let g = got.lock().unwrap();
        let hook = g
            .iter()
            .find(|r| r.path == "/hook")
            .expect("webhook got it");
        let v: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(v["jti"], jti);
        assert_eq!(v["reminder"], 1);
        assert!(v["next"].as_str().unwrap().contains("bosun approve"), "{v}");
        assert_eq!(v["actions"][0]["action"], "approve", "{v}");
        let ntfy = g
            .iter()
            .find(|r| r.path == "/bosun-topic")
            .expect("ntfy got it");
        assert!(ntfy.body.contains("waits for approval"), "{}", ntfy.body);
        assert!(
            ntfy.headers.iter().any(|(k, _)| k == "title"),
            "{:?}",
            ntfy.headers
        );
    }
    // Not due again until the next rung.
    assert_eq!(lab.json(&["remind", "--json"]).as_array().unwrap().len(), 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let second = lab.json(&["remind", "--json"]);
    assert_eq!(second[0]["reminder"]["n"], 2, "{second}");
    // The ladder is done; the repeat is an hour away.
    assert_eq!(lab.json(&["remind", "--json"]).as_array().unwrap().len(), 0);

    // A blocker is reminded to its owner at once, unless snoozed.
    let b = lab.json(&[
        "blockers",
        "file",
        "regression",
        "web-2",
        "--reason",
        "r",
        "--owner",
        "bob",
        "--as",
        "alice",
        "--json",
    ]);
    let id = b["id"].as_u64().unwrap().to_string();
    lab.ok(&["snooze", &id, "--for", "1h", "--as", "bob"]);
    assert_eq!(lab.json(&["remind", "--json"]).as_array().unwrap().len(), 0);
    let listed = lab.json(&["blockers", "list", "--json"]);
    assert!(listed[0]["snoozed_until"].is_string(), "{listed}");
    // Snoozing an op by its jti; an agent may not snooze.
    assert!(
        !lab.run(&["snooze", jti, "--for", "1h", "--as", "claude"])
            .status
            .success()
    );
    lab.ok(&["snooze", jti, "--for", "1h", "--as", "bob"]);
    let ledger = lab.ok(&["ops", "show", jti]);
    assert!(!ledger.is_empty());
}

#[test]
fn bad_notify_config_is_refused_with_its_line() {
    let lab = Lab::new();
    let cfg = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
    lab.write(
        "bosun.toml",
        &format!("{cfg}\n[notify]\nladder = [\"1h\", \"5m\"]\n"),
    );
    let o = lab.run(&["remind"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bosun.toml:") && err.contains("5m"), "{err}");
}

#[test]
fn a_wait_that_began_long_ago_gets_one_reminder_not_a_burst() {
    let lab = Lab::new();
    let cfg = std::fs::read_to_string(lab.path("bosun.toml")).unwrap();
    lab.write(
        "bosun.toml",
        &format!("{cfg}\n[notify]\nladder = [\"0s\", \"1s\", \"2s\"]\nrepeat = \"1h\"\n"),
    );
    lab.json(&[
        "submit",
        "pkg-upgrade",
        "--target",
        "web-1",
        "--param",
        "version=2",
        "--as",
        "alice",
        "--json",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let sent = lab.json(&["remind", "--json"]);
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0]["reminder"]["n"], 3,
        "straight to the rung that is due"
    );
    assert_eq!(lab.json(&["remind", "--json"]).as_array().unwrap().len(), 0);
}
