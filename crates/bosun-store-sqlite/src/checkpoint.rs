//! The background checkpointer that keeps the write-ahead log short.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bosun_store::{Result, StoreError};
use rusqlite::Connection;

use crate::connect;

/// Checkpoints the WAL every `CHECKPOINT_EVERY` from a connection of its
/// own, so that no commit pays for copying the bulk of the WAL into the
/// database (the writer's automatic checkpoint is off). PASSIVE never
/// blocks writers or readers; when the last connection closes SQLite
/// checkpoints anyway.
///
/// A checkpoint alone never lets the log start over under steady load:
/// it copies the frames committed before it began, and by the time it ends
/// the writer has committed more, so the log is never wholly backfilled
/// when a transaction starts, and SQLite appends to it for as long as the
/// load lasts (348 MB in 10 s at 2,000 ops/s, so a day of it would fill a
/// disk). So once the log passes [`CATCH_UP_FRAMES`] the checkpointer
/// raises `catch_up`; the writer, before its next transaction, checkpoints
/// the few frames committed meanwhile (PASSIVE again, on its own
/// connection), and that transaction writes the log from its start (and
/// SQLite cuts the file back to `journal_size_limit`).
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

pub(crate) fn spawn_checkpointer(
    path: &Path,
    stop: Arc<std::sync::atomic::AtomicBool>,
    catch_up: Arc<std::sync::atomic::AtomicBool>,
    every: Duration,
) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let conn = connect(path)?;
    std::thread::Builder::new()
        .name("bosun-checkpoint".into())
        .spawn(move || {
            let tick = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while !stop.load(Relaxed) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= every {
                    waited = Duration::ZERO;
                    checkpoint_once(&conn, &catch_up, CATCH_UP_FRAMES);
                }
            }
        })
        .map_err(|e| StoreError::backend("cannot start the checkpoint thread", e))?;
    Ok(())
}

/// Frames in the log past which the writer is asked to catch up and start
/// it over: 1 GiB of 4 KiB pages. A bound on the log's size, not a speed-up:
/// the catch-up holds one commit (0.4–1.5 s on this machine with a log of
/// 1 GiB, as SQLite also cuts the file back; 30–60 ms with one of 50 MB),
/// so at a sustained 2,000 ops/s it happens about every 20 s, and never in
/// a load with pauses. (Catching up after every checkpoint took intake's
/// p50 at 2,000 ops/s from 2.5–5.9 ms to 1.5–3.4 ms, as the log's syncs
/// were then overwrites rather than appends, but its p99 to 21–47 ms.)
pub(crate) const CATCH_UP_FRAMES: i64 = 262_144;

/// One background checkpoint. When the log has `catch_up_at` frames or
/// more, it raises `catch_up`, after going again while a round still found
/// many new frames (each PASSIVE round copies those committed before it
/// began and takes about as long as they are many, so the rounds shrink),
/// so that the writer's catch-up copies only what one short round let
/// through.
pub(crate) fn checkpoint_once(
    conn: &Connection,
    catch_up: &std::sync::atomic::AtomicBool,
    catch_up_at: i64,
) {
    /// Frames a writer may be left to copy (a few intake commits' worth).
    const LEAVE: i64 = 256;
    let mut copied: Option<i64> = None;
    for _ in 0..4 {
        // (busy, frames in the log, frames checkpointed)
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        let Ok((0, frames, backfilled)) = done else {
            return;
        };
        if frames <= 0 || frames < catch_up_at {
            return;
        }
        let fresh = backfilled - copied.unwrap_or(0);
        copied = Some(backfilled);
        if fresh < LEAVE {
            break;
        }
    }
    catch_up.store(true, std::sync::atomic::Ordering::Relaxed);
}
