//! The rollout parser (`bosun_fleet::rollout::Rollout::parse`, what
//! `bosun-control::rollout::document::load_def` runs on an adopted
//! `rollouts/<id>.toml`; the seeds' id is `pkg-upgrade`, the stem the
//! target passes), then what a start and the engine read from it.
//!
//! Properties: nothing panics; a rollout that parses survives the JSON
//! round trip of the stored, frozen document unchanged.

#![no_main]

use bosun_fleet::rollout::Rollout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Rollout::parse("adopted rollouts/pkg-upgrade.toml", "pkg-upgrade", text) else {
        return;
    };
    let frozen = serde_json::to_value(&r).unwrap();
    let thawed: Rollout = serde_json::from_value(frozen).unwrap();
    assert_eq!(r, thawed);
    let _ = r.rollback_params();
    for (i, w) in r.waves.iter().enumerate() {
        assert_eq!(r.wave(i), Some(w));
        let _ = w.selectors();
        let _ = w.bake_secs();
        for b in &w.bars {
            let _ = b.kind();
            let _ = b.durations();
        }
    }
});
