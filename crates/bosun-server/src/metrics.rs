//! `/metrics` in the Prometheus text format (version 0.0.4): ops by
//! state, queue depth, the controller lease holder, the ledger's size
//! (read from the store per scrape), and the server's own intake latency
//! histogram (counted in this process since it started). Step durations
//! are a histogram of the steps this process's controller has ended.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Upper bounds of the step duration buckets, in seconds.
const STEP_BUCKETS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

/// A Prometheus histogram: cumulative counts per upper bound, the sum and
/// the count.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, secs: f64) {
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if secs <= *b {
                *c += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What the server counts itself.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    intake_ok: Histogram,
    intake_refused: Histogram,
    steps: Histogram,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            inner: Mutex::new(Inner {
                intake_ok: Histogram::new(&LATENCY_BUCKETS),
                intake_refused: Histogram::new(&LATENCY_BUCKETS),
                steps: Histogram::new(&STEP_BUCKETS),
            }),
        }
    }
}

/// What the store says, read per scrape.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Ops per state.
    pub ops: Vec<(String, u64)>,
    /// Ops queued for the controller.
    pub queue_depth: u64,
    /// The controller holding the lease, if any.
    pub lease_holder: Option<String>,
    /// Entries in the ledger.
    pub ledger_size: u64,
    /// Refusals of unauthenticated input answered but not recorded (past
    /// the budget of `bosun_control::refusals`).
    pub unrecorded_refusals: u64,
}

impl Metrics {
    /// Counts one submission through the API: how long it took and
    /// whether it was accepted.
    pub fn intake(&self, took: Duration, accepted: bool) {
        if let Ok(mut m) = self.inner.lock() {
            let h = if accepted {
                &mut m.intake_ok
            } else {
                &mut m.intake_refused
            };
            h.observe(took.as_secs_f64());
        }
    }

    /// Counts one step ended by this process's controller.
    pub fn step(&self, took: Duration) {
        if let Ok(mut m) = self.inner.lock() {
            m.steps.observe(took.as_secs_f64());
        }
    }

    /// The exposition text.
    pub fn render(&self, s: &Stored) -> String {
        let mut out = String::new();
        out.push_str("# HELP bosun_ops Ops by state.\n# TYPE bosun_ops gauge\n");
        for (state, n) in &s.ops {
            let _ = writeln!(out, "bosun_ops{{state=\"{state}\"}} {n}");
        }
        out.push_str("# HELP bosun_queue_depth Ops queued for the controller.\n# TYPE bosun_queue_depth gauge\n");
        let _ = writeln!(out, "bosun_queue_depth {}", s.queue_depth);
        out.push_str("# HELP bosun_controller_lease Whether a controller holds the lease (holder as label).\n# TYPE bosun_controller_lease gauge\n");
        match &s.lease_holder {
            Some(h) => {
                let _ = writeln!(out, "bosun_controller_lease{{holder=\"{}\"}} 1", escape(h));
            }
            None => out.push_str("bosun_controller_lease{holder=\"\"} 0\n"),
        }
        out.push_str("# HELP bosun_ledger_entries Entries in the ledger.\n# TYPE bosun_ledger_entries gauge\n");
        let _ = writeln!(out, "bosun_ledger_entries {}", s.ledger_size);
        out.push_str("# HELP bosun_refusals_unrecorded_total Refusals of unauthenticated input (no adopted key vouches for it) answered but not recorded, past the recording budget.\n# TYPE bosun_refusals_unrecorded_total counter\n");
        let _ = writeln!(
            out,
            "bosun_refusals_unrecorded_total {}",
            s.unrecorded_refusals
        );
        if let Ok(m) = self.inner.lock() {
            out.push_str("# HELP bosun_intake_seconds Time to answer a submission through the API.\n# TYPE bosun_intake_seconds histogram\n");
            m.intake_ok
                .render(&mut out, "bosun_intake_seconds", "outcome=\"accepted\"");
            m.intake_refused
                .render(&mut out, "bosun_intake_seconds", "outcome=\"refused\"");
            out.push_str("# HELP bosun_step_seconds Duration of the steps this process's controller ended.\n# TYPE bosun_step_seconds histogram\n");
            m.steps.render(&mut out, "bosun_step_seconds", "");
        }
        out
    }
}

/// A label value escaped as the text format asks (backslash, quote,
/// newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.intake(Duration::from_micros(700), true);
        m.intake(Duration::from_millis(30), true);
        m.intake(Duration::from_secs(9), false);
        let text = m.render(&Stored {
            ops: vec![("running".into(), 2)],
            queue_depth: 3,
            lease_holder: Some("host\"1".into()),
            ledger_size: 40,
            unrecorded_refusals: 7,
        });
        assert!(
            text.contains("bosun_refusals_unrecorded_total 7\n"),
            "{text}"
        );
        assert!(text.contains("bosun_ops{state=\"running\"} 2\n"), "{text}");
        assert!(
            text.contains("bosun_controller_lease{holder=\"host\\\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("bosun_intake_seconds_bucket{outcome=\"accepted\",le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("bosun_intake_seconds_bucket{outcome=\"accepted\",le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("bosun_intake_seconds_bucket{outcome=\"refused\",le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("bosun_intake_seconds_count{outcome=\"accepted\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("bosun_step_seconds_count 0\n"), "{text}");
    }
}
