//! `bosun ledger …`: checkpoints, verification (also against a trusted
//! checkpoint kept outside the database), proofs, the git mirror and
//! witnesses.

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::{Result, ledger};
use clap::Subcommand;
use serde_json::json;

use super::{Ctx, other};
use crate::output::local;

#[derive(Subcommand, Debug)]
pub(crate) enum LedgerCmd {
    /// Sign a checkpoint (C2SP tlog-checkpoint) over the entries recorded
    /// since the last one, with the workspace's ledger key. `serve` does
    /// this every second while there are new entries.
    #[command(
        after_help = "Examples:\n  bosun ledger checkpoint\n  bosun ledger checkpoint --out ~/bosun-checkpoint.txt"
    )]
    Checkpoint {
        /// Also write the newest signed checkpoint (the C2SP note) to FILE
        /// for safekeeping outside the database, for `ledger verify
        /// --trusted FILE`. An existing FILE is replaced only by a
        /// checkpoint that extends it (never by an older one).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// The signed checkpoints, oldest first.
    #[command(
        after_help = "Examples:\n  bosun ledger checkpoints\n  bosun ledger checkpoints --json"
    )]
    Checkpoints {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute the Merkle tree from the stored entries and check every
    /// stored hash and every checkpoint (signature, size, root,
    /// consistency). Fails naming the first bad index.
    #[command(
        after_help = "Examples:\n  bosun ledger verify\n  bosun ledger verify --trusted ~/bosun-checkpoint.txt"
    )]
    Verify {
        /// The ledger's verifier key (`name+id+key`, or a file holding it);
        /// default: keys/ledger.jwk.
        #[arg(long)]
        key: Option<String>,
        /// A witness's verifier key (repeatable): its cosignatures on
        /// checkpoints are checked too.
        #[arg(long)]
        witness: Vec<String>,
        /// Check a git mirror instead (no workspace, no database); the
        /// key defaults to the mirror's own ledger.vkey.
        #[arg(long, value_name = "DIR")]
        git: Option<PathBuf>,
        /// Also recompute every stored subtree hash (the index proofs and
        /// checkpoints are built from); slower.
        #[arg(long)]
        full: bool,
        /// A checkpoint kept outside the database (`ledger checkpoint
        /// --out FILE`): its signature is checked with the ledger key, and
        /// the database must hold its log — fewer entries are reported as
        /// missing (truncated or rolled back), another history as a fork.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["git", "trusted_mirror"])]
        trusted: Option<PathBuf>,
        /// As `--trusted`, with the latest checkpoint of a git mirror
        /// (`ledger mirror --git DIR`).
        #[arg(long, value_name = "DIR", conflicts_with = "git")]
        trusted_mirror: Option<PathBuf>,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Append the entries and checkpoints recorded since the last run to a
    /// git repository (created when missing): one commit per checkpoint,
    /// with `Jti:` trailers. Idempotent; resumes after an interruption.
    #[command(after_help = "Examples:\n  bosun ledger mirror --git /srv/bosun-ledger")]
    Mirror {
        /// The repository.
        #[arg(long, value_name = "DIR")]
        git: PathBuf,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// As a witness (a second site, an auditor): check the whole ledger,
    /// then add your cosignature to its latest checkpoint.
    #[command(after_help = "Examples:\n  bosun ledger cosign --key witness.key")]
    Cosign {
        /// Your note signing key (`PRIVATE+KEY+…`), or a file holding it
        /// (mode 0600), as `bosun ledger witness-key` writes.
        #[arg(long)]
        key: String,
    },
    /// Make a witness key: writes `PRIVATE+KEY+<name>+…` to FILE (0600) and
    /// prints the verifier key to give to others (`--witness`).
    #[command(after_help = "Examples:\n  bosun ledger witness-key audit-1 --out witness.key")]
    WitnessKey {
        /// The witness's name (a schema-less URL is customary:
        /// `backup.lan/bosun-witness`).
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the inclusion proofs of an op's entries (or of `--index N`)
    /// against the latest checkpoint, as JSON: entry, leaf hash, proof and
    /// the signed checkpoint. Save it and check it anywhere with
    /// `bosun ledger verify-proof`.
    #[command(
        after_help = "Examples:\n  bosun ledger prove 01a24c > proof.json\n  bosun ledger prove --index 42 --checkpoint"
    )]
    Prove {
        /// The op's jti.
        jti: Option<String>,
        /// A leaf index instead of a jti.
        #[arg(long)]
        index: Option<u64>,
        /// Sign a fresh checkpoint first, so the newest entries are covered.
        #[arg(long)]
        checkpoint: bool,
        /// Prove against the checkpoint of this size (default: the latest;
        /// see `bosun ledger checkpoints`).
        #[arg(long, value_name = "SIZE")]
        at: Option<u64>,
        /// Output compact JSON on one line (the proof is JSON either way).
        #[arg(long)]
        json: bool,
    },
    /// Print the consistency proof between two checkpoints (the newer log
    /// extends the older), as JSON for `bosun ledger verify-proof`.
    #[command(after_help = "Examples:\n  bosun ledger consistency --from 120 > consistency.json")]
    Consistency {
        /// The older checkpoint's size.
        #[arg(long, value_name = "SIZE")]
        from: u64,
        /// The newer checkpoint's size (default: the latest).
        #[arg(long, value_name = "SIZE")]
        to: Option<u64>,
        /// Output compact JSON on one line (the proof is JSON either way).
        #[arg(long)]
        json: bool,
    },
    /// Check a proof file offline (inclusion or consistency): no
    /// workspace, no database.
    #[command(
        after_help = "Examples:\n  bosun ledger verify-proof proof.json --key keys/ledger.vkey"
    )]
    VerifyProof {
        /// The file `bosun ledger prove` wrote (one proof or a list).
        file: PathBuf,
        /// The ledger's verifier key (`name+id+key`, or a file holding it,
        /// such as a workspace's keys/ledger.vkey).
        #[arg(long)]
        key: String,
        /// Output JSON: `{ok, kind, proofs: [{index, tree_size, ok, error}]}`
        /// or, for a consistency proof, `{ok, kind, from, to, error}`.
        #[arg(long)]
        json: bool,
    },
}

