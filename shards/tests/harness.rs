//! Checks of the test harness itself, against the test upstream directly (no gateway), so
//! that a failing gateway test can be trusted to be about the gateway.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn echo_reports_request_and_content_length_body() {
    let up = TestUpstream::new().start();
    let mut c = Conn::connect(([127, 0, 0, 1], up.port()).into());
    let resp = c.request("POST", "/a/b?x=1", &[("x-one", "1")], b"hello");
    let echo = resp.echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.target, "/a/b?x=1");
    assert_eq!(echo.header("x-one"), Some("1"));
    assert_eq!(echo.body.as_deref(), Some("hello"));
    assert_eq!(echo.body_sum, Checksum::of(b"hello"));
    // Keep-alive: a second request on the same connection.
    let echo = c.request("GET", "/second", &[], b"").echo();
    assert_eq!(echo.target, "/second");
    assert_eq!(up.connections(), 1);
    assert_eq!(up.seen().len(), 2);
}

#[test]
fn echo_decodes_chunked_bodies_and_answers_expect() {
    let up = TestUpstream::new().start();
    let mut c = Conn::connect(([127, 0, 0, 1], up.port()).into());
    c.send(
        b"PUT /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n",
    );
    assert_eq!(c.read_response("PUT").status, 100);
    c.send(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n");
    let echo = c.read_final("PUT").echo();
    assert_eq!(echo.body.as_deref(), Some("hello world"));
}

#[test]
fn canned_replies_are_framed_as_documented() {
    let up = TestUpstream::new()
        .route(
            "/chunked",
            Reply::Chunked {
                headers: vec![],
                chunks: vec![b"ab".to_vec(), b"cde".to_vec()],
            },
        )
        .route(
            "/close",
            Reply::CloseDelimited {
                body: b"until close".to_vec(),
            },
        )
        .route("/stream", Reply::Stream { len: 300_000 })
        .route("/204", Reply::text(204, ""))
        .start();
    let addr = ([127, 0, 0, 1], up.port()).into();
    let mut c = Conn::connect(addr);
    assert_eq!(c.request("GET", "/chunked", &[], b"").body, b"abcde");
    assert_eq!(c.request("GET", "/204", &[], b"").status, 204);
    assert_eq!(
        c.request("HEAD", "/stream", &[], b"")
            .header("content-length"),
        Some("300000")
    );
    let body = c.request("GET", "/stream", &[], b"").body;
    assert_eq!(body.len(), 300_000);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, b)| *b as u64 == i as u64 % PATTERN_PERIOD));
    let resp = c.request("GET", "/close", &[], b"");
    assert_eq!(resp.body, b"until close");
    assert_eq!(resp.header("x-harness-read-to-close"), Some("1"));
    assert_eq!(up.connections(), 1);
}

#[test]
fn idle_upstream_connections_are_closed_silently() {
    let up = TestUpstream::new()
        .close_idle_after(Duration::from_millis(100))
        .start();
    let mut c = Conn::connect(([127, 0, 0, 1], up.port()).into());
    let resp = c.request("GET", "/", &[], b"");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), None);
    assert!(c.closed_within(Duration::from_secs(2)));
}

#[test]
fn raw_replies_split_into_responses() {
    let up = TestUpstream::new().start();
    let addr = ([127, 0, 0, 1], up.port()).into();
    let raw = send_raw(
        addr,
        b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(raw.closed);
    let targets: Vec<String> = raw.responses().iter().map(|r| r.echo().target).collect();
    assert_eq!(targets, ["/1", "/2"]);
}

#[test]
fn checksum_is_position_dependent_and_split_invariant() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let mut split = Checksum::default();
    for piece in data.chunks(13) {
        split.update(piece);
    }
    assert_eq!(split.finish(), Checksum::of(&data));
    let mut swapped = data.clone();
    swapped.swap(3, 500);
    assert_ne!(Checksum::of(&swapped), Checksum::of(&data));
    assert_ne!(Checksum::of(b"ab"), Checksum::of(b"ab\0"));
}

#[test]
fn dedent_keeps_relative_indentation() {
    assert_eq!(
        dedent("\n    a:\n      - b\n    c: 1\n"),
        "a:\n  - b\nc: 1\n"
    );
}
