//! The kernel verbs that change the patch tree, a campaign or the build
//! jobs without an op (`patches import`, `patches migrate-tree`,
//! `campaign close|abandon`, `kernel keep`, `kernel prune`), and `patches
//! check`. With `--as`, each change is a signed statement (bosun-control's
//! `kernel_acts`): applied here, or posted to the daemon under `BOSUN_URL`
//! (`POST /api/v1/kernel/changes`), checked against keeper.toml
//! `[statements]` and recorded in the ledger. Without `--as`, on the
//! control host only, it is an unsigned edit of the workspace's files and
//! state, as anyone holding them could make by hand, recorded nowhere.

use std::process::ExitCode;

use bosun_api::views::{KernelChangeView, KernelJobsView, PatchCheckView};
use bosun_control::Result;
use bosun_control::kernel_acts::{change_body, tree_act};
use bosun_control::statement::Effect;
use bosun_model::Act;

use super::remote_sign::RemoteSigner;
use super::{Ctx, answered, key_id, other, refused, refused_remote};

/// Makes the change `act` asks (with the files an import carries) and
/// prints what changed; exit status 1 when part of it could not be done
/// (prune's problems), 3 when a check refused it.
pub(crate) fn change(
    ctx: &Ctx,
    act: Act,
    as_: Option<&str>,
    files: &[(String, Vec<u8>)],
    json: bool,
) -> Result<ExitCode> {
    match made(ctx, act, as_, files, json)? {
        Ok(v) => print(&v, json),
        Err(code) => Ok(code),
    }
}

/// Makes the change: what changed, or the exit status of a refusal
/// (printed).
fn made(
    ctx: &Ctx,
    act: Act,
    as_: Option<&str>,
    files: &[(String, Vec<u8>)],
    json: bool,
) -> Result<std::result::Result<KernelChangeView, ExitCode>> {
    let now = bosun_control::now();
    let v = match (&ctx.remote, as_) {
        (Some(r), Some(who)) => {
            let s = RemoteSigner::new(ctx, r, who)?;
            let env = s.signing().statement(act)?;
            match r.post::<_, KernelChangeView>("/kernel/changes", &change_body(&env, files))? {
                Ok(v) => v,
                Err(e) => return Ok(Err(refused_remote(&e, json))),
            }
        }
        (Some(_), None) => {
            return Err(other(format!(
                "under BOSUN_URL the daemon makes the change: sign it with --as <who> (keeper.toml [statements] `{}` says who may)",
                act.verb()
            )));
        }
        (None, Some(who)) => {
            let who = key_id(who)?;
            match ctx
                .control()?
                .state_as_with(&ctx.keys, &who, act, files, now)?
            {
                Ok(a) => match a.effect {
                    Effect::Kernel(v) => *v,
                    _ => return Err(other("the statement changed nothing of the kernel's")),
                },
                Err(rej) => return Ok(Err(refused(&rej, json))),
            }
        }
        (None, None) => {
            let mut v = KernelChangeView {
                verb: act.verb().to_string(),
                ..KernelChangeView::default()
            };
            let done = match act {
                Act::KernelKeep { .. } | Act::PrunePause | Act::PruneResume { .. } | Act::Prune => {
                    ctx.reader()?
                        .kernel_act(&act, None, files, now)?
                        .map(|w| v = w)
                }
                _ => tree_act(&ctx.workspace, &act, files, now, &mut v),
            };
            done.map_err(|(_, m)| other(m))?;
            v
        }
    };
    Ok(Ok(v))
}

