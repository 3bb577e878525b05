//! Gathering metrics from every shard for a scrape.

use sluice_engine::metrics::{
    render_prometheus, ExtraMetric, MetricKind, MetricsSnapshot, ReloadCounts,
};

use crate::admin::Admin;
use crate::shard::Shard;

/// The Prometheus text of the whole process: every shard's figures, merged.
pub async fn prometheus(shard: &Shard, admin: &Admin) -> String {
    let mut merged = MetricsSnapshot::merge_all(shard.mesh.gather_metrics().await);
    use std::sync::atomic::Ordering::Relaxed;
    merged.set_config_reloads(ReloadCounts {
        ok: admin.reloader.outcomes[0].load(Relaxed),
        error: admin.reloader.outcomes[1].load(Relaxed),
    });
    let buckets = shard.state.limiter.borrow().owned_len() as f64;
    let extra = [ExtraMetric {
        name: "rate_limit_buckets",
        help: "Rate-limit buckets owned by the admin shard",
        kind: MetricKind::Gauge,
        labels: &[],
        value: buckets,
    }];
    render_prometheus(&merged, &extra)
}
