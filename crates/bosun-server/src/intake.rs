//! Submissions through the API go through bosun-control's intake
//! [`Pipeline`]: prepare shards by signing key, one committer that
//! group-commits whatever has arrived — so many concurrent clients share
//! each durable commit instead of paying one each.
//!
//! A pipeline judges by one [`Governed`] snapshot. The server keeps one
//! pipeline per snapshot and starts a new one when what is adopted changes
//! (read again at most [`MAX_ADOPTED_AGE`] after the last read) or when the snapshot is older than [`MAX_GOV_AGE`]
//! (what the workspace's files add — runbooks never adopted, drift —
//! shows within that time). The old pipeline answers what it took and
//! stops when its last submitter lets go of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bosun_control::pipeline::{Answer, Options, Pipeline};
use bosun_control::{Control, Governed};
use bosun_model::Digest;

use crate::error::ApiError;

/// How long a snapshot of the workspace's files is used.
pub const MAX_GOV_AGE: Duration = Duration::from_secs(1);

/// How long what is adopted is taken as read: an adoption reaches API
/// submissions when the snapshot is next rebuilt, this long after it
/// commits at most. Meanwhile ops decided on the old snapshot are sent
/// back by the commit transaction (check `adoption`), never stored: each
/// carries the adopted basis it was decided on.
pub const MAX_ADOPTED_AGE: Duration = Duration::from_millis(100);

/// The pipeline in use, and what it was started for.
struct Current {
    adopted: Vec<(String, Digest)>,
    at: Instant,
    /// When `adopted` was last read and found the same.
    checked: Instant,
    pipeline: Arc<Pipeline>,
}

/// The server's intake.
pub struct Intake {
    ctl: Control,
    current: Mutex<Option<Current>>,
}

impl Intake {
    /// An intake over `ctl` (no pipeline until the first submission).
    pub fn new(ctl: Control) -> Intake {
        Intake {
            ctl,
            current: Mutex::new(None),
        }
    }

    /// Hands `envelope` to the pipeline of what is in force now; `done`
    /// gets the answer. Blocking: call it off the async runtime.
    pub fn submit(
        &self,
        envelope: String,
        done: Box<dyn FnOnce(Answer) + Send>,
    ) -> Result<(), ApiError> {
        self.pipeline()?.submit(envelope, done)?;
        Ok(())
    }

    fn pipeline(&self) -> Result<Arc<Pipeline>, ApiError> {
        if let Ok(cur) = self.current.lock()
            && let Some(c) = cur.as_ref()
            && c.checked.elapsed() < MAX_ADOPTED_AGE
            && c.at.elapsed() < MAX_GOV_AGE
        {
            return Ok(c.pipeline.clone());
        }
        let adopted: Vec<(String, Digest)> = self
            .ctl
            .adopted_all()?
            .into_iter()
            .map(|a| (a.subject, a.digest))
            .collect();
        let mut cur = self
            .current
            .lock()
            .map_err(|_| ApiError::internal("the intake lock was poisoned"))?;
        if let Some(c) = cur.as_mut()
            && c.adopted == adopted
            && c.at.elapsed() < MAX_GOV_AGE
        {
            c.checked = Instant::now();
            return Ok(c.pipeline.clone());
        }
        let gov: Arc<Governed> = Arc::new(self.ctl.governed()?);
        let pipeline = Arc::new(Pipeline::start(self.ctl.clone(), gov, Options::default())?);
        *cur = Some(Current {
            adopted,
            at: Instant::now(),
            checked: Instant::now(),
            pipeline: pipeline.clone(),
        });
        Ok(pipeline)
    }
}
