//! Request smuggling and malformed requests (table-driven raw bytes), head and body limits,
//! and the header / idle timeouts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const ROUTES: &str = r#"
    routes:
      - path: /echo
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
"#;

/// Requests that must be answered with one `400 bad_request` and a closed connection,
/// without the upstream ever receiving a complete request.
const BAD_REQUESTS: &[(&str, &[u8])] = &[
    ("CL then TE", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE then CL", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("differing duplicate CL", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("CL list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!"),
    ("CL with plus sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"),
    ("CL negative", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello"),
    ("CL hex", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello"),
    ("CL trailing garbage", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello"),
    ("CL overflow", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nhello"),
    ("TE gzip, chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    ("TE chunked, identity", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("TE identity", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"),
    ("TE xchunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ("TE twice", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE after vertical tab", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n"),
    ("TE with space before colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("chunk size not hex", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size negative", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size 0x", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("chunk data without CRLF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
    ("chunk size bare LF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    ("space before colon", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo : bar\r\n\r\n"),
    ("obs-fold", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n  b\r\n\r\n"),
    ("obs-fold with tab", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n\tb\r\n\r\n"),
    ("bare LF in value", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\nX-Bar: b\r\n\r\n"),
    ("bare CR in value", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\rX-Bar: b\r\n\r\n"),
    ("NUL in value", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\0b\r\n\r\n"),
    ("missing Host on 1.1", b"GET /echo HTTP/1.1\r\nX-Foo: a\r\n\r\n"),
    ("two Host headers", b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("Host with a space", b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("empty header name", b"GET /echo HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n"),
    ("header line without colon", b"GET /echo HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n"),
    ("invalid header name", b"GET /echo HTTP/1.1\r\nHost: a\r\nX-F(o)o: a\r\n\r\n"),
    ("garbage request line", b"GARBAGE\r\nHost: a\r\n\r\n"),
    (
        "CL.TE with smuggled request",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "TE.CL with smuggled request",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
    ),
];

/// Unusual but valid requests, answered by the echo upstream with this body.
const GOOD_REQUESTS: &[(&str, &[u8], &str)] = &[
    (
        "empty chunked body",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "",
    ),
    ("chunk extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n", "hello"),
    ("chunked trailer", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", "hello world"),
    ("upper-case hex chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nB\r\nhello world\r\n0\r\n\r\n", "hello world"),
    ("tab inside a value", b"POST /echo HTTP/1.1\r\nHost: a\r\nX-Foo: a\tb\r\nContent-Length: 2\r\n\r\nok", "ok"),
    ("HTTP/1.0 without Host", b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nok", "ok"),
];

#[test]
fn smuggling_and_malformed_requests_get_400_and_close() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(ROUTES));
    let mut failures = Vec::new();
    for (name, bytes) in BAD_REQUESTS {
        let seen_before = up.seen().len();
        let raw = send_raw(gw.addr(), bytes, Duration::from_secs(3));
        let responses = raw.responses();
        let verdict = match responses.as_slice() {
            [] => Err(format!("no response: {:?}", raw.text())),
            [resp] if resp.status != 400 => Err(format!("status {}: {resp}", resp.status)),
            [resp] => check_gateway_error(resp, 400, "bad_request"),
            many => Err(format!("{} responses: {:?}", many.len(), raw.text())),
        }
        .and_then(|()| {
            if raw.closed {
                Ok(())
            } else {
                Err("connection left open".into())
            }
        })
        .and_then(|()| {
            let seen = up.seen();
            if seen.len() == seen_before {
                Ok(())
            } else {
                Err(format!("upstream received {:?}", &seen[seen_before..]))
            }
        });
        if let Err(why) = verdict {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        up.seen().iter().all(|s| !s.target.contains("smuggled")),
        "a smuggled request got through"
    );
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        BAD_REQUESTS.len(),
        failures.join("\n")
    );
}

#[test]
fn unusual_but_valid_requests_pass() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(ROUTES));
    let mut failures = Vec::new();
    for (name, bytes, body) in GOOD_REQUESTS {
        let mut c = gw.connect();
        c.send(bytes);
        match c.try_read_final("POST") {
            Ok(resp) if resp.status == 200 => {
                let echo = resp.echo();
                if echo.body.as_deref() != Some(*body) {
                    failures.push(format!("{name}: upstream got body {:?}", echo.body));
                }
            }
            Ok(resp) => failures.push(format!("{name}: {resp}")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Answers the gateway makes itself must still consume the request body: a body that
/// looks like a request must never be taken for the next one.
#[test]
fn bodies_of_requests_the_gateway_answers_itself_are_skipped() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(
        r#"
        routes:
          - path: /echo
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
          - path: /static
            upstream: {type: static, body: static}
          - path: /mock
            policies: [{type: mock, status: 202, body: mocked}]
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
          - path: /get-only
            methods: [GET]
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
          - path: /denied
            policies: [{type: ip-filter, deny: ["127.0.0.1"]}]
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    let inner = "GET /echo?smuggled=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    let chunked_inner = format!("{:x}\r\n{inner}\r\n0\r\n\r\n", inner.len());
    let follow_up = "GET /echo?next=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut failures = Vec::new();
    for (path, status) in [
        ("/nope", 404),
        ("/static", 200),
        ("/mock", 202),
        ("/get-only", 405),
        ("/denied", 403),
    ] {
        let framings = [
            (
                format!("Content-Length: {}", inner.len()),
                inner.to_string(),
            ),
            (
                "Transfer-Encoding: chunked".to_string(),
                chunked_inner.clone(),
            ),
        ];
        for (framing, body) in framings {
            let request =
                format!("POST {path} HTTP/1.1\r\nHost: a\r\n{framing}\r\n\r\n{body}{follow_up}");
            let case = format!("POST {path} with {framing}");
            let mut c = gw.connect();
            c.stream()
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            c.send(request.as_bytes());
            match c.try_read_final("POST") {
                Ok(first) if first.status == status => match c.try_read_final("GET") {
                    Ok(next) if next.status == 200 && next.text().contains("next=1") => {}
                    // Closing instead of reading on is fine.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                    Ok(next) => failures.push(format!("{case}: then {next}")),
                    Err(e) => failures.push(format!("{case}: then {e}")),
                },
                Ok(first) => failures.push(format!("{case}: {first}")),
                Err(e) => failures.push(format!("{case}: {e}")),
            }
        }
    }
    assert!(
        up.seen().iter().all(|s| !s.target.contains("smuggled")),
        "a body was taken for a request"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn limited_gateway(up: &Upstream) -> Gateway {
    Gateway::start(&up.fill(
        r#"
        limits: {max_header_bytes: 4096, max_headers: 20, max_body_bytes: 1024}
        routes:
          - path: /echo
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ))
}

#[test]
fn head_over_max_header_bytes_is_431() {
    let up = TestUpstream::new().start();
    let gw = limited_gateway(&up);
    let big = "v".repeat(5000);
    assert_gateway_error(
        &gw.request("GET", "/echo", &[("x-big", &big)], b""),
        431,
        "headers_too_large",
    );
    let long_path = format!("/echo?{}", "q".repeat(5000));
    assert_gateway_error(&gw.get(&long_path), 431, "headers_too_large");
    let fits = "v".repeat(3000);
    assert_eq!(
        gw.request("GET", "/echo", &[("x-big", &fits)], b"")
            .echo()
            .header("x-big"),
        Some(fits.as_str())
    );
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn more_than_max_headers_is_431() {
    let up = TestUpstream::new().start();
    let gw = limited_gateway(&up);
    let names: Vec<String> = (0..25).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    // Host plus 19 is exactly the limit of 20.
    assert_eq!(gw.request("GET", "/echo", &headers[..19], b"").status, 200);
    assert_gateway_error(
        &gw.request("GET", "/echo", &headers, b""),
        431,
        "headers_too_large",
    );
}

#[test]
fn body_over_max_body_bytes_is_413() {
    let up = TestUpstream::new().start();
    let gw = limited_gateway(&up);
    let exact = vec![b'x'; 1024];
    assert_eq!(
        gw.request("POST", "/echo", &[], &exact).echo().body_len,
        1024
    );

    let resp = gw.request("POST", "/echo", &[], &[b'x'; 2000]);
    assert_gateway_error(&resp, 413, "payload_too_large");

    // Chunked: the limit is only known to be crossed part-way through.
    // One write, so the gateway may answer and close as soon as it crosses the limit.
    let chunk = format!("200\r\n{}\r\n", "y".repeat(0x200));
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(4)
    );
    let raw = send_raw(gw.addr(), request.as_bytes(), Duration::from_secs(3));
    assert_gateway_error(&raw.first(), 413, "payload_too_large");
    assert_eq!(
        up.seen().len(),
        1,
        "only the 1024-byte request completed upstream"
    );
}

#[test]
fn slow_head_is_cut_off_after_header_timeout() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(
        r#"
        limits: {header_timeout: 1s}
        routes:
          - path: /echo
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    // A complete head sent promptly is fine.
    assert_eq!(gw.get("/echo").status, 200);

    // Slowloris: a byte every 200 ms never completes the head.
    let started = Instant::now();
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        if started.elapsed() > Duration::from_secs(5) {
            break None;
        }
        match s.read(&mut buf) {
            Ok(0) => break Some(started.elapsed()),
            Ok(_) => {} // a 408 before closing is fine
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break Some(started.elapsed()),
        }
        if s.write_all(b"X").is_err() {
            break Some(started.elapsed());
        }
    };
    let closed_after = closed_after.expect("connection still open 5 s into a 1 s header timeout");
    assert!(
        closed_after >= Duration::from_millis(900),
        "closed after {closed_after:?}"
    );
    assert!(
        closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}"
    );
    assert!(up.seen().len() == 1);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(
        r#"
        limits: {idle_timeout: 1s}
        routes:
          - path: /echo
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    let mut c = gw.connect();
    assert_eq!(c.request("GET", "/echo", &[], b"").status, 200);
    // Still open well before the timeout ...
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.request("GET", "/echo", &[], b"").status,
        200,
        "open after 300 ms idle"
    );
    let idle_since = Instant::now();
    // ... and closed after it.
    assert!(
        c.closed_within(Duration::from_secs(4)),
        "still open 4 s into a 1 s idle timeout"
    );
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(900),
        "closed after {idle:?} idle"
    );
}
