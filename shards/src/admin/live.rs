//! Live figures gathered from every shard by message: `/admin/stats`, `/admin/sse` and the
//! rate-limit buckets.

use std::time::Duration;

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use serde_json::{json, Value};

use super::query_pairs;
use crate::mesh::{BucketAnswer, BucketOp};
use crate::shard::Shard;

pub(super) fn removed(answers: Vec<BucketAnswer>) -> usize {
    answers
        .into_iter()
        .map(|a| match a {
            BucketAnswer::Removed(n) => n,
            BucketAnswer::List(_) => 0,
        })
        .sum()
}

/// `GET /admin/rate-limit/buckets?limit&sort=tokens|last_activity`: owned buckets of every
/// shard (fewest tokens first, or most recently active first, the default).
pub(super) async fn buckets(shard: &Shard, query: &str) -> Value {
    let mut limit = 100usize;
    let mut by_tokens = false;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "limit" => limit = v.parse().unwrap_or(100).min(100_000),
            "sort" => by_tokens = v == "tokens",
            _ => {}
        }
    }
    let mut all: Vec<(usize, String, u64, u64)> = Vec::new();
    let answers = shard.mesh.on_buckets(BucketOp::List).await;
    for (shard_id, answer) in answers.into_iter().enumerate() {
        if let BucketAnswer::List(list) = answer {
            all.extend(list.into_iter().map(|(k, t, idle)| (shard_id, k, t, idle)));
        }
    }
    if by_tokens {
        all.sort_by_key(|b| b.2);
    } else {
        all.sort_by_key(|b| b.3);
    }
    Value::Array(
        all.into_iter()
            .take(limit)
            .map(|(s, key, tokens, idle)| {
                json!({"key": key, "tokens": tokens, "idle_seconds": idle, "shard": s})
            })
            .collect(),
    )
}

/// `GET /admin/stats`: one snapshot of the whole gateway. `blocked` counts requests answered
/// with a 4xx (refused by the gateway or a policy); `allowed` the rest.
pub(super) async fn stats(shard: &Shard) -> Value {
    let gathered = shard.mesh.gather_summaries().await;
    let active_buckets: usize = gathered.iter().map(|(_, b)| b).sum();
    let merged =
        sluice_engine::metrics::MetricsSummary::merge_all(gathered.into_iter().map(|(m, _)| m));
    let total = merged.requests_total();
    let blocked = super::history::blocked(&merged);
    let recent: Vec<Value> = shard
        .logs
        .ring
        .lock()
        .map(|r| r.iter().rev().take(10).cloned().collect())
        .unwrap_or_default();
    let mut classes: std::collections::BTreeMap<String, u64> = ["2xx", "3xx", "4xx", "5xx"]
        .iter()
        .map(|c| (c.to_string(), 0))
        .collect();
    for (status, n) in merged.requests_by_status() {
        *classes.entry(format!("{}xx", status / 100)).or_default() += n;
    }
    json!({
        "requests": total,
        "status_classes": classes,
        "allowed": total - blocked,
        "blocked": blocked,
        "rate_limited": merged.rate_limited(),
        "active_buckets": active_buckets,
        "connections": merged.connections(),
        "p99_ms": merged.quantile_ms(0.99),
        "routes": merged.requests_by_route(),
        "recent_logs": recent,
    })
}

/// `GET /admin/sse`: a stats snapshot every second as Server-Sent Events, until the client
/// goes away or the gateway shuts down. Each client has its own task, so it delays nothing.
pub(super) async fn sse(mut stream: TcpStream, shard: &Shard, admin: &super::Admin) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\nconnection: close\r\n\r\n";
    let (res, _) = stream.write_all(head.as_bytes().to_vec()).await;
    if res.is_err() {
        return;
    }
    // Requests per second are measured between this client's own snapshots.
    let mut last: Option<(u64, std::time::Instant)> = None;
    while !shard.shutting_down() {
        let mut snapshot = stats(shard).await;
        let requests = snapshot["requests"].as_u64().unwrap_or(0);
        let now = std::time::Instant::now();
        let rate = last.map_or(0.0, |(before, at)| {
            requests.saturating_sub(before) as f64 / now.duration_since(at).as_secs_f64().max(1e-3)
        });
        last = Some((requests, now));
        snapshot["requests_per_second"] = json!((rate * 10.0).round() / 10.0);
        // The newest metrics-history sample: figures of the last whole second (its p99
        // is that second's, where `p99_ms` above is since start).
        snapshot["last_second"] = json!(admin.history.borrow().back());
        let event = format!("event: stats\ndata: {snapshot}\n\n");
        let (res, _) = stream.write_all(event.into_bytes()).await;
        if res.is_err() {
            return;
        }
        monoio::time::sleep(Duration::from_secs(1)).await;
    }
}
