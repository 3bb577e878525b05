//! Proxying to `url` upstreams: forwarded path, forwarding headers, hop-by-hop removal,
//! trace context, request ids, upstream errors and timeouts, the keep-alive pool, and
//! path escapes.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const ROUTES: &str = r#"
    routes:
      - path: /users/:id
        methods: [GET, POST, HEAD]
        upstream: {type: url, target: "http://127.0.0.1:$UP/prefix", headers: {x-extra: v}}
      - path: /strip/*
        upstream: {type: url, target: "http://127.0.0.1:$UP/prefix", strip_prefix: /strip}
      - path: /keep-host/*
        upstream: {type: url, target: "http://127.0.0.1:$UP", preserve_host: true}
      - path: /files/*
        upstream: {type: url, target: "http://127.0.0.1:$UP/prefix"}
      - path: /canned/*
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
"#;

fn start_with(up: TestUpstream) -> (Upstream, Gateway) {
    let up = up.start();
    let gw = Gateway::start(&up.fill(ROUTES));
    (up, gw)
}

fn start() -> (Upstream, Gateway) {
    start_with(TestUpstream::new())
}

#[test]
fn forwards_method_path_query_and_body() {
    let (up, gw) = start();
    let resp = gw.request(
        "POST",
        "/users/42?x=1&y=%20z",
        &[("content-type", "text/plain")],
        b"hello",
    );
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "upstream headers pass"
    );
    let echo = resp.echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.target, "/prefix/users/42?x=1&y=%20z");
    assert_eq!(echo.version, "HTTP/1.1");
    assert_eq!(echo.body.as_deref(), Some("hello"));
    assert_eq!(echo.header("content-type"), Some("text/plain"));
    assert_eq!(echo.header("content-length"), Some("5"));
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn percent_encoding_is_forwarded_untouched() {
    let (_up, gw) = start();
    let target = "/files/a%20b/%C3%A9+x/~y?q=%2F%3F&r=a+b&s=%zz";
    assert_eq!(gw.get(target).echo().target, format!("/prefix{target}"));
}

#[test]
fn strip_prefix_is_removed_before_the_target_prefix() {
    let (_up, gw) = start();
    assert_eq!(gw.get("/strip/a/b?q=1").echo().target, "/prefix/a/b?q=1");
}

#[test]
fn base_path_and_strip_prefix_both_come_off() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(
        r#"
        base_path: /api
        routes:
          - path: /svc/*
            upstream: {type: url, target: "http://127.0.0.1:$UP/v1", strip_prefix: /svc}
        "#,
    ));
    assert_eq!(
        gw.get("/api/svc/items/9?all=1").echo().target,
        "/v1/items/9?all=1"
    );
}

#[test]
fn host_and_forwarding_headers() {
    let (up, gw) = start();
    let echo = gw
        .request("GET", "/users/1", &[("x-keep", "1")], b"")
        .echo();
    assert_eq!(
        echo.header("host"),
        Some(format!("127.0.0.1:{}", up.port()).as_str())
    );
    assert_eq!(echo.header_all("host").len(), 1);
    assert_eq!(echo.header_list("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(echo.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        echo.header("x-forwarded-host"),
        Some(format!("127.0.0.1:{}", gw.port).as_str())
    );
    assert_eq!(echo.header("x-extra"), Some("v"), "route upstream.headers");
    assert_eq!(echo.header("x-keep"), Some("1"), "end-to-end headers pass");
}

#[test]
fn x_forwarded_for_is_appended_to() {
    let (_up, gw) = start();
    let echo = gw
        .request(
            "GET",
            "/users/1",
            &[("x-forwarded-for", "1.2.3.4, 5.6.7.8")],
            b"",
        )
        .echo();
    assert_eq!(
        echo.header_list("x-forwarded-for"),
        ["1.2.3.4", "5.6.7.8", "127.0.0.1"]
    );
}

#[test]
fn client_host_goes_to_x_forwarded_host_or_is_preserved() {
    let (up, gw) = start();
    let mut c = gw.connect();
    c.send(b"GET /users/1 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    let echo = c.read_final("GET").echo();
    assert_eq!(
        echo.header("host"),
        Some(format!("127.0.0.1:{}", up.port()).as_str())
    );
    assert_eq!(echo.header("x-forwarded-host"), Some("example.test:8080"));

    c.send(b"GET /keep-host/x HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    let echo = c.read_final("GET").echo();
    assert_eq!(echo.target, "/keep-host/x");
    assert_eq!(
        echo.header("host"),
        Some("example.test:8080"),
        "preserve_host"
    );
}

#[test]
fn hop_by_hop_headers_are_removed() {
    let (_up, gw) = start();
    let echo = gw
        .request(
            "GET",
            "/users/1",
            &[
                ("connection", "keep-alive, x-custom-hop"),
                ("keep-alive", "timeout=5"),
                ("proxy-authorization", "Basic Zm9vOmJhcg=="),
                ("proxy-connection", "keep-alive"),
                ("te", "trailers"),
                ("trailer", "x-checksum"),
                ("upgrade", "foo/1"),
                ("x-custom-hop", "1"),
                ("x-keep", "yes"),
            ],
            b"",
        )
        .echo();
    for name in [
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "x-custom-hop",
    ] {
        assert_eq!(
            echo.header(name),
            None,
            "{name} must not reach the upstream: {:?}",
            echo.headers
        );
    }
    // The gateway may announce its own connection management, nothing of the client's.
    for value in echo.header_list("connection") {
        assert!(
            value.eq_ignore_ascii_case("keep-alive") || value.eq_ignore_ascii_case("close"),
            "client Connection tokens leaked: {:?}",
            echo.headers
        );
    }
    assert_eq!(echo.header("x-keep"), Some("yes"));
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn valid_traceparent_keeps_its_trace_id_with_a_new_span() {
    let (_up, gw) = start();
    let resp = gw.request("GET", "/users/1", &[("traceparent", TRACEPARENT)], b"");
    let echo = resp.echo();
    let upstream_tp = traceparent(echo.header("traceparent").expect("traceparent to upstream"));
    assert_eq!(echo.header_all("traceparent").len(), 1);
    assert_eq!(upstream_tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(upstream_tp.parent_id, "00f067aa0ba902b7", "a new span id");
    let (_, response_tp) = resp.assert_ids();
    assert_eq!(response_tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[test]
fn missing_or_malformed_traceparent_starts_a_new_trace() {
    let (_up, gw) = start();
    let malformed = [
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f35-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
    ];
    let mut trace_ids = Vec::new();
    for incoming in malformed.iter().map(|t| Some(*t)).chain([None, None]) {
        let headers: Vec<(&str, &str)> = incoming.map(|t| ("traceparent", t)).into_iter().collect();
        let resp = gw.request("GET", "/users/1", &headers, b"");
        let echo = resp.echo();
        let tp = traceparent(echo.header("traceparent").expect("traceparent to upstream"));
        assert_ne!(
            tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
            "for {incoming:?}"
        );
        let (_, response_tp) = resp.assert_ids();
        assert_eq!(
            response_tp.trace_id, tp.trace_id,
            "response and upstream share the trace"
        );
        trace_ids.push(tp.trace_id);
    }
    let distinct: std::collections::HashSet<_> = trace_ids.iter().collect();
    assert_eq!(
        distinct.len(),
        trace_ids.len(),
        "every new trace id is fresh: {trace_ids:?}"
    );
}

#[test]
fn request_id_is_generated_or_kept() {
    let (_up, gw) = start();
    let resp = gw.get("/users/1");
    let sent = resp
        .echo()
        .header("x-request-id")
        .expect("request id to upstream")
        .to_string();
    assert_uuid_v4(&sent);
    assert_eq!(resp.header("x-request-id"), Some(sent.as_str()));
    let other = gw.get("/users/1");
    assert_ne!(
        other.header("x-request-id"),
        Some(sent.as_str()),
        "ids are per request"
    );

    let resp = gw.request("GET", "/users/1", &[("x-request-id", "abc-123")], b"");
    assert_eq!(resp.echo().header_all("x-request-id"), ["abc-123"]);
    assert_eq!(resp.header("x-request-id"), Some("abc-123"));
}

#[test]
fn request_id_header_name_is_configurable() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(
        r#"
        request_id_header: x-correlation-id
        routes:
          - path: /p
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    let resp = gw.get("/p");
    let rid = resp
        .header("x-correlation-id")
        .expect("x-correlation-id on the response")
        .to_string();
    assert_uuid_v4(&rid);
    assert_eq!(resp.echo().header("x-correlation-id"), Some(rid.as_str()));

    let resp = gw.request("GET", "/nope", &[("x-correlation-id", "corr-1")], b"");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("x-correlation-id"), Some("corr-1"));
    assert_eq!(resp.json()["requestId"], "corr-1");
}

#[test]
fn upstream_status_headers_and_body_pass_through() {
    let (_up, gw) = start_with(TestUpstream::new().route(
        "/canned/made",
        Reply::with_headers(
            201,
            &[("x-up", "1"), ("content-type", "text/plain")],
            "made",
        ),
    ));
    let resp = gw.get("/canned/made");
    assert_eq!(resp.status, 201, "{resp}");
    assert_eq!(resp.header("x-up"), Some("1"));
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.text(), "made");
    let (rid, _) = resp.assert_ids();
    assert_uuid_v4(&rid);
}

#[test]
fn refused_upstream_is_502() {
    let port = free_port();
    let gw = Gateway::start(&format!(
        r#"
        routes:
          - path: /down
            upstream: {{type: url, target: "http://127.0.0.1:{port}"}}
        "#
    ));
    assert_gateway_error(&gw.get("/down"), 502, "bad_gateway");
}

#[test]
fn upstream_reset_is_502() {
    let (_up, gw) = start_with(TestUpstream::new().route("/canned/reset", Reply::Reset));
    assert_gateway_error(&gw.get("/canned/reset"), 502, "bad_gateway");
}

#[test]
fn upstream_connect_timeout_is_502() {
    // A listener whose accept queue is full drops SYNs, so connecting hangs.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let fillers: Vec<TcpStream> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "test setup: the black-hole listener still completes handshakes"
    );
    let gw = Gateway::start(&format!(
        r#"
        routes:
          - path: /hole
            upstream: {{type: url, target: "http://{addr}", connect_timeout: 1s, timeout: 30s}}
        "#
    ));
    let started = Instant::now();
    let resp = gw.get("/hole");
    let took = started.elapsed();
    assert_gateway_error(&resp, 502, "bad_gateway");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    drop(fillers);
}

#[test]
fn slow_upstream_is_504() {
    let up = TestUpstream::new()
        .route(
            "/slow",
            Reply::delayed(Duration::from_secs(3), Reply::text(200, "late")),
        )
        .start();
    let gw = Gateway::start(&up.fill(
        r#"
        routes:
          - path: /slow
            upstream: {type: url, target: "http://127.0.0.1:$UP", timeout: 1s}
        "#,
    ));
    let started = Instant::now();
    let resp = gw.get("/slow");
    let took = started.elapsed();
    assert_gateway_error(&resp, 504, "gateway_timeout");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2900),
        "took {took:?}"
    );
}

#[test]
fn keep_alive_client_reuses_one_upstream_connection() {
    let (up, gw) = start();
    let mut c = gw.connect();
    for i in 0..5 {
        let echo = c.request("GET", &format!("/users/{i}"), &[], b"").echo();
        assert_eq!(echo.target, format!("/prefix/users/{i}"));
    }
    let echo = c.request("POST", "/users/5", &[], b"body").echo();
    assert_eq!(echo.body.as_deref(), Some("body"));
    assert_eq!(up.connections(), 1, "one pooled upstream connection");
}

#[test]
fn get_on_a_pooled_connection_closed_by_the_upstream_is_retried() {
    let (up, gw) = start_with(TestUpstream::new().close_idle_after(Duration::from_millis(100)));
    let mut c = gw.connect();
    for i in 0..3 {
        if i > 0 {
            // Let the upstream close the pooled connection while it is idle.
            thread::sleep(Duration::from_millis(300));
        }
        let resp = c.request("GET", &format!("/users/{i}"), &[], b"");
        assert_eq!(resp.status, 200, "request {i}: {resp}");
        assert_eq!(resp.echo().target, format!("/prefix/users/{i}"));
    }
    assert_eq!(
        up.connections(),
        3,
        "one fresh upstream connection per request"
    );
}

#[test]
fn get_on_a_reused_connection_the_upstream_drops_is_retried() {
    // Every reuse of a pooled connection meets a close before any response byte.
    let (up, gw) = start_with(TestUpstream::new().answer_first_request_only());
    let mut c = gw.connect();
    for i in 0..3 {
        let resp = c.request("GET", &format!("/users/{i}"), &[], b"");
        assert_eq!(resp.status, 200, "request {i}: {resp}");
        assert_eq!(resp.echo().target, format!("/prefix/users/{i}"));
    }
    assert_eq!(up.seen().len(), 3);
    assert_eq!(
        up.heads(),
        5,
        "requests 2 and 3 were each tried once on the dropped connection"
    );
    assert_eq!(up.connections(), 3);
}

#[test]
fn upstream_connection_close_is_honoured() {
    // POSTs are not retried, so a pooled connection the upstream said it would close
    // shows up as an error.
    let (up, gw) = start_with(TestUpstream::new().route(
        "/canned/",
        Reply::with_headers(200, &[("connection", "close")], "bye"),
    ));
    let mut c = gw.connect();
    for i in 0..3 {
        let resp = c.request("POST", &format!("/canned/{i}"), &[], b"data");
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "bye"),
            "request {i}: {resp}"
        );
    }
    assert_eq!(up.connections(), 3);
}

/// Upstream answers that cannot be relayed faithfully.
const BAD_UPSTREAM_RESPONSES: &[(&str, &[u8])] = &[
    ("garbage", b"HELLO WORLD\r\n\r\n"),
    (
        "status not a number",
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "status out of range",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "CL not a number",
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    ),
    (
        "differing duplicate CL",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ),
    (
        "obs-fold",
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "NUL in a value",
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
    ),
];

#[test]
fn malformed_upstream_responses_are_502() {
    let mut up = TestUpstream::new();
    for (i, (_, bytes)) in BAD_UPSTREAM_RESPONSES.iter().enumerate() {
        up = up.route(&format!("/canned/bad{i}"), Reply::Raw(bytes.to_vec()));
    }
    let (_up, gw) = start_with(up);
    let mut failures = Vec::new();
    for (i, (name, _)) in BAD_UPSTREAM_RESPONSES.iter().enumerate() {
        let resp = gw.get(&format!("/canned/bad{i}"));
        if let Err(why) = check_gateway_error(&resp, 502, "bad_gateway") {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upstream_response_with_cl_and_te_is_not_relayed_ambiguously() {
    let (_up, gw) = start_with(TestUpstream::new().route(
        "/canned/both",
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ));
    let mut c = gw.connect();
    let resp = c.request("GET", "/canned/both", &[], b"");
    if resp.status == 502 {
        assert_gateway_error(&resp, 502, "bad_gateway");
        return;
    }
    // Transfer-Encoding wins (RFC 9112 6.3); the client must not see both.
    assert_eq!(resp.status, 200, "{resp}");
    assert!(
        resp.header("content-length").is_none() || resp.header("transfer-encoding").is_none(),
        "{resp}"
    );
    assert_eq!(resp.text(), "hello");
    assert_eq!(c.request("GET", "/users/1", &[], b"").status, 200);
}

#[test]
fn upstream_closing_mid_body_cuts_the_client_off() {
    let (_up, gw) = start_with(TestUpstream::new().route(
        "/canned/short",
        Reply::RawThenClose(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b".to_vec()),
    ));
    let mut c = gw.connect();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    c.send_request("GET", "/canned/short", &[], b"");
    match c.wire.read_response("GET") {
        // Nothing was sent yet: a 502 is right too.
        Ok(resp) if resp.status == 502 => assert_gateway_error(&resp, 502, "bad_gateway"),
        Ok(resp) => panic!("a truncated body was passed off as complete: {resp}"),
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "the client must be cut off, not left waiting: {e}"
        ),
    }
    assert_eq!(gw.get("/users/1").status, 200);
}

#[test]
fn forwarding_headers_cannot_be_spoofed() {
    let (_up, gw) = start();
    let echo = gw
        .request(
            "GET",
            "/users/1",
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "spoofed.example"),
            ],
            b"",
        )
        .echo();
    assert_eq!(echo.header_all("x-forwarded-proto"), ["http"]);
    let host = format!("127.0.0.1:{}", gw.port);
    assert_eq!(echo.header_all("x-forwarded-host"), [host.as_str()]);
}

#[test]
fn client_connection_close_is_honoured() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let resp = c.request("GET", "/users/1", &[("connection", "close")], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert!(
        c.closed_within(Duration::from_secs(2)),
        "connection left open after Connection: close"
    );
}

#[test]
fn aborted_clients_do_not_disturb_the_gateway() {
    let (up, gw) = start_with(TestUpstream::new().route(
        "/canned/slow",
        Reply::delayed(Duration::from_millis(500), Reply::text(200, "slow")),
    ));
    // Gone in the middle of a body.
    let mut c = gw.connect();
    c.send(b"POST /users/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly ten b");
    drop(c);
    // Gone while the upstream is still working.
    let mut c = gw.connect();
    c.send_request("GET", "/canned/slow", &[], b"");
    assert!(up.wait_heads(2, Duration::from_secs(5)));
    drop(c);
    // Gone in the middle of a head.
    gw.connect().send(b"GET /users/1 HTTP/1.1\r\nHo");
    thread::sleep(Duration::from_millis(600));
    let mut c = gw.connect();
    for i in 0..3 {
        assert_eq!(
            c.request("GET", &format!("/users/{i}"), &[], b"").status,
            200
        );
    }
    assert_eq!(gw.get("/canned/slow").text(), "slow");
}

/// Resolves `.`/`..` in a target path after percent-decoding `.`, `/` and `\`, treating
/// `\` as `/`. `None` when `..` climbs above the root.
fn resolve(target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap();
    let decoded = path
        .replace("%2e", ".")
        .replace("%2E", ".")
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%5c", "/")
        .replace("%5C", "/")
        .replace('\\', "/");
    let mut stack: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            s => stack.push(s),
        }
    }
    Some(format!("/{}", stack.join("/")))
}

#[test]
fn path_tricks_never_escape_the_target() {
    let (up, gw) = start();
    let targets = [
        "/files/../../etc/passwd",
        "/files/./../../../etc/passwd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/files/..%2f..%2f..%2fetc",
        "/files/..\\..\\..\\etc",
        "//evil.com/files/x",
        "/files//evil.com/x",
        "/files/@evil.com/x",
        "/files/x?next=//evil.com/../..",
        "http://evil.com/files/x",
        "http://user@evil.com/files/x",
        "evil.com/files/x",
        "@evil.com/files/x",
        "*",
    ];
    let mut failures = Vec::new();
    for target in targets {
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            gw.port
        );
        let raw = send_raw(gw.addr(), request.as_bytes(), Duration::from_secs(3));
        let Some(resp) = raw.responses().into_iter().next() else {
            failures.push(format!("{target}: no response: {:?}", raw.text()));
            continue;
        };
        match resp.status {
            400 | 404 => {
                let code = if resp.status == 400 {
                    "bad_request"
                } else {
                    "not_found"
                };
                assert_gateway_error(&resp, resp.status, code);
            }
            200 => {
                let echo = resp.echo();
                if !echo.target.starts_with("/prefix/") {
                    failures.push(format!("{target}: forwarded as {:?}", echo.target));
                } else if !resolve(&echo.target).is_some_and(|p| p.starts_with("/prefix/")) {
                    failures.push(format!(
                        "{target}: forwarded as {:?}, which climbs out",
                        echo.target
                    ));
                }
            }
            other => failures.push(format!("{target}: status {other}: {resp}")),
        }
    }
    for seen in up.seen() {
        let host = seen
            .headers
            .iter()
            .find(|(n, _)| n == "host")
            .map(|(_, v)| v.clone());
        if host != Some(format!("127.0.0.1:{}", up.port())) {
            failures.push(format!("upstream saw Host {host:?} for {}", seen.target));
        }
    }
    assert!(
        failures.is_empty(),
        "path escapes:\n{}",
        failures.join("\n")
    );
}
