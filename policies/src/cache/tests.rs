//! Tests for the response cache: keys, Cache-Control, statuses, expiry, eviction,
//! streaming limits, coalescing and HEAD.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use sluice_codec::{Headers, Method};

use super::date::parse_http_date;
use super::*;

const NOW: u64 = 1_700_000_000;

fn hdrs(list: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (n, v) in list {
        h.append(
            Bytes::copy_from_slice(n.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        );
    }
    h
}

fn req(list: &[(&str, &str)]) -> Headers {
    let mut h = hdrs(&[("Host", "api.example.com")]);
    for (n, v) in list {
        h.append(
            Bytes::copy_from_slice(n.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        );
    }
    h
}

fn key(p: &CachePolicy, method: Method, path: &str, headers: &Headers) -> Option<CacheKey> {
    p.key(7, &method, path.as_bytes(), None, headers)
}

fn get_key(p: &CachePolicy, headers: &Headers) -> CacheKey {
    key(p, Method::Get, "/items", headers).expect("cacheable")
}

fn miss(cache: &mut ResponseCache, k: &CacheKey, headers: &Headers, now: u64) -> MissToken {
    match cache.lookup(k, headers, now) {
        Lookup::Miss(t) => t,
        other => panic!("expected a miss, got {other:?}"),
    }
}

fn hit(cache: &mut ResponseCache, k: &CacheKey, headers: &Headers, now: u64) -> Rc<CachedResponse> {
    match cache.lookup(k, headers, now) {
        Lookup::Hit(r) => r,
        other => panic!("expected a hit, got {other:?}"),
    }
}

fn wait(cache: &mut ResponseCache, k: &CacheKey, headers: &Headers, now: u64) -> Rc<Pending> {
    match cache.lookup(k, headers, now) {
        Lookup::Wait(p) => p,
        other => panic!("expected a wait, got {other:?}"),
    }
}

/// Runs a whole store: head checks, the body in one chunk, finish.
fn store(
    p: &CachePolicy,
    cache: &mut ResponseCache,
    token: MissToken,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    now: u64,
) -> Result<Rc<CachedResponse>, NoStore> {
    let mut w = p.begin_store(token, status, &hdrs(headers), now)?;
    assert!(w.push(body));
    w.finish(cache)
}

/// Misses `headers`' key and stores a 200 with `resp` headers and `body`.
fn fill(
    p: &CachePolicy,
    cache: &mut ResponseCache,
    headers: &Headers,
    resp: &[(&str, &str)],
    body: &[u8],
) -> Result<Rc<CachedResponse>, NoStore> {
    let k = get_key(p, headers);
    let t = miss(cache, &k, headers, NOW);
    store(p, cache, t, 200, resp, body, NOW)
}

/// Why `resp` with `status` is refused for a plain GET (`Ok(())` when stored).
fn verdict(
    p: &CachePolicy,
    request: &Headers,
    status: u16,
    resp: &[(&str, &str)],
) -> Result<(), NoStore> {
    let mut cache = ResponseCache::new(p.max_bytes);
    let k = get_key(p, request);
    let t = miss(&mut cache, &k, request, NOW);
    store(p, &mut cache, t, status, resp, b"x", NOW).map(|_| ())
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn poll(p: &Pending, waker: &Waker, request: &Headers) -> Poll<Outcome> {
    p.poll_outcome(&mut Context::from_waker(waker), request)
}

// ---- keys ----

#[test]
fn key_separates_route_method_host_path_and_query() {
    let p = CachePolicy {
        methods: vec![Method::Get, Method::Head, Method::Post],
        ..CachePolicy::default()
    };
    let h = req(&[]);
    let base = p.key(1, &Method::Get, b"/a", Some(b"x=1"), &h).unwrap();
    let same = p.key(1, &Method::Get, b"/a", Some(b"x=1"), &h).unwrap();
    assert_eq!(base, same);
    let others = [
        p.key(2, &Method::Get, b"/a", Some(b"x=1"), &h),
        p.key(1, &Method::Post, b"/a", Some(b"x=1"), &h),
        p.key(1, &Method::Get, b"/b", Some(b"x=1"), &h),
        p.key(1, &Method::Get, b"/a", Some(b"x=2"), &h),
        p.key(1, &Method::Get, b"/a", None, &h),
        p.key(
            1,
            &Method::Get,
            b"/a",
            Some(b"x=1"),
            &hdrs(&[("Host", "other.example.com")]),
        ),
        p.key(1, &Method::Get, b"/a", Some(b"x=1"), &hdrs(&[])),
        // A field boundary moved: `/a?x=1` must not equal `/a?` + something else.
        p.key(1, &Method::Get, b"/a?x=1", None, &h),
        p.key(
            1,
            &Method::Get,
            b"/a",
            Some(b"x=1"),
            &req(&[("Range", "bytes=0-9")]),
        ),
    ];
    for other in others {
        assert_ne!(other.unwrap().as_bytes(), base.as_bytes());
    }
    assert_eq!(
        p.key(1, &Method::Get, b"/a", None, &h).unwrap().as_bytes(),
        p.key(
            1,
            &Method::Get,
            b"/a",
            None,
            &hdrs(&[("host", "API.example.COM")])
        )
        .unwrap()
        .as_bytes()
    );
    assert_ne!(
        p.key(1, &Method::Get, b"/a", None, &h).unwrap(),
        p.key(1, &Method::Get, b"/a", Some(b""), &h).unwrap()
    );
}

#[test]
fn key_bypasses_methods_not_listed() {
    let p = CachePolicy::default();
    let h = req(&[]);
    assert!(key(&p, Method::Post, "/", &h).is_none());
    assert!(key(&p, Method::Other(Bytes::from_static(b"PURGE")), "/", &h).is_none());
    let get_only = CachePolicy {
        methods: vec![Method::Get],
        ..CachePolicy::default()
    };
    assert!(key(&get_only, Method::Head, "/", &h).is_none());
    let head_only = CachePolicy {
        methods: vec![Method::Head],
        ..CachePolicy::default()
    };
    assert!(key(&head_only, Method::Head, "/", &h).is_none());
    assert!(key(&head_only, Method::Get, "/", &h).is_none());
}

#[test]
fn key_holds_vary_headers_by_value() {
    let p = CachePolicy {
        vary_headers: vec!["Accept-Language".into(), "x-tenant".into()],
        ..CachePolicy::default()
    };
    let k = |h: &[(&str, &str)]| get_key(&p, &req(h)).as_bytes().to_vec();
    let en = k(&[("accept-language", "en"), ("X-Tenant", "a")]);
    assert_eq!(en, k(&[("ACCEPT-LANGUAGE", "en"), ("x-tenant", "a")]));
    assert_ne!(en, k(&[("accept-language", "de"), ("X-Tenant", "a")]));
    assert_ne!(en, k(&[("accept-language", "en"), ("X-Tenant", "b")]));
    assert_ne!(k(&[]), k(&[("x-tenant", "")]), "absent and empty differ");
    assert_ne!(
        k(&[("x-tenant", "a"), ("x-tenant", "b")]),
        k(&[("x-tenant", "a, b")]),
        "line structure is kept"
    );
    // Other headers do not matter.
    assert_eq!(
        en,
        k(&[
            ("accept-language", "en"),
            ("X-Tenant", "a"),
            ("user-agent", "x")
        ])
    );
    // Swapping which header holds which value is a different key.
    let swapped = CachePolicy {
        vary_headers: vec!["x-tenant".into(), "accept-language".into()],
        ..CachePolicy::default()
    };
    let h = req(&[("accept-language", "a"), ("x-tenant", "en")]);
    assert_ne!(en, get_key(&swapped, &h).as_bytes());
}

#[test]
fn request_cache_control_bypasses() {
    let p = CachePolicy::default();
    for h in [
        [("Cache-Control", "no-store")],
        [("Cache-Control", "No-Cache")],
        [("cache-control", "max-age=0, no-cache")],
        [("Pragma", "no-cache")],
    ] {
        assert!(key(&p, Method::Get, "/", &req(&h)).is_none(), "{h:?}");
    }
    for h in [
        vec![("Cache-Control", "max-age=0")],
        vec![("Pragma", "no-cache"), ("Cache-Control", "max-age=5")],
        vec![("Cache-Control", "private=\"no-cache\"")],
    ] {
        assert!(key(&p, Method::Get, "/", &req(&h)).is_some(), "{h:?}");
    }
    let ignore = CachePolicy {
        respect_cache_control: false,
        ..CachePolicy::default()
    };
    assert!(key(
        &ignore,
        Method::Get,
        "/",
        &req(&[("Cache-Control", "no-store")])
    )
    .is_some());
}

// ---- storing and hits ----

#[test]
fn miss_then_store_then_hit() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    assert!(t.is_leader());
    assert_eq!(cache.in_flight(), 1);
    let resp = hdrs(&[
        ("Content-Type", "application/json"),
        ("Content-Length", "11"),
        ("Connection", "close, x-hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Foo", "1"),
        ("Age", "0"),
        ("X-Cache", "MISS from upstream"),
        ("ETag", "\"v1\""),
    ]);
    let mut w = p.begin_store(t, 200, &resp, NOW).expect("cacheable");
    assert!(w.push(b"{\"a\":"));
    assert!(w.push(b"12345}"));
    assert_eq!(w.len(), 11);
    let stored = w.finish(&mut cache).expect("stored");
    assert_eq!(cache.in_flight(), 0);
    assert_eq!(cache.len(), 1);
    assert!(cache.bytes() >= 11 + ENTRY_OVERHEAD);

    let r = hit(&mut cache, &k, &h, NOW + 3);
    assert!(Rc::ptr_eq(&r, &stored));
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"{\"a\":12345}");
    let names: Vec<_> = r.headers.iter().map(|h| h.name.clone()).collect();
    assert_eq!(names, [Bytes::from("Content-Type"), Bytes::from("ETag")]);
    assert_eq!((r.stored_at, r.expires_at), (NOW, NOW + 300));
    assert_eq!(r.age(NOW + 3), 3);

    let a = r.answer(NOW + 3, &p.status_header);
    assert_eq!(a.status, 200);
    assert_eq!(a.headers.get_str("age"), Some("3"));
    assert_eq!(a.headers.get_str("x-cache"), Some("HIT"));
    assert_eq!(&a.body[..], b"{\"a\":12345}");
}

#[test]
fn stored_headers_do_not_pin_the_upstream_buffer() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let big = Bytes::from(vec![b'a'; 64 * 1024]);
    let mut resp = Headers::default();
    resp.append(big.slice(0..6), big.slice(6..10));
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let w = p.begin_store(t, 200, &resp, NOW).unwrap();
    let r = w.finish(&mut cache).unwrap();
    let stored = &r.headers.iter().next().unwrap().name;
    let range = big.as_ptr() as usize..big.as_ptr() as usize + big.len();
    assert!(!range.contains(&(stored.as_ptr() as usize)));
}

