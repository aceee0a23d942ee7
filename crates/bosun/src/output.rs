//! The rendering layer: how everything bosun prints reaches the terminal.
//!
//! - Every line goes through `outln!`/`out!` (stdout) or
//!   `errln!` (stderr). A closed stdout (`bosun ops list | head -1`)
//!   ends the program quietly as SIGPIPE ends a C program (status 141 in
//!   a shell), never with a panic; a closed stderr is ignored.
//! - Colour ([`bold`]) only when stdout is a terminal, `NO_COLOR` is unset
//!   and `--color` does not say `never` (`--color always` forces it).
//! - Tables ([`table`]) truncate long cells with an ellipsis and make
//!   control characters visible ([`inert`]).
//! - Times ([`time`]) are RFC 3339 for JSON; JSON shapes of read verbs.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

/// Prints a line to stdout; a closed pipe ends the program quietly.
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints to stdout without a newline; a closed pipe ends the program
/// quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// Prints a line to stderr; a closed stderr is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout. On a closed pipe the program ends as SIGPIPE ends a
/// C program; on another write error it ends with status 1.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        stdout_failed(&e);
    }
}

/// Writes `bytes` to stdout as they are (a generated script or page);
/// a closed pipe ends the program quietly.
pub fn write_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        stdout_failed(&e);
    }
}

/// Writes to stderr, ignoring failure (there is nowhere left to say it).
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Ends the program after stdout failed: quietly, by SIGPIPE, when the
/// reader went away (`| head`); with status 1 and a word on stderr
/// otherwise (a full disk).
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The default action of SIGPIPE (Rust ignores it at start-up, so
        // writes fail instead): the shell sees 128 + 13, as for `cat`.
        let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
        std::process::exit(141);
    }
    write_err(format_args!("error: cannot write to stdout: {e}\n"));
    std::process::exit(1)
}

/// When to write colour escapes (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always, even into a pipe.
    Always,
    /// Never.
    Never,
}

static COLOR: AtomicBool = AtomicBool::new(false);

/// Decides, once at start-up, whether [`bold`] writes escapes.
pub fn set_color(choice: ColorChoice) {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    };
    COLOR.store(on, Ordering::Relaxed);
}

