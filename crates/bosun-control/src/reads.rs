//! The read side of the facade that faces still take as stored records:
//! every read a face needs goes through [`Control`], never through its
//! store, so that what a face may see is decided here (and a server can
//! cache or authorise it) — the views of [`crate::views`] are built on
//! the same reads.

use bosun_model::{Jti, OpState};
use bosun_store::{
    Adopted, BlockerRow, Event, Halt, HostState, Lease, NewEvent, OpRecord, OpSummary, Proposal,
    Rejection, RolloutRecord, StoredCheckpoint,
};

use crate::{Control, ControlError, Result, now};

impl Control {
    /// One op with its plan, decision, approvals and steps.
    pub fn op_record(&self, jti: &Jti) -> Result<Option<OpRecord>> {
        Ok(self.store.op(jti)?)
    }

    /// The newest ops (of one state, when given), newest first.
    pub fn ops(&self, state: Option<OpState>, limit: usize) -> Result<Vec<OpSummary>> {
        Ok(self.store.list_ops(state, limit)?)
    }

    /// How many ops are in each state (for metrics; it may scan every op).
    pub fn op_counts(&self) -> Result<Vec<(OpState, u64)>> {
        Ok(self.store.count_ops_by_state()?)
    }

    /// The newest refused inputs, newest first.
    pub fn rejections(&self, limit: usize) -> Result<Vec<Rejection>> {
        Ok(self.store.rejections(limit)?)
    }

    /// The events of one op, or all of them.
    pub fn events(&self, jti: Option<&Jti>) -> Result<Vec<Event>> {
        Ok(self.store.events(jti)?)
    }

    /// The halt in force, if any.
    pub fn halt_state(&self) -> Result<Option<Halt>> {
        Ok(self.store.halt()?)
    }

    /// How many ops wait in the queue.
    pub fn queue_depth(&self) -> Result<u64> {
        Ok(self.store.depth()?)
    }

    /// The controller holding the lease now, if any.
    pub fn lease_holder(&self) -> Result<Option<Lease>> {
        Ok(self.store.lease_holder(now())?)
    }

    /// Open adoption proposals.
    pub fn proposals(&self) -> Result<Vec<Proposal>> {
        Ok(self.store.proposals()?)
    }

    /// One adoption proposal.
    pub fn proposal(&self, id: &Jti) -> Result<Option<Proposal>> {
        Ok(self.store.proposal(id)?)
    }

    /// What is adopted for `subject`.
    pub fn adopted(&self, subject: &str) -> Result<Option<Adopted>> {
        Ok(self.store.adopted(subject)?)
    }

    /// Everything adopted.
    pub fn adopted_all(&self) -> Result<Vec<Adopted>> {
        Ok(self.store.adopted_all()?)
    }

    /// The blockers (`all`: resolved ones too), newest first.
    pub fn blockers(&self, all: bool) -> Result<Vec<BlockerRow>> {
        Ok(self.store.blockers(all)?)
    }

    /// One blocker.
    pub fn blocker(&self, id: u64) -> Result<Option<BlockerRow>> {
        Ok(self.store.blocker(id)?)
    }

    /// What bosun knows of each host (last op, version, drift).
    pub fn host_states(&self) -> Result<Vec<HostState>> {
        Ok(self.store.host_states()?)
    }

    /// Every rollout ever started.
    pub fn rollouts(&self) -> Result<Vec<RolloutRecord>> {
        Ok(self.store.rollouts()?)
    }

    /// The signed checkpoints, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        Ok(self.store.checkpoints()?)
    }

    /// The runbook files in `runbooks/`, sorted by id, each with whether
    /// the version in force is this file (`yes`), another (`differs`) or
    /// none (`no`), and what the file says when it parses: the catalog
    /// every face lists.
    pub fn runbook_entries(&self) -> Result<Vec<RunbookEntry>> {
        let mut out = Vec::new();
        for (id, path, text) in self.ws.disk_runbooks()? {
            let adopted = match self.adopted(&crate::governed::runbook_subject(&id))? {
                None => "no",
                Some(a) if a.digest == bosun_model::Digest::of(text.as_bytes()) => "yes",
                Some(_) => "differs",
            };
            let (description, read_only, steps, valid) =
                match bosun_runbook::parse_runbook(&path, &text) {
                    Ok(rb) => (rb.description, rb.read_only, rb.steps.len(), true),
                    Err(_) => (String::new(), false, 0, false),
                };
            out.push(RunbookEntry {
                id,
                path,
                read_only,
                steps,
                adopted: adopted.to_string(),
                valid,
                description,
            });
        }
        Ok(out)
    }

    /// The definition of runbook `id` as the file in `runbooks/` says it
    /// (parsed, as JSON), or `None` when there is no such file; the inner
    /// error says where a file that does not parse is wrong.
    pub fn runbook_definition(
        &self,
        id: &str,
    ) -> Result<Option<std::result::Result<serde_json::Value, bosun_runbook::RunbookError>>> {
        let Some((_, path, text)) = self
            .ws
            .disk_runbooks()?
            .into_iter()
            .find(|(i, _, _)| i == id)
        else {
            return Ok(None);
        };
        match bosun_runbook::parse_runbook(&path, &text) {
            Ok(rb) => Ok(Some(Ok(
                serde_json::to_value(&rb).map_err(|e| ControlError::Other(e.to_string()))?
            ))),
            Err(e) => Ok(Some(Err(e))),
        }
    }

    /// How many entries the ledger holds.
    pub fn ledger_size(&self) -> Result<u64> {
        Ok(self.store.ledger_size()?)
    }

    /// For `bosun bench ledger` only: appends synthetic events to a
    /// benchmark's own throwaway workspace — one named `bench` that
    /// publishes no ledger key — and only events whose kinds start with
    /// `bench.`. A real workspace (its ledger key is published at `init`)
    /// is refused, so no face can write unsigned entries into its ledger.
    pub fn record_bench_events(&self, events: &[NewEvent]) -> Result<()> {
        if self.ws.config.name.as_str() != "bench"
            || self.ws.root.join(crate::ledger::PUBLIC_JWK).exists()
        {
            return Err(ControlError::Other(
                "benchmark events go only into a benchmark's own workspace (named `bench`, with no published ledger key)".into(),
            ));
        }
        if let Some(e) = events.iter().find(|e| !e.kind.starts_with("bench.")) {
            return Err(ControlError::Other(format!(
                "a benchmark event's kind must start with `bench.`, not `{}`",
                e.kind
            )));
        }
        Ok(self.store.record_events(events)?)
    }
}

pub use bosun_api::views::RunbookEntry;
