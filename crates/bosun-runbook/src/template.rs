//! Templates: how a runbook's commands are rendered, and why a param's
//! value can never become shell code.
//!
//! Every `{{ … }}` interpolation in a shell command is quoted for a POSIX
//! shell by the environment's formatter (an auto-escape for the shell, as
//! HTML templates escape for HTML): a value made only of characters no
//! shell treats specially (`[A-Za-z0-9_@%+=:,./-]`) is written as it is,
//! anything else as one single-quoted word. Numbers and booleans (typed
//! `int` and `bool` params) are written as numbers and booleans.
//!
//! `| raw` opts out: the value is pasted as it is. A runbook that writes
//! `raw` anywhere in a tag can never run without a human
//! ([`raw_uses`]), whatever the policy says, and `runbook validate` and
//! `policy lint` name the place. Minijinja's own `safe`, `escape` and
//! `tojson` filters do *not* opt out here: only the [`Raw`] value that
//! `| raw` makes is written unquoted.
//!
//! A quoted word is one word only where the shell reads it unquoted, so an
//! interpolation inside shell quotes in the template (`"{{ params.x }}"`,
//! `'{{ params.x }}'`, `$'…'`, backquotes, an unquoted here-document) is
//! refused when the runbook is loaded ([`quoted_interpolations`]); inside
//! `"$( … )"` it is unquoted again and fine. Inside shell arithmetic
//! (`$(( … ))`, `(( … ))`) only an `int` param may be interpolated
//! ([`arithmetic_interpolations`]). What the scanner does not model is the
//! author's to avoid: a value handed to a shell that reads it again
//! (`sh -c`, `eval`, `ssh host …`) or compared with `-eq` inside `[[ … ]]`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, Output, State};

/// What a template renders: a shell command (quoted interpolations) or
/// plain text (a bar's expected value, compared, never run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every interpolation is one shell word unless `| raw`.
    Shell,
    /// Interpolations are written as they are.
    Text,
}

/// A value that `| raw` let through unquoted.
#[derive(Debug)]
pub struct Raw(String);

impl Object for Raw {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn raw(v: Value) -> Value {
    if v.downcast_object_ref::<Raw>().is_some() {
        return v;
    }
    Value::from_object(Raw(v.to_string()))
}

/// `quote` is kept for runbooks written before every interpolation was
/// quoted: it returns the value unchanged and the formatter quotes it
/// once.
fn quote(v: Value) -> Value {
    match v.downcast_object_ref::<Raw>() {
        Some(r) => Value::from(r.0.clone()),
        None => v,
    }
}

/// Characters a POSIX shell never treats specially (Python's
/// `shlex.quote` leaves the same ones alone).
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
}

/// `v` as one shell word: unchanged when every character is plain,
/// otherwise `'…'` with every `'` written as `'\''`.
pub fn shell_quote(v: &str) -> String {
    if !v.is_empty() && v.chars().all(is_plain) {
        return v.to_string();
    }
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn shell_formatter(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    if let Some(r) = value.downcast_object_ref::<Raw>() {
        return out.write_str(&r.0).map_err(Error::from);
    }
    let text = match value.kind() {
        ValueKind::Number => value.to_string(),
        // As the shell and the `bool` param write them (Jinja would say
        // `True`).
        ValueKind::Bool => (if value.is_true() { "true" } else { "false" }).to_string(),
        _ => shell_quote(&value.to_string()),
    };
    out.write_str(&text).map_err(Error::from)
}

fn text_formatter(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    if let Some(r) = value.downcast_object_ref::<Raw>() {
        return out.write_str(&r.0).map_err(Error::from);
    }
    write!(out, "{value}").map_err(Error::from)
}

/// The template environment: Jinja syntax, strict about undefined values,
/// no loader (no files), the `raw` and `quote` filters, and the formatter
/// of `mode`. The builtin filters that make "safe" strings (`safe`,
/// `escape`, `e`, `tojson`) are removed: no value is written unquoted but
/// through `| raw`.
pub fn template_env(mode: Mode) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for f in ["safe", "escape", "e", "tojson", "urlencode"] {
        env.remove_filter(f);
    }
    env.add_filter("raw", raw);
    env.add_filter("quote", quote);
    match mode {
        Mode::Shell => env.set_formatter(shell_formatter),
        Mode::Text => env.set_formatter(text_formatter),
    }
    env
}

/// A piece of template source: literal text, or a tag (`{{ … }}`,
/// `{% … %}`, `{# … #}`) with its byte offset in the template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Expr { body: &'a str, at: usize },
    Stmt { body: &'a str, at: usize },
}

