//! `bosun`: the command-line surface. It parses arguments, calls the
//! crates and prints; nothing else prints or exits.
//!
//! Exit codes (listed in `bosun --help`, `commands::EXIT_CODES`): 0
//! success; 1 error (bad input, missing workspace, store failure, an id
//! that names no single op, or a signature not given because nobody
//! consented: `approve? [y/N]` answered no, or no terminal and no
//! `--yes`); 2 usage error; 3 an input was refused by a check (intake,
//! approval, adoption, a statement's role check), with the check named; 4
//! an op ended failed or needs_attention (`work --until-idle`, `plan
//! --check`). A closed stdout ends the program as SIGPIPE would.

#[macro_use]
mod output;
mod commands;
mod logs;
mod next;
mod passphrase;
mod progress;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The step shim (a local step's supervisor) before anything else: it
    // starts once per step and must stay cheap.
    let mut argv = std::env::args_os();
    if argv.nth(1).as_deref() == Some(std::ffi::OsStr::new(bosun_control::exec::SHIM_ARG)) {
        let rest: Vec<std::ffi::OsString> = argv.collect();
        let rc = bosun_control::exec::shim_main(&rest);
        return ExitCode::from(u8::try_from(rc).unwrap_or(u8::MAX));
    }
    if let Ok(me) = std::env::current_exe() {
        bosun_control::exec::set_step_shim(me);
    }
    let args = commands::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                errln!("  caused by: {s}");
                src = s.source();
            }
            let hints = next::hint_lines(&e.next());
            if !hints.is_empty() {
                errln!("{}", hints.trim_end());
            }
            ExitCode::from(1)
        }
    }
}
