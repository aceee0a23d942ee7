//! `bosun adopt`: propose what is on disk for adoption, or approve a
//! proposal, after showing its diff and asking.

use std::process::ExitCode;

use bosun_api::views::{AdoptionOutcome, PendingView, ProposalView};
use bosun_client::Remote;
use bosun_control::adopt::Change;
use bosun_control::proposal::checked_changes;
use bosun_control::{Result, client, now};
use bosun_model::{Jti, Verdict};
use clap::Args;
use serde_json::json;

use super::remote_sign::RemoteSigner;
use super::{Ctx, answered, key_id, other, refused};

/// Propose the policy, key registry, runbooks, inventory and rollouts on
/// disk for adoption, or approve a proposal. Nothing on disk is in force
/// until adopted.
///
/// Proposing prints the diff against what is in force and asks
/// `propose and approve? [y/N]` (the proposer's approval counts, and at
/// bootstrap or with one operator it adopts); `--approve` prints the diff
/// being approved and asks `approve? [y/N]`. Without a terminal either
/// signs only with `--yes`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun adopt --as alice                 # propose what is on disk\n  bosun adopt --approve 3f9c2a --as bob   # a second operator approves\n  p=$(bosun adopt --as alice -q) && bosun adopt --approve $p --as bob"
)]
pub(crate) struct AdoptArgs {
    /// Sign as this identity (an operator).
    #[arg(long = "as")]
    pub(crate) as_: String,
    /// Approve this proposal instead of proposing (its id, or an
    /// unambiguous prefix of at least 6 characters).
    #[arg(long)]
    pub(crate) approve: Option<String>,
    /// Sign without asking (for scripts; required when stdin is not a
    /// terminal).
    #[arg(long)]
    pub(crate) yes: bool,
    /// Output JSON (the diff goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
    /// Print only the proposal's id (the diff goes to stderr), for scripts:
    /// `p=$(bosun adopt --as alice -q)`.
    #[arg(short, long, conflicts_with = "json")]
    pub(crate) quiet: bool,
}

/// Runs `bosun adopt`.
pub(crate) fn run(ctx: &Ctx, a: AdoptArgs) -> Result<ExitCode> {
    adopt(ctx, &a.as_, a.approve.as_deref(), a.yes, a.json, a.quiet)
}

