//! Signed statements: halt, resume, blocker file / resolve / snooze,
//! snooze, rollout abort and rollout done, and the kernel lifecycle's
//! changes to the patch tree and build jobs (`kernel_acts.rs`). Each is an envelope signed by the acting
//! identity and verified here against the *adopted* key registry; who may
//! make which statement is the policy's (keeper.toml `[statements]`, with
//! safe defaults: anyone may stop work, only operators let it continue).
//! Nothing is decided by a name on the command line or by which key file
//! exists, and the ledger records the verified signer. A refused statement
//! is recorded with its check.
//!
//! Statements are short-lived (at most [`MAX_STATEMENT_SECS`]) and each
//! act is idempotent or bound to the state it changes (a resume names the
//! halt it lifts), so a replayed statement cannot undo a later decision.

use bosun_api::Check;
use bosun_model::{Act, KeyId, Role, StatementClaims};
use bosun_sign::Sign;
use bosun_store::{NewBlocker, OpSummary, StoreError};

use crate::approve::{verify_signed, verify_stamped};
use crate::governed::Governed;
use crate::intake::{Rejected, reject};
use crate::{Control, Result, fresh_jti};

/// Longest a statement may live (`exp - iat`), in seconds.
pub const MAX_STATEMENT_SECS: i64 = 600;

/// What an accepted statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The verified signer.
    pub by: KeyId,
    /// Its role in the adopted registry.
    pub role: Role,
    /// What changed.
    pub effect: Effect,
}

/// The effect of an accepted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The fleet is halted; these ops were in flight.
    Halted {
        /// Ops running when the halt came.
        in_flight: Vec<OpSummary>,
    },
    /// Blocker filed (or the same one, already filed).
    BlockerFiled {
        /// Its number.
        id: u64,
    },
    /// Reminders of these subjects muted.
    Snoozed {
        /// The reminder subjects.
        subjects: Vec<String>,
    },
    /// Done (resume, resolve, blocker snooze, rollout abort).
    Done,
    /// A kernel statement's change (the patch tree, a campaign, build
    /// jobs): what it wrote, moved, pruned.
    Kernel(Box<bosun_api::views::KernelChangeView>),
}

/// The JWS `typ` of the throwaway envelope [`Control::prove_signer`]
/// signs.
const PROOF_TYP: &str = "bosun-proof+jwt";

impl Control {
    /// Proves that `key` is `who`'s key in the adopted registry: signs a
    /// fresh challenge with it and verifies the signature against the
    /// registered public key. Returns `who`'s role. Verbs that sign ops of
    /// their own (the rollout verbs) call it before they change anything,
    /// so a key file that is merely named after an operator proves nothing.
    pub fn prove_signer(&self, gov: &Governed, key: &dyn Sign, who: &KeyId) -> Result<Role> {
        let challenge = serde_json::json!({"jti": fresh_jti()?, "iss": who});
        let env = bosun_sign::sign_compact(key, who.as_str(), PROOF_TYP, &challenge)?;
        match verify_signed::<serde_json::Value>(&gov.keys, &env, PROOF_TYP) {
            Ok((_, role, kid)) if kid == who.as_str() => Ok(role),
            Ok(_) | Err(_) => Err(crate::ControlError::Other(format!(
                "the key at hand does not sign as `{who}`'s key in the adopted registry: refused"
            ))),
        }
    }

    /// Signs a statement of `act` as `iss`, valid for a minute.
    pub fn sign_statement(
        &self,
        key: &dyn Sign,
        iss: &KeyId,
        act: Act,
        now: i64,
    ) -> Result<String> {
        self.signing(key, iss, now).statement(act)
    }

    /// Signs `act` as `who` (its signer from `keys`) and applies it: what
    /// the CLI's operator verbs do.
    pub fn state_as(
        &self,
        keys: &bosun_sign::KeyDir,
        who: &KeyId,
        act: Act,
        now: i64,
    ) -> Result<std::result::Result<Applied, Rejected>> {
        self.state_as_with(keys, who, act, &[], now)
    }

    /// [`Control::state_as`] with the files an import carries.
    pub fn state_as_with(
        &self,
        keys: &bosun_sign::KeyDir,
        who: &KeyId,
        act: Act,
        files: &[(String, Vec<u8>)],
        now: i64,
    ) -> Result<std::result::Result<Applied, Rejected>> {
        let key = crate::client::load_secret(keys, who)?;
        let envelope = self.sign_statement(&key, who, act, now)?;
        self.apply_statement_with(&envelope, files, now)
    }

    /// Verifies a signed statement against the adopted key registry and
    /// the policy, and applies it. Refusals are recorded and returned as
    /// the inner error; nothing changes then.
    pub fn apply_statement(
        &self,
        envelope: &str,
        now: i64,
    ) -> Result<std::result::Result<Applied, Rejected>> {
        self.apply_statement_with(envelope, &[], now)
    }

    /// [`Control::apply_statement`] with the files a `patches_import`
    /// statement names (each by name and digest, in order); other
    /// statements take none.
    pub fn apply_statement_with(
        &self,
        envelope: &str,
        files: &[(String, Vec<u8>)],
        now: i64,
    ) -> Result<std::result::Result<Applied, Rejected>> {
        let gov = self.governed()?;
        let r = match self.check_statement(&gov, envelope, now) {
            Ok((c, _)) if !files.is_empty() && !matches!(c.act, Act::PatchesImport { .. }) => {
                Err(reject(
                    Check::Claims,
                    format!("a `{}` statement carries no files", c.act.verb()),
                    Some(c.jti.to_string()),
                ))
            }
            Ok((c, role)) => self.apply(&gov, c, role, files, now)?,
            Err(rej) => Err(rej),
        };
        if let Err(rej) = &r {
            self.record_refusal(rej, envelope, now)?;
        }
        Ok(r)
    }

