//! The seed's "simple lang" for bars 3 and 4: one check a line, read on the
//! installed host after its reboot.
//!
//! ```text
//! /proc/device-tree/model == Pine64 Pinebook Pro     the value (less trailing newlines) is exactly this
//! /sys/module/bes2600/version contains c5x           the value contains this
//! /sys/module/bes2600 exists                         the path exists
//! ```
//!
//! A manifest's `verify:` lines are bar 3 (DTB/sysfs matches the
//! manifest); a `patchset.toml`'s `[probe]` lines, one per patch file, are
//! bar 4. A check is no shell: the path is one of [`READABLE`] (the
//! device tree, devices, modules, a few files of `/proc` about the running
//! kernel; never `/proc/<pid>`, `/proc/self`, `kmsg` or `kcore`), of plain
//! characters with no `.` or `..` component; the value is printable ASCII
//! without quotes, `$`, backquotes or backslashes. The install runbook reads
//! at most 4 KiB of each, with its input closed. A check's value is bound
//! by the lock (each locked patch carries its probe) and named in the
//! install op's plan.

use std::fmt;

/// Longest check line, in bytes.
pub const MAX_CHECK_BYTES: usize = 512;
/// Most checks one bar runs.
pub const MAX_CHECKS: usize = 64;

/// What a check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The value, less its trailing newlines, equals this.
    Equals(String),
    /// The value contains this (non-empty).
    Contains(String),
    /// The path exists.
    Exists,
}

/// One check: a path on the host and what it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The path (`/sys/…` or `/proc/…`).
    pub path: String,
    /// What it must hold.
    pub test: Test,
}

impl fmt::Display for Check {
    /// The canonical line: what the install op's params carry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Test::Equals(v) => write!(f, "{} == {v}", self.path),
            Test::Contains(v) => write!(f, "{} contains {v}", self.path),
            Test::Exists => write!(f, "{} exists", self.path),
        }
    }
}

/// Parses one check line, or says what is wrong with it.
pub fn parse(line: &str) -> Result<Check, String> {
    if line.len() > MAX_CHECK_BYTES {
        return Err(format!("longer than {MAX_CHECK_BYTES} bytes"));
    }
    let line = line.trim();
    let (path, rest) = line.split_once(' ').unwrap_or((line, ""));
    check_path(path)?;
    let rest = rest.trim_start();
    let (word, value) = rest.split_once(' ').unwrap_or((rest, ""));
    let value = value.trim();
    let test = match word {
        "==" => Test::Equals(check_value(value)?),
        "contains" if value.is_empty() => return Err("`contains` needs a value".into()),
        "contains" => Test::Contains(check_value(value)?),
        "exists" if value.is_empty() => Test::Exists,
        "exists" => return Err(format!("`exists` takes no value (got `{value}`)")),
        "" => {
            return Err(
                "no test: write `<path> == <value>`, `contains <value>` or `exists`".into(),
            );
        }
        other => {
            return Err(format!(
                "unknown test `{other}` (known: `==`, `contains`, `exists`)"
            ));
        }
    };
    Ok(Check {
        path: path.to_string(),
        test,
    })
}

/// Parses every line of `lines`, naming the first bad one by index.
pub fn parse_all<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Vec<Check>, String> {
    let mut out = Vec::new();
    for (i, l) in lines.into_iter().enumerate() {
        if out.len() == MAX_CHECKS {
            return Err(format!("more than {MAX_CHECKS} checks"));
        }
        out.push(parse(l).map_err(|e| format!("check {} `{}`: {e}", i + 1, shorten(l)))?);
    }
    Ok(out)
}

/// Where a check may read: the device tree, devices, modules and a few
/// files of `/proc` that describe the running kernel. Not `/proc/<pid>`,
/// `/proc/self` or `/proc/thread-self` (links into the whole system and
/// the reader's own descriptors), not `/proc/kmsg` or `/proc/kcore`.
pub const READABLE: [&str; 10] = [
    "/proc/device-tree/",
    "/sys/firmware/devicetree/",
    "/sys/devices/",
    "/sys/module/",
    "/sys/class/",
    "/sys/bus/",
    "/proc/version",
    "/proc/cmdline",
    "/proc/modules",
    "/proc/cpuinfo",
];

