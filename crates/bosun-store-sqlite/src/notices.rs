//! [`NoticeStore`](bosun_store::NoticeStore): remembered files and
//! reminders.

use bosun_model::Digest;
use bosun_store::*;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::ledger::event;
use crate::sql::*;

impl bosun_store::NoticeStore for SqliteStore {
    fn remember(&self, name: &str, content: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            let cur: Option<String> = tx
                .query_row(
                    "SELECT content FROM remembered WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(be)?;
            if cur.as_deref() == Some(content) {
                return Ok(());
            }
            tx.execute(
                "INSERT INTO remembered (name, content, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET content = excluded.content, at = excluded.at",
                params![name, content, at],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                None,
                &format!("{name}.changed"),
                None,
                &serde_json::json!({"digest": Digest::of(content.as_bytes())}),
            )
        })
    }

    fn remembered(&self, name: &str) -> Result<Option<String>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT content FROM remembered WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(be)
        })
    }

    fn reminders(&self) -> Result<Vec<ReminderRow>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT subject, sent, last_at, snoozed_until FROM reminders")
                .map_err(be)?;
            let rows = st
                .query_map([], |r| {
                    Ok(ReminderRow {
                        subject: r.get(0)?,
                        sent: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                        last_at: r.get(2)?,
                        snoozed_until: r.get(3)?,
                    })
                })
                .map_err(be)?;
            rows.map(|r| r.map_err(be)).collect()
        })
    }

    fn note_reminder(&self, subject: &str, sent: u32, at: i64, jti: Option<&str>) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO reminders (subject, sent, last_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(subject) DO UPDATE SET sent = excluded.sent, last_at = excluded.last_at",
                params![subject, sent, at],
            )
            .map_err(be)?;
            event(tx, at, jti, "reminder.sent", None, &serde_json::json!({"subject": subject, "n": sent}))
        })
    }

    fn snooze_reminder(&self, subject: &str, until: i64, by: &str, at: i64) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO reminders (subject, snoozed_until) VALUES (?1, ?2)
                 ON CONFLICT(subject) DO UPDATE SET snoozed_until = excluded.snoozed_until",
                params![subject, until],
            )
            .map_err(be)?;
            event(
                tx,
                at,
                None,
                "reminder.snoozed",
                None,
                &serde_json::json!({"subject": subject, "until": until, "by": by}),
            )
        })
    }
}
