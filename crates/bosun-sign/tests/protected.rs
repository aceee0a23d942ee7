//! Protected keys and `ssh-agent` keys in a key directory: passphrase
//! round trip, refusals, limits, arbitrary bytes, and signing through a real
//! `ssh-agent` started here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use bosun_sign::{
    AgentKey, KeyDir, KeyKind, MAX_PROTECTED_KEY_BYTES, Passphrase, PassphraseFile, ProtectedKey,
    SecretKey, Sign, SignError, decode, list_ed25519, parse_ssh_public_key, read_agent_key,
    sign_compact, write_private_key,
};
use proptest::prelude::*;

fn pass_file(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join(format!("pass-{}", text.len()));
    std::fs::write(&p, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn with_file(dir: &Path, keys: &Path, text: &str) -> KeyDir {
    KeyDir::new(keys).with_passphrase(Arc::new(PassphraseFile(pass_file(dir, text))))
}

#[test]
fn a_protected_key_round_trips_with_the_right_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let key = SecretKey::generate().unwrap();
    let dir = with_file(tmp.path(), &keys, "correct horse battery");
    let path = dir.write_protected("alice", &key).unwrap();
    assert_eq!(path, keys.join("alice.key"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    // The private key is nowhere in the file in the clear.
    assert!(!text.contains(&key.to_private_jwk("alice").d.unwrap()));
    assert_eq!(dir.kind_of("alice").unwrap(), KeyKind::Protected);

    let signer = dir.signer("alice").unwrap();
    assert_eq!(signer.public_key(), key.public());
    let token = sign_compact(&signer, "alice", "t", &serde_json::json!({"a": 1})).unwrap();
    decode(&token).unwrap().verify(&key.public()).unwrap();
}

#[test]
fn a_wrong_passphrase_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let key = SecretKey::generate().unwrap();
    with_file(tmp.path(), &keys, "right one")
        .write_protected("alice", &key)
        .unwrap();
    let err = with_file(tmp.path(), &keys, "wrong one!")
        .signer("alice")
        .unwrap_err();
    assert!(matches!(err, SignError::WrongPassphrase { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("wrong passphrase"), "{msg}");
    assert!(msg.contains("alice.key"), "{msg}");
    assert!(msg.contains("nothing was signed"), "{msg}");
}

#[test]
fn without_a_passphrase_source_a_protected_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let key = SecretKey::generate().unwrap();
    KeyDir::new(&keys)
        .write_protected_with("alice", &key, &Passphrase::new("pw".into()))
        .unwrap();
    let err = KeyDir::new(&keys).signer("alice").unwrap_err();
    assert!(
        matches!(err, SignError::PassphraseUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refusing to sign"), "{err}");
    // Nor can a new protected key be made without one.
    let err = KeyDir::new(&keys).write_protected("bob", &key).unwrap_err();
    assert!(matches!(err, SignError::PassphraseUnavailable { .. }));
    assert!(!keys.join("bob.key").exists());
}

#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let p = pass_file(tmp.path(), "pw");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = KeyDir::new(&keys).with_passphrase(Arc::new(PassphraseFile(p)));
    let err = dir
        .write_protected("alice", &SecretKey::from_seed([1; 32]))
        .unwrap_err();
    assert!(
        matches!(err, SignError::InsecurePermissions { .. }),
        "{err:?}"
    );
}

#[test]
fn plaintext_keys_still_load_and_two_kinds_for_one_name_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let key = SecretKey::from_seed([4; 32]);
    write_private_key(&keys, "claude", &key).unwrap();
    let dir = KeyDir::new(&keys);
    assert_eq!(dir.kind_of("claude").unwrap(), KeyKind::Plaintext);
    assert_eq!(dir.signer("claude").unwrap().public_key(), key.public());
    // No second kind of key can be written for the name…
    let err = dir
        .write_protected_with("claude", &key, &Passphrase::new("pw".into()))
        .unwrap_err();
    assert!(matches!(err, SignError::KeyExists { .. }));
    // …and one planted beside it makes the name ambiguous, not silently chosen.
    std::fs::copy(keys.join("claude.jwk"), keys.join("claude.ssh-agent")).unwrap();
    let err = dir.signer("claude").unwrap_err();
    assert!(matches!(err, SignError::AmbiguousKey { .. }), "{err:?}");
}

#[test]
fn a_protected_key_file_over_the_limit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let p = keys.join("alice.key");
    std::fs::write(&p, vec![b'A'; MAX_PROTECTED_KEY_BYTES + 10]).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = with_file(tmp.path(), &keys, "pw")
        .signer("alice")
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

fn sealed_text() -> String {
    let key = SecretKey::from_seed([9; 32]);
    ProtectedKey::seal(&key, "alice", &Passphrase::new("pw".into()))
        .unwrap()
        .to_text()
        .unwrap()
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ProtectedKey::parse(&bytes);
        let _ = parse_ssh_public_key(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    // Each case that still parses runs bcrypt-pbkdf: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_corrupted_protected_key_never_panics_or_unlocks_as_another_key(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let text = sealed_text();
        let mut bytes = text.into_bytes();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(k) = ProtectedKey::parse(&bytes) {
            // Either the passphrase no longer works, or it gives the key the
            // (unchanged) public part names — never a different key.
            if let Ok(Some(secret)) = k.unlock(&Passphrase::new("pw".into())) {
                prop_assert_eq!(secret.public(), k.public().clone());
            }
        }
    }
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
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(sock.exists(), "ssh-agent did not create its socket");
    Some(Agent { child, sock })
}

fn ssh_keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

#[test]
fn signs_through_a_real_ssh_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(agent) = start_agent(tmp.path()) else {
        return;
    };
    let id = ssh_keygen(tmp.path(), "id_ed25519");
    let public =
        parse_ssh_public_key(&std::fs::read_to_string(id.with_extension("pub")).unwrap()).unwrap();

    // Not loaded yet: the agent cannot sign with it, and says so.
    let key = AgentKey::new(agent.sock.clone(), public.clone());
    let err = key.check_loaded().unwrap_err();
    assert!(err.to_string().contains("ssh-add"), "{err}");
    assert!(key.try_sign(b"x").is_err());

    let st = Command::new("ssh-add")
        .arg("-q")
        .arg(&id)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(list_ed25519(&agent.sock).unwrap().contains(&public));
    key.check_loaded().unwrap();

    let token = sign_compact(
        &key,
        "alice",
        "bosun-approval+jwt",
        &serde_json::json!({"jti": "j"}),
    )
    .unwrap();
    let u = decode(&token).unwrap();
    u.verify(&public).unwrap();
    assert_eq!(u.kid(), Some("alice"));
    // Another key does not verify it.
    assert!(u.verify(&SecretKey::from_seed([1; 32]).public()).is_err());

    // The key directory records the agent key as its public line only.
    let keys = tmp.path().join("keys");
    let path = KeyDir::new(&keys)
        .write_agent_key("alice", &public)
        .unwrap();
    assert_eq!(read_agent_key(&path).unwrap(), public);
    assert_eq!(
        KeyDir::new(&keys).kind_of("alice").unwrap(),
        KeyKind::SshAgent
    );
    drop(agent);
}