/// Splits a template into literal text and tags (an unclosed tag is the
/// rest of the text; the template parser reports it).
fn pieces(tpl: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(off) = tpl[rest..].find('{') {
        let start = rest + off;
        let close = match tpl.get(start + 1..start + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            Some("#") => "#}",
            _ => {
                out.push(Piece::Text(&tpl[rest..start + 1]));
                rest = start + 1;
                continue;
            }
        };
        out.push(Piece::Text(&tpl[rest..start]));
        let body_start = start + 2;
        let end = find_close(&tpl[body_start..], close).map_or(tpl.len(), |e| body_start + e);
        let body = &tpl[body_start..end];
        match close {
            "}}" => out.push(Piece::Expr { body, at: start }),
            "%}" => out.push(Piece::Stmt { body, at: start }),
            _ => {}
        }
        rest = (end + close.len()).min(tpl.len());
    }
    out.push(Piece::Text(&tpl[rest..]));
    out
}

/// Where `close` (`}}`, `%}`) ends a tag body, skipping Jinja string
/// literals (`"}}"` inside a string does not end the tag).
fn find_close(body: &str, close: &str) -> Option<usize> {
    let b = body.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, c @ (b'"' | b'\'')) if !close.starts_with('#') => quote = Some(c),
            (None, _) if b[i..].starts_with(close.as_bytes()) => return Some(i),
            (None, _) => {}
        }
        i += 1;
    }
    None
}

/// Whether a tag's body uses the `raw` filter (the word `raw` not after a
/// `.`, so `params.raw` is a param, not the filter). `{% raw %}` blocks
/// (literal text) are not an opt-out.
fn uses_raw(body: &str) -> bool {
    let t = body.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
    if t == "raw" || t == "endraw" {
        return false;
    }
    let b = body.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    body.match_indices("raw").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + 3).copied();
        !before.is_some_and(|c| word(c) || c == b'.') && !after.is_some_and(word)
    })
}

/// Byte offsets (in `tpl`) of every tag that uses `| raw`.
pub fn raw_uses(tpl: &str) -> Vec<usize> {
    pieces(tpl)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Expr { body, at } | Piece::Stmt { body, at } if uses_raw(body) => Some(at),
            _ => None,
        })
        .collect()
}

/// Shell quoting state while reading a command's literal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Unquoted (the command line, or inside `$( … )`); the count is the
    /// open parentheses since the context began.
    Bare(u32),
    Single,
    Double,
    /// The body of a here-document with an unquoted delimiter (`<<EOF`):
    /// the shell expands `$( … )` in it, so a quoted word is no protection.
    /// Taken to last to the end of the template.
    Heredoc,
    /// `$'…'` (bash's ANSI-C quoting).
    Ansi,
    /// `` `…` ``: a command substitution whose text the shell reads again.
    Backtick,
    /// `$(( … ))` or `(( … ))`: bash evaluates a word here as an
    /// arithmetic expression, quoted or not (`a[$(cmd)]` runs `cmd`); the
    /// count is the open parentheses inside.
    Arith(u32),
}

/// Byte offsets of `{{ … }}` interpolations that sit inside shell quotes
/// (`"…"` or `'…'`) of the template's literal text, or in the body of a
/// here-document whose delimiter is unquoted (`<<EOF`), where a quoted
/// word would not be one word. `"$( … )"` starts an unquoted context again.
/// Interpolations with `| raw` are the author's own business and not
/// listed.
pub fn quoted_interpolations(tpl: &str) -> Vec<usize> {
    interpolations(tpl)
        .into_iter()
        .filter(|(_, body, ctx)| !matches!(ctx, Ctx::Bare(_) | Ctx::Arith(_)) && !uses_raw(body))
        .map(|(at, _, _)| at)
        .collect()
}

/// The `{{ … }}` interpolations inside shell arithmetic (`$(( … ))`,
/// `(( … ))`), with their offsets and bodies: only an `int` param is safe
/// there (bash evaluates a quoted string as an expression, and
/// `a[$(cmd)]` runs `cmd`).
pub fn arithmetic_interpolations(tpl: &str) -> Vec<(usize, &str)> {
    interpolations(tpl)
        .into_iter()
        .filter(|(_, body, ctx)| matches!(ctx, Ctx::Arith(_)) && !uses_raw(body))
        .map(|(at, body, _)| (at, body))
        .collect()
}

/// Every `{{ … }}` of `tpl` with its offset, body and the shell context
/// it sits in.
fn interpolations(tpl: &str) -> Vec<(usize, &str, Ctx)> {
    let mut stack = vec![Ctx::Bare(0)];
    let mut out = Vec::new();
    for p in pieces(tpl) {
        match p {
            Piece::Text(t) => read_shell(t, &mut stack),
            Piece::Expr { body, at } => {
                out.push((at, body, stack.last().copied().unwrap_or(Ctx::Bare(0))));
            }
            Piece::Stmt { .. } => {}
        }
    }
    out
}

