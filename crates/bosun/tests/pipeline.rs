//! The spine through the real binary: intake, policy, approvals, the
//! controller, and the invariants of DESIGN §3 that the CLI can reach.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn submit(
    lab: &Lab,
    who: &str,
    runbook: &str,
    targets: &[&str],
    params: &[&str],
) -> serde_json::Value {
    let mut args = vec!["submit", runbook, "--as", who, "--json"];
    for t in targets {
        args.extend(["--target", t]);
    }
    for p in params {
        args.extend(["--param", p]);
    }
    lab.json(&args)
}

#[test]
fn agent_op_waits_for_an_operator_then_runs_once() {
    let lab = Lab::new();
    let s = submit(
        &lab,
        "claude",
        "pkg-upgrade",
        &["canary-1", "web-1"],
        &["version=1.2"],
    );
    assert_eq!(s["decision"], "pending_approval");
    assert_eq!(s["state"], "pending_approval");
    let jti = s["jti"].as_str().unwrap().to_string();
    // Nothing runs before approval (invariant 1).
    lab.work();
    assert_eq!(lab.state(&jti), "pending_approval");
    assert!(
        !lab.path(".bosun/sim/canary-1/pkgs/qat-driver.version")
            .exists()
    );
    // Approve, run.
    let a = lab.json(&["approve", "--yes", &jti, "--as", "alice", "--json"]);
    assert_eq!(a["state"], "approved");
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "succeeded");
    assert_eq!(show["decision"], "pending_approval");
    assert_eq!(show["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(show["steps"].as_array().unwrap().len(), 4);
    assert_eq!(
        std::fs::read_to_string(lab.path(".bosun/sim/canary-1/pkgs/qat-driver.version"))
            .unwrap()
            .trim(),
        "1.2"
    );
    // Running the worker again runs nothing again (exactly once).
    lab.work();
    assert_eq!(
        lab.json(&["ops", "show", &jti, "--json"])["steps"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let explain = lab.ok(&["policy", "explain", &jti]);
    assert!(
        explain.contains("agent-changes-need-an-operator"),
        "{explain}"
    );
}

#[test]
fn agents_never_approve_and_nobody_approves_their_own_op() {
    let lab = Lab::new();
    let s = submit(&lab, "claude", "pkg-upgrade", &["web-1"], &["version=1"]);
    let jti = s["jti"].as_str().unwrap();
    let r = lab.refused(&["approve", "--yes", jti, "--as", "claude", "--json"]);
    assert_eq!(r["check"], "approver_role");
    let s2 = submit(&lab, "alice", "pkg-upgrade", &["web-2"], &["version=1"]);
    assert_eq!(
        s2["decision"], "pending_approval",
        "an operator's own changing op needs another operator"
    );
    let jti2 = s2["jti"].as_str().unwrap();
    let r = lab.refused(&["approve", "--yes", jti2, "--as", "alice", "--json"]);
    assert_eq!(r["check"], "self_approval");
    // Nothing changed: both still pending, and the refusals are recorded.
    assert_eq!(lab.state(jti), "pending_approval");
    assert_eq!(lab.state(jti2), "pending_approval");
    let rej = lab.json(&["ops", "rejections", "--json"]);
    let checks: Vec<&str> = rej
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"approver_role") && checks.contains(&"self_approval"),
        "{checks:?}"
    );
    // Another operator may; a denial ends it.
    lab.ok(&["deny", "--yes", jti2, "--why", "not today", "--as", "bob"]);
    assert_eq!(lab.state(jti2), "denied");
}

#[test]
fn replayed_envelope_is_refused_and_recorded() {
    let lab = Lab::new();
    let s = submit(&lab, "claude", "disk-usage", &["web-1"], &[]);
    assert_eq!(s["decision"], "auto", "read-only runbooks run alone");
    let jti = s["jti"].as_str().unwrap();
    let env = lab.ok(&["ops", "show", jti, "--envelope"]);
    let f = lab.tmp.path().join("op.jws");
    std::fs::write(&f, env).unwrap();
    let r = lab.refused(&["submit", "--envelope", f.to_str().unwrap(), "--json"]);
    assert_eq!(r["check"], "replay");
    // A tampered envelope fails the signature check.
    let env = std::fs::read_to_string(&f).unwrap();
    let mut parts: Vec<String> = env.trim().split('.').map(String::from).collect();
    let payload = String::from_utf8(base64_url_decode(&parts[1]))
        .unwrap()
        .replace("web-1", "web-2");
    parts[1] = base64_url_encode(payload.as_bytes());
    std::fs::write(&f, parts.join(".")).unwrap();
    let r = lab.refused(&["submit", "--envelope", f.to_str().unwrap(), "--json"]);
    assert_eq!(r["check"], "signature");
    let ops = lab.json(&["ops", "list", "--json"]);
    assert_eq!(
        ops.as_array().unwrap().len(),
        1,
        "refused envelopes store no op"
    );
}

#[test]
fn halt_stops_dispatch_until_resume() {
    let lab = Lab::new();
    lab.ok(&["halt", "--why", "disk alarm", "--as", "alice"]);
    let s = submit(&lab, "claude", "disk-usage", &["web-1"], &[]);
    let jti = s["jti"].as_str().unwrap();
    let out = lab.work();
    assert!(out.contains("halted"), "{out}");
    assert_eq!(lab.state(jti), "approved");
    assert!(lab.json(&["status", "--json"])["halt"]["why"] == "disk alarm");
    lab.ok(&["resume", "--as", "bob"]);
    lab.work();
    assert_eq!(lab.state(jti), "succeeded");
}

#[test]
fn an_agent_cannot_loosen_its_leash_by_editing_files() {
    let lab = Lab::new();
    // The agent rewrites the rules to let everything run alone ...
    lab.write(
        "policy/rules.cedar",
        "@id(\"everything\")\n@outcome(\"auto\")\npermit(principal, action, resource);\n",
    );
    let st = lab.json(&["status", "--json"]);
    assert!(
        st["drift"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("policy/")),
        "{st}"
    );
    // ... but the adopted policy stays in force.
    let s = submit(&lab, "claude", "pkg-upgrade", &["web-1"], &["version=9"]);
    assert_eq!(s["decision"], "pending_approval");
    // It cannot adopt its change: agents never approve adoptions.
    let r = lab.refused(&["adopt", "--yes", "--as", "claude", "--json"]);
    assert_eq!(r["check"], "approver_role");
    // Editing a runbook that may run alone makes it need a human.
    let rb = std::fs::read_to_string(lab.path("runbooks/disk-usage.toml")).unwrap();
    lab.write(
        "runbooks/disk-usage.toml",
        &rb.replace("du -sh", "rm -rf /tmp/x; du -sh"),
    );
    let s = submit(&lab, "claude", "disk-usage", &["web-1"], &[]);
    assert_eq!(s["decision"], "auto", "the adopted version is what runs");
    let show = lab.json(&["ops", "show", s["jti"].as_str().unwrap(), "--json"]);
    let _ = show;
    let plan = lab.json(&["plan", "disk-usage", "--target", "web-1", "--json"]);
    assert!(
        !plan["plan"]["steps"][0]["cmd"]
            .as_str()
            .unwrap()
            .contains("rm -rf"),
        "the edited file is ignored"
    );
    // A change needs two operators (alice proposes, bob approves).
    let p = lab.json(&["adopt", "--yes", "--as", "alice", "--json"]);
    assert_eq!(p["adopted"], false);
    assert_eq!(p["needed"], 2);
    let id = p["proposal"].as_str().unwrap();
    let p = lab.json(&["adopt", "--yes", "--approve", id, "--as", "bob", "--json"]);
    assert_eq!(p["adopted"], true);
    let s = submit(&lab, "claude", "pkg-upgrade", &["web-1"], &["version=10"]);
    assert_eq!(s["decision"], "auto", "the adopted new policy is in force");
}

#[test]
fn invalid_policy_is_refused_with_location_and_old_policy_stays() {
    let lab = Lab::new();
    lab.write(
        "policy/rules.cedar",
        "permit(principal, action, resource) when { resource.nonexistent };\n",
    );
    let o = lab.run(&["adopt", "--yes", "--as", "alice"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("policy/rules.cedar:1:"), "{err}");
    let s = submit(&lab, "claude", "pkg-upgrade", &["web-1"], &["version=1"]);
    assert_eq!(s["decision"], "pending_approval");
}

#[test]
fn unknown_targets_and_scope_are_refused() {
    let lab = Lab::new();
    let o = lab.run(&["submit", "disk-usage", "--target", "nope", "--as", "claude"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown host `nope`"));
}

#[test]
fn key_files_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    let k = lab.keys.join("claude.jwk");
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = lab.run(&[
        "submit",
        "disk-usage",
        "--target",
        "web-1",
        "--as",
        "claude",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn demo_runs() {
    let o = bin().arg("demo").output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("refused: rejected by the replay check"));
    assert!(out.contains("self_approval"));
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

fn base64_url_encode(b: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let v = chunk.iter().fold(0u32, |a, &x| (a << 8) | x as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(alphabet[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn an_envelope_file_is_read_only_up_to_its_limit() {
    // /dev/zero never ends: a submit that read the whole file before the
    // size check would never return (or fill memory).
    let lab = Lab::new();
    let mut child = lab
        .cmd(&["submit", "--envelope", "/dev/zero", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("submit --envelope /dev/zero kept reading");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["check"], "size", "{v}");
}
