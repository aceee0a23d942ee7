//! The commands: one file per top-level verb or group of verbs, its clap
//! definition beside its handler. This module holds the root parser
//! ([`Cli`]), the dispatch ([`run`]) and what several verbs share: the
//! context ([`Ctx`]), argument helpers, and how a refusal is reported.

mod adopt;
mod approve;
mod approve_remote;
pub(crate) mod bench;
pub(crate) mod blockers;
mod check;
mod consent;
mod demo;
mod demo_kernel;
mod halt;
mod hosts;
mod init;
mod kernel;
mod kernel_build;
mod kernel_builder;
mod kernel_change;
mod kernel_install;
mod kernel_promote;
mod kernel_status;
mod key;
mod ledger;
mod mcp;
mod meta;
mod ops;
mod params;
mod patches;
mod plan;
mod policy;
mod remind;
mod remote_sign;
mod rollout;
mod rollout_submit;
mod runbook;
mod serve;
mod status;
mod step;
mod submit;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::intake::Rejected;
use bosun_control::{Control, ControlError, Result, now};
use bosun_model::{Act, KeyId};
use bosun_workspace::Workspace;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::logs::LogFormat;
use crate::output::ColorChoice;

/// bosun — change control for fleets run partly by AI agents: agents
/// propose, policy decides, humans consent, workers execute, the ledger
/// remembers.
///
/// Every change is a signed op with a plan; the keeper policy decides
/// whether it runs alone, needs human approvals, or is denied; the
/// controller runs approved ops exactly once and records every step.
///
/// Start with `bosun demo`, or: `bosun init lab && cd lab && bosun key new
/// alice --role operator && bosun adopt --as alice`.
#[derive(Parser, Debug)]
#[command(
    name = "bosun",
    version = VERSION,
    about = "Change control for fleets run partly by AI agents: agents propose, policy decides, humans consent, the controller runs each approved op once, a signed ledger remembers.",
    long_about,
    propagate_version = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The workspace directory (holds bosun.toml; default: the nearest
    /// directory holding one, from here upward, as git finds .git).
    #[arg(short = 'w', long, global = true, env = "BOSUN_WORKSPACE")]
    workspace: Option<PathBuf>,
    /// Where private keys live (mode 0600; default $XDG_CONFIG_HOME/bosun/keys).
    #[arg(long, global = true, env = "BOSUN_KEY_DIR")]
    key_dir: Option<PathBuf>,
    /// FOR CI ONLY: read protected keys' passphrase from the first line of
    /// this file (mode 0600) instead of asking on the terminal. Never set it
    /// in an operator's shell: an agent running there would inherit it.
    #[arg(long, global = true, env = "BOSUN_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
    /// When to colour the output: `auto` (a terminal, and `NO_COLOR`
    /// unset), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Log more (to stderr): `-v` info, `-vv` debug, `-vvv` trace.
    /// `RUST_LOG` (e.g. `bosun_control=debug`), when set, decides instead.
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// How logs are written to stderr: `text` lines or `json` objects.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Talk to this daemon instead of opening the workspace here:
    /// `unix:///path/to/bosun.sock` or `http://127.0.0.1:PORT`. Keys stay
    /// here and sign here. Reads over TCP carry `BOSUN_TOKEN`, or a token
    /// signed here for `BOSUN_AS`. `key`, `init` and `policy lint` run
    /// here; `work` and `remind` are the daemon's own.
    #[arg(long, global = true, env = "BOSUN_URL", value_name = "URL")]
    server: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The end of `bosun --help`: first steps and the exit statuses (also in
/// README.md).
const EXIT_CODES: &str = "Examples:
  bosun demo                                  # watch it work, in a throwaway workspace
  bosun init lab && cd lab                    # a workspace of your own
  bosun key new alice --role operator         # you, a human operator
  bosun adopt --as alice                      # put policy, keys and runbooks in force
  bosun plan pkg-upgrade -t web-1 -p version=2.0
  bosun completions bash > ~/.local/share/bash-completion/completions/bosun

Exit status:
  0  success
  1  error: bad input, no workspace, a store failure, an id that names no
     single op, or nothing signed because nobody consented
  2  usage: the command line is wrong
  3  refused by a check (intake, approval, adoption, a statement's role
     check); the check is named
  4  an op ended failed or needs_attention (`work --until-idle`,
     `plan --check`), like terraform plan -detailed-exitcode
A closed stdout (`bosun ops list | head -1`) ends bosun quietly, as
SIGPIPE ends any program (status 141 in a shell).";

/// `bosun --version`: the crate's version and the commit it was built
/// from (see build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BOSUN_COMMIT"), ")");

/// Exit status 3: an input was refused by a check.
pub(crate) const REFUSED: u8 = 3;
/// Exit status 4: an op or run ended failed or needs_attention.
pub(crate) const OP_FAILED: u8 = 4;

#[derive(Subcommand, Debug)]
enum Cmd {
    Init(init::InitArgs),
    /// Manage identities.
    #[command(after_help = "Examples:\n  bosun key new alice --role operator\n  bosun key list")]
    #[command(subcommand)]
    Key(key::KeyCmd),
    Adopt(adopt::AdoptArgs),
    Status(status::StatusArgs),
    Plan(plan::PlanCmdArgs),
    Submit(submit::SubmitArgs),
    Approve(approve::ApproveArgs),
    Deny(approve::DenyArgs),
    /// List and inspect ops.
    #[command(
        after_help = "Examples:\n  bosun ops list --state pending_approval\n  bosun ops show 01a24c"
    )]
    #[command(subcommand)]
    Ops(ops::OpsCmd),
    /// Explain policy decisions.
    #[command(after_help = "Examples:\n  bosun policy lint\n  bosun policy explain 01a24c")]
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    Halt(halt::HaltArgs),
    Resume(halt::ResumeArgs),
    Serve(serve::ServeArgs),
    Mcp(mcp::McpArgs),
    Work(work::WorkArgs),
    /// The tamper-evident ledger: checkpoints, verification, proofs.
    #[command(
        after_help = "Examples:\n  bosun ledger verify\n  bosun ledger prove 01a24c > proof.json"
    )]
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// Report how a step without a command went (a human step).
    #[command(after_help = "Examples:\n  bosun step report 01a24c look --status pass --as alice")]
    #[command(subcommand)]
    Step(step::StepCmd),
    /// The runbook catalog: list, show, validate, graph.
    #[command(after_help = "Examples:\n  bosun runbook list\n  bosun runbook validate")]
    #[command(subcommand)]
    Runbook(runbook::RunbookCmd),
    /// The inventory and each host's state: `hosts status` is one line per
    /// host (last op, version, drift, pending approvals, blockers).
    #[command(after_help = "Examples:\n  bosun hosts status\n  bosun hosts show web-1")]
    #[command(subcommand)]
    Hosts(hosts::HostsCmd),
    /// Typed, scoped stops: what each kind halts; list, file, resolve.
    #[command(
        after_help = "Examples:\n  bosun blockers list\n  bosun blockers resolve 3 --as alice"
    )]
    #[command(subcommand, long_about = blockers::BLOCKERS_HELP)]
    Blockers(blockers::BlockersCmd),
    /// Canary-first rollouts: start, status, promote, drill, rollback, abort.
    #[command(
        after_help = "Examples:\n  bosun rollout start pkg-upgrade --as alice\n  bosun rollout status pkg-upgrade"
    )]
    #[command(subcommand, long_about = rollout::ROLLOUT_HELP)]
    Rollout(rollout::RolloutCmd),
    /// The kernel patch tree: promote a host's manifest to a cumulative
    /// patch and a lock.
    #[command(
        after_help = "Examples:\n  bosun patches promote fresnel\n  bosun patches promote ohm --write"
    )]
    #[command(subcommand)]
    Patches(patches::PatchesCmd),
    /// Kernel builds: build a host's promoted kernel on its routed build
    /// host, sign and publish it; keep, prune, status.
    #[command(
        after_help = "Examples:\n  bosun kernel build ohm --as kernel-agent\n  bosun kernel status\n  bosun kernel prune --pause"
    )]
    #[command(subcommand)]
    Kernel(kernel::KernelCmd),
    /// Kernel patch campaigns: abandon one (archived or purged).
    #[command(after_help = "Examples:\n  bosun campaign abandon rockhard --keep-as-archive")]
    #[command(subcommand)]
    Campaign(patches::CampaignCmd),
    Remind(remind::RemindArgs),
    Snooze(remind::SnoozeArgs),
    Completions(meta::CompletionsArgs),
    Man(meta::ManArgs),
    /// Watch bosun do its main job in a throwaway workspace (`demo
    /// kernel`: the kernel lifecycle, from import to a verified install).
    #[command(
        after_help = "Examples:\n  bosun demo\n  bosun demo kernel\n  NO_COLOR=1 bosun demo | less"
    )]
    Demo(DemoArgs),
    /// Measure intake, policy decisions and signature verification.
    #[command(
        after_help = "Examples:\n  bosun bench intake --ops 10000\n  bosun bench policy --json"
    )]
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

