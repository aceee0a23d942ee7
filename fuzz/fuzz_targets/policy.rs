//! The keeper policy (`bosun_workspace::PolicyFiles::load`, which runs
//! `bosun_policy::Policy::load` on `policy/keeper.toml` and the
//! `policy/*.cedar` rules, and `bosun_fleet::blockers::Kinds::parse` on
//! `policy/blockers.toml`), as adoption and intake load it.
//!
//! The first byte picks the file the rest replaces in the scaffolded
//! policy (its value modulo 3): `0` keeper.toml, `1` rules.cedar, `2`
//! blockers.toml. Seeds start with the ASCII digit, so they stay text.
//!
//! Properties: nothing panics; the scaffolded policy loads; a policy that
//! loads answers its windows and requirements.

#![no_main]

use std::collections::BTreeMap;

use bosun_workspace::PolicyFiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((pick, text)) = bosun_fuzz::picked_text(data) else {
        return;
    };
    let mut files = PolicyFiles {
        keeper: bosun_policy::DEFAULT_KEEPER_TOML.to_string(),
        cedar: BTreeMap::from([(
            "policy/rules.cedar".to_string(),
            bosun_policy::DEFAULT_CEDAR.to_string(),
        )]),
        blockers: None,
    };
    match pick % 3 {
        0 => files.keeper = text.to_string(),
        1 => {
            files
                .cedar
                .insert("policy/rules.cedar".into(), text.to_string());
        }
        _ => files.blockers = Some(text.to_string()),
    }
    let Ok(policy) = files.load() else {
        return;
    };
    let _ = policy.windows_at(jiff::Timestamp::UNIX_EPOCH);
    let _ = policy.default_requirement();
    for kind in bosun_policy::keeper::ADOPTION_SUBJECT_KINDS {
        let _ = policy.adoption_requirement_for(kind);
    }
    for role in [bosun_model::Role::Operator, bosun_model::Role::Agent] {
        let _ = policy.max_op_lifetime_secs(role);
    }
});
