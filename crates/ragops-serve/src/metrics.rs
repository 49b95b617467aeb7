//! Prometheus text exposition (format 0.0.4) of the server's counters and histograms.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A cumulative histogram with fixed upper bounds.
pub(crate) struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum in millionths of the unit.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((v * 1e6).max(0.0) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Every figure `/metrics` shows.
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Search latency in seconds, by mode (bm25, vector, hybrid).
    latency: [Histogram; 3],
    pub(crate) batch: Histogram,
    pub(crate) swaps: AtomicU64,
    pub(crate) swap_errors: AtomicU64,
    /// Refreshes of the followed ref (a file-system event or the poll woke the loop).
    pub(crate) ref_reads: AtomicU64,
}

pub(crate) fn mode_index(mode: ragops_core::Mode) -> usize {
    match mode {
        ragops_core::Mode::Bm25 => 0,
        ragops_core::Mode::Vector => 1,
        ragops_core::Mode::Hybrid => 2,
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            latency: [
                Histogram::new(LATENCY),
                Histogram::new(LATENCY),
                Histogram::new(LATENCY),
            ],
            batch: Histogram::new(BATCH),
            swaps: AtomicU64::new(0),
            swap_errors: AtomicU64::new(0),
            ref_reads: AtomicU64::new(0),
        }
    }

    pub(crate) fn request(&self, route: &'static str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route, status)).or_default() += 1;
        }
    }

    pub(crate) fn error(&self, code: &'static str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    pub(crate) fn latency(&self, mode: ragops_core::Mode, secs: f64) {
        self.latency[mode_index(mode)].observe(secs);
    }

    /// The exposition text; `snapshot` is the served snapshot's id and age in seconds.
    pub(crate) fn render(&self, snapshot: Option<(&str, i64)>) -> String {
        let mut out = String::new();
        out.push_str("# HELP ragops_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE ragops_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "ragops_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP ragops_errors_total Error responses by stable error code.\n");
        out.push_str("# TYPE ragops_errors_total counter\n");
        if let Ok(m) = self.errors.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "ragops_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP ragops_search_seconds Search latency (admission to response) by mode.\n",
        );
        out.push_str("# TYPE ragops_search_seconds histogram\n");
        for (mode, h) in ["bm25", "vector", "hybrid"].iter().zip(&self.latency) {
            h.render(
                &mut out,
                "ragops_search_seconds",
                &format!("mode=\"{mode}\""),
            );
        }
        out.push_str("# HELP ragops_embed_batch_size Queries embedded together.\n");
        out.push_str("# TYPE ragops_embed_batch_size histogram\n");
        self.batch.render(&mut out, "ragops_embed_batch_size", "");
        counter(
            &mut out,
            "ragops_snapshot_swaps_total",
            "Snapshots swapped in after a ref moved.",
            self.swaps.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ragops_snapshot_swap_errors_total",
            "Snapshots the followed ref named that could not be opened.",
            self.swap_errors.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ragops_ref_reads_total",
            "Times the followed ref was read again (a file-system event or the poll).",
            self.ref_reads.load(Ordering::Relaxed),
        );
        if let Some((id, age)) = snapshot {
            out.push_str("# HELP ragops_snapshot_info The snapshot being served (value 1).\n");
            out.push_str("# TYPE ragops_snapshot_info gauge\n");
            let _ = writeln!(out, "ragops_snapshot_info{{snapshot=\"{id}\"}} 1");
            out.push_str(
                "# HELP ragops_snapshot_age_seconds Seconds since the served snapshot was built.\n",
            );
            out.push_str("# TYPE ragops_snapshot_age_seconds gauge\n");
            let _ = writeln!(out, "ragops_snapshot_age_seconds {age}");
        }
        out
    }
}

/// One unlabelled counter with its help and type lines.
fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let m = Metrics::new();
        m.latency(ragops_core::Mode::Vector, 0.004);
        m.latency(ragops_core::Mode::Vector, 0.2);
        m.latency(ragops_core::Mode::Vector, 60.0);
        m.request("/v1/search", 200);
        m.request("/v1/search", 200);
        m.request("/v1/search", 503);
        m.batch.observe(3.0);
        let text = m.render(Some(("20260101T000000000Z-00000001", 42)));
        assert!(text.contains("ragops_search_seconds_bucket{mode=\"vector\",le=\"0.005\"} 1"));
        assert!(text.contains("ragops_search_seconds_bucket{mode=\"vector\",le=\"0.25\"} 2"));
        assert!(text.contains("ragops_search_seconds_bucket{mode=\"vector\",le=\"+Inf\"} 3"));
        assert!(text.contains("ragops_search_seconds_count{mode=\"vector\"} 3"));
        assert!(text.contains("ragops_search_seconds_count{mode=\"bm25\"} 0"));
        assert!(text.contains("ragops_http_requests_total{route=\"/v1/search\",status=\"200\"} 2"));
        assert!(text.contains("ragops_http_requests_total{route=\"/v1/search\",status=\"503\"} 1"));
        assert!(text.contains("ragops_embed_batch_size_bucket{le=\"4\"} 1"));
        assert!(text.contains("ragops_snapshot_age_seconds 42"));
        assert!(text.contains(
            "# TYPE ragops_snapshot_swaps_total counter\nragops_snapshot_swaps_total 0\n"
        ));
    }
}
