//! Verification bars (seed 001's five) and their verdicts.
//!
//! A bar runs after a host's change, on that host, over its transport. Its
//! observed result becomes one of three verdicts:
//!
//! | bar         | pass                        | fail                                   | inconclusive                  |
//! |-------------|-----------------------------|----------------------------------------|-------------------------------|
//! | `heartbeat` | `true` ran within `within`  | no answer (unreachable, lost, timeout)  | it answered but `true` failed |
//! | `version`   | output (trimmed) = `expect` | other output, or the command failed     | timeout                       |
//! | `file`      | content (trimmed) = `expect`| other content, missing file, garbage    | timeout                       |
//! | `probe`     | exit 0                      | exit 1, or the host vanished            | any other exit, timeout       |
//! | `burn_in`   | after `hold`, exit 0        | after `hold`, non-zero exit or gone     | timeout                       |
//!
//! An inconclusive bar pauses the rollout for a human's decision instead
//! of guessing.

use serde::{Deserialize, Serialize};

/// One bar as a rollout file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Bar {
    /// The host answers over its transport within a window.
    Heartbeat {
        /// The window (default `60s`).
        #[serde(default)]
        within: Option<String>,
    },
    /// A command's output equals the expected value.
    Version {
        /// The command (a template, like runbook commands).
        cmd: String,
        /// The expected output (a template).
        expect: String,
        /// Kill it after this long (default `60s`).
        #[serde(default)]
        timeout: Option<String>,
    },
    /// A file's (or sysfs value's) content matches the manifest.
    File {
        /// The path on the host (a template).
        path: String,
        /// The expected content (a template).
        expect: String,
        /// Kill the read after this long (default `60s`).
        #[serde(default)]
        timeout: Option<String>,
    },
    /// A probe command: exit 0 passes, exit 1 fails, anything else cannot
    /// decide.
    Probe {
        /// The command (a template).
        cmd: String,
        /// Kill it after this long (default `60s`).
        #[serde(default)]
        timeout: Option<String>,
    },
    /// Hold for a duration, then re-check with a command.
    BurnIn {
        /// How long to hold (`2h`). The timer is durable: it counts from
        /// the bar's recorded start and survives restarts.
        hold: String,
        /// The re-check (default `true`: the host still answers).
        #[serde(default)]
        cmd: Option<String>,
        /// Kill the re-check after this long (default `60s`).
        #[serde(default)]
        timeout: Option<String>,
    },
}

/// Default timeout of a bar's command, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

impl Bar {
    /// The bar's kind as files and `--json` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Bar::Heartbeat { .. } => "heartbeat",
            Bar::Version { .. } => "version",
            Bar::File { .. } => "file",
            Bar::Probe { .. } => "probe",
            Bar::BurnIn { .. } => "burn_in",
        }
    }

    /// The bar's durations, each with the field it came from.
    pub fn durations(&self) -> Vec<(&'static str, &str)> {
        fn opt<'a>(f: &'static str, d: &'a Option<String>) -> Option<(&'static str, &'a str)> {
            d.as_deref().map(|d| (f, d))
        }
        match self {
            Bar::Heartbeat { within } => opt("within", within).into_iter().collect(),
            Bar::Version { timeout, .. }
            | Bar::File { timeout, .. }
            | Bar::Probe { timeout, .. } => opt("timeout", timeout).into_iter().collect(),
            Bar::BurnIn { hold, timeout, .. } => std::iter::once(("hold", hold.as_str()))
                .chain(opt("timeout", timeout))
                .collect(),
        }
    }
}

/// What a bar concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The host meets the bar.
    Pass,
    /// It does not: the rollout halts, the host is drifted, a blocker is
    /// filed.
    Fail,
    /// The bar could not decide: the rollout pauses for a human.
    Inconclusive,
}

impl Verdict {
    /// The name used in output and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// What running a bar's command observed.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// Exit code; `None` when killed, never started or the connection
    /// dropped.
    pub exit_code: Option<i32>,
    /// Killed at its timeout.
    pub timed_out: bool,
    /// The host could not be reached, or the connection was lost.
    pub gone: bool,
    /// Its output (stdout and stderr).
    pub output: &'a str,
}

