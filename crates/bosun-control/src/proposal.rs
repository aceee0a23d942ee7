//! Adoption for a client that signs where it runs (the remote CLI, through
//! the daemon's API): the pending changes and a proposal as views with
//! their contents whole, [`checked_changes`] for the client to recompute
//! every digest before it shows or signs anything, and
//! [`Control::propose_signed`], which makes a proposal and takes its
//! proposer's approval from one signed envelope, so that nobody proposes
//! under a name they cannot sign for.

use bosun_api::Check;
use bosun_api::time::at;
use bosun_api::views::{ChangeView, PendingView, ProposalView};
use bosun_model::{ApprovalClaims, Digest};
use bosun_store::{Proposal, ProposalItem};

use crate::adopt::{AdoptOutcome, Change, display_text, proposal_digest};
use crate::intake::{Rejected, reject};
use crate::{Control, ControlError, Result};

impl Control {
    /// What the governed files on disk change against what is in force,
    /// contents whole, and the digest a proposal of them would have.
    pub fn pending_view(&self) -> Result<PendingView> {
        let items: Vec<ProposalItem> = self
            .pending_changes()?
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        let digest = (!items.is_empty()).then(|| proposal_digest(&items).to_string());
        Ok(PendingView {
            changes: self.change_views(&items)?,
            digest,
        })
    }

    /// The proposal `given` names (an id or a unique prefix), its changes
    /// against what is in force now, contents whole.
    pub fn proposal_view(&self, given: &str) -> Result<Option<ProposalView>> {
        let id = self.resolve_proposal(given)?;
        let Some(p) = self.store.proposal(&id)? else {
            return Ok(None);
        };
        Ok(Some(ProposalView {
            id: p.id.to_string(),
            proposer: p.proposer.to_string(),
            state: p.state.clone(),
            digest: p.digest.to_string(),
            created_at: at(p.created_at),
            changes: self.change_views(&p.items)?,
        }))
    }

    fn change_views(&self, items: &[ProposalItem]) -> Result<Vec<ChangeView>> {
        items
            .iter()
            .map(|it| {
                let old = self.store.adopted(&it.subject)?;
                Ok(ChangeView {
                    subject: it.subject.clone(),
                    old_digest: old.as_ref().map(|o| o.digest.to_string()),
                    old_content: old.map(|o| o.content),
                    new_content: it.content.clone(),
                    new_digest: it.digest.to_string(),
                })
            })
            .collect()
    }

    /// Proposes what the governed files on disk change, as the approval
    /// `envelope` says: its `op` is the new proposal's id (chosen by the
    /// signer), its `plan_digest` the digest of the changes its signer was
    /// shown, its signer the proposer. Refused, recording and changing
    /// nothing, when the files changed since (the digest differs), the id
    /// is taken, or the envelope would not count as an adoption approval
    /// (as [`Control::approve_adoption`] judges it). Then the approval is
    /// taken: with one operator, or at bootstrap, that adopts.
    pub fn propose_signed(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<AdoptOutcome, Rejected>> {
        let r = self.check_proposal(envelope, now)?;
        if let Err(rej) = &r {
            self.record_refusal(rej, envelope, now)?;
            return Ok(Err(rej.clone()));
        }
        self.approve_adoption(envelope, now)
    }

    /// Records the proposal `envelope` makes, if it may make one.
    fn check_proposal(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<(), Rejected>> {
        let peek: Option<ApprovalClaims> = bosun_sign::decode(envelope)
            .ok()
            .and_then(|u| u.claims().ok());
        let Some(peek) = peek else {
            return Ok(Err(reject(
                Check::Format,
                "not a readable approval envelope".to_string(),
                None,
            )));
        };
        let jti = Some(peek.op.to_string());
        let items: Vec<ProposalItem> = self
            .pending_changes()?
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        if items.is_empty() {
            return Ok(Err(reject(
                Check::Adoption,
                "nothing differs from what is in force: nothing to propose".to_string(),
                jti,
            )));
        }
        let digest = proposal_digest(&items);
        if peek.plan_digest != digest {
            return Ok(Err(reject(
                Check::PlanDigest,
                format!(
                    "the governed files changed since they were read: a proposal now is {}, the approval signs {}; nothing was proposed (read them again)",
                    digest.short(),
                    peek.plan_digest.short()
                ),
                jti,
            )));
        }
        if self.store.proposal(&peek.op)?.is_some() {
            return Ok(Err(reject(
                Check::Replay,
                format!("proposal `{}` exists: approve it instead", peek.op),
                jti,
            )));
        }
        let p = Proposal {
            id: peek.op.clone(),
            proposer: peek.iss.clone(),
            digest,
            items,
            state: "open".into(),
            created_at: now,
        };
        // Judged as its approval will be, before anything is stored.
        let (keys, _) = self.adoption_judges(&p)?;
        let (c, role) = match crate::approve::verify_stamped::<ApprovalClaims>(
            &keys,
            &self.ws.config.name,
            envelope,
            now,
        ) {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        if !role.is_human() || c.iss != p.proposer {
            return Ok(Err(reject(
                Check::ApproverRole,
                format!("`{}` is an {role}: agents never propose adoptions", c.iss),
                jti,
            )));
        }
        self.store.propose(&p)?;
        Ok(Ok(()))
    }
}

/// What a client reads before it signs an adoption approval: each change
/// of `views` with its digests recomputed here (the new content's digest
/// is what the proposal covers; the old one what is in force), as the
/// embedded `adopt` shows it, and the digest of the whole proposal. An
/// error (nothing signed) when a digest does not match its content, or
/// the proposal's digest is not `expected`.
pub fn checked_changes(views: &[ChangeView], expected: &str) -> Result<(Vec<Change>, Digest)> {
    let mut items = Vec::with_capacity(views.len());
    let mut changes = Vec::with_capacity(views.len());
    for v in views {
        let new_digest = Digest::of(v.new_content.as_bytes());
        if new_digest.as_str() != v.new_digest {
            return Err(ControlError::Other(format!(
                "the daemon's `{}` has digest {}, not the {} it claims; nothing was signed",
                v.subject, new_digest, v.new_digest
            )));
        }
        let old: Option<(&String, Digest)> = match (&v.old_content, &v.old_digest) {
            (Some(content), Some(d)) => {
                let digest = Digest::of(content.as_bytes());
                if digest.as_str() != d {
                    return Err(ControlError::Other(format!(
                        "the daemon's `{}` in force has digest {digest}, not the {d} it claims; nothing was signed",
                        v.subject
                    )));
                }
                Some((content, digest))
            }
            (None, None) => None,
            _ => {
                return Err(ControlError::Other(format!(
                    "the daemon's `{}` in force has content without a digest, or a digest without content; nothing was signed",
                    v.subject
                )));
            }
        };
        changes.push(Change {
            subject: v.subject.clone(),
            old_text: old
                .as_ref()
                .map(|(c, _)| display_text(&v.subject, c))
                .unwrap_or_default(),
            new_text: display_text(&v.subject, &v.new_content),
            old_digest: old.map(|(_, d)| d.clone()),
            new_digest: new_digest.clone(),
        });
        items.push(ProposalItem {
            subject: v.subject.clone(),
            content: v.new_content.clone(),
            digest: new_digest,
        });
    }
    let digest = proposal_digest(&items);
    if digest.as_str() != expected {
        return Err(ControlError::Other(format!(
            "the changes it sent make a proposal of digest {digest}, not the {expected} it claims; nothing was signed"
        )));
    }
    Ok((changes, digest))
}
