//! Progress for long work (`work`, rollouts' waves, `ledger verify`,
//! `ledger mirror`): bars and spinners on stderr, drawn only when stderr
//! is a terminal (indicatif hides them otherwise), so pipes and logs get
//! the plain lines alone.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` steps, `[n/m]` with the run it belongs to.
pub fn steps(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner saying what is under way, for work whose size is unknown.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
