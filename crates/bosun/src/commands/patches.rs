//! `bosun patches`: the kernel patch tree (bosun-kernel). `promote <host>`
//! resolves `fleet/<host>.yaml` against `patches/` into a cumulative patch
//! and `manifest.lock`: shown by default, written with `--write`. It reads
//! and writes workspace files only, so it runs here with or without a
//! daemon.

use std::process::ExitCode;

use bosun_control::Result;
use clap::Subcommand;

use bosun_api::views::{BlockerKindsView, BlockerView};
use bosun_model::Act;

use super::{Ctx, answered, other};

/// `bosun patches`.
#[derive(Subcommand, Debug)]
pub enum PatchesCmd {
    /// Put a campaign's patches into the tree at their scope:
    /// `patches/<scope>/<campaign>/`, names and bytes kept (authorship
    /// headers too), the campaign recorded in `patchset.toml`. Refused
    /// without a scope; nothing is written unless every file is a patch.
    #[command(
        after_help = "Examples:\n  bosun patches import fresnel-fourier 0001-*.patch --to board/pinebook-pro\n  git format-patch -o /tmp/s v7.0 && bosun patches import besser /tmp/s/*.patch --to driver/bes2600 --as kernel-agent"
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
        /// Sign the import as this identity (recorded in the ledger; an
        /// agent may); required under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// What was written, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a scope or patchset in the tree (`patches/P` to `patches/Q`)
    /// and rewrite every manifest that names it, all at once or not at
    /// all (comments and the rest of each manifest kept).
    #[command(
        after_help = "Examples:\n  bosun patches migrate-tree --from subsystem/media/vb2 --to subsystem/media/videobuf2\n  bosun patches migrate-tree --from board/pbp --to board/pinebook-pro --as alice"
    )]
    MigrateTree {
        /// The path under patches/ that moves.
        #[arg(long, value_name = "PATH")]
        from: String,
        /// Where it goes.
        #[arg(long, value_name = "PATH")]
        to: String,
        /// Sign it as this identity (an operator, by default policy;
        /// recorded in the ledger); required under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// What changed, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a host's series patch by patch (`git apply`, no fuzz) to a
    /// worktree of a real baseline checkout at the manifest's ref, and
    /// name the first patch, file and hunk that fails; offsets are
    /// reported. The checkout itself is not changed. The checkout is
    /// `--baseline`, else bosun.toml's `[kernel.baselines]` entry for the
    /// manifest's baseline tree (under BOSUN_URL, always the daemon's).
    /// Exit status 1 when a patch fails.
    #[command(
        after_help = "Examples:\n  bosun patches check fresnel --baseline ~/src/linux\n  bosun patches check ohm --json        # [kernel.baselines] linux = \"/srv/linux\""
    )]
    Check {
        /// The host (its manifest is `fleet/<host>.yaml`).
        host: String,
        /// A git checkout holding the manifest's baseline ref (default:
        /// `[kernel.baselines]`).
        #[arg(long, value_name = "DIR")]
        baseline: Option<std::path::PathBuf>,
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
    match c {
        PatchesCmd::Import {
            campaign,
            files,
            to,
            as_,
            json,
        } => super::kernel_change::import(ctx, &campaign, &to, &files, as_.as_deref(), json),
        PatchesCmd::Check {
            host,
            baseline,
            as_,
            json,
        } => check(ctx, &host, baseline.as_deref(), as_, json),
        PatchesCmd::MigrateTree {
            from,
            to,
            as_,
            json,
        } => super::kernel_change::change(
            ctx,
            Act::PatchesMigrate { from, to },
            as_.as_deref(),
            &[],
            json,
        ),
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
    baseline: Option<&std::path::Path>,
    as_: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let c = match super::kernel_change::check(ctx, host, baseline)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let short = c.commit.get(..12).unwrap_or(&c.commit);
    if let Some(n) = &c.note {
        errln!("note: {n}");
    }
    if json {
        let v = serde_json::to_string_pretty(&c).map_err(|e| other(e.to_string()))?;
        outln!("{v}");
    } else {
        outln!("{host}: {} on {} ({short})", c.manifest, c.baseline);
        for a in &c.applied {
            outln!("  ok      {}", a.patch);
            for o in &a.offsets {
                outln!(
                    "          {}: hunk {} applied at line {} (offset {:+})",
                    o.file,
                    o.hunk,
                    o.at,
                    o.offset
                );
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
            "{}: hunk {} at line {} does not apply on {} ({short}): {}",
            f.file, f.hunk, f.line, c.baseline, f.said
        );
        file_blocker(ctx, who, "patch-fail", &f.patch, reason)?;
    }
    Ok(if c.failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
        after_help = "Examples:\n  bosun campaign close fresnel-fourier --status success\n  bosun campaign close bes2600-5ghz --status upstreamed --as alice"
    )]
    Close {
        /// The campaign.
        campaign: String,
        /// How it ended: `success`, or `upstreamed` (its patches went
        /// upstream and stay until the baselines carry them).
        #[arg(long, value_parser = ["success", "upstreamed"])]
        status: String,
        /// Sign it as this identity (an operator, by default policy;
        /// recorded in the ledger); required under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// What changed, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give up a campaign: its patchsets (`campaign` in patchset.toml)
    /// leave every manifest's include and exclude, then are kept in
    /// `archive/patches/` (`--keep-as-archive`) or deleted
    /// (`--purge-from-fleet`). One of the two is required. The statement
    /// names the patchsets seen now (said on stderr): a patchset retagged
    /// into the campaign before it is applied is not taken.
    #[command(
        after_help = "Examples:\n  bosun campaign abandon rockhard --keep-as-archive\n  bosun campaign abandon ohm_gl_fix --purge-from-fleet --as alice"
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
        /// Sign it as this identity (an operator, by default policy;
        /// recorded in the ledger); required under BOSUN_URL.
        #[arg(long = "as", value_name = "WHO")]
        as_: Option<String>,
        /// What changed, as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun campaign`.
pub(crate) fn campaign(ctx: &Ctx, c: CampaignCmd) -> Result<ExitCode> {
    let (act, as_, json) = match c {
        CampaignCmd::Close {
            campaign,
            status,
            as_,
            json,
        } => (Act::CampaignClose { campaign, status }, as_, json),
        CampaignCmd::Abandon {
            campaign,
            keep_as_archive,
            purge_from_fleet: _,
            as_,
            json,
        } => {
            // What it takes is what is looked at now, and signed: a
            // patchset retagged into the campaign after this is not taken.
            bosun_kernel::tree::check_campaign(&campaign).map_err(|e| other(e.to_string()))?;
            let seen: bosun_api::views::CampaignView = match &ctx.remote {
                Some(r) => match answered(r.get(&format!("/kernel/campaigns/{campaign}")), json)? {
                    Ok(v) => v,
                    Err(code) => return Ok(code),
                },
                None => bosun_control::kernel_acts::campaign_view(&ctx.workspace, &campaign)?,
            };
            errln!(
                "abandoning campaign `{campaign}`: {}",
                if seen.patchsets.is_empty() {
                    "no patchset".to_string()
                } else {
                    seen.patchsets.join(", ")
                }
            );
            (
                Act::CampaignAbandon {
                    campaign,
                    keep_as_archive,
                    patchsets: seen.patchsets,
                },
                as_,
                json,
            )
        }
    };
    super::kernel_change::change(ctx, act, as_.as_deref(), &[], json)
}

/// The manifest a preview (`promote` without `--write`, `check`) reads:
/// the adopted one, with a note when the file on disk differs; where none
/// is adopted (or there is no database: an example directory), the file
/// on disk, with a note that an op needs it adopted.
pub(crate) fn preview_manifest(
    ctx: &Ctx,
    host: &str,
) -> Result<bosun_control::kernel::ManifestRead> {
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
