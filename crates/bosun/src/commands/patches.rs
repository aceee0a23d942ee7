//! `bosun patches`: the kernel patch tree (bosun-kernel). `promote <host>`
//! resolves `fleet/<host>.yaml` against `patches/` into a cumulative patch
//! and `manifest.lock`: shown by default, written with `--write`. It reads
//! and writes workspace files only, so it runs here with or without a
//! daemon.

use std::process::ExitCode;

use bosun_control::Result;
use clap::Subcommand;

use bosun_api::views::{BlockerKindsView, BlockerView};

use super::{Ctx, answered, other};

/// `bosun patches`.
#[derive(Subcommand, Debug)]
pub enum PatchesCmd {
    /// Put a campaign's patches into the tree at their scope:
    /// `patches/<scope>/<campaign>/`, names and bytes kept (authorship
    /// headers too), the campaign recorded in `patchset.toml`. Refused
    /// without a scope; nothing is written unless every file is a patch.
    #[command(
        after_help = "Examples:\n  bosun patches import fresnel-fourier 0001-*.patch --to board/pinebook-pro\n  git format-patch -o /tmp/s v7.0 && bosun patches import besser /tmp/s/*.patch --to driver/bes2600"
    )]
    Import {
        /// The campaign the patches come from.
        campaign: String,
        /// The patch files, in order (their names sort them).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The narrowest correct scope (`board/pinebook-pro`, `soc/rockchip/rk3399`).
        #[arg(long, value_name = "SCOPE", required = true)]
        to: String,
    },
    /// Move a scope or patchset in the tree (`patches/P` to `patches/Q`)
    /// and rewrite every manifest that names it, all at once or not at
    /// all (comments and the rest of each manifest kept).
    #[command(
        after_help = "Examples:\n  bosun patches migrate-tree --from subsystem/media/vb2 --to subsystem/media/videobuf2"
    )]
    MigrateTree {
        /// The path under patches/ that moves.
        #[arg(long, value_name = "PATH")]
        from: String,
        /// Where it goes.
        #[arg(long, value_name = "PATH")]
        to: String,
    },
    /// Apply a host's series patch by patch (`git apply`, no fuzz) to a
    /// worktree of a real baseline checkout at the manifest's ref, and
    /// name the first patch, file and hunk that fails; offsets are
    /// reported. The checkout itself is not changed. Exit status 1 when a
    /// patch fails.
    #[command(
        after_help = "Examples:\n  bosun patches check fresnel --baseline ~/src/linux\n  bosun patches check ohm --baseline /srv/linux --json"
    )]
    Check {
        /// The host (its manifest is `fleet/<host>.yaml`).
        host: String,
        /// A git checkout holding the manifest's baseline ref.
        #[arg(long, value_name = "DIR")]
        baseline: std::path::PathBuf,
        /// File a `patch-fail` blocker for the patch that fails, signed as
        /// this identity (it halts that patch's promotes until resolved).
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a host's manifest (`fleet/<host>.yaml`) against the patch
    /// tree (`patches/<arch|soc|module|board|driver|subsystem>/…`) into one
    /// cumulative patch and a lock of BLAKE2b-512 digests (`b2sum`'s).
    /// Order: scope kind, then patchset path, then file name. Signature
    /// trailers are left out by the hunks' line counts. Patchsets of
    /// different campaigns touching the same lines are refused; a change
    /// carried twice is a warning. Shows what it
    /// would write; `--write` writes `kernel/<host>/cumulative.patch` and
    /// `kernel/<host>/manifest.lock` (or into `--out`). `--submit` sends
    /// the promote through the op pipeline instead (never auto-promote):
    /// an op of the workspace's `kernel-promote` runbook naming the lock's
    /// digest, which writes the files once the policy (by default an
    /// operator) lets it; `kernel build` builds only such a lock.
    #[command(
        after_help = "Examples:\n  bosun patches promote fresnel\n  bosun patches promote ohm --submit --as kernel-agent\n  bosun patches promote ohm --write --out /tmp/ohm\n  b2sum kernel/ohm/cumulative.patch   # the lock's cumulative b2"
    )]
    Promote {
        /// The host (its manifest is `fleet/<host>.yaml`).
        host: String,
        /// Write the files (default: only show them).
        #[arg(long, conflicts_with = "submit")]
        write: bool,
        /// Where to write (default: `kernel/<host>/` in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Refuse unless the lock's b2sum (of `manifest.lock`) is this
        /// (what an approved promote op names).
        #[arg(long, value_name = "B2")]
        expect: Option<String>,
        /// Submit the promote as an op signed by `--as` (plan, policy,
        /// approvals), instead of writing here.
        #[arg(long, requires = "as_")]
        submit: bool,
        /// Who signs the op (with --submit), and the `campaign-conflict`
        /// blocker a conflict between campaigns files.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// Output the lock (or, with --submit, what intake made of the op)
        /// as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun patches`.
pub(crate) fn run(ctx: &Ctx, c: PatchesCmd) -> Result<ExitCode> {
    let workspace = ctx.workspace.as_path();
    match c {
        PatchesCmd::Import {
            campaign,
            files,
            to,
        } => import(workspace, &campaign, &files, &to),
        PatchesCmd::Check {
            host,
            baseline,
            as_,
            json,
        } => check(ctx, &host, &baseline, as_, json),
        PatchesCmd::MigrateTree { from, to } => {
            let changed = bosun_kernel::migrate_tree(workspace, &from, &to)
                .map_err(|e| other(e.to_string()))?;
            outln!(
                "patches/{from} is now patches/{to}; {} manifest(s) rewritten",
                changed.len()
            );
            for c in &changed {
                outln!("  {c}");
            }
            adopt_hint(changed.len());
            Ok(ExitCode::SUCCESS)
        }
        PatchesCmd::Promote {
            host,
            write,
            out,
            expect,
            submit,
            as_,
            json,
        } => match (submit, as_) {
            (true, Some(who)) => super::kernel_promote::submit(ctx, &host, &who, json),
            (_, as_) => promote(ctx, &host, write, out, expect, as_, json),
        },
    }
}

/// Active blockers whose kind halts `verb` (`promote`: `patch-fail`,
/// `campaign-conflict`, …; `build`: `build-fail`, `signing-fail`, …), each
/// with its kind's scope (`patch`, `build-host`, `global`, `host`), from
/// the store here or the daemon.
pub(crate) fn holds(ctx: &Ctx, verb: &str) -> Result<Vec<(BlockerView, String)>> {
    let (kinds, list) = blockers_in_force(ctx)?;
    Ok(list
        .into_iter()
        .filter(|b| b.resolved_at.is_none())
        .filter_map(|b| {
            let k = kinds
                .kinds
                .iter()
                .find(|k| k.name == b.kind && k.halts.iter().any(|h| h == verb || h == "*"))?;
            let scope = k.scope.clone();
            Some((b, scope))
        })
        .collect())
}

/// The blocker kinds and blockers, from the store here or the daemon.
fn blockers_in_force(ctx: &Ctx) -> Result<(BlockerKindsView, Vec<BlockerView>)> {
    Ok(match &ctx.remote {
        Some(r) => {
            let kinds = answered(r.get("/blockers/kinds"), false)?;
            let list = answered(r.get("/blockers"), false)?;
            match (kinds, list) {
                (Ok(k), Ok(l)) => (k, l),
                _ => return Err(other("the daemon would not list its blockers")),
            }
        }
        None => {
            // A workspace that never stored anything has no blockers; one
            // whose ledger key is published must have its store (the
            // reader refuses a lost one).
            let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
            let published = ws.root.join(bosun_control::ledger::PUBLIC_JWK).exists();
            if !ws.db_path().exists() && !published {
                return Ok((
                    BlockerKindsView {
                        source: String::new(),
                        kinds: Vec::new(),
                    },
                    Vec::new(),
                ));
            }
            let ctl = ctx.reader()?;
            (ctl.blocker_kinds_view()?, ctl.blocker_views(false)?)
        }
    })
}

/// Files a blocker of `kind` on `subject` as `who`, as `blockers file`
/// does (here or through the daemon).
pub(crate) fn file_blocker(
    ctx: &Ctx,
    who: &str,
    kind: &str,
    subject: &str,
    reason: String,
) -> Result<ExitCode> {
    let cmd = super::blockers::BlockersCmd::File {
        kind: kind.into(),
        subject: subject.to_string(),
        reason,
        owner: None,
        as_: who.to_string(),
        json: false,
    };
    match &ctx.remote {
        Some(r) => super::blockers::remote(ctx, r, cmd),
        None => super::blockers::run(&ctx.open(false)?, &ctx.keys, cmd),
    }
}

fn check(
    ctx: &Ctx,
    host: &str,
    baseline: &std::path::Path,
    as_: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let (rel, _, m, tree) = preview_manifest(ctx, host)?;
    let sets = bosun_kernel::resolve(&tree, &m, &rel).map_err(|e| other(e.to_string()))?;
    let scratch = std::env::temp_dir().join(format!(
        "bosun-check-{}-{}",
        std::process::id(),
        bosun_control::now()
    ));
    let c = bosun_kernel::check(baseline, &m.baseline.reference, &sets, &scratch)
        .map_err(|e| other(e.to_string()))?;
    if json {
        let v = serde_json::json!({
            "host": host,
            "baseline": m.baseline.reference,
            "commit": c.commit,
            "applied": c.applied.iter().map(|a| serde_json::json!({
                "patch": a.patch,
                "offsets": a.offsets.iter().map(|(f, n, at, off)| serde_json::json!({"file": f, "hunk": n, "at": at, "offset": off})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "failed": c.failed.as_ref().map(|f| serde_json::json!({
                "patch": f.patch, "file": f.file, "line": f.line, "hunk": f.hunk, "said": f.said,
            })),
        });
        outln!("{v:#}");
    } else {
        outln!(
            "{host}: {} on {} ({})",
            rel,
            m.baseline.reference,
            c.commit.get(..12).unwrap_or(&c.commit)
        );
        for a in &c.applied {
            outln!("  ok      {}", a.patch);
            for (f, n, at, off) in &a.offsets {
                outln!("          {f}: hunk {n} applied at line {at} (offset {off:+})");
            }
        }
        if let Some(f) = &c.failed {
            outln!("  FAILED  {}", f.patch);
            outln!(
                "          {}: hunk {} at line {} does not apply (git apply takes no fuzz): {}",
                f.file,
                f.hunk,
                f.line,
                f.said
            );
        }
    }
    if let (Some(f), Some(who)) = (&c.failed, &as_) {
        let reason = format!(
            "{}: hunk {} at line {} does not apply on {} ({}): {}",
            f.file,
            f.hunk,
            f.line,
            m.baseline.reference,
            c.commit.get(..12).unwrap_or(&c.commit),
            f.said
        );
        file_blocker(ctx, who, "patch-fail", &f.patch, reason)?;
    }
    Ok(if c.failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn import(
    root: &std::path::Path,
    campaign: &str,
    files: &[std::path::PathBuf],
    to: &str,
) -> Result<ExitCode> {
    let mut read = Vec::new();
    for f in files {
        let meta = std::fs::metadata(f).map_err(|e| other(format!("{}: {e}", f.display())))?;
        if meta.len() > bosun_kernel::series::MAX_PATCH_BYTES as u64 {
            return Err(other(format!("{}: too large for a patch", f.display())));
        }
        let bytes = std::fs::read(f).map_err(|e| other(format!("{}: {e}", f.display())))?;
        read.push((f.display().to_string(), bytes));
    }
    let done = bosun_kernel::import(root, campaign, to, &read).map_err(|e| other(e.to_string()))?;
    outln!(
        "{}: {} written, {} already there",
        done.patchset,
        done.written.len(),
        done.unchanged.len()
    );
    for w in &done.written {
        outln!("  {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Promotes `host`; when patchsets of different campaigns touch the same
/// lines, files a `campaign-conflict` blocker on each pair (as `as_`, once
/// per pair) before refusing, so every promote carrying either is held
/// until someone settles which campaign owns the lines.
pub(crate) fn promote_or_file(
    ctx: &Ctx,
    tree: &bosun_kernel::Tree,
    host: &str,
    rel: &str,
    text: &str,
    as_: Option<&str>,
) -> Result<bosun_kernel::Promoted> {
    let e = match bosun_kernel::promote(tree, host, rel, text) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let clash = bosun_kernel::Manifest::parse(rel, text)
        .and_then(|m| bosun_kernel::resolve(tree, &m, rel))
        .map(|sets| bosun_kernel::conflicts(&sets))
        .unwrap_or_default();
    if let (Some(who), false) = (as_, clash.is_empty()) {
        let active = holds(ctx, "promote")?;
        for c in &clash {
            let subject = format!("{},{}", c.a.0, c.b.0);
            if active
                .iter()
                .any(|(b, _)| b.kind == "campaign-conflict" && b.subject == subject)
            {
                continue;
            }
            file_blocker(ctx, who, "campaign-conflict", &subject, c.to_string())?;
        }
    }
    Err(other(e.to_string()))
}

fn promote(
    ctx: &Ctx,
    host: &str,
    write: bool,
    out: Option<std::path::PathBuf>,
    expect: Option<String>,
    as_: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let root = ctx.workspace.as_path();
    // What writes the host's lock (the promote op's step) or must match
    // an approved digest reads the adopted manifest only; a preview or an
    // export (`--out`) may show the file where none is adopted.
    if let Some(o) = &out {
        // kernel/<host>/ is written only from the adopted manifest, by a
        // promote op's step (`--write` without `--out`).
        let real = |p: &std::path::Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        if real(o).starts_with(real(&root.join("kernel"))) {
            return Err(other(format!(
                "--out {}: kernel/ is written only by a promote op's step (`--write` without `--out`)",
                o.display()
            )));
        }
    }
    let (rel, text, _, tree) = if (write && out.is_none()) || expect.is_some() {
        ctx.reader()?.manifest_of(host)?
    } else {
        preview_manifest(ctx, host)?
    };
    let name = bosun_model::Name::parse(host).map_err(|e| other(e.to_string()))?;
    let p = promote_or_file(ctx, &tree, name.as_str(), &rel, &text, as_.as_deref())?;
    if let Some(want) = &expect {
        let now = bosun_kernel::b2(
            p.lock
                .to_toml()
                .map_err(|e| other(e.to_string()))?
                .as_bytes(),
        );
        if *want != now {
            return Err(other(format!(
                "{host}: the lock promote makes now has b2sum {now}, not the {want} expected (the tree or the adopted {rel} changed since the promote was approved): nothing written"
            )));
        }
    }
    // Blockers that halt promotes hold exactly the patches they name.
    let held: Vec<String> = holds(ctx, "promote")?
        .iter()
        .map(|(b, _)| b)
        .filter(|b| {
            b.subject
                .split(',')
                .map(str::trim)
                .any(|s| p.lock.patch.iter().any(|x| x.path == s || x.patchset == s))
        })
        .map(|b| {
            format!(
                "blocker {} ({}) on {}: {}",
                b.id, b.kind, b.subject, b.reason
            )
        })
        .collect();
    if !held.is_empty() {
        return Err(other(format!(
            "{host}: held, promote refused:\n  {}",
            held.join("\n  ")
        )));
    }
    if out.is_none() {
        bosun_kernel::no_symlinks(root, &format!("kernel/{name}/manifest.lock"))
            .map_err(|e| other(e.to_string()))?;
    }
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

/// `bosun campaign`.
#[derive(Subcommand, Debug)]
pub enum CampaignCmd {
    /// Close a campaign that ended well: its patchsets stay in the tree
    /// and in every manifest; the closure is recorded in
    /// `campaigns/<campaign>.toml`, and the campaign takes no more imports
    /// and cannot be abandoned.
    #[command(
        after_help = "Examples:\n  bosun campaign close fresnel-fourier --status success\n  bosun campaign close bes2600-5ghz --status upstreamed"
    )]
    Close {
        /// The campaign.
        campaign: String,
        /// How it ended: `success`, or `upstreamed` (its patches went
        /// upstream and stay until the baselines carry them).
        #[arg(long, value_parser = ["success", "upstreamed"])]
        status: String,
    },
    /// Give up a campaign: its patchsets (`campaign` in patchset.toml)
    /// leave every manifest's include and exclude, then are kept in
    /// `archive/patches/` (`--keep-as-archive`) or deleted
    /// (`--purge-from-fleet`). One of the two is required.
    #[command(
        after_help = "Examples:\n  bosun campaign abandon rockhard --keep-as-archive\n  bosun campaign abandon ohm_gl_fix --purge-from-fleet"
    )]
    #[command(group(clap::ArgGroup::new("how").required(true).args(["keep_as_archive", "purge_from_fleet"])))]
    Abandon {
        /// The campaign.
        campaign: String,
        /// Keep its patches in archive/patches/, out of every promote.
        #[arg(long)]
        keep_as_archive: bool,
        /// Delete its patches.
        #[arg(long)]
        purge_from_fleet: bool,
    },
}

/// Runs `bosun campaign`.
pub(crate) fn campaign(workspace: &std::path::Path, c: CampaignCmd) -> Result<ExitCode> {
    match c {
        CampaignCmd::Close { campaign, status } => {
            let how = if status == "success" {
                bosun_kernel::Closure::Success
            } else {
                bosun_kernel::Closure::Upstreamed
            };
            let rec = bosun_kernel::close(workspace, &campaign, how, super::kernel::now())
                .map_err(|e| other(e.to_string()))?;
            outln!(
                "campaign `{campaign}` closed ({status}): {} patchset(s) stay in the tree; recorded in campaigns/{campaign}.toml",
                rec.patchsets.len()
            );
            for p in &rec.patchsets {
                outln!("  patches/{p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Abandon {
            campaign,
            keep_as_archive,
            purge_from_fleet: _,
        } => {
            let how = if keep_as_archive {
                bosun_kernel::Abandon::KeepAsArchive
            } else {
                bosun_kernel::Abandon::PurgeFromFleet
            };
            let (ids, files) = bosun_kernel::abandon(workspace, &campaign, how)
                .map_err(|e| other(e.to_string()))?;
            let what = if keep_as_archive {
                "archived in archive/patches/"
            } else {
                "deleted"
            };
            outln!(
                "campaign `{campaign}`: {} patchset(s) {what}; {} manifest(s) rewritten",
                ids.len(),
                files.len()
            );
            for i in &ids {
                outln!("  patches/{i}");
            }
            for f in &files {
                outln!("  {f}");
            }
            adopt_hint(files.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The manifest a preview (`promote` without `--write`, `check`) reads:
/// the adopted one, with a note when the file on disk differs; where none
/// is adopted (or there is no database: an example directory), the file
/// on disk, with a note that an op needs it adopted.
fn preview_manifest(ctx: &Ctx, host: &str) -> Result<bosun_control::kernel::ManifestRead> {
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let why = if ws.db_path().exists() {
        let reader = ctx.reader()?;
        if let Some(m) = reader.adopted_manifest(host)? {
            if let Some(note) = reader.manifest_drift(host)? {
                errln!("note: {note}");
            }
            return Ok(m);
        }
        "is not adopted"
    } else {
        "has no database here to be adopted in"
    };
    let m = bosun_control::kernel::manifest_on_disk(&ws.root, host)?;
    errln!(
        "note: {} {why}: shown from the file on disk; a promote op needs it adopted (`bosun adopt --as <operator>`)",
        m.0
    );
    Ok(m)
}

/// Rewritten manifests are governed files: they come into force (and a
/// promote uses them) once the operators adopt them.
fn adopt_hint(rewritten: usize) {
    if rewritten > 0 {
        outln!("the rewritten manifests are in force once adopted: `bosun adopt --as <operator>`");
    }
}
