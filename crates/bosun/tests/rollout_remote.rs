//! The rollout verbs that submit an op (`start`, `promote`, `retry`,
//! `drill`, `rollback`) as a client of a real `bosun serve`: the daemon
//! decides the op, the CLI signs it with a key the daemon never sees, the
//! daemon takes it only when it is still that op. They print what the
//! embedded verbs print, with the same exit statuses; an envelope for
//! another wave, action, start or hosts, or with no valid signature, is
//! refused with its check named and changes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::Lab;
use common::api::{daemon, url};
use common::http::{self, Target};

const PKG: &str = r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
rollback = "rollback-pkg"

[[waves]]
name = "canary"
hosts = "tag:canary"
bars = [{ kind = "version", cmd = "cat version", expect = "{{ params.version }}" }]

[[waves]]
name = "rest"
hosts = "tag:web"
"#;

fn rollout_lab() -> Lab {
    common::rollout::rollout_lab(PKG)
}

/// `bosun args` against `url` (None: embedded).
fn run(lab: &Lab, url: Option<&str>, args: &[&str]) -> std::process::Output {
    common::api::run_at(lab, url, None, args)
}

/// Text with every op id (32 hex digits) blanked.
fn blank_ids(s: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() == 32 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("<jti>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The op id a verb's output names (its `-q`, `--json` or text output).
fn op_of(out: &str) -> String {
    out.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 32 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no op id in {out}"))
        .to_string()
}

/// Approves op `jti` as bob if it waits for a human (through `url`),
/// then waits until it ran: `work` embedded, the daemon's controller
/// remotely.
fn approve_and_run(lab: &Lab, url: Option<&str>, jti: &str) {
    if lab.state(jti) == "pending_approval" {
        let o = run(lab, url, &["approve", jti, "--as", "bob", "--yes"]);
        assert!(o.status.success(), "{o:?}");
    }
    if url.is_none() {
        lab.work();
    }
    wait_for_state(lab, jti, "succeeded");
}

/// Waits until op `jti` is in `state`.
fn wait_for_state(lab: &Lab, jti: &str, state: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while lab.state(jti) != state {
        assert!(
            Instant::now() < end,
            "op {jti} is {}: {}",
            lab.state(jti),
            lab.ok(&["ops", "show", jti])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `args` embedded on `here` and through the daemon at `url` on
/// `there`: the same exit status, the same stdout and the same first
/// line of stderr (op ids blanked). Returns the remote output.
fn same(here: &Lab, there: &Lab, url: &str, args: &[&str]) -> (String, String) {
    let e = run(here, None, args);
    let r = run(there, Some(url), args);
    let text = |o: &std::process::Output| {
        (
            blank_ids(&String::from_utf8_lossy(&o.stdout)),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (e_out, e_err) = text(&e);
    let (r_out, r_err) = text(&r);
    assert_eq!(
        e.status.code(),
        r.status.code(),
        "bosun {args:?}: embedded {e_out}{e_err}\nremote {r_out}{r_err}"
    );
    assert_eq!(e_out, r_out, "bosun {args:?}: stdout differs");
    let first_error = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("error:"))
            .map(blank_ids)
            .unwrap_or_default()
    };
    assert_eq!(
        first_error(&e_err),
        first_error(&r_err),
        "bosun {args:?}: the error differs"
    );
    (
        String::from_utf8_lossy(&e.stdout).into_owned(),
        String::from_utf8_lossy(&r.stdout).into_owned(),
    )
}

#[test]
fn every_verb_through_the_daemon_says_what_it_says_embedded() {
    let here = rollout_lab();
    let there = rollout_lab();
    let d = daemon(&there);
    let u = url(&d.unix);
    let u = u.as_str();

    // Refusals first: nothing started, nothing to promote.
    let (_, _) = same(
        &here,
        &there,
        u,
        &["rollout", "promote", "pkg", "--as", "alice"],
    );
    let (_, _) = same(
        &here,
        &there,
        u,
        &["rollout", "start", "nope", "--as", "alice"],
    );

    let (e, r) = same(
        &here,
        &there,
        u,
        &["rollout", "start", "pkg", "--as", "alice"],
    );
    assert!(e.contains("canary wave submitted"), "{e}");
    // Still pending: no promotion, no retry, no drill, both ways alike.
    for verb in ["promote", "retry", "drill"] {
        let o = run(&there, Some(u), &["rollout", verb, "pkg", "--as", "alice"]);
        assert_eq!(o.status.code(), Some(1), "{verb}: {o:?}");
        same(&here, &there, u, &["rollout", verb, "pkg", "--as", "alice"]);
    }
    approve_and_run(&here, None, &op_of(&e));
    approve_and_run(&there, Some(u), &op_of(&r));

    let (e, r) = same(
        &here,
        &there,
        u,
        &["rollout", "drill", "pkg", "--as", "alice", "--json"],
    );
    approve_and_run(&here, None, &op_of(&e));
    approve_and_run(&there, Some(u), &op_of(&r));
    assert_eq!(
        std::fs::read_to_string(there.path(".bosun/sim/canary-1/version")).unwrap(),
        "old\n",
        "the drill ran on the daemon's canary"
    );

    let (e, r) = same(
        &here,
        &there,
        u,
        &["rollout", "retry", "pkg", "--as", "alice", "-q"],
    );
    approve_and_run(&here, None, &op_of(&e));
    approve_and_run(&there, Some(u), &op_of(&r));

    let (e, r) = same(
        &here,
        &there,
        u,
        &["rollout", "promote", "pkg", "--as", "alice", "--json"],
    );
    let w1: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(w1["state"], "pending_approval", "{w1}");
    approve_and_run(&here, None, &op_of(&e));
    approve_and_run(&there, Some(u), &op_of(&r));
    for h in ["canary-1", "web-1", "web-2"] {
        assert_eq!(
            std::fs::read_to_string(there.path(&format!(".bosun/sim/{h}/version"))).unwrap(),
            "2.0\n",
            "{h}"
        );
    }

    // Every wave passed: a promote marks the rollout done with a signed
    // statement, which the policy lets operators make, not agents.
    let (_, r) = same(
        &here,
        &there,
        u,
        &["rollout", "promote", "pkg", "--as", "claude"],
    );
    assert!(r.is_empty(), "{r}");
    let o = run(
        &there,
        Some(u),
        &["rollout", "promote", "pkg", "--as", "claude"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("role") && err.contains("rollout_done"),
        "{err}"
    );
    let (_, r) = same(
        &here,
        &there,
        u,
        &["rollout", "promote", "pkg", "--as", "alice"],
    );
    assert_eq!(r, "rollout pkg is done: every wave passed\n");
    let st = there.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["phase"], "done", "{st}");
    same(
        &here,
        &there,
        u,
        &["rollout", "promote", "pkg", "--as", "alice", "--json"],
    );

    // Done, and still rolled back as a whole when asked.
    let (e, r) = same(
        &here,
        &there,
        u,
        &["rollout", "rollback", "pkg", "--as", "alice", "--json"],
    );
    approve_and_run(&here, None, &op_of(&e));
    approve_and_run(&there, Some(u), &op_of(&r));
    let st = there.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["phase"], "rolled_back", "{st}");
    let verbs: Vec<&str> = st["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["apply", "drill", "apply", "apply", "rollback"],
        "{st}"
    );
    // The ops the daemon took are signed by alice, with alice's key here.
    assert!(
        st["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["by"] == "alice"),
        "{st}"
    );
}

/// What a hostile post may not change: the rollout's document (its
/// version) and the stored ops.
fn unchanged(lab: &Lab) -> (u64, usize) {
    let ctl =
        bosun_control::Control::open_read_only(bosun_workspace::Workspace::open(&lab.ws).unwrap())
            .unwrap();
    let version = ctl.rollout_status("pkg").unwrap().version;
    let ops = lab
        .json(&["ops", "list", "--json"])
        .as_array()
        .unwrap()
        .len();
    (version, ops)
}

/// alice's envelope of the prepared op of `run`, with its rollout claim
/// and targets edited by `edit`.
fn signed_as_alice(
    lab: &Lab,
    run: &bosun_api::views::PreparedRun,
    edit: impl FnOnce(&mut Option<bosun_model::RolloutRef>, &mut bosun_control::client::OpDraft),
) -> String {
    signed_as(lab, "alice", run, edit)
}

/// `who`'s envelope of the prepared op of `run`, with its rollout claim
/// and targets edited by `edit`.
fn signed_as(
    lab: &Lab,
    who: &str,
    run: &bosun_api::views::PreparedRun,
    edit: impl FnOnce(&mut Option<bosun_model::RolloutRef>, &mut bosun_control::client::OpDraft),
) -> String {
    let p = run.op.as_ref().unwrap();
    let key = bosun_sign::KeyDir::new(&lab.keys).signer(who).unwrap();
    let who = bosun_model::KeyId::parse(who).unwrap();
    let mut draft = bosun_control::client::OpDraft::planned(&p.planned).unwrap();
    let mut claim = Some(bosun_model::RolloutRef {
        id: bosun_model::Name::parse("pkg").unwrap(),
        wave: p.wave,
        action: p.action,
        start: run.start.clone(),
    });
    edit(&mut claim, &mut draft);
    bosun_control::client::sign_op_draft(
        &key,
        &who,
        &draft,
        claim,
        p.planned.next_seq.unwrap(),
        bosun_control::now(),
    )
    .unwrap()
    .1
}

fn prepare(t: &Target, verb: &str) -> http::Answer {
    prepare_as(t, verb, "alice", false)
}

fn prepare_as(t: &Target, verb: &str, issuer: &str, accept_inconclusive: bool) -> http::Answer {
    http::post(
        t,
        "/api/v1/rollouts/pkg/prepare",
        &serde_json::json!({"action": verb, "issuer": issuer, "accept_inconclusive": accept_inconclusive})
            .to_string(),
    )
}

fn post_run(t: &Target, verb: &str, env: &str) -> http::Answer {
    post_run_accepting(t, verb, env, false)
}

fn post_run_accepting(
    t: &Target,
    verb: &str,
    env: &str,
    accept_inconclusive: bool,
) -> http::Answer {
    http::post(
        t,
        "/api/v1/rollouts/pkg/runs",
        &serde_json::json!({"action": verb, "envelope": env, "accept_inconclusive": accept_inconclusive})
            .to_string(),
    )
}

/// A daemon on `lab`, its Unix socket's URL, and the canary op alice's
/// `rollout start` submitted through it.
fn started(lab: &Lab) -> (common::api::Daemon, String, String) {
    let d = daemon(lab);
    let u = url(&d.unix);
    let o = run(
        lab,
        Some(&u),
        &["rollout", "start", "pkg", "--as", "alice", "-q"],
    );
    assert!(o.status.success(), "{o:?}");
    let w0 = op_of(&String::from_utf8_lossy(&o.stdout));
    (d, u, w0)
}

#[test]
fn envelopes_that_are_not_the_decided_op_are_refused_and_change_nothing() {
    let lab = rollout_lab();
    let (d, u, w0) = started(&lab);
    let t = &d.unix;
    // Preparing is a read: nothing to promote while the canary waits.
    let a = prepare(t, "promote");
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.check(), "state", "{}", a.body);
    approve_and_run(&lab, Some(&u), &w0);

    let a = prepare(t, "promote");
    assert_eq!(a.status, 200, "{}", a.body);
    let p: bosun_api::views::PreparedRun = serde_json::from_str(&a.body).unwrap();
    let op = p.op.clone().unwrap();
    assert_eq!(
        (op.wave, op.planned.targets.clone()),
        (1, vec!["web-1".to_string(), "web-2".to_string()])
    );
    let before = unchanged(&lab);

    // A statement marking the rollout done while a wave is left: refused
    // by the rollout's state, nothing changes.
    let key = bosun_sign::KeyDir::new(&lab.keys).signer("alice").unwrap();
    let who = bosun_model::KeyId::parse("alice").unwrap();
    let ws = bosun_workspace::Workspace::open(&lab.ws)
        .unwrap()
        .config
        .name;
    let done = bosun_control::client::Signing {
        key: &key,
        iss: &who,
        ws: &ws,
        ttl_secs: 60,
        now: bosun_control::now(),
    }
    .statement(bosun_model::Act::RolloutDone {
        id: bosun_model::Name::parse("pkg").unwrap(),
        start: p.start.clone(),
        accept_inconclusive: false,
    })
    .unwrap();
    let a = http::post(t, "/api/v1/statements", &http::envelope(&done));
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.check(), "state", "{}", a.body);
    assert!(a.body.contains("a wave left"), "{}", a.body);
    assert_eq!(unchanged(&lab), before);

    let hostile: Vec<(&str, &str, String)> = vec![
        (
            "another wave",
            "rollout",
            signed_as_alice(&lab, &p, |c, _| c.as_mut().unwrap().wave = 0),
        ),
        (
            "another action",
            "rollout",
            signed_as_alice(&lab, &p, |c, _| {
                c.as_mut().unwrap().action = bosun_model::RolloutAction::Drill;
            }),
        ),
        (
            "another start",
            "rollout",
            signed_as_alice(&lab, &p, |c, _| {
                c.as_mut().unwrap().start = "0".repeat(32);
            }),
        ),
        (
            "other hosts",
            "rollout",
            signed_as_alice(&lab, &p, |_, d| {
                d.targets.retain(|h| h.as_str() == "web-1");
            }),
        ),
        (
            "no rollout claim",
            "rollout",
            signed_as_alice(&lab, &p, |c, _| *c = None),
        ),
        ("a forged signature", "signature", {
            let env = signed_as_alice(&lab, &p, |_, _| {});
            let (head, sig) = env.rsplit_once('.').unwrap();
            let flipped = if sig.starts_with('A') { "B" } else { "A" };
            format!("{head}.{flipped}{}", &sig[1..])
        }),
        ("no envelope at all", "format", "not-a-jws".to_string()),
    ];
    let refusals = || lab.json(&["ops", "rejections", "--json"]);
    let recorded = refusals().as_array().unwrap().len();
    for (what, check, env) in &hostile {
        let a = post_run(t, "promote", env);
        assert!(
            (400..500).contains(&a.status),
            "{what}: {} {}",
            a.status,
            a.body
        );
        assert_eq!(a.check(), *check, "{what}: {}", a.body);
        assert_eq!(unchanged(&lab), before, "{what} changed something");
    }
    // Each refusal of signed input is recorded with its check, as
    // intake's are.
    let r = refusals();
    let r = r.as_array().unwrap();
    assert!(r.len() >= recorded + 5, "{r:?}");
    assert!(r.iter().any(|x| x["check"] == "rollout"), "{r:?}");
    // An envelope for one verb posted as another.
    let env = signed_as_alice(&lab, &p, |_, _| {});
    let a = post_run(t, "retry", &env);
    assert!((400..500).contains(&a.status), "{}", a.body);
    assert_eq!(unchanged(&lab), before);

    // The op itself is taken, once.
    let a = post_run(t, "promote", &env);
    assert_eq!(a.status, 201, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["op"]["state"], "pending_approval", "{v}");
    let after = unchanged(&lab);
    assert_eq!(after.1, before.1 + 1, "one op stored");
    assert!(after.0 > before.0, "recorded in the rollout");
    let a = post_run(t, "promote", &env);
    assert_eq!(a.status, 409, "a replay: {}", a.body);
    assert_eq!(unchanged(&lab), after, "the replay changed something");
}

/// A wave paused by an inconclusive bar: accepting it is an operator's
/// decision, recorded only with the signed op, and checked against the
/// envelope's verified signer — never the issuer a prepare names.
#[test]
fn accepting_an_inconclusive_bar_takes_an_operators_signed_op() {
    let lab = common::rollout::rollout_lab(
        r#"
id = "pkg"
runbook = "install-pkg"
params = { version = "2.0" }
[[waves]]
name = "canary"
hosts = "tag:canary"
bars = [{ kind = "probe", cmd = "exit 3" }]
[[waves]]
name = "rest"
hosts = "tag:web"
"#,
    );
    let (d, u, w0) = started(&lab);
    let t = &d.unix;
    if lab.state(&w0) == "pending_approval" {
        let o = run(&lab, Some(&u), &["approve", &w0, "--as", "bob", "--yes"]);
        assert!(o.status.success(), "{o:?}");
    }
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let st = lab.json(&["rollout", "status", "pkg", "--json"]);
        if st["runs"][0]["status"] == "paused" {
            break;
        }
        assert!(Instant::now() < end, "{st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = unchanged(&lab);

    // Preparing with the acceptance records nothing; an agent named as
    // the issuer is refused it.
    let a = prepare_as(t, "promote", "alice", true);
    assert_eq!(a.status, 200, "{}", a.body);
    let p: bosun_api::views::PreparedRun = serde_json::from_str(&a.body).unwrap();
    assert_eq!(unchanged(&lab), before, "a prepare recorded something");
    let a = prepare_as(t, "promote", "claude", true);
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("only an operator"), "{}", a.body);

    // An agent signing what was prepared for an operator is judged as
    // the agent it is.
    let env = signed_as(&lab, "claude", &p, |_, _| {});
    let a = post_run_accepting(t, "promote", &env, true);
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("only an operator"), "{}", a.body);
    assert_eq!(unchanged(&lab), before);
    let o = run(
        &lab,
        Some(&u),
        &[
            "rollout",
            "promote",
            "pkg",
            "--accept-inconclusive",
            "--as",
            "claude",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("operator"),
        "{o:?}"
    );
    assert_eq!(unchanged(&lab), before);

    // Without the acceptance the operator's op is not the promotion.
    let o = run(
        &lab,
        Some(&u),
        &["rollout", "promote", "pkg", "--as", "alice"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // With it, the acceptance and the next wave are recorded together.
    let o = run(
        &lab,
        Some(&u),
        &[
            "rollout",
            "promote",
            "pkg",
            "--accept-inconclusive",
            "--as",
            "alice",
            "--json",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let w1: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(w1["state"], "pending_approval", "{w1}");
    let st = lab.json(&["rollout", "status", "pkg", "--json"]);
    assert_eq!(st["runs"][0]["status"], "passed", "{st}");
    assert_eq!(st["runs"].as_array().unwrap().len(), 2, "{st}");
}

/// Over TCP a prepare is a read: it needs a token (`BOSUN_TOKEN`, or one
/// the CLI signs for `BOSUN_AS`), and without one the verb is refused
/// with the check named before anything is signed.
#[test]
fn over_tcp_the_prepare_needs_a_token() {
    let lab = rollout_lab();
    let d = daemon(&lab);
    let u = url(&d.tcp);
    let o = run(
        &lab,
        Some(&u),
        &["rollout", "start", "pkg", "--as", "alice"],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("token"),
        "{o:?}"
    );
    assert!(
        lab.json(&["ops", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let mut c = lab.cmd(&["rollout", "start", "pkg", "--as", "alice", "--json"]);
    c.env("BOSUN_URL", &u)
        .env("BOSUN_AS", "alice")
        .env_remove("BOSUN_TOKEN");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(lab.state(v["jti"].as_str().unwrap()), v["state"]);
}
