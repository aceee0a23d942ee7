//! `bosun demo`: the whole path in a throwaway workspace — an agent
//! submits, the policy holds it, the agent's own approval is refused, an
//! operator approves, the controller executes exactly once, a replay and a
//! self-approval are refused, and a read-only op runs alone.

use std::collections::BTreeMap;

use bosun_control::controller::Controller;
use bosun_control::{Control, ControlError, Result, client, now};
use bosun_model::{Jti, KeyId, Name, OpState, Role, Verdict};
use bosun_workspace::{KeyRegistry, Workspace};

use super::policy::{Explained, explain_text};
use super::work::progress_lines;
use crate::output::table;

fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn say(title: &str) {
    outln!("\n{}", crate::output::bold(&format!("== {title}")));
}

fn id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|e| other(e.to_string()))
}

fn host(s: &str) -> Result<Name> {
    Name::parse(s).map_err(|e| other(e.to_string()))
}

/// Approves op `jti` as `who` (its exact plan digest).
fn approve(ctl: &Control, keys: &std::path::Path, who: &KeyId, jti: &Jti) -> Result<()> {
    let out = ctl
        .approve_as(&bosun_sign::KeyDir::new(keys), who, jti, now())?
        .map_err(|e| other(e.to_string()))?;
    outln!("bosun approve {jti} --as {who}   → {}", out.state);
    Ok(())
}

/// The canary story: rollout, bars, drill, promotion, a failed bar, the
/// halt and its blocker, a held op, the rollback, the host table.
fn rollout(
    ctl: &Control,
    keys: &std::path::Path,
    c: &mut Controller,
    root: &std::path::Path,
) -> Result<()> {
    let (alice, bob, claude) = (id("alice")?, id("bob")?, id("claude")?);
    let key = |k: &KeyId| client::load_secret(&bosun_sign::KeyDir::new(keys), k);
    let rid = "pkg-upgrade";
    let status = |title: &str| -> Result<bosun_control::rollout::Status> {
        let st = ctl.rollout_status(rid)?;
        outln!("-- bosun rollout status {rid}  ({title})");
        super::rollout::print_status(&bosun_control::views::rollout_view(st.clone()));
        Ok(st)
    };

    say("12. A canary-first rollout (rollouts/pkg-upgrade.toml): the canary wave");
    let def = bosun_control::rollout::load_def(ctl, rid)?;
    for (i, w) in def.waves.iter().enumerate() {
        let bars: Vec<&str> = w.bars.iter().map(|b| b.kind()).collect();
        outln!(
            "  wave {i} `{}`: hosts {}, bars {}",
            w.name,
            w.hosts,
            bars.join(" + ")
        );
    }
    let a = ctl.rollout_start(rid, &key(&alice)?, &alice)?;
    outln!(
        "bosun rollout start {rid} --as alice   → canary op {} is {}",
        a.jti,
        a.state
    );
    approve(ctl, keys, &bob, &a.jti)?;
    c.work_until_idle(&mut progress_lines())?;
    status("the canary passed its bars")?;

    say("13. Rollback is proven on the canary before any wider wave");
    if let Err(e) = ctl.rollout_promote(rid, false, &key(&alice)?, &alice) {
        outln!("bosun rollout promote {rid}   refused: {e}");
    }
    let d = ctl.rollout_drill(rid, &key(&alice)?, &alice)?;
    outln!("bosun rollout drill {rid} --as alice   → op {}", d.jti);
    approve(ctl, keys, &bob, &d.jti)?;
    c.work_until_idle(&mut progress_lines())?;
    let r = ctl.rollout_retry(rid, &key(&alice)?, &alice)?;
    outln!(
        "bosun rollout retry {rid} --as alice   → the canary again, op {}",
        r.jti
    );
    approve(ctl, keys, &bob, &r.jti)?;
    c.work_until_idle(&mut progress_lines())?;

    say("14. Promotion: the next wave always needs a human (hard rule)");
    // The canary bakes for a second before it may be promoted.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // web-2's hardware trips the new driver: its probe bar will fail.
    let crash = root.join(".bosun/sim/web-2/pkgs");
    std::fs::create_dir_all(&crash).map_err(|e| other(e.to_string()))?;
    std::fs::write(crash.join("qat-driver.crash"), "oops\n").map_err(|e| other(e.to_string()))?;
    let w = ctl
        .rollout_promote(rid, false, &key(&alice)?, &alice)?
        .ok_or_else(|| other("nothing promoted"))?;
    outln!(
        "bosun rollout promote {rid} --as alice   → wave `web` op {} is {}",
        w.jti,
        w.state
    );
    approve(ctl, keys, &bob, &w.jti)?;
    c.work_until_idle(&mut progress_lines())?;
    status("a bar failed: the rollout halts")?;

    say("15. The failed bar filed a blocker; it holds exactly what it should");
    super::blockers::print_blockers(ctl)?;
    let gov = ctl.governed()?;
    let params = BTreeMap::from([("version".to_string(), "2.5.1".to_string())]);
    for h in ["web-2", "web-1"] {
        let plan = client::plan(&gov, "pkg-upgrade", &[host(h)?], &params)?;
        let acc = submit(ctl, &gov, &key(&claude)?, &claude, &plan)?;
        outln!(
            "claude submits pkg-upgrade 2.5.1 to {h} → {}{}",
            acc.state,
            acc.held
                .first()
                .map(|h| format!(", held by {h}"))
                .unwrap_or_default()
        );
        approve(ctl, keys, &alice, &acc.jti)?;
    }
    c.work_until_idle(&mut progress_lines())?;

    say("16. Roll back every host the rollout changed");
    let (rb, _) = ctl.rollout_rollback(rid, &key(&alice)?, &alice)?;
    outln!("bosun rollout rollback {rid} --as alice   → op {}", rb.jti);
    approve(ctl, keys, &bob, &rb.jti)?;
    c.work_until_idle(&mut progress_lines())?;
    status("rolled back")?;

    say("17. bosun hosts status");
    super::hosts::print_host_status(ctl, &ctl.ws.inventory()?.hosts)?;
    Ok(())
}

