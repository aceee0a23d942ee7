//! Notices: the last good versions of files read from disk
//! ([`NoticeStore::remember`]) and the reminders sent to people.

use crate::Result;
use crate::records::*;

/// Remembered files and reminders.
pub trait NoticeStore: Send + Sync {
    /// Keeps the last good version of a file that is read from disk but not
    /// adopted (`inventory`), with a `<name>.changed` event carrying its
    /// digest; a no-op when the content is unchanged.
    fn remember(&self, name: &str, content: &str, at: i64) -> Result<()>;
    /// The last good version kept by [`NoticeStore::remember`].
    fn remembered(&self, name: &str) -> Result<Option<String>>;
    /// Every reminder row.
    fn reminders(&self) -> Result<Vec<ReminderRow>>;
    /// Records that reminder number `sent` for `subject` went out at `at`,
    /// with its `reminder.sent` event (`jti`: the op it is about, if any).
    fn note_reminder(&self, subject: &str, sent: u32, at: i64, jti: Option<&str>) -> Result<()>;
    /// Mutes `subject`'s reminders until `until`, with its event.
    fn snooze_reminder(&self, subject: &str, until: i64, by: &str, at: i64) -> Result<()>;
}
