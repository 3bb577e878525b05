//! The `cache` policy over real sockets: MISS then HIT with `Age`, Vary (configured and the
//! upstream's), Cache-Control on both sides, never-stored responses (5xx, Set-Cookie,
//! Authorization, over `max_object_bytes`), TTL expiry, HEAD from GET entries, and request
//! coalescing on one shard.
//!
//! Every gateway here runs one shard: the cache is per shard, so with several shards two
//! connections could land on two caches.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const URL: &str = r#"{type: url, target: "http://127.0.0.1:$UP"}"#;

fn start(up: TestUpstream, yaml: &str) -> (Upstream, Gateway) {
    let up = up.start();
    let yaml = format!("shards: 1\n{}", dedent(yaml));
    let gw = Gateway::start(&up.fill(&yaml.replace("$URL", URL)));
    (up, gw)
}

/// Requests the upstream received for exactly `target`.
fn hits(up: &Upstream, target: &str) -> usize {
    up.seen().iter().filter(|s| s.target == target).count()
}

fn x_cache(r: &Response) -> &str {
    r.header("x-cache").unwrap_or("<none>")
}

fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Response {
    gw.request("GET", path, headers, b"")
}

/// Canned upstream answers, each under every route prefix the tests use (the gateway
/// forwards the path as it is, so `/c/no-store` reaches the upstream as `/c/no-store`).
fn counting_upstream() -> TestUpstream {
    let answers: Vec<(&str, Reply)> = vec![
        (
            "/plain",
            Reply::with_headers(200, &[("content-type", "text/plain")], "plain body"),
        ),
        (
            "/no-store",
            Reply::with_headers(200, &[("cache-control", "no-store")], "ns"),
        ),
        (
            "/private",
            Reply::with_headers(200, &[("cache-control", "private, max-age=60")], "pv"),
        ),
        (
            "/no-cache-resp",
            Reply::with_headers(200, &[("cache-control", "no-cache")], "nc"),
        ),
        (
            "/max-age-0",
            Reply::with_headers(200, &[("cache-control", "max-age=0")], "m0"),
        ),
        (
            "/public-max-age",
            Reply::with_headers(200, &[("cache-control", "public, max-age=60")], "pub"),
        ),
        ("/e500", Reply::text(500, "boom")),
        ("/e503", Reply::text(503, "down")),
        ("/e502", Reply::text(502, "bad")),
        ("/n404", Reply::text(404, "nope")),
        ("/c201", Reply::text(201, "created")),
        (
            "/cookie",
            Reply::with_headers(200, &[("set-cookie", "sid=1")], "ck"),
        ),
        (
            "/vary-up",
            Reply::with_headers(200, &[("vary", "X-Variant")], "vu"),
        ),
        (
            "/vary-star",
            Reply::with_headers(200, &[("vary", "*")], "vs"),
        ),
    ];
    let mut up = TestUpstream::new();
    for prefix in ["", "/c", "/lang", "/nocc", "/custom", "/short"] {
        for (path, reply) in &answers {
            up = up.route(&format!("{prefix}{path}"), reply.clone());
        }
    }
    up
}