fn check_path(p: &str) -> Result<(), String> {
    let under = |prefix: &str| {
        if prefix.ends_with('/') {
            p.starts_with(prefix) && p.len() > prefix.len()
        } else {
            p == prefix
        }
    };
    if !READABLE.iter().any(|r| under(r)) {
        return Err(format!(
            "`{}` is not a path a check reads (under {})",
            shorten(p),
            READABLE.join(", ")
        ));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "/_.,:@+-".contains(c);
    if let Some(c) = p.chars().find(|c| !plain(*c)) {
        return Err(format!("`{}`: `{c}` is not allowed in a path", shorten(p)));
    }
    if p.split('/')
        .skip(1)
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("`{}`: empty, `.` or `..` component", shorten(p)));
    }
    Ok(())
}

fn check_value(v: &str) -> Result<String, String> {
    let ok = |c: char| c == ' ' || (c.is_ascii_graphic() && !"'\"`$\\".contains(c));
    if let Some(c) = v.chars().find(|c| !ok(*c)) {
        return Err(format!(
            "`{}`: `{}` is not allowed in a value (printable ASCII, no quotes, `$`, backquotes or backslashes)",
            shorten(v),
            if c.is_ascii_graphic() {
                c.to_string()
            } else {
                c.escape_default().to_string()
            }
        ));
    }
    Ok(v.to_string())
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_three_tests_parse_and_print_back() {
        for l in [
            "/proc/device-tree/model == Pine64 Pinebook Pro",
            "/sys/module/bes2600/version contains c5x",
            "/sys/module/bes2600 exists",
            "/proc/version contains 7.0",
        ] {
            assert_eq!(parse(l).unwrap().to_string(), l);
        }
        assert_eq!(
            parse("  /sys/devices/x   ==   7  ").unwrap().test,
            Test::Equals("7".into())
        );
    }

    #[test]
    fn anything_that_is_not_a_plain_read_is_refused() {
        for (l, why) in [
            ("/etc/shadow == x", "not a path a check reads"),
            (
                "/proc/self/root/etc/shadow == x",
                "not a path a check reads",
            ),
            ("/proc/1/environ == x", "not a path a check reads"),
            (
                "/proc/self/fd/0 contains exists",
                "not a path a check reads",
            ),
            ("/proc/kmsg exists", "not a path a check reads"),
            ("/proc/versions exists", "not a path a check reads"),
            ("/sys/kernel/debug/x exists", "not a path a check reads"),
            ("/sys/devices/ exists", "not a path a check reads"),
            ("/sys/devices/../../etc/shadow exists", "`..`"),
            ("/sys/devices/x == $(reboot)", "`$`"),
            ("/sys/devices/x == `id`", "`"),
            ("/sys/devices/x == a'b", "`'`"),
            ("/sys/devices/x;reboot exists", "`;`"),
            ("/sys/devices/x contains", "needs a value"),
            ("/sys/devices/x exists now", "takes no value"),
            ("/sys/devices/x matches y", "unknown test"),
            ("/sys/devices/x", "no test"),
            ("/sys/devices/x == a\tb", "\\t"),
        ] {
            let e = parse(l).unwrap_err();
            assert!(e.contains(why), "{l}: {e}");
        }
        let long = format!("/sys/devices/{} exists", "a".repeat(600));
        assert!(parse(&long).unwrap_err().contains("longer than"));
        let many: Vec<String> = (0..65)
            .map(|i| format!("/sys/devices/x{i} exists"))
            .collect();
        let e = parse_all(many.iter().map(String::as_str)).unwrap_err();
        assert!(e.contains("more than 64"), "{e}");
        let e = parse_all(["/sys/devices/a exists", "/etc/b exists"]).unwrap_err();
        assert!(e.starts_with("check 2 "), "{e}");
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_and_what_it_takes_reads_back(line in "(?s).{0,120}") {
            if let Ok(c) = parse(&line) {
                let again = parse(&c.to_string()).unwrap();
                prop_assert_eq!(again, c);
            }
        }

        #[test]
        fn a_value_never_carries_a_shell_metacharacter(v in "[ -~]{0,40}") {
            if let Ok(c) = parse(&format!("/sys/devices/x == {v}")) {
                let Test::Equals(got) = c.test else { unreachable!() };
                prop_assert!(!got.contains(['\'', '"', '`', '$', '\\']));
            }
        }
    }
}