pub(crate) fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn key_id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|e| other(e.to_string()))
}

/// `bosun demo [STORY]`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Which story: the main one (no argument), or `kernel`.
    story: Option<DemoStory>,
}

/// The demo's stories.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DemoStory {
    /// The kernel lifecycle: import, promote, routed build, signed
    /// publish, the install held for a human, bars.
    Kernel,
}

pub(crate) struct Ctx {
    pub(crate) workspace: PathBuf,
    pub(crate) key_dir: PathBuf,
    /// The key directory, asking passphrases on the terminal.
    pub(crate) keys: bosun_sign::KeyDir,
    /// The daemon this CLI is a client of (`BOSUN_URL`, `--server`).
    pub(crate) remote: Option<bosun_client::Remote>,
}

impl Ctx {
    /// The workspace's store, for a verb that may write.
    pub(crate) fn control(&self) -> Result<Control> {
        Control::open(Workspace::open(&self.workspace)?)
    }

    /// The workspace's store opened read-only, for a verb that only
    /// reads: it writes nothing (so it works on a full disk).
    pub(crate) fn reader(&self) -> Result<Control> {
        Control::open_read_only(Workspace::open(&self.workspace)?)
    }

    /// [`Ctx::reader`] when `reads_only`, else [`Ctx::control`].
    pub(crate) fn open(&self, reads_only: bool) -> Result<Control> {
        if reads_only {
            self.reader()
        } else {
            self.control()
        }
    }
}