#[test]
fn response_vary_picks_the_variant() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let gzip = req(&[("Accept-Encoding", "gzip")]);
    let plain = req(&[]);
    let vary = [("Vary", "accept-encoding"), ("Content-Encoding", "gzip")];
    fill(&p, &mut cache, &gzip, &vary, b"gz").unwrap();
    let k = get_key(&p, &gzip);
    assert_eq!(k, get_key(&p, &plain), "Vary is not in the key");
    assert_eq!(&hit(&mut cache, &k, &gzip, NOW).body[..], b"gz");

    // A different value misses, and stores a second variant.
    let t = miss(&mut cache, &k, &plain, NOW);
    store(
        &p,
        &mut cache,
        t,
        200,
        &[("Vary", "Accept-Encoding")],
        b"plain",
        NOW,
    )
    .unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(&hit(&mut cache, &k, &gzip, NOW).body[..], b"gz");
    assert_eq!(&hit(&mut cache, &k, &plain, NOW).body[..], b"plain");
    assert!(matches!(
        cache.lookup(&k, &req(&[("accept-encoding", "br")]), NOW),
        Lookup::Miss(_)
    ));

    // Storing for a request an existing variant answers replaces that variant: two
    // fetches for gzip at once (the first conditional, so it does not lead).
    cache.clear();
    let cond = req(&[("Accept-Encoding", "gzip"), ("If-None-Match", "\"x\"")]);
    let b = miss(&mut cache, &k, &cond, NOW);
    let a = miss(&mut cache, &k, &gzip, NOW);
    store(&p, &mut cache, a, 200, &vary, b"gz1", NOW).unwrap();
    store(&p, &mut cache, b, 200, &vary, b"gz2", NOW).unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(&hit(&mut cache, &k, &gzip, NOW).body[..], b"gz2");
}