fn adopt(
    ctx: &Ctx,
    as_: &str,
    approve: Option<&str>,
    yes: bool,
    j: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let who = key_id(as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let (proposal, changes) = match approve {
        Some(id) => {
            let id = ctl.resolve_proposal(id)?;
            let p = ctl
                .proposal(&id)?
                .ok_or_else(|| other(format!("no proposal `{id}`")))?;
            let changes = ctl.proposal_changes(&p)?;
            let head = proposal_head(
                p.id.as_str(),
                p.proposer.as_str(),
                &p.state,
                &changes,
                p.digest.as_str(),
            );
            ask(&head, &changes, "approve?", j || quiet, yes)?;
            (p, Vec::new())
        }
        None => {
            // Proposing signs the proposer's approval (with one operator in
            // force, or at bootstrap, that adopts): the same consent.
            let shown: Vec<_> = ctl.pending_changes()?.into_iter().map(|(_, c)| c).collect();
            if shown.is_empty() {
                print_nothing(j, quiet);
                return Ok(ExitCode::SUCCESS);
            }
            let head = format!("proposal of {} change(s), approved by {who}\n", shown.len());
            ask(&head, &shown, "propose and approve?", j || quiet, yes)?;
            let (p, changes) = ctl
                .propose(&who, now())?
                .ok_or_else(|| other("the files changed while you read: nothing differs now"))?;
            if changes != shown {
                return Err(other(
                    "the files changed while you read: nothing was signed; run `bosun adopt` again",
                ));
            }
            (p, changes)
        }
    };
    let _ = changes;
    // Signed when answered: the question may have waited a while.
    let t = now();
    let (_, env) = ctl.sign_approval(
        &key,
        &who,
        &proposal.id,
        &proposal.digest,
        Verdict::Approve,
        None,
        t,
    )?;
    match ctl.approve_adoption(&env, t)? {
        Ok(out) => {
            print_outcome(
                &AdoptionOutcome {
                    proposal: out.proposal.to_string(),
                    digest: proposal.digest.to_string(),
                    approvals: out.approvals,
                    needed: out.needed,
                    adopted: out.adopted,
                },
                j,
                quiet,
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(rej) => Ok(refused(&rej, j)),
    }
}

/// The first line of what an approver of a proposal reads.
fn proposal_head(
    id: &str,
    proposer: &str,
    state: &str,
    changes: &[Change],
    digest: &str,
) -> String {
    format!(
        "proposal {id} by {proposer} ({state}), {} subject(s), digest {digest}\n",
        changes.len()
    )
}

/// Shows `head` and the diff of `changes` (to stderr when `quietly`), and
/// asks `question` unless `yes`.
fn ask(head: &str, changes: &[Change], question: &str, quietly: bool, yes: bool) -> Result<()> {
    super::consent::show(
        &format!("{head}{}", super::consent::render_changes(changes)),
        quietly,
        yes,
    )?;
    super::consent::confirm(question, yes)
}

/// What an accepted adoption approval did, as `adopt` prints it.
fn print_outcome(out: &AdoptionOutcome, j: bool, quiet: bool) {
    if quiet {
        outln!("{}", out.proposal);
    } else if j {
        outln!(
            "{}",
            json!({"proposal": out.proposal, "digest": out.digest, "approvals": out.approvals, "needed": out.needed, "adopted": out.adopted})
        );
    } else if out.adopted {
        outln!(
            "adopted proposal {} ({} of {} approvals): now in force",
            out.proposal,
            out.approvals,
            out.needed
        );
    } else {
        outln!(
            "proposal {}: {} of {} approvals; another operator runs `bosun adopt --approve {} --as <name>`",
            out.proposal,
            out.approvals,
            out.needed,
            out.proposal
        );
    }
}

/// What `adopt` prints when nothing differs from what is in force.
fn print_nothing(j: bool, quiet: bool) {
    if quiet {
        // Nothing proposed: no id to print.
    } else if j {
        outln!(
            "{}",
            json!({"proposal": null, "message": "nothing differs from what is in force"})
        );
    } else {
        outln!("nothing to adopt: the files on disk are what is in force");
    }
}

/// Runs `bosun adopt` as a client of the daemon: the changes (or the
/// proposal) come with their contents whole, every digest is recomputed
/// here before the diff is shown, and the approval is signed here. A
/// proposal's id is chosen here and signed with it, so the daemon records
/// the proposal only with its proposer's signature.
pub(crate) fn remote(ctx: &Ctx, r: &Remote, a: AdoptArgs) -> Result<ExitCode> {
    let AdoptArgs {
        as_,
        approve,
        yes,
        json: j,
        quiet,
    } = a;
    let signer = RemoteSigner::new(ctx, r, &as_)?;
    let (id, digest, path) = match approve {
        Some(given) => {
            let url = format!("/adoption/proposals/{}", super::op_path_id(&given)?);
            let p: ProposalView = match answered(r.get(&url), j)? {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            if !p.id.starts_with(&given) {
                return Err(r.failed(format!(
                    "asked for proposal `{given}`, it answered `{}`; nothing was signed",
                    p.id
                )));
            }
            let (changes, digest) = checked_changes(&p.changes, &p.digest)?;
            let head = proposal_head(&p.id, &p.proposer, &p.state, &changes, &p.digest);
            ask(&head, &changes, "approve?", j || quiet, yes)?;
            let id = Jti::parse(&p.id).map_err(|e| r.failed(format!("its proposal id: {e}")))?;
            (id, digest, "/adoption/approvals")
        }
        None => {
            let pending: PendingView = match answered(r.get("/adoption"), j)? {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            if pending.changes.is_empty() {
                print_nothing(j, quiet);
                return Ok(ExitCode::SUCCESS);
            }
            let expected = pending.digest.ok_or_else(|| {
                r.failed("it sent changes without their digest; nothing was signed".into())
            })?;
            let (changes, digest) = checked_changes(&pending.changes, &expected)?;
            let head = format!(
                "proposal of {} change(s), approved by {}\n",
                changes.len(),
                signer.who
            );
            ask(&head, &changes, "propose and approve?", j || quiet, yes)?;
            (bosun_control::fresh_jti()?, digest, "/adoption/proposals")
        }
    };
    // Signed when answered: the question may have waited a while.
    let (_, env) = signer
        .signing()
        .approval(&id, &digest, Verdict::Approve, None)?;
    match r.post::<_, AdoptionOutcome>(path, &json!({ "envelope": env }))? {
        Ok(out) => {
            print_outcome(&out, j, quiet);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(super::refused_remote(&e, j)),
    }
}