/// `given` (an op id or a prefix of one) as a path segment or query value
/// of a request to the daemon: only id characters, or an error naming it.
pub(crate) fn op_path_id(given: &str) -> Result<&str> {
    bosun_model::Jti::parse(given).map_err(|e| other(format!("`{given}`: {e}")))?;
    Ok(given)
}

/// A refusal the daemon answered (a check named), printed as
/// [`refused`] prints one: the same output and exit status (3).
pub(crate) fn refused_remote(e: &bosun_client::ErrorDetail, json_out: bool) -> ExitCode {
    refused(
        &Rejected {
            check: e.check.unwrap_or(bosun_api::Check::Other),
            message: e.message.clone(),
            jti: None,
        },
        json_out,
    )
}

/// A daemon's answer to a read: the value; or a refusal with a check
/// named, printed as embedded prints one (exit 3); or, with no check
/// (nothing has that id), an error as embedded gives one (exit 1).
pub(crate) fn answered<T>(
    a: Result<bosun_client::Answer<T>>,
    json_out: bool,
) -> Result<std::result::Result<T, ExitCode>> {
    match a? {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.check.is_none() => Err(other(e.message)),
        Err(e) => Ok(Err(refused_remote(&e, json_out))),
    }
}

pub(crate) fn refused(rej: &Rejected, json_out: bool) -> ExitCode {
    if json_out {
        outln!(
            "{}",
            json!({"rejected": true, "check": rej.check, "message": rej.message, "jti": rej.jti})
        );
    } else {
        errln!("refused: {rej}");
    }
    ExitCode::from(REFUSED)
}

