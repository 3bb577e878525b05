//! Resilience policies over real sockets: retry (other target, retry count header, methods,
//! connect errors and resets, budget, backoff, body replay), circuit-breaker (open,
//! half-open, close, reopen, scopes, rate), timeout (first_byte, idle, request),
//! latency-injection, fault-injection, dynamic-routing and interrupt.
//!
//! Every gateway runs `shards: 1`: retry budgets and breakers are per shard.

mod backend;
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use backend::*;
use common::*;

/// `shards: 1` and one route `/svc/*` over `targets` (round robin), with `policies` (a
/// YAML flow list) and `extra` upstream fields (a flow-mapping body, may be empty).
fn config(targets: &[&Backend], policies: &str, extra: &str) -> String {
    let t: Vec<String> = targets
        .iter()
        .map(|b| format!("{{url: \"{}\"}}", b.url()))
        .collect();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "shards: 1\nroutes:\n  - path: /svc/*\n    policies: {policies}\n    upstream: {{type: url, targets: [{}]{extra}}}\n",
        t.join(", ")
    )
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

// ---------------------------------------------------------------------------------------
// retry
// ---------------------------------------------------------------------------------------

const QUICK_RETRY: &str =
    "[{type: retry, max_retries: 2, backoff: fixed, base_delay: 0s, retry_count_header: x-retry-count}]";

#[test]
fn retry_a_503_lands_on_the_other_target_with_the_retry_count_header() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&bad, &good], QUICK_RETRY, ""));
    let mut c = gw.connect();
    // Fewer requests than the default outlier threshold, so only the retry logic is at work.
    for _ in 0..4 {
        // A client cannot pose as a retry: its own x-retry-count is dropped.
        let r = c.request("GET", "/svc/x", &[("x-retry-count", "7")], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r}");
    }
    let first_tries = bad.hits();
    assert!(!first_tries.is_empty());
    for h in &first_tries {
        assert_eq!(h.header("x-retry-count"), None, "first attempt: {h:?}");
    }
    let at_good = good.hits();
    assert_eq!(at_good.len(), 4);
    let retried: Vec<_> = at_good
        .iter()
        .map(|h| h.header("x-retry-count").map(str::to_string))
        .collect();
    // Requests that tried `bad` first reached `good` as retry 1; any that went to `good`
    // first carry no count.
    assert_eq!(
        retried.iter().filter(|v| v.as_deref() == Some("1")).count(),
        first_tries.len(),
        "{retried:?}"
    );
    assert!(retried
        .iter()
        .all(|v| v.is_none() || v.as_deref() == Some("1")));
}

