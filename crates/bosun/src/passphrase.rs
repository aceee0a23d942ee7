//! The CLI's [`PassphraseSource`]: the passphrase of a protected key is
//! asked on the terminal, and only when standard input is one; otherwise
//! signing is refused. `--passphrase-file` / `BOSUN_PASSPHRASE_FILE` names
//! a file to read it from instead, **for CI only** (anyone who can read the
//! file, or whose environment names it, can sign as the keys it unlocks:
//! never configure it in an operator's shell, where an agent inherits it).
//!
//! An agent running as the operator's Unix user (in the operator's shell)
//! can read the protected key file but not decrypt it; a command it runs
//! has no terminal on standard input and is refused before any signature.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use bosun_sign::{Passphrase, PassphraseFile, PassphraseRequest, PassphraseSource, SignError};

/// Asks on the terminal, or reads the CI passphrase file when one is set.
pub struct Prompt {
    /// The CI-only passphrase file, if configured.
    pub file: Option<PathBuf>,
}

impl PassphraseSource for Prompt {
    fn passphrase(&self, req: &PassphraseRequest<'_>) -> Result<Passphrase, SignError> {
        if let Some(file) = &self.file {
            return PassphraseFile(file.clone()).passphrase(req);
        }
        if !std::io::stdin().is_terminal() {
            let reason = if req.new_key {
                "there is no terminal to ask for a new passphrase on (standard input is not a \
                 TTY). Run `bosun key new` in a terminal; or keep the key in ssh-agent with \
                 `--ssh-agent`; or, for tests and CI only, pass `--insecure-plaintext`"
            } else {
                "there is no terminal to ask for the passphrase on (standard input is not a \
                 TTY), so only a person at a terminal can sign with it. Run the command \
                 yourself in a terminal (for CI only: `--passphrase-file` / \
                 BOSUN_PASSPHRASE_FILE)"
            };
            return Err(SignError::PassphraseUnavailable {
                name: req.name.into(),
                path: req.path.to_path_buf(),
                reason: reason.into(),
            });
        }
        let tty = |error| SignError::Io {
            action: "read a passphrase from",
            path: PathBuf::from("/dev/tty"),
            error,
        };
        let ask = |prompt: String| rpassword::prompt_password(prompt).map(Passphrase::new);
        if req.new_key {
            let first = ask(format!(
                "new passphrase for bosun key `{}` ({}): ",
                req.name,
                req.path.display()
            ))
            .map_err(tty)?;
            if first.as_str().is_empty() {
                return Err(SignError::BadPassphrase {
                    reason: "it is empty; a protected key needs a passphrase (or use \
                             `--ssh-agent`)"
                        .into(),
                });
            }
            let again = ask("the same passphrase again: ".into()).map_err(tty)?;
            if again.as_str() != first.as_str() {
                return Err(SignError::BadPassphrase {
                    reason: "the two passphrases differ; nothing was written".into(),
                });
            }
            Ok(first)
        } else {
            ask(format!(
                "passphrase for bosun key `{}` ({}): ",
                req.name,
                req.path.display()
            ))
            .map_err(tty)
        }
    }
}