/// The nearest directory holding `bosun.toml`, from the current one
/// upward (as git looks for `.git`); `.` when there is none, so that the
/// error names where bosun looked.
fn find_workspace() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    here.ancestors()
        .find(|d| d.join("bosun.toml").is_file())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::output::set_color(cli.color);
    // A daemon's output is its log: `serve` logs at info, others warn.
    let base = u8::from(matches!(cli.cmd, Cmd::Serve(_)));
    crate::logs::init(cli.log_format, base, cli.verbose);
    let key_dir = cli
        .key_dir
        .clone()
        .unwrap_or_else(bosun_sign::default_key_dir);
    let ctx = Ctx {
        workspace: cli.workspace.clone().unwrap_or_else(find_workspace),
        keys: bosun_sign::KeyDir::new(&key_dir).with_passphrase(std::sync::Arc::new(
            crate::passphrase::Prompt {
                file: cli.passphrase_file.clone(),
            },
        )),
        key_dir,
        remote: None,
    };
    // The MCP server as a client of the daemon loads its agent's key once,
    // for both its envelopes and its read tokens.
    if let (Some(url), Cmd::Mcp(a)) = (&cli.server, &cli.cmd) {
        return mcp::remote(&ctx, url, a);
    }
    let ctx = match &cli.server {
        Some(url) if !matches!(cli.cmd, Cmd::Serve(_)) => Ctx {
            remote: Some(bosun_client::Remote::connect(url, &ctx.keys)?),
            ..ctx
        },
        _ => ctx,
    };
    if let Some(r) = &ctx.remote {
        // Every verb says what it does with a daemon: talks to it, runs
        // here (keys, files, help), or refuses with why.
        match cli.cmd {
            Cmd::Status(a) => return status::remote(r, a),
            Cmd::Ops(c) => return ops::remote(r, c),
            Cmd::Adopt(a) => return adopt::remote(&ctx, r, a),
            Cmd::Plan(a) => return plan::remote(&ctx, r, a),
            Cmd::Submit(a) => return submit::remote(&ctx, r, a),
            Cmd::Approve(a) => return approve::approve_remote(&ctx, r, a),
            Cmd::Deny(a) => return approve::deny_remote(&ctx, r, a),
            Cmd::Policy(c) => return policy::remote(&ctx, r, c),
            Cmd::Halt(a) => return halt::halt_remote(&ctx, r, a),
            Cmd::Resume(a) => return halt::resume_remote(&ctx, r, a),
            Cmd::Step(c) => return step::remote(&ctx, r, c),
            Cmd::Hosts(c) => return hosts::remote(r, c),
            Cmd::Runbook(c) => return runbook::remote(&ctx, r, c),
            Cmd::Ledger(c) => return ledger::remote(&ctx, r, c),
            Cmd::Blockers(c) => return blockers::remote(&ctx, r, c),
            Cmd::Rollout(c) => return rollout::remote(&ctx, r, c),
            Cmd::Snooze(a) => return remind::snooze_remote(&ctx, r, a),
            Cmd::Work(_) => {
                return Err(other(format!(
                    "the daemon at {} runs the controller: it works its queue itself (`bosun status` shows the queue); unset BOSUN_URL to work a workspace here",
                    r.url
                )));
            }
            Cmd::Remind(_) => {
                return Err(other(format!(
                    "the daemon at {} sends the reminders that are due every 30 s (`bosun status` shows what waits on a human); unset BOSUN_URL to send a workspace's here",
                    r.url
                )));
            }
            Cmd::Key(_)
            | Cmd::Init(_)
            | Cmd::Serve(_)
            | Cmd::Mcp(_)
            | Cmd::Completions(_)
            | Cmd::Man(_)
            | Cmd::Patches(_)
            | Cmd::Kernel(_)
            | Cmd::Campaign(_)
            | Cmd::Demo(_)
            | Cmd::Bench(_) => {}
        }
    }
    match cli.cmd {
        Cmd::Init(a) => init::run(&ctx, a),
        Cmd::Key(c) => key::run(&ctx, c),
        Cmd::Adopt(a) => adopt::run(&ctx, a),
        Cmd::Status(a) => status::run(&ctx, a),
        Cmd::Plan(a) => plan::run(&ctx, a),
        Cmd::Submit(a) => submit::run(&ctx, a),
        Cmd::Approve(a) => approve::approve(&ctx, a),
        Cmd::Deny(a) => approve::deny(&ctx, a),
        Cmd::Ops(c) => ops::run(&ctx, c),
        Cmd::Policy(c) => policy::run(&ctx, c),
        Cmd::Halt(a) => halt::halt(&ctx, a),
        Cmd::Resume(a) => halt::resume(&ctx, a),
        Cmd::Serve(a) => serve::run(&ctx, a),
        Cmd::Mcp(a) => mcp::run(&ctx, a),
        Cmd::Work(a) => work::run(&ctx, a),
        Cmd::Ledger(c) => ledger::run(&ctx, c),
        Cmd::Step(c) => step::run(&ctx, c),
        Cmd::Runbook(c) => runbook::run(&ctx, c),
        Cmd::Hosts(c) => hosts::run(&ctx.reader()?, c),
        Cmd::Blockers(c) => blockers::run(&ctx.open(c.reads_only())?, &ctx.keys, c),
        Cmd::Rollout(c) => rollout::run(&ctx.open(c.reads_only())?, &ctx.keys, c),
        Cmd::Remind(a) => remind::remind(&ctx, a),
        Cmd::Snooze(a) => remind::snooze(&ctx, a),
        Cmd::Patches(c) => patches::run(&ctx, c),
        Cmd::Kernel(c) => kernel::run(&ctx, c),
        Cmd::Campaign(c) => patches::campaign(&ctx, c),
        Cmd::Completions(a) => meta::completions(a),
        Cmd::Man(a) => meta::man(a),
        Cmd::Demo(a) => match a.story {
            None => demo::run(),
            Some(DemoStory::Kernel) => demo_kernel::run(),
        }
        .map(|()| ExitCode::SUCCESS),
        Cmd::Bench(b) => bench::run(b).map(|()| ExitCode::SUCCESS),
    }
}

