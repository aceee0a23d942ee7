//! Approvals signed by a passkey, through the library on a real workspace
//! and SQLite file, with a software authenticator: the exact claims are
//! signed, every hard rule still holds, and each lie is refused with the
//! check named and changes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bosun_control::{Control, Governed, client};
use bosun_model::{KeyId, Name, OpState, Role, Verdict};
use bosun_passkey::soft::Soft;
use bosun_passkey::{Relying, challenge_of};
use bosun_sign::SecretKey;
use bosun_workspace::{KeyRegistry, Workspace};

const ORIGIN: &str = "http://localhost:8080";

fn id(s: &str) -> KeyId {
    KeyId::parse(s).unwrap()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

struct Fx {
    tmp: tempfile::TempDir,
    ctl: Control,
    keys: BTreeMap<String, SecretKey>,
    phone: Soft,
}

/// alice, bob (operators) and claude (agent); alice holds a passkey; ops
/// need two operators; the web origin is set.
fn fixture() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    bosun_workspace::scaffold::init(&root, &name("ws")).unwrap();
    let keeper = root.join("policy/keeper.toml");
    let text = std::fs::read_to_string(&keeper).unwrap();
    std::fs::write(
        &keeper,
        text.replace("default = { m = 1,", "default = { m = 2,"),
    )
    .unwrap();
    let mut keys = BTreeMap::new();
    for (n, role) in [
        ("alice", Role::Operator),
        ("bob", Role::Operator),
        ("claude", Role::Agent),
    ] {
        let k = SecretKey::from_seed([n.len() as u8 + n.as_bytes()[0]; 32]);
        KeyRegistry::register(&root, &id(n), role, &["*".into()], &k.public()).unwrap();
        keys.insert(n.to_string(), k);
    }
    let rp = Relying::new(ORIGIN).unwrap();
    let phone = Soft::new(7, ORIGIN, "localhost");
    let (options, state) = rp.start_registration("alice", &[]).unwrap();
    let cred = rp
        .finish_registration(&phone.create(&options), &state)
        .unwrap();
    KeyRegistry::add_passkey(&root, &id("alice"), "phone", &cred).unwrap();
    let ctl = Control::open(Workspace::open(&root).unwrap()).unwrap();
    let (p, _) = ctl.propose(&id("alice"), 1000).unwrap().unwrap();
    let (_, env) = ctl
        .sign_approval(
            &keys["alice"],
            &id("alice"),
            &p.id,
            &p.digest,
            Verdict::Approve,
            None,
            1000,
        )
        .unwrap();
    assert!(ctl.approve_adoption(&env, 1000).unwrap().unwrap().adopted);
    ctl.set_web_origin(ORIGIN).unwrap();
    Fx {
        tmp,
        ctl,
        keys,
        phone,
    }
}

impl Fx {
    fn gov(&self) -> Governed {
        self.ctl.governed().unwrap()
    }

    /// An op by `who`, pending approval.
    fn op(&self, who: &str, version: &str, now: i64) -> bosun_model::Jti {
        let gov = self.gov();
        let params = BTreeMap::from([("version".to_string(), version.to_string())]);
        let plan = client::plan(&gov, "pkg-upgrade", &[name("web-1")], &params).unwrap();
        let seq = self.ctl.next_seq(&id(who)).unwrap();
        let (_, env) = self
            .ctl
            .sign_op(&self.keys[who], &id(who), &plan, seq, now)
            .unwrap();
        let acc = self
            .ctl
            .intake(&gov, &[env], now)
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(acc.state, OpState::PendingApproval);
        acc.jti
    }

    /// What the page does: ask for the claims, have the authenticator sign
    /// their digest, wrap both.
    fn passkey_approval(&mut self, op: &bosun_model::Jti, now: i64) -> String {
        let req = self.ctl.passkey_request(&id("alice"), op, now).unwrap();
        let assertion = self.phone.get(&challenge_of(req.claims.as_bytes()));
        Control::passkey_envelope(&req.claims, &assertion).unwrap()
    }