/// A verifier key given as `name+id+key` or as a file holding one (or a
/// workspace's keys/ledger.vkey).
fn read_vkey(arg: &str) -> Result<bosun_ledger::NoteVerifier> {
    let text = if std::path::Path::new(arg).is_file() {
        std::fs::read_to_string(arg).map_err(|e| other(format!("{arg}: {e}")))?
    } else {
        arg.to_string()
    };
    bosun_ledger::NoteVerifier::parse(text.trim()).map_err(|e| other(e.to_string()))
}

pub(crate) fn run(ctx: &Ctx, cmd: LedgerCmd) -> Result<ExitCode> {
    match cmd {
        LedgerCmd::VerifyProof { file, key, json: j } => verify_proof(&file, &key, j),
        LedgerCmd::Checkpoint { out, json: js } => {
            let ctl = ctx.control()?;
            let signer = bosun_control::genesis::signer(&ctl, &ctx.key_dir)?;
            let cp = ledger::checkpoint(&ctl, &signer)?;
            if let Some(path) = out {
                let newest = ctl
                    .checkpoints()?
                    .pop()
                    .ok_or_else(|| other("no checkpoint yet: the ledger has no entries to sign"))?;
                let v = ledger::verifier(&ctl.ws)?;
                let saved = bosun_control::trusted::save(&ctl, &path, &newest.note, &v)?;
                if js {
                    outln!(
                        "{}",
                        json!({"size": saved.size, "note": saved.note, "new": cp.is_some(), "out": path})
                    );
                } else {
                    outln!(
                        "wrote the checkpoint of size {} to {}; keep it outside this workspace and check the database with `bosun ledger verify --trusted {}`",
                        saved.size,
                        path.display(),
                        path.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            match (cp, js) {
                (Some(c), true) => {
                    outln!("{}", json!({"size": c.size, "note": c.note, "new": true}))
                }
                (Some(c), false) => out!("{}", c.note),
                (None, true) => outln!("{}", json!({"new": false, "size": ctl.ledger_size()?})),
                (None, false) => outln!(
                    "nothing new since the last checkpoint (size {})",
                    ctl.ledger_size()?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Checkpoints { json: js } => {
            let ctl = ctx.reader()?;
            let cps = ctl.checkpoint_views()?;
            if js {
                outln!("{}", serde_json::to_string(&cps).unwrap_or_default());
            } else {
                for c in &cps {
                    outln!("{}  size {}", local(c.at.as_second()), c.size);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Cosign { key } => {
            let ctl = ctx.control()?;
            let witness = ledger::witness_signer(&key)?;
            let v = ledger::verifier(&ctl.ws)?;
            let size = ledger::cosign_latest(&ctl, &v, &witness)?;
            outln!(
                "{} verified the ledger and cosigned its checkpoint of size {size}",
                witness.name
            );
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::WitnessKey { name, out } => {
            if out.exists() {
                return Err(other(format!(
                    "{} exists; nothing was written",
                    out.display()
                )));
            }
            let (private, public) = ledger::new_witness_key(&name)?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .map_err(|e| other(format!("{}: {e}", out.display())))?;
            writeln!(f, "{private}").map_err(|e| other(format!("{}: {e}", out.display())))?;
            outln!("{public}");
            errln!(
                "private key in {} (0600); give the line above to whoever verifies: bosun ledger verify --witness '<it>'",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Mirror { git, json: js } => {
            let ctl = ctx.reader()?;
            let spin = crate::progress::spinner(&format!("mirroring to {}", git.display()));
            let r = bosun_control::mirror::mirror(&ctl, &git);
            spin.finish_and_clear();
            let r = r?;
            if js {
                outln!("{}", json!(r));
            } else if r.commits == 0 {
                outln!("{} is up to date ({} entries)", git.display(), r.to);
            } else {
                outln!(
                    "{}: entries {}..{} in {} commit(s)",
                    git.display(),
                    r.from,
                    r.to,
                    r.commits
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Verify {
            key,
            witness,
            git,
            full,
            trusted,
            trusted_mirror,
            json: js,
        } => {
            let witnesses = witness
                .iter()
                .map(|w| read_vkey(w))
                .collect::<Result<Vec<_>>>()?;
            if let Some(dir) = git {
                let k = key.as_deref().map(read_vkey).transpose()?;
                if k.is_none() && !js {
                    errln!(
                        "note: checking with the mirror's own ledger.vkey; pass --key to check against a key you trust"
                    );
                }
                let name = k.as_ref().map(|k| k.name.clone()).unwrap_or_default();
                let spin = crate::progress::spinner(&format!("verifying {}", dir.display()));
                let result = bosun_control::mirror::verify_git(&dir, k.as_ref(), &witnesses);
                spin.finish_and_clear();
                let result = result?;
                return Ok(verify_outcome(
                    &VerifyOutcome {
                        result: result.map_err(VerifyFailure::Ledger),
                        key: name,
                        start: None,
                        trusted: None,
                    },
                    js,
                ));
            }
            let ctl = ctx.reader()?;
            let v = match key {
                Some(k) => read_vkey(&k)?,
                None => ledger::verifier(&ctl.ws)?,
            };
            let trusted = match trusted.or(trusted_mirror) {
                None => None,
                Some(p) => {
                    match bosun_control::trusted::read(&p, &v, ctl.ws.config.name.as_str()) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            let what = error_chain(&e);
                            if js {
                                outln!(
                                    "{}",
                                    json!({"ok": false, "check": "trusted_file", "index": null, "what": what, "trusted": null, "mismatch": null})
                                );
                            } else {
                                errln!("refused: {what}");
                            }
                            return Ok(ExitCode::from(1));
                        }
                    }
                }
            };
            let spin = crate::progress::spinner("verifying the ledger");
            let r = ledger::verify(&ctl, &v, &witnesses);
            spin.finish_and_clear();
            let mut r = r?;
            if full
                && r.is_ok()
                && let Err(e) = ledger::verify_nodes(&ctl)?
            {
                r = Err(e);
            }
            let start = bosun_control::genesis::ledger_start(&ctl)?;
            let result = match r {
                Err(e) => Err(VerifyFailure::Ledger(e)),
                Ok(rep) => match &trusted {
                    None => Ok((rep, None)),
                    Some(t) => match bosun_control::trusted::compare(&ctl, &rep, t)? {
                        Ok(a) => Ok((rep, Some(a))),
                        Err(m) => Err(VerifyFailure::Trusted(m)),
                    },
                },
            };
            let (result, agreement) = match result {
                Ok((rep, a)) => (Ok(rep), a),
                Err(e) => (Err(e), None),
            };
            Ok(verify_outcome(
                &VerifyOutcome {
                    result,
                    key: v.name.clone(),
                    start,
                    trusted: trusted.map(|t| (t, agreement)),
                },
                js,
            ))
        }
        LedgerCmd::Consistency { from, to, json: js } => {
            let ctl = ctx.reader()?;
            print_proof(&ledger::prove_consistency(&ctl, from, to)?, js)
        }
        LedgerCmd::Prove {
            jti: j,
            index,
            checkpoint,
            at,
            json: js,
        } => {
            let ctl = ctx.reader()?;
            if checkpoint {
                let signer = bosun_control::genesis::signer(&ctl, &ctx.key_dir)?;
                let _ = ledger::checkpoint(&ctl, &signer);
            }
            if j.is_none() && index.is_none() {
                return Err(other(
                    "name an op (`bosun ledger prove <jti>`) or `--index N`",
                ));
            }
            let proofs = ledger::prove_at(&ctl, j.as_deref(), index, at)?;
            print_proof(&proofs, js)
        }
    }
}

/// `bosun ledger …` as a client of the daemon: `checkpoints`, `prove`
/// (against the daemon's latest checkpoint) and `consistency` read its
/// ledger; `verify-proof` and `witness-key` need no workspace and run
/// here. The rest write or read the state itself, and refuse.
pub(crate) fn remote(ctx: &Ctx, r: &bosun_client::Remote, cmd: LedgerCmd) -> Result<ExitCode> {
    let fetched =
        |path: &str, js: bool| -> Result<std::result::Result<serde_json::Value, ExitCode>> {
            Ok(match r.get(path)? {
                Ok(v) => Ok(v),
                Err(e) => Err(super::refused_remote(&e, js)),
            })
        };
    match cmd {
        c @ (LedgerCmd::VerifyProof { .. } | LedgerCmd::WitnessKey { .. }) => run(ctx, c),
        LedgerCmd::Checkpoints { json: js } => {
            let cps: Vec<bosun_api::views::CheckpointView> = match r.get("/ledger/checkpoints")? {
                Ok(v) => v,
                Err(e) => return Ok(super::refused_remote(&e, js)),
            };
            if js {
                outln!("{}", serde_json::to_string(&cps).unwrap_or_default());
            } else {
                for c in &cps {
                    outln!("{}  size {}", local(c.at.as_second()), c.size);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Prove {
            jti,
            index,
            checkpoint: false,
            at: None,
            json: js,
        } => {
            let path = match (jti, index) {
                (Some(j), None) => {
                    format!("/ledger/proofs?op={}", super::op_path_id(&j)?)
                }
                (None, Some(i)) => format!("/ledger/proofs?index={i}"),
                _ => {
                    return Err(other(
                        "name an op (`bosun ledger prove <jti>`) or `--index N`",
                    ));
                }
            };
            match fetched(&path, js)? {
                Ok(v) => {
                    let proofs: Vec<ledger::InclusionProof> = serde_json::from_value(v)
                        .map_err(|e| r.failed(format!("its proofs: {e}")))?;
                    print_proof(&proofs, js)
                }
                Err(code) => Ok(code),
            }
        }
        LedgerCmd::Consistency { from, to, json: js } => {
            let path = match to {
                Some(to) => format!("/ledger/consistency?from={from}&to={to}"),
                None => format!("/ledger/consistency?from={from}"),
            };
            match fetched(&path, js)? {
                Ok(v) => {
                    let proof: ledger::ConsistencyProof = serde_json::from_value(v)
                        .map_err(|e| r.failed(format!("its proof: {e}")))?;
                    print_proof(&proof, js)
                }
                Err(code) => Ok(code),
            }
        }
        LedgerCmd::Checkpoint { .. } | LedgerCmd::Cosign { .. } => Err(other(format!(
            "the daemon at {} signs its own checkpoints with the ledger key only it reads; a witness cosigns on the daemon's host as its user (`sudo -u bosun bosun ledger cosign …`), or checks from here with `ledger checkpoints`, `ledger consistency` and `ledger verify-proof`",
            r.url
        ))),
        LedgerCmd::Verify { .. } | LedgerCmd::Mirror { .. } => Err(other(format!(
            "`ledger verify` and `ledger mirror` read the daemon's database whole: run them on its host as its user (`sudo -u bosun bosun ledger verify`); from here, `ledger checkpoints`, `ledger consistency` and `ledger verify-proof` check that its ledger only grows (see docs/deploy.md); daemon: {}",
            r.url
        ))),
        LedgerCmd::Prove { .. } => Err(other(
            "over BOSUN_URL, `ledger prove` proves against the daemon's latest checkpoint: `--checkpoint` and `--at` read the database, so run them on its host as its user",
        )),
    }
}

/// Prints a proof as JSON: pretty, or on one line with `--json`.
fn print_proof<T: serde::Serialize>(proof: &T, compact: bool) -> Result<ExitCode> {
    let text = if compact {
        serde_json::to_string(proof)
    } else {
        serde_json::to_string_pretty(proof)
    };
    outln!("{}", text.map_err(|e| other(e.to_string()))?);
    Ok(ExitCode::SUCCESS)
}

/// `bosun ledger verify-proof`: an inclusion proof (or a list) or a
/// consistency proof, checked against the ledger's verifier key offline.
fn verify_proof(file: &std::path::Path, key: &str, j: bool) -> Result<ExitCode> {
    let v = read_vkey(key)?;
    let text =
        std::fs::read_to_string(file).map_err(|e| other(format!("{}: {e}", file.display())))?;
    if text.len() > 16 * 1024 * 1024 {
        return Err(other(format!("{}: over 16 MiB", file.display())));
    }
    let status = |ok: bool| {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    };
    if let Ok(c) = serde_json::from_str::<ledger::ConsistencyProof>(&text) {
        let r = ledger::verify_consistency_proof(&c, &v);
        if j {
            let (from, to) = r
                .as_ref()
                .map_or((None, None), |(a, b)| (Some(*a), Some(*b)));
            let error = r.as_ref().err().map(ToString::to_string);
            outln!(
                "{}",
                json!({"ok": r.is_ok(), "kind": "consistency", "from": from, "to": to, "key": v.name, "error": error})
            );
        } else {
            match &r {
                Ok((a, b)) => outln!(
                    "ok  the log of size {b} extends the log of size {a}, both signed by {}",
                    v.name
                ),
                Err(e) => errln!("BAD consistency proof: {e}"),
            }
        }
        return Ok(status(r.is_ok()));
    }
    let proofs: Vec<ledger::InclusionProof> = match serde_json::from_str(&text) {
        Ok(list) => list,
        Err(_) => vec![serde_json::from_str(&text).map_err(|e| {
            other(format!(
                "{}:{}:{}: {e}",
                file.display(),
                e.line(),
                e.column()
            ))
        })?],
    };
    let mut bad = 0;
    let mut out = Vec::new();
    for p in &proofs {
        let r = ledger::verify_proof(p, &v);
        if r.is_err() {
            bad += 1;
        }
        if j {
            out.push(json!({"index": p.index, "tree_size": p.tree_size, "ok": r.is_ok(), "error": r.as_ref().err().map(ToString::to_string)}));
            continue;
        }
        match r {
            Ok(()) => outln!(
                "ok  entry {} is in the log of size {} signed by {}",
                p.index,
                p.tree_size,
                v.name
            ),
            Err(e) => errln!("BAD entry {}: {e}", p.index),
        }
    }
    if j {
        outln!(
            "{}",
            json!({"ok": bad == 0, "kind": "inclusion", "key": v.name, "proofs": out})
        );
    }
    Ok(status(bad == 0))
}

/// Why `ledger verify` failed: the ledger itself, or against a trusted
/// checkpoint.
enum VerifyFailure {
    Ledger(ledger::VerifyError),
    Trusted(bosun_control::trusted::Mismatch),
}

/// Everything `ledger verify` reports.
struct VerifyOutcome {
    result: std::result::Result<ledger::VerifyReport, VerifyFailure>,
    /// The name of the key the checkpoints were checked with.
    key: String,
    start: Option<bosun_control::genesis::LedgerStart>,
    trusted: Option<(
        bosun_control::trusted::TrustedCheckpoint,
        Option<bosun_control::trusted::Agreement>,
    )>,
}

/// An error and its sources, in one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// Prints `ledger verify`'s outcome. JSON, always these keys: on success
/// `ok`, `size`, `root`, `checkpoints`, `cosignatures`, `start` (the
/// ledger's first entry when it records its start, else null) and
/// `trusted` (`{source, size, root, agreement}` or null); on failure `ok`,
/// `check` (`ledger` or `trusted`), `index`, `what`, `trusted`
/// (`{source, size, root}` or null) and `mismatch` (`{kind: "missing",
/// held, signed, first, last, count}`, `{kind: "forked", size, held,
/// signed_root, held_root}`, or null).
fn verify_outcome(o: &VerifyOutcome, js: bool) -> ExitCode {
    let trusted_json = o.trusted.as_ref().map(|(t, a)| {
        json!({"source": t.source, "size": t.size, "root": t.root_b64(), "agreement": a.map(|a| a.as_str())})
    });
    match &o.result {
        Ok(r) => {
            if js {
                outln!(
                    "{}",
                    json!({"ok": true, "size": r.size, "root": r.root, "checkpoints": r.checkpoints, "cosignatures": r.cosignatures, "start": o.start, "trusted": trusted_json})
                );
            } else {
                outln!(
                    "ok: {} entries, root {}, {} checkpoints signed by {} verified, {} witness cosignatures",
                    r.size,
                    r.root,
                    r.checkpoints,
                    o.key,
                    r.cosignatures
                );
                if let Some((t, a)) = &o.trusted {
                    outln!(
                        "ok: the trusted checkpoint of size {} from {} is {}",
                        t.size,
                        t.source.display(),
                        match a {
                            Some(bosun_control::trusted::Agreement::Extends) => {
                                "a prefix of this ledger (consistency proof checked)"
                            }
                            _ => "this ledger's newest state",
                        }
                    );
                }
                print_start(o.start.as_ref());
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            let (check, index, what, mismatch) = match f {
                VerifyFailure::Ledger(e) => ("ledger", e.index, e.to_string(), None),
                VerifyFailure::Trusted(m) => (
                    "trusted",
                    m.index(),
                    format!("ledger verification failed against a trusted checkpoint: {m}"),
                    Some(m),
                ),
            };
            if js {
                outln!(
                    "{}",
                    json!({"ok": false, "check": check, "index": index, "what": what, "trusted": trusted_json, "mismatch": mismatch})
                );
            } else {
                errln!("{what}");
                if let Some((t, _)) = &o.trusted {
                    errln!(
                        "  trusted checkpoint: size {} from {}",
                        t.size,
                        t.source.display()
                    );
                }
                print_start(o.start.as_ref());
            }
            ExitCode::from(1)
        }
    }
}

/// Says that the ledger was re-initialised, and from what.
fn print_start(start: Option<&bosun_control::genesis::LedgerStart>) {
    let Some(s) = start else { return };
    if s.kind != bosun_control::genesis::REINITIALISED {
        return;
    }
    let prev = match &s.previous {
        Some(p) => format!(
            "the previous ledger's last kept checkpoint was of size {} (root {})",
            p.size, p.root
        ),
        None => "no checkpoint of the previous ledger was given".into(),
    };
    outln!(
        "note: this ledger was re-initialised at {} (entry 0, `ledger.reinitialised`: the database was found {}); {prev}",
        local(s.at),
        s.found.as_deref().unwrap_or("lost"),
    );
}
