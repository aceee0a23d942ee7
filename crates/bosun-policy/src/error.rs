//! Errors found while loading a policy: each one points at `file:line:column`
//! and says what is wrong and what to do, and [`PolicyErrors`] carries every
//! error found in one load so that the user fixes them all in one pass.

use std::fmt;

/// What kind of problem a [`PolicyError`] is, for callers and tests that
/// need to tell them apart without matching on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A file is larger than the limit, or there are too many policies.
    TooLarge,
    /// `keeper.toml` is not valid TOML or does not have the expected shape
    /// (unknown key, wrong type, missing key).
    Toml,
    /// A value in `keeper.toml` is out of range or malformed (mode,
    /// duration, time zone, role, day, time of day, requirement).
    Keeper,
    /// A `.cedar` file does not parse.
    CedarSyntax,
    /// A Cedar policy does not validate against [`crate::SCHEMA`].
    CedarValidation,
    /// A Cedar policy has a missing, unknown or contradictory annotation
    /// (`@outcome`, `@requirement`, `@reason`, `@id`).
    Annotation,
    /// Two policies have the same id, or two files the same name.
    Duplicate,
    /// A Cedar template (a policy with `?principal`/`?resource` slots).
    Template,
}

/// One problem in one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file, as the caller named it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The policy id, for errors in a Cedar policy.
    pub policy_id: Option<String>,
    /// What kind of problem.
    pub kind: ErrorKind,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl PolicyError {
    /// An error at byte `offset` of `text` (the content of `path`).
    pub(crate) fn at(
        path: &str,
        text: &str,
        offset: usize,
        kind: ErrorKind,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> PolicyError {
        let (line, column) = line_col(text, offset);
        PolicyError {
            path: path.to_string(),
            line,
            column,
            policy_id: None,
            kind,
            message: message.into(),
            help: help.into(),
        }
    }

    /// The same error, naming the policy it is in.
    pub(crate) fn in_policy(mut self, id: &str) -> PolicyError {
        self.policy_id = Some(id.to_string());
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path, self.line, self.column)?;
        if let Some(id) = &self.policy_id {
            write!(f, "policy `{id}`: ")?;
        }
        write!(f, "{}", one_line(&self.message))?;
        if !self.help.is_empty() {
            write!(f, "; {}", one_line(&self.help))?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// Every error found while loading a policy, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl PolicyErrors {
    /// The errors.
    pub fn iter(&self) -> impl Iterator<Item = &PolicyError> {
        self.0.iter()
    }
}

/// Collapses whitespace runs (including newlines) so each error stays on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based line and column of a byte offset: the one shared by every
/// bosun parser (see [`bosun_model::source::line_col`]).
pub use bosun_model::source::line_col;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 1), (1, 2));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_col(t, 6), (2, 3)); // inside é: clamped back
        assert_eq!(line_col(t, 999), (3, 2));
    }

    #[test]
    fn display_is_one_line_per_error() {
        let e = PolicyError::at(
            "policy/keeper.toml",
            "x\ny",
            2,
            ErrorKind::Keeper,
            "bad\nthing",
            "fix it",
        );
        let all = PolicyErrors(vec![e.clone(), e.in_policy("p")]);
        assert_eq!(
            all.to_string(),
            "policy/keeper.toml:2:1: bad thing; fix it\npolicy/keeper.toml:2:1: policy `p`: bad thing; fix it"
        );
    }
}
