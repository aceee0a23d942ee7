//! The `ssh` transport against a real OpenSSH server on loopback: the
//! README's newcomer runbook with a human step and a `kill -9` of the
//! controller; an unreachable host; a connection dropped mid-step (the
//! outcome read from the host's record; unknown and the host held when the
//! step died with it); a kill -9 of the controller mid-step over ssh; a
//! timeout that kills the remote process group; the command's own exit
//! code 255 told apart from ssh's.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::sshd::{Sshd, closed_port};
use common::*;

const MOTD: &str = include_str!("../../../examples/runbooks/motd.toml");

/// A lab whose inventory also has ssh hosts `lab-a` and `lab-b` (aliases
/// of the test sshd) and `dead` (a port where nothing listens).
fn ssh_lab() -> (Lab, Sshd) {
    let lab = Lab::new();
    let sshd = Sshd::start(&lab.tmp.path().join("sshd"));
    // The ssh_config a host names lives in the workspace (and is adopted
    // with the inventory).
    std::fs::copy(&sshd.config, lab.path("fleet/ssh_config")).unwrap();
    let mut hosts = std::fs::read_to_string(lab.path("fleet/hosts.toml")).unwrap();
    for alias in ["lab-a", "lab-b"] {
        hosts.push_str(&format!(
            "\n[[host]]\nname = \"{alias}\"\naddress = \"{alias}\"\ntransport = \"ssh\"\narch = \"x86_64\"\nssh_config = \"fleet/ssh_config\"\n",
        ));
    }
    hosts.push_str(&format!(
        "\n[[host]]\nname = \"dead\"\naddress = \"127.0.0.1\"\nport = {}\ntransport = \"ssh\"\nssh_config = \"fleet/ssh_config\"\nssh_options = [\"ConnectTimeout=3\"]\n",
        closed_port(),
    ));
    lab.write("fleet/hosts.toml", &hosts);
    lab.adopt();
    (lab, sshd)
}

fn scratch(lab: &Lab, name: &str) -> String {
    let d = lab.tmp.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d.to_str().unwrap().to_string()
}

fn submit(lab: &Lab, runbook: &str, hosts: &[&str], params: &[String]) -> String {
    let mut args = vec!["submit", runbook];
    for h in hosts {
        args.extend(["--target", h]);
    }
    for p in params {
        args.extend(["--param", p]);
    }
    args.extend(["--as", "claude", "--json"]);
    let s = lab.json(&args);
    let jti = s["jti"].as_str().unwrap().to_string();
    if s["state"] == "pending_approval" {
        lab.ok(&["approve", "--yes", &jti, "--as", "alice"]);
    }
    jti
}

fn step<'a>(show: &'a serde_json::Value, step: &str, host: &str) -> &'a serde_json::Value {
    show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step && s["host"] == host)
        .unwrap_or_else(|| panic!("no {step} on {host}: {show}"))
}

