//! Routing: static routes, 404/405, `:params`, `/*` wildcards, trailing slashes,
//! `base_path`, method lists.

mod common;

use std::collections::BTreeSet;

use common::*;

const ROUTES: &str = r#"
    routes:
      - path: /health
        upstream: {type: static, status: 200, headers: {content-type: application/json}, body: '{"status":"ok"}'}
      - path: /users/:id
        methods: [GET, POST]
        upstream: {type: url, target: "http://127.0.0.1:$UP/prefix"}
      - path: /files/*
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
      - path: /created
        methods: [PUT]
        upstream: {type: static, status: 201, headers: {x-static: "1", content-type: text/plain}, body: made}
"#;

fn start() -> (Upstream, Gateway) {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(ROUTES));
    (up, gw)
}

#[test]
fn static_route_answers_with_its_body_and_ids() {
    let (_up, gw) = start();
    let resp = gw.get("/health");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
    let (rid, _) = resp.assert_ids();
    assert_uuid_v4(&rid);
}

#[test]
fn static_route_status_and_headers_are_configurable() {
    let (_up, gw) = start();
    let resp = gw.request("PUT", "/created", &[], b"ignored");
    assert_eq!(resp.status, 201, "{resp}");
    assert_eq!(resp.header("x-static"), Some("1"));
    assert_eq!(resp.text(), "made");
}

#[test]
fn unknown_path_is_404_not_found() {
    let (up, gw) = start();
    for path in [
        "/nope",
        "/healthz",
        "/users",
        "/users/1/extra",
        "/filesx/a",
        "/",
    ] {
        let resp = gw.get(path);
        assert_gateway_error(&resp, 404, "not_found");
    }
    assert_gateway_error(
        &gw.request("POST", "/nope/deeper", &[], b"x"),
        404,
        "not_found",
    );
    assert!(up.seen().is_empty(), "nothing may reach the upstream");
}

#[test]
fn wrong_method_is_405_with_allow_header() {
    let (up, gw) = start();
    let resp = gw.request("DELETE", "/users/42", &[], b"");
    assert_gateway_error(&resp, 405, "method_not_allowed");
    let mut allow: BTreeSet<String> = resp.header_list("allow").into_iter().collect();
    // HEAD rides along with GET; if it is announced it must work.
    if allow.remove("HEAD") {
        assert_eq!(gw.request("HEAD", "/users/42", &[], b"").status, 200);
    }
    let expected = BTreeSet::from(["GET".to_string(), "POST".to_string()]);
    assert_eq!(allow, expected, "{resp}");

    let resp = gw.request("POST", "/created", &[], b"");
    assert_gateway_error(&resp, 405, "method_not_allowed");
    assert_eq!(resp.header_list("allow"), ["PUT"], "{resp}");
    assert!(
        up.seen().iter().all(|r| r.method == "HEAD"),
        "only the HEAD probe may reach the upstream"
    );
}

#[test]
fn params_match_one_segment() {
    let (_up, gw) = start();
    let echo = gw.get("/users/42").echo();
    assert_eq!(echo.target, "/prefix/users/42");
    let echo = gw.request("POST", "/users/abc-def_1.2", &[], b"").echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.target, "/prefix/users/abc-def_1.2");
}

#[test]
fn trailing_slash_matches_too() {
    let (_up, gw) = start();
    let resp = gw.get("/health/");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
    let echo = gw.get("/users/42/").echo();
    assert!(
        echo.target.starts_with("/prefix/users/42"),
        "{}",
        echo.target
    );
}

#[test]
fn wildcard_matches_any_depth() {
    let (_up, gw) = start();
    for path in ["/files/a", "/files/a/b/c.txt", "/files/a/b/"] {
        assert_eq!(gw.get(path).echo().target, path);
    }
}

#[test]
fn query_string_does_not_affect_routing() {
    let (_up, gw) = start();
    let resp = gw.get("/health?probe=1&x=%20");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(
        gw.get("/users/7?x=1&y=2").echo().target,
        "/prefix/users/7?x=1&y=2"
    );
    assert_gateway_error(&gw.get("/nope?users/1"), 404, "not_found");
}

#[test]
fn routes_without_methods_take_every_method() {
    let (_up, gw) = start();
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let echo = gw.request(method, "/files/x", &[], b"").echo();
        assert_eq!(echo.method, method);
    }
}

#[test]
fn head_on_static_route_has_no_body() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let resp = c.request("HEAD", "/health", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.body.is_empty());
    // The connection is still framed correctly: the next answer parses.
    let resp = c.request("GET", "/health", &[], b"");
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
}

#[test]
fn base_path_prefixes_every_route() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(&format!("base_path: /api\n{}", dedent(ROUTES))));
    let resp = gw.get("/api/health");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
    assert_eq!(
        gw.get("/api/users/5?q=1").echo().target,
        "/prefix/users/5?q=1"
    );
    assert_eq!(gw.get("/api/files/a/b").echo().target, "/files/a/b");
    for path in ["/health", "/users/5", "/apix/health", "/api"] {
        assert_gateway_error(&gw.get(path), 404, "not_found");
    }
}

#[test]
fn errors_keep_a_sane_incoming_request_id() {
    let (_up, gw) = start();
    let resp = gw.request("GET", "/nope", &[("x-request-id", "abc-123")], b"");
    assert_gateway_error(&resp, 404, "not_found");
    assert_eq!(resp.header("x-request-id"), Some("abc-123"));
}

#[test]
fn error_json_stays_valid_whatever_the_incoming_request_id() {
    let (_up, gw) = start();
    // Kept or replaced, the id must come back JSON-escaped and equal to the header.
    for rid in [r#"a"b\c"#, "</script>", "{\"x\":1}"] {
        let resp = gw.request("GET", "/nope", &[("x-request-id", rid)], b"");
        assert_gateway_error(&resp, 404, "not_found");
    }
}
