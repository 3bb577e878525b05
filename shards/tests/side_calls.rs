//! Calls the gateway makes besides the proxied one: traffic-shadow copies, http-callout
//! lookups, and the `health` upstream's probes.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn seen_header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn shadow_copies_reach_the_mirror_without_touching_the_answer() {
    let primary = TestUpstream::new().start();
    let mirror = TestUpstream::new().start();
    let yaml = format!(
        r#"
        routes:
          - path: /orders/*
            policies:
              - {{type: traffic-shadow, target: "http://127.0.0.1:{}", percentage: 100, timeout: 1s}}
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#,
        mirror.port()
    );
    let gw = Gateway::start(&primary.fill(&yaml));
    let r = gw.request(
        "POST",
        "/orders/7?x=1",
        &[("content-type", "application/json")],
        b"{\"a\":1}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.echo().target, "/orders/7?x=1");
    assert!(
        mirror.wait_heads(1, Duration::from_secs(3)),
        "the mirror never got its copy"
    );
    let copy = &mirror.seen()[0];
    assert_eq!(copy.method, "POST");
    assert_eq!(copy.target, "/orders/7?x=1");
    assert_eq!(copy.body_len, 7);
    assert_eq!(seen_header(copy, "x-sluice-shadow"), Some("1"));
    assert_eq!(primary.seen().len(), 1);
}

#[test]
fn a_dead_mirror_never_delays_or_fails_the_request() {
    let primary = TestUpstream::new().start();
    let dead = free_port();
    let yaml = format!(
        r#"
        routes:
          - path: /a
            policies: [{{type: traffic-shadow, target: "http://127.0.0.1:{dead}", timeout: 2s}}]
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#
    );
    let gw = Gateway::start(&primary.fill(&yaml));
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(gw.get("/a").status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn callout_answer_fields_become_request_headers() {
    let lookup = TestUpstream::new()
        .route(
            "/lookup",
            Reply::with_headers(
                200,
                &[("content-type", "application/json")],
                r#"{"user":{"tier":"gold"},"id":7}"#,
            ),
        )
        .start();
    let up = TestUpstream::new().start();
    let yaml = format!(
        r#"
        routes:
          - path: /a
            policies:
              - type: http-callout
                url: "http://127.0.0.1:{}/lookup"
                method: POST
                body: '{{"path":"{{{{path}}}}","who":"{{{{header.x-user}}}}"}}'
                set_headers_from: {{x-tier: /user/tier, x-id: /id}}
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#,
        lookup.port()
    );
    let gw = Gateway::start(&up.fill(&yaml));
    let r = gw.request("GET", "/a", &[("x-user", "ann\"e")], b"");
    assert_eq!(r.status, 200, "{r}");
    let echo = r.echo();
    assert_eq!(echo.header("x-tier"), Some("gold"));
    assert_eq!(echo.header("x-id"), Some("7"));
    let call = &lookup.seen()[0];
    assert_eq!(call.method, "POST");
    // {"path":"/a","who":"ann\"e"}: the header value JSON-escaped into the template.
    assert_eq!(
        call.body_len,
        r#"{"path":"/a","who":"ann\"e"}"#.len() as u64
    );
}

#[test]
fn callout_failures_follow_on_error() {
    let up = TestUpstream::new().start();
    let dead = free_port();
    let yaml = format!(
        r#"
        routes:
          - path: /strict
            policies: [{{type: http-callout, url: "http://127.0.0.1:{dead}/x", set_headers_from: {{x-t: /t}}}}]
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
          - path: /lenient
            policies: [{{type: http-callout, url: "http://127.0.0.1:{dead}/x", on_error: continue, set_headers_from: {{x-t: /t}}}}]
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#
    );
    let gw = Gateway::start(&up.fill(&yaml));
    assert_gateway_error(&gw.get("/strict"), 502, "callout_failed");
    let r = gw.get("/lenient");
    assert_eq!(r.status, 200);
    assert_eq!(r.echo().header("x-t"), None);
}

#[test]
fn health_route_reports_probes_and_upstreams() {
    let ok = TestUpstream::new()
        .route("/ok", Reply::text(200, "fine"))
        .start();
    let dead = free_port();
    let yaml = format!(
        r#"
        routes:
          - path: /health
            upstream:
              type: health
              probes: ["http://127.0.0.1:{ok}/ok", "http://127.0.0.1:{dead}/ok"]
              probe_timeout: 1s
              include_upstreams: true
          - path: /all-down
            upstream: {{type: health, probes: ["http://127.0.0.1:{dead}/ok"], probe_timeout: 1s}}
          - path: /app
            upstream: {{type: url, target: "http://127.0.0.1:{ok}"}}
        "#,
        ok = ok.port()
    );
    let gw = Gateway::start(&yaml);
    let r = gw.get("/health");
    assert_eq!(r.status, 200, "{r}");
    let body = r.json();
    assert_eq!(body["status"], "degraded");
    assert!(body["timestamp"].as_u64().unwrap() > 1_700_000_000);
    let ups = body["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 3, "two probes and the /app target: {body}");
    assert_eq!(ups[0]["status"], "healthy");
    assert!(ups[0]["latency_ms"].as_u64().is_some());
    assert_eq!(ups[1]["status"], "unhealthy");
    assert_eq!(ups[2]["status"], "healthy");
    let down = gw.get("/all-down");
    assert_eq!(down.status, 503);
    assert_eq!(down.json()["status"], "unhealthy");
}

#[test]
fn streamed_bodies_are_mirrored_whole_up_to_max_body_bytes() {
    let primary = TestUpstream::new().start();
    let mirror = TestUpstream::new().start();
    let yaml = format!(
        r#"
        routes:
          - path: /up/*
            policies:
              - {{type: traffic-shadow, target: "http://127.0.0.1:{}", max_body_bytes: 300000}}
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#,
        mirror.port()
    );
    let gw = Gateway::start(&primary.fill(&yaml));

    // 200 KB with Content-Length: larger than what arrives with the head, so it streams.
    let body = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 7 % 251) as u8).collect() };
    let big = body(200_000);
    let r = gw.request("PUT", "/up/a", &[], &big);
    assert_eq!(r.status, 200);
    // The same bytes, chunked, sent in pieces with pauses.
    let mut c = gw.connect();
    c.send(b"POST /up/b HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
    for piece in big.chunks(50_000) {
        c.send(format!("{:x}\r\n", piece.len()).as_bytes());
        c.send(piece);
        c.send(b"\r\n");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send(b"0\r\n\r\n");
    assert_eq!(c.read_final("POST").status, 200);
    // Over max_body_bytes: answered as usual, not mirrored.
    let huge = body(400_000);
    assert_eq!(gw.request("PUT", "/up/c", &[], &huge).status, 200);

    assert!(
        mirror.wait_heads(2, Duration::from_secs(3)),
        "the mirror got {} copies",
        mirror.heads()
    );
    std::thread::sleep(Duration::from_millis(300));
    let copies = mirror.seen();
    let summary: Vec<(&str, &str, u64)> = copies
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str(), s.body_len))
        .collect();
    assert_eq!(
        summary,
        [("PUT", "/up/a", 200_000), ("POST", "/up/b", 200_000)],
        "the 400 KB body is over max_body_bytes and is not mirrored"
    );
    let want = Checksum::of(&big);
    assert!(copies.iter().all(|s| s.body_sum == want), "bodies differ");
    assert_eq!(primary.seen().len(), 3);
    assert!(primary.seen().iter().take(2).all(|s| s.body_sum == want));
}
