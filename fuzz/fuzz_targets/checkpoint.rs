//! The signed checkpoint parsers of bosun-ledger: `Note::parse` (a C2SP
//! signed note: what `ledger verify --trusted`, a git mirror's
//! `checkpoint` file and a proof's checkpoint are read with), the note's
//! signature check, `Checkpoint::parse` (the C2SP tlog-checkpoint body)
//! and `NoteVerifier::parse` (`keys/ledger.vkey`, `--key`, `--witness`).
//!
//! Properties: nothing panics; a parsed note re-encodes to a note that
//! parses equal; a checkpoint body re-encodes to the same text (the parser
//! is strict: one text per checkpoint); a note that verifies under the
//! seed workspace's ledger key is one of the seed checkpoints.

#![no_main]

use std::sync::LazyLock;

use bosun_ledger::{Checkpoint, Note, NoteVerifier};
use libfuzzer_sys::fuzz_target;

const SEEDS: [&str; 4] = [
    include_str!("../seeds/ledger/checkpoint-1.note"),
    include_str!("../seeds/ledger/checkpoint-12.note"),
    include_str!("../seeds/ledger/checkpoint-20.note"),
    include_str!("../seeds/ledger/checkpoint-23.note"),
];

static VERIFIER: LazyLock<NoteVerifier> =
    LazyLock::new(|| NoteVerifier::parse(bosun_fuzz::LEDGER_VKEY).unwrap());

fn body(text: &str) {
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(cp.text(), text, "a checkpoint body has one text");
        assert_eq!(Checkpoint::parse(&cp.text()), Ok(cp));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        body(text);
        if let Ok(v) = NoteVerifier::parse(text) {
            assert_eq!(NoteVerifier::parse(&v.to_string()), Ok(v));
        }
    }
    let Ok(note) = Note::parse(data) else {
        return;
    };
    assert_eq!(Note::parse(note.encode().as_bytes()), Ok(note.clone()));
    body(&note.text);
    if note.verify(std::slice::from_ref(&VERIFIER)).is_ok() {
        assert!(
            SEEDS
                .iter()
                .any(|s| Note::parse(s.as_bytes()).is_ok_and(|n| n.text == note.text)),
            "a note that is not a seed verified: {:?}",
            note.text
        );
    }
});