/// Runs the demo in a temporary directory.
pub(crate) fn run() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| other(format!("temp dir: {e}")))?;
    let root = tmp.path().join("homelab");
    let keys = tmp.path().join("keys");
    say("1. A workspace, two operators and an agent");
    bosun_workspace::scaffold::init(
        &root,
        &Name::parse("homelab").map_err(|e| other(e.to_string()))?,
    )?;
    outln!("bosun init {}", root.display());
    for (name, role) in [
        ("alice", Role::Operator),
        ("bob", Role::Operator),
        ("claude", Role::Agent),
    ] {
        let k = bosun_sign::SecretKey::generate()?;
        bosun_sign::write_private_key(&keys, name, &k)?;
        KeyRegistry::register(&root, &id(name)?, role, &["*".to_string()], &k.public())?;
        // The demo runs unattended, so its operator keys are plaintext; a
        // real operator key is protected (passphrase or ssh-agent).
        let plain = if role == Role::Operator {
            " --insecure-plaintext"
        } else {
            ""
        };
        outln!(
            "bosun key new {name} --role {role}{plain}   (key {})",
            k.public().thumbprint()
        );
    }
    let ctl = Control::open(Workspace::open(&root)?)?;
    let t = now();
    let (alice, bob, claude) = (id("alice")?, id("bob")?, id("claude")?);
    let key = |k: &KeyId| client::load_secret(&bosun_sign::KeyDir::new(&keys), k);

    say("2. alice adopts the policy, keys and runbooks (nothing on disk is in force before)");
    let (p, changes) = ctl
        .propose(&alice, t)?
        .ok_or_else(|| other("nothing to adopt"))?;
    for c in &changes {
        outln!("  + {:<24} {}", c.subject, c.new_digest.short());
    }
    let (_, env) = ctl.sign_approval(
        &key(&alice)?,
        &alice,
        &p.id,
        &p.digest,
        Verdict::Approve,
        None,
        t,
    )?;
    let out = ctl
        .approve_adoption(&env, t)?
        .map_err(|r| other(r.to_string()))?;
    outln!(
        "adopted: {} (bootstrap: the first operator adopts the initial set alone)",
        out.adopted
    );

    say("3. The agent plans an upgrade of two hosts");
    let gov = ctl.governed()?;
    let params = BTreeMap::from([("version".to_string(), "2.4.1".to_string())]);
    let targets = [host("canary-1")?, host("web-1")?];
    let plan = client::plan(&gov, "pkg-upgrade", &targets, &params)?;
    outln!("bosun plan pkg-upgrade -t canary-1 -t web-1 -p version=2.4.1");
    outln!("plan {}", plan.digest());
    for (i, s) in plan.steps.iter().enumerate() {
        outln!("  {i}. [{}] {}: {}", s.host, s.step, s.cmd);
    }

    say("4. The agent signs and submits it; the keeper policy holds it for a human");
    let (claims, op_env) =
        ctl.sign_op(&key(&claude)?, &claude, &plan, ctl.next_seq(&claude)?, t)?;
    let r = ctl.intake(&gov, std::slice::from_ref(&op_env), t)?;
    let acc = r
        .into_iter()
        .next()
        .ok_or_else(|| other("no intake result"))?
        .map_err(|e| other(e.to_string()))?;
    outln!("submitted {} → {}", acc.jti, acc.state);
    let rec = ctl
        .op_record(&acc.jti)?
        .ok_or_else(|| other("op vanished"))?;
    outln!("{}", explain_text(&Explained::of_record(&rec)));

    say("5. The agent tries to approve its own op: refused (agents never approve)");
    let (_, ap) = ctl.sign_approval(
        &key(&claude)?,
        &claude,
        &acc.jti,
        &plan.digest(),
        Verdict::Approve,
        None,
        t,
    )?;
    match ctl.accept_approval(&gov, &ap, t)? {
        Err(rej) => outln!("refused: {rej}"),
        Ok(_) => return Err(other("an agent's approval was accepted: invariant broken")),
    }

    say("6. alice approves the exact plan; the op is queued");
    let (_, ap) = ctl.sign_approval(
        &key(&alice)?,
        &alice,
        &acc.jti,
        &plan.digest(),
        Verdict::Approve,
        None,
        t,
    )?;
    let out = ctl
        .accept_approval(&gov, &ap, t)?
        .map_err(|e| other(e.to_string()))?;
    outln!(
        "approved by alice: {} ({} of {})",
        out.state,
        out.approvals,
        out.needed
    );

    say("7. The controller takes the lease and executes it");
    let mut c = Controller::new(ctl.clone());
    c.acquire()?
        .map_err(|l| other(format!("lease held by {}", l.holder)))?;
    c.work_until_idle(&mut progress_lines())?;

    say("8. The same envelope submitted again: refused as a replay");
    let r = ctl.intake(&gov, &[op_env], now())?;
    match r.into_iter().next() {
        Some(Err(rej)) => outln!("refused: {rej}"),
        _ => return Err(other("a replay was accepted: invariant broken")),
    }
    let _ = claims;

    say("9. alice's own changing op: she cannot approve it herself; bob can");
    let plan2 = client::plan(&gov, "pkg-upgrade", &[host("web-2")?], &params)?;
    let acc2 = submit(&ctl, &gov, &key(&alice)?, &alice, &plan2)?;
    outln!("alice submitted {} → {}", acc2.jti, acc2.state);
    let (_, self_ap) = ctl.sign_approval(
        &key(&alice)?,
        &alice,
        &acc2.jti,
        &plan2.digest(),
        Verdict::Approve,
        None,
        now(),
    )?;
    match ctl.accept_approval(&gov, &self_ap, now())? {
        Err(rej) => outln!("refused: {rej}"),
        Ok(_) => return Err(other("a self-approval was accepted: invariant broken")),
    }
    let (_, bob_ap) = ctl.sign_approval(
        &key(&bob)?,
        &bob,
        &acc2.jti,
        &plan2.digest(),
        Verdict::Approve,
        None,
        now(),
    )?;
    let out = ctl
        .accept_approval(&gov, &bob_ap, now())?
        .map_err(|e| other(e.to_string()))?;
    outln!("approved by bob: {}", out.state);

    say("10. A read-only op from the agent runs alone");
    let plan3 = client::plan(&gov, "disk-usage", &targets, &BTreeMap::new())?;
    let acc3 = submit(&ctl, &gov, &key(&claude)?, &claude, &plan3)?;
    outln!(
        "submitted {} → {} ({})",
        acc3.jti,
        acc3.state,
        acc3.decision.policy_ids.join(", ")
    );
    c.work_until_idle(&mut progress_lines())?;

    say("10b. The agent edits fleet/hosts.toml to add a wake command: drift, never run");
    let hosts_path = root.join("fleet/hosts.toml");
    let hosts = std::fs::read_to_string(&hosts_path)
        .map_err(|e| other(format!("fleet/hosts.toml: {e}")))?;
    let marker = root.join("pwned-by-the-agent");
    let anchor = "root = \".bosun/sim/web-1\"";
    std::fs::write(
        &hosts_path,
        hosts.replacen(
            anchor,
            &format!("{anchor}\nwake = \"touch {}\"", marker.display()),
            1,
        ),
    )
    .map_err(|e| other(format!("fleet/hosts.toml: {e}")))?;
    outln!("(the agent adds  wake = \"touch …/pwned-by-the-agent\"  to web-1)");
    let gov = ctl.governed()?;
    for d in &gov.drift {
        outln!("bosun status: drift: {d}");
    }
    let plan4 = client::plan(&gov, "disk-usage", &[host("web-1")?], &BTreeMap::new())?;
    let acc4 = submit(&ctl, &gov, &key(&claude)?, &claude, &plan4)?;
    outln!(
        "the agent submits disk-usage on web-1: {} → {}",
        acc4.jti,
        acc4.state
    );
    c.work_until_idle(&mut progress_lines())?;
    if marker.exists() {
        return Err(other("the agent's wake command ran: invariant broken"));
    }
    outln!(
        "the adopted inventory was in force: the wake command never ran (no {} on disk); only operators adopting the edit would bring it in",
        marker.display()
    );
    std::fs::write(&hosts_path, &hosts).map_err(|e| other(format!("fleet/hosts.toml: {e}")))?;

    say("11. Where everything stands");
    let ops = ctl.ops(None, 20)?;
    let rows: Vec<Vec<String>> = ops
        .iter()
        .rev()
        .map(|o| {
            vec![
                o.jti.to_string(),
                o.iss.to_string(),
                o.runbook.clone(),
                o.targets.to_string(),
                o.decision.clone(),
                o.state.to_string(),
            ]
        })
        .collect();
    table(
        &["jti", "issuer", "runbook", "hosts", "decision", "state"],
        &rows,
    );
    let rej = ctl.rejections(10)?;
    outln!(
        "\nrefused inputs (recorded): {}",
        rej.iter()
            .map(|r| r.check.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let events = ctl.events(None)?;
    outln!("events recorded: {}", events.len());
    let ok = ops.iter().filter(|o| o.state == OpState::Succeeded).count();
    let version = std::fs::read_to_string(root.join(".bosun/sim/canary-1/pkgs/qat-driver.version"))
        .unwrap_or_default();
    outln!("canary-1 now has qat-driver {}", version.trim());
    if ok != 4 {
        return Err(other(format!("expected 4 succeeded ops, got {ok}")));
    }

    rollout(&ctl, &keys, &mut c, &root)?;
    c.release()?;

    say("18. The ledger proves it: a signed checkpoint, verification, a proof");
    let signer = bosun_control::genesis::signer(&ctl, &keys)?;
    let cp = bosun_control::ledger::checkpoint(&ctl, &signer)?
        .ok_or_else(|| other("no new entries to checkpoint"))?;
    outln!("bosun ledger checkpoint   (C2SP tlog-checkpoint, signed by the ledger key)");
    for line in cp.note.lines() {
        outln!("  {line}");
    }
    let v = bosun_control::ledger::verifier(&ctl.ws)?;
    match bosun_control::ledger::verify(&ctl, &v, &[])? {
        Ok(r) => outln!(
            "bosun ledger verify       ok: {} entries recomputed, root {}, {} checkpoint(s) verified",
            r.size,
            r.root,
            r.checkpoints
        ),
        Err(e) => return Err(other(e.to_string())),
    }
    let proofs = bosun_control::ledger::prove(&ctl, Some(acc.jti.as_str()), None)?;
    let kind_of = |p: &bosun_control::ledger::InclusionProof| {
        serde_json::from_str::<serde_json::Value>(&p.entry)
            .map(|e| e["kind"].as_str().unwrap_or("?").to_string())
            .unwrap_or_default()
    };
    let last = proofs
        .iter()
        .find(|p| kind_of(p) == "op.finished")
        .or(proofs.last())
        .ok_or_else(|| other("no proof for the agent's op"))?;
    bosun_control::ledger::verify_proof(last, &v).map_err(other)?;
    outln!(
        "bosun ledger prove {}   {} entries of the agent's op are in the log of {}; its `{}` entry's proof ({} hashes) checks against {}",
        acc.jti,
        proofs.len(),
        last.tree_size,
        kind_of(last),
        last.proof.len(),
        v
    );
    outln!(
        "\nDone. Try it yourself: bosun init lab && bosun -w lab key new you --role operator && bosun -w lab adopt --as you"
    );
    Ok(())
}

/// Signs `plan` as `who` and hands it to intake: the accepted op (a
/// refusal is an error: the demo's ops are all well-formed).
fn submit(
    ctl: &Control,
    gov: &bosun_control::Governed,
    key: &bosun_sign::Signer,
    who: &KeyId,
    plan: &bosun_model::Plan,
) -> Result<bosun_control::intake::Accepted> {
    let (_, env) = ctl.sign_op(key, who, plan, ctl.next_seq(who)?, now())?;
    ctl.intake(gov, &[env], now())?
        .into_iter()
        .next()
        .ok_or_else(|| other("no result"))?
        .map_err(|e| other(e.to_string()))
}
