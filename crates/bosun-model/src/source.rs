//! Positions in source files, so that every config and input error can say
//! `file:line:column: what happened`.

/// The 1-based line and column (in characters) of byte `offset` in `text`.
/// An offset past the end, or inside a character, is clamped.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Parses a duration such as `90s`, `15m`, `24h`, `7d` or `1h30m` into
/// seconds. The result is positive.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        if ch == ' ' && digits.is_empty() {
            continue;
        }
        let unit: i64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unexpected character {ch:?}")),
        };
        if digits.is_empty() {
            return Err(format!("unit `{ch}` has no number before it"));
        }
        let n: i64 = digits.parse().map_err(|_| "number too large".to_string())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "too large".to_string())?;
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` has no unit (s, m, h or d)"));
    }
    if total <= 0 {
        return Err("it must be longer than zero".into());
    }
    Ok(total)
}

/// An error located in a source file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct SourceError {
    /// The file, as the user would name it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl SourceError {
    /// An error at byte `offset` of `text`.
    pub fn at(path: &str, text: &str, offset: usize, message: impl Into<String>) -> SourceError {
        let (line, col) = line_col(text, offset);
        SourceError {
            path: path.to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    /// An error about the file as a whole (reported at 1:1).
    pub fn whole(path: &str, message: impl Into<String>) -> SourceError {
        SourceError {
            path: path.to_string(),
            line: 1,
            col: 1,
            message: message.into(),
        }
    }
}

/// Refuses a text over `max_bytes`, before anything parses it.
pub fn check_size(path: &str, text: &str, max_bytes: usize) -> Result<(), SourceError> {
    if text.len() > max_bytes {
        return Err(SourceError::whole(
            path,
            format!(
                "file is {} bytes, over the limit of {max_bytes}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Parses TOML into `T`, turning a parse or type error into a
/// [`SourceError`] that points at the offending line and column. Refuses
/// texts over `max_bytes` before parsing.
pub fn from_toml<T: serde::de::DeserializeOwned>(
    path: &str,
    text: &str,
    max_bytes: usize,
) -> Result<T, SourceError> {
    check_size(path, text, max_bytes)?;
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        SourceError::at(path, text, offset, e.message().trim().to_string())
    })
}

/// Finds the byte offset of the first occurrence of `needle` in `text`, for
/// pointing semantic errors (found after parsing) at a plausible place.
pub fn find_offset(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn toml_errors_are_located() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let e = from_toml::<T>("x.toml", "a = 1\nb = 2\n", 1000).unwrap_err();
        assert_eq!((e.path.as_str(), e.line, e.col), ("x.toml", 2, 1));
        let e = from_toml::<T>("x.toml", "a = \"no\"\n", 1000).unwrap_err();
        assert_eq!(e.line, 1);
        let e = from_toml::<T>("x.toml", "a = 1\n", 3).unwrap_err();
        assert!(e.message.contains("over the limit"));
    }
}