/// Longest expected value compared, in bytes; anything longer is garbage.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The verdict of a bar of `kind` (expecting `expect` where it compares)
/// on what was observed, with the reason in words.
pub fn verdict(kind: &str, expect: Option<&str>, o: &Observed<'_>) -> (Verdict, String) {
    use Verdict::*;
    let shown = shorten(o.output.trim());
    match kind {
        "heartbeat" => {
            if o.exit_code == Some(0) && !o.gone && !o.timed_out {
                (Pass, "the host answered".into())
            } else if o.gone || o.timed_out || o.exit_code.is_none() {
                (Fail, "no answer from the host".into())
            } else {
                (
                    Inconclusive,
                    format!(
                        "the host answered, but `true` exited {}",
                        o.exit_code.unwrap_or(-1)
                    ),
                )
            }
        }
        "version" | "file" => {
            if o.timed_out && !o.gone {
                return (Inconclusive, "no result before the timeout".into());
            }
            if o.gone {
                return (Fail, "the host vanished".into());
            }
            if o.exit_code != Some(0) {
                return (
                    Fail,
                    format!(
                        "the check exited {}: {shown}",
                        o.exit_code
                            .map_or("without a code".to_string(), |c| c.to_string())
                    ),
                );
            }
            let want = expect.unwrap_or("").trim();
            let got = o.output.trim();
            if got.len() > MAX_VALUE_BYTES {
                (
                    Fail,
                    format!("expected `{want}`, got {} bytes of output", got.len()),
                )
            } else if got == want {
                (Pass, format!("`{got}` as expected"))
            } else {
                (Fail, format!("expected `{want}`, got `{shown}`"))
            }
        }
        "probe" | "burn_in" => match (o.exit_code, o.timed_out, o.gone) {
            (_, _, true) => (Fail, "the host vanished".into()),
            (_, true, _) => (Inconclusive, "no result before the timeout".into()),
            (Some(0), ..) => (Pass, "exit 0".into()),
            (Some(1), ..) => (Fail, with_output("exit 1".into(), &shown)),
            (Some(c), ..) if kind == "burn_in" => (Fail, with_output(format!("exit {c}"), &shown)),
            (Some(c), ..) => (
                Inconclusive,
                with_output(format!("exit {c} is neither pass (0) nor fail (1)"), &shown),
            ),
            (None, ..) => (Inconclusive, "the probe ended without an exit code".into()),
        },
        other => (Inconclusive, format!("unknown bar kind `{other}`")),
    }
}

fn with_output(what: String, shown: &str) -> String {
    if shown.is_empty() {
        what
    } else {
        format!("{what}: {shown}")
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(exit_code: Option<i32>, output: &str) -> Observed<'_> {
        Observed {
            exit_code,
            timed_out: false,
            gone: false,
            output,
        }
    }

    #[test]
    fn version_compares_trimmed_output() {
        assert_eq!(
            verdict("version", Some("7.1"), &obs(Some(0), "7.1\n")).0,
            Verdict::Pass
        );
        assert_eq!(
            verdict("version", Some("7.1"), &obs(Some(0), "7.0\n")).0,
            Verdict::Fail
        );
        assert_eq!(
            verdict("version", Some("7.1"), &obs(Some(1), "")).0,
            Verdict::Fail
        );
        let hung = Observed {
            timed_out: true,
            ..obs(None, "")
        };
        assert_eq!(
            verdict("version", Some("7.1"), &hung).0,
            Verdict::Inconclusive
        );
        let gone = Observed {
            gone: true,
            ..obs(None, "")
        };
        assert_eq!(verdict("version", Some("7.1"), &gone).0, Verdict::Fail);
    }

    #[test]
    fn probe_three_ways() {
        assert_eq!(verdict("probe", None, &obs(Some(0), "")).0, Verdict::Pass);
        assert_eq!(verdict("probe", None, &obs(Some(1), "")).0, Verdict::Fail);
        assert_eq!(
            verdict("probe", None, &obs(Some(3), "")).0,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn heartbeat_fails_without_an_answer() {
        let gone = Observed {
            gone: true,
            ..obs(None, "")
        };
        assert_eq!(verdict("heartbeat", None, &gone).0, Verdict::Fail);
        assert_eq!(
            verdict("heartbeat", None, &obs(Some(0), "")).0,
            Verdict::Pass
        );
    }

    #[test]
    fn bars_parse_by_kind() {
        #[derive(Deserialize)]
        struct W {
            bars: Vec<Bar>,
        }
        let w: W = toml::from_str(
            r#"bars = [{ kind = "heartbeat" }, { kind = "version", cmd = "uname -r", expect = "7.1" }, { kind = "burn_in", hold = "2h" }]"#,
        )
        .unwrap();
        assert_eq!(w.bars.len(), 3);
        assert_eq!(w.bars[2].kind(), "burn_in");
        assert!(
            toml::from_str::<W>(r#"bars = [{ kind = "probe", cmd = "x", bogus = 1 }]"#).is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn verdict_is_total(kind in "[a-z_]{0,10}", exit in proptest::option::of(-5i32..300),
                            t: bool, g: bool, out in "\\PC{0,300}") {
            let o = Observed { exit_code: exit, timed_out: t, gone: g, output: &out };
            let (v, why) = verdict(&kind, Some("x"), &o);
            proptest::prop_assert!(!why.is_empty());
            if g && ["version", "file", "probe", "burn_in", "heartbeat"].contains(&kind.as_str()) {
                proptest::prop_assert_eq!(v, Verdict::Fail);
            }
        }
    }
}
