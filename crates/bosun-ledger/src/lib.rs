//! The ledger's formats, with no I/O: the Merkle tree of RFC 6962 / RFC 9162
//! (leaf hash `SHA-256(0x00 || entry)`, node hash
//! `SHA-256(0x01 || left || right)`), inclusion and consistency proofs and
//! their verification ([`merkle`]); C2SP signed notes with Ed25519 keys
//! ([`note`]); and C2SP `tlog-checkpoint` bodies ([`checkpoint`]).
//!
//! The store keeps entries and checkpoints; the control crate decides when
//! to sign. Everything here is checked against published vectors: the
//! transparency-dev/merkle proof vectors (`testdata/merkle-vectors`) and the
//! signed notes of the Go `sumdb/note` package and the C2SP specifications.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod merkle;
pub mod note;

pub use checkpoint::Checkpoint;
pub use merkle::{Hash, ProofError};
pub use note::{Note, NoteError, NoteSigner, NoteVerifier};
