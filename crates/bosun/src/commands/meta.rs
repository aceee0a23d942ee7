//! `bosun completions` and `bosun man`: shell completions and man pages,
//! generated from the same clap definition that parses the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::Result;
use clap::{Args, CommandFactory as _};

use super::{Cli, other};

/// Print a shell's completion script for bosun.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  bosun completions bash > ~/.local/share/bash-completion/completions/bosun
  bosun completions zsh > ~/.zfunc/_bosun      # with fpath+=~/.zfunc
  bosun completions fish > ~/.config/fish/completions/bosun.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

/// Print bosun's man page, or write one page per command to a directory.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  bosun man | man -l -
  bosun man --out /usr/local/share/man/man1   # bosun.1, bosun-approve.1, …")]
pub(crate) struct ManArgs {
    /// Write `bosun.1` and a page per command (`bosun-ops-list.1`, …) here
    /// instead of printing `bosun.1`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `bosun completions`.
pub(crate) fn completions(a: CompletionsArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "bosun", &mut buf);
    crate::output::write_bytes(&buf);
    Ok(ExitCode::SUCCESS)
}

/// Runs `bosun man`.
pub(crate) fn man(a: ManArgs) -> Result<ExitCode> {
    let cmd = Cli::command();
    match a.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| other(format!("--out {}: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| other(format!("--out {}: {e}", dir.display())))?;
            outln!("wrote bosun.1 and a page per command to {}", dir.display());
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| other(format!("man page: {e}")))?;
            crate::output::write_bytes(&buf);
        }
    }
    Ok(ExitCode::SUCCESS)
}
