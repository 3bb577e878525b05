//! Policies: ip-filter (lists, modes, CIDRs v4/v6, trust_forwarded), request/response
//! transforms, mock, `skip`, priorities and phase order, and global/route merging by name.

mod common;

use std::time::{Duration, Instant};

use common::*;

const URL: &str = r#"{type: url, target: "http://127.0.0.1:$UP"}"#;

fn start(yaml: &str) -> (Upstream, Gateway) {
    start_with(TestUpstream::new(), yaml)
}

fn start_with(up: TestUpstream, yaml: &str) -> (Upstream, Gateway) {
    let up = up.start();
    let gw = Gateway::start(&up.fill(&yaml.replace("$URL", URL)));
    (up, gw)
}

#[test]
fn ip_filter_deny_list() {
    let (up, gw) = start(
        r#"
        routes:
          - path: /me
            policies: [{type: ip-filter, deny: ["127.0.0.1"]}]
            upstream: $URL
          - path: /my-net
            policies: [{type: ip-filter, deny: ["127.0.0.0/8"]}]
            upstream: $URL
          - path: /other-nets
            policies: [{type: ip-filter, deny: ["10.0.0.0/8", "2001:db8::/32", "::1"]}]
            upstream: $URL
        "#,
    );
    assert_gateway_error(&gw.get("/me"), 403, "ip_denied");
    assert_gateway_error(&gw.request("POST", "/my-net", &[], b"x"), 403, "ip_denied");
    assert!(
        up.seen().is_empty(),
        "denied requests must not reach the upstream"
    );
    assert_eq!(gw.get("/other-nets").status, 200);
}

#[test]
fn ip_filter_allow_mode() {
    let (up, gw) = start(
        r#"
        routes:
          - path: /elsewhere
            policies: [{type: ip-filter, mode: allow, allow: ["10.0.0.0/8", "fd00::/8"]}]
            upstream: $URL
          - path: /loopback
            policies: [{type: ip-filter, mode: allow, allow: ["127.0.0.0/8"]}]
            upstream: $URL
        "#,
    );
    assert_gateway_error(&gw.get("/elsewhere"), 403, "ip_denied");
    assert_eq!(gw.get("/loopback").status, 200);
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn ip_filter_trust_forwarded_uses_the_first_hop() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /trusting
            policies: [{type: ip-filter, deny: ["203.0.113.0/24", "2001:db8::/32"], trust_forwarded: true}]
            upstream: $URL
          - path: /untrusting
            policies: [{type: ip-filter, deny: ["203.0.113.0/24"]}]
            upstream: $URL
        "#,
    );
    let xff = |path: &str, v: &str| gw.request("GET", path, &[("x-forwarded-for", v)], b"");
    assert_eq!(
        gw.get("/trusting").status,
        200,
        "no header: the peer address counts"
    );
    assert_gateway_error(&xff("/trusting", "203.0.113.7"), 403, "ip_denied");
    assert_gateway_error(
        &xff("/trusting", "203.0.113.7, 127.0.0.1"),
        403,
        "ip_denied",
    );
    assert_gateway_error(&xff("/trusting", "2001:db8::1"), 403, "ip_denied");
    assert_eq!(
        xff("/trusting", "198.51.100.1, 203.0.113.7").status,
        200,
        "only the first hop counts"
    );
    assert_eq!(
        xff("/untrusting", "203.0.113.7").status,
        200,
        "header ignored without trust_forwarded"
    );
}

#[test]
fn ip_filter_and_forwarding_with_an_ipv6_client() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start_ipv6(&up.fill(&URL_ROUTES_V6.replace("$URL", URL)));
    assert_gateway_error(&gw.get("/host"), 403, "ip_denied");
    assert_gateway_error(&gw.get("/net"), 403, "ip_denied");
    assert_eq!(
        gw.get("/v4-net").status,
        200,
        "a v4 range never matches a v6 peer"
    );
    assert_eq!(gw.get("/allowed").status, 200);
    let echo = gw.get("/open").echo();
    assert_eq!(echo.header_list("x-forwarded-for"), ["::1"]);
}

const URL_ROUTES_V6: &str = r#"
    routes:
      - path: /host
        policies: [{type: ip-filter, deny: ["::1"]}]
        upstream: $URL
      - path: /net
        policies: [{type: ip-filter, deny: ["::/64"]}]
        upstream: $URL
      - path: /v4-net
        policies: [{type: ip-filter, deny: ["127.0.0.0/8", "0.0.0.0/0"]}]
        upstream: $URL
      - path: /allowed
        policies: [{type: ip-filter, mode: allow, allow: ["::1/128"]}]
        upstream: $URL
      - path: /open
        upstream: $URL
"#;

