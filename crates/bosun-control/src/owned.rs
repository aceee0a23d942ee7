//! The daemon owns its state: before `serve` starts, the state directory
//! (`.bosun/`), the database and its log, the key directory and the
//! ledger key must be owned by the daemon's user and writable by no one
//! else. Whoever can write them can rewrite what bosun decided (flip an
//! op's state, truncate the ledger) or sign checkpoints as the workspace;
//! a daemon that runs over such state would only pretend to guard it.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bosun_workspace::Workspace;

use crate::{ControlError, Result};

/// Group- and world-write bits.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// Any access by group or others: the state directory allows none (the
/// database files in it are created readable, and reading them would
/// bypass the API's tokens).
const ANY_ACCESS_BY_OTHERS: u32 = 0o077;

/// What must be private to the daemon's user, those that exist.
fn guarded(ws: &Workspace, key_dir: &Path) -> Vec<PathBuf> {
    let state = ws.state_dir();
    let db = ws.db_path();
    let mut paths = vec![state, db.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        paths.push(PathBuf::from(p));
    }
    paths.push(key_dir.to_path_buf());
    let name = crate::ledger::key_name(ws);
    for ext in ["jwk", "key", "ssh-agent"] {
        paths.push(key_dir.join(format!("{name}.{ext}")));
    }
    paths.into_iter().filter(|p| p.exists()).collect()
}

/// Refuses state that another user could write: a path not owned by
/// `uid`, or writable by its group or by others. Says which and how to
/// fix it.
pub fn check_private(ws: &Workspace, key_dir: &Path, uid: u32) -> Result<()> {
    let mut wrong = Vec::new();
    let state = ws.state_dir();
    for p in guarded(ws, key_dir) {
        let m = std::fs::symlink_metadata(&p)
            .map_err(|e| ControlError::Other(format!("{}: {e}", p.display())))?;
        let shown = p.display();
        if m.file_type().is_symlink() {
            wrong.push(format!(
                "{shown} is a symbolic link: whoever can change where it points can swap the state"
            ));
        } else if m.uid() != uid {
            wrong.push(format!(
                "{shown} is owned by uid {}, not by this daemon's user (uid {uid}): `chown` it to the daemon's user",
                m.uid()
            ));
        } else if (p == state || p == key_dir) && m.mode() & ANY_ACCESS_BY_OTHERS != 0 {
            let what = if p == state {
                "the state directory"
            } else {
                "the key directory (the ledger key, and agents' keys for /mcp)"
            };
            wrong.push(format!(
                "{shown} is open to its group or others (mode {:o}); {what} is the daemon's alone: `chmod 700 {shown}`",
                m.mode() & 0o7777
            ));
        } else if m.mode() & WRITABLE_BY_OTHERS != 0 {
            let who = match (m.mode() & 0o020 != 0, m.mode() & 0o002 != 0) {
                (true, true) => "its group and by others",
                (true, false) => "its group",
                _ => "others",
            };
            wrong.push(format!(
                "{shown} is writable by {who} (mode {:o}): `chmod go-w {shown}`",
                m.mode() & 0o7777
            ));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(ControlError::Other(format!(
        "refusing to serve: the daemon owns its state, and other users could write it:\n  {}\nWhoever can write these can rewrite ops, approvals or the ledger, or sign as the workspace.",
        wrong.join("\n  ")
    )))
}

/// [`check_private`] for the effective user of this process.
pub fn check_private_to_me(ws: &Workspace, key_dir: &Path) -> Result<()> {
    check_private(ws, key_dir, rustix::process::geteuid().as_raw())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn private_state_passes_and_state_others_can_write_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("w");
        bosun_workspace::scaffold::init(&root, &bosun_model::Name::parse("w").unwrap()).unwrap();
        let state = root.join(".bosun");
        std::fs::create_dir_all(&state).unwrap();
        let keys = d.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let ledger_key = keys.join("w-ledger.jwk");
        std::fs::write(&ledger_key, "{}").unwrap();
        chmod(&ledger_key, 0o600);
        chmod(&keys, 0o700);
        chmod(&state, 0o700);
        let ws = Workspace::open(&root).unwrap();
        let me = rustix::process::geteuid().as_raw();
        check_private(&ws, &keys, me).unwrap();

        let e = check_private(&ws, &keys, me.wrapping_add(1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned by uid") && e.contains("refusing to serve"),
            "{e}"
        );

        for mode in [0o770, 0o750, 0o701] {
            chmod(&state, mode);
            let e = check_private(&ws, &keys, me).unwrap_err().to_string();
            assert!(
                e.contains(".bosun is open to its group or others") && e.contains("chmod 700"),
                "{e}"
            );
        }
        chmod(&state, 0o700);

        // The key directory holds the ledger key and agents' keys: the
        // daemon's alone, not even for its group to list.
        for mode in [0o703, 0o750] {
            chmod(&keys, mode);
            let e = check_private(&ws, &keys, me).unwrap_err().to_string();
            assert!(
                e.contains("keys is open to its group or others") && e.contains("chmod 700"),
                "{e}"
            );
        }
        chmod(&keys, 0o700);

        chmod(&ledger_key, 0o622);
        let e = check_private(&ws, &keys, me).unwrap_err().to_string();
        assert!(
            e.contains("w-ledger.jwk is writable by its group and by others"),
            "{e}"
        );
        chmod(&ledger_key, 0o600);

        // A link in the ledger key's place is refused too.
        std::fs::remove_file(&ledger_key).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), &ledger_key).unwrap();
        std::fs::write(d.path().join("elsewhere"), "{}").unwrap();
        let e = check_private(&ws, &keys, me).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }
}
