//! Metrics history: one [`Sample`] a second, kept for an hour in memory and in the store,
//! so `GET /admin/metrics/history` survives a restart.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use sluice_engine::metrics::MetricsSummary;

use super::{blocking, error, ok, query_pairs, Admin};
use crate::shard::Shard;
use crate::store::{Sample, HISTORY_SECONDS};

/// Samples kept: one an hour's worth.
const CAPACITY: usize = HISTORY_SECONDS as usize;

/// Samples returned when `limit` is not given.
const DEFAULT_LIMIT: usize = 60;

/// Takes a sample every second until shutdown: gathers every shard's figures by message
/// (as `/admin/stats` does) and keeps the difference from the previous second.
pub(super) async fn sampler(admin: Rc<Admin>, shard: Rc<Shard>) {
    let mut previous: Option<(MetricsSummary, u64)> = None;
    while !shard.shutting_down() {
        let gathered = shard.mesh.gather_summaries().await;
        let active_buckets: usize = gathered.iter().map(|(_, b)| b).sum();
        let merged = MetricsSummary::merge_all(gathered.into_iter().map(|(m, _)| m));
        let blocked = blocked(&merged);
        if let Some((before, blocked_before)) = &previous {
            let requests = merged
                .requests_total()
                .saturating_sub(before.requests_total());
            let blocked = blocked.saturating_sub(*blocked_before);
            let sample = Sample {
                timestamp: sluice_engine::context::unix_now() as i64,
                requests,
                allowed: requests.saturating_sub(blocked),
                blocked,
                rate_limited: merged.rate_limited().saturating_sub(before.rate_limited()),
                active_buckets: active_buckets as u64,
                p99_ms: merged.quantile_ms_since(before, 0.99),
            };
            push(&mut admin.history.borrow_mut(), sample);
            if let Some(store) = admin.reloader.store() {
                store.append_history(sample);
            }
        }
        previous = Some((merged, blocked));
        monoio::select! {
            _ = monoio::time::sleep(Duration::from_secs(1)) => {}
            _ = shard.shutdown_signal() => return,
        }
    }
}

/// Requests answered with a 4xx: refused by the gateway or a policy.
pub(super) fn blocked(merged: &MetricsSummary) -> u64 {
    merged
        .requests_by_status()
        .iter()
        .filter(|(s, _)| (400..500).contains(*s))
        .map(|(_, n)| n)
        .sum()
}

fn push(history: &mut VecDeque<Sample>, sample: Sample) {
    if history.len() == CAPACITY {
        history.pop_front();
    }
    history.push_back(sample);
}

/// `GET /admin/metrics/history?limit=60`: the newest `limit` samples, oldest first.
pub(super) fn list(admin: &Admin, query: &str) -> Value {
    let limit = query_pairs(query)
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .min(CAPACITY);
    let history = admin.history.borrow();
    let skip = history.len().saturating_sub(limit);
    Value::Array(history.iter().skip(skip).map(|s| json!(s)).collect())
}

/// `DELETE /admin/metrics/history`: forgets every sample, in memory and on disk.
pub(super) async fn clear(admin: &Admin) -> (u16, Bytes) {
    let cleared = std::mem::take(&mut *admin.history.borrow_mut()).len();
    if let Some(store) = admin.reloader.store().cloned() {
        match blocking(move || store.clear_history()).await {
            Some(Ok(())) => {}
            Some(Err(why)) => {
                return error(
                    500,
                    "store_error",
                    &format!("History not cleared on disk: {why}"),
                )
            }
            None => return error(500, "store_error", "History not cleared on disk"),
        }
    }
    ok(json!({"cleared": cleared}))
}