/// `text` in bold when colour is on; as it is otherwise.
pub fn bold(text: &str) -> String {
    if COLOR.load(Ordering::Relaxed) {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Unix seconds as an RFC 3339 UTC time: how JSON shows times.
pub fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// `value` (a JSON object) with its Unix-seconds fields `keys` written as
/// RFC 3339 times, `0` (never) as `null`: how a record the store keeps in
/// seconds is shown in JSON.
pub fn json_times(mut value: Value, keys: &[&str]) -> Value {
    if let Some(o) = value.as_object_mut() {
        for k in keys {
            if let Some(v) = o.get_mut(*k)
                && let Some(t) = v.as_i64()
            {
                *v = if t == 0 { Value::Null } else { json!(time(t)) };
            }
        }
    }
    value
}

/// Unix seconds as people read them: the local date and time to the
/// second with the zone (`2026-12-06 17:04:05 CET`): how tables and
/// sentences show times.
pub fn local(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

/// A duration in milliseconds as people read it: `840 ms`, `3.2 s`,
/// `4m 05s`, `2h 10m`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{}.{} s", ms / 1_000, ms % 1_000 / 100),
        60_000..3_600_000 => format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{}h {:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// The word bosun's JSON uses for a value of a plain enum (`Actor::Human`
/// → `human`, `DepKind::OnSuccess` → `on success`): human output shows
/// words, never Rust's `Debug` forms. Underscores become spaces.
pub fn word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s.replace('_', " "),
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// Writes `text` to stdout and flushes it; a closed pipe ends the
/// program quietly (see [`stdout_failed`]).
///
/// What it prints is made inert first ([`inert`]): the plans, params and
/// diffs it shows come from files and envelopes anyone may have written,
/// and a terminal escape in them must not rewrite what an approver reads.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out
        .write_all(inert(text).as_bytes())
        .and_then(|()| out.flush())
    {
        stdout_failed(&e);
    }
    Ok(())
}

/// As [`emit`], to stderr.
pub fn emit_err(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stderr().lock();
    out.write_all(inert(text).as_bytes())?;
    out.flush()
}

/// `text` with every character that could move the cursor, recolour,
/// erase or reorder what a terminal shows written as a visible escape
/// (`\u{1b}`): C0 and C1 controls but newline and tab, DEL, and the
/// Unicode format characters (bidi overrides and isolates, zero-width
/// ones, the byte-order mark).
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}' | '\u{00ad}')
    };
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if bad(c) {
                    format!("\\u{{{:x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// What a plan does, in words: `read-only` or `changes hosts`, and
/// `, DESTRUCTIVE` when it destroys data.
pub fn plan_kind(plan: &bosun_model::Plan) -> String {
    format!(
        "{}{}",
        if plan.read_only {
            "read-only"
        } else {
            "changes hosts"
        },
        if plan.destructive {
            ", DESTRUCTIVE"
        } else {
            ""
        }
    )
}

/// The widest a table cell is shown, in characters; longer cells end
/// in `…`.
pub const MAX_CELL: usize = 120;

/// `cell` cut to [`MAX_CELL`] characters (the last one `…`), on one line.
fn cell(c: &str) -> String {
    let one_line: String = c.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= MAX_CELL {
        return one_line;
    }
    let mut s: String = one_line.chars().take(MAX_CELL - 1).collect();
    s.push('…');
    s
}

/// Prints rows as an aligned table: cells cut to [`MAX_CELL`], control
/// characters shown, not obeyed.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            let pad = w
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(c.chars().count());
            s.extend(std::iter::repeat_n(' ', pad));
        }
        outln!("{}", inert(s.trim_end()));
    };
    line(&headers.iter().map(|h| h.to_uppercase()).collect::<Vec<_>>());
    for r in &rows {
        line(r);
    }
}

/// A list as both faces show it: a table for people, an array of JSON
/// objects for programs, built row by row together so that they cannot
/// disagree.
pub struct Listing {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    json: Vec<Value>,
}

impl Listing {
    /// An empty list with these column headers.
    pub fn new(headers: &[&'static str]) -> Listing {
        Listing {
            headers: headers.to_vec(),
            rows: Vec::new(),
            json: Vec::new(),
        }
    }

    /// One item: its table cells and its JSON object.
    pub fn push(&mut self, cells: Vec<String>, json: Value) {
        self.rows.push(cells);
        self.json.push(json);
    }

    /// Prints the JSON array (`--json`) or the table.
    pub fn print(self, json: bool) {
        if json {
            outln!("{}", Value::Array(self.json));
        } else {
            table(&self.headers, &self.rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_CELL, cell, duration_ms, inert, word};

    #[test]
    fn durations_and_words_read_as_words() {
        assert_eq!(duration_ms(840), "840 ms");
        assert_eq!(duration_ms(3_250), "3.2 s");
        assert_eq!(duration_ms(245_000), "4m 05s");
        assert_eq!(duration_ms(7_800_000), "2h 10m");
        assert_eq!(word(&bosun_model::DepKind::OnSuccess), "on success");
        assert_eq!(word(&bosun_model::Role::Agent), "agent");
    }

    #[test]
    fn a_long_cell_is_cut_with_an_ellipsis() {
        let long = "x".repeat(70_000);
        let c = cell(&long);
        assert_eq!(c.chars().count(), MAX_CELL);
        assert!(c.ends_with('…'));
        assert_eq!(cell("short"), "short");
        assert_eq!(cell("a\nb"), "a b");
    }

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        assert_eq!(inert("df -h /\n\tok"), "df -h /\n\tok");
        assert_eq!(
            inert("curl x | sh #\r\u{1b}[2K df -h"),
            "curl x | sh #\\u{d}\\u{1b}[2K df -h"
        );
        assert_eq!(
            inert("a\u{202e}b\u{9b}c\u{7f}"),
            "a\\u{202e}b\\u{9b}c\\u{7f}"
        );
    }
}
