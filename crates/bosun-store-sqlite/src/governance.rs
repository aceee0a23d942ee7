//! [`GovernanceStore`](bosun_store::GovernanceStore): adopted versions and
//! proposals.

use bosun_model::{Digest, Jti, KeyId};
use bosun_store::*;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::ledger::event;
use crate::ops::{insert_approval, read_approvals};
use crate::sql::*;

impl bosun_store::GovernanceStore for SqliteStore {
    fn adopted(&self, subject: &str) -> Result<Option<Adopted>> {
        Ok(self
            .adopted_all()?
            .into_iter()
            .find(|a| a.subject == subject))
    }

    fn adopted_all(&self) -> Result<Vec<Adopted>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare_cached("SELECT subject, digest, content, proposal, adopted_at FROM adopted ORDER BY subject")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (subject, digest, content, proposal, adopted_at) = row.map_err(be)?;
                let digest = Digest::try_from(digest).map_err(|e| corrupt("adopted digest", e))?;
                if Digest::of(content.as_bytes()) != digest {
                    return Err(corrupt("adopted content", format!("{subject} does not match its digest")));
                }
                out.push(Adopted { subject, digest, content, proposal: jti_of(proposal)?, adopted_at });
            }
            Ok(out)
        })
    }

    fn propose(&self, p: &Proposal) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO proposals (id, proposer, digest, items, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![p.id.as_str(), p.proposer.as_str(), p.digest.as_str(), to_json(&p.items)?, p.state, p.created_at],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict(format!("proposal {} exists already", p.id))
                }
                e => be(e),
            })?;
            let subjects: Vec<&str> = p.items.iter().map(|i| i.subject.as_str()).collect();
            event(tx, p.created_at, Some(p.id.as_str()), "adoption.proposed", None, &serde_json::json!({"by": p.proposer, "digest": p.digest, "subjects": subjects}))
        })
    }

    fn proposal(&self, id: &Jti) -> Result<Option<Proposal>> {
        Ok(self.proposals_where(Some(id))?.into_iter().next())
    }

    fn proposals(&self) -> Result<Vec<Proposal>> {
        Ok(self
            .proposals_where(None)?
            .into_iter()
            .filter(|p| p.state == "open")
            .collect())
    }

    fn proposal_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Jti>> {
        self.with_conn(|c| ids_with_prefix(c, "proposals", "id", prefix, limit))
    }

    fn approve_proposal(&self, a: &NewApproval, adopt: bool) -> Result<()> {
        self.with_tx(|tx| {
            let id = &a.claims.op;
            let row: Option<(String, String)> = tx
                .query_row("SELECT items, state FROM proposals WHERE id = ?1", [id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(be)?;
            let Some((items, state)) = row else {
                return Err(StoreError::NotFound(format!("no proposal `{id}`")));
            };
            if state != "open" {
                return Err(StoreError::Conflict(format!("proposal `{id}` is {state}, not open")));
            }
            insert_approval(tx, a)?;
            event(tx, a.received_at, Some(id.as_str()), "adoption.approval", None, &serde_json::json!({"by": a.claims.iss, "role": a.role}))?;
            if adopt {
                let items: Vec<ProposalItem> = from_json("proposal items", &items)?;
                for it in &items {
                    tx.execute(
                        "INSERT INTO adopted (subject, digest, content, proposal, adopted_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(subject) DO UPDATE SET digest = excluded.digest, content = excluded.content,
                           proposal = excluded.proposal, adopted_at = excluded.adopted_at",
                        params![it.subject, it.digest.as_str(), it.content, id.as_str(), a.received_at],
                    )
                    .map_err(be)?;
                }
                tx.execute("UPDATE proposals SET state = 'adopted' WHERE id = ?1", [id.as_str()]).map_err(be)?;
                // Other open proposals were made against the old versions.
                tx.execute("UPDATE proposals SET state = 'superseded' WHERE state = 'open'", []).map_err(be)?;
                let subjects: Vec<&str> = items.iter().map(|i| i.subject.as_str()).collect();
                event(tx, a.received_at, Some(id.as_str()), "adoption.adopted", None, &serde_json::json!({"subjects": subjects}))?;
            }
            Ok(())
        })
    }

    fn proposal_approvals(&self, id: &Jti) -> Result<Vec<ApprovalRow>> {
        self.with_conn(|c| read_approvals(c, id.as_str()))
    }
}

impl SqliteStore {
    fn proposals_where(&self, id: Option<&Jti>) -> Result<Vec<Proposal>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT id, proposer, digest, items, state, created_at FROM proposals WHERE (?1 IS NULL OR id = ?1) ORDER BY created_at, id")
                .map_err(be)?;
            let rows = st
                .query_map([id.map(|j| j.as_str())], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?))
                })
                .map_err(be)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, proposer, digest, items, state, created_at) = row.map_err(be)?;
                out.push(Proposal {
                    id: jti_of(id)?,
                    proposer: KeyId::try_from(proposer).map_err(|e| corrupt("proposer", e))?,
                    digest: Digest::try_from(digest).map_err(|e| corrupt("proposal digest", e))?,
                    items: from_json("proposal items", &items)?,
                    state,
                    created_at,
                });
            }
            Ok(out)
        })
    }
}