fn read_shell(t: &str, stack: &mut Vec<Ctx>) {
    let mut chars = t.chars().peekable();
    // Whether the last character ended a word (a `#` there starts a comment).
    let mut word_start = true;
    while let Some(c) = chars.next() {
        let top = stack.last().copied().unwrap_or(Ctx::Bare(0));
        let starts_word = word_start;
        word_start = c.is_whitespace() || ";&|()".contains(c);
        match (top, c) {
            (Ctx::Heredoc, _) => {}
            (Ctx::Single, '\'') => {
                stack.pop();
            }
            (Ctx::Single, _) => {}
            (Ctx::Ansi, '\\') => {
                chars.next();
            }
            (Ctx::Ansi, '\'') => {
                stack.pop();
            }
            (Ctx::Ansi, _) => {}
            (Ctx::Bare(_), '#') if starts_word => {
                // A comment: the shell ignores the rest of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        word_start = true;
                        break;
                    }
                }
            }
            (Ctx::Bare(_), '<') if chars.peek() == Some(&'<') => {
                chars.next();
                if chars.peek() == Some(&'<') {
                    chars.next(); // `<<<`: a here-string takes one word
                    continue;
                }
                while chars
                    .peek()
                    .is_some_and(|&c| c == '-' || c == ' ' || c == '\t')
                {
                    chars.next();
                }
                if !matches!(chars.peek(), Some('\'' | '"' | '\\')) {
                    stack.push(Ctx::Heredoc);
                }
            }
            (_, '\\') => {
                chars.next();
            }
            (Ctx::Backtick, '`') => {
                stack.pop();
            }
            (Ctx::Bare(_) | Ctx::Double, '`') => stack.push(Ctx::Backtick),
            (Ctx::Double, '"') => {
                stack.pop();
            }
            (Ctx::Arith(n), '(') => {
                if let Some(top) = stack.last_mut() {
                    *top = Ctx::Arith(n + 1);
                }
            }
            (Ctx::Arith(n), ')') => {
                if n > 0 {
                    if let Some(top) = stack.last_mut() {
                        *top = Ctx::Arith(n - 1);
                    }
                } else {
                    if chars.peek() == Some(&')') {
                        chars.next();
                    }
                    stack.pop();
                }
            }
            (Ctx::Arith(_), _) => {}
            (Ctx::Bare(_) | Ctx::Double, '$')
                if {
                    let mut look = chars.clone();
                    look.next() == Some('(') && look.next() == Some('(')
                } =>
            {
                chars.next();
                chars.next();
                stack.push(Ctx::Arith(0));
            }
            (Ctx::Bare(_), '(') if starts_word && chars.peek() == Some(&'(') => {
                chars.next();
                stack.push(Ctx::Arith(0));
            }
            (Ctx::Bare(_), '$') if chars.peek() == Some(&'\'') => {
                chars.next();
                stack.push(Ctx::Ansi);
            }
            (Ctx::Bare(_), '\'') => stack.push(Ctx::Single),
            (Ctx::Bare(_), '"') => stack.push(Ctx::Double),
            (_, '$') if chars.peek() == Some(&'(') => {
                chars.next();
                stack.push(Ctx::Bare(0));
            }
            (Ctx::Bare(n), '(') => {
                if let Some(top) = stack.last_mut() {
                    *top = Ctx::Bare(n + 1);
                }
            }
            (Ctx::Bare(n), ')') => {
                if n > 0 {
                    if let Some(top) = stack.last_mut() {
                        *top = Ctx::Bare(n - 1);
                    }
                } else if stack.len() > 1 {
                    stack.pop();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(tpl: &str, x: &str) -> String {
        template_env(Mode::Shell)
            .render_str(tpl, minijinja::context! { x => x, n => 7, b => true })
            .unwrap()
    }

    #[test]
    fn every_interpolation_is_one_shell_word() {
        for v in [
            "plain",
            "it's",
            "a b",
            "$(reboot)",
            "`id`",
            "'\\''",
            "",
            "x\ny",
            ".; touch pwned",
            "-rf",
        ] {
            let cmd = format!("printf %s {}", render("{{ x }}", v));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), v, "{cmd}");
        }
        assert_eq!(render("du -sh {{ x }}", "/var/log"), "du -sh /var/log");
        assert_eq!(render("echo {{ x | quote }}", "it's"), "echo 'it'\\''s'");
        assert_eq!(render("sleep {{ n }} {{ b }}", ""), "sleep 7 true");
    }

    #[test]
    fn only_raw_writes_a_value_as_it_is() {
        assert_eq!(render("{{ x | raw }}", "a; b"), "a; b");
        for f in ["safe", "escape", "e", "tojson", "urlencode"] {
            let tpl = format!("{{{{ x | {f} }}}}");
            match template_env(Mode::Shell).render_str(&tpl, minijinja::context! { x => "a; b" }) {
                Ok(s) => panic!("`{f}` rendered {s}"),
                Err(e) => assert!(e.to_string().contains("unknown filter"), "{e}"),
            }
        }
        // A filter applied after raw makes an ordinary, quoted value.
        assert_eq!(render("{{ x | raw | upper }}", "a b"), "'A B'");
        assert_eq!(
            render("{% filter raw %}{{ x }}{% endfilter %}", "a b"),
            "'a b'"
        );
        let text = template_env(Mode::Text)
            .render_str("{{ x }}", minijinja::context! { x => "a b" })
            .unwrap();
        assert_eq!(text, "a b");
    }

    #[test]
    fn raw_is_found_wherever_a_tag_uses_it() {
        assert_eq!(raw_uses("a {{ x | raw }}"), vec![2]);
        assert_eq!(raw_uses("{% filter raw %}x{% endfilter %}"), vec![0]);
        assert_eq!(raw_uses("{{x|raw}}{{ params.raw }}{{ rawx }}"), vec![0]);
        assert!(raw_uses("{% raw %}{{ x }}{% endraw %} raw text").is_empty());
        // A `}}` inside a string literal does not end the tag early.
        assert_eq!(raw_uses("echo {{ [\"}}\", params.x|raw][1] }}"), vec![5]);
    }

    #[test]
    fn interpolations_inside_shell_quotes_are_found() {
        assert_eq!(quoted_interpolations("echo \"{{ x }}\""), vec![6]);
        assert_eq!(quoted_interpolations("echo '{{ x }}'"), vec![6]);
        assert!(quoted_interpolations("echo {{ x }} 'lit' \"lit\" {{ x }}").is_empty());
        assert!(quoted_interpolations("test \"$(cat pkgs/{{ x }}.version)\" = {{ x }}").is_empty());
        assert_eq!(
            quoted_interpolations("test \"$(cat (a) {{ x }})\" = \"{{ x }}\""),
            vec![29]
        );
        assert!(quoted_interpolations("echo \\\"{{ x }}").is_empty());
        // An unquoted here-document expands `$( … )`; a quoted one does not,
        // and a here-string is one word.
        assert_eq!(quoted_interpolations("cat <<EOF\n{{ x }}\nEOF"), vec![10]);
        assert_eq!(quoted_interpolations("cat <<-END\n{{ x }}\nEND"), vec![11]);
        assert!(quoted_interpolations("cat <<'EOF'\n{{ x }}\nEOF").is_empty());
        assert!(quoted_interpolations("cat <<< {{ x }}").is_empty());
        // A `#` comment's apostrophe is no quote; `$'…'` and backquotes are
        // contexts of their own.
        assert_eq!(
            quoted_interpolations("echo hi # don't\necho '{{ x }}'"),
            vec![22]
        );
        assert!(quoted_interpolations("echo a#b {{ x }}").is_empty());
        assert_eq!(quoted_interpolations("echo $'\\''x'{{ x }}'"), vec![12]);
        assert_eq!(quoted_interpolations("echo `echo {{ x }}`"), vec![11]);
        // Arithmetic is a context of its own: only int params belong there.
        assert!(quoted_interpolations("echo $(( {{ x }} + 1 ))").is_empty());
        assert_eq!(
            arithmetic_interpolations("echo $(( {{ x }} + (2) )) {{ y }}"),
            vec![(9, " x ")]
        );
        assert_eq!(
            arithmetic_interpolations("(( n = {{ x }} )); echo \"$(( {{ y }} ))\""),
            vec![(7, " x "), (29, " y ")]
        );
        assert!(arithmetic_interpolations("echo $( ( {{ x }} ) )").is_empty());
        assert!(quoted_interpolations("echo \"{{ x | raw }}\"").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn scanning_any_text_never_panics(s in "\\PC{0,200}") {
            let _ = raw_uses(&s);
            let _ = quoted_interpolations(&s);
            let _ = arithmetic_interpolations(&s);
        }

        #[test]
        fn any_value_renders_as_one_word(v in "\\PC{0,40}") {
            let rendered = render("{{ x }}", &v);
            // One word: no unquoted blank, ; | & $ ` or newline outside quotes.
            let mut stack = vec![Ctx::Bare(0)];
            read_shell(&rendered, &mut stack);
            proptest::prop_assert_eq!(stack.len(), 1, "{}", rendered);
            if !rendered.starts_with('\'') {
                proptest::prop_assert!(rendered.chars().all(is_plain), "{}", rendered);
            }
        }
    }
}