/// Signs `act` as `who` (its key from `keys`) and has bosun-control verify
/// and apply it. A refusal is printed as intake's are, with its check, and
/// comes back as the exit code (3) to return.
pub(crate) fn statement(
    keys: &bosun_sign::KeyDir,
    ctl: &Control,
    who: &str,
    act: Act,
    json_out: bool,
) -> Result<std::result::Result<bosun_control::statement::Applied, ExitCode>> {
    let id = KeyId::parse(who).map_err(|e| other(format!("--as `{who}`: {e}")))?;
    Ok(match ctl.state_as(keys, &id, act, now())? {
        Ok(a) => Ok(a),
        Err(rej) => Err(refused(&rej, json_out)),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every command's path and its `--help` text, depth first.
    fn helps(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        out.push((path.to_string(), cmd.render_long_help().to_string()));
        for sub in cmd.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            if name != "help" {
                helps(sub, &format!("{path} {name}"), out);
            }
        }
    }

    #[test]
    fn every_help_page_teaches_with_an_example_and_says_no_seed() {
        let mut all = Vec::new();
        helps(&mut Cli::command(), "bosun", &mut all);
        assert!(all.len() > 60, "{} pages", all.len());
        for (path, text) in &all {
            assert!(
                text.contains("Examples:\n  "),
                "`{path} --help` has no example"
            );
            assert!(
                !text.to_lowercase().contains("seed"),
                "`{path} --help` says seed"
            );
        }
    }

    #[test]
    fn the_short_help_says_what_bosun_is() {
        let short = Cli::command().render_help().to_string();
        assert!(short.starts_with("Change control for fleets"), "{short}");
    }
}