#[test]
fn vary_star_and_set_cookie_are_not_stored() {
    let p = CachePolicy::default();
    let h = req(&[]);
    assert_eq!(verdict(&p, &h, 200, &[("Vary", "*")]), Err(NoStore::Vary));
    assert_eq!(
        verdict(&p, &h, 200, &[("Vary", "accept, *")]),
        Err(NoStore::Vary)
    );
    assert_eq!(verdict(&p, &h, 200, &[("Vary", "a b")]), Err(NoStore::Vary));
    assert_eq!(
        verdict(&p, &h, 200, &[("Set-Cookie", "s=1")]),
        Err(NoStore::SetCookie)
    );
    let ignore = CachePolicy {
        respect_cache_control: false,
        ..CachePolicy::default()
    };
    assert_eq!(
        verdict(&ignore, &h, 200, &[("set-cookie", "s=1")]),
        Err(NoStore::SetCookie)
    );
}

#[test]
fn response_cache_control() {
    let p = CachePolicy::default();
    let h = req(&[]);
    for cc in [
        "no-store",
        "private",
        "no-cache",
        "Private=\"x-user, x-id\"",
        "max-age=60, no-store",
    ] {
        assert_eq!(
            verdict(&p, &h, 200, &[("Cache-Control", cc)]),
            Err(NoStore::CacheControl),
            "{cc}"
        );
    }
    for cc in [
        "max-age=0",
        "s-maxage=0, max-age=60",
        "max-age=abc",
        "max-age=-1",
    ] {
        assert_eq!(
            verdict(&p, &h, 200, &[("Cache-Control", cc)]),
            Err(NoStore::Stale),
            "{cc}"
        );
    }
    let lifetime = |resp: &[(&str, &str)]| {
        let mut cache = ResponseCache::new(p.max_bytes);
        let r = fill(&p, &mut cache, &h, resp, b"x").expect("stored");
        r.expires_at - r.stored_at
    };
    assert_eq!(lifetime(&[]), 300);
    assert_eq!(lifetime(&[("Cache-Control", "public, max-age=60")]), 60);
    assert_eq!(lifetime(&[("Cache-Control", "max-age=60, s-maxage=5")]), 5);
    assert_eq!(lifetime(&[("Cache-Control", "max-age=\"90\"")]), 90);
    assert_eq!(
        lifetime(&[
            ("Cache-Control", "max-age=60"),
            ("Cache-Control", "max-age=5")
        ]),
        60
    );
    assert_eq!(
        lifetime(&[("Cache-Control", "max-age=3600")]),
        3600,
        "overrides ttl upwards too"
    );
    assert_eq!(
        lifetime(&[("Cache-Control", "max-age=60"), ("Age", "20")]),
        40
    );
    assert_eq!(
        verdict(
            &p,
            &h,
            200,
            &[("Cache-Control", "max-age=60"), ("Age", "60")]
        ),
        Err(NoStore::Stale)
    );

    // Off: Cache-Control is ignored and ttl rules.
    let ignore = CachePolicy {
        respect_cache_control: false,
        ttl: Duration::from_secs(30),
        ..CachePolicy::default()
    };
    let mut cache = ResponseCache::new(ignore.max_bytes);
    let r = fill(
        &ignore,
        &mut cache,
        &h,
        &[("Cache-Control", "no-store, max-age=5"), ("Age", "10")],
        b"x",
    )
    .expect("stored");
    assert_eq!(r.expires_at - r.stored_at, 30);
    assert_eq!(r.age(NOW), 10, "Age still reported");
}

