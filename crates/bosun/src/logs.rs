//! Where logs go: `tracing` events to stderr, each with its time, as text
//! or JSON (`--log-format`), filtered by `RUST_LOG` when it is set and by
//! `-v` otherwise. `serve` logs at `info` by default, other verbs only
//! warnings (their output is what they print, not their logs).

use tracing_subscriber::EnvFilter;

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event: time, level, target, message and fields.
    Text,
    /// One JSON object per event (for log shippers).
    Json,
}

/// The filter of `verbose` `-v`s above `base` (0 warn, 1 info, 2 debug,
/// 3 or more trace), unless `RUST_LOG` says otherwise.
fn filter(base: u8, verbose: u8) -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_default_env() {
        return f;
    }
    let level = match base.saturating_add(verbose) {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    EnvFilter::new(level)
}

/// Sends `tracing` events to stderr for the rest of the run. `base` is
/// the verb's default verbosity (1, `info`, for `serve`).
pub fn init(format: LogFormat, base: u8, verbose: u8) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(base, verbose))
        .with_writer(std::io::stderr);
    // A second subscriber (never in bosun) would only be refused.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
