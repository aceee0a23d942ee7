//! The checks that refuse an input, by name, and a refusal as data.
//!
//! A face matches on [`Check`], never on message text: the HTTP API maps a
//! check to a status code, the CLI to exit code 3, an agent to "do not
//! retry unchanged".

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! checks {
    ($($(#[$doc:meta])* $v:ident => $s:literal,)*) => {
        /// The check that refused an input (an op, an approval, a report, a
        /// statement, a dispatch).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Check {
            $($(#[$doc])* $v,)*
            /// A check this version does not know by name (read from an
            /// older or newer store).
            #[serde(other)]
            Other,
        }

        impl Check {
            /// Every named check, in declaration order.
            pub const ALL: &'static [Check] = &[$(Check::$v,)*];

            /// The check's name as stored and sent (`plan_digest`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Check::$v => $s,)*
                    Check::Other => "other",
                }
            }

            /// The check named `s`, or [`Check::Other`].
            pub fn parse(s: &str) -> Check {
                match s {
                    $($s => Check::$v,)*
                    _ => Check::Other,
                }
            }
        }
    };
}

checks! {
    /// The input is larger than its limit.
    Size => "size",
    /// The input is not a well-formed envelope or document.
    Format => "format",
    /// The envelope names a key the registry in force does not hold.
    UnknownKey => "unknown_key",
    /// The envelope's type is not the one this verb takes.
    Type => "type",
    /// The signature does not verify.
    Signature => "signature",
    /// The claims are missing, malformed or inconsistent.
    Claims => "claims",
    /// The issuer does not match the key that signed.
    Issuer => "issuer",
    /// The envelope or op has expired.
    Expired => "expired",
    /// The envelope is not valid yet.
    NotYetValid => "not_yet_valid",
    /// The issue time is implausible.
    Iat => "iat",
    /// The validity window is longer than allowed.
    Lifetime => "lifetime",
    /// The envelope belongs to another workspace.
    Workspace => "workspace",
    /// A target host is unknown or not allowed.
    Targets => "targets",
    /// A target is outside the signer's scope.
    Scope => "scope",
    /// The runbook is unknown, not adopted or invalid.
    Runbook => "runbook",
    /// The plan could not be made from the claims.
    Plan => "plan",
    /// The plan's digest does not match the one signed.
    PlanDigest => "plan_digest",
    /// The id was seen before.
    Replay => "replay",
    /// The issuer's sequence number did not increase.
    Seq => "seq",
    /// The issuer's change budget is spent.
    Budget => "budget",
    /// The named op does not exist.
    Op => "op",
    /// The op or run is not in a state that allows the change.
    State => "state",
    /// The approver's role may not approve this.
    ApproverRole => "approver_role",
    /// Nobody approves their own op or proposal.
    SelfApproval => "self_approval",
    /// The signer's role may not do this.
    Role => "role",
    /// The reporter's role may not report this step.
    ReporterRole => "reporter_role",
    /// The step is unknown or not waiting for a report.
    Step => "step",
    /// The verdict is not one a bar can report.
    Verdict => "verdict",
    /// The named adoption proposal does not exist or is closed.
    Proposal => "proposal",
    /// The rollout is unknown, not adopted or not in a state for this.
    Rollout => "rollout",
    /// The blocker is unknown or already resolved.
    Blocker => "blocker",
    /// A host binding no longer matches the inventory in force.
    Inventory => "inventory",
    /// The approvals were given for a plan that has since changed.
    ApprovalsLapsed => "approvals_lapsed",
    /// The store could not answer for this input.
    Store => "store",
    /// The kernel patch tree or a manifest refused the change (a bad
    /// scope or campaign, a file that is not a patch, a closed campaign,
    /// a migration that would lose a path); nothing was written.
    Kernel => "kernel",
    /// A read over the HTTP API came without a valid bearer token.
    Token => "token",
    /// What is adopted changed while the input was decided (an adoption
    /// committed meanwhile): nothing was stored; send it again.
    Adoption => "adoption",
    /// The passkey assertion names a credential the signer does not hold.
    PasskeyCredential => "passkey_credential",
    /// The passkey assertion was made over another challenge: it signs
    /// other claims than the envelope carries.
    PasskeyChallenge => "passkey_challenge",
    /// The passkey assertion was made on another origin or relying party.
    PasskeyOrigin => "passkey_origin",
    /// The browser's client data is not a WebAuthn assertion.
    PasskeyClientData => "passkey_client_data",
    /// The authenticator did not verify the user.
    PasskeyUserVerification => "passkey_user_verification",
    /// The authenticator's counter went backwards.
    PasskeyCounter => "passkey_counter",
    /// This daemon takes no passkey approvals (no web origin), or the
    /// envelope is a passkey one where only Ed25519 signatures are taken.
    PasskeySetup => "passkey_setup",
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Check {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An input a check refused: which check, what it found, and the input's
/// id when it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("rejected by the {check} check: {message}")]
pub struct Rejection {
    /// The check that refused it.
    pub check: Check,
    /// What it found, in words.
    pub message: String,
    /// The input's id (an op's or approval's jti), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_str_parse_and_serde() {
        for c in Check::ALL {
            assert_eq!(Check::parse(c.as_str()), *c);
            let j = serde_json::to_string(c).unwrap();
            assert_eq!(j, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Check>(&j).unwrap(), *c);
        }
        assert_eq!(Check::parse("no-such-check"), Check::Other);
        assert_eq!(
            serde_json::from_str::<Check>("\"from_the_future\"").unwrap(),
            Check::Other
        );
    }
}
