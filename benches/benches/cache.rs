//! Response cache: key building, a lookup hit, a lookup miss (the in-flight mark set and
//! dropped), and storing a 4 KiB response as it streams through (four 1 KiB chunks).
//!
//! Baselines in the same run: a `HashMap<Bytes, Rc<_>>` get of the same key bytes (the
//! floor for a hit) and one 4 KiB copy into a fresh buffer (the floor for a store).

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_codec::{Headers, Method};
use sluice_policies::cache::{CachePolicy, Lookup, ResponseCache};

const NOW: u64 = 1_700_000_000;

/// A typical API request's headers.
fn request_headers() -> Headers {
    let mut h = Headers::default();
    for (n, v) in [
        ("Host", "api.example.com"),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        ("Accept", "application/json"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "en-GB,en;q=0.5"),
        ("X-Request-Id", "7f0c2a9e-3b1d-4c55-9e1a-2d7e4f6b8a90"),
        ("Connection", "keep-alive"),
    ] {
        h.append(n, v);
    }
    h
}

fn response_headers() -> Headers {
    let mut h = Headers::default();
    for (n, v) in [
        ("Content-Type", "application/json"),
        ("Content-Length", "4096"),
        ("Cache-Control", "public, max-age=60"),
        ("ETag", "\"33a64df551425fcc55e4d42a148795d9f25f89d4\""),
        ("Vary", "Accept-Encoding"),
        ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("Connection", "keep-alive"),
    ] {
        h.append(n, v);
    }
    h
}

fn cache(c: &mut Criterion) {
    let policy = CachePolicy {
        vary_headers: vec!["accept-language".into()],
        ..CachePolicy::default()
    };
    let req = request_headers();
    let resp = response_headers();
    let body = vec![b'x'; 4096];
    let path: &[u8] = b"/api/v1/catalogue/items";
    let query: Option<&[u8]> = Some(b"page=2&per_page=50");
    let key = policy
        .key(3, &Method::Get, path, query, &req)
        .expect("cacheable");

    let mut g = c.benchmark_group("cache");
    g.bench_function("key", |b| {
        b.iter(|| policy.key(3, black_box(&Method::Get), black_box(path), query, &req))
    });

    let mut cache = ResponseCache::new(policy.max_bytes);
    let Lookup::Miss(token) = cache.lookup(&key, &req, NOW) else {
        panic!("empty cache")
    };
    let mut w = policy
        .begin_store(token, 200, &resp, NOW)
        .expect("cacheable");
    assert!(w.push(&body));
    let stored = w.finish(&mut cache).expect("stored");
    g.bench_function("lookup_hit", |b| {
        b.iter(|| match cache.lookup(black_box(&key), &req, NOW) {
            Lookup::Hit(r) => r,
            _ => panic!("expected a hit"),
        })
    });
    g.bench_function("key_and_lookup_hit", |b| {
        b.iter(|| {
            let k = policy
                .key(3, black_box(&Method::Get), black_box(path), query, &req)
                .expect("cacheable");
            match cache.lookup(&k, &req, NOW) {
                Lookup::Hit(r) => r,
                _ => panic!("expected a hit"),
            }
        })
    });
    let baseline: HashMap<Bytes, Rc<_>> =
        HashMap::from([(Bytes::copy_from_slice(key.as_bytes()), stored)]);
    let key_bytes = Bytes::copy_from_slice(key.as_bytes());
    g.bench_function("baseline_hashmap_get", |b| {
        b.iter(|| baseline.get(black_box(&key_bytes)).cloned())
    });

    // A miss: the key is marked in flight, the request headers are copied into the
    // token, and dropping the token unmarks it.
    let absent = policy
        .key(3, &Method::Get, b"/api/v1/absent", query, &req)
        .expect("cacheable");
    g.bench_function("lookup_miss", |b| {
        b.iter(|| match cache.lookup(black_box(&absent), &req, NOW) {
            Lookup::Miss(t) => t,
            _ => panic!("expected a miss"),
        })
    });

    // Store: purge (so the lookup misses), lookup, head checks and header copy, four
    // 1 KiB pushes, finish (replace + insert, wake nobody).
    let mut store_cache = ResponseCache::new(policy.max_bytes);
    g.bench_function("store_4k", |b| {
        b.iter(|| {
            store_cache.purge(&key);
            let Lookup::Miss(token) = store_cache.lookup(&key, &req, NOW) else {
                panic!("purged")
            };
            let mut w = policy
                .begin_store(token, 200, &resp, NOW)
                .expect("cacheable");
            for chunk in body.chunks(1024) {
                assert!(w.push(black_box(chunk)));
            }
            w.finish(&mut store_cache).expect("stored")
        })
    });
    g.bench_function("baseline_copy_4k", |b| {
        b.iter(|| Bytes::copy_from_slice(black_box(&body)))
    });
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