fn print(v: &KernelChangeView, json: bool) -> Result<ExitCode> {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(v).map_err(|e| other(e.to_string()))?
        );
    } else {
        if v.verb == "prune" && v.paused && v.pruned.is_empty() {
            outln!("pruning is paused (`bosun kernel prune --resume`): no job deleted");
        }
        outln!("{}", v.summary);
        for p in v.paths.iter().chain(&v.manifests) {
            outln!("  {p}");
        }
        for p in &v.pruned {
            outln!("  pruned {p}");
        }
        for r in &v.released {
            outln!("  released {r}");
        }
        for p in &v.problems {
            errln!("  {p}");
        }
        if !v.manifests.is_empty() {
            outln!(
                "the rewritten manifests are in force once adopted: `bosun adopt --as <operator>`"
            );
        }
        if !v.by.is_empty() {
            outln!("signed by {}; recorded in the ledger", v.by);
        }
    }
    Ok(if v.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The `since` of the prune pause in force here or at the daemon (what a
/// resume names), or 0 when pruning is not paused (the resume is then
/// refused, saying so).
pub(crate) fn paused_since(ctx: &Ctx) -> Result<i64> {
    Ok(match &ctx.remote {
        Some(r) => match answered(r.get::<KernelJobsView>("/kernel/jobs"), false)? {
            Ok(v) => v.prune_paused_since.unwrap_or(0),
            Err(_) => return Err(other("the daemon would not say whether pruning is paused")),
        },
        None => {
            let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
            bosun_control::kernel::KernelDirs::of(&ws)
                .paused_since()
                .unwrap_or(0)
        }
    })
}

/// `patches check`: here, against `--baseline` or the workspace's
/// `[kernel.baselines]`; under `BOSUN_URL`, the daemon's (a client names
/// no directory of the daemon's).
pub(crate) fn check(
    ctx: &Ctx,
    host: &str,
    baseline: Option<&std::path::Path>,
) -> Result<std::result::Result<PatchCheckView, ExitCode>> {
    let name = bosun_model::Name::parse(host).map_err(|e| other(format!("host `{host}`: {e}")))?;
    if let Some(r) = &ctx.remote {
        if baseline.is_some() {
            return Err(other(
                "under BOSUN_URL the daemon checks against its own [kernel.baselines] checkout: --baseline names a directory here",
            ));
        }
        return answered(r.get(&format!("/kernel/check/{name}")), false);
    }
    let read = super::patches::preview_manifest(ctx, host)?;
    let ws = bosun_workspace::Workspace::open(&ctx.workspace)?;
    let dir = bosun_control::kernel::baseline_dir(&ws, &read, baseline)?;
    Ok(Ok(bosun_control::kernel::check_series(
        name.as_str(),
        read,
        None,
        &dir,
    )?))
}

/// Most files one import statement names (its envelope is at most 64
/// KiB, each file's name and digest in it).
const FILES_PER_IMPORT: usize = 200;

/// `patches import`: the files read here (each bounded), by their base
/// names (a statement names no path of this machine), imported in as few
/// statements as their size allows (at most [`FILES_PER_IMPORT`] files
/// and `MAX_IMPORT_BYTES` each, every one all or nothing), and what they
/// wrote printed as one.
pub(crate) fn import(
    ctx: &Ctx,
    campaign: &str,
    scope: &str,
    files: &[std::path::PathBuf],
    as_: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let mut read = Vec::new();
    for f in files {
        let meta = std::fs::metadata(f).map_err(|e| other(format!("{}: {e}", f.display())))?;
        if meta.len() > bosun_kernel::series::MAX_PATCH_BYTES as u64 {
            return Err(other(format!("{}: too large for a patch", f.display())));
        }
        let bytes = std::fs::read(f).map_err(|e| other(format!("{}: {e}", f.display())))?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| other(format!("{}: not a file name bosun takes", f.display())))?;
        read.push((name.to_string(), bytes));
    }
    let mut batches: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new()];
    let mut size = 0usize;
    for f in read {
        let full = batches.last().is_some_and(|b| {
            !b.is_empty()
                && (b.len() == FILES_PER_IMPORT
                    || size.saturating_add(f.1.len())
                        > bosun_control::kernel_acts::MAX_IMPORT_BYTES)
        });
        if full {
            batches.push(Vec::new());
            size = 0;
        }
        size = size.saturating_add(f.1.len());
        if let Some(b) = batches.last_mut() {
            b.push(f);
        }
    }
    if batches.len() == 1 {
        let b = &batches[0];
        let act = bosun_control::kernel_acts::import_act(campaign, scope, b);
        return change(ctx, act, as_, b, json);
    }
    // A series larger than one statement: each part all or nothing, in
    // order; a refused part stops the rest (what went before stays).
    let mut all = KernelChangeView::default();
    for (i, b) in batches.iter().enumerate() {
        let act = bosun_control::kernel_acts::import_act(campaign, scope, b);
        let v = match made(ctx, act, as_, b, json)? {
            Ok(v) => v,
            Err(code) => {
                errln!(
                    "part {} of {} refused; the parts before it were imported",
                    i + 1,
                    batches.len()
                );
                return Ok(code);
            }
        };
        all.verb = v.verb;
        all.by = v.by;
        all.paths.extend(v.paths);
        all.unchanged.extend(v.unchanged);
    }
    all.summary = format!(
        "patches/{scope}/{campaign}: {} written, {} already there ({} imports)",
        all.paths.len(),
        all.unchanged.len(),
        batches.len()
    );
    print(&all, json)
}
