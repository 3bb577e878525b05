//! `/admin/logs` and `/admin/logs/stats`: views of the request-log ring buffer.

use serde_json::{json, Value};

use super::query_pairs;
use crate::shard::Shard;

/// `GET /admin/logs?limit&ip&status=4xx|404&rate_limited=true&route`: newest first.
pub(super) fn logs(shard: &Shard, query: &str) -> Value {
    let mut limit = 100usize;
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "limit" => limit = v.parse().unwrap_or(100).min(10_000),
            "ip" | "status" | "rate_limited" | "route" => filters.push((k, v)),
            _ => {}
        }
    }
    let ring = match shard.logs.ring.lock() {
        Ok(r) => r,
        Err(_) => return Value::Array(Vec::new()),
    };
    let matches = |e: &Value| {
        filters.iter().all(|(k, v)| match k.as_str() {
            "ip" => e["client_ip"] == v.as_str(),
            "route" => e["route"] == v.as_str(),
            "rate_limited" => e["rate_limited"] == (v == "true"),
            "status" => {
                let s = e["status"].as_u64().unwrap_or(0);
                match v.strip_suffix("xx").and_then(|c| c.parse::<u64>().ok()) {
                    Some(class) => s / 100 == class,
                    None => v.parse::<u64>().map(|x| x == s).unwrap_or(false),
                }
            }
            _ => true,
        })
    };
    Value::Array(
        ring.iter()
            .rev()
            .filter(|e| matches(e))
            .take(limit)
            .cloned()
            .collect(),
    )
}

/// `GET /admin/logs/stats`: totals over the ring buffer.
pub(super) fn log_stats(shard: &Shard) -> Value {
    let Ok(ring) = shard.logs.ring.lock() else {
        return Value::Null;
    };
    let mut by_status: std::collections::BTreeMap<String, u64> = Default::default();
    let mut durations: Vec<f64> = Vec::with_capacity(ring.len());
    let mut rate_limited = 0u64;
    for e in ring.iter() {
        *by_status.entry(e["status"].to_string()).or_default() += 1;
        durations.push(e["duration_ms"].as_f64().unwrap_or(0.0));
        if e["rate_limited"] == true {
            rate_limited += 1;
        }
    }
    durations.sort_by(|a, b| a.total_cmp(b));
    let avg = if durations.is_empty() {
        0.0
    } else {
        durations.iter().sum::<f64>() / durations.len() as f64
    };
    let p99 = durations
        .get((durations.len() as f64 * 0.99).ceil() as usize - usize::from(!durations.is_empty()))
        .copied()
        .unwrap_or(0.0);
    json!({
        "total": ring.len(),
        "rate_limited": rate_limited,
        "by_status": by_status,
        "avg_duration_ms": avg,
        "p99_duration_ms": p99,
    })
}
