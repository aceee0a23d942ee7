//! `bosun patches`: the kernel patch tree (bosun-kernel). `promote <host>`
//! resolves `fleet/<host>.yaml` against `patches/` into a cumulative patch
//! and `manifest.lock`: shown by default, written with `--write`. It reads
//! and writes workspace files only, so it runs here with or without a
//! daemon.

use std::process::ExitCode;

use bosun_control::Result;
use clap::Subcommand;

use super::other;

/// `bosun patches`.
#[derive(Subcommand, Debug)]
pub enum PatchesCmd {
    /// Resolve a host's manifest (`fleet/<host>.yaml`) against the patch
    /// tree (`patches/<arch|soc|module|board|driver|subsystem>/…`) into one
    /// cumulative patch and a lock of BLAKE2b-512 digests (`b2sum`'s).
    /// Order: scope kind, then patchset path, then file name. Signature
    /// trailers are left out by the hunks' line counts. Patchsets of
    /// different campaigns touching the same lines are refused; a change
    /// carried twice is a warning. Shows what it
    /// would write; `--write` writes `kernel/<host>/cumulative.patch` and
    /// `kernel/<host>/manifest.lock` (or into `--out`).
    #[command(
        after_help = "Examples:\n  bosun patches promote fresnel\n  bosun patches promote ohm --write\n  b2sum kernel/ohm/cumulative.patch   # the lock's cumulative b2"
    )]
    Promote {
        /// The host (its manifest is fleet/<host>.yaml).
        host: String,
        /// Write the files (default: only show them).
        #[arg(long)]
        write: bool,
        /// Where to write (default: kernel/<host>/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Output the lock as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun patches`.
pub(crate) fn run(workspace: &std::path::Path, c: PatchesCmd) -> Result<ExitCode> {
    match c {
        PatchesCmd::Promote {
            host,
            write,
            out,
            json,
        } => promote(workspace, &host, write, out, json),
    }
}

fn promote(
    root: &std::path::Path,
    host: &str,
    write: bool,
    out: Option<std::path::PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let name = bosun_model::Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
    let rel = format!("fleet/{name}.yaml");
    let text = std::fs::read_to_string(root.join(&rel)).map_err(|e| {
        other(format!(
            "{rel}: {e} (a host's kernel manifest; see `bosun patches promote --help`)"
        ))
    })?;
    let tree = bosun_kernel::Tree::read(root).map_err(|e| other(e.to_string()))?;
    let p = bosun_kernel::promote(&tree, name.as_str(), &rel, &text)
        .map_err(|e| other(e.to_string()))?;
    let dir = out.unwrap_or_else(|| root.join("kernel").join(name.as_str()));
    if write {
        std::fs::create_dir_all(&dir).map_err(|e| other(format!("{}: {e}", dir.display())))?;
        let lock = p.lock.to_toml().map_err(|e| other(e.to_string()))?;
        for (file, bytes) in [
            ("cumulative.patch", p.cumulative.as_slice()),
            ("manifest.lock", lock.as_bytes()),
        ] {
            let path = dir.join(file);
            let tmp = dir.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| other(format!("{}: {e}", path.display())))?;
        }
    }
    for d in &p.duplicates {
        errln!(
            "warning: {} carries the same change as {} (equal as `git patch-id --stable` sees it)",
            d.again,
            d.first
        );
    }
    if json {
        let text = serde_json::to_string_pretty(&p.lock).map_err(|e| other(e.to_string()))?;
        outln!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!(
        "{host}: {} patch(es) from {} on {} {}, suffix {}\n",
        p.lock.patch.len(),
        rel,
        p.lock.baseline_tree,
        p.lock.baseline_ref,
        p.lock.suffix
    );
    for (i, x) in p.lock.patch.iter().enumerate() {
        s.push_str(&format!(
            "  {:>2}. {} ({} B){}\n",
            i + 1,
            x.path,
            x.bytes,
            if x.trailer_stripped {
                ", trailer stripped"
            } else {
                ""
            }
        ));
    }
    s.push_str(&format!(
        "  cumulative.patch ({} B)\n  b2sum {}\n",
        p.lock.cumulative.bytes, p.lock.cumulative.b2
    ));
    if write {
        s.push_str(&format!("written to {}\n", dir.display()));
    } else {
        s.push_str("nothing written: --write writes cumulative.patch and manifest.lock\n");
    }
    out!("{s}");
    Ok(ExitCode::SUCCESS)
}
