//! A rollout's stored status document ([`Doc`]): the definition as started
//! (frozen), its phase and the ops it submitted; and the adopted
//! definition a start freezes ([`load_def`]).

use bosun_fleet::rollout::Rollout;
use bosun_model::{Name, RolloutAction};
use bosun_store::NewEvent;
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, Result, now};

/// Where a rollout stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waves are being applied.
    Active,
    /// Stopped by a human; nothing more is submitted or run.
    Aborted,
    /// The rollback op was submitted.
    RollingBack,
    /// The last wave passed.
    Done,
    /// The rollback op succeeded (derived, never stored).
    RolledBack,
}

/// One op the rollout submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// What it does.
    pub action: RolloutAction,
    /// The wave (for a rollback: the last wave applied).
    pub wave: u32,
    /// The op.
    pub op: String,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// Submitted at (Unix seconds).
    pub at: i64,
    /// Who submitted it.
    pub by: String,
}

/// The stored status document of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// The definition as started (frozen).
    pub def: Rollout,
    /// Where it stands.
    pub phase: Phase,
    /// Ops submitted, in order.
    pub runs: Vec<RunRef>,
    /// Ops (of waves paused by an inconclusive bar) a human let pass.
    #[serde(default)]
    pub accepted_inconclusive: Vec<String>,
    /// A nonce of this start: ops of an earlier start of the same id
    /// never run.
    #[serde(default)]
    pub start: String,
    /// Started by, and when.
    pub started_by: String,
    /// Started at (Unix seconds).
    pub started_at: i64,
    /// Why it was aborted, when it was.
    #[serde(default)]
    pub note: String,
}

impl Phase {
    /// The name used in output and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Active => "active",
            Phase::Aborted => "aborted",
            Phase::RollingBack => "rolling_back",
            Phase::Done => "done",
            Phase::RolledBack => "rolled_back",
        }
    }
}

/// The adopted definition of rollout `id` (`rollouts/<id>.toml` as
/// operators adopted it): a rollout file's bars are commands, so the file
/// on disk changes nothing until it is adopted.
pub fn load_def(ctl: &Control, id: &str) -> Result<Rollout> {
    if Name::parse(id).is_err() {
        return Err(ControlError::Other(format!("`{id}` is not a rollout id")));
    }
    let rel = format!("rollouts/{id}.toml");
    let Some(adopted) = ctl
        .store
        .adopted(&bosun_workspace::governed::rollout_subject(id))?
    else {
        let on_disk = ctl.ws.root.join(&rel).exists();
        return Err(if on_disk {
            crate::hinted(
                format!("{rel} is not adopted: a rollout runs only as operators adopted it"),
                bosun_api::NextAction::Adopt,
            )
        } else {
            ControlError::Other(format!(
                "no rollout `{id}`: rollouts live in the workspace's rollouts/ directory and run once adopted"
            ))
        });
    };
    Rollout::parse(&format!("adopted {rel}"), id, &adopted.content)
        .map_err(|errs| crate::located(&errs))
}

pub(super) fn doc_of(rec: &bosun_store::RolloutRecord) -> Result<Doc> {
    serde_json::from_value(rec.body.clone()).map_err(|e| {
        ControlError::Other(format!(
            "rollout `{}`: stored status is corrupt: {e}",
            rec.id
        ))
    })
}

/// A fresh nonce for a start of a rollout.
pub(super) fn fresh_nonce() -> Result<String> {
    Ok(crate::fresh_jti()?.to_string())
}

impl Control {
    /// The rollout's document, refused when it names no rollback runbook.
    pub(super) fn rollout_with_rollback(&self, id: &str) -> Result<(Doc, u64)> {
        let (doc, version) = self.rollout_doc(id)?;
        if doc.def.rollback.is_none() {
            return Err(ControlError::Other(format!(
                "rollout `{id}` names no rollback runbook"
            )));
        }
        Ok((doc, version))
    }

    pub(super) fn rollout_doc(&self, id: &str) -> Result<(Doc, u64)> {
        let rec = self.store.rollout(id)?.ok_or_else(|| {
            crate::hinted(
                format!("no rollout `{id}` was started"),
                bosun_api::NextAction::RolloutStart {
                    rollout: id.to_string(),
                },
            )
        })?;
        Ok((doc_of(&rec)?, rec.version))
    }

    /// Writes the rollout's document under `version` with its event.
    pub(super) fn write_doc(
        &self,
        id: &str,
        doc: &Doc,
        version: u64,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<u64> {
        let body = serde_json::to_value(doc)
            .map_err(|e| ControlError::Other(format!("encode rollout: {e}")))?;
        let mut data = data;
        if let Some(m) = data.as_object_mut() {
            m.insert("rollout".into(), serde_json::Value::String(id.into()));
        }
        Ok(self.store.put_rollout(
            id,
            &body,
            version,
            &NewEvent {
                at: now(),
                jti: None,
                kind: kind.into(),
                data,
            },
        )?)
    }
}