#[test]
fn expires_sets_the_lifetime_unless_max_age_does() {
    let p = CachePolicy::default();
    let h = req(&[]);
    let date = "Tue, 14 Nov 2023 22:13:20 GMT"; // NOW
    assert_eq!(parse_http_date(date.as_bytes()), Some(NOW));
    let lifetime = |resp: &[(&str, &str)]| {
        let mut cache = ResponseCache::new(p.max_bytes);
        fill(&p, &mut cache, &h, resp, b"x").map(|r| r.expires_at - r.stored_at)
    };
    assert_eq!(
        lifetime(&[("Date", date), ("Expires", "Tue, 14 Nov 2023 22:15:20 GMT")]),
        Ok(120)
    );
    // Without Date, Expires counts from now.
    assert_eq!(
        lifetime(&[("Expires", "Tue, 14 Nov 2023 22:14:20 GMT")]),
        Ok(60)
    );
    assert_eq!(lifetime(&[("Expires", "0")]), Err(NoStore::Stale));
    assert_eq!(
        lifetime(&[("Expires", "Tue, 14 Nov 2023 22:13:19 GMT")]),
        Err(NoStore::Stale)
    );
    assert_eq!(
        lifetime(&[("Expires", "0"), ("Cache-Control", "max-age=7")]),
        Ok(7),
        "max-age wins over Expires"
    );
}

