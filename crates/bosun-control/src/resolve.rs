//! Short ids: a human may name an op or a proposal by an unambiguous
//! prefix of its id, as with a short git hash. Every face resolves what it
//! was given here, in one place, so that the rules are the same
//! everywhere: the exact id always wins; otherwise the prefix must be at
//! least [`MIN_PREFIX`] characters and match exactly one id. An ambiguous
//! prefix is an error that lists the candidates.

use bosun_model::Jti;

use crate::{Control, Result};

/// The fewest characters a prefix must have (an exact id may be shorter).
pub const MIN_PREFIX: usize = 6;

/// At most this many candidates are listed for an ambiguous prefix.
pub const MAX_CANDIDATES: usize = 10;

/// What a short id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// An op (its jti).
    Op,
    /// An adoption proposal.
    Proposal,
}

impl IdKind {
    /// `op` or `proposal`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Op => "op",
            IdKind::Proposal => "proposal",
        }
    }
}

impl std::fmt::Display for IdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a given id names no single op or proposal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not an id, and too short to be a prefix.
    #[error(
        "`{given}` is too short to name {kind_a} {kind}: give its whole id or at least {MIN_PREFIX} characters of it",
        kind_a = article(*kind)
    )]
    TooShort {
        /// What was looked for.
        kind: IdKind,
        /// What was given.
        given: String,
    },
    /// No id starts with it.
    #[error("no {kind} has an id starting with `{given}`")]
    NoMatch {
        /// What was looked for.
        kind: IdKind,
        /// What was given.
        given: String,
    },
    /// More than one id starts with it.
    #[error(
        "`{given}` names more than one {kind}: {}{}; give more characters",
        candidates.iter().map(Jti::as_str).collect::<Vec<_>>().join(", "),
        if *more { ", …" } else { "" }
    )]
    Ambiguous {
        /// What was looked for.
        kind: IdKind,
        /// What was given.
        given: String,
        /// The first [`MAX_CANDIDATES`] ids that start with it.
        candidates: Vec<Jti>,
        /// Whether there are more than those.
        more: bool,
    },
}

fn article(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Op => "an",
        IdKind::Proposal => "a",
    }
}

/// Picks the one id `given` names among `found` (the ids starting with
/// it, in byte order, at most [`MAX_CANDIDATES`] + 1 of them).
pub fn pick(kind: IdKind, given: &str, mut found: Vec<Jti>) -> std::result::Result<Jti, IdError> {
    if found.first().is_some_and(|j| j.as_str() == given) {
        return Ok(found.swap_remove(0));
    }
    if given.chars().count() < MIN_PREFIX {
        return Err(IdError::TooShort {
            kind,
            given: given.to_string(),
        });
    }
    match found.len() {
        0 => Err(IdError::NoMatch {
            kind,
            given: given.to_string(),
        }),
        1 => Ok(found.swap_remove(0)),
        n => {
            found.truncate(MAX_CANDIDATES);
            Err(IdError::Ambiguous {
                kind,
                given: given.to_string(),
                candidates: found,
                more: n > MAX_CANDIDATES,
            })
        }
    }
}

impl Control {
    /// The op `given` names: its whole jti, or an unambiguous prefix of at
    /// least [`MIN_PREFIX`] characters.
    pub fn resolve_op(&self, given: &str) -> Result<Jti> {
        let found = self.store.op_ids_with_prefix(given, MAX_CANDIDATES + 1)?;
        Ok(pick(IdKind::Op, given, found)?)
    }

    /// The proposal `given` names, as [`Control::resolve_op`] does for ops.
    pub fn resolve_proposal(&self, given: &str) -> Result<Jti> {
        let found = self
            .store
            .proposal_ids_with_prefix(given, MAX_CANDIDATES + 1)?;
        Ok(pick(IdKind::Proposal, given, found)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<Jti> {
        v.iter().map(|s| Jti::parse(s).unwrap()).collect()
    }

    #[test]
    fn the_exact_id_wins_even_when_short_or_a_prefix_of_another() {
        assert_eq!(
            pick(IdKind::Op, "op1", ids(&["op1", "op12"]))
                .unwrap()
                .as_str(),
            "op1"
        );
        assert_eq!(
            pick(IdKind::Op, "abcdef", ids(&["abcdef", "abcdefg"]))
                .unwrap()
                .as_str(),
            "abcdef"
        );
    }

    #[test]
    fn short_missing_and_ambiguous_prefixes_are_refused() {
        assert!(matches!(
            pick(IdKind::Op, "01923", ids(&["0192345678"])),
            Err(IdError::TooShort { .. })
        ));
        assert!(matches!(
            pick(IdKind::Op, "019234", vec![]),
            Err(IdError::NoMatch { .. })
        ));
        assert_eq!(
            pick(IdKind::Op, "019234", ids(&["0192345678"]))
                .unwrap()
                .as_str(),
            "0192345678"
        );
        let many: Vec<String> = (0..12).map(|i| format!("019234{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = pick(IdKind::Proposal, "019234", ids(&many)).unwrap_err();
        let IdError::Ambiguous {
            candidates, more, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(candidates.len(), MAX_CANDIDATES);
        assert!(more);
        let text = e.to_string();
        assert!(
            text.contains("01923400, 01923401") && text.contains("proposal"),
            "{text}"
        );
    }
}
