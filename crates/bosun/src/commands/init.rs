//! `bosun init`: a new workspace, or (`--reinit`) a new, recorded ledger
//! for a workspace whose database was lost.

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::{Result, ledger};
use bosun_model::Name;
use bosun_workspace::Workspace;
use clap::Args;

use super::{Ctx, other};

/// Create a workspace: bosun.toml, keys/, policy/, fleet/hosts.toml,
/// runbooks/, the database (whose first ledger entry is
/// `ledger.initialised`) and the ledger key with its first checkpoint.
///
/// `--reinit` instead starts a new, empty ledger in an existing
/// workspace whose database was lost (missing, empty or without
/// entries): the old files are moved aside, and the new ledger's first
/// entry is `ledger.reinitialised`, naming the `--previous` checkpoint.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  bosun init lab && cd lab\n  bosun init --reinit --previous checkpoint.txt   # the database was lost"
)]
pub(crate) struct InitArgs {
    /// Directory to create it in (with `--reinit`: the workspace,
    /// default `-w`).
    #[arg(required_unless_present = "reinit")]
    pub(crate) dir: Option<PathBuf>,
    /// The workspace's name (default: the directory's name).
    #[arg(long, conflicts_with = "reinit")]
    pub(crate) name: Option<String>,
    /// Deliberately re-create the lost database of an existing
    /// workspace, recording it. Refused when the database holds a
    /// ledger. Needs the ledger's private key.
    #[arg(long)]
    pub(crate) reinit: bool,
    /// With `--reinit`: the last checkpoint you kept of the lost ledger
    /// (a file from `bosun ledger checkpoint --out`, or a git mirror's
    /// directory), checked with the ledger key and named in the
    /// `ledger.reinitialised` entry.
    #[arg(long, value_name = "FILE|DIR", requires = "reinit")]
    pub(crate) previous: Option<PathBuf>,
}

/// Runs `bosun init`.
pub(crate) fn run(ctx: &Ctx, a: InitArgs) -> Result<ExitCode> {
    let InitArgs {
        dir,
        name,
        reinit: again,
        previous,
    } = a;
    if again {
        return reinit(ctx, dir, previous);
    }
    let dir = dir.ok_or_else(|| other("name the directory: `bosun init <dir>`"))?;
    let name = match name {
        Some(n) => n,
        None => std::fs::canonicalize(&dir)
            .ok()
            .or_else(|| Some(dir.clone()))
            .and_then(|d| d.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "workspace".into()),
    };
    let name =
        Name::parse(&name).map_err(|e| other(format!("workspace name: {e}; pass --name")))?;
    bosun_workspace::scaffold::init(&dir, &name)?;
    bosun_control::genesis::initialise(Workspace::open(&dir)?, &ctx.key_dir)?;
    outln!("created workspace `{name}` in {}", dir.display());
    outln!(
        "next: bosun -w {} key new <you> --role operator && bosun -w {} adopt --as <you>",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `bosun init --reinit`: a new ledger for a workspace whose database
/// was lost, recorded as its first entry.
fn reinit(ctx: &Ctx, dir: Option<PathBuf>, previous: Option<PathBuf>) -> Result<ExitCode> {
    let ws = Workspace::open(dir.as_deref().unwrap_or(&ctx.workspace))?;
    let prev = match previous {
        None => None,
        Some(p) => {
            let v = ledger::verifier(&ws)?;
            Some(bosun_control::trusted::read(
                &p,
                &v,
                ws.config.name.as_str(),
            )?)
        }
    };
    let (ctl, r) = bosun_control::genesis::reinitialise(ws, &ctx.key_dir, prev.as_ref())?;
    outln!(
        "re-initialised the ledger of `{}`: the database was found {}; a new database was created whose first entry (`ledger.reinitialised`) records it",
        ctl.ws.config.name,
        r.found.as_str()
    );
    for p in &r.moved_aside {
        outln!("  kept the old file as {}", p.display());
    }
    match &r.previous {
        Some(p) => outln!(
            "  the previous ledger's checkpoint of size {} is named in it",
            p.size
        ),
        None => outln!(
            "  no previous checkpoint was named (pass --previous FILE to name the one you kept)"
        ),
    }
    outln!(
        "next: nothing is adopted in the new database; adopt the policy and keys again: bosun adopt --as <operator>"
    );
    Ok(ExitCode::SUCCESS)
}
