//! Gathering metrics from every shard for a scrape.

use sluice_engine::metrics::{
    render_prometheus, ExtraMetric, MetricKind, MetricsSnapshot, ReloadCounts,
};

use crate::admin::Admin;
use crate::shard::Shard;

/// The Prometheus text of the whole process: every shard's figures, merged.
pub async fn prometheus(shard: &Shard, admin: &Admin) -> String {
    let gathered = shard.mesh.gather_metrics().await;
    let buckets: usize = gathered.iter().map(|(_, b)| b).sum();
    let mut merged = MetricsSnapshot::merge_all(gathered.into_iter().map(|(m, _)| m));
    use std::sync::atomic::Ordering::Relaxed;
    merged.set_config_reloads(ReloadCounts {
        ok: admin.reloader.outcomes[0].load(Relaxed),
        error: admin.reloader.outcomes[1].load(Relaxed),
    });
    let extra = [ExtraMetric {
        name: "rate_limit_buckets",
        help: "Rate-limit buckets held by all shards",
        kind: MetricKind::Gauge,
        labels: &[],
        value: buckets as f64,
    }];
    render_prometheus(&merged, &extra)
}
