//! Argument parsing (clap) and one function per verb.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::controller::{Controller, Progress, Tick};
use bosun_control::intake::{Rejected, decision_word};
use bosun_control::ledger;
use bosun_control::{Control, ControlError, Result, client, now};
use bosun_model::{Act, KeyId, Name, OpState, Outcome, Role, Verdict};
use bosun_store::StepStatus;
use bosun_workspace::{KeyRegistry, Workspace};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::output::{op_json, summary_json, table, time};

/// bosun — agents propose, policy decides, humans consent, workers execute,
/// the ledger remembers.
///
/// Every change is a signed op with a plan; the keeper policy decides
/// whether it runs alone, needs human approvals, or is denied; the
/// controller runs approved ops exactly once and records every step.
///
/// Start with `bosun demo`, or: `bosun init lab && cd lab && bosun key new
/// alice --role operator && bosun adopt --as alice`.
#[derive(Parser, Debug)]
#[command(name = "bosun", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// The workspace directory (holds bosun.toml).
    #[arg(
        short = 'w',
        long,
        global = true,
        env = "BOSUN_WORKSPACE",
        default_value = "."
    )]
    workspace: PathBuf,
    /// Where private keys live (mode 0600; default $XDG_CONFIG_HOME/bosun/keys).
    #[arg(long, global = true, env = "BOSUN_KEY_DIR")]
    key_dir: Option<PathBuf>,
    /// FOR CI ONLY: read protected keys' passphrase from the first line of
    /// this file (mode 0600) instead of asking on the terminal. Never set it
    /// in an operator's shell: an agent running there would inherit it.
    #[arg(long, global = true, env = "BOSUN_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a workspace: bosun.toml, keys/, policy/, fleet/hosts.toml,
    /// runbooks/, the database (whose first ledger entry is
    /// `ledger.initialised`) and the ledger key with its first checkpoint.
    ///
    /// `--reinit` instead starts a new, empty ledger in an existing
    /// workspace whose database was lost (missing, empty or without
    /// entries): the old files are moved aside, and the new ledger's first
    /// entry is `ledger.reinitialised`, naming the `--previous` checkpoint.
    Init {
        /// Directory to create it in (with `--reinit`: the workspace,
        /// default `-w`).
        #[arg(required_unless_present = "reinit")]
        dir: Option<PathBuf>,
        /// The workspace's name (default: the directory's name).
        #[arg(long, conflicts_with = "reinit")]
        name: Option<String>,
        /// Deliberately re-create the lost database of an existing
        /// workspace, recording it. Refused when the database holds a
        /// ledger. Needs the ledger's private key.
        #[arg(long)]
        reinit: bool,
        /// With `--reinit`: the last checkpoint you kept of the lost ledger
        /// (a file from `bosun ledger checkpoint --out`, or a git mirror's
        /// directory), checked with the ledger key and named in the
        /// `ledger.reinitialised` entry.
        #[arg(long, value_name = "FILE|DIR", requires = "reinit")]
        previous: Option<PathBuf>,
    },
    /// Manage identities.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Propose the policy, key registry, runbooks, inventory and rollouts on
    /// disk for adoption, or approve a proposal. Nothing on disk is in force
    /// until adopted.
    ///
    /// Proposing prints the diff against what is in force and asks
    /// `propose and approve? [y/N]` (the proposer's approval counts, and at
    /// bootstrap or with one operator it adopts); `--approve` prints the diff
    /// being approved and asks `approve? [y/N]`. Without a terminal either
    /// signs only with `--yes`.
    Adopt {
        /// Sign as this identity (an operator).
        #[arg(long = "as")]
        as_: String,
        /// Approve this proposal instead of proposing (its id, or an
        /// unambiguous prefix of at least 6 characters).
        #[arg(long)]
        approve: Option<String>,
        /// Sign without asking (for scripts; required when stdin is not a
        /// terminal).
        #[arg(long)]
        yes: bool,
        /// Output JSON (the diff goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// What is in force, what drifted, the halt, the queue, the controller.
    Status {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the plan of a runbook over hosts: every step, host and command.
    /// Nothing runs, unless `--check`: then only the steps' read-only
    /// `check` commands run, to show what would change.
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        /// Run each step's `check` command on its host (read-only by the
        /// runbook's promise) and show what they report. The checks are an
        /// op of `--as` through intake like any other (policy, scope, infra
        /// rules, budgets and the ledger apply), of an adopted runbook only;
        /// without a daemon running, this command runs the controller until
        /// the queue is empty.
        #[arg(long)]
        check: bool,
        /// Who signs the check op (with `--check`).
        #[arg(long = "as")]
        as_: Option<String>,
    },
    /// Sign and submit an op (or a pre-signed envelope) to intake.
    Submit {
        #[command(flatten)]
        plan: Option<PlanArgs>,
        /// Sign as this identity.
        #[arg(long = "as")]
        as_: Option<String>,
        /// Submit this pre-signed envelope file instead (`-` for stdin).
        #[arg(long, conflicts_with = "as_")]
        envelope: Option<PathBuf>,
    },
    /// Approve an op pending approval (signed; binds to its plan digest).
    ///
    /// First shows exactly what will run — the runbook and its digest, the
    /// params, every host with where it runs and its rendered commands,
    /// the decision and the rules that asked for approval, the approvals
    /// so far, the blockers and budgets that apply — then asks
    /// `approve? [y/N]`. Without a terminal nothing is signed unless
    /// `--yes` is given.
    Approve {
        /// The op's jti, or an unambiguous prefix of at least 6 characters.
        jti: String,
        /// Sign as this identity (a human operator).
        #[arg(long = "as")]
        as_: String,
        /// Sign without asking (for scripts; required when stdin is not a
        /// terminal).
        #[arg(long)]
        yes: bool,
        /// Output JSON (what is shown before signing goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Deny an op pending approval. Shows the op as `approve` does, then
    /// asks `deny? [y/N]`; without a terminal, only with `--yes`.
    Deny {
        /// The op's jti, or an unambiguous prefix of at least 6 characters.
        jti: String,
        /// Why (recorded).
        #[arg(long)]
        why: String,
        /// Sign as this identity (a human operator).
        #[arg(long = "as")]
        as_: String,
        /// Sign without asking (for scripts; required when stdin is not a
        /// terminal).
        #[arg(long)]
        yes: bool,
        /// Output JSON (what is shown before signing goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// List and inspect ops.
    #[command(subcommand)]
    Ops(OpsCmd),
    /// Explain policy decisions.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Stop all dispatch at once (running steps finish; nothing new starts).
    /// A statement signed by `--as`; any identity may halt, agents included.
    Halt {
        /// Why (recorded).
        #[arg(long)]
        why: String,
        /// Who is halting (a registered key; the statement is signed with it).
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift the halt in force: a statement signed by `--as`, bound to that
    /// halt (only operators may resume, unless keeper.toml `[statements]` says
    /// otherwise).
    Resume {
        /// Who is resuming (a registered key; the statement is signed with it).
        #[arg(long = "as")]
        as_: String,
    },
    /// Run the controller until interrupted (Ctrl-C).
    Serve {
        /// Refuse instead of waiting when another controller holds the lease.
        #[arg(long)]
        no_wait: bool,
    },
    /// Process the queue and exit when it is empty (for scripts and tests).
    Work {
        /// Required: work until the queue is idle, then exit.
        #[arg(long, required = true)]
        until_idle: bool,
    },
    /// The tamper-evident ledger: checkpoints, verification, proofs.
    #[command(subcommand)]
    Ledger(crate::ledger_cli::LedgerCmd),
    /// Report how a step without a command went (a human step).
    #[command(subcommand)]
    Step(StepCmd),
    /// The runbook catalog: list, show, validate, graph.
    #[command(subcommand)]
    Runbook(RunbookCmd),
    /// The inventory and each host's state: `hosts status` is one line per
    /// host (last op, version, drift, pending approvals, blockers).
    #[command(subcommand)]
    Hosts(crate::fleet_cli::HostsCmd),
    /// Typed, scoped stops: what each kind halts; list, file, resolve.
    #[command(subcommand, long_about = crate::fleet_cli::BLOCKERS_HELP)]
    Blockers(crate::fleet_cli::BlockersCmd),
    /// Canary-first rollouts: start, status, promote, drill, rollback, abort.
    #[command(subcommand, long_about = crate::fleet_cli::ROLLOUT_HELP)]
    Rollout(crate::fleet_cli::RolloutCmd),
    /// Send the reminders that are due to the `[notify]` sinks.
    ///
    /// What waits on a human (ops waiting for approval or a step report,
    /// active blockers) goes to the sinks of bosun.toml's `[notify]`: the
    /// log, webhooks, ntfy. `serve` does this every 30 s;
    /// run it from cron without a controller. The ladder (default: at
    /// once, +1h, +6h, +1d, then daily) counts from when the wait began.
    Remind {
        /// Show what is due without sending or recording anything.
        #[arg(long)]
        dry_run: bool,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mute the reminders of an op (its jti) or a blocker (its number) for
    /// a while. A snoozed blocker still halts what it halts.
    Snooze {
        /// An op's jti or a blocker's number.
        target: String,
        /// For how long (`6h`, `1d`).
        #[arg(long = "for")]
        for_: String,
        /// Who snoozes it (an operator key).
        #[arg(long = "as")]
        as_: String,
    },
    /// Watch bosun do its main job in a throwaway workspace.
    Demo,
    /// Measure intake, policy decisions and signature verification.
    #[command(subcommand)]
    Bench(crate::bench::BenchCmd),
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// The runbook id (see runbooks/).
    pub(crate) runbook: Option<String>,
    /// Target hosts (repeatable): a name, a `*` glob (`web-*`), `tag:x`,
    /// `arch:aarch64`, or `!` before any of these to take hosts out.
    /// Infra hosts are only ever selected by their exact name.
    #[arg(long = "target", short = 't')]
    pub(crate) targets: Vec<String>,
    /// A runbook parameter `k=v` (repeatable).
    #[arg(long = "param", short = 'p')]
    pub(crate) params: Vec<String>,
    /// Output JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand, Debug)]
enum KeyCmd {
    /// Create a key: private part in the key dir (0600), public part registered in keys/.
    ///
    /// An operator key is protected: its private key is encrypted with a
    /// passphrase asked on the terminal (`<name>.key`, OpenSSH's format), or
    /// stays in ssh-agent (`--ssh-agent`). Agent keys are plaintext.
    New {
        /// The identity's name.
        name: String,
        /// Its role.
        #[arg(long, value_parser = ["operator", "agent"])]
        role: String,
        /// Host selectors it may target (`*`, globs, `tag:x`); repeatable.
        #[arg(long, default_value = "*")]
        scope: Vec<String>,
        /// Write an operator's private key unencrypted (`<name>.jwk`): for
        /// tests and CI only — anyone running as your user, an agent
        /// included, can then sign as this operator.
        #[arg(long, conflicts_with = "ssh_agent")]
        insecure_plaintext: bool,
        /// Register a key held by ssh-agent (`$SSH_AUTH_SOCK`): the private
        /// key never leaves the agent, and `ssh-add -c` confirms each use.
        #[arg(long)]
        ssh_agent: bool,
        /// With `--ssh-agent`: the key's OpenSSH public key file (e.g.
        /// ~/.ssh/id_ed25519.pub); default: the agent's only Ed25519 key.
        #[arg(long, requires = "ssh_agent")]
        ssh_key: Option<PathBuf>,
    },
    /// List registered identities.
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum StepCmd {
    /// Say how a waiting step went; the run resumes with that result.
    Report {
        /// The op's jti (one run per op).
        jti: String,
        /// The step id.
        step: String,
        /// `pass` or `fail`.
        #[arg(long, value_parser = ["pass", "fail"])]
        status: String,
        /// What to record with it (scrubbed of credentials).
        #[arg(long)]
        note: Option<String>,
        /// Only this host's step (default: every host waiting on it).
        #[arg(long)]
        host: Option<String>,
        /// Sign as this identity (a human for `human` steps).
        #[arg(long = "as")]
        as_: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RunbookCmd {
    /// The runbooks in runbooks/, and whether each is adopted.
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// One runbook: flags, parameters, steps and their dependencies.
    Show {
        /// The runbook id.
        id: String,
        /// Output JSON (the parsed definition).
        #[arg(long)]
        json: bool,
    },
    /// Check runbook files (all, or one) and report every problem with file:line:col.
    Validate {
        /// Only this runbook.
        id: Option<String>,
    },
    /// The step graph as Mermaid (default) or Graphviz DOT.
    Graph {
        /// The runbook id.
        id: String,
        /// `mermaid` or `dot`.
        #[arg(long, default_value = "mermaid", value_parser = ["mermaid", "dot"])]
        format: String,
    },
}

#[derive(Subcommand, Debug)]
enum OpsCmd {
    /// List ops, newest first.
    List {
        /// Only ops in this state.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one op as an approver reads it (runbook, params, hosts and
    /// their rendered commands, decision, approvals, blockers), then its
    /// steps.
    Show {
        /// The op's jti, or an unambiguous prefix of at least 6 characters.
        jti: String,
        /// Print the signed envelope only.
        #[arg(long)]
        envelope: bool,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rejected inputs, newest first.
    Rejections {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Check the policy files on disk (policy/): errors with file:line
    /// (exit 1), and warnings for settings that loosen a hard rule, such
    /// as `allow_auto_promotion = true`.
    Lint {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why an op was decided as it was: policy digest, deciding rules, reasons.
    Explain {
        /// The op's jti.
        jti: String,
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn other(s: impl Into<String>) -> ControlError {
    ControlError::Other(s.into())
}

fn key_id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|e| other(e.to_string()))
}

pub(crate) fn parse_params(ps: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in ps {
        let Some((k, v)) = p.split_once('=') else {
            return Err(other(format!("--param `{p}` is not of the form key=value")));
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The hosts `--target` selectors pick from the inventory in force (names,
/// `*` globs, `tag:x`, `arch:a`, `!…` to take out; infra hosts by name
/// only): what the op is signed for.
pub(crate) fn targets(inv: &bosun_workspace::Inventory, ts: &[String]) -> Result<Vec<Name>> {
    if ts.is_empty() {
        return Err(other(
            "no target hosts: give at least one `--target <selector>` (a host, web-*, tag:x, arch:aarch64, !tag:x)",
        ));
    }
    Ok(inv
        .select(ts)
        .map_err(|e| other(format!("--target: {e}")))?
        .into_iter()
        .map(|h| h.name)
        .collect())
}

pub(crate) struct Ctx {
    workspace: PathBuf,
    pub(crate) key_dir: PathBuf,
    /// The key directory, asking passphrases on the terminal.
    pub(crate) keys: bosun_sign::KeyDir,
}

impl Ctx {
    pub(crate) fn control(&self) -> Result<Control> {
        Control::open(Workspace::open(&self.workspace)?)
    }
}

/// Where `bosun key new` keeps the private key.
enum KeyStorage {
    /// Default: protected for operators, plaintext for agents.
    Default,
    /// `--insecure-plaintext`.
    Plaintext,
    /// `--ssh-agent [--ssh-key FILE]`.
    SshAgent(Option<PathBuf>),
}

impl KeyStorage {
    fn pick(insecure_plaintext: bool, ssh_agent: bool, ssh_key: Option<PathBuf>) -> KeyStorage {
        if ssh_agent {
            KeyStorage::SshAgent(ssh_key)
        } else if insecure_plaintext {
            KeyStorage::Plaintext
        } else {
            KeyStorage::Default
        }
    }
}

/// `bosun key new`: the private key (protected, plaintext or in ssh-agent)
/// and the public key registered in `keys/`.
fn key_new(
    ctx: &Ctx,
    name: &str,
    role: &str,
    scope: &[String],
    storage: KeyStorage,
) -> Result<ExitCode> {
    let ws = Workspace::open(&ctx.workspace)?;
    let id = key_id(name)?;
    let role = Role::parse(role).ok_or_else(|| other("role must be operator or agent"))?;
    let (public, path, how) = match storage {
        KeyStorage::SshAgent(file) => {
            let public = match file {
                Some(f) => {
                    let text = std::fs::read_to_string(&f)
                        .map_err(|e| other(format!("--ssh-key {}: {e}", f.display())))?;
                    bosun_sign::parse_ssh_public_key(&text).map_err(|e| {
                        other(format!(
                            "--ssh-key {}: {e} (give the public key file, e.g. ~/.ssh/id_ed25519.pub)",
                            f.display()
                        ))
                    })?
                }
                None => agent_only_key()?,
            };
            let path = ctx.keys.write_agent_key(id.as_str(), &public)?;
            (public, path, "held by ssh-agent; this file names it")
        }
        KeyStorage::Default if role == Role::Operator => {
            let secret = bosun_sign::SecretKey::generate()?;
            let path = ctx.keys.write_protected(id.as_str(), &secret)?;
            (secret.public(), path, "0600, passphrase-encrypted")
        }
        KeyStorage::Default | KeyStorage::Plaintext => {
            let secret = bosun_sign::SecretKey::generate()?;
            let path = bosun_sign::write_private_key(ctx.keys.path(), id.as_str(), &secret)?;
            let how = if role == Role::Operator {
                "0600, NOT encrypted: anyone running as you can sign as this operator"
            } else {
                "0600"
            };
            (secret.public(), path, how)
        }
    };
    KeyRegistry::register(&ws.root, &id, role, scope, &public)?;
    println!(
        "created {role} key `{id}`: private key {} ({how}), public key keys/{id}.jwk",
        path.display()
    );
    println!("it is not in force until adopted: `bosun adopt --as <operator>`");
    Ok(ExitCode::SUCCESS)
}

/// The one Ed25519 key of the agent at `$SSH_AUTH_SOCK`.
fn agent_only_key() -> Result<bosun_sign::PublicKey> {
    let sock = bosun_sign::agent_socket()?;
    let keys = bosun_sign::list_ed25519(&sock)?;
    match keys.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(other(
            "the ssh-agent holds no Ed25519 key: add one (`ssh-add -c ~/.ssh/id_ed25519`) \
             or name its public key with `--ssh-key <file.pub>`",
        )),
        many => Err(other(format!(
            "the ssh-agent holds {} Ed25519 keys (thumbprints {}); choose one with \
             `--ssh-key <file.pub>`",
            many.len(),
            many.iter()
                .map(|k| k.thumbprint())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(crate) fn refused(rej: &Rejected, json_out: bool) -> ExitCode {
    if json_out {
        println!(
            "{}",
            json!({"rejected": true, "check": rej.check, "message": rej.message, "jti": rej.jti})
        );
    } else {
        eprintln!("refused: {rej}");
    }
    ExitCode::from(3)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let key_dir = cli
        .key_dir
        .clone()
        .unwrap_or_else(bosun_sign::default_key_dir);
    let ctx = Ctx {
        workspace: cli.workspace.clone(),
        keys: bosun_sign::KeyDir::new(&key_dir).with_passphrase(std::sync::Arc::new(
            crate::passphrase::Prompt {
                file: cli.passphrase_file.clone(),
            },
        )),
        key_dir,
    };
    match cli.cmd {
        Cmd::Init {
            dir,
            reinit: true,
            previous,
            ..
        } => reinit(&ctx, dir, previous),
        Cmd::Init { dir, name, .. } => {
            let dir = dir.ok_or_else(|| other("name the directory: `bosun init <dir>`"))?;
            let name = match name {
                Some(n) => n,
                None => std::fs::canonicalize(&dir)
                    .ok()
                    .or_else(|| Some(dir.clone()))
                    .and_then(|d| d.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "workspace".into()),
            };
            let name = Name::parse(&name)
                .map_err(|e| other(format!("workspace name: {e}; pass --name")))?;
            bosun_workspace::scaffold::init(&dir, &name)?;
            bosun_control::genesis::initialise(Workspace::open(&dir)?, &ctx.key_dir)?;
            println!("created workspace `{name}` in {}", dir.display());
            println!(
                "next: bosun -w {} key new <you> --role operator && bosun -w {} adopt --as <you>",
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Key(KeyCmd::New {
            name,
            role,
            scope,
            insecure_plaintext,
            ssh_agent,
            ssh_key,
        }) => key_new(
            &ctx,
            &name,
            &role,
            &scope,
            KeyStorage::pick(insecure_plaintext, ssh_agent, ssh_key),
        ),
        Cmd::Key(KeyCmd::List { json: j }) => {
            let ws = Workspace::open(&ctx.workspace)?;
            let ctl = Control::open(ws.clone())?;
            let adopted = ctl.store.adopted(bosun_workspace::governed::KEYS_SUBJECT)?;
            let in_force = adopted
                .map(|a| KeyRegistry::from_content(&a.content))
                .transpose()?
                .unwrap_or_default();
            let disk = ws.disk_keys()?;
            let mut rows = Vec::new();
            let mut js = Vec::new();
            for (name, e) in disk.keys.iter().chain(
                in_force
                    .keys
                    .iter()
                    .filter(|(n, _)| !disk.keys.contains_key(*n)),
            ) {
                let adopted = in_force.get(name) == Some(e);
                let tp = e
                    .public
                    .as_ref()
                    .map(|p| p.thumbprint())
                    .unwrap_or_default();
                rows.push(vec![
                    name.to_string(),
                    e.role.to_string(),
                    e.scope.join(","),
                    if adopted { "yes" } else { "no" }.into(),
                    tp.clone(),
                ]);
                js.push(json!({"name": name, "role": e.role, "scope": e.scope, "adopted": adopted, "thumbprint": tp}));
            }
            if j {
                println!("{}", serde_json::Value::Array(js));
            } else {
                table(&["name", "role", "scope", "adopted", "thumbprint"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Adopt {
            as_,
            approve,
            yes,
            json: j,
        } => adopt(&ctx, &as_, approve.as_deref(), yes, j),
        Cmd::Status { json: j } => status(&ctx, j),
        Cmd::Plan { args, check, as_ } => match (check, as_) {
            (false, _) => plan_cmd(&ctx, &args),
            (true, Some(who)) => crate::check::check_cmd(&ctx, &args, &who),
            (true, None) => Err(other(
                "`plan --check` runs the checks as an op of yours: say who signs it with --as <key>",
            )),
        },
        Cmd::Submit {
            plan,
            as_,
            envelope,
        } => submit(&ctx, plan, as_, envelope),
        Cmd::Approve {
            jti: j,
            as_,
            yes,
            json: js,
        } => answer(
            &ctx,
            &j,
            &as_,
            Verdict::Approve,
            None,
            Asked { yes, json: js },
        ),
        Cmd::Deny {
            jti: j,
            why,
            as_,
            yes,
            json: js,
        } => answer(
            &ctx,
            &j,
            &as_,
            Verdict::Deny,
            Some(why),
            Asked { yes, json: js },
        ),
        Cmd::Ops(OpsCmd::List {
            state,
            limit,
            json: j,
        }) => {
            let ctl = ctx.control()?;
            let state = state
                .map(|s| OpState::parse(&s).ok_or_else(|| other(format!("unknown state `{s}`; one of: submitted, pending_approval, approved, running, succeeded, failed, denied, needs_attention"))))
                .transpose()?;
            let ops = ctl.store.list_ops(state, limit)?;
            if j {
                println!(
                    "{}",
                    serde_json::Value::Array(ops.iter().map(summary_json).collect())
                );
            } else {
                let rows: Vec<Vec<String>> = ops
                    .iter()
                    .map(|o| {
                        vec![
                            o.jti.to_string(),
                            o.iss.to_string(),
                            o.runbook.clone(),
                            o.targets.to_string(),
                            o.state.to_string(),
                            time(o.created_at),
                        ]
                    })
                    .collect();
                table(
                    &["jti", "issuer", "runbook", "hosts", "state", "submitted"],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ops(OpsCmd::Show {
            jti: j,
            envelope,
            json: js,
        }) => {
            let ctl = ctx.control()?;
            let op = ctl.resolve_op(&j)?;
            if envelope || js {
                let Some(rec) = ctl.store.op(&op)? else {
                    return Err(other(format!(
                        "no op with jti `{op}` (see `bosun ops list`)"
                    )));
                };
                if envelope {
                    println!("{}", rec.envelope);
                } else {
                    println!("{}", op_json(&rec));
                }
            } else {
                let view = ctl.consent(&op, now())?;
                print_op(&view).map_err(|e| other(format!("stdout: {e}")))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ops(OpsCmd::Rejections { limit, json: j }) => {
            let ctl = ctx.control()?;
            let rs = ctl.store.rejections(limit)?;
            if j {
                println!(
                    "{}",
                    serde_json::to_string(&rs).map_err(|e| other(e.to_string()))?
                );
            } else {
                let rows: Vec<Vec<String>> = rs
                    .iter()
                    .map(|r| {
                        vec![
                            time(r.at),
                            r.check.clone(),
                            r.jti.clone().unwrap_or_default(),
                            r.message.clone(),
                        ]
                    })
                    .collect();
                table(&["at", "check", "jti", "message"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Policy(PolicyCmd::Lint { json: js }) => {
            let ws = Workspace::open(&ctx.workspace)?;
            let files = ws.disk_policy()?;
            let (errors, warnings) = match files.load() {
                Err(e) => (e.0.iter().map(ToString::to_string).collect(), Vec::new()),
                Ok(p) => (Vec::new(), policy_warnings(&p, &files)),
            };
            // Runbooks that write a value unquoted never run alone: say where.
            let mut warnings = warnings;
            for (_, path, text) in ws.disk_runbooks()? {
                if let Ok(rb) = bosun_runbook::parse_runbook(&path, &text) {
                    warnings.extend(
                        bosun_runbook::raw_places(&path, &text, &rb)
                            .iter()
                            .map(ToString::to_string),
                    );
                }
            }
            if js {
                println!("{}", json!({"errors": errors, "warnings": warnings}));
            } else {
                for e in &errors {
                    println!("error: {e}");
                }
                for w in &warnings {
                    println!("warning: {w}");
                }
                if errors.is_empty() && warnings.is_empty() {
                    println!("policy/ is valid; nothing loosens a hard rule");
                }
            }
            Ok(if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Policy(PolicyCmd::Explain { jti: j, json: js }) => {
            let ctl = ctx.control()?;
            let op = ctl.resolve_op(&j)?;
            let Some(rec) = ctl.store.op(&op)? else {
                return Err(other(format!("no op with jti `{op}`")));
            };
            let d = &rec.decision;
            if js {
                println!(
                    "{}",
                    json!({"jti": rec.summary.jti, "outcome": d.outcome, "policy_digest": d.policy_digest, "policy_ids": d.policy_ids, "reasons": d.reasons})
                );
            } else {
                println!("{}", explain_text(&rec));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Halt { why, as_, json: j } => {
            let ctl = ctx.control()?;
            let applied = match statement(&ctx.keys, &ctl, &as_, Act::Halt { why: why.clone() }, j)?
            {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let bosun_control::statement::Effect::Halted { in_flight } = applied.effect else {
                return Err(other("the halt statement did not halt"));
            };
            if j {
                println!(
                    "{}",
                    json!({"halted": true, "why": why, "by": applied.by, "in_flight": in_flight.iter().map(summary_json).collect::<Vec<_>>()})
                );
            } else {
                println!("halted: nothing new dispatches until `bosun resume` ({why})");
                if in_flight.is_empty() {
                    println!("no op is in flight");
                } else {
                    println!("in flight (their running step finishes, then they pause):");
                    for o in &in_flight {
                        println!(
                            "  {}  {} on {} host(s), by {}",
                            o.jti, o.runbook, o.targets, o.iss
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Remind { dry_run, json: j } => {
            let ctl = ctx.control()?;
            let t = now();
            let sent: Vec<(
                bosun_control::notify::Reminder,
                Vec<bosun_control::notify::Delivery>,
            )> = if dry_run {
                ctl.reminders_due(t)?
                    .into_iter()
                    .map(|r| (r, Vec::new()))
                    .collect()
            } else {
                ctl.remind(t, &crate::next::command)?
            };
            if j {
                let v: Vec<_> = sent
                    .iter()
                    .map(|(r, d)| json!({"reminder": r, "deliveries": d}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                if sent.is_empty() {
                    println!("no reminder is due");
                }
                for (r, d) in &sent {
                    print_reminder(r, d);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Snooze { target, for_, as_ } => {
            let ctl = ctx.control()?;
            let secs = bosun_model::source::parse_duration(&for_)
                .map_err(|e| other(format!("--for `{for_}`: {e}")))?;
            let until = now().saturating_add(secs);
            let act = match target.parse::<u64>() {
                Ok(id) => Act::BlockerSnooze { id, until },
                Err(_) => Act::Snooze {
                    op: ctl.resolve_op(&target)?,
                    until,
                },
            };
            if let Err(code) = statement(&ctx.keys, &ctl, &as_, act, false)? {
                return Ok(code);
            }
            println!("{target}: reminders muted until {}", time(until));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hosts(c) => crate::fleet_cli::hosts(&ctx.control()?, c),
        Cmd::Blockers(c) => crate::fleet_cli::blockers(&ctx.control()?, &ctx.keys, c),
        Cmd::Rollout(c) => crate::fleet_cli::rollout(&ctx.control()?, &ctx.keys, c),
        Cmd::Resume { as_ } => {
            let ctl = ctx.control()?;
            let Some(h) = ctl.store.halt()? else {
                println!("the fleet is not halted: nothing to resume");
                return Ok(ExitCode::SUCCESS);
            };
            if let Err(code) =
                statement(&ctx.keys, &ctl, &as_, Act::Resume { since: h.since }, false)?
            {
                return Ok(code);
            }
            println!("resumed: dispatch continues");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve { no_wait } => serve(&ctx, no_wait),
        Cmd::Ledger(cmd) => crate::ledger_cli::ledger_cmd(&ctx, cmd),
        Cmd::Work { until_idle: _ } => {
            let ctl = ctx.control()?;
            let mut c = Controller::new(ctl);
            if let Err(other_lease) = c.acquire()? {
                return Err(other(format!(
                    "another controller ({}) holds the lease (token {}) until {}; stop it or wait",
                    other_lease.holder,
                    other_lease.token,
                    time(other_lease.expires_at)
                )));
            }
            let ticks = c.work_until_idle(&mut print_progress)?;
            c.release()?;
            checkpoint_quietly(&ctx);
            for t in &ticks {
                if let Tick::Halted(h) = t {
                    println!(
                        "halted by {} since {}: {} — nothing dispatched",
                        h.by,
                        time(h.since),
                        h.why
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Runbook(r) => runbook_cmd(&ctx, r),
        Cmd::Step(StepCmd::Report {
            jti: j,
            step,
            status,
            note,
            host,
            as_,
            json: js,
        }) => {
            let ctl = ctx.control()?;
            let gov = ctl.governed()?;
            let who = key_id(&as_)?;
            let key = client::load_secret(&ctx.keys, &who)?;
            let step = Name::parse(&step).map_err(|e| other(format!("step: {e}")))?;
            let host = host
                .map(|h| Name::parse(&h).map_err(|e| other(format!("--host: {e}"))))
                .transpose()?;
            let status = if status == "pass" {
                bosun_model::ReportStatus::Pass
            } else {
                bosun_model::ReportStatus::Fail
            };
            let t = now();
            let op = ctl.resolve_op(&j)?;
            let env = ctl.sign_step_report(&key, &who, &op, &step, host, status, note, t)?;
            match ctl.accept_step_report(&gov, &env, t)? {
                Ok(out) => {
                    if js {
                        println!(
                            "{}",
                            json!({"jti": out.op, "step": out.step, "hosts": out.hosts, "status": out.status})
                        );
                    } else {
                        println!(
                            "reported {:?} for step {} on {}: the run resumes at the controller's next pass",
                            out.status,
                            out.step,
                            out.hosts.join(", ")
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(rej) => Ok(refused(&rej, js)),
            }
        }
        Cmd::Demo => crate::demo::run().map(|()| ExitCode::SUCCESS),
        Cmd::Bench(b) => crate::bench::run(b).map(|()| ExitCode::SUCCESS),
    }
}

pub(crate) fn print_progress(p: Progress) {
    match p {
        Progress::RunStarted {
            jti,
            runbook,
            total,
            resumed,
        } => {
            if resumed > 0 {
                println!("▶ {jti} {runbook}: resuming, {resumed} of {total} steps already done");
            } else {
                println!("▶ {jti} {runbook}: {total} steps");
            }
        }
        Progress::StepStarted { .. } => {}
        Progress::StepFinished { result, .. } => {
            let mark = match result.status {
                StepStatus::Succeeded => "✔",
                StepStatus::Failed => "✘",
                StepStatus::Skipped => "·",
                StepStatus::Unknown => "?",
                StepStatus::Started => "…",
                StepStatus::Waiting => "⏸",
            };
            let first = result
                .output
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect::<String>();
            println!(
                "  {mark} {:<15} {:<10} {:>5} ms  {first}",
                result.step, result.host, result.duration_ms
            );
        }
        Progress::RunEnded(r) => println!("■ {} {}: {}", r.jti, r.state, r.detail),
        Progress::Warning(w) => eprintln!("warning: {w}"),
    }
}

/// Settings that loosen a hard rule, located in their file.
fn policy_warnings(p: &bosun_policy::Policy, files: &bosun_workspace::PolicyFiles) -> Vec<String> {
    let at = |needle: &str| {
        let off = bosun_model::source::find_offset(&files.keeper, needle);
        let (l, c) = bosun_model::line_col(&files.keeper, off);
        format!("policy/keeper.toml:{l}:{c}")
    };
    let mut w = Vec::new();
    if p.allow_auto_promotion() {
        w.push(format!(
            "{}: allow_auto_promotion = true lifts the hard rule \"never auto-promote\": rollout waves after the canary may run without a human",
            at("allow_auto_promotion")
        ));
    }
    if p.mode() == bosun_policy::Mode::Auto {
        w.push(format!(
            "{}: mode = \"auto\": every op the rules do not stop runs without a human",
            at("mode")
        ));
    }
    w
}

/// One reminder as the log sink writes it.
pub(crate) fn print_reminder(
    r: &bosun_control::notify::Reminder,
    d: &[bosun_control::notify::Delivery],
) {
    println!(
        "reminder #{} to {}: {} (waiting since {}); next: {}",
        r.n,
        r.to,
        r.title,
        time(r.since),
        bosun_control::notify::next_text(r, &crate::next::command)
    );
    for x in d {
        if let Some(e) = &x.error {
            println!("  {} sink failed: {e}", x.sink);
        }
    }
}

pub(crate) fn explain_text(rec: &bosun_store::OpRecord) -> String {
    let d = &rec.decision;
    let verdict = crate::consent::verdict_text(&d.outcome);
    let mut s = format!(
        "op {} by {} ({}) — runbook {} on {} host(s)\ndecision: {verdict}\npolicy in force: {}\n",
        rec.summary.jti,
        rec.claims.iss,
        rec.role,
        rec.claims.runbook,
        rec.claims.targets.len(),
        d.policy_digest
    );
    if d.policy_ids.is_empty() {
        s.push_str("deciding rules: none matched\n");
    } else {
        s.push_str(&format!("deciding rules: {}\n", d.policy_ids.join(", ")));
    }
    for r in &d.reasons {
        s.push_str(&format!("  - {r}\n"));
    }
    s.trim_end().to_string()
}

/// `ops show`: the op as an approver reads it, then how its run went.
fn print_op(view: &bosun_control::consent::Consent) -> std::io::Result<()> {
    let rec = &view.op;
    let mut text = crate::consent::render(view);
    if !rec.detail.is_empty() {
        text.push_str(&format!("detail    {}\n", rec.detail));
    }
    crate::output::emit(&text)?;
    if !rec.steps.is_empty() {
        let rows: Vec<Vec<String>> = rec
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.idx.to_string(),
                    s.step.clone(),
                    s.host.clone(),
                    s.status.as_str().into(),
                    s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                    s.duration_ms.to_string(),
                ]
            })
            .collect();
        table(&["#", "step", "host", "status", "exit", "ms"], &rows);
    }
    Ok(())
}

fn adopt(ctx: &Ctx, as_: &str, approve: Option<&str>, yes: bool, j: bool) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let who = key_id(as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let (proposal, changes) = match approve {
        Some(id) => {
            let id = ctl.resolve_proposal(id)?;
            let p = ctl
                .store
                .proposal(&id)?
                .ok_or_else(|| other(format!("no proposal `{id}`")))?;
            let changes = ctl.proposal_changes(&p)?;
            let head = format!(
                "proposal {} by {} ({}), {} subject(s), digest {}\n",
                p.id,
                p.proposer,
                p.state,
                changes.len(),
                p.digest
            );
            crate::consent::show(
                &format!("{head}{}", crate::consent::render_changes(&changes)),
                j,
                yes,
            )?;
            crate::consent::confirm("approve?", yes)?;
            (p, Vec::new())
        }
        None => {
            // Proposing signs the proposer's approval (with one operator in
            // force, or at bootstrap, that adopts): the same consent.
            let shown: Vec<_> = ctl.pending_changes()?.into_iter().map(|(_, c)| c).collect();
            if shown.is_empty() {
                if j {
                    println!(
                        "{}",
                        json!({"proposal": null, "message": "nothing differs from what is in force"})
                    );
                } else {
                    println!("nothing to adopt: the files on disk are what is in force");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let head = format!("proposal of {} change(s), approved by {who}\n", shown.len());
            crate::consent::show(
                &format!("{head}{}", crate::consent::render_changes(&shown)),
                j,
                yes,
            )?;
            crate::consent::confirm("propose and approve?", yes)?;
            let (p, changes) = ctl
                .propose(&who, now())?
                .ok_or_else(|| other("the files changed while you read: nothing differs now"))?;
            if changes != shown {
                return Err(other(
                    "the files changed while you read: nothing was signed; run `bosun adopt` again",
                ));
            }
            (p, changes)
        }
    };
    let _ = changes;
    // Signed when answered: the question may have waited a while.
    let t = now();
    let (_, env) = ctl.sign_approval(
        &key,
        &who,
        &proposal.id,
        &proposal.digest,
        Verdict::Approve,
        None,
        t,
    )?;
    match ctl.approve_adoption(&env, t)? {
        Ok(out) => {
            if j {
                println!(
                    "{}",
                    json!({"proposal": out.proposal, "digest": proposal.digest, "approvals": out.approvals, "needed": out.needed, "adopted": out.adopted})
                );
            } else if out.adopted {
                println!(
                    "adopted proposal {} ({} of {} approvals): now in force",
                    out.proposal, out.approvals, out.needed
                );
            } else {
                println!(
                    "proposal {}: {} of {} approvals; another operator runs `bosun adopt --approve {} --as <name>`",
                    out.proposal, out.approvals, out.needed, out.proposal
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rej) => Ok(refused(&rej, j)),
    }
}

fn status(ctx: &Ctx, j: bool) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let adopted = ctl.store.adopted_all()?;
    let drift = match ctl.governed() {
        Ok(g) => g.drift,
        Err(e) => vec![e.to_string()],
    };
    let halt = ctl.store.halt()?;
    let depth = ctl.store.depth()?;
    let lease = ctl.store.lease_holder(now())?;
    let pending = ctl.store.list_ops(Some(OpState::PendingApproval), 1000)?;
    let attention = ctl.store.list_ops(Some(OpState::NeedsAttention), 1000)?;
    let proposals = ctl.store.proposals()?;
    let blockers = ctl.store.blockers(false)?;
    let rollouts: Vec<(String, String)> = ctl
        .store
        .rollouts()?
        .iter()
        .filter_map(|r| ctl.rollout_status(&r.id).ok())
        .filter(|st| st.phase == bosun_control::rollout::Phase::Active)
        .map(|st| {
            let next: Vec<String> = st.next.iter().map(crate::next::command).collect();
            let next = if next.is_empty() {
                String::new()
            } else {
                format!(" — next: {}", next.join(" | "))
            };
            (st.id, format!("{}{next}", st.summary))
        })
        .collect();
    if j {
        println!(
            "{}",
            json!({
                "workspace": ctl.ws.config.name,
                "adopted": adopted.iter().map(|a| json!({"subject": a.subject, "digest": a.digest, "at": time(a.adopted_at)})).collect::<Vec<_>>(),
                "drift": drift,
                "halt": halt,
                "queue_depth": depth,
                "controller": lease.map(|l| json!({"holder": l.holder, "token": l.token, "expires_at": time(l.expires_at)})),
                "pending_approval": pending.iter().map(|o| o.jti.to_string()).collect::<Vec<_>>(),
                "needs_attention": attention.iter().map(|o| o.jti.to_string()).collect::<Vec<_>>(),
                "open_proposals": proposals.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(),
                "active_blockers": blockers.iter().map(|b| json!({"id": b.id, "kind": b.kind, "subject": b.subject})).collect::<Vec<_>>(),
                "active_rollouts": rollouts.iter().map(|(id, next)| json!({"id": id, "next": next})).collect::<Vec<_>>(),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("workspace  {}", ctl.ws.config.name);
    match &halt {
        Some(h) => println!("HALTED     by {} since {}: {}", h.by, time(h.since), h.why),
        None => println!("dispatch   running"),
    }
    match &lease {
        Some(l) => println!(
            "controller {} (token {}, lease until {})",
            l.holder,
            l.token,
            time(l.expires_at)
        ),
        None => {
            println!("controller none (start one with `bosun serve`, or `bosun work --until-idle`)")
        }
    }
    println!("queue      {depth} op(s) waiting");
    println!("pending    {} op(s) waiting for approval", pending.len());
    if !blockers.is_empty() {
        println!(
            "BLOCKERS   {} active: {} (bosun blockers list)",
            blockers.len(),
            blockers
                .iter()
                .take(5)
                .map(|b| format!("{}#{} on {}", b.kind, b.id, b.subject))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (id, next) in &rollouts {
        println!("rollout    {id}: {next}");
    }
    if !attention.is_empty() {
        println!(
            "ATTENTION  {} op(s) need a human: {}",
            attention.len(),
            attention
                .iter()
                .map(|o| o.jti.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("in force:");
    for a in &adopted {
        println!(
            "  {:<24} {}  adopted {}",
            a.subject,
            a.digest.short(),
            time(a.adopted_at)
        );
    }
    for p in &proposals {
        println!(
            "open proposal {} by {} ({} item(s))",
            p.id,
            p.proposer,
            p.items.len()
        );
    }
    if drift.is_empty() {
        println!("drift      none: the files on disk are what is in force");
    } else {
        println!("drift (ignored until adopted):");
        for d in &drift {
            println!("  - {d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan `p` names: its runbook over its targets with its params.
pub(crate) fn plan_of(
    gov: &bosun_control::governed::Governed,
    p: &PlanArgs,
) -> Result<bosun_model::Plan> {
    let runbook = p
        .runbook
        .as_deref()
        .ok_or_else(|| other("name a runbook: `bosun plan <runbook> --target <host>`"))?;
    client::plan(
        gov,
        runbook,
        &targets(&gov.inventory, &p.targets)?,
        &parse_params(&p.params)?,
    )
}

fn plan_cmd(ctx: &Ctx, p: &PlanArgs) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let plan = plan_of(&gov, p)?;
    if p.json {
        println!("{}", json!({"digest": plan.digest(), "plan": plan}));
    } else {
        println!(
            "plan {} — runbook {} ({})",
            plan.digest(),
            plan.runbook,
            crate::output::plan_kind(&plan)
        );
        for (k, v) in &plan.params {
            println!("  param {k} = {v}");
        }
        for (i, s) in plan.steps.iter().enumerate() {
            if s.needs_report() {
                println!(
                    "  {i:>3}. [{}] {}: (a {} step: the run waits for `bosun step report`)",
                    s.host,
                    s.step,
                    format!("{:?}", s.actor).to_lowercase()
                );
            } else {
                println!("  {i:>3}. [{}] {}: {}", s.host, s.step, s.cmd);
            }
        }
        println!(
            "nothing ran. To run it: bosun submit {} {} --as <you>",
            plan.runbook,
            plan.targets
                .iter()
                .map(|t| format!("-t {t}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn submit(
    ctx: &Ctx,
    plan: Option<PlanArgs>,
    as_: Option<String>,
    envelope: Option<PathBuf>,
) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let j = plan.as_ref().is_some_and(|p| p.json);
    let t = now();
    let env = match (envelope, as_) {
        (Some(path), _) => {
            let text = if path.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::stdin().take(bosun_sign::MAX_ENVELOPE_BYTES as u64 + 1),
                    &mut s,
                )
                .map_err(|e| other(format!("stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&path)
                    .map_err(|e| other(format!("{}: {e}", path.display())))?
            };
            text.trim().to_string()
        }
        (None, Some(who)) => {
            let p = plan
                .as_ref()
                .ok_or_else(|| other("name a runbook and targets, or pass --envelope FILE"))?;
            let runbook = p.runbook.as_deref().ok_or_else(|| {
                other("name a runbook: `bosun submit <runbook> --target <host> --as <you>`")
            })?;
            let who = key_id(&who)?;
            let key = client::load_secret(&ctx.keys, &who)?;
            let plan = client::plan(
                &gov,
                runbook,
                &targets(&gov.inventory, &p.targets)?,
                &parse_params(&p.params)?,
            )?;
            let seq = ctl.next_seq(&who)?;
            ctl.sign_op(&key, &who, &plan, seq, t)?.1
        }
        (None, None) => {
            return Err(other(
                "say who signs with --as <key>, or pass --envelope FILE",
            ));
        }
    };
    use std::io::Read as _;
    let r = ctl.intake(&gov, std::slice::from_ref(&env), t)?;
    match r.into_iter().next() {
        Some(Ok(a)) => {
            if j {
                println!(
                    "{}",
                    json!({"jti": a.jti, "decision": decision_word(&a.decision), "state": a.state, "policy_ids": a.decision.policy_ids, "reasons": a.decision.reasons})
                );
            } else {
                println!("submitted {}: {}", a.jti, a.state);
                match &a.decision.outcome {
                    Outcome::Auto => {
                        println!("the policy lets it run alone; the controller will pick it up")
                    }
                    Outcome::Approvals(r) => println!(
                        "it needs {} approval(s) from {:?}: bosun approve {} --as <operator>",
                        r.m, r.roles, a.jti
                    ),
                    Outcome::Deny { reason } => println!("denied: {reason}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(rej)) => Ok(refused(&rej, j)),
        None => Err(other("intake returned nothing")),
    }
}

/// How a signing verb was asked: `--yes`, `--json`.
struct Asked {
    yes: bool,
    json: bool,
}

fn answer(
    ctx: &Ctx,
    j: &str,
    as_: &str,
    verdict: Verdict,
    why: Option<String>,
    asked: Asked,
) -> Result<ExitCode> {
    let js = asked.json;
    let ctl = ctx.control()?;
    let gov = ctl.governed()?;
    let op = ctl.resolve_op(j)?;
    let who = key_id(as_)?;
    let key = client::load_secret(&ctx.keys, &who)?;
    let t = now();
    // What is shown is what is signed: the digest of the plan rendered here.
    let view = ctl.consent(&op, t)?;
    crate::consent::show(&crate::consent::render(&view), js, asked.yes)?;
    let question = match verdict {
        Verdict::Approve => "approve?",
        Verdict::Deny => "deny?",
    };
    crate::consent::confirm(question, asked.yes)?;
    // Signed when answered: the question may have waited a while.
    let t = now();
    let (_, env) = ctl.sign_approval(&key, &who, &op, &view.plan_digest, verdict, why, t)?;
    match ctl.accept_approval(&gov, &env, t)? {
        Ok(out) => {
            if js {
                println!(
                    "{}",
                    json!({"jti": out.op, "state": out.state, "approvals": out.approvals, "needed": out.needed})
                );
            } else {
                println!(
                    "{} {}: {} ({} of {} approvals)",
                    match verdict {
                        Verdict::Approve => "approved",
                        Verdict::Deny => "denied",
                    },
                    out.op,
                    out.state,
                    out.approvals,
                    out.needed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rej) => Ok(refused(&rej, js)),
    }
}

/// Signs a checkpoint if the ledger grew; a failure is a warning (the work
/// itself is done and recorded).
fn checkpoint_quietly(ctx: &Ctx) {
    let r = (|| -> Result<()> {
        // The store first: a lost database is reported, never re-created.
        let ctl = ctx.control()?;
        let signer = bosun_control::genesis::signer(&ctl, &ctx.key_dir)?;
        match ledger::checkpoint(&ctl, &signer) {
            Ok(_) | Err(bosun_control::ControlError::Store(bosun_store::StoreError::Stale(_))) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    })();
    if let Err(e) = r {
        eprintln!("warning: no ledger checkpoint: {e}");
    }
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
    println!(
        "re-initialised the ledger of `{}`: the database was found {}; a new database was created whose first entry (`ledger.reinitialised`) records it",
        ctl.ws.config.name,
        r.found.as_str()
    );
    for p in &r.moved_aside {
        println!("  kept the old file as {}", p.display());
    }
    match &r.previous {
        Some(p) => println!(
            "  the previous ledger's checkpoint of size {} is named in it",
            p.size
        ),
        None => println!(
            "  no previous checkpoint was named (pass --previous FILE to name the one you kept)"
        ),
    }
    println!(
        "next: nothing is adopted in the new database; adopt the policy and keys again: bosun adopt --as <operator>"
    );
    Ok(ExitCode::SUCCESS)
}

fn serve(ctx: &Ctx, no_wait: bool) -> Result<ExitCode> {
    let ctl = ctx.control()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| other(format!("signal handler: {e}")))?;
    }
    let mut c = Controller::new(ctl);
    let mut said = false;
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
        match c.acquire()? {
            Ok(l) => {
                println!("controller started (lease token {})", l.token);
                break;
            }
            Err(other_lease) => {
                if no_wait {
                    return Err(other(format!(
                        "another controller ({}) holds the lease until {}; refusing (--no-wait)",
                        other_lease.holder,
                        time(other_lease.expires_at)
                    )));
                }
                if !said {
                    println!(
                        "another controller ({}) holds the lease until {}; waiting…",
                        other_lease.holder,
                        time(other_lease.expires_at)
                    );
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    }
    // Checkpoints: every second while there are new entries, on a thread
    // of their own so that a long step does not delay them.
    let cp_thread = {
        let stop = stop.clone();
        let ws = Workspace::open(&ctx.workspace)?;
        let key_dir = ctx.key_dir.clone();
        std::thread::spawn(move || {
            let run = || -> Result<()> {
                let ctl = Control::open(ws.clone())?;
                let signer = bosun_control::genesis::signer(&ctl, &key_dir)?;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match ledger::checkpoint(&ctl, &signer) {
                        Ok(_)
                        | Err(bosun_control::ControlError::Store(
                            bosun_store::StoreError::Stale(_),
                        )) => {}
                        Err(e) => eprintln!("ledger checkpoint: {e}"),
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                let _ = ledger::checkpoint(&ctl, &signer);
                Ok(())
            };
            if let Err(e) = run() {
                eprintln!("no ledger checkpoints from this controller: {e}");
            }
        })
    };
    // Reminders: a pass every 30 s, on a thread of their own.
    let remind_thread = {
        let stop = stop.clone();
        let ws = Workspace::open(&ctx.workspace)?;
        std::thread::spawn(move || {
            let Ok(ctl) = Control::open(ws) else {
                return;
            };
            let mut waited = 30;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if waited >= 30 {
                    waited = 0;
                    match ctl.remind(now(), &crate::next::command) {
                        Ok(sent) => {
                            let log = ctl
                                .ws
                                .config
                                .notify
                                .sink
                                .contains(&bosun_workspace::Sink::Log);
                            for (r, d) in &sent {
                                if log {
                                    print_reminder(r, d);
                                }
                                for x in d.iter().filter(|x| x.error.is_some()) {
                                    eprintln!(
                                        "reminder {}: {} sink failed: {}",
                                        r.subject,
                                        x.sink,
                                        x.error.as_deref().unwrap_or("")
                                    );
                                }
                            }
                        }
                        Err(e) => eprintln!("reminders: {e}"),
                    }
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                waited += 1;
            }
        })
    };
    let mut halted_said = false;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match c.tick(&mut print_progress)? {
            Tick::Ran(_) => halted_said = false,
            Tick::Idle => {
                // Ops held back for locked hosts are tried again next pass.
                c.release_held()?;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Tick::Halted(h) => {
                if !halted_said {
                    println!("halted by {}: {} — waiting for `bosun resume`", h.by, h.why);
                    halted_said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    c.release_held()?;
    c.release()?;
    let _ = cp_thread.join();
    let _ = remind_thread.join();
    println!("controller stopped");
    Ok(ExitCode::SUCCESS)
}

fn disk_runbook(ws: &Workspace, id: &str) -> Result<(String, String)> {
    ws.disk_runbooks()?
        .into_iter()
        .find(|(i, _, _)| i == id)
        .map(|(_, p, t)| (p, t))
        .ok_or_else(|| {
            other(format!(
                "no runbook `{id}` in runbooks/ (see `bosun runbook list`)"
            ))
        })
}

fn runbook_cmd(ctx: &Ctx, cmd: RunbookCmd) -> Result<ExitCode> {
    let ws = Workspace::open(&ctx.workspace)?;
    match cmd {
        RunbookCmd::List { json: j } => {
            let ctl = Control::open(ws.clone())?;
            let mut rows = Vec::new();
            let mut js = Vec::new();
            for (id, path, text) in ws.disk_runbooks()? {
                let adopted = ctl
                    .store
                    .adopted(&bosun_control::governed::runbook_subject(&id))?;
                let state = match adopted {
                    None => "no",
                    Some(a) if a.digest == bosun_model::Digest::of(text.as_bytes()) => "yes",
                    Some(_) => "differs",
                };
                let parsed = bosun_runbook::parse_runbook(&path, &text);
                let (desc, ro, steps, valid) = match &parsed {
                    Ok(rb) => (rb.description.clone(), rb.read_only, rb.steps.len(), true),
                    Err(_) => (String::new(), false, 0, false),
                };
                rows.push(vec![
                    id.clone(),
                    if ro { "read-only" } else { "changes" }.into(),
                    steps.to_string(),
                    state.into(),
                    if valid {
                        desc.clone()
                    } else {
                        "INVALID: bosun runbook validate".into()
                    },
                ]);
                js.push(json!({"id": id, "path": path, "read_only": ro, "steps": steps, "adopted": state, "valid": valid, "description": desc}));
            }
            if j {
                println!("{}", serde_json::Value::Array(js));
            } else {
                table(&["id", "kind", "steps", "adopted", "description"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        RunbookCmd::Show { id, json: j } => {
            let (path, text) = disk_runbook(&ws, &id)?;
            let rb =
                bosun_runbook::parse_runbook(&path, &text).map_err(|e| other(e.to_string()))?;
            if j {
                println!(
                    "{}",
                    serde_json::to_string(&rb).map_err(|e| other(e.to_string()))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} — {}", rb.id, rb.description);
            println!(
                "{}{}  ({path})",
                if rb.read_only {
                    "read-only"
                } else {
                    "changes hosts"
                },
                if rb.destructive { ", DESTRUCTIVE" } else { "" }
            );
            for (name, p) in &rb.params {
                let d = p.default.as_ref().map(bosun_runbook::def::value_to_string);
                println!(
                    "  param {name}: {:?}{}{}",
                    p.ty,
                    d.map(|d| format!(" = {d}")).unwrap_or_default(),
                    if p.required { " (required)" } else { "" }
                );
            }
            for c in &rb.preconditions {
                println!("  before: {c}");
            }
            for st in &rb.steps {
                let deps: Vec<String> = st
                    .depends_on
                    .iter()
                    .map(|d| format!("{} ({:?})", d.step, d.kind))
                    .collect();
                println!(
                    "  step {} [{:?}]{}{}",
                    st.id,
                    st.actor,
                    if deps.is_empty() {
                        String::new()
                    } else {
                        format!(" after {}", deps.join(", "))
                    },
                    if st.idempotent { " idempotent" } else { "" }
                );
                if let Some(c) = &st.cmd {
                    println!("      $ {c}");
                }
            }
            for c in &rb.postconditions {
                println!("  after: {c}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RunbookCmd::Validate { id } => {
            let mut bad = 0;
            let mut n = 0;
            for (rid, path, text) in ws.disk_runbooks()? {
                if id.as_deref().is_some_and(|want| want != rid) {
                    continue;
                }
                n += 1;
                match bosun_runbook::parse_runbook(&path, &text) {
                    Ok(rb) if rb.id.as_str() == rid => {
                        println!("ok  {path}");
                        for w in bosun_runbook::raw_places(&path, &text, &rb) {
                            eprintln!("warning: {w}");
                        }
                    }
                    Ok(rb) => {
                        bad += 1;
                        eprintln!(
                            "{path}:1:1: its id is `{}`, not the file name `{rid}`",
                            rb.id
                        );
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            if n == 0 {
                return Err(other(match id {
                    Some(i) => format!("no runbook `{i}` in runbooks/"),
                    None => "no runbooks in runbooks/".into(),
                }));
            }
            if bad > 0 {
                return Err(other(format!("{bad} of {n} runbook(s) are invalid")));
            }
            Ok(ExitCode::SUCCESS)
        }
        RunbookCmd::Graph { id, format } => {
            let (path, text) = disk_runbook(&ws, &id)?;
            let rb =
                bosun_runbook::parse_runbook(&path, &text).map_err(|e| other(e.to_string()))?;
            print!(
                "{}",
                if format == "dot" {
                    bosun_runbook::dot(&rb)
                } else {
                    bosun_runbook::mermaid(&rb)
                }
            );
            Ok(ExitCode::SUCCESS)
        }
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
