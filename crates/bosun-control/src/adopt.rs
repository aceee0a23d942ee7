//! Adoption: the rules are governed like the fleet. `propose` snapshots the
//! policy, key registry, runbooks, inventory (`fleet/hosts.toml`),
//! rollouts (`rollouts/<id>.toml`) and kernel manifests
//! (`fleet/<host>.yaml`) on disk that differ from what is in
//! force; the proposal comes into force only when enough distinct operators
//! have signed approvals over its digest (the policy in force says how
//! many, `[adoption]` or, per kind of subject, `[adoption.subjects]`, capped at the number of operators in force so a
//! one-operator workspace is not locked out). The proposer's own approval
//! counts. Bootstrap: while nothing is adopted, one operator listed in the
//! proposed registry adopts the initial set alone.

use bosun_api::Check;
use bosun_model::{Digest, Jti, KeyId, Verdict, canonical_json};
use bosun_store::{NewApproval, Proposal, ProposalItem};
use bosun_workspace::governed::{
    INVENTORY_SUBJECT, KEYS_SUBJECT, POLICY_SUBJECT, manifest_subject, rollout_subject,
    subject_kind,
};
use bosun_workspace::{KeyRegistry, PolicyFiles};

use crate::governed::runbook_subject;
use crate::intake::{Rejected, reject};
use crate::{Control, ControlError, Result};

/// One changed subject of a proposal, with the old and new text for a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `policy`, `keys` or `runbook:<id>`.
    pub subject: String,
    /// Human-readable text in force (empty when new).
    pub old_text: String,
    /// Human-readable proposed text.
    pub new_text: String,
    /// Digest in force, if any.
    pub old_digest: Option<Digest>,
    /// Proposed digest.
    pub new_digest: Digest,
}

/// Result of an accepted adoption approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptOutcome {
    /// The proposal.
    pub proposal: Jti,
    /// Distinct valid approvals so far.
    pub approvals: usize,
    /// Approvals needed.
    pub needed: usize,
    /// Whether it is now in force.
    pub adopted: bool,
}

/// Renders a subject's content as text a human can diff.
pub fn display_text(subject: &str, content: &str) -> String {
    if subject == POLICY_SUBJECT {
        if let Ok(p) = PolicyFiles::from_content(content) {
            let mut s = format!("# policy/keeper.toml\n{}", p.keeper);
            for (path, text) in &p.cedar {
                s.push_str(&format!("\n# {path}\n{text}"));
            }
            return s;
        }
    } else if subject == KEYS_SUBJECT
        && let Ok(k) = KeyRegistry::from_content(content)
    {
        return k
            .keys
            .iter()
            .map(|(name, e)| {
                let tp = e
                    .public
                    .as_ref()
                    .map(|p| p.thumbprint())
                    .unwrap_or_default();
                format!(
                    "{name}  role={}  scope={}  key={tp}\n",
                    e.role,
                    e.scope.join(",")
                )
            })
            .collect();
    }
    content.to_string()
}

/// The change from `old` (in force) to `content` of `subject`.
fn change_of(
    subject: &str,
    content: &str,
    digest: &Digest,
    old: Option<bosun_store::Adopted>,
) -> Change {
    Change {
        subject: subject.to_string(),
        old_text: old
            .as_ref()
            .map(|o| display_text(subject, &o.content))
            .unwrap_or_default(),
        new_text: display_text(subject, content),
        old_digest: old.map(|o| o.digest),
        new_digest: digest.clone(),
    }
}

/// The digest of a proposal: of each subject it changes, with the digest
/// in force it changes from (empty when none) and the proposed one. An
/// approval signs it, so it binds what the approver was shown on both
/// sides of the diff: once what is in force moves, it no longer matches
/// and the proposal cannot be adopted (`Control::proposal_digest`).
pub fn proposal_digest_of(entries: &[(&str, &str, &str)]) -> Digest {
    Digest::of(&canonical_json(&entries).unwrap_or_default())
}

impl Control {
    /// The digest a proposal of `items` has against what is in force now
    /// (see [`proposal_digest_of`]).
    pub(crate) fn proposal_digest(&self, items: &[ProposalItem]) -> Result<Digest> {
        let mut bases = Vec::with_capacity(items.len());
        for i in items {
            bases.push(
                self.store
                    .adopted(&i.subject)?
                    .map(|a| a.digest.to_string())
                    .unwrap_or_default(),
            );
        }
        let entries: Vec<(&str, &str, &str)> = items
            .iter()
            .zip(&bases)
            .map(|(i, b)| (i.subject.as_str(), b.as_str(), i.digest.as_str()))
            .collect();
        Ok(proposal_digest_of(&entries))
    }