#[test]
fn retry_count_header_counts_up_and_the_last_failure_is_answered() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&bad],
        "[{type: retry, max_retries: 3, backoff: fixed, base_delay: 0s, retry_count_header: x-retry-count}]",
        "",
    ));
    let r = gw.get("/svc/x");
    assert_eq!((r.status, r.text().as_str()), (503, "bad"), "{r}");
    let counts: Vec<Option<String>> = bad
        .hits()
        .iter()
        .map(|h| h.header("x-retry-count").map(str::to_string))
        .collect();
    assert_eq!(
        counts,
        [None, Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

#[test]
fn retry_post_is_not_retried_by_default_but_is_when_listed() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let bad2 = Backend::with("bad2", Behavior::Status(503));
    let good2 = Backend::start("good2");
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /default/*\n    policies: {QUICK_RETRY}\n    upstream: {{type: url, targets: [{{url: \"{}\"}}, {{url: \"{}\"}}]}}\n  - path: /post/*\n    policies: [{{type: retry, methods: [GET, POST], backoff: fixed, base_delay: 0s}}]\n    upstream: {{type: url, targets: [{{url: \"{}\"}}, {{url: \"{}\"}}]}}\n",
        bad.url(),
        good.url(),
        bad2.url(),
        good2.url()
    );
    let gw = Gateway::start(&cfg);
    // Round robin starts at the first target: the bad one.
    let r = gw.request("POST", "/default/x", &[], b"payload");
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "bad"),
        "POST retried: {r}"
    );
    assert_eq!(good.count(), 0);
    // PUT and DELETE are idempotent: retried.
    let r = gw.request("PUT", "/default/x", &[], b"payload");
    assert_eq!(r.status, 200, "{r}");
    let r = gw.request("POST", "/post/x", &[], b"payload");
    assert_eq!((r.status, r.text().as_str()), (200, "good2"), "{r}");
    assert_eq!(good2.hits()[0].body_len, 7, "the body was replayed whole");
}

#[test]
fn retry_connect_errors_for_any_method_and_resets_on_the_other_target() {
    let mut dead = Backend::start("dead");
    dead.kill();
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&dead, &good], QUICK_RETRY, ""));
    // Nothing reached the dead target, so even a POST is retried.
    let r = gw.request("POST", "/svc/x", &[], b"abc");
    assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r}");

    let reset = Backend::with("reset", Behavior::Reset);
    let good2 = Backend::start("good2");
    let gw2 = Gateway::start(&config(&[&reset, &good2], QUICK_RETRY, ""));
    let r = gw2.get("/svc/x");
    assert_eq!((r.status, r.text().as_str()), (200, "good2"), "{r}");
    assert_eq!(reset.count(), 1);
}

#[test]
fn retry_connect_error_with_a_large_body_still_goes_to_the_other_target() {
    // Nothing reached the dead target (no connection), so the 32 KiB body is still unread
    // and can go to the live one.
    let mut dead = Backend::start("dead");
    dead.kill();
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&dead, &good], QUICK_RETRY, ""));
    let body = vec![b'z'; 32 * 1024];
    let r = gw.request("POST", "/svc/x", &[], &body);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "good"),
        "a connect error with a 32 KiB body was not retried on the live target: {r}"
    );
    assert_eq!(good.hits()[0].body_len, body.len());
}

#[test]
fn retry_statuses_outside_retry_on_are_answered_as_they_are() {
    let teapot = Backend::with("t", Behavior::Status(500));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&teapot, &good], QUICK_RETRY, ""));
    let r = gw.get("/svc/x");
    assert_eq!(r.status, 500, "500 is not in the default retry_on: {r}");
    assert_eq!(good.count(), 0);
}

#[test]
fn retry_budget_stops_retries_once_spent() {
    // budget_percent 0 leaves only the floor: 10 retries/s for the process over the 10 s
    // window, so 100 retries on one shard; then failures go back unretried. A second
    // route with budget_percent 100 retries every request.
    let stingy = Backend::with("stingy", Behavior::Status(503));
    let generous = Backend::with("generous", Behavior::Status(503));
    let pol = |pct: u32| {
        format!("[{{type: retry, max_retries: 1, backoff: fixed, base_delay: 0s, budget_percent: {pct}}}]")
    };
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /stingy/*\n    policies: {}\n    upstream: {{type: url, target: \"{}\"}}\n  - path: /generous/*\n    policies: {}\n    upstream: {{type: url, target: \"{}\"}}\n",
        pol(0),
        stingy.url(),
        pol(100),
        generous.url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.connect();
    let n = 130;
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(c.request("GET", "/stingy/x", &[], b"").status, 503);
    }
    for _ in 0..n {
        assert_eq!(c.request("GET", "/generous/x", &[], b"").status, 503);
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "too slow for the 10 s window"
    );
    assert_eq!(
        stingy.count() - n,
        100,
        "retries made with budget_percent 0 (floor: 100 per 10 s on one shard)"
    );
    assert_eq!(
        generous.count() - n,
        n,
        "budget_percent 100 retries everything"
    );
    // The last requests on the spent budget reached the upstream once each.
    let hits = stingy.hits();
    assert!(hits[hits.len() - 20..]
        .iter()
        .all(|h| h.header("x-retry-count").is_none()));
}

/// `shards: 1`, a `/svc/*` route over `target` with one `retry` policy of `retry_options`
/// (the body of a flow mapping) and a `/marker` route answering `marker`, which tells when a
/// reload has reached the shard.
fn budget_config(target: &Backend, retry_options: &str, marker: &str) -> String {
    format!(
        "shards: 1\nroutes:\n  - path: /svc/*\n    policies: [{{type: retry, backoff: fixed, base_delay: 0s, retry_count_header: x-retry-count, {retry_options}}}]\n    upstream: {{type: url, target: \"{}\"}}\n  - path: /marker\n    upstream: {{type: static, body: {marker}}}\n",
        target.url()
    )
}

/// Rewrites the config to `yaml`, sends SIGHUP and waits until `/marker` answers `marker`.
fn reload(gw: &Gateway, yaml: &str, marker: &str) {
    let reloads = gw.stderr().matches("config reloaded").count();
    gw.rewrite_config(yaml);
    gw.signal(libc::SIGHUP);
    assert!(
        poll(Duration::from_secs(5), || gw
            .stderr()
            .matches("config reloaded")
            .count()
            > reloads),
        "no reload: {}",
        gw.stderr()
    );
    assert!(
        poll(Duration::from_secs(5), || gw.get("/marker").text()
            == marker),
        "the shard still serves the old config"
    );
}

/// The `x-retry-count` of each hit on `b` from the `skip`-th on.
fn retry_counts(b: &Backend, skip: usize) -> Vec<Option<String>> {
    b.hits()
        .iter()
        .skip(skip)
        .map(|h| h.header("x-retry-count").map(str::to_string))
        .collect()
}

#[test]
fn retry_with_no_share_and_no_floor_makes_one_attempt() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let gw = Gateway::start(&budget_config(
        &bad,
        "max_retries: 3, budget_percent: 0, budget_min_per_second: 0",
        "v1",
    ));
    let mut c = gw.connect();
    for i in 1..=5 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (503, "bad"), "{r}");
        assert_eq!(bad.count(), i, "request {i} was retried");
    }
    assert_eq!(retry_counts(&bad, 0), vec![None; 5]);
}

#[test]
fn retry_budget_follows_a_reload_of_its_share_and_floor() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let gw = Gateway::start(&budget_config(
        &bad,
        "max_retries: 2, budget_percent: 0, budget_min_per_second: 0",
        "v1",
    ));
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_eq!(bad.count(), 1, "retried with no budget");

    reload(
        &gw,
        &budget_config(
            &bad,
            "max_retries: 2, budget_percent: 100, budget_min_per_second: 10",
            "v2",
        ),
        "v2",
    );
    let r = gw.get("/svc/x");
    assert_eq!((r.status, r.text().as_str()), (503, "bad"), "{r}");
    assert_eq!(
        retry_counts(&bad, 1),
        [None, Some("1".into()), Some("2".into())],
        "the budget of the old config was kept"
    );
}

#[test]
fn retry_budget_and_its_counts_survive_an_unrelated_reload() {
    // A floor of 0.1/s on one shard is one retry per 10 s window.
    let bad = Backend::with("bad", Behavior::Status(503));
    let gw = Gateway::start(&budget_config(
        &bad,
        "max_retries: 1, budget_percent: 0, budget_min_per_second: 0.1",
        "v1",
    ));
    let started = Instant::now();
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_eq!(
        retry_counts(&bad, 0),
        [None, Some("1".into()), None],
        "one retry, then the budget is spent"
    );

    // Other options change, the budget's do not: still spent.
    reload(
        &gw,
        &budget_config(
            &bad,
            "max_retries: 2, budget_percent: 0, budget_min_per_second: 0.1",
            "v2",
        ),
        "v2",
    );
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_eq!(retry_counts(&bad, 3), [None], "the reload reset the budget");

    // A new floor is a new budget: two retries per window.
    reload(
        &gw,
        &budget_config(
            &bad,
            "max_retries: 2, budget_percent: 0, budget_min_per_second: 0.2",
            "v3",
        ),
        "v3",
    );
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_eq!(
        retry_counts(&bad, 4),
        [None, Some("1".into()), Some("2".into())]
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "too slow for the 10 s window"
    );
}

#[test]
fn retry_fixed_backoff_waits_longer_than_the_default_max_delay() {
    let b = Backend::with("slowpoke", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: retry, max_retries: 1, backoff: fixed, base_delay: 1500ms, jitter: false}]",
        "",
    ));
    assert_eq!(gw.get("/svc/x").status, 503);
    let g = gaps(&b);
    assert_eq!(g.len(), 1, "{g:?}");
    assert!(
        (1490..2000).contains(&g[0]),
        "fixed 1500ms waited {g:?} ms (the 1 s default max_delay must not apply)"
    );
}

fn gaps(b: &Backend) -> Vec<u128> {
    b.hits().windows(2).map(|w| ms(w[1].at - w[0].at)).collect()
}

#[test]
fn retry_backoff_fixed_and_exponential() {
    let fixed = Backend::with("fixed", Behavior::Status(503));
    let expo = Backend::with("expo", Behavior::Status(503));
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /fixed/*\n    policies: [{{type: retry, max_retries: 2, backoff: fixed, base_delay: 250ms, jitter: false}}]\n    upstream: {{type: url, target: \"{}\"}}\n  - path: /expo/*\n    policies: [{{type: retry, max_retries: 3, backoff: exponential, base_delay: 100ms, max_delay: 300ms, jitter: false}}]\n    upstream: {{type: url, target: \"{}\"}}\n",
        fixed.url(),
        expo.url()
    );
    let gw = Gateway::start(&cfg);
    let t = Instant::now();
    assert_eq!(gw.get("/fixed/x").status, 503);
    let took = t.elapsed();
    let g = gaps(&fixed);
    assert_eq!(g.len(), 2, "{g:?}");
    assert!(
        g.iter().all(|&d| (240..450).contains(&d)),
        "fixed 250ms: {g:?}"
    );
    assert!(took >= Duration::from_millis(500), "{took:?}");

    assert_eq!(gw.get("/expo/x").status, 503);
    let g = gaps(&expo);
    assert_eq!(g.len(), 3, "{g:?}");
    // 100, 200, then 400 capped at max_delay 300.
    for (got, want) in g.iter().zip([100u128, 200, 300]) {
        assert!(
            (want - 10..want + 200).contains(got),
            "exponential: gaps {g:?}, expected about [100, 200, 300]"
        );
    }
}

#[test]
fn retry_jitter_stays_below_the_computed_delay() {
    let b = Backend::with("j", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: retry, max_retries: 3, backoff: fixed, base_delay: 300ms, jitter: true}]",
        "",
    ));
    for _ in 0..3 {
        assert_eq!(gw.get("/svc/x").status, 503);
    }
    let hits = b.hits();
    assert_eq!(hits.len(), 12);
    let within: Vec<u128> = hits
        .chunks(4)
        .flat_map(|req| {
            req.windows(2)
                .map(|w| ms(w[1].at - w[0].at))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        within.iter().all(|&d| d < 420),
        "jittered gaps over 300 ms: {within:?}"
    );
    assert!(
        within.iter().any(|&d| d < 250),
        "9 jittered waits all near 300 ms: jitter not applied? {within:?}"
    );
}

#[test]
fn retry_on_timeout_goes_to_the_other_target() {
    let slow = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_secs(3), Behavior::Ok),
    );
    let good = Backend::start("good");
    let gw = Gateway::start(&config(
        &[&slow, &good],
        "[{type: timeout, first_byte: 300ms}, {type: retry, retry_on: [timeout, 503], backoff: fixed, base_delay: 0s}]",
        "",
    ));
    let t = Instant::now();
    let r = gw.get("/svc/x");
    assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn retry_replays_a_body_up_to_max_replay_bytes() {
    // 32 KiB is under the default max_replay_bytes (64 KiB): the PUT is retried on the other
    // target with its whole body.
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&bad, &good], QUICK_RETRY, ""));
    let body = vec![b'x'; 32 * 1024];
    let r = gw.request("PUT", "/svc/x", &[], &body);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "good"),
        "a 32 KiB PUT was not retried (max_replay_bytes defaults to 64 KiB): {r}"
    );
    assert_eq!(good.hits()[0].body_len, body.len());
}

#[test]
fn retry_replays_a_small_body_that_arrived_after_the_head() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(&[&bad, &good], QUICK_RETRY, ""));
    let mut c = gw.connect();
    c.send(b"PUT /svc/x HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    c.send(b"hello");
    let r = c.read_final("PUT");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "good"),
        "a 5-byte PUT body sent just after its head was not retried: {r}"
    );
}

#[test]
fn retry_max_replay_bytes_zero_never_replays_a_body() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(
        &[&bad, &good],
        "[{type: retry, backoff: fixed, base_delay: 0s, max_replay_bytes: 0}]",
        "",
    ));
    let r = gw.request("PUT", "/svc/x", &[], b"abc");
    assert_eq!(
        r.status, 503,
        "max_replay_bytes: 0, yet a PUT with a body was retried: {r}"
    );
    // A bodiless request is still retried.
    let r = gw.get("/svc/x");
    assert_eq!(r.status, 200, "{r}");
}

// ---------------------------------------------------------------------------------------
// circuit-breaker
// ---------------------------------------------------------------------------------------

fn assert_circuit_open(r: &Response, max_retry_after: u64) {
    assert_gateway_error(r, 503, "circuit_open");
    let ra: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no retry-after: {r}"))
        .parse()
        .unwrap();
    assert!((1..=max_retry_after).contains(&ra), "retry-after {ra}");
}

#[test]
fn breaker_opens_half_opens_and_closes() {
    let b = Backend::with("b", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 3, reset_timeout: 1s}]",
        "",
    ));
    let mut c = gw.connect();
    for _ in 0..3 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 503);
    }
    let opened = Instant::now();
    assert_eq!(b.count(), 3);
    for _ in 0..5 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_circuit_open(&r, 1);
    }
    assert_eq!(b.count(), 3, "an open breaker called the upstream");
    // Half-open after reset_timeout: the next request is a probe; it succeeds and closes.
    b.set(Behavior::Ok);
    thread::sleep(Duration::from_millis(1100).saturating_sub(opened.elapsed()));
    let r = c.request("GET", "/svc/x", &[], b"");
    assert_eq!(r.status, 200, "probe: {r}");
    for _ in 0..5 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 200);
    }
    assert_eq!(b.count(), 9);
    // State changes are logged.
    let log = gw.stderr();
    assert!(
        log.contains("circuit breaker changed state"),
        "no transition logged:\n{log}"
    );
}

#[test]
fn breaker_reopens_after_a_failed_probe() {
    let b = Backend::with("b", Behavior::Status(502));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 2, reset_timeout: 800ms}]",
        "",
    ));
    let mut c = gw.connect();
    for _ in 0..2 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 502);
    }
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 1);
    thread::sleep(Duration::from_millis(900));
    // The probe fails: open again at once, for another reset_timeout.
    assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 502);
    assert_eq!(b.count(), 3);
    let reopened = Instant::now();
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 1);
    assert_eq!(b.count(), 3, "a failed probe did not reopen the breaker");
    // And half-opens again after another reset_timeout; a good probe closes it.
    b.set(Behavior::Ok);
    thread::sleep(Duration::from_millis(900).saturating_sub(reopened.elapsed()));
    assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 200);
    assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 200);
}

#[test]
fn breaker_half_open_lets_only_half_open_max_probes_through() {
    let b = Backend::with("b", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 1, reset_timeout: 500ms}]",
        "",
    ));
    assert_eq!(gw.get("/svc/x").status, 503);
    assert_circuit_open(&gw.get("/svc/x"), 1);
    thread::sleep(Duration::from_millis(600));
    b.set(Behavior::delayed(Duration::from_millis(600), Behavior::Ok));
    let addr = gw.addr();
    let probe = thread::spawn(move || Conn::connect(addr).request("GET", "/svc/x", &[], b""));
    assert!(poll(Duration::from_secs(2), || b.count() >= 2));
    // While the one probe is in flight, others are refused with Retry-After: 1.
    let r = gw.get("/svc/x");
    assert_circuit_open(&r, 1);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(probe.join().unwrap().status, 200);
    assert_eq!(gw.get("/svc/x").status, 200, "closed after the probe");
}

#[test]
fn breaker_per_target_sends_traffic_to_the_closed_target() {
    let bad = Backend::with("bad", Behavior::Status(503));
    let good = Backend::start("good");
    let gw = Gateway::start(&config(
        &[&bad, &good],
        "[{type: circuit-breaker, failure_threshold: 2, reset_timeout: 10s}]",
        "",
    ));
    let mut c = gw.connect();
    while bad.count() < 2 {
        c.request("GET", "/svc/x", &[], b"");
    }
    for _ in 0..10 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r}");
    }
    assert_eq!(bad.count(), 2);
}

#[test]
fn breaker_skipping_an_open_target_is_not_a_retry() {
    // A's breaker is open, so the request goes to B without having been sent anywhere
    // else: B must not see it as a retry, and it must keep its full retry allowance.
    let a = Backend::with("a", Behavior::Status(503));
    let b = Backend::start("b");
    let gw = Gateway::start(&config(
        &[&a, &b],
        "[{type: circuit-breaker, failure_threshold: 1, reset_timeout: 10s}, {type: retry, max_retries: 1, backoff: fixed, base_delay: 0s, retry_count_header: x-retry-count}]",
        "",
    ));
    let mut c = gw.connect();
    // Opens A's breaker; the retry lands on B as retry 1.
    let r = c.request("GET", "/svc/x", &[], b"");
    assert_eq!(r.text(), "b");
    assert_eq!(b.hits()[0].header("x-retry-count"), Some("1"));
    assert_eq!(a.count(), 1);
    // Round robin offers A first again; its breaker refuses; B serves the first attempt.
    let r = c.request("GET", "/svc/x", &[], b"");
    assert_eq!(r.text(), "b");
    assert_eq!(a.count(), 1);
    assert_eq!(
        b.hits()[1].header("x-retry-count"),
        None,
        "first real attempt sent as a retry"
    );
}

#[test]
fn breaker_route_scope_adds_up_failures_of_every_target() {
    // One failure on each target: two failures for the route breaker (threshold 2), one per
    // target for the per-target breakers.
    let a = Backend::with("a", Behavior::Status(503));
    let b = Backend::with("b", Behavior::Status(503));
    let cfg_route = config(
        &[&a, &b],
        "[{type: circuit-breaker, scope: route, failure_threshold: 2, reset_timeout: 10s}]",
        "",
    );
    let gw = Gateway::start(&cfg_route);
    let mut c = gw.connect();
    for _ in 0..2 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 503);
    }
    assert_eq!((a.count(), b.count()), (1, 1));
    a.set(Behavior::Ok);
    b.set(Behavior::Ok);
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 10);
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 10);
    assert_eq!((a.count(), b.count()), (1, 1));

    let x = Backend::with("x", Behavior::Status(503));
    let y = Backend::with("y", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&x, &y],
        "[{type: circuit-breaker, failure_threshold: 2, reset_timeout: 10s}]",
        "",
    ));
    let mut c = gw.connect();
    for _ in 0..2 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 503);
    }
    x.set(Behavior::Ok);
    y.set(Behavior::Ok);
    assert_eq!(
        c.request("GET", "/svc/x", &[], b"").status,
        200,
        "per-target scope"
    );
}

#[test]
fn breaker_failure_rate_needs_min_requests() {
    let b = Backend::with("b", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_rate: 0.5, min_requests: 4, window: 10s, reset_timeout: 10s}]",
        "",
    ));
    let mut c = gw.connect();
    for _ in 0..3 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 503);
    }
    // Three failures out of three, but below min_requests: still closed.
    assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 503);
    assert_eq!(b.count(), 4);
    // The fourth made it 4/4: open.
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 10);
    assert_eq!(b.count(), 4);
}

#[test]
fn breaker_failure_rate_with_successes_mixed_in() {
    let b = Backend::start("b");
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_rate: 0.5, min_requests: 4, window: 10s, reset_timeout: 10s}]",
        "",
    ));
    let mut c = gw.connect();
    // ok, fail, ok, fail: 2 of 4 failed = 0.5: open.
    for (i, behavior) in [
        Behavior::Ok,
        Behavior::Status(503),
        Behavior::Ok,
        Behavior::Status(503),
    ]
    .into_iter()
    .enumerate()
    {
        b.set(behavior);
        let r = c.request("GET", "/svc/x", &[], b"");
        assert!(
            r.header("retry-after").is_none(),
            "opened early, at request {i}: {r}"
        );
    }
    b.set(Behavior::Ok);
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 10);
}

#[test]
fn breaker_failure_threshold_counts_failures_within_the_window() {
    // docs/config.md: "failure_threshold: open after this many failures within `window`".
    // fail, fail, ok, fail is three failures within 10 s.
    let b = Backend::start("b");
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 3, window: 10s, reset_timeout: 10s}]",
        "",
    ));
    let mut c = gw.connect();
    for behavior in [
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Ok,
        Behavior::Status(503),
    ] {
        b.set(behavior);
        c.request("GET", "/svc/x", &[], b"");
    }
    b.set(Behavior::Ok);
    let r = c.request("GET", "/svc/x", &[], b"");
    assert_eq!(
        r.status, 503,
        "three failures within the window did not open the breaker (a success in between reset the count): {r}"
    );
}

#[test]
fn breaker_failure_on_decides_which_statuses_count() {
    let b = Backend::with("b", Behavior::Status(503));
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 2, reset_timeout: 10s, failure_on: [500]}]",
        "",
    ));
    let mut c = gw.connect();
    for _ in 0..5 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").text(), "b");
    }
    b.set(Behavior::Status(500));
    for _ in 0..2 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").status, 500);
    }
    assert_circuit_open(&c.request("GET", "/svc/x", &[], b""), 10);
}

#[test]
fn breaker_counts_connection_failures_and_closes_once_the_target_is_back() {
    let mut b = Backend::start("b");
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: circuit-breaker, failure_threshold: 2, reset_timeout: 700ms}]",
        "",
    ));
    assert_eq!(gw.get("/svc/x").status, 200);
    b.kill();
    for _ in 0..2 {
        assert_gateway_error(&gw.get("/svc/x"), 502, "bad_gateway");
    }
    assert_circuit_open(&gw.get("/svc/x"), 1);
    b.revive();
    thread::sleep(Duration::from_millis(800));
    assert_eq!(gw.get("/svc/x").status, 200);
    assert_eq!(gw.get("/svc/x").status, 200);
}

// ---------------------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------------------

#[test]
fn timeout_first_byte_gives_504() {
    let b = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_secs(3), Behavior::Ok),
    );
    let gw = Gateway::start(&config(&[&b], "[{type: timeout, first_byte: 300ms}]", ""));
    let t = Instant::now();
    let r = gw.get("/svc/x");
    let took = t.elapsed();
    assert_gateway_error(&r, 504, "gateway_timeout");
    assert!(
        (250..1000).contains(&ms(took)),
        "504 after {took:?}, first_byte is 300ms"
    );
}

/// Sends `GET path` and reads the response head, then body bytes until the end of the body
/// or until the gateway closes; returns (head, body bytes, whether the body was complete,
/// time from the request to the end).
fn read_streamed(gw: &Gateway, path: &str) -> (Response, Vec<u8>, bool, Duration) {
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    write!(s, "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut wire = Wire::new(s);
    let head = wire.read_head().unwrap().expect("a response head");
    let (start, headers) = parse_head(&head);
    let status: u16 = start.split(' ').nth(1).unwrap().parse().unwrap();
    let resp = Response {
        version: "HTTP/1.1".into(),
        status,
        reason: String::new(),
        headers,
        body: Vec::new(),
    };
    let mut body = Vec::new();
    let complete = if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        wire.read_chunked_to(&mut |b| body.extend_from_slice(b))
            .is_ok()
    } else if let Some(cl) = resp.header("content-length") {
        wire.read_exact_to(cl.parse().unwrap(), &mut |b| body.extend_from_slice(b))
            .is_ok()
    } else {
        wire.read_to_close(&mut |b| body.extend_from_slice(b))
            .is_ok()
    };
    (resp, body, complete, t.elapsed())
}

#[test]
fn timeout_first_byte_counts_from_the_end_of_a_slow_upload() {
    // first_byte is the wait for the response head after the request went upstream; a slow
    // upload (1.2 s of body) must not use it up. The upstream answers 150 ms after the body.
    let b = Backend::with(
        "b",
        Behavior::delayed(Duration::from_millis(150), Behavior::Ok),
    );
    let gw = Gateway::start(&config(&[&b], "[{type: timeout, first_byte: 500ms}]", ""));
    let mut c = gw.connect();
    c.send(b"POST /svc/upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n");
    for _ in 0..6 {
        thread::sleep(Duration::from_millis(200));
        c.send(b"5\r\nhello\r\n");
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_final("POST");
    assert_eq!(
        r.status, 200,
        "a 1.2 s upload answered at once by the upstream timed out on first_byte (500ms): {r}"
    );
    assert_eq!(b.hits()[0].body_len, 30);
}

#[test]
fn timeout_idle_cuts_a_stalled_body() {
    let stalled = Backend::with(
        "stalled",
        Behavior::Sized {
            len: 100,
            pieces: vec![(Duration::ZERO, vec![b'a'; 10])],
        },
    );
    let gw = Gateway::start(&config(&[&stalled], "[{type: timeout, idle: 400ms}]", ""));
    let (r, body, complete, took) = read_streamed(&gw, "/svc/x");
    assert_eq!(r.status, 200);
    assert!(!complete, "body complete?");
    assert_eq!(body.len(), 10);
    assert!(
        (300..1500).contains(&ms(took)),
        "connection closed after {took:?}, idle is 400ms"
    );
}

#[test]
fn timeout_idle_cuts_a_stalled_chunked_stream() {
    let stalled = Backend::with(
        "stalled",
        Behavior::Chunks {
            content_type: "text/plain".into(),
            chunks: vec![(Duration::ZERO, b"one".to_vec())],
            finish: false,
        },
    );
    let gw = Gateway::start(&config(&[&stalled], "[{type: timeout, idle: 400ms}]", ""));
    let (r, body, complete, took) = read_streamed(&gw, "/svc/x");
    assert_eq!(r.status, 200);
    assert!(!complete, "a stalled stream was terminated as if complete");
    assert_eq!(body, b"one");
    assert!((300..1500).contains(&ms(took)), "closed after {took:?}");
}

fn trickle(n: usize, every: Duration) -> Vec<(Duration, Vec<u8>)> {
    (0..n)
        .map(|i| (every, format!("piece {i}\n").into_bytes()))
        .collect()
}

#[test]
fn timeout_idle_lets_a_slow_but_flowing_stream_complete() {
    let b = Backend::with(
        "flowing",
        Behavior::Chunks {
            content_type: "text/plain".into(),
            chunks: trickle(8, Duration::from_millis(200)),
            finish: true,
        },
    );
    let gw = Gateway::start(&config(&[&b], "[{type: timeout, idle: 500ms}]", ""));
    let (r, body, complete, took) = read_streamed(&gw, "/svc/x");
    assert_eq!(r.status, 200);
    assert!(complete, "cut after {took:?} with {} bytes", body.len());
    assert_eq!(body.iter().filter(|&&c| c == b'\n').count(), 8);
    assert!(took >= Duration::from_millis(1500));
}

#[test]
fn timeout_idle_does_not_cut_a_flowing_stream_longer_than_the_upstream_timeout() {
    // docs/config.md (url upstream): "While the body streams, `timeout` bounds each wait for
    // more upstream bytes, so a long download lives as long as it keeps flowing"; and the
    // timeout policy's idle is "so a long stream is not cut while it flows".
    let b = Backend::with(
        "flowing",
        Behavior::Chunks {
            content_type: "text/plain".into(),
            chunks: trickle(10, Duration::from_millis(200)),
            finish: true,
        },
    );
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: timeout, idle: 500ms}]",
        "timeout: 1s",
    ));
    let (r, body, complete, took) = read_streamed(&gw, "/svc/x");
    assert_eq!(r.status, 200);
    assert!(
        complete,
        "a stream flowing every 200 ms was cut after {took:?} ({} bytes): the upstream timeout (1s) acts as a whole-response deadline",
        body.len()
    );
}

#[test]
fn timeout_request_bounds_the_whole_exchange() {
    // Before the head: 504.
    let slow_head = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_secs(3), Behavior::Ok),
    );
    let gw = Gateway::start(&config(
        &[&slow_head],
        "[{type: timeout, request: 500ms}]",
        "",
    ));
    let t = Instant::now();
    let r = gw.get("/svc/x");
    assert_gateway_error(&r, 504, "gateway_timeout");
    assert!((400..1200).contains(&ms(t.elapsed())), "{:?}", t.elapsed());

    // After the head: a body still flowing when the deadline passes is cut.
    let flowing = Backend::with(
        "flowing",
        Behavior::Chunks {
            content_type: "text/plain".into(),
            chunks: trickle(30, Duration::from_millis(100)),
            finish: true,
        },
    );
    let gw = Gateway::start(&config(&[&flowing], "[{type: timeout, request: 1s}]", ""));
    let (r, body, complete, took) = read_streamed(&gw, "/svc/x");
    assert_eq!(r.status, 200);
    assert!(!complete, "the body outlived request: 1s ({took:?})");
    assert!(!body.is_empty());
    assert!((900..2000).contains(&ms(took)), "cut after {took:?}");
}

#[test]
fn timeout_request_covers_retries_and_their_backoff() {
    let b = Backend::with(
        "b",
        Behavior::delayed(Duration::from_millis(300), Behavior::Status(503)),
    );
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: timeout, request: 800ms}, {type: retry, max_retries: 5, backoff: fixed, base_delay: 100ms, jitter: false}]",
        "",
    ));
    let t = Instant::now();
    let r = gw.get("/svc/x");
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(1300),
        "request: 800ms but the retries ran {took:?}: {r}"
    );
    assert!(b.count() <= 3, "{} attempts in 800 ms", b.count());
    assert!(r.status == 503 || r.status == 504, "{r}");
}

// ---------------------------------------------------------------------------------------
// latency-injection and fault-injection
// ---------------------------------------------------------------------------------------

#[test]
fn latency_injection_delays_then_forwards() {
    let b = Backend::start("b");
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /slow/*\n    policies: [{{type: latency-injection, delay: 400ms}}]\n    upstream: {{type: url, target: \"{u}\"}}\n  - path: /never/*\n    policies: [{{type: latency-injection, delay: 2s, percentage: 0}}]\n    upstream: {{type: url, target: \"{u}\"}}\n  - path: /jitter/*\n    policies: [{{type: latency-injection, delay: 200ms, jitter: 200ms}}]\n    upstream: {{type: url, target: \"{u}\"}}\n",
        u = b.url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.connect();
    let t = Instant::now();
    let r = c.request("GET", "/slow/x", &[], b"");
    assert_eq!(r.status, 200);
    let took = t.elapsed();
    assert!((390..1000).contains(&ms(took)), "{took:?}");
    assert_eq!(b.count(), 1);
    assert!(
        b.hits()[0].at - t >= Duration::from_millis(390),
        "delayed after the upstream call"
    );

    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(c.request("GET", "/never/x", &[], b"").status, 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    for _ in 0..4 {
        let t = Instant::now();
        assert_eq!(c.request("GET", "/jitter/x", &[], b"").status, 200);
        assert!((190..600).contains(&ms(t.elapsed())), "{:?}", t.elapsed());
    }
}

#[test]
fn fault_injection_100_always_0_never() {
    let b = Backend::start("b");
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /always/*\n    policies: [{{type: fault-injection, abort_status: 418, percentage: 100, message: teapot time}}]\n    upstream: {{type: url, target: \"{u}\"}}\n  - path: /never/*\n    policies: [{{type: fault-injection, abort_status: 503, percentage: 0}}]\n    upstream: {{type: url, target: \"{u}\"}}\n  - path: /half/*\n    policies: [{{type: fault-injection, abort_status: 500, percentage: 50}}]\n    upstream: {{type: url, target: \"{u}\"}}\n",
        u = b.url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.connect();
    for _ in 0..10 {
        let r = c.request("GET", "/always/x", &[], b"");
        assert_gateway_error(&r, 418, "fault_injected");
        assert_eq!(r.json()["message"], "teapot time");
    }
    assert_eq!(b.count(), 0, "a faulted request reached the upstream");
    for _ in 0..20 {
        assert_eq!(c.request("GET", "/never/x", &[], b"").status, 200);
    }
    assert_eq!(b.count(), 20);
    let faults = (0..200)
        .filter(|_| c.request("GET", "/half/x", &[], b"").status == 500)
        .count();
    assert!((60..=140).contains(&faults), "{faults} of 200 at 50%");
    let r = c.request("GET", "/never/x", &[], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn fault_injection_default_message() {
    let b = Backend::start("b");
    let gw = Gateway::start(&config(
        &[&b],
        "[{type: fault-injection, abort_status: 503, percentage: 100}]",
        "",
    ));
    let r = gw.get("/svc/x");
    assert_gateway_error(&r, 503, "fault_injected");
    assert_eq!(r.json()["message"], "Fault injected");
}

// ---------------------------------------------------------------------------------------
// dynamic-routing and interrupt
// ---------------------------------------------------------------------------------------

#[test]
fn dynamic_routing_sends_matching_requests_to_the_rule_target() {
    let main = Backend::start("main");
    let canary = Backend::start("canary");
    let v2 = Backend::start("v2");
    let q = Backend::start("query");
    let writes = Backend::start("writes");
    let cfg = format!(
        r#"shards: 1
routes:
  - path: /api/*
    policies:
      - type: dynamic-routing
        rules:
          - when: {{headers: {{x-canary: "^1$"}}}}
            target: "{canary}"
          - when: {{path: "^/api/v2/", method: [GET, HEAD]}}
            target: "{v2}/base"
            strip_prefix: /api/v2
          - when: {{query: {{beta: "^(yes|true)$"}}}}
            target: "{q}"
          - when: {{method: [POST, DELETE]}}
            target: "{writes}/w"
            strip_prefix: /api
    upstream: {{type: url, target: "{main}/m", headers: {{x-from-upstream: "1"}}}}
"#,
        canary = canary.url(),
        v2 = v2.url(),
        q = q.url(),
        writes = writes.url(),
        main = main.url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.connect();
    let mut go = |m: &str, path: &str, h: &[(&str, &str)]| {
        let r = c.request(m, path, h, b"");
        assert_eq!(r.status, 200, "{m} {path}: {r}");
        r.text()
    };
    // No rule: the route's upstream, with its prefix.
    assert_eq!(go("GET", "/api/items?x=1", &[]), "main");
    assert_eq!(main.hits().last().unwrap().target, "/m/api/items?x=1");
    // Header rule (first match wins, even on a v2 path).
    assert_eq!(go("GET", "/api/v2/items", &[("x-canary", "1")]), "canary");
    assert_eq!(canary.hits().last().unwrap().target, "/api/v2/items");
    // The rest of the route's upstream settings apply to the rule's target.
    assert_eq!(
        canary.hits().last().unwrap().header("x-from-upstream"),
        Some("1")
    );
    assert_eq!(
        go("GET", "/api/x", &[("x-canary", "10")]),
        "main",
        "regex anchored"
    );
    // Path + method rule, strip_prefix applied, target prefix added, query kept.
    assert_eq!(go("GET", "/api/v2/items/9?all=1", &[]), "v2");
    assert_eq!(v2.hits().last().unwrap().target, "/base/items/9?all=1");
    // The regex decides: /api/v2 alone does not match "^/api/v2/".
    assert_eq!(go("GET", "/api/v2", &[]), "main");
    assert_eq!(
        go("PUT", "/api/v2/items", &[]),
        "main",
        "method not in the rule"
    );
    // Query rule.
    assert_eq!(go("GET", "/api/list?beta=yes", &[]), "query");
    assert_eq!(q.hits().last().unwrap().target, "/api/list?beta=yes");
    assert_eq!(go("GET", "/api/list?beta=no", &[]), "main");
    // Method rule.
    assert_eq!(go("DELETE", "/api/things/3", &[]), "writes");
    assert_eq!(writes.hits().last().unwrap().target, "/w/things/3");
    assert_eq!(writes.hits().last().unwrap().method, "DELETE");
}

#[test]
fn interrupt_answers_matching_requests_at_the_gateway() {
    let b = Backend::start("b");
    let cfg = format!(
        r#"shards: 1
routes:
  - path: /v1/*
    policies:
      - type: interrupt
        when: {{path: "^/v1/", method: [POST, PUT, DELETE]}}
        status: 410
        headers: {{content-type: text/plain, x-why: read-only}}
        body: "API v1 is read-only"
      - type: interrupt
        name: maintenance
        when: {{headers: {{x-maintenance: ""}}}}
        status: 503
        body: "down for maintenance"
    upstream: {{type: url, target: "{u}"}}
"#,
        u = b.url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.connect();
    let r = c.request("POST", "/v1/items", &[], b"{}");
    assert_eq!(r.status, 410, "{r}");
    assert_eq!(r.text(), "API v1 is read-only");
    assert_eq!(r.header("x-why"), Some("read-only"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    r.assert_ids();
    let r = c.request("DELETE", "/v1/items/1", &[], b"");
    assert_eq!(r.status, 410);
    let r = c.request("GET", "/v1/items", &[("x-maintenance", "yes")], b"");
    assert_eq!((r.status, r.text().as_str()), (503, "down for maintenance"));
    assert_eq!(b.count(), 0, "an interrupted request reached the upstream");
    let r = c.request("GET", "/v1/items", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "b"));
    assert_eq!(b.count(), 1);
}