fn wait_state(lab: &Lab, jti: &str, want: &str, secs: u64) -> serde_json::Value {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let show = lab.json(&["ops", "show", jti, "--json"]);
        if show["state"] == want {
            return show;
        }
        assert!(
            std::time::Instant::now() < end,
            "op never became {want}: {show}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_readme_runbook_runs_over_ssh_through_a_human_step_and_a_kill_9() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains(MOTD.trim()),
        "the README shows examples/runbooks/motd.toml verbatim"
    );
    let (lab, _sshd) = ssh_lab();
    lab.write("runbooks/motd.toml", MOTD);
    // Checks are ops of an adopted runbook.
    lab.adopt();
    let dir = scratch(&lab, "etc");
    let plan = lab.ok(&[
        "plan",
        "motd",
        "--target",
        "lab-a",
        "--target",
        "lab-b",
        "--param",
        "message=it's patch night",
        "--param",
        &format!("dir={dir}"),
    ]);
    assert!(
        plan.contains(r#"printf '%s\n' 'it'\''s patch night'"#),
        "the plan shows the quoted command: {plan}"
    );
    let check = lab.json(&[
        "plan",
        "motd",
        "--target",
        "lab-a",
        "--param",
        "message=hi",
        "--param",
        &format!("dir={dir}"),
        "--check",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(check["state"], "succeeded", "{check}");
    let checks = check["checks"].as_array().unwrap();
    assert_eq!(
        checks.len(),
        2,
        "the human step has nothing to check: {check}"
    );
    assert_eq!(checks[0]["status"], "succeeded");
    assert!(
        checks[0]["output"]
            .as_str()
            .unwrap()
            .contains("would write"),
        "{check}"
    );
    assert!(
        !std::path::Path::new(&format!("{dir}/motd.new")).exists(),
        "checks only read"
    );
    let jti = submit(
        &lab,
        "motd",
        &["lab-a", "lab-b"],
        &["message=it's patch night".into(), format!("dir={dir}")],
    );
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It stages on both hosts over ssh, then waits for the human.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let show = loop {
        let show = lab.json(&["ops", "show", &jti, "--json"]);
        let waiting = show["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "waiting")
            .count();
        if waiting == 2 {
            break show;
        }
        assert!(
            std::time::Instant::now() < end,
            "never reached the review: {show}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(step(&show, "stage", "lab-a")["status"], "succeeded");
    assert!(
        step(&show, "stage", "lab-b")["output"]
            .as_str()
            .unwrap()
            .contains("staged on lab-b")
    );
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/motd.new")).unwrap(),
        "it's patch night\n"
    );
    assert!(!std::path::Path::new(&format!("{dir}/motd")).exists());
    // The controller dies while the run waits.
    serve.kill().unwrap();
    serve.wait().unwrap();
    for h in ["lab-a", "lab-b"] {
        lab.ok(&[
            "step", "report", &jti, "review", "--host", h, "--status", "pass", "--note", "read it",
            "--as", "bob",
        ]);
    }
    // A new controller finishes the run; nothing already done runs again.
    lab.work();
    let show = wait_state(&lab, &jti, "succeeded", 30);
    assert!(
        step(&show, "install", "lab-a")["output"]
            .as_str()
            .unwrap()
            .contains("installed on lab-a")
    );
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/motd")).unwrap(),
        "it's patch night\n"
    );
    for s in show["steps"].as_array().unwrap() {
        assert!(
            !s["output"].as_str().unwrap().contains('\u{1e}'),
            "the wrapper's markers never reach the output: {s}"
        );
    }
}

/// The remote record of plan entry `entry` of `jti` on the test sshd's
/// user (this user): `<nonce> <pid>`.
fn remote_started(jti: &str, entry: u32) -> String {
    let home = std::env::var("HOME").unwrap();
    let p = format!("{home}/.cache/bosun/steps/{jti}.{entry}.started");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn unreachable_and_dropped_hosts() {
    let (lab, sshd) = ssh_lab();
    let dir = scratch(&lab, "drop");
    lab.write(
        "runbooks/long.toml",
        r#"
id = "long"
max_fail = 2
[params.dir]
type = "string"
required = true
[[steps]]
id = "work"
cmd = "touch {{ params.dir }}/{{ host.name }}.started; while ! test -f {{ params.dir }}/release; do sleep 0.05; done; touch {{ params.dir }}/{{ host.name }}.done"
[[steps]]
id = "after"
cmd = "true"
"#,
    );
    let jti = submit(&lab, "long", &["lab-a", "dead"], &[format!("dir={dir}")]);
    let mut work = lab
        .cmd(&["work", "--until-idle"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::path::PathBuf::from(format!("{dir}/lab-a.started"));
    assert!(wait_for(&started, 30), "the step never started on lab-a");
    // The connection drops mid-step: the step goes on on the host, and
    // the controller asks the host how it ended instead of giving up.
    assert!(sshd.drop_connections() > 0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::write(format!("{dir}/release"), "").unwrap();
    // 4: the op ended failed (a host is unreachable), which is not an error.
    assert!(matches!(work.wait().unwrap().code(), Some(0 | 4)));
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "failed", "{show}");
    let dead = step(&show, "work", "dead");
    assert_eq!(dead["status"], "failed");
    assert!(
        dead["output"]
            .as_str()
            .unwrap()
            .contains("could not reach `dead`"),
        "{dead}"
    );
    let a = step(&show, "work", "lab-a");
    assert_eq!(a["status"], "succeeded", "recovered after the drop: {a}");
    assert!(
        a["output"]
            .as_str()
            .unwrap()
            .contains("recorded how it ended"),
        "{a}"
    );
    assert_eq!(step(&show, "after", "lab-a")["status"], "succeeded");

    // A drop where the host restarts too (the step and its supervisor
    // die): the outcome cannot be known.
    std::fs::remove_file(format!("{dir}/release")).unwrap();
    std::fs::remove_file(&started).unwrap();
    let jti = submit(&lab, "long", &["lab-a"], &[format!("dir={dir}")]);
    let mut work = lab
        .cmd(&["work", "--until-idle"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&started, 30), "the step never started on lab-a");
    let rec = remote_started(&jti, 0);
    let pid = rec.split_whitespace().nth(1).unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(sshd.drop_connections() > 0);
    assert!(matches!(work.wait().unwrap().code(), Some(0 | 4)));
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    assert_eq!(show["state"], "needs_attention", "{show}");
    let a = step(&show, "work", "lab-a");
    assert_eq!(a["status"], "unknown", "dropped, and gone: {a}");
    assert!(
        a["output"]
            .as_str()
            .unwrap()
            .contains("connection to `lab-a` was lost"),
        "{a}"
    );
    // What is left on lab-a waits for that report (then the run resumes).
    let mut rows = show["steps"].as_array().unwrap().iter();
    assert!(
        !rows.any(|s| s["step"] == "after" && s["host"] == "lab-a"),
        "{show}"
    );
    // lab-a is held until someone reports what happened there.
    let next = submit(&lab, "long", &["lab-a"], &[format!("dir={dir}")]);
    let out = lab.work();
    assert!(out.contains("needs attention"), "{out}");
    assert_eq!(lab.state(&next), "approved");
}

#[test]
fn timeouts_kill_the_remote_process_group_and_exit_255_is_the_commands() {
    let (lab, _sshd) = ssh_lab();
    let dir = scratch(&lab, "tmo");
    lab.write(
        "runbooks/hang.toml",
        r#"
id = "hang"
[params.dir]
type = "string"
required = true
[[steps]]
id = "hang"
cmd = "sleep 300 & echo $! > {{ params.dir }}/{{ host.name }}.pid; wait"
timeout = "2s"
on_error = { strategy = "continue" }
[[steps]]
id = "exit255"
cmd = "echo on purpose; exit 255"
depends_on = [{ step = "hang", kind = "always" }]
"#,
    );
    let jti = submit(&lab, "hang", &["lab-a"], &[format!("dir={dir}")]);
    lab.work();
    let show = lab.json(&["ops", "show", &jti, "--json"]);
    let hang = step(&show, "hang", "lab-a");
    assert_eq!(hang["status"], "failed");
    assert!(
        hang["output"]
            .as_str()
            .unwrap()
            .contains("remote process group"),
        "{hang}"
    );
    let pid = std::fs::read_to_string(format!("{dir}/lab-a.pid")).unwrap();
    let gone = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while gone.exists() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !gone.exists(),
        "the remote `sleep 300` was killed with its group"
    );
    let e = step(&show, "exit255", "lab-a");
    assert_eq!(e["status"], "failed");
    assert_eq!(e["exit_code"], 255, "{e}");
    assert!(e["output"].as_str().unwrap().contains("on purpose"));
    assert!(!e["output"].as_str().unwrap().contains("could not reach"));
}

/// A canary rollout over ssh: the canary's bars pass over the transport;
/// the next wave has an unreachable host, which halts the wave (the
/// reachable host still gets its change and its bars) instead of hanging.
#[test]
fn rollout_over_ssh_with_an_unreachable_host() {
    let (lab, _sshd) = ssh_lab();
    let dir = scratch(&lab, "remote");
    lab.write(
        "runbooks/ssh-install.toml",
        r#"
id = "ssh-install"
verb = "install"
[params.version]
type = "string"
required = true
[params.dir]
type = "string"
required = true
[[steps]]
id = "install"
cmd = "mkdir -p {{ params.dir }}/{{ host.name }} && echo {{ params.version }} > {{ params.dir }}/{{ host.name }}/version"
timeout = "30s"
"#,
    );
    lab.write(
        "rollouts/ssh.toml",
        &format!(
            r#"
id = "ssh"
runbook = "ssh-install"
params = {{ version = "3", dir = "{dir}" }}
[[waves]]
name = "canary"
hosts = "lab-a"
bars = [
  {{ kind = "heartbeat", within = "20s" }},
  {{ kind = "version", cmd = "cat {{{{ params.dir }}}}/{{{{ host.name }}}}/version", expect = "{{{{ params.version }}}}" }},
]
[[waves]]
name = "rest"
hosts = "lab-b, dead"
max_fail = 1
bars = [
  {{ kind = "heartbeat", within = "20s" }},
  {{ kind = "version", cmd = "cat {{{{ params.dir }}}}/{{{{ host.name }}}}/version", expect = "{{{{ params.version }}}}" }},
]
"#
        ),
    );
    lab.adopt();
    let w0 = lab.json(&["rollout", "start", "ssh", "--as", "alice", "--json"]);
    lab.ok(&[
        "approve",
        "--yes",
        w0["jti"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    lab.work();
    let st = lab.json(&["rollout", "status", "ssh", "--json"]);
    assert_eq!(st["runs"][0]["status"], "passed", "{st}");
    let bars = st["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 2, "{st}");
    assert!(
        bars.iter()
            .all(|b| b["verdict"] == "pass" && b["host"] == "lab-a"),
        "{st}"
    );

    let w1 = lab.json(&["rollout", "promote", "ssh", "--as", "alice", "--json"]);
    lab.ok(&[
        "approve",
        "--yes",
        w1["jti"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    lab.work();
    let st = lab.json(&["rollout", "status", "ssh", "--json"]);
    let last = &st["runs"][1];
    assert_eq!(last["status"], "halted", "{st}");
    assert!(last["why"].as_str().unwrap().contains("dead"), "{st}");
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/lab-b/version")).unwrap(),
        "3\n"
    );
    let bars = st["bars"].as_array().unwrap();
    assert!(
        bars.iter()
            .any(|b| b["host"] == "lab-b" && b["verdict"] == "pass"),
        "the reachable host passed its bars: {st}"
    );
    let hs = lab.json(&["hosts", "status", "--json"]);
    let b = hs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "lab-b")
        .unwrap();
    assert_eq!(b["version"], "3", "{hs}");
}

#[test]
fn an_ssh_step_outlives_the_controller_and_the_host_says_how_it_ended() {
    let (lab, _sshd) = ssh_lab();
    let dir = scratch(&lab, "outlive");
    lab.write(
        "runbooks/outlive.toml",
        r#"
id = "outlive"
[params.dir]
type = "string"
required = true
[[steps]]
id = "apply"
cmd = "echo $$ >> {{ params.dir }}/apply.count; touch {{ params.dir }}/started; while ! test -f {{ params.dir }}/release; do sleep 0.05; done; echo applied on {{ host.name }}; exit 3"
idempotent = false
"#,
    );
    let jti = submit(&lab, "outlive", &["lab-a"], &[format!("dir={dir}")]);
    let mut serve = lab
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(
        &std::path::PathBuf::from(format!("{dir}/started")),
        30
    ));
    serve.kill().unwrap(); // SIGKILL: the ssh client loses its reader too
    serve.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(format!("{dir}/release"), "").unwrap();
    lab.work();
    let show = wait_state(&lab, &jti, "failed", 30);
    let a = step(&show, "apply", "lab-a");
    assert_eq!(a["exit_code"], 3, "the command's own exit code: {a}");
    let out = a["output"].as_str().unwrap();
    assert!(out.contains("applied on lab-a"), "the output tail: {out}");
    assert!(out.contains("recorded how it ended"), "{out}");
    let runs = std::fs::read_to_string(format!("{dir}/apply.count")).unwrap();
    assert_eq!(runs.lines().count(), 1, "it ran once");
}
