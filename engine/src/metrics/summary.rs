//! [`MetricsSummary`]: the few figures the admin API shows every second (stats, SSE, the
//! metrics history), without the per-route histograms a Prometheus scrape copies.
//!
//! A full [`super::MetricsSnapshot`] clones two histograms per route (tens of KiB each); at
//! a thousand routes that is tens of MiB copied on every shard's thread per gather, a
//! stall on its request path. A summary is one histogram and a few counters per shard.

use std::collections::BTreeMap;

use super::histogram::Latency;

/// Owned, `Send` totals from one shard ([`super::ShardMetrics::summary`]) or merged from
/// several ([`MetricsSummary::merge`]). `Default` is empty.
#[derive(Debug, Clone, Default)]
pub struct MetricsSummary {
    /// Requests answered, by route pattern.
    pub(super) by_route: BTreeMap<String, u64>,
    /// Requests answered, by status.
    pub(super) by_status: BTreeMap<u16, u64>,
    pub(super) rate_limited: u64,
    pub(super) connections: u64,
    /// Every request's duration, all routes together; `None` before the first request.
    pub(super) duration: Option<Latency>,
}

impl MetricsSummary {
    /// Folds `other` into `self`: every count adds, the histograms add.
    pub fn merge(&mut self, other: MetricsSummary) {
        for (route, n) in other.by_route {
            *self.by_route.entry(route).or_default() += n;
        }
        for (status, n) in other.by_status {
            *self.by_status.entry(status).or_default() += n;
        }
        self.rate_limited += other.rate_limited;
        self.connections += other.connections;
        match (&mut self.duration, other.duration) {
            (Some(mine), Some(theirs)) => mine.add(&theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// All of `summaries` merged into one; empty when there are none.
    pub fn merge_all(summaries: impl IntoIterator<Item = MetricsSummary>) -> MetricsSummary {
        let mut merged = MetricsSummary::default();
        for s in summaries {
            merged.merge(s);
        }
        merged
    }

    /// Requests answered.
    pub fn requests_total(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Requests answered, by route pattern.
    pub fn requests_by_route(&self) -> &BTreeMap<String, u64> {
        &self.by_route
    }

    /// Requests answered, by status.
    pub fn requests_by_status(&self) -> &BTreeMap<u16, u64> {
        &self.by_status
    }

    /// Requests refused by a rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited
    }

    /// Open downstream connections.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Request duration at quantile `q` (0.0..=1.0) over every request, in milliseconds;
    /// `None` before the first request.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let h = self.duration.as_ref().filter(|h| h.count() > 0)?;
        Some(h.quantile(q) as f64 / 1000.0)
    }

    /// Request duration at quantile `q` counting only the requests recorded after
    /// `earlier` (an older summary of the same gateway), in milliseconds. `None` when there
    /// were none, or when `earlier` is not older (counts went down).
    pub fn quantile_ms_since(&self, earlier: &MetricsSummary, q: f64) -> Option<f64> {
        let mut since = self.duration.clone()?;
        if let Some(old) = &earlier.duration {
            if !since.subtract(old) {
                return None;
            }
        }
        (since.count() > 0).then(|| since.quantile(q) as f64 / 1000.0)
    }
}