#[test]
fn http_dates_in_all_three_forms() {
    let t = Some(784_111_777);
    assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), t);
    assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), t);
    assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), t);
    assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_http_date(b"Thu, 29 Feb 2024 00:00:00 GMT"),
        Some(1_709_164_800)
    );
    for bad in [
        &b"0"[..],
        b"",
        b"Sun, 06 Nov 1994 08:49:37 UTC",
        b"Sun, 31 Nov 1994 08:49:37 GMT",
        b"Sun, 29 Feb 2023 08:49:37 GMT",
        b"Sun, 06 Foo 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 24:00:00 GMT",
        b"Sun, 06 Nov 94 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:37 GMT extra",
        b"\xff",
    ] {
        assert_eq!(
            parse_http_date(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn statuses_and_never_5xx() {
    let p = CachePolicy::default();
    let h = req(&[]);
    for s in [200, 203, 204, 300, 301, 404, 405, 410, 414] {
        assert_eq!(verdict(&p, &h, s, &[]), Ok(()), "{s}");
    }
    for s in [201, 302, 304, 400, 401, 403, 429, 500, 501, 502, 503, 504] {
        assert_eq!(verdict(&p, &h, s, &[]), Err(NoStore::Status), "{s}");
    }
    let listed = CachePolicy {
        cacheable_statuses: vec![200, 302, 500, 501, 503],
        ..CachePolicy::default()
    };
    assert_eq!(verdict(&listed, &h, 302, &[]), Ok(()));
    assert_eq!(verdict(&listed, &h, 404, &[]), Err(NoStore::Status));
    for s in [500, 501, 503] {
        assert!(!listed.is_cacheable_status(s));
        assert_eq!(
            verdict(&listed, &h, s, &[]),
            Err(NoStore::Status),
            "{s} even if listed"
        );
    }
}

#[test]
fn partial_content_needs_a_range_request() {
    let p = CachePolicy::default();
    assert_eq!(verdict(&p, &req(&[]), 206, &[]), Err(NoStore::Status));
    let ranged = req(&[("Range", "bytes=0-0")]);
    assert_eq!(
        verdict(&p, &ranged, 206, &[("Content-Range", "bytes 0-0/10")]),
        Ok(())
    );
    // And a stored 206 only answers the same range.
    let mut cache = ResponseCache::new(p.max_bytes);
    fill(&p, &mut cache, &ranged, &[], b"x").unwrap();
    assert!(matches!(
        cache.lookup(&get_key(&p, &req(&[])), &req(&[]), NOW),
        Lookup::Miss(_)
    ));
    hit(&mut cache, &get_key(&p, &ranged), &ranged, NOW);
}

#[test]
fn authorization_needs_explicit_sharing() {
    let p = CachePolicy::default();
    let authed = req(&[("Authorization", "Bearer abc")]);
    assert_eq!(verdict(&p, &authed, 200, &[]), Err(NoStore::Authorization));
    assert_eq!(
        verdict(&p, &authed, 200, &[("Cache-Control", "max-age=60")]),
        Err(NoStore::Authorization)
    );
    for cc in ["public", "s-maxage=60", "must-revalidate"] {
        assert_eq!(
            verdict(&p, &authed, 200, &[("Cache-Control", cc)]),
            Ok(()),
            "{cc}"
        );
    }
    let per_caller = CachePolicy {
        vary_headers: vec!["Authorization".into()],
        ..CachePolicy::default()
    };
    assert_eq!(verdict(&per_caller, &authed, 200, &[]), Ok(()));
    let ignore = CachePolicy {
        respect_cache_control: false,
        ..CachePolicy::default()
    };
    assert_eq!(
        verdict(&ignore, &authed, 200, &[]),
        Err(NoStore::Authorization)
    );
    assert_eq!(
        verdict(&ignore, &authed, 200, &[("Cache-Control", "public")]),
        Ok(())
    );
}

// ---- expiry, eviction, limits ----

#[test]
fn ttl_expiry() {
    let p = CachePolicy {
        ttl: Duration::from_secs(10),
        ..CachePolicy::default()
    };
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    fill(&p, &mut cache, &h, &[], b"x").unwrap();
    let k = get_key(&p, &h);
    let r = hit(&mut cache, &k, &h, NOW + 9);
    assert!(r.is_fresh(NOW + 9) && !r.is_fresh(NOW + 10));
    assert_eq!(r.age(NOW + 9), 9);
    let t = miss(&mut cache, &k, &h, NOW + 10);
    assert!(t.is_leader());
    assert_eq!(cache.len(), 0, "the expired entry was dropped");
    assert_eq!(cache.bytes(), 0);
}

#[test]
fn zero_ttl_stores_only_with_an_explicit_lifetime() {
    let p = CachePolicy {
        ttl: Duration::ZERO,
        ..CachePolicy::default()
    };
    let h = req(&[]);
    assert_eq!(verdict(&p, &h, 200, &[]), Err(NoStore::Stale));
    assert_eq!(
        verdict(&p, &h, 200, &[("Cache-Control", "max-age=5")]),
        Ok(())
    );
}

#[test]
fn lru_evicts_by_size() {
    let p = CachePolicy::default();
    let h = |path: &str| req(&[("x-path", path)]);
    let k = |path: &str| key(&p, Method::Get, path, &h(path)).unwrap();
    let body = vec![0u8; 1000];
    let put = |cache: &mut ResponseCache, path: &str| {
        let t = miss(cache, &k(path), &h(path), NOW);
        store(&p, cache, t, 200, &[], &body, NOW).unwrap()
    };
    let mut probe = ResponseCache::new(usize::MAX);
    put(&mut probe, "/a");
    let one = probe.bytes();
    assert!(one >= 1000 + ENTRY_OVERHEAD);

    let mut cache = ResponseCache::new(3 * one);
    put(&mut cache, "/a");
    put(&mut cache, "/b");
    put(&mut cache, "/c");
    assert_eq!((cache.len(), cache.bytes()), (3, 3 * one));
    hit(&mut cache, &k("/a"), &h("/a"), NOW); // /b is now least recently used
    put(&mut cache, "/d");
    assert_eq!(cache.len(), 3);
    assert!(cache.bytes() <= cache.max_bytes());
    assert!(matches!(
        cache.lookup(&k("/b"), &h("/b"), NOW),
        Lookup::Miss(_)
    ));
    for path in ["/a", "/c", "/d"] {
        hit(&mut cache, &k(path), &h(path), NOW);
    }

    // A bigger entry evicts as many as it needs.
    let t = miss(&mut cache, &k("/big"), &h("/big"), NOW);
    store(&p, &mut cache, t, 200, &[], &vec![0u8; 2500], NOW).unwrap();
    assert_eq!(cache.len(), 1);
    assert!(cache.bytes() <= cache.max_bytes());

    // One that could never fit is refused, and leaves the rest alone.
    let t = miss(&mut cache, &k("/huge"), &h("/huge"), NOW);
    let mut w = p.begin_store(t, 200, &Headers::default(), NOW).unwrap();
    assert!(w.push(&vec![0u8; 4 * one]));
    assert_eq!(w.finish(&mut cache).unwrap_err(), NoStore::TooLarge);
    assert_eq!(cache.len(), 1);

    cache.set_max_bytes(one);
    assert_eq!((cache.len(), cache.bytes()), (0, 0));
}

#[test]
fn max_object_bytes_by_content_length_and_mid_stream() {
    let p = CachePolicy {
        max_object_bytes: 10,
        ..CachePolicy::default()
    };
    let h = req(&[]);
    assert_eq!(
        verdict(&p, &h, 200, &[("Content-Length", "11")]),
        Err(NoStore::TooLarge)
    );
    assert_eq!(verdict(&p, &h, 200, &[("Content-Length", "1")]), Ok(()));

    // Chunked: give up as soon as the streamed count passes the limit, and wake waiters
    // then rather than at the end of the body.
    let mut cache = ResponseCache::new(p.max_bytes);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let waiter = wait(&mut cache, &k, &h, NOW);
    let (count, waker) = counting_waker();
    assert!(poll(&waiter, &waker, &h).is_pending());
    let mut w = p
        .begin_store(t, 200, &hdrs(&[("Transfer-Encoding", "chunked")]), NOW)
        .unwrap();
    assert!(w.push(b"123456"));
    assert!(w.push(b"7890"));
    assert!(!w.push(b"1"));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        poll(&waiter, &waker, &h),
        Poll::Ready(Outcome::NotStored)
    ));
    assert!(!w.push(b""), "stays given up");
    assert_eq!(w.finish(&mut cache).unwrap_err(), NoStore::TooLarge);
    assert!(cache.is_empty());
    assert_eq!(cache.in_flight(), 0);
}

#[test]
fn short_body_is_not_stored() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let waiter = wait(&mut cache, &k, &h, NOW);
    let mut w = p
        .begin_store(t, 200, &hdrs(&[("Content-Length", "10")]), NOW)
        .unwrap();
    assert!(w.push(b"12345"));
    assert_eq!(w.finish(&mut cache).unwrap_err(), NoStore::Truncated);
    assert!(matches!(waiter.outcome(), Some(Outcome::NotStored)));
    assert!(cache.is_empty());
    // Truncation says nothing about the next response: the key leads again at once.
    assert!(miss(&mut cache, &k, &h, NOW).is_leader());
}