    /// What on disk differs from what is in force. Refuses (changing
    /// nothing) when a policy or runbook file is invalid.
    pub fn pending_changes(&self) -> Result<Vec<(ProposalItem, Change)>> {
        let policy = self.ws.disk_policy()?;
        policy.load()?; // an invalid policy is never proposed
        let keys = self.ws.disk_keys()?;
        let mut candidates = vec![
            (POLICY_SUBJECT.to_string(), policy.content()),
            (KEYS_SUBJECT.to_string(), keys.content()),
        ];
        for (id, path, text) in self.ws.disk_runbooks()? {
            let rb = bosun_runbook::parse_runbook(&path, &text)
                .map_err(|e| ControlError::Other(e.to_string()))?;
            if rb.id.as_str() != id {
                return Err(ControlError::Other(format!(
                    "{path}: its id is `{}`, not the file name `{id}`",
                    rb.id
                )));
            }
            candidates.push((runbook_subject(&id), text));
        }
        // The inventory and the rollouts decide where, as whom and on which
        // hosts commands run: governed like the rules. An invalid one is
        // never proposed.
        candidates.push((INVENTORY_SUBJECT.to_string(), self.inventory_candidate()?));
        for (id, path, text) in self.ws.disk_rollouts()? {
            bosun_fleet::rollout::Rollout::parse(&path, &id, &text)
                .map_err(|e| crate::located(&e))?;
            candidates.push((rollout_subject(&id), text));
        }
        // Kernel manifests say what each host's kernel carries: an agent's
        // edit waits for the operators like any governed file.
        for (host, path, text) in self.ws.disk_manifests()? {
            bosun_model::Name::parse(&host).map_err(|e| {
                ControlError::Other(format!("{path}: `{host}` is not a host name: {e}"))
            })?;
            bosun_kernel::Manifest::parse(&path, &text)
                .map_err(|e| ControlError::Other(e.to_string()))?;
            candidates.push((manifest_subject(&host), text));
        }
        let mut out = Vec::new();
        for (subject, content) in candidates {
            let digest = Digest::of(content.as_bytes());
            let old = self.store.adopted(&subject)?;
            if old.as_ref().map(|o| &o.digest) == Some(&digest) {
                continue;
            }
            let change = change_of(&subject, &content, &digest, old);
            out.push((
                ProposalItem {
                    subject,
                    content,
                    digest,
                },
                change,
            ));
        }
        Ok(out)
    }

    /// What a recorded proposal changes against what is in force now,
    /// subject by subject, with the old and new text for a diff: what an
    /// operator reads before approving it. A subject already in force in
    /// that version shows the same text on both sides.
    pub fn proposal_changes(&self, p: &Proposal) -> Result<Vec<Change>> {
        p.items
            .iter()
            .map(|it| {
                let old = self.store.adopted(&it.subject)?;
                Ok(change_of(&it.subject, &it.content, &it.digest, old))
            })
            .collect()
    }

    /// Records a proposal of every pending change. `None` when nothing
    /// differs from what is in force.
    pub fn propose(&self, proposer: &KeyId, now: i64) -> Result<Option<(Proposal, Vec<Change>)>> {
        let changes = self.pending_changes()?;
        if changes.is_empty() {
            return Ok(None);
        }
        let (items, changes): (Vec<ProposalItem>, Vec<Change>) = changes.into_iter().unzip();
        let p = Proposal {
            id: crate::fresh_jti()?,
            proposer: proposer.clone(),
            digest: self.proposal_digest(&items)?,
            items,
            state: "open".into(),
            created_at: now,
        };
        self.store.propose(&p)?;
        Ok(Some((p, changes)))
    }