const ROUTES: &str = r#"
    routes:
      - path: /c/*
        policies: [{type: cache, ttl: 60s}]
        upstream: $URL
      - path: /lang/*
        policies: [{type: cache, ttl: 60s, vary_headers: [Accept-Language, x-tenant]}]
        upstream: $URL
      - path: /nocc/*
        policies: [{type: cache, ttl: 60s, respect_cache_control: false}]
        upstream: $URL
      - path: /custom/*
        policies: [{type: cache, ttl: 60s, status_header: x-cache-status, cacheable_statuses: [200, 201]}]
        upstream: $URL
"#;

#[test]
fn miss_then_hit_with_age_and_one_upstream_request() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    let first = get(&gw, "/c/plain?a=1", &[]);
    assert_eq!(first.status, 200, "{first}");
    assert_eq!(x_cache(&first), "MISS", "{first}");
    assert_eq!(first.text(), "plain body");
    assert_eq!(first.header("age"), None, "a MISS has no Age: {first}");

    let mut c = gw.connect();
    let second = c.request("GET", "/c/plain?a=1", &[("x-request-id", "hit-req-1")], b"");
    assert_eq!(second.status, 200, "{second}");
    assert_eq!(x_cache(&second), "HIT", "{second}");
    assert_eq!(second.text(), "plain body");
    assert_eq!(second.header("content-type"), Some("text/plain"));
    let age: u64 = second
        .header("age")
        .unwrap_or_else(|| panic!("a HIT carries Age: {second}"))
        .parse()
        .unwrap();
    assert!(age <= 1, "age {age}");
    // Every response has its own request id and trace, hits included.
    assert_eq!(second.header_all("x-request-id"), ["hit-req-1"], "{second}");
    let (rid1, tp1) = first.assert_ids();
    let (_, tp2) = second.assert_ids();
    assert_ne!(rid1, "hit-req-1");
    assert_ne!(
        tp1.trace_id, tp2.trace_id,
        "a HIT must not replay the stored trace"
    );

    // Another Host is another key.
    let mut other = gw.connect();
    other.send(b"GET /c/plain?a=1 HTTP/1.1\r\nhost: other.example\r\n\r\n");
    let r = other.read_final("GET");
    assert_eq!(x_cache(&r), "MISS", "the Host is part of the key: {r}");
    other.send(b"GET /c/plain?a=1 HTTP/1.1\r\nhost: OTHER.example\r\n\r\n");
    assert_eq!(
        x_cache(&other.read_final("GET")),
        "HIT",
        "Host compared ignoring case"
    );
    assert_eq!(hits(&up, "/c/plain?a=1"), 2);
    // Another query string is another key.
    assert_eq!(x_cache(&get(&gw, "/c/plain?a=2", &[])), "MISS");
    assert_eq!(hits(&up, "/c/plain?a=2"), 1);

    // Age grows with time.
    thread::sleep(Duration::from_millis(1100));
    let later = c.request("GET", "/c/plain?a=1", &[], b"");
    assert_eq!(x_cache(&later), "HIT");
    let age: u64 = later.header("age").unwrap().parse().unwrap();
    assert!((1..=3).contains(&age), "age after 1.1 s: {age}");
    assert_eq!(
        hits(&up, "/c/plain?a=1"),
        2,
        "the upstream is asked once per Host"
    );

    // A 404 is cacheable by default.
    assert_eq!(x_cache(&get(&gw, "/c/n404", &[])), "MISS");
    let r = get(&gw, "/c/n404", &[]);
    assert_eq!((r.status, x_cache(&r)), (404, "HIT"), "{r}");
    assert_eq!(hits(&up, "/c/n404"), 1);
}

#[test]
fn vary_headers_split_the_key() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    let lang = |l: &str| get(&gw, "/lang/x", &[("accept-language", l)]);
    let r = lang("en");
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(r.echo().header("accept-language"), Some("en"));
    let r = lang("fr");
    assert_eq!(
        x_cache(&r),
        "MISS",
        "another Accept-Language is another entry: {r}"
    );
    assert_eq!(r.echo().header("accept-language"), Some("fr"));
    let r = lang("en");
    assert_eq!(x_cache(&r), "HIT", "{r}");
    assert_eq!(
        r.echo().header("accept-language"),
        Some("en"),
        "served the en entry"
    );
    let r = lang("fr");
    assert_eq!(x_cache(&r), "HIT", "{r}");
    assert_eq!(r.echo().header("accept-language"), Some("fr"));
    // Absent is its own value; header names are case-insensitive in the config.
    assert_eq!(x_cache(&get(&gw, "/lang/x", &[])), "MISS");
    assert_eq!(x_cache(&get(&gw, "/lang/x", &[])), "HIT");
    assert_eq!(
        x_cache(&get(
            &gw,
            "/lang/x",
            &[("accept-language", "en"), ("x-tenant", "t1")]
        )),
        "MISS"
    );
    assert_eq!(
        x_cache(&get(
            &gw,
            "/lang/x",
            &[("accept-language", "en"), ("x-tenant", "t1")]
        )),
        "HIT"
    );
    // A header not in vary_headers does not split.
    assert_eq!(
        x_cache(&get(
            &gw,
            "/lang/x",
            &[("accept-language", "en"), ("x-other", "1")]
        )),
        "HIT"
    );
    assert_eq!(hits(&up, "/lang/x"), 4);

    // The upstream's own Vary is honoured too.
    let v = |val: &str| x_cache(&get(&gw, "/c/vary-up", &[("x-variant", val)])).to_string();
    assert_eq!(v("a"), "MISS");
    assert_eq!(v("a"), "HIT");
    let b = v("b");
    assert_ne!(
        b, "HIT",
        "a different X-Variant must not get the a response"
    );
    assert_eq!(v("b"), "HIT");
    assert_eq!(v("a"), "HIT");
    assert_eq!(hits(&up, "/c/vary-up"), 2);
}

#[test]
fn upstream_cache_control_no_store_private_no_cache_are_not_stored() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    for path in [
        "/c/no-store",
        "/c/private",
        "/c/no-cache-resp",
        "/c/max-age-0",
    ] {
        for _ in 0..3 {
            let r = get(&gw, path, &[]);
            assert_eq!(r.status, 200, "{r}");
            assert_ne!(x_cache(&r), "HIT", "{path} must not be stored: {r}");
        }
        assert_eq!(hits(&up, path), 3, "{path}: every request goes upstream");
    }
    // public, max-age=60 is stored.
    assert_eq!(x_cache(&get(&gw, "/c/public-max-age", &[])), "MISS");
    assert_eq!(x_cache(&get(&gw, "/c/public-max-age", &[])), "HIT");
    // respect_cache_control: false stores no-store responses (but still not cookies).
    assert_eq!(x_cache(&get(&gw, "/nocc/no-store", &[])), "MISS");
    assert_eq!(x_cache(&get(&gw, "/nocc/no-store", &[])), "HIT");
    assert_eq!(hits(&up, "/nocc/no-store"), 1);
}

#[test]
fn request_no_cache_and_no_store_bypass() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    assert_eq!(x_cache(&get(&gw, "/c/plain", &[])), "MISS");
    assert_eq!(x_cache(&get(&gw, "/c/plain", &[])), "HIT");
    for cc in ["no-cache", "no-store", "max-age=0, no-cache"] {
        let r = get(&gw, "/c/plain", &[("cache-control", cc)]);
        assert_eq!(r.status, 200);
        assert_eq!(x_cache(&r), "BYPASS", "request Cache-Control: {cc}: {r}");
        assert_eq!(
            r.header("age"),
            None,
            "a bypass is not served from the cache: {r}"
        );
    }
    assert_eq!(hits(&up, "/c/plain"), 4, "each bypass went upstream");
    // The entry is still there.
    assert_eq!(x_cache(&get(&gw, "/c/plain", &[])), "HIT");
    // A bypass on a cold key does not store either.
    assert_eq!(
        x_cache(&get(&gw, "/c/cold", &[("cache-control", "no-cache")])),
        "BYPASS"
    );
    assert_eq!(x_cache(&get(&gw, "/c/cold", &[])), "MISS");
    // POST is not a cached method: BYPASS.
    let r = gw.request("POST", "/c/plain", &[], b"x");
    assert_eq!(x_cache(&r), "BYPASS", "{r}");
}

#[test]
fn never_stored_5xx_cookies_vary_star_authorization_and_unlisted_statuses() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    for (path, status) in [("/c/e500", 500), ("/c/e502", 502), ("/c/e503", 503)] {
        for _ in 0..2 {
            let r = get(&gw, path, &[]);
            assert_eq!(r.status, status, "{r}");
            assert_ne!(x_cache(&r), "HIT", "{path}: 5xx must never be stored: {r}");
        }
        assert_eq!(hits(&up, path), 2, "{path}");
    }
    // Even with respect_cache_control: false.
    get(&gw, "/nocc/e503", &[]);
    assert_ne!(x_cache(&get(&gw, "/nocc/e503", &[])), "HIT");
    for path in ["/c/cookie", "/nocc/cookie", "/c/vary-star", "/c/c201"] {
        get(&gw, path, &[]);
        let r = get(&gw, path, &[]);
        assert_ne!(x_cache(&r), "HIT", "{path} must not be stored: {r}");
        assert_eq!(hits(&up, path), 2, "{path}");
    }
    // 201 is stored when listed; the status header is renamed.
    let r = get(&gw, "/custom/c201", &[]);
    assert_eq!(r.header("x-cache-status"), Some("MISS"), "{r}");
    assert_eq!(r.header("x-cache"), None);
    let r = get(&gw, "/custom/c201", &[]);
    assert_eq!(
        (r.status, r.header("x-cache-status")),
        (201, Some("HIT")),
        "{r}"
    );
    // A response to a request with Authorization is private unless it says otherwise.
    let auth = [("authorization", "Bearer abc")];
    get(&gw, "/c/plain-auth", &auth);
    let r = get(&gw, "/c/plain-auth", &auth);
    assert_ne!(x_cache(&r), "HIT", "authorized response stored: {r}");
    let r = get(&gw, "/c/plain-auth", &[]);
    assert_ne!(
        x_cache(&r),
        "HIT",
        "another caller got an authorized response: {r}"
    );
    get(&gw, "/c/public-max-age", &auth);
    assert_eq!(
        x_cache(&get(&gw, "/c/public-max-age", &auth)),
        "HIT",
        "public may be shared"
    );
}

#[test]
fn ttl_expiry_and_upstream_max_age() {
    let (up, gw) = start(
        counting_upstream(),
        r#"
        routes:
          - path: /short/*
            policies: [{type: cache, ttl: 2s}]
            upstream: $URL
        "#,
    );
    // Times are whole unix seconds, so a 2 s TTL is fresh for at least 1 s.
    let t0 = Instant::now();
    assert_eq!(x_cache(&get(&gw, "/short/plain", &[])), "MISS");
    assert_eq!(x_cache(&get(&gw, "/short/public-max-age", &[])), "MISS");
    let r = get(&gw, "/short/plain", &[]);
    assert!(t0.elapsed() < Duration::from_millis(900));
    assert_eq!(x_cache(&r), "HIT", "{r}");
    thread::sleep(Duration::from_millis(2100).saturating_sub(t0.elapsed()));
    let r = get(&gw, "/short/plain", &[]);
    assert_eq!(
        x_cache(&r),
        "MISS",
        "the entry should have expired after 2 s: {r}"
    );
    assert_eq!(hits(&up, "/short/plain"), 2);
    assert_eq!(
        x_cache(&get(&gw, "/short/plain", &[])),
        "HIT",
        "stored again"
    );
    // max-age=60 from the upstream replaces the ttl.
    let r = get(&gw, "/short/public-max-age", &[]);
    assert_eq!(x_cache(&r), "HIT", "max-age=60 outlives ttl 2s: {r}");
    assert_eq!(hits(&up, "/short/public-max-age"), 1);
}

#[test]
fn head_is_answered_from_a_get_entry_and_never_stored() {
    let (up, gw) = start(counting_upstream(), ROUTES);
    // HEAD on a cold key goes upstream and stores nothing.
    let r = gw.request("HEAD", "/c/plain", &[], b"");
    assert_eq!(r.status, 200, "{r}");
    assert_ne!(x_cache(&r), "HIT");
    let r = get(&gw, "/c/plain", &[]);
    assert_eq!(
        x_cache(&r),
        "MISS",
        "a HEAD response must not be stored: {r}"
    );
    let get_len = r.header("content-length").map(str::to_string);
    assert_eq!(hits(&up, "/c/plain"), 2);
    let mut c = gw.connect();
    let r = c.request("HEAD", "/c/plain", &[], b"");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(x_cache(&r), "HIT", "{r}");
    assert_eq!(
        r.header("content-length").map(str::to_string),
        get_len,
        "{r}"
    );
    assert!(r.header("age").is_some(), "{r}");
    // No body bytes on the wire: the next response on the connection parses cleanly.
    let r = c.request("GET", "/c/plain", &[], b"");
    assert_eq!(
        (x_cache(&r), r.text().as_str()),
        ("HIT", "plain body"),
        "{r}"
    );
    assert_eq!(up.seen().iter().filter(|s| s.method == "HEAD").count(), 1);
    assert_eq!(hits(&up, "/c/plain"), 2);
}

#[test]
fn bodies_over_max_object_bytes_are_not_stored_but_reach_the_client_whole() {
    let up = TestUpstream::new()
        .route("/big", Reply::Stream { len: 5000 })
        .route("/small", Reply::Stream { len: 1000 })
        .route(
            "/chunked-big",
            Reply::Chunked {
                headers: vec![],
                chunks: (0..10).map(|i| vec![b'a' + i as u8; 500]).collect(),
            },
        )
        .route(
            "/chunked-small",
            Reply::Chunked {
                headers: vec![],
                chunks: vec![b"abc".to_vec(), b"def".to_vec()],
            },
        );
    let (up, gw) = start(
        up,
        r#"
        routes:
          - path: /*
            policies: [{type: cache, max_object_bytes: 1000, max_bytes: 100000}]
            upstream: $URL
        "#,
    );
    for path in ["/big", "/chunked-big"] {
        for _ in 0..2 {
            let r = get(&gw, path, &[]);
            assert_eq!(r.status, 200);
            assert_ne!(x_cache(&r), "HIT", "{path} is over max_object_bytes: {r}");
            assert_eq!(r.body.len(), 5000, "{path}: the client gets the whole body");
        }
        assert_eq!(hits(&up, path), 2, "{path}");
    }
    let r = get(&gw, "/big", &[]);
    assert_eq!(r.body, pattern_at(0, 5000));
    let expected: Vec<u8> = (0..10).flat_map(|i| vec![b'a' + i as u8; 500]).collect();
    assert_eq!(get(&gw, "/chunked-big", &[]).body, expected);
    // At the limit: stored, and a chunked response is served with its whole body.
    get(&gw, "/small", &[]);
    let r = get(&gw, "/small", &[]);
    assert_eq!(x_cache(&r), "HIT", "{r}");
    assert_eq!(r.body, pattern_at(0, 1000));
    get(&gw, "/chunked-small", &[]);
    let r = get(&gw, "/chunked-small", &[]);
    assert_eq!((x_cache(&r), r.text().as_str()), ("HIT", "abcdef"), "{r}");
}

#[test]
fn max_bytes_evicts_the_least_recently_used_entries() {
    let up = TestUpstream::new().route("/lru/", Reply::Stream { len: 1000 });
    // About 1.4 KB charged per entry (body, headers, key, overhead): four fit in 6000.
    let (up, gw) = start(
        up,
        r#"
        routes:
          - path: /lru/*
            policies: [{type: cache, max_bytes: 6000, max_object_bytes: 1000}]
            upstream: $URL
        "#,
    );
    let mut c = gw.connect();
    let mut status = |k: u32| {
        let r = c.request("GET", &format!("/lru/k{k}"), &[], b"");
        assert_eq!(r.body.len(), 1000);
        x_cache(&r).to_string()
    };
    for k in 0..4 {
        assert_eq!(status(k), "MISS");
    }
    for k in 0..4 {
        assert_eq!(status(k), "HIT", "k{k}: four entries fit");
    }
    assert_eq!(status(0), "HIT"); // k0 is now the most recently used
    assert_eq!(status(4), "MISS"); // evicts the least recently used: k1
    assert_eq!(status(0), "HIT", "recently used k0 must stay");
    assert_eq!(status(4), "HIT");
    assert_eq!(
        status(1),
        "MISS",
        "k1 was the least recently used and five 1000-byte entries exceed max_bytes: 6000"
    );
    assert_eq!(hits(&up, "/lru/k1"), 2);
    assert_eq!(hits(&up, "/lru/k0"), 1);
}

/// N concurrent requests for a cold key on one shard, slow upstream: one upstream request,
/// N 200s with the same body.
#[test]
fn concurrent_misses_on_one_shard_are_coalesced() {
    const N: usize = 8;
    let up = TestUpstream::new()
        .route(
            "/slow",
            Reply::delayed(
                Duration::from_millis(300),
                Reply::with_headers(200, &[("content-type", "text/plain")], "slow body"),
            ),
        )
        .route(
            "/slow-nostore",
            Reply::delayed(
                Duration::from_millis(300),
                Reply::with_headers(200, &[("cache-control", "no-store")], "private body"),
            ),
        );
    let (up, gw) = start(
        up,
        r#"
        routes:
          - path: /*
            policies: [{type: cache, ttl: 60s}]
            upstream: $URL
        "#,
    );
    let burst = |path: &'static str| -> (Vec<Response>, Duration) {
        let barrier = Arc::new(Barrier::new(N));
        let addr = gw.addr();
        let started = Instant::now();
        let workers: Vec<_> = (0..N)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let mut c = Conn::connect(addr);
                    barrier.wait();
                    c.request("GET", path, &[], b"")
                })
            })
            .collect();
        let out = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (out, started.elapsed())
    };

    let (responses, took) = burst("/slow");
    for r in &responses {
        assert_eq!((r.status, r.text().as_str()), (200, "slow body"), "{r}");
    }
    let statuses: Vec<&str> = responses.iter().map(x_cache).collect();
    assert_eq!(
        hits(&up, "/slow"),
        1,
        "{N} concurrent misses must reach the upstream once (x-cache: {statuses:?})"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "MISS").count(),
        1,
        "{statuses:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "coalesced burst took {took:?}"
    );

    // When the response turns out not storable, the waiters go upstream themselves and
    // still get their answers (nobody hangs until a timeout).
    let (responses, took) = burst("/slow-nostore");
    for r in &responses {
        assert_eq!((r.status, r.text().as_str()), (200, "private body"), "{r}");
    }
    assert!(
        took < Duration::from_secs(3),
        "uncacheable burst took {took:?}"
    );
    assert!(hits(&up, "/slow-nostore") >= 2);
}

/// Response-phase ops run on every response, HITs included, exactly once: a HIT must not
/// replay the headers they added to the response that was stored.
#[test]
fn hits_get_the_response_phase_once_not_twice() {
    let (_up, gw) = start(
        counting_upstream(),
        r#"
        routes:
          - path: /*
            policies:
              - {type: rate-limit, max: 100, window: 60s, key_by: global}
              - {type: cache, ttl: 60s}
              - {type: response-transform, append_headers: {x-app: added}, set_headers: {x-set: "1"}}
            upstream: $URL
        "#,
    );
    let miss = get(&gw, "/plain", &[]);
    assert_eq!(x_cache(&miss), "MISS");
    assert_eq!(miss.header_all("x-app"), ["added"], "{miss}");
    assert_eq!(miss.header_all("x-ratelimit-remaining"), ["99"], "{miss}");
    let hit = get(&gw, "/plain", &[]);
    assert_eq!(x_cache(&hit), "HIT", "{hit}");
    assert_eq!(hit.header_all("x-set"), ["1"], "{hit}");
    assert_eq!(
        hit.header_list("x-app"),
        ["added"],
        "append_headers applied twice on a HIT: {hit}"
    );
    assert_eq!(
        hit.header_all("x-ratelimit-remaining"),
        ["98"],
        "a HIT must carry this request's rate-limit state only: {hit}"
    );
    assert_eq!(hit.header_all("x-cache"), ["HIT"], "{hit}");
}

#[test]
fn cached_responses_keep_cors_right_per_origin() {
    let (_up, gw) = start(
        counting_upstream(),
        r#"
        routes:
          - path: /*
            policies:
              - {type: cors, origins: ["http://a.example", "http://b.example"], credentials: true}
              - {type: cache, ttl: 60s}
            upstream: $URL
        "#,
    );
    let a = get(&gw, "/plain", &[("origin", "http://a.example")]);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    let b = get(&gw, "/plain", &[("origin", "http://b.example")]);
    assert_eq!(
        b.header_all("access-control-allow-origin"),
        ["http://b.example"],
        "a cached answer must not carry another origin's CORS grant: {b}"
    );
    let evil = get(&gw, "/plain", &[("origin", "http://evil.example")]);
    assert_eq!(evil.header("access-control-allow-origin"), None, "{evil}");
    assert_eq!(
        evil.header("access-control-allow-credentials"),
        None,
        "{evil}"
    );
    let again = get(&gw, "/plain", &[("origin", "http://a.example")]);
    assert_eq!(x_cache(&again), "HIT", "{again}");
    assert_eq!(
        again.header_all("access-control-allow-origin"),
        ["http://a.example"]
    );
}