#[test]
fn purge_and_clear() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let gzip = req(&[("accept-encoding", "gzip")]);
    let plain = req(&[]);
    fill(&p, &mut cache, &gzip, &[("Vary", "accept-encoding")], b"1").unwrap();
    fill(&p, &mut cache, &plain, &[("Vary", "accept-encoding")], b"2").unwrap();
    let other = req(&[("x", "1")]);
    let ko = key(&p, Method::Get, "/other", &other).unwrap();
    let t = miss(&mut cache, &ko, &other, NOW);
    store(&p, &mut cache, t, 200, &[], b"3", NOW).unwrap();
    assert_eq!(cache.len(), 3);
    let head = key(&p, Method::Head, "/items", &plain).unwrap();
    assert_eq!(cache.purge(&head), 2, "HEAD and GET share entries");
    assert_eq!(cache.purge(&head), 0);
    assert_eq!(cache.len(), 1);
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
    assert!(matches!(cache.lookup(&ko, &other, NOW), Lookup::Miss(_)));
}

#[test]
fn variants_per_key_are_bounded() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    for i in 0..MAX_VARIANTS + 3 {
        let v = i.to_string();
        let h = req(&[("x-v", &v)]);
        fill(&p, &mut cache, &h, &[("Vary", "x-v")], v.as_bytes()).unwrap();
    }
    assert_eq!(cache.len(), MAX_VARIANTS);
    let oldest = req(&[("x-v", "0")]);
    assert!(matches!(
        cache.lookup(&get_key(&p, &oldest), &oldest, NOW),
        Lookup::Miss(_)
    ));
    let newest = req(&[("x-v", &(MAX_VARIANTS + 2).to_string())]);
    hit(&mut cache, &get_key(&p, &newest), &newest, NOW);
}

