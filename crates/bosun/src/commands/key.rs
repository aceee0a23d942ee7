//! `bosun key`: create identities (protected, plaintext or in ssh-agent)
//! and list the registered ones.

use std::path::PathBuf;
use std::process::ExitCode;

use bosun_control::{Control, Result};
use bosun_model::Role;
use bosun_workspace::{KeyRegistry, Workspace};
use clap::Subcommand;
use serde_json::json;

use super::{Ctx, key_id, other};
use crate::output::Listing;

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCmd {
    /// Create a key: private part in the key dir (0600), public part registered in keys/.
    ///
    /// An operator key is protected: its private key is encrypted with a
    /// passphrase asked on the terminal (`<name>.key`, OpenSSH's format), or
    /// stays in ssh-agent (`--ssh-agent`). Agent keys are plaintext.
    #[command(
        after_help = "Examples:\n  bosun key new alice --role operator          # asks a passphrase\n  bosun key new claude --role agent --scope 'tag:canary'\n  bosun key new bob --role operator --ssh-agent"
    )]
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
    /// Print a bearer token for the daemon's HTTP API, signed by `name`.
    ///
    /// A token proves who is reading (`Authorization: Bearer …`) and
    /// nothing more: no token can approve, submit or change anything —
    /// every change is an envelope signed for that change. It lives at
    /// most 24 hours. Reads over TCP need one, from loopback too.
    #[command(
        after_help = "Examples:\n  bosun key token claude\n  curl -H \"Authorization: Bearer $(bosun key token alice --ttl 1h)\" http://127.0.0.1:7411/api/v1/status"
    )]
    Token {
        /// The identity (a registered key whose private half is in the key dir).
        name: String,
        /// How long it is valid (`30m`, `12h`; at most `24h`).
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
    /// List registered identities.
    #[command(after_help = "Examples:\n  bosun key list\n  bosun key list --json")]
    List {
        /// Output JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `bosun key …`.
pub(crate) fn run(ctx: &Ctx, cmd: KeyCmd) -> Result<ExitCode> {
    match cmd {
        KeyCmd::New {
            name,
            role,
            scope,
            insecure_plaintext,
            ssh_agent,
            ssh_key,
        } => key_new(
            ctx,
            &name,
            &role,
            &scope,
            KeyStorage::pick(insecure_plaintext, ssh_agent, ssh_key),
        ),
        KeyCmd::List { json: j } => list(ctx, j),
        KeyCmd::Token { name, ttl } => token(ctx, &name, &ttl),
    }
}

/// `bosun key token`: signs a token with `name`'s key and prints it.
fn token(ctx: &Ctx, name: &str, ttl: &str) -> Result<ExitCode> {
    let ttl_secs =
        bosun_model::source::parse_duration(ttl).map_err(|e| other(format!("--ttl {ttl}: {e}")))?;
    let who = key_id(name)?;
    let ctl = ctx.reader()?;
    let key = bosun_control::client::load_secret(&ctx.keys, &who)?;
    let t = ctl.sign_token(&key, &who, ttl_secs, bosun_control::now())?;
    outln!("{t}");
    Ok(ExitCode::SUCCESS)
}

/// `bosun key list`: the keys on disk and in force, and which are adopted.
fn list(ctx: &Ctx, j: bool) -> Result<ExitCode> {
    let ws = Workspace::open(&ctx.workspace)?;
    let ctl = Control::open_read_only(ws.clone())?;
    let adopted = ctl.adopted(bosun_workspace::governed::KEYS_SUBJECT)?;
    let in_force = adopted
        .map(|a| KeyRegistry::from_content(&a.content))
        .transpose()?
        .unwrap_or_default();
    let disk = ws.disk_keys()?;
    let mut list = Listing::new(&["name", "role", "scope", "adopted", "thumbprint"]);
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
        list.push(
            vec![
                name.to_string(),
                e.role.to_string(),
                e.scope.join(","),
                if adopted { "yes" } else { "no" }.into(),
                tp.clone(),
            ],
            json!({"name": name, "role": e.role, "scope": e.scope, "adopted": adopted, "thumbprint": tp}),
        );
    }
    list.print(j);
    Ok(ExitCode::SUCCESS)
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
    outln!(
        "created {role} key `{id}`: private key {} ({how}), public key keys/{id}.jwk",
        path.display()
    );
    outln!("it is not in force until adopted: `bosun adopt --as <operator>`");
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
