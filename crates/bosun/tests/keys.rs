//! Protected operator keys through the real binary: a passphrase-encrypted
//! key signs only with its passphrase (never without a terminal, as an agent
//! calling `bosun` would run it), and an operator signs through a real
//! `ssh-agent` whose key never leaves it.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A workspace with no keys yet (`Lab::new` adopts with plaintext keys).
fn empty_lab() -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("lab");
    let keys = tmp.path().join("keys");
    let lab = Lab {
        daemon: None,
        tmp,
        ws,
        keys,
    };
    lab.ok(&["init", lab.ws.to_str().unwrap()]);
    lab
}

fn pass_file(lab: &Lab, name: &str, text: &str) -> PathBuf {
    let p = lab.tmp.path().join(name);
    std::fs::write(&p, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Runs with extra environment; stdin is never a terminal here.
fn run_env(lab: &Lab, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = lab.cmd(args);
    c.env_remove("BOSUN_PASSPHRASE_FILE")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok_env(lab: &Lab, args: &[&str], env: &[(&str, &Path)]) -> String {
    let o = run_env(lab, args, env);
    assert!(
        o.status.success(),
        "bosun {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn failed(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn submit_pending(lab: &Lab) -> String {
    let s = lab.json(&[
        "submit",
        "pkg-upgrade",
        "--target",
        "web-1",
        "--param",
        "version=1",
        "--as",
        "claude",
        "--json",
    ]);
    assert_eq!(s["decision"], "pending_approval", "{s}");
    s["jti"].as_str().unwrap().to_string()
}

fn approvals(lab: &Lab, jti: &str) -> usize {
    lab.json(&["ops", "show", jti, "--json"])["approvals"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn an_operator_key_is_protected_unless_asked_otherwise() {
    let lab = empty_lab();
    // No terminal, no CI passphrase: refused, with the ways out named.
    let err = failed(&run_env(
        &lab,
        &["key", "new", "alice", "--role", "operator"],
        &[],
    ));
    assert!(err.contains("--insecure-plaintext"), "{err}");
    assert!(err.contains("--ssh-agent"), "{err}");
    assert!(!lab.keys.join("alice.key").exists());
    assert!(!lab.keys.join("alice.jwk").exists());
    assert!(!lab.path("keys/alice.jwk").exists(), "nothing registered");

    // With the CI passphrase file: an encrypted OpenSSH key, no plaintext.
    let pass = pass_file(&lab, "pass", "alice's secret");
    ok_env(
        &lab,
        &["key", "new", "alice", "--role", "operator"],
        &[("BOSUN_PASSPHRASE_FILE", &pass)],
    );
    let text = std::fs::read_to_string(lab.keys.join("alice.key")).unwrap();
    assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert!(!lab.keys.join("alice.jwk").exists());
    // Agents stay plaintext by default; --insecure-plaintext for operators.
    lab.ok(&["key", "new", "claude", "--role", "agent"]);
    assert!(lab.keys.join("claude.jwk").exists());
    let out = lab.ok(&[
        "key",
        "new",
        "bob",
        "--role",
        "operator",
        "--insecure-plaintext",
    ]);
    assert!(out.contains("NOT encrypted"), "{out}");
}

#[test]
fn a_protected_operator_cannot_sign_without_a_terminal_or_with_a_wrong_passphrase() {
    let lab = empty_lab();
    let pass = pass_file(&lab, "pass", "alice's secret");
    let wrong = pass_file(&lab, "wrong", "not alice's secret");
    let with_pass = [("BOSUN_PASSPHRASE_FILE", pass.as_path())];
    ok_env(
        &lab,
        &["key", "new", "alice", "--role", "operator"],
        &with_pass,
    );
    lab.ok(&["key", "new", "claude", "--role", "agent"]);

    // Adopting is an operator signature too: refused without the passphrase,
    // and nothing is adopted.
    let err = failed(&run_env(&lab, &["adopt", "--yes", "--as", "alice"], &[]));
    assert!(err.contains("protected by a passphrase"), "{err}");
    assert!(err.contains("refusing to sign"), "{err}");
    let o = lab.run(&[
        "submit",
        "pkg-upgrade",
        "--target",
        "web-1",
        "--param",
        "version=1",
        "--as",
        "claude",
    ]);
    assert!(!o.status.success(), "nothing is in force yet");
    ok_env(&lab, &["adopt", "--yes", "--as", "alice"], &with_pass);

    let jti = submit_pending(&lab);
    // An agent running `bosun approve --as alice` (stdin not a terminal, no
    // CI passphrase configured) is refused before anything is signed.
    let err = failed(&run_env(
        &lab,
        &["approve", "--yes", &jti, "--as", "alice"],
        &[],
    ));
    assert!(err.contains("no terminal"), "{err}");
    assert!(err.contains("refusing to sign"), "{err}");
    assert_eq!(lab.state(&jti), "pending_approval");
    assert_eq!(approvals(&lab, &jti), 0);
    // Nor is a refusal recorded: no envelope reached intake.
    let rej = lab.json(&["ops", "rejections", "--json"]);
    assert_eq!(rej.as_array().map_or(0, Vec::len), 0, "{rej}");

    // A wrong passphrase: refused, clearly.
    let err = failed(&run_env(
        &lab,
        &["approve", "--yes", &jti, "--as", "alice"],
        &[("BOSUN_PASSPHRASE_FILE", &wrong)],
    ));
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(lab.state(&jti), "pending_approval");

    // The right one signs.
    ok_env(
        &lab,
        &["approve", "--yes", &jti, "--as", "alice"],
        &with_pass,
    );
    assert_ne!(lab.state(&jti), "pending_approval");
    assert_eq!(approvals(&lab, &jti), 1);
}

/// A real `ssh-agent` on its own socket, killed on drop.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_agent(dir: &Path) -> Option<Agent> {
    if !(have("ssh-agent") && have("ssh-add") && have("ssh-keygen")) {
        eprintln!("skipped: ssh-agent, ssh-add or ssh-keygen is not installed");
        return None;
    }
    let sock = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&sock, 5), "ssh-agent did not create its socket");
    Some(Agent { child, sock })
}

#[test]
fn an_operator_signs_through_a_real_ssh_agent() {
    let lab = empty_lab();
    let Some(agent) = start_agent(lab.tmp.path()) else {
        return;
    };
    let id = lab.tmp.path().join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f"])
        .arg(&id)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("ssh-add")
        .arg("-q")
        .arg(&id)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let sock = [("SSH_AUTH_SOCK", agent.sock.as_path())];

    // Registered from the agent's only key; the private key stays there.
    let out = ok_env(
        &lab,
        &["key", "new", "alice", "--role", "operator", "--ssh-agent"],
        &sock,
    );
    assert!(out.contains("ssh-agent"), "{out}");
    assert!(lab.keys.join("alice.ssh-agent").exists());
    assert!(!lab.keys.join("alice.jwk").exists() && !lab.keys.join("alice.key").exists());
    let pub_line = std::fs::read_to_string(id.with_extension("pub")).unwrap();
    let agent_line = std::fs::read_to_string(lab.keys.join("alice.ssh-agent")).unwrap();
    assert_eq!(
        pub_line.split_whitespace().nth(1),
        agent_line.split_whitespace().nth(1),
        "the registered key is the agent's"
    );
    lab.ok(&["key", "new", "claude", "--role", "agent"]);

    // Without the agent, nothing is signed.
    let err = failed(&run_env(&lab, &["adopt", "--yes", "--as", "alice"], &[]));
    assert!(err.contains("SSH_AUTH_SOCK"), "{err}");

    ok_env(&lab, &["adopt", "--yes", "--as", "alice"], &sock);
    let jti = submit_pending(&lab);
    ok_env(&lab, &["approve", "--yes", &jti, "--as", "alice"], &sock);
    assert_ne!(lab.state(&jti), "pending_approval");
    assert_eq!(approvals(&lab, &jti), 1);

    // Once the key is removed from the agent, it cannot sign any more.
    let st = Command::new("ssh-add")
        .args(["-q", "-D"])
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let jti = submit_pending(&lab);
    let err = failed(&run_env(
        &lab,
        &["approve", "--yes", &jti, "--as", "alice"],
        &sock,
    ));
    assert!(err.contains("does not hold the key"), "{err}");
    assert_eq!(approvals(&lab, &jti), 0);

    // --ssh-key names the key explicitly; FIDO2 keys are refused with why.
    let sk = lab.tmp.path().join("sk.pub");
    std::fs::write(
        &sk,
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIE x\n",
    )
    .unwrap();
    let err = failed(&run_env(
        &lab,
        &[
            "key",
            "new",
            "carol",
            "--role",
            "operator",
            "--ssh-agent",
            "--ssh-key",
            sk.to_str().unwrap(),
        ],
        &sock,
    ));
    assert!(err.contains("FIDO2"), "{err}");
    ok_env(
        &lab,
        &[
            "key",
            "new",
            "carol",
            "--role",
            "operator",
            "--ssh-agent",
            "--ssh-key",
            id.with_extension("pub").to_str().unwrap(),
        ],
        &sock,
    );
    assert!(lab.keys.join("carol.ssh-agent").exists());
}