// ---- coalescing ----

#[test]
fn second_lookup_waits_and_is_woken_with_the_stored_response() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let w1 = wait(&mut cache, &k, &h, NOW);
    let w2 = wait(&mut cache, &k, &h, NOW);
    assert!(Rc::ptr_eq(&w1, &w2));
    let (count, waker) = counting_waker();
    assert!(poll(&w1, &waker, &h).is_pending());
    assert!(
        poll(&w1, &waker, &h).is_pending(),
        "a re-poll does not add a waker"
    );
    let (count2, waker2) = counting_waker();
    assert!(poll(&w2, &waker2, &h).is_pending());

    let mut w = p
        .begin_store(t, 200, &hdrs(&[("Content-Length", "2")]), NOW)
        .unwrap();
    assert!(w.push(b"ok"));
    assert!(w1.outcome().is_none(), "nothing settles before finish");
    let stored = w.finish(&mut cache).unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(count2.0.load(Ordering::SeqCst), 1);
    match poll(&w1, &waker, &h) {
        Poll::Ready(Outcome::Stored(r)) => assert!(Rc::ptr_eq(&r, &stored)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.in_flight(), 0);
    hit(&mut cache, &k, &h, NOW);
}

#[test]
fn abandoned_fetch_wakes_waiters_with_not_stored() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);

    // Dropping the token.
    let t = miss(&mut cache, &k, &h, NOW);
    let waiter = wait(&mut cache, &k, &h, NOW);
    let (count, waker) = counting_waker();
    assert!(poll(&waiter, &waker, &h).is_pending());
    drop(t);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        poll(&waiter, &waker, &h),
        Poll::Ready(Outcome::NotStored)
    ));
    assert_eq!(cache.in_flight(), 0);

    // Dropping the writer mid-body; the next miss leads again (no pass marker).
    let t = miss(&mut cache, &k, &h, NOW);
    assert!(t.is_leader());
    let waiter = wait(&mut cache, &k, &h, NOW);
    let mut w = p.begin_store(t, 200, &Headers::default(), NOW).unwrap();
    assert!(w.push(b"half"));
    w.abandon();
    assert!(matches!(waiter.outcome(), Some(Outcome::NotStored)));
    assert!(miss(&mut cache, &k, &h, NOW).is_leader());
}

#[test]
fn refused_response_wakes_waiters_and_leaves_a_pass_marker() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let waiter = wait(&mut cache, &k, &h, NOW);
    let refused = p.begin_store(t, 200, &hdrs(&[("Set-Cookie", "s=1")]), NOW);
    assert_eq!(refused.unwrap_err(), NoStore::SetCookie);
    assert!(matches!(waiter.outcome(), Some(Outcome::NotStored)));

    // While the marker lasts, misses go upstream on their own: nobody queues.
    let a = miss(&mut cache, &k, &h, NOW + 1);
    let b = miss(&mut cache, &k, &h, NOW + 1);
    assert!(!a.is_leader() && !b.is_leader());
    assert_eq!(cache.in_flight(), 0);
    drop(b);
    // Such a miss may still store once the response is cacheable; that ends the marker.
    store(&p, &mut cache, a, 200, &[], b"now cacheable", NOW + 1).unwrap();
    hit(&mut cache, &k, &h, NOW + 2);
    cache.clear();
    assert!(miss(&mut cache, &k, &h, NOW + 2).is_leader());

    // The marker runs out after PASS_SECS.
    let t = miss(&mut cache, &k, &h, NOW);
    p.begin_store(t, 503, &Headers::default(), NOW).unwrap_err();
    assert!(!miss(&mut cache, &k, &h, NOW + PASS_SECS - 1).is_leader());
    assert!(miss(&mut cache, &k, &h, NOW + PASS_SECS).is_leader());
}

