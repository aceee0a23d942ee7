//! `bosun adopt`: propose what is on disk for adoption, or approve a
//! proposal, after showing its diff and asking.

use std::process::ExitCode;

use bosun_control::{Result, client, now};
use bosun_model::Verdict;
use clap::Args;
use serde_json::json;

use super::{Ctx, key_id, other, refused};

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
            let head = format!(
                "proposal {} by {} ({}), {} subject(s), digest {}\n",
                p.id,
                p.proposer,
                p.state,
                changes.len(),
                p.digest
            );
            super::consent::show(
                &format!("{head}{}", super::consent::render_changes(&changes)),
                j || quiet,
                yes,
            )?;
            super::consent::confirm("approve?", yes)?;
            (p, Vec::new())
        }
        None => {
            // Proposing signs the proposer's approval (with one operator in
            // force, or at bootstrap, that adopts): the same consent.
            let shown: Vec<_> = ctl.pending_changes()?.into_iter().map(|(_, c)| c).collect();
            if shown.is_empty() {
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
                return Ok(ExitCode::SUCCESS);
            }
            let head = format!("proposal of {} change(s), approved by {who}\n", shown.len());
            super::consent::show(
                &format!("{head}{}", super::consent::render_changes(&shown)),
                j || quiet,
                yes,
            )?;
            super::consent::confirm("propose and approve?", yes)?;
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
            if quiet {
                outln!("{}", out.proposal);
            } else if j {
                outln!(
                    "{}",
                    json!({"proposal": out.proposal, "digest": proposal.digest, "approvals": out.approvals, "needed": out.needed, "adopted": out.adopted})
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
            Ok(ExitCode::SUCCESS)
        }
        Err(rej) => Ok(refused(&rej, j)),
    }
}
