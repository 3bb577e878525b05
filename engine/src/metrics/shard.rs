//! [`ShardMetrics`]: what one shard records on its request path.

use std::collections::HashMap;
use std::time::Duration;

use sluice_codec::Method;

use super::histogram::{Latency, Unit};
use super::snapshot::MetricsSnapshot;
use super::summary::MetricsSummary;
use super::{method_index, UpstreamErrorKind, METHOD_LABELS};

/// One shard's metrics, owned by the shard's thread.
///
/// Keyed by label strings (route pattern, policy type, upstream name) rather than ids,
/// so the series survive reloads that renumber routes. Recording looks the label up by
/// `&str` and allocates only the first time a label set is seen (a map entry and, for
/// histograms, the counts array, 136 KiB for a duration histogram).
#[derive(Debug)]
pub struct ShardMetrics {
    shard: usize,
    routes: HashMap<Box<str>, RouteMetrics>,
    policies: HashMap<Box<str>, Latency>,
    upstream_errors: HashMap<Box<str>, [u64; UpstreamErrorKind::ALL.len()]>,
    connections: u64,
    /// Every request's duration, all routes together, for [`ShardMetrics::summary`]: one
    /// more record per request spares a merge of every route's histogram each second.
    all_durations: Latency,
}

/// Everything labelled by one route.
#[derive(Debug, Default)]
struct RouteMetrics {
    /// `requests_total` by (index into `METHOD_LABELS`, status).
    requests: HashMap<(u8, u16), u64>,
    /// `None` until the first request completes on this route.
    duration: Option<Latency>,
    /// `None` until the first upstream answer on this route.
    upstream: Option<Latency>,
    rate_limited: u64,
}

impl ShardMetrics {
    /// Empty metrics for shard `shard` (its `shard` label on `sluice_connections`).
    pub fn new(shard: usize) -> Self {
        Self {
            shard,
            routes: HashMap::new(),
            policies: HashMap::new(),
            upstream_errors: HashMap::new(),
            connections: 0,
            all_durations: Latency::new(Unit::Micros),
        }
    }

    /// The shard index given to [`ShardMetrics::new`].
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Counts a finished request in `sluice_requests_total{route,method,status}` and
    /// records `duration` (downstream head received to response sent) in
    /// `sluice_request_duration_seconds{route}`, at µs resolution, clamped to 60 s.
    /// `route` is the route pattern, or [`super::UNMATCHED_ROUTE`]; methods outside the
    /// registered nine count as [`super::OTHER_METHOD`].
    pub fn record_request(
        &mut self,
        route: &str,
        method: &Method,
        status: u16,
        duration: Duration,
    ) {
        let key = (method_index(method), status);
        let micros = duration_micros(duration);
        self.all_durations.record(micros);
        self.with_route(route, |r| {
            *r.requests.entry(key).or_insert(0) += 1;
            r.duration
                .get_or_insert_with(|| Latency::new(Unit::Micros))
                .record(micros);
        });
    }

    /// Records the upstream's share of a request (request sent to response head read)
    /// in `sluice_upstream_duration_seconds{route}`, at µs resolution, clamped to 60 s.
    pub fn record_upstream(&mut self, route: &str, duration: Duration) {
        let micros = duration_micros(duration);
        self.with_route(route, |r| {
            r.upstream
                .get_or_insert_with(|| Latency::new(Unit::Micros))
                .record(micros);
        });
    }

    /// Records one run of a policy op, `nanos` long, in
    /// `sluice_policy_duration_seconds{policy}`; `policy` is the policy type name
    /// (e.g. `"rate-limit"`). Clamped to 60 s.
    pub fn record_policy(&mut self, policy: &str, nanos: u64) {
        if let Some(h) = self.policies.get_mut(policy) {
            h.record(nanos);
            return;
        }
        let mut h = Latency::new(Unit::Nanos);
        h.record(nanos);
        self.policies.insert(policy.into(), h);
    }

    /// Counts one request refused by a rate limit in `sluice_rate_limited_total{route}`.
    pub fn record_rate_limited(&mut self, route: &str) {
        self.with_route(route, |r| r.rate_limited += 1);
    }

    /// Counts one failed upstream call in `sluice_upstream_errors_total{upstream,kind}`;
    /// `upstream` is the upstream's name (or URL for a route's inline upstream).
    pub fn record_upstream_error(&mut self, upstream: &str, kind: UpstreamErrorKind) {
        let i = kind.index();
        if let Some(counts) = self.upstream_errors.get_mut(upstream) {
            counts[i] += 1;
            return;
        }
        let mut counts = [0; UpstreamErrorKind::ALL.len()];
        counts[i] = 1;
        self.upstream_errors.insert(upstream.into(), counts);
    }

    /// Sets `sluice_connections{shard}`: downstream connections this shard holds open.
    pub fn set_connections(&mut self, open: u64) {
        self.connections = open;
    }

    /// An owned copy of everything recorded so far (histograms cloned), to send to the
    /// admin shard. Allocates; call it per scrape or stats tick, not per request.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut snap = MetricsSnapshot::default();
        for (route, r) in &self.routes {
            for (&(method, status), &n) in &r.requests {
                let method = METHOD_LABELS[usize::from(method)];
                snap.add_requests(route, method, status, n);
            }
            if let Some(h) = &r.duration {
                snap.add_request_duration(route, h.clone());
            }
            if let Some(h) = &r.upstream {
                snap.add_upstream_duration(route, h.clone());
            }
            if r.rate_limited > 0 {
                snap.add_rate_limited(route, r.rate_limited);
            }
        }
        for (policy, h) in &self.policies {
            snap.add_policy_duration(policy, h.clone());
        }
        for (upstream, counts) in &self.upstream_errors {
            snap.add_upstream_errors(upstream, counts);
        }
        snap.set_connections(self.shard, self.connections);
        snap
    }

    /// The figures the admin API shows every second: per-route and per-status counts,
    /// rate-limit refusals, connections and one histogram of every request's duration.
    /// Allocates a little (a map entry per route); never clones per-route histograms.
    pub fn summary(&self) -> MetricsSummary {
        let mut s = MetricsSummary {
            connections: self.connections,
            duration: (self.all_durations.count() > 0).then(|| self.all_durations.clone()),
            ..MetricsSummary::default()
        };
        for (route, r) in &self.routes {
            let mut total = 0;
            for (&(_, status), &n) in &r.requests {
                *s.by_status.entry(status).or_default() += n;
                total += n;
            }
            s.by_route.insert(route.to_string(), total);
            s.rate_limited += r.rate_limited;
        }
        s
    }

    /// Runs `f` on `route`'s entry, creating it the first time. One hash look-up on the
    /// hot path; the closure form is what lets the miss branch insert (the borrow from
    /// `get_mut` ends when `f` returns).
    fn with_route(&mut self, route: &str, f: impl FnOnce(&mut RouteMetrics)) {
        if let Some(r) = self.routes.get_mut(route) {
            return f(r);
        }
        let mut r = RouteMetrics::default();
        f(&mut r);
        self.routes.insert(route.into(), r);
    }
}

impl Default for ShardMetrics {
    /// Metrics for shard 0 (tests, benches, single-shard runs).
    fn default() -> Self {
        Self::new(0)
    }
}

/// `d` in whole microseconds, saturating.
fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
