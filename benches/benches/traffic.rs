//! Traffic-control hot paths: the token bucket (owner take, lease take), the streaming
//! JSON checker, against simple baselines in the same run.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_policies::json_threat::{JsonThreat, JsonThreatOptions};
use sluice_policies::rate_limit::{Algorithm, Bucket, LimitSpec, LimiterState};

fn buckets(c: &mut Criterion) {
    let spec = LimitSpec {
        max: 1_000_000_000,
        window: Duration::from_secs(60),
        algorithm: Algorithm::TokenBucket,
    };
    let now = Instant::now();
    let mut g = c.benchmark_group("rate_limit");
    let mut bucket = Bucket::new(&spec, now);
    g.bench_function("bucket_take", |b| {
        b.iter(|| black_box(bucket.take(&spec, 1, now)))
    });
    let sliding = LimitSpec {
        algorithm: Algorithm::SlidingWindow,
        ..spec
    };
    let mut sw = Bucket::new(&sliding, now);
    g.bench_function("sliding_window_take", |b| {
        b.iter(|| black_box(sw.take(&sliding, 1, now)))
    });
    // The whole per-request path on the owner shard: key look-up plus take.
    let mut state = LimiterState::new(0, 1, 1_000_000);
    let key = "route:/api#1:rate-limit|ip:203.0.113.7";
    g.bench_function("owner_try_take", |b| {
        b.iter(|| black_box(state.try_take(key, spec, now)))
    });
    g.finish();
}

fn json_checker(c: &mut Criterion) {
    let guard = JsonThreat::new(JsonThreatOptions {
        max_depth: 20,
        max_keys: 100,
        max_string_length: 10_000,
        max_array_size: 100,
        max_body_bytes: 1 << 20,
        content_types: vec!["application/json".into()],
    });
    let mut headers = sluice_codec::Headers::default();
    headers.append("content-type", "application/json");
    let mut doc = String::from("{\"items\":[");
    for i in 0..90 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            "{{\"id\":{i},\"name\":\"item \\u00e9 {i}\",\"tags\":[\"a\",\"b\"],\"price\":12.5,\"ok\":true}}"
        ));
    }
    doc.push_str("]}");
    let mut g = c.benchmark_group("json_threat");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    for chunk in [doc.len(), 1024, 64] {
        g.bench_with_input(BenchmarkId::new("checker", chunk), &chunk, |b, &chunk| {
            b.iter(|| {
                let mut checker = guard.body_checker(&headers).expect("json content type");
                for part in doc.as_bytes().chunks(chunk) {
                    checker.feed(black_box(part)).expect("valid");
                }
                checker.finish().expect("valid")
            })
        });
    }
    // Baseline: a full parse into a tree, which the checker avoids.
    g.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(doc.as_bytes()).ok()))
    });
    g.finish();
}

criterion_group!(benches, buckets, json_checker);
criterion_main!(benches);