    fn refused(&self, env: &str, now: i64) -> String {
        let rej = self
            .ctl
            .accept_approval(&self.gov(), env, now)
            .unwrap()
            .expect_err("refused");
        rej.check.as_str().to_string()
    }

    fn state(&self, op: &bosun_model::Jti) -> OpState {
        self.ctl.op_record(op).unwrap().unwrap().summary.state
    }
}

#[test]
fn a_passkey_approval_counts_like_any_and_the_ledger_names_the_passkey() {
    let mut fx = fixture();
    let op = fx.op("claude", "1", 2000);
    let req = fx.ctl.passkey_request(&id("alice"), &op, 2000).unwrap();
    let rec = fx.ctl.op_record(&op).unwrap().unwrap();
    assert!(
        req.claims.contains(rec.plan.digest().as_str()),
        "the claims bind the plan"
    );
    assert_eq!(
        req.challenge,
        bosun_model::Digest::of(req.claims.as_bytes())
    );
    let env = fx.passkey_approval(&op, 2001);
    let out = fx
        .ctl
        .accept_approval(&fx.gov(), &env, 2001)
        .unwrap()
        .unwrap();
    assert_eq!(
        (out.approvals, out.needed, out.state),
        (1, 2, OpState::PendingApproval)
    );
    // The same envelope again is a replay.
    assert_eq!(fx.refused(&env, 2002), "replay");
    // alice again, by passkey: still one approver.
    let again = fx.passkey_approval(&op, 2003);
    let out = fx
        .ctl
        .accept_approval(&fx.gov(), &again, 2003)
        .unwrap()
        .unwrap();
    assert_eq!(out.approvals, 1, "two approvals by one identity are one");
    // bob with his key makes two.
    let (_, ap) = fx
        .ctl
        .sign_approval(
            &fx.keys["bob"],
            &id("bob"),
            &op,
            &rec.plan.digest(),
            Verdict::Approve,
            None,
            2004,
        )
        .unwrap();
    let out = fx
        .ctl
        .accept_approval(&fx.gov(), &ap, 2004)
        .unwrap()
        .unwrap();
    assert_eq!(out.state, OpState::Approved);
    // The ledger records the passkey and the envelope's digest.
    let events = fx.ctl.events(Some(&op)).unwrap();
    let e = events
        .iter()
        .find(|e| e.kind == "op.approval" && e.data.get("passkey").is_some())
        .expect("a ledger entry for the passkey approval");
    let d = &e.data;
    assert_eq!(d["by"], "alice");
    assert_eq!(
        d["envelope_digest"],
        serde_json::json!(bosun_model::Digest::of(env.as_bytes()))
    );
    assert!(d["passkey"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn an_assertion_over_other_claims_is_refused_as_challenge() {
    let mut fx = fixture();
    let op = fx.op("claude", "1", 2000);
    let other = fx.op("claude", "2", 2000);
    // The page showed claims for `op`; a lying server swaps in `other`'s.
    let shown = fx.ctl.passkey_request(&id("alice"), &op, 2001).unwrap();
    let swapped = fx.ctl.passkey_request(&id("alice"), &other, 2001).unwrap();
    let assertion = fx.phone.get(&challenge_of(shown.claims.as_bytes()));
    let env = Control::passkey_envelope(&swapped.claims, &assertion).unwrap();
    assert_eq!(fx.refused(&env, 2001), "passkey_challenge");
    // Editing the claims after signing (a later expiry) is the same lie.
    let longer = shown.claims.replace("\"exp\":", "\"exp\":9");
    let env = Control::passkey_envelope(&longer, &assertion).unwrap();
    assert_eq!(fx.refused(&env, 2001), "passkey_challenge");
    assert_eq!(fx.state(&op), OpState::PendingApproval);
    assert_eq!(fx.state(&other), OpState::PendingApproval);
}

#[test]
fn an_assertion_from_another_origin_or_without_the_user_is_refused() {
    let mut fx = fixture();
    let op = fx.op("claude", "1", 2000);
    fx.phone.origin = "https://bosun.evil.example".into();
    let env = fx.passkey_approval(&op, 2001);
    assert_eq!(fx.refused(&env, 2001), "passkey_origin");
    fx.phone.origin = ORIGIN.into();
    fx.phone.verify_user = false;
    let env = fx.passkey_approval(&op, 2002);
    assert_eq!(fx.refused(&env, 2002), "passkey_user_verification");
    assert_eq!(fx.state(&op), OpState::PendingApproval);
}

#[test]
fn the_hard_rules_hold_for_passkeys_too() {
    let mut fx = fixture();
    // alice's own op: nobody approves their own.
    let own = fx.op("alice", "1", 2000);
    let env = fx.passkey_approval(&own, 2001);
    assert_eq!(fx.refused(&env, 2001), "self_approval");
    // Expired claims.
    let op = fx.op("claude", "2", 2000);
    let env = fx.passkey_approval(&op, 2001);
    assert_eq!(fx.refused(&env, 2001 + 10 * 86_400), "expired");
    // A passkey envelope for another kind of statement.
    let req = fx.ctl.passkey_request(&id("alice"), &op, 2002).unwrap();
    let assertion = fx.phone.get(&challenge_of(req.claims.as_bytes()));
    let env = bosun_passkey::Envelope {
        kid: "alice".into(),
        typ: bosun_model::claims::STATEMENT_TYP.into(),
        claims: req.claims.into_bytes(),
        assertion,
    }
    .encode();
    assert_eq!(fx.refused(&env, 2002), "type");
    // bob holds no passkey: alice's assertion under his name fails.
    let req = fx.ctl.passkey_request(&id("alice"), &op, 2003).unwrap();
    let assertion = fx.phone.get(&challenge_of(req.claims.as_bytes()));
    let as_bob = req.claims.replace("\"iss\":\"alice\"", "\"iss\":\"bob\"");
    let env = Control::passkey_envelope(&as_bob, &assertion).unwrap();
    assert_eq!(fx.refused(&env, 2003), "passkey_credential");
    assert_eq!(fx.state(&op), OpState::PendingApproval);
}

#[test]
fn without_a_web_origin_passkey_approvals_are_refused() {
    let mut fx = fixture();
    let op = fx.op("claude", "1", 2000);
    let env = fx.passkey_approval(&op, 2001);
    let plain = Control::open(Workspace::open(&fx.tmp.path().join("ws")).unwrap()).unwrap();
    let rej = plain
        .accept_approval(&fx.gov(), &env, 2001)
        .unwrap()
        .unwrap_err();
    assert_eq!(rej.check.as_str(), "passkey_setup");
}

#[test]
fn agents_cannot_hold_passkeys() {
    let fx = fixture();
    let root = fx.tmp.path().join("ws");
    let rp = Relying::new(ORIGIN).unwrap();
    let soft = Soft::new(9, ORIGIN, "localhost");
    let (options, state) = rp.start_registration("claude", &[]).unwrap();
    let cred = rp
        .finish_registration(&soft.create(&options), &state)
        .unwrap();
    let e = KeyRegistry::add_passkey(&root, &id("claude"), "laptop", &cred).unwrap_err();
    assert!(
        e.to_string().contains("only operators hold passkeys"),
        "{e}"
    );
    // Written by hand, as an agent with an editor would: the registry no
    // longer reads, so nothing can be adopted from it.
    let text = serde_json::to_string(&BTreeMap::from([("laptop", &cred)])).unwrap();
    std::fs::write(root.join("keys/claude.passkeys.json"), text).unwrap();
    let e = KeyRegistry::read(&root).unwrap_err();
    assert!(e.to_string().contains("keys/claude.passkeys.json"), "{e}");
    assert!(
        e.to_string().contains("only operators hold passkeys"),
        "{e}"
    );
}
