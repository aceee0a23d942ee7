//! The runbook parser (`bosun_runbook::parse_runbook`), in each syntax.
//!
//! The first byte picks the path the text is parsed under (its low two
//! bits): `0` TOML, `1` YAML, `2` JSON (by extension, as for a file in
//! `runbooks/`), `3` no extension (the syntax is sniffed, as for an
//! adopted runbook). Seeds start with the ASCII digit, so they stay text.
//!
//! Properties: nothing panics; a runbook that parses re-parses from its
//! JSON form to an equal runbook with the same digest ("one meaning and
//! one digest whatever the syntax"), and its graphs render.

#![no_main]

use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 4] = [
    "runbooks/fuzz.toml",
    "runbooks/fuzz.yaml",
    "runbooks/fuzz.json",
    "adopted runbook:fuzz",
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, text)) = bosun_fuzz::picked_text(data) else {
        return;
    };
    let Ok(rb) = bosun_runbook::parse_runbook(PATHS[usize::from(pick & 3)], text) else {
        return;
    };
    let json = serde_json::to_string(&rb).unwrap();
    let again = bosun_runbook::parse_runbook("runbooks/fuzz.json", &json)
        .unwrap_or_else(|e| panic!("a parsed runbook does not re-parse from its JSON {json}: {e}"));
    assert_eq!(rb, again);
    assert_eq!(rb.digest(), again.digest());
    let _ = bosun_runbook::mermaid(&rb);
    let _ = bosun_runbook::dot(&rb);
});
