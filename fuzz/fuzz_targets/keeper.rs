//! The keeper's TOML files on their own, without Cedar (which makes the
//! `policy` target a thousand times slower): `policy/keeper.toml`
//! (`bosun_policy::keeper::parse_keeper`, which `Policy::load` runs
//! first) and `policy/blockers.toml` (`bosun_fleet::blockers::Kinds::parse`).
//!
//! The first byte picks the file (its low bit): `0` keeper.toml, `1`
//! blockers.toml. Seeds start with the ASCII digit, so they stay text.
//!
//! Properties: nothing panics; a keeper that parses answers its
//! requirements; blocker kinds that parse answer `get` for each of theirs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((pick, text)) = bosun_fuzz::picked_text(data) else {
        return;
    };
    if pick & 1 == 0 {
        let Ok(k) = bosun_policy::keeper::parse_keeper("policy/keeper.toml", text) else {
            return;
        };
        for kind in bosun_policy::keeper::ADOPTION_SUBJECT_KINDS {
            let _ = k.adoption_for(kind);
        }
    } else {
        let Ok(kinds) = bosun_fleet::blockers::Kinds::parse("policy/blockers.toml", text) else {
            return;
        };
        for k in &kinds.kinds {
            assert_eq!(kinds.get(&k.name), Some(k), "kind `{}`", k.name);
        }
    }
});