    /// The keys and approvals needed that judge adoption approvals: the
    /// ones in force, or, at bootstrap, the proposal's own with one approval.
    pub(crate) fn adoption_judges(&self, p: &Proposal) -> Result<(KeyRegistry, usize)> {
        match self.store.adopted(POLICY_SUBJECT)? {
            Some(pol) => {
                let policy = PolicyFiles::from_content(&pol.content)?.load()?;
                let keys = match self.store.adopted(KEYS_SUBJECT)? {
                    Some(k) => KeyRegistry::from_content(&k.content)?,
                    None => KeyRegistry::default(),
                };
                let operators = keys.operators().count();
                // The strictest quorum among the kinds of subject it changes.
                let m = p
                    .items
                    .iter()
                    .map(|i| policy.adoption_requirement_for(subject_kind(&i.subject)).m)
                    .max()
                    .unwrap_or_else(|| policy.adoption_requirement().m);
                let m = usize::try_from(m).unwrap_or(usize::MAX);
                Ok((keys, m.min(operators).max(1)))
            }
            None => {
                let Some(k) = p.items.iter().find(|i| i.subject == KEYS_SUBJECT) else {
                    return Err(crate::hinted(
                        "the first adoption must include the key registry: register an operator first",
                        bosun_api::NextAction::NewKey {
                            name: None,
                            role: Some(bosun_model::Role::Operator),
                        },
                    ));
                };
                Ok((KeyRegistry::from_content(&k.content)?, 1))
            }
        }
    }

    /// Takes an approval envelope over a proposal (its `op` is the
    /// proposal id, its `plan_digest` the proposal digest). Refusals are
    /// recorded and returned as the inner error.
    pub fn approve_adoption(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<AdoptOutcome, Rejected>> {
        let r = self.check_adoption(envelope, now)?;
        if let Err(rej) = &r {
            self.record_refusal(rej, envelope, now)?;
        }
        Ok(r)
    }

    fn check_adoption(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<AdoptOutcome, Rejected>> {
        let rej = |check: Check, m: String, j: Option<String>| reject(check, m, j);
        // Peek at the proposal id to find the judges.
        let peek: Option<bosun_model::ApprovalClaims> = bosun_sign::decode(envelope)
            .ok()
            .and_then(|u| u.claims().ok());
        let Some(peek) = peek else {
            return Ok(Err(rej(
                Check::Format,
                "not a readable approval envelope".into(),
                None,
            )));
        };
        let Some(p) = self.store.proposal(&peek.op)? else {
            return Ok(Err(rej(
                Check::Proposal,
                format!("no proposal `{}`", peek.op),
                None,
            )));
        };
        let jti = Some(p.id.to_string());
        if p.state != "open" {
            return Ok(Err(rej(
                Check::State,
                format!("proposal `{}` is {}", p.id, p.state),
                jti,
            )));
        }
        let (keys, needed) = self.adoption_judges(&p)?;
        let (c, role) = match crate::approve::verify_stamped::<bosun_model::ApprovalClaims>(
            &keys,
            &self.ws.config.name,
            envelope,
            now,
        ) {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        if !role.is_human() {
            return Ok(Err(rej(
                Check::ApproverRole,
                format!("`{}` is an {role}: agents never approve adoptions", c.iss),
                jti,
            )));
        }
        if c.verdict != Verdict::Approve {
            return Ok(Err(rej(
                Check::Verdict,
                "an adoption is approved or left to lapse; a newer proposal supersedes it".into(),
                jti,
            )));
        }
        if c.plan_digest != p.digest {
            return Ok(Err(rej(
                Check::PlanDigest,
                format!(
                    "the approval is for {}, the proposal is {}",
                    c.plan_digest.short(),
                    p.digest.short()
                ),
                jti,
            )));
        }
        if self.proposal_digest(&p.items)? != p.digest {
            return Ok(Err(rej(
                Check::Adoption,
                format!(
                    "what is in force changed since proposal `{}` was made (its digest binds what it changes from): propose again",
                    p.id
                ),
                jti,
            )));
        }
        let mut distinct: Vec<KeyId> = Vec::new();
        for a in self.store.proposal_approvals(&p.id)? {
            if a.role.is_human()
                && a.claims.plan_digest == p.digest
                && keys.get(&a.claims.iss).is_some()
                && !distinct.contains(&a.claims.iss)
            {
                distinct.push(a.claims.iss.clone());
            }
        }
        if !distinct.contains(&c.iss) {
            distinct.push(c.iss.clone());
        }
        let adopt = distinct.len() >= needed;
        let new = NewApproval {
            envelope: envelope.to_string(),
            claims: c,
            role,
            received_at: now,
            passkey: None,
        };
        match self.store.approve_proposal(&new, adopt) {
            Ok(()) => {}
            Err(bosun_store::StoreError::ApprovalReplay(j)) => {
                return Ok(Err(rej(
                    Check::Replay,
                    format!("approval `{j}` was already recorded"),
                    jti,
                )));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Ok(AdoptOutcome {
            proposal: p.id,
            approvals: distinct.len(),
            needed,
            adopted: adopt,
        }))
    }
}