    fn check_statement(
        &self,
        gov: &Governed,
        envelope: &str,
        now: i64,
    ) -> std::result::Result<(StatementClaims, Role), Rejected> {
        let (c, role): (StatementClaims, _) =
            verify_stamped(&gov.keys, &self.ws.config.name, envelope, now)?;
        let jti = Some(c.jti.to_string());
        if c.exp.saturating_sub(c.iat) > MAX_STATEMENT_SECS {
            return Err(reject(
                Check::Lifetime,
                format!(
                    "a statement lives at most {MAX_STATEMENT_SECS} s; this one {} s",
                    c.exp.saturating_sub(c.iat)
                ),
                jti,
            ));
        }
        let verb = c.act.verb();
        if !gov.policy.may(role, verb) {
            return Err(reject(
                Check::Role,
                format!(
                    "`{}` is an {role}, and the policy lets no {role} {verb} (keeper.toml [statements])",
                    c.iss
                ),
                jti,
            ));
        }
        Ok((c, role))
    }

    fn apply(
        &self,
        gov: &Governed,
        c: StatementClaims,
        role: Role,
        files: &[(String, Vec<u8>)],
        now: i64,
    ) -> Result<std::result::Result<Applied, Rejected>> {
        let by = c.iss.clone();
        let jti = Some(c.jti.to_string());
        let refuse = |check: Check, m: String| Ok(Err(reject(check, m, jti.clone())));
        let effect = match c.act {
            Act::Halt { why } => Effect::Halted {
                in_flight: crate::controller::halt(self, &why, by.as_str())?,
            },
            Act::Resume { since } => match self.store.halt()? {
                None => return refuse(Check::State, "the fleet is not halted".into()),
                Some(h) if h.since != since => {
                    return refuse(
                        Check::State,
                        format!(
                            "the statement lifts the halt of {since}, but the halt in force is of {} (by {}: {})",
                            h.since, h.by, h.why
                        ),
                    );
                }
                Some(_) => {
                    crate::controller::resume(self, by.as_str())?;
                    Effect::Done
                }
            },
            Act::BlockerFile {
                kind,
                subject,
                reason,
                owner,
            } => Effect::BlockerFiled {
                id: self.file_blocker(
                    &gov.blocker_kinds,
                    NewBlocker {
                        kind,
                        subject,
                        reason,
                        owner,
                        filed_by: by.to_string(),
                        op: None,
                        at: now,
                    },
                )?,
            },
            Act::BlockerResolve { id, how } => {
                if self.store.blocker(id)?.is_none() {
                    return refuse(Check::Blocker, format!("no blocker {id}"));
                }
                match self.store.resolve_blocker(id, by.as_str(), &how, now) {
                    Ok(()) => Effect::Done,
                    Err(StoreError::Conflict(m) | StoreError::NotFound(m)) => {
                        return refuse(Check::State, m);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Act::BlockerSnooze { id, until } => {
                if self.store.blocker(id)?.is_none() {
                    return refuse(Check::Blocker, format!("no blocker {id}"));
                }
                self.store.snooze_blocker(id, until, by.as_str(), now)?;
                Effect::Done
            }
            Act::Snooze { op, until } => {
                if self.store.op(&op)?.is_none() {
                    return refuse(Check::Op, format!("no op with jti `{op}`"));
                }
                // Every wait of the op: its approval and its human steps.
                let prefix = format!("op:{op}:");
                let mut subjects: Vec<String> = self
                    .waiting_on_humans()?
                    .into_iter()
                    .map(|r| r.subject)
                    .filter(|s| s.starts_with(&prefix))
                    .collect();
                if subjects.is_empty() {
                    subjects.push(format!("{prefix}approval"));
                }
                for s in &subjects {
                    self.store.snooze_reminder(s, until, by.as_str(), now)?;
                }
                Effect::Snoozed { subjects }
            }
            Act::WaitSnooze { subject, until } => {
                // Only a wait that is neither an op's nor a blocker's (those
                // have their own acts), and only one that waits now.
                let waits = subject.starts_with("installable:")
                    && self
                        .waiting_on_humans()?
                        .iter()
                        .any(|r| r.subject == subject);
                if !waits {
                    return refuse(
                        Check::State,
                        format!("nothing waits as `{subject}` (see the reminders)"),
                    );
                }
                self.store
                    .snooze_reminder(&subject, until, by.as_str(), now)?;
                Effect::Snoozed {
                    subjects: vec![subject],
                }
            }
            Act::RolloutAbort { id, why } => {
                self.rollout_abort(id.as_str(), by.as_str(), &why)?;
                Effect::Done
            }
            Act::RolloutDone {
                id,
                start,
                accept_inconclusive,
            } => match self.rollout_mark_done(gov, id.as_str(), &start, accept_inconclusive, &by) {
                Ok(()) => Effect::Done,
                // Not done yet, or no longer: the rollout's state refuses.
                Err(e @ (crate::ControlError::Next { .. } | crate::ControlError::Other(_))) => {
                    return refuse(Check::State, e.to_string());
                }
                Err(e) => return Err(e),
            },
            act @ (Act::PatchesImport { .. }
            | Act::PatchesMigrate { .. }
            | Act::CampaignClose { .. }
            | Act::CampaignAbandon { .. }
            | Act::KernelKeep { .. }
            | Act::PrunePause
            | Act::PruneResume { .. }
            | Act::Prune) => match self.kernel_act(&act, Some((&by, role)), files, now)? {
                Ok(v) => Effect::Kernel(Box::new(v)),
                Err((check, m)) => return refuse(check, m),
            },
        };
        Ok(Ok(Applied { by, role, effect }))
    }
}
