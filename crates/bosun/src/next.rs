//! How the CLI spells a [`NextAction`]: the command line that takes it.
//! The only place that turns the domain's next actions into command text.

use bosun_api::NextAction;

/// The command line that takes `a`, with `<placeholders>` for what the
/// reader must choose (who signs: `<you>`, or `<operator>` where only an
/// operator may).
pub fn command(a: &NextAction) -> String {
    let who = match a.needs() {
        Some(bosun_model::Role::Operator) => "<operator>",
        _ => "<you>",
    };
    match a {
        NextAction::Approve { op } => format!("bosun approve {op} --as {who}"),
        NextAction::ReportStep { op, step, host } => format!(
            "bosun step report {op} {}{} --status pass|fail --as {who}",
            step.as_deref().unwrap_or("<step>"),
            host.as_deref()
                .map_or_else(|| " --host <host>".to_string(), |h| format!(" --host {h}"))
        ),
        NextAction::ShowOp { op } => format!("bosun ops show {op}"),
        NextAction::Resume => format!("bosun resume --as {who}"),
        NextAction::StartController => "bosun serve (or bosun work --until-idle)".into(),
        NextAction::ShowBlocker { id } => format!("bosun blockers show {id}"),
        NextAction::ResolveBlocker { id } => format!("bosun blockers resolve {id} --as {who}"),
        NextAction::ListBlockers { all: true } => "bosun blockers list --all".into(),
        NextAction::ListBlockers { all: false } => "bosun blockers list".into(),
        NextAction::BlockerKinds => "bosun blockers kinds".into(),
        NextAction::ListHosts => "bosun hosts list".into(),
        NextAction::ShowHost { host } => format!("bosun hosts show {host}"),
        NextAction::Adopt => format!("bosun adopt --as {who}"),
        NextAction::ApproveProposal { proposal } => {
            format!("bosun adopt --approve {proposal} --as {who}")
        }
        NextAction::NewKey { name, role } => format!(
            "bosun key new {} --role {}",
            name.as_deref().unwrap_or("<name>"),
            role.map_or("operator|agent", |r| r.as_str())
        ),
        NextAction::LedgerVerify { full: true } => "bosun ledger verify --full".into(),
        NextAction::LedgerVerify { full: false } => "bosun ledger verify".into(),
        NextAction::LedgerVerifyTrusted { file } => format!("bosun ledger verify --trusted {file}"),
        NextAction::LedgerCheckpoint => "bosun ledger checkpoint".into(),
        NextAction::LedgerCosign => "bosun ledger cosign --key <witness key>".into(),
        NextAction::RolloutStart { rollout } => format!("bosun rollout start {rollout} --as {who}"),
        NextAction::RolloutStatus { rollout } => format!("bosun rollout status {rollout}"),
        NextAction::RolloutPromote {
            rollout,
            accept_inconclusive,
        } => format!(
            "bosun rollout promote {rollout}{} --as {who}",
            if *accept_inconclusive {
                " --accept-inconclusive"
            } else {
                ""
            }
        ),
        NextAction::RolloutRetry { rollout } => format!("bosun rollout retry {rollout} --as {who}"),
        NextAction::RolloutRollback { rollout } => {
            format!("bosun rollout rollback {rollout} --as {who}")
        }
        NextAction::RolloutAbort { rollout } => format!("bosun rollout abort {rollout} --as {who}"),
        NextAction::RolloutDrill { rollout } => format!("bosun rollout drill {rollout} --as {who}"),
        NextAction::KernelInstall { host } => format!("bosun kernel install {host} --as {who}"),
        NextAction::KernelPromote { host } => {
            format!("bosun patches promote {host} --submit --as {who}")
        }
        NextAction::Init { reinit: true } => "bosun init --reinit".into(),
        NextAction::Init { reinit: false } => "bosun init <dir>".into(),
    }
}

/// `actions` as hint lines (`  next: <command>`), one per action.
pub fn hint_lines(actions: &[NextAction]) -> String {
    actions
        .iter()
        .map(|a| format!("  next: {}\n", command(a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_name_an_operator() {
        assert_eq!(
            command(&NextAction::Approve { op: "abc".into() }),
            "bosun approve abc --as <operator>"
        );
        assert_eq!(
            command(&NextAction::ReportStep {
                op: "abc".into(),
                step: Some("review".into()),
                host: None
            }),
            "bosun step report abc review --host <host> --status pass|fail --as <you>"
        );
    }
}
