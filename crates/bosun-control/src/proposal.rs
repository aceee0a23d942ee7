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

use crate::adopt::{AdoptOutcome, Change, display_text, proposal_digest_of};
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
        let digest = if items.is_empty() {
            None
        } else {
            Some(self.proposal_digest(&items)?.to_string())
        };
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
    /// shown (and of what they change from), its signer the proposer, an
    /// operator in force. The signature is verified before any file is
    /// read or anything recorded, so input no adopted key vouches for
    /// costs a reader's file reads nothing and is recorded within the
    /// refusal budget only. Refused, changing nothing, when the files or
    /// what is in force changed since (the digest differs), the id is
    /// taken, or nothing is adopted yet: the first adoption is made where
    /// the state is (`adopt` on the daemon's host). Then the approval is
    /// taken: with one operator, that adopts.
    pub fn propose_signed(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<AdoptOutcome, Rejected>> {
        let Some(keys) = self.adopted_registry()? else {
            // Nothing vouches for the sender yet: refused, not recorded.
            return Ok(Err(reject(
                Check::Adoption,
                "nothing is adopted yet: the first adoption is made where the state is, on the daemon's host as its user".to_string(),
                None,
            )));
        };
        if let Err(rej) = self.check_proposal(&keys, envelope, now)? {
            self.record_refusal(&rej, envelope, now)?;
            return Ok(Err(rej));
        }
        self.approve_adoption(envelope, now)
    }

    /// Records the proposal `envelope` makes, if it may make one.
    fn check_proposal(
        &self,
        keys: &bosun_workspace::KeyRegistry,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<(), Rejected>> {
        // Who signed, before anything else is read or recorded.
        let (c, role) = match crate::approve::verify_stamped::<ApprovalClaims>(
            keys,
            &self.ws.config.name,
            envelope,
            now,
        ) {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        let jti = Some(c.op.to_string());
        if !role.is_human() {
            return Ok(Err(reject(
                Check::ApproverRole,
                format!("`{}` is an {role}: agents never propose adoptions", c.iss),
                jti,
            )));
        }
        if c.verdict != bosun_model::Verdict::Approve {
            return Ok(Err(reject(
                Check::Verdict,
                "a proposal is made by its proposer's approval, not a denial".to_string(),
                jti,
            )));
        }
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
        let digest = self.proposal_digest(&items)?;
        if c.plan_digest != digest {
            return Ok(Err(reject(
                Check::PlanDigest,
                format!(
                    "the governed files, or what is in force, changed since they were read: a proposal now is {}, the approval signs {}; nothing was proposed (read them again)",
                    digest.short(),
                    c.plan_digest.short()
                ),
                jti,
            )));
        }
        if self.store.proposal(&c.op)?.is_some() {
            return Ok(Err(reject(
                Check::Replay,
                format!("proposal `{}` exists: approve it instead", c.op),
                jti,
            )));
        }
        self.store.propose(&Proposal {
            id: c.op.clone(),
            proposer: c.iss.clone(),
            digest,
            items,
            state: "open".into(),
            created_at: now,
        })?;
        Ok(Ok(()))
    }

    /// The key registry in force; `None` while nothing is adopted.
    fn adopted_registry(&self) -> Result<Option<bosun_workspace::KeyRegistry>> {
        if self
            .store
            .adopted(bosun_workspace::governed::POLICY_SUBJECT)?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(self.adopted_keys()?))
    }
}

/// What a client reads before it signs an adoption approval: each change
/// of `views` with its digests recomputed here, as the embedded `adopt`
/// shows it, and the digest of the whole proposal — which covers both
/// sides of every change (the content in force it changes from, and the
/// new one), so a daemon that shows another "before" than what is in
/// force gets an approval that does not match. An error (nothing signed)
/// when a digest does not match its content, or the proposal's digest is
/// not `expected`.
pub fn checked_changes(views: &[ChangeView], expected: &str) -> Result<(Vec<Change>, Digest)> {
    let mut entries: Vec<(String, String, String)> = Vec::with_capacity(views.len());
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
        entries.push((
            v.subject.clone(),
            v.old_digest.clone().unwrap_or_default(),
            new_digest.to_string(),
        ));
    }
    let entries: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(s, b, n)| (s.as_str(), b.as_str(), n.as_str()))
        .collect();
    let digest = proposal_digest_of(&entries);
    if digest.as_str() != expected {
        return Err(ControlError::Other(format!(
            "the changes it sent make a proposal of digest {digest}, not the {expected} it claims; nothing was signed"
        )));
    }
    Ok((changes, digest))
}