#[test]
fn global_policies_apply_to_every_route_unless_skipped_by_path() {
    let (_up, gw) = start(
        r#"
        policies:
          - type: ip-filter
            deny: ["127.0.0.1"]
            skip: {paths: ["^/public"]}
        routes:
          - path: /public/*
            upstream: $URL
          - path: /private/*
            upstream: $URL
        "#,
    );
    assert_eq!(gw.get("/public/x").status, 200);
    assert_gateway_error(&gw.get("/private/x"), 403, "ip_denied");
}

#[test]
fn skip_needs_every_condition_to_match() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /by-method
            policies: [{type: ip-filter, deny: ["127.0.0.1"], skip: {methods: [GET]}}]
            upstream: $URL
          - path: /by-header
            policies: [{type: ip-filter, deny: ["127.0.0.1"], skip: {headers: {x-internal: "^yes$"}}}]
            upstream: $URL
          - path: /both
            policies: [{type: ip-filter, deny: ["127.0.0.1"], skip: {methods: [GET], headers: {x-internal: "^yes$"}}}]
            upstream: $URL
        "#,
    );
    let req = |m: &str, p: &str, h: &[(&str, &str)]| gw.request(m, p, h, b"").status;
    let internal = [("x-internal", "yes")];
    assert_eq!(req("GET", "/by-method", &[]), 200);
    assert_eq!(req("POST", "/by-method", &[]), 403);
    assert_eq!(req("GET", "/by-header", &internal), 200);
    assert_eq!(req("GET", "/by-header", &[("x-internal", "yes!")]), 403);
    assert_eq!(req("GET", "/by-header", &[]), 403);
    assert_eq!(req("GET", "/both", &internal), 200);
    assert_eq!(req("GET", "/both", &[]), 403);
    assert_eq!(req("POST", "/both", &internal), 403);
}

#[test]
fn request_transform_edits_upstream_headers() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /t
            policies:
              - type: request-transform
                set_headers: {x-set: new, x-fresh: "1"}
                append_headers: {x-app: b}
                remove_headers: [x-remove]
                rename_headers: {x-old: x-new}
            upstream: $URL
        "#,
    );
    let echo = gw
        .request(
            "GET",
            "/t",
            &[
                ("x-set", "old"),
                ("x-app", "a"),
                ("x-remove", "1"),
                ("x-old", "val"),
            ],
            b"",
        )
        .echo();
    assert_eq!(echo.header_all("x-set"), ["new"]);
    assert_eq!(echo.header("x-fresh"), Some("1"));
    assert_eq!(echo.header_list("x-app"), ["a", "b"]);
    assert_eq!(echo.header("x-remove"), None);
    assert_eq!(echo.header("x-old"), None);
    assert_eq!(echo.header("x-new"), Some("val"));

    let echo = gw.get("/t").echo();
    assert_eq!(echo.header_list("x-app"), ["b"]);
    assert_eq!(echo.header("x-new"), None);
}

#[test]
fn response_transform_edits_client_headers() {
    let (_up, gw) = start_with(
        TestUpstream::new().route(
            "/r",
            Reply::with_headers(
                200,
                &[
                    ("x-up-set", "old"),
                    ("x-up-app", "a"),
                    ("x-up-remove", "1"),
                    ("x-up-old", "val"),
                ],
                "body",
            ),
        ),
        r#"
        routes:
          - path: /r
            policies:
              - type: response-transform
                set_headers: {x-up-set: new, x-added: "1"}
                append_headers: {x-up-app: b}
                remove_headers: [x-up-remove]
                rename_headers: {x-up-old: x-up-new}
            upstream: $URL
        "#,
    );
    let resp = gw.get("/r");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.header_all("x-up-set"), ["new"]);
    assert_eq!(resp.header("x-added"), Some("1"));
    assert_eq!(resp.header_list("x-up-app"), ["a", "b"]);
    assert_eq!(resp.header("x-up-remove"), None);
    assert_eq!(resp.header("x-up-old"), None);
    assert_eq!(resp.header("x-up-new"), Some("val"));
    assert_eq!(resp.text(), "body");
}

#[test]
fn mock_answers_without_calling_the_upstream() {
    let (up, gw) = start(
        r#"
        routes:
          - path: /mocked
            policies: [{type: mock, status: 418, headers: {x-mock: "1", content-type: text/plain}, body: teapot}]
            upstream: $URL
        "#,
    );
    let resp = gw.request("POST", "/mocked", &[], b"ignored");
    assert_eq!(resp.status, 418, "{resp}");
    assert_eq!(resp.header("x-mock"), Some("1"));
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.text(), "teapot");
    let (rid, _) = resp.assert_ids();
    assert_uuid_v4(&rid);
    assert_eq!(up.connections(), 0, "the upstream must not be contacted");
}

#[test]
fn mock_delay_holds_the_answer() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /slow-mock
            policies: [{type: mock, body: late, delay: 1s}]
            upstream: $URL
        "#,
    );
    let started = Instant::now();
    let resp = gw.get("/slow-mock");
    let took = started.elapsed();
    assert_eq!((resp.status, resp.text().as_str()), (200, "late"));
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "took {took:?}"
    );
}

#[test]
fn response_transform_applies_to_a_mock_only_when_it_ran_first() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /before-mock
            policies:
              - {type: mock, status: 201, body: m}
              - {type: response-transform, set_headers: {x-rt: "yes"}}
            upstream: $URL
          - path: /after-mock
            policies:
              - {type: mock, status: 201, body: m}
              - {type: response-transform, priority: 1000, set_headers: {x-rt: "yes"}}
            upstream: $URL
        "#,
    );
    let resp = gw.get("/before-mock");
    assert_eq!(resp.status, 201, "{resp}");
    assert_eq!(
        resp.header("x-rt"),
        Some("yes"),
        "default priority 92 runs before the mock's 999"
    );
    let resp = gw.get("/after-mock");
    assert_eq!(resp.status, 201, "{resp}");
    assert_eq!(
        resp.header("x-rt"),
        None,
        "priority 1000 never ran: the mock answered first"
    );
}

#[test]
fn ip_filter_runs_before_mock() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /guarded-mock
            policies:
              - {type: mock, body: secret}
              - {type: ip-filter, deny: ["127.0.0.1"]}
            upstream: $URL
        "#,
    );
    assert_gateway_error(&gw.get("/guarded-mock"), 403, "ip_denied");
}

#[test]
fn priorities_order_the_request_phase_forward_and_the_response_phase_backward() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /a-first
            policies:
              - {type: request-transform, name: b, priority: 20, set_headers: {x-order: b}}
              - {type: request-transform, name: a, priority: 10, set_headers: {x-order: a}}
              - {type: response-transform, name: rb, priority: 20, set_headers: {x-order: b}}
              - {type: response-transform, name: ra, priority: 10, set_headers: {x-order: a}}
            upstream: $URL
          - path: /b-first
            policies:
              - {type: request-transform, name: a, priority: 20, set_headers: {x-order: a}}
              - {type: request-transform, name: b, priority: 10, set_headers: {x-order: b}}
              - {type: response-transform, name: ra, priority: 20, set_headers: {x-order: a}}
              - {type: response-transform, name: rb, priority: 10, set_headers: {x-order: b}}
            upstream: $URL
        "#,
    );
    // Request phase: lower priority first, so the higher one's value wins. Response phase:
    // reversed, so the lower one's value wins.
    let resp = gw.get("/a-first");
    assert_eq!(resp.echo().header_all("x-order"), ["b"]);
    assert_eq!(resp.header_all("x-order"), ["a"]);
    let resp = gw.get("/b-first");
    assert_eq!(resp.echo().header_all("x-order"), ["a"]);
    assert_eq!(resp.header_all("x-order"), ["b"]);
}

#[test]
fn route_policy_replaces_the_global_one_with_the_same_name() {
    let (_up, gw) = start(
        r#"
        policies:
          - {type: response-transform, name: tag, set_headers: {x-tag: global}}
          - {type: response-transform, name: other, priority: 91, set_headers: {x-other: global}}
          - {type: request-transform, set_headers: {x-g: global}}
        routes:
          - path: /override
            policies:
              - {type: response-transform, name: tag, set_headers: {x-tag: route}}
              - {type: request-transform, set_headers: {x-r: route}}
            upstream: $URL
          - path: /plain
            upstream: $URL
        "#,
    );
    let resp = gw.get("/override");
    assert_eq!(resp.header_all("x-tag"), ["route"]);
    assert_eq!(
        resp.header_all("x-other"),
        ["global"],
        "a global policy with another name stays"
    );
    let echo = resp.echo();
    assert_eq!(echo.header("x-r"), Some("route"));
    assert_eq!(
        echo.header("x-g"),
        None,
        "the name defaults to the type, so the route one replaces it"
    );

    let resp = gw.get("/plain");
    assert_eq!(resp.header_all("x-tag"), ["global"]);
    assert_eq!(resp.header_all("x-other"), ["global"]);
    assert_eq!(resp.echo().header("x-g"), Some("global"));
}

#[test]
fn transforms_apply_to_static_upstreams() {
    let (_up, gw) = start(
        r#"
        routes:
          - path: /static
            policies: [{type: response-transform, set_headers: {x-rt: "1"}, remove_headers: [x-drop]}]
            upstream: {type: static, status: 200, headers: {x-drop: "1", content-type: text/plain}, body: hi}
        "#,
    );
    let resp = gw.get("/static");
    assert_eq!(resp.text(), "hi");
    assert_eq!(resp.header("x-rt"), Some("1"));
    assert_eq!(resp.header("x-drop"), None);
}
