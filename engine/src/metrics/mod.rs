//! Metrics: per-shard counters and latency histograms, merged on scrape and rendered in
//! the Prometheus text format.
//!
//! Each shard owns one [`ShardMetrics`] (plain fields, no atomics, no locks) and records
//! into it on the request path. The admin shard asks every shard for a
//! [`ShardMetrics::snapshot`] (owned and `Send`), folds them with
//! [`MetricsSnapshot::merge`], and renders the result with [`render_prometheus`].
//! The main thread, which alone sees reloads, counts them in a shared [`ConfigReloads`].
//!
//! Label values are bounded by config (route patterns, policy types, upstream names)
//! except the method, which a client chooses: methods outside the nine registered ones
//! are all counted as `_OTHER`, so a client cannot grow the label set.
//!
//! No I/O here: the `shards` crate owns the clock, the sockets and the messages.

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_codec::Method;

mod histogram;
mod prometheus;
mod shard;
mod snapshot;
mod summary;

pub use prometheus::{render_prometheus, ExtraMetric, MetricKind};
pub use shard::ShardMetrics;
pub use snapshot::MetricsSnapshot;
pub use summary::MetricsSummary;

/// Route label for requests that matched no route (404, or refused before routing).
pub const UNMATCHED_ROUTE: &str = "_unmatched";

/// Method label for every method outside the nine registered ones.
pub const OTHER_METHOD: &str = "_OTHER";

/// Why a call to an upstream failed; the `kind` label of `sluice_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpstreamErrorKind {
    /// The TCP connect was refused or failed (`connect`).
    Connect,
    /// Connect, write or read passed its deadline (`timeout`).
    Timeout,
    /// The connection was reset or closed before a full response (`reset`).
    Reset,
    /// The response head was malformed or not allowed (`protocol`).
    Protocol,
    /// The upstream answered with a 5xx status (`status_5xx`).
    Status5xx,
}

/// Config reload outcomes, counted by the main thread and read by the admin shard.
/// Share it in an `Arc`; relaxed atomics, since nothing is ordered by it.
#[derive(Debug, Default)]
pub struct ConfigReloads {
    ok: AtomicU64,
    error: AtomicU64,
}

/// A reading of [`ConfigReloads`]: `sluice_config_reloads_total{result="ok"|"error"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadCounts {
    /// Reloads that compiled and were swapped in.
    pub ok: u64,
    /// Reloads refused (parse, validation or compile error); the old config stayed.
    pub error: u64,
}

impl UpstreamErrorKind {
    /// Every kind, in label order.
    pub const ALL: [UpstreamErrorKind; 5] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Reset,
        UpstreamErrorKind::Protocol,
        UpstreamErrorKind::Status5xx,
    ];

    /// The `kind` label value, e.g. `"status_5xx"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Protocol => "protocol",
            UpstreamErrorKind::Status5xx => "status_5xx",
        }
    }

    /// Position in [`UpstreamErrorKind::ALL`].
    fn index(self) -> usize {
        self as usize
    }
}

impl ConfigReloads {
    /// Zero counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one reload: `ok` true when it was swapped in, false when refused.
    pub fn record(&self, ok: bool) {
        let counter = if ok { &self.ok } else { &self.error };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now; set them on the merged snapshot with
    /// [`MetricsSnapshot::set_config_reloads`] before rendering.
    pub fn counts(&self) -> ReloadCounts {
        ReloadCounts {
            ok: self.ok.load(Ordering::Relaxed),
            error: self.error.load(Ordering::Relaxed),
        }
    }
}

/// Label values for the `method` label, indexed by [`method_index`].
const METHOD_LABELS: [&str; 10] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    OTHER_METHOD,
];

/// Index of `method`'s label in [`METHOD_LABELS`]; every [`Method::Other`] shares one.
fn method_index(method: &Method) -> u8 {
    match method {
        Method::Get => 0,
        Method::Head => 1,
        Method::Post => 2,
        Method::Put => 3,
        Method::Delete => 4,
        Method::Connect => 5,
        Method::Options => 6,
        Method::Trace => 7,
        Method::Patch => 8,
        Method::Other(_) => 9,
    }
}

#[cfg(test)]
mod tests;