#[test]
fn pass_markers_are_bounded() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let refuse = |cache: &mut ResponseCache, i: usize, now: u64| {
        let path = format!("/{i}");
        let h = req(&[]);
        let k = key(&p, Method::Get, &path, &h).unwrap();
        let t = miss(cache, &k, &h, now);
        let leader = t.is_leader();
        p.begin_store(t, 500, &Headers::default(), now).unwrap_err();
        leader
    };
    for i in 0..MAX_PASS_MARKERS + 10 {
        refuse(&mut cache, i, NOW);
    }
    // Past the bound no marker was set, so these keys still lead.
    assert!(refuse(&mut cache, MAX_PASS_MARKERS + 5, NOW));
    assert!(!refuse(&mut cache, 0, NOW));
    // Once the markers expire, the sweep makes room again.
    assert!(refuse(&mut cache, MAX_PASS_MARKERS + 20, NOW + PASS_SECS));
    assert!(!refuse(&mut cache, MAX_PASS_MARKERS + 20, NOW + PASS_SECS));
}

#[test]
fn waiter_with_other_vary_values_gets_not_stored() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let gzip = req(&[("accept-encoding", "gzip")]);
    let plain = req(&[]);
    let k = get_key(&p, &gzip);
    let t = miss(&mut cache, &k, &gzip, NOW);
    let same = wait(&mut cache, &k, &gzip, NOW);
    let other = wait(&mut cache, &k, &plain, NOW);
    store(
        &p,
        &mut cache,
        t,
        200,
        &[("Vary", "Accept-Encoding")],
        b"gz",
        NOW,
    )
    .unwrap();
    let (_, waker) = counting_waker();
    assert!(matches!(
        poll(&same, &waker, &gzip),
        Poll::Ready(Outcome::Stored(_))
    ));
    assert!(matches!(
        poll(&other, &waker, &plain),
        Poll::Ready(Outcome::NotStored)
    ));
    // Its retry lookup leads a fetch for its own variant.
    assert!(miss(&mut cache, &k, &plain, NOW).is_leader());
}

#[test]
fn wait_future_resolves() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let k = get_key(&p, &h);
    let t = miss(&mut cache, &k, &h, NOW);
    let pending = wait(&mut cache, &k, &h, NOW);
    let mut fut = std::pin::pin!(pending.wait(&h));
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    store(&p, &mut cache, t, 200, &[], b"x", NOW).unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready(Outcome::Stored(_))
    ));
}

#[test]
fn conditional_requests_do_not_lead() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let cond = req(&[("If-None-Match", "\"v1\"")]);
    let k = get_key(&p, &cond);
    let t = miss(&mut cache, &k, &cond, NOW);
    assert!(!t.is_leader());
    // A plain request alongside leads; the conditional one may still store a 200.
    let plain = req(&[]);
    assert!(miss(&mut cache, &k, &plain, NOW).is_leader());
    store(&p, &mut cache, t, 200, &[], b"x", NOW).unwrap();
    hit(&mut cache, &k, &plain, NOW);
}

// ---- HEAD ----

#[test]
fn head_reads_get_entries_and_never_stores() {
    let p = CachePolicy::default();
    let mut cache = ResponseCache::new(p.max_bytes);
    let h = req(&[]);
    let head = key(&p, Method::Head, "/items", &h).unwrap();
    let get = get_key(&p, &h);
    assert!(head.is_head() && !get.is_head());
    assert_eq!(head.as_bytes(), get.as_bytes());

    // A HEAD miss goes upstream alone and is not stored.
    let t = miss(&mut cache, &head, &h, NOW);
    assert!(!t.is_leader());
    assert_eq!(cache.in_flight(), 0);
    assert!(
        miss(&mut cache, &get, &h, NOW).is_leader(),
        "GET is not made to wait on HEAD"
    );
    assert_eq!(
        p.begin_store(t, 200, &hdrs(&[("Content-Length", "5")]), NOW)
            .unwrap_err(),
        NoStore::HeadRequest
    );

    // HEAD waits on a GET fetch and is answered from it.
    let t = miss(&mut cache, &get, &h, NOW + 1);
    let waiter = wait(&mut cache, &head, &h, NOW + 1);
    store(&p, &mut cache, t, 200, &[], b"hello", NOW + 1).unwrap();
    assert!(matches!(waiter.outcome(), Some(Outcome::Stored(_))));
    let r = hit(&mut cache, &head, &h, NOW + 2);
    assert_eq!(
        &r.body[..],
        b"hello",
        "the engine sends its length, not the body"
    );
}

#[test]
fn status_names() {
    assert_eq!(CacheStatus::Hit.as_str(), "HIT");
    assert_eq!(CacheStatus::Miss.as_str(), "MISS");
    assert_eq!(CacheStatus::Bypass.as_str(), "BYPASS");
    assert_eq!(CachePolicy::default().status_header, "x-cache");
    assert_eq!(NoStore::SetCookie.as_str(), "set_cookie");
}

#[test]
fn policy_is_shareable_across_shards() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CachePolicy>();
    send_sync::<CacheKey>();
}
