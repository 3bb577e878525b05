//! Bodies and framing: 512 MiB both ways in bounded memory, chunked requests and
//! responses, close-delimited responses, HEAD/204/304, pipelining, HTTP/1.0 clients and
//! `Expect: 100-continue`.

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use common::*;

const BIG: u64 = 512 * 1024 * 1024;
/// Growth of the gateway's peak RSS allowed while 512 MiB stream through it.
const MAX_GROWTH_KIB: u64 = 64 * 1024;

const ROUTES: &str = r#"
    routes:
      - path: /health
        upstream: {type: static, status: 200, headers: {content-type: application/json}, body: '{"status":"ok"}'}
      - path: /up/*
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
"#;

fn upstream() -> Upstream {
    let pattern =
        |n: usize| -> Vec<u8> { (0..n as u64).map(|i| (i % PATTERN_PERIOD) as u8).collect() };
    TestUpstream::new()
        .route(
            "/up/chunked",
            Reply::Chunked {
                headers: vec![("content-type".into(), "text/plain".into())],
                chunks: vec![b"hello ".to_vec(), b"chunked ".to_vec(), b"world".to_vec()],
            },
        )
        .route(
            "/up/many-chunks",
            Reply::Chunked {
                headers: vec![],
                chunks: pattern(1_000_000)
                    .chunks(1000)
                    .map(<[u8]>::to_vec)
                    .collect(),
            },
        )
        .route(
            "/up/close",
            Reply::CloseDelimited {
                body: pattern(1 << 20),
            },
        )
        .route("/up/ten", Reply::text(200, "0123456789"))
        .route(
            "/up/slow",
            Reply::delayed(Duration::from_millis(300), Reply::text(200, "slow")),
        )
        .route("/up/204", Reply::with_headers(204, &[("x-a", "1")], ""))
        .route(
            "/up/304",
            Reply::with_headers(304, &[("etag", "\"v1\"")], ""),
        )
        .route("/up/big", Reply::Stream { len: BIG })
        .start()
}

fn start() -> (Upstream, Gateway) {
    let up = upstream();
    let gw = Gateway::start(&up.fill(ROUTES));
    (up, gw)
}

/// True when `data` equals bytes `offset..` of the [`pattern_at`] stream.
fn is_pattern(offset: u64, data: &[u8]) -> bool {
    data.chunks(PATTERN_CHUNK)
        .enumerate()
        .all(|(i, piece)| piece == pattern_at(offset + (i * PATTERN_CHUNK) as u64, piece.len()))
}

#[test]
fn upload_512_mib_streams_in_bounded_memory() {
    let up = upstream();
    let gw = Gateway::start(&up.fill(&format!(
        "limits: {{max_body_bytes: {}}}\n{}",
        2 * BIG,
        dedent(ROUTES)
    )));
    assert_eq!(gw.get("/up/warm").status, 200);
    let before = gw.vm_hwm_kib();

    let mut c = gw.connect();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    c.send(
        format!("POST /up/echo HTTP/1.1\r\nHost: a\r\nContent-Length: {BIG}\r\n\r\n").as_bytes(),
    );
    let mut writer = c.stream().try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut sum = Checksum::default();
        let mut sent = 0u64;
        while sent < BIG {
            let piece = pattern_at(sent, (BIG - sent).min(PATTERN_CHUNK as u64) as usize);
            sum.update(piece);
            writer
                .write_all(piece)
                .map_err(|e| format!("upload stopped at {sent}: {e}"))?;
            sent += piece.len() as u64;
        }
        Ok::<_, String>(sum.finish())
    });
    let resp = c.read_final("POST");
    let sum = sender
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}; response: {resp}"));
    let echo = resp.echo();
    assert_eq!(echo.body_len, BIG);
    assert_eq!(echo.body_sum, sum, "the upstream received other bytes");
    let grew = gw.vm_hwm_kib().saturating_sub(before);
    assert!(
        grew < MAX_GROWTH_KIB,
        "gateway peak RSS grew by {} MiB",
        grew / 1024
    );
}

#[test]
fn download_512_mib_streams_in_bounded_memory() {
    let (_up, gw) = start();
    assert_eq!(gw.get("/up/warm").status, 200);
    let before = gw.vm_hwm_kib();

    let mut c = gw.connect();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    c.send_request("GET", "/up/big", &[], b"");
    let mut received = 0u64;
    let mut first_bad = None;
    let resp = c
        .wire
        .read_response_to("GET", &mut |b| {
            if first_bad.is_none() && !is_pattern(received, b) {
                first_bad = Some(received);
            }
            received += b.len() as u64;
        })
        .unwrap_or_else(|e| panic!("download broke after {received} bytes: {e}"));
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(received, BIG);
    assert_eq!(
        first_bad, None,
        "corrupt bytes in the piece starting at that offset"
    );
    let grew = gw.vm_hwm_kib().saturating_sub(before);
    assert!(
        grew < MAX_GROWTH_KIB,
        "gateway peak RSS grew by {} MiB",
        grew / 1024
    );
}

#[test]
fn chunked_request_body_reaches_the_upstream_whole() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    c.send(b"POST /up/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    let big = pattern_at(0, 60_000);
    let pieces: [&[u8]; 4] = [b"hello", b" ", big, b"!"];
    let mut expected = Vec::new();
    for piece in pieces {
        let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
        frame.extend_from_slice(piece);
        frame.extend_from_slice(b"\r\n");
        c.send(&frame);
        expected.extend_from_slice(piece);
        // Separate reads on the gateway side.
        thread::sleep(Duration::from_millis(20));
    }
    c.send(b"0\r\n\r\n");
    let echo = c.read_final("POST").echo();
    assert_eq!(echo.body_len, expected.len() as u64);
    assert_eq!(echo.body_sum, Checksum::of(&expected));
    assert!(
        !(echo.header("content-length").is_some() && echo.header("transfer-encoding").is_some()),
        "upstream request framed twice: {:?}",
        echo.headers
    );
    // Same connection, next request.
    assert_eq!(
        c.request("GET", "/up/after", &[], b"").echo().target,
        "/up/after"
    );
}

#[test]
fn large_chunked_upload_is_complete() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    c.send(b"PUT /up/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    let total = 8 * 1024 * 1024u64;
    let mut writer = c.stream().try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut sent = 0u64;
        while sent < total {
            let piece = pattern_at(sent, (total - sent).min(50_000) as usize);
            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
            frame.extend_from_slice(piece);
            frame.extend_from_slice(b"\r\n");
            writer.write_all(&frame).unwrap();
            sent += piece.len() as u64;
        }
        writer.write_all(b"0\r\n\r\n").unwrap();
    });
    let echo = c.read_final("PUT").echo();
    sender.join().unwrap();
    assert_eq!(echo.body_len, total);
    let mut sum = Checksum::default();
    let mut at = 0u64;
    while at < total {
        let piece = pattern_at(at, (total - at).min(PATTERN_CHUNK as u64) as usize);
        sum.update(piece);
        at += piece.len() as u64;
    }
    assert_eq!(echo.body_sum, sum.finish());
}

#[test]
fn chunked_responses_reach_the_client() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let resp = c.request("GET", "/up/chunked", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.text(), "hello chunked world");
    let resp = c.request("GET", "/up/many-chunks", &[], b"");
    assert_eq!(resp.body.len(), 1_000_000);
    assert!(is_pattern(0, &resp.body));
    assert_eq!(
        c.request("GET", "/up/after", &[], b"").echo().target,
        "/up/after"
    );
}

#[test]
fn close_delimited_upstream_response_reaches_the_client() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let resp = c.request("GET", "/up/close", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.body.len(), 1 << 20);
    assert!(is_pattern(0, &resp.body));
    if resp.header("x-harness-read-to-close").is_none() {
        // Re-framed for the client: the connection must still work.
        assert_eq!(
            c.request("GET", "/up/after", &[], b"").echo().target,
            "/up/after"
        );
    }
}

#[test]
fn head_204_and_304_have_no_body() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    // The upstream sends the GET's Content-Length on HEAD.
    assert_eq!(c.request("GET", "/up/ten", &[], b"").text(), "0123456789");
    let resp = c.request("HEAD", "/up/ten", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.header("content-length"), Some("10"));

    let resp = c.request("GET", "/up/204", &[], b"");
    assert_eq!(resp.status, 204, "{resp}");
    assert_eq!(resp.header("x-a"), Some("1"));
    assert_eq!(resp.header("content-length"), None, "{resp}");
    assert_eq!(resp.header("transfer-encoding"), None, "{resp}");

    let resp = c.request("GET", "/up/304", &[("if-none-match", "\"v1\"")], b"");
    assert_eq!(resp.status, 304, "{resp}");
    assert_eq!(resp.header("etag"), Some("\"v1\""));
    assert_eq!(resp.header("transfer-encoding"), None, "{resp}");

    // Any stray body byte after those would break this response's framing.
    let resp = c.request("GET", "/up/last", &[], b"");
    assert_eq!(resp.echo().target, "/up/last");
    assert!(
        c.wire.buffered().is_empty(),
        "stray bytes: {:?}",
        String::from_utf8_lossy(c.wire.buffered())
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let mut batch = Vec::new();
    batch.extend(c.request_bytes("GET", "/up/1", &[], b""));
    batch.extend(c.request_bytes("GET", "/health", &[], b""));
    batch.extend(c.request_bytes("POST", "/up/2", &[], b"second body"));
    batch.extend(c.request_bytes("GET", "/nope", &[], b""));
    batch.extend(c.request_bytes("HEAD", "/up/3", &[], b""));
    batch.extend(c.request_bytes("POST", "/up/4", &[], b"fourth"));
    c.send(&batch);
    assert_eq!(c.read_final("GET").echo().target, "/up/1");
    assert_eq!(c.read_final("GET").text(), r#"{"status":"ok"}"#);
    let echo = c.read_final("POST").echo();
    assert_eq!(
        (echo.target.as_str(), echo.body.as_deref()),
        ("/up/2", Some("second body"))
    );
    assert_gateway_error(&c.read_final("GET"), 404, "not_found");
    assert_eq!(c.read_final("HEAD").status, 200);
    let echo = c.read_final("POST").echo();
    assert_eq!(
        (echo.target.as_str(), echo.body.as_deref()),
        ("/up/4", Some("fourth"))
    );
}

#[test]
fn fifty_pipelined_requests_in_one_write() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(c.request_bytes(
            "POST",
            &format!("/up/{i}"),
            &[],
            format!("body {i}").as_bytes(),
        ));
    }
    c.send(&batch);
    for i in 0..50 {
        let echo = c.read_final("POST").echo();
        assert_eq!(echo.target, format!("/up/{i}"));
        assert_eq!(echo.body, Some(format!("body {i}")));
    }
}

#[test]
fn concurrent_uploads_do_not_mix() {
    let (_up, gw) = start();
    let addr = gw.addr();
    let clients: Vec<_> = (0..24u64)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for round in 0..3u64 {
                    // A different slice of the pattern for every client and round.
                    let start = i * 1009 + round * 31;
                    let body: Vec<u8> = (0..4)
                        .flat_map(|k| {
                            pattern_at(start + k * PATTERN_CHUNK as u64, PATTERN_CHUNK).to_vec()
                        })
                        .collect();
                    let echo = c
                        .request("POST", &format!("/up/{i}/{round}"), &[], &body)
                        .echo();
                    assert_eq!(echo.target, format!("/up/{i}/{round}"));
                    assert_eq!(echo.body_len, body.len() as u64);
                    assert_eq!(
                        echo.body_sum,
                        Checksum::of(&body),
                        "client {i} round {round}"
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn pipelined_answers_keep_order_behind_a_slow_upstream() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    let mut batch = c.request_bytes("GET", "/up/slow", &[], b"");
    batch.extend(c.request_bytes("GET", "/health", &[], b""));
    batch.extend(c.request_bytes("GET", "/up/fast", &[], b""));
    c.send(&batch);
    assert_eq!(c.read_final("GET").text(), "slow");
    assert_eq!(c.read_final("GET").text(), r#"{"status":"ok"}"#);
    assert_eq!(c.read_final("GET").echo().target, "/up/fast");
}

#[test]
fn pipelined_garbage_after_a_good_request_gets_400_after_its_answer() {
    let (_up, gw) = start();
    let raw = send_raw(
        gw.addr(),
        b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost : a\r\n\r\n",
        Duration::from_secs(3),
    );
    let responses = raw.responses();
    assert_eq!(responses.len(), 2, "{:?}", raw.text());
    assert_eq!(responses[0].text(), r#"{"status":"ok"}"#);
    assert_gateway_error(&responses[1], 400, "bad_request");
    assert!(raw.closed);
}

#[test]
fn http_1_0_clients_get_unchunked_answers_and_a_close() {
    let (_up, gw) = start();
    let raw = send_raw(
        gw.addr(),
        b"GET /health HTTP/1.0\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(
        raw.closed,
        "HTTP/1.0 without keep-alive must be closed after the answer"
    );
    let resp = raw.first();
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);

    let raw = send_raw(
        gw.addr(),
        b"GET /up/chunked HTTP/1.0\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(raw.closed);
    let resp = raw.first();
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(
        resp.header("transfer-encoding"),
        None,
        "no chunked framing for HTTP/1.0: {resp}"
    );
    assert_eq!(resp.text(), "hello chunked world");

    let raw = send_raw(
        gw.addr(),
        b"POST /up/echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        Duration::from_secs(3),
    );
    let echo = raw.first().echo();
    assert_eq!(echo.body.as_deref(), Some("abc"));
}

#[test]
fn client_half_close_after_the_request_still_gets_the_answer() {
    let (_up, gw) = start();
    for path in ["/health", "/up/half"] {
        let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let raw = read_raw(&mut s, Duration::from_secs(3));
        let resp = raw.first();
        assert_eq!(resp.status, 200, "{path}: {resp}");
    }
}

#[test]
fn expect_100_continue_gets_100_then_the_answer() {
    let (_up, gw) = start();
    let mut c = gw.connect();
    c.send(
        b"POST /up/echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let interim = c
        .wire
        .read_response("POST")
        .expect("a 100 Continue before the body is sent");
    assert_eq!(interim.status, 100, "{interim}");
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    c.send(b"hello world");
    let echo = c.read_final("POST").echo();
    assert_eq!(echo.body.as_deref(), Some("hello world"));
    // The connection goes on.
    assert_eq!(c.request("GET", "/health", &[], b"").status, 200);
}

#[test]
fn expect_100_continue_over_the_body_limit_is_refused_without_the_body() {
    let up = upstream();
    let gw = Gateway::start(&up.fill(&format!(
        "limits: {{max_body_bytes: 1024}}\n{}",
        dedent(ROUTES)
    )));
    let mut c = gw.connect();
    c.send(b"POST /up/echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let resp = c
        .wire
        .read_response("POST")
        .expect("a final answer without sending the body");
    assert_gateway_error(&resp, 413, "payload_too_large");
    assert!(up.seen().is_empty());
}
