//! Streaming protocols through the gateway: WebSocket (a real tungstenite echo server
//! upstream and a tungstenite client), refused upgrades, idle tunnels; and server-sent
//! events reaching the client event by event.

#![allow(clippy::result_large_err)] // tungstenite's handshake callback returns an http::Response as its error

mod backend;
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use backend::*;
use common::*;
use tungstenite::handshake::server::{ErrorResponse, Request as WsRequest, Response as WsResponse};
use tungstenite::{Error as WsError, Message, WebSocket};

// ---------------------------------------------------------------------------------------
// A WebSocket echo upstream
// ---------------------------------------------------------------------------------------

/// Request targets and heads (names lower-cased) of the handshakes an upstream saw.
type Handshakes = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;
/// When each body piece arrived (relative to the request) and its bytes.
type Pieces = Vec<(Duration, Vec<u8>)>;

/// Echoes every text and binary message. A path containing `greet` makes it send
/// `welcome` right after the handshake; `refuse` makes it answer 403 instead of 101; a
/// text message `bye` makes it start the close handshake.
struct WsEcho {
    port: u16,
    handshakes: Handshakes,
    /// Connections whose WebSocket has ended (closed or failed).
    ended: Arc<AtomicUsize>,
}

impl WsEcho {
    fn start() -> WsEcho {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes: Handshakes = Arc::default();
        let ended = Arc::new(AtomicUsize::new(0));
        let (hs, en) = (handshakes.clone(), ended.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (hs, en) = (hs.clone(), en.clone());
                thread::spawn(move || {
                    let path = Arc::new(Mutex::new(String::new()));
                    let p2 = path.clone();
                    let cb = move |req: &WsRequest,
                                   resp: WsResponse|
                          -> Result<WsResponse, ErrorResponse> {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (n.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect();
                        let target = req.uri().to_string();
                        hs.lock().unwrap().push((target.clone(), headers));
                        *p2.lock().unwrap() = target.clone();
                        if target.contains("refuse") {
                            let mut r = ErrorResponse::new(Some("no websockets for you".into()));
                            *r.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
                            return Err(r);
                        }
                        Ok(resp)
                    };
                    let Ok(mut ws) = tungstenite::accept_hdr(stream, cb) else {
                        return;
                    };
                    if path.lock().unwrap().contains("greet") {
                        let _ = ws.send(Message::text("welcome"));
                    }
                    loop {
                        match ws.read() {
                            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                                if m.to_text().ok() == Some("bye") {
                                    let _ = ws.close(None);
                                    continue;
                                }
                                if path.lock().unwrap().contains("sink") {
                                    continue;
                                }
                                if ws.send(m).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    en.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        WsEcho {
            port,
            handshakes,
            ended,
        }
    }

    fn handshakes(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.handshakes.lock().unwrap().clone()
    }

    fn ended(&self) -> usize {
        self.ended.load(Ordering::SeqCst)
    }
}

fn ws_config(echo: &WsEcho, limits: &str) -> String {
    format!(
        r#"shards: 1
{limits}
routes:
  - path: /ws/*
    websocket: true
    upstream: {{type: url, target: "http://127.0.0.1:{p}/up"}}
  - path: /plain/*
    upstream: {{type: url, target: "http://127.0.0.1:{p}"}}
"#,
        p = echo.port
    )
}

type Client = WebSocket<TcpStream>;

fn ws_connect(gw: &Gateway, path: &str) -> (Client, tungstenite::handshake::client::Response) {
    let stream = TcpStream::connect(gw.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{}{path}", gw.addr());
    match tungstenite::client(url.as_str(), stream) {
        Ok(pair) => pair,
        Err(e) => panic!("websocket handshake through the gateway failed: {e}"),
    }
}

fn header_of<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads the next data message (skipping pings/pongs).
fn next_data(ws: &mut Client) -> Message {
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_))) => return m,
            Ok(_) => {}
            Err(e) => panic!("reading from the tunnel: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------

#[test]
fn websocket_echo_text_and_binary_through_the_gateway() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, ""));
    let (mut ws, resp) = ws_connect(&gw, "/ws/chat?room=1");
    assert_eq!(resp.status().as_u16(), 101);
    assert!(resp.headers().get("x-request-id").is_some(), "{resp:?}");
    assert!(resp.headers().get("traceparent").is_some(), "{resp:?}");

    ws.send(Message::text("hello")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("hello"));
    let bin: Vec<u8> = (0..=255u8).collect();
    ws.send(Message::binary(bin.clone())).unwrap();
    assert_eq!(next_data(&mut ws), Message::binary(bin));
    // A large message crosses the tunnel in many reads and writes.
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(next_data(&mut ws), Message::binary(big));
    for i in 0..50 {
        ws.send(Message::text(format!("m{i}"))).unwrap();
    }
    for i in 0..50 {
        assert_eq!(next_data(&mut ws), Message::text(format!("m{i}")));
    }

    // What the upstream saw: the handshake, forwarded like any request plus the upgrade.
    let hs = echo.handshakes();
    assert_eq!(hs.len(), 1);
    let (target, headers) = &hs[0];
    assert_eq!(target, "/up/ws/chat?room=1");
    assert!(header_of(headers, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
    assert!(header_of(headers, "connection")
        .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")));
    assert!(header_of(headers, "sec-websocket-key").is_some());
    assert_eq!(header_of(headers, "sec-websocket-version"), Some("13"));
    assert_eq!(header_of(headers, "x-forwarded-for"), Some("127.0.0.1"));
    assert!(header_of(headers, "x-request-id").is_some());

    // Close handshake from the client.
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Ok(_) => continue,
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    assert!(poll(Duration::from_secs(3), || echo.ended() == 1));
}

#[test]
fn websocket_upstream_speaks_first_and_closes_first() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, ""));
    let (mut ws, _) = ws_connect(&gw, "/ws/greet");
    // Sent by the upstream right behind its 101, possibly in the same packet.
    assert_eq!(next_data(&mut ws), Message::text("welcome"));
    ws.send(Message::text("ping?")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("ping?"));
    ws.send(Message::text("bye")).unwrap();
    match next_data(&mut ws) {
        Message::Close(_) => {}
        other => panic!("expected the upstream's close, got {other:?}"),
    }
    // Reading on sends the close reply and sees the end of the connection.
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => break,
            Err(e) => panic!("after the close handshake: {e}"),
        }
    }
    assert!(poll(Duration::from_secs(3), || echo.ended() == 1));
}

/// A masked client text frame.
fn client_frame(text: &str) -> Vec<u8> {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut f = vec![0x81, 0x80 | text.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn websocket_frame_sent_with_the_handshake_is_not_lost() {
    // A client may send its first frame right behind the upgrade request; the gateway has
    // read it along with the head and must pass it on. Also: `Connection: keep-alive,
    // Upgrade`, as Firefox sends it.
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, ""));
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut bytes = format!(
        "GET /ws/early HTTP/1.1\r\nhost: {}\r\nconnection: keep-alive, Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        gw.addr()
    )
    .into_bytes();
    bytes.extend(client_frame("early bird"));
    s.write_all(&bytes).unwrap();
    let mut wire = Wire::new(s);
    let head = wire.read_head().unwrap().expect("101 head");
    let (start, headers) = parse_head(&head);
    assert!(start.starts_with("HTTP/1.1 101"), "{start}");
    assert_eq!(
        header_of(&headers, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // The echo of the early frame: unmasked, FIN + text, length 10.
    let mut got = wire.buffered().to_vec();
    let mut s = wire.stream;
    let mut buf = [0u8; 64];
    while got.len() < 12 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(&got[..], &[&[0x81u8, 10][..], b"early bird"].concat()[..]);
}

#[test]
fn websocket_upgrade_on_a_route_without_websocket_gets_400() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, ""));
    let upgrade = |method: &str, path: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nhost: t\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    let reply = send_raw(
        gw.addr(),
        upgrade("GET", "/plain/x").as_bytes(),
        Duration::from_secs(2),
    );
    let r = reply.first();
    assert_gateway_error(&r, 400, "bad_request");
    assert_eq!(
        r.json()["message"],
        "WebSocket upgrades are not enabled on this route"
    );
    assert!(reply.closed, "connection kept open after a refused upgrade");
    // Not a GET: refused even on the websocket route.
    let r = send_raw(
        gw.addr(),
        upgrade("POST", "/ws/x").as_bytes(),
        Duration::from_secs(2),
    )
    .first();
    assert_eq!(r.status, 400, "{r}");
    assert!(
        echo.handshakes().is_empty(),
        "a refused upgrade reached the upstream"
    );
    // The tungstenite client agrees.
    let stream = TcpStream::connect(gw.addr()).unwrap();
    match tungstenite::client(format!("ws://{}/plain/x", gw.addr()).as_str(), stream) {
        Err(tungstenite::HandshakeError::Failure(WsError::Http(resp))) => {
            assert_eq!(resp.status().as_u16(), 400)
        }
        Err(e) => panic!("unexpected handshake error {e}"),
        Ok(_) => panic!("upgrade accepted on a route without websocket: true"),
    }
}

#[test]
fn websocket_refused_by_the_upstream_passes_its_answer_back() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, ""));
    let stream = TcpStream::connect(gw.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match tungstenite::client(format!("ws://{}/ws/refuse", gw.addr()).as_str(), stream) {
        Err(tungstenite::HandshakeError::Failure(WsError::Http(resp))) => {
            assert_eq!(resp.status().as_u16(), 403);
        }
        Err(e) => panic!("unexpected handshake error {e}"),
        Ok(_) => panic!("handshake succeeded although the upstream answered 403"),
    }
}

#[test]
fn websocket_idle_tunnel_is_closed_after_idle_timeout() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, "limits: {idle_timeout: 1s}"));
    let (mut ws, _) = ws_connect(&gw, "/ws/idle");
    ws.send(Message::text("once")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("once"));
    let quiet_from = Instant::now();
    let err = loop {
        match ws.read() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    let took = quiet_from.elapsed();
    assert!(
        !matches!(&err, WsError::Io(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "tunnel still open after {took:?}"
    );
    assert!(
        (800..2600).contains(&took.as_millis()),
        "idle tunnel closed after {took:?}, idle_timeout is 1s ({err})"
    );
    // The upstream side is closed too.
    assert!(
        poll(Duration::from_secs(3), || echo.ended() == 1),
        "the upstream connection outlived the tunnel"
    );
}

#[test]
fn websocket_busy_tunnel_outlives_idle_timeout() {
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, "limits: {idle_timeout: 1s}"));
    let (mut ws, _) = ws_connect(&gw, "/ws/busy");
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(2600) {
        ws.send(Message::text(format!("tick {i}"))).unwrap();
        assert_eq!(next_data(&mut ws), Message::text(format!("tick {i}")));
        i += 1;
        thread::sleep(Duration::from_millis(300));
    }
    assert!(i >= 8);
}

#[test]
fn websocket_one_way_traffic_keeps_the_tunnel_open() {
    // Only the client talks (the upstream swallows messages on a `sink` path): traffic in
    // one direction keeps the tunnel alive too.
    let echo = WsEcho::start();
    let gw = Gateway::start(&ws_config(&echo, "limits: {idle_timeout: 1s}"));
    let (mut ws, _) = ws_connect(&gw, "/ws/sink");
    for i in 0..9 {
        ws.send(Message::text(format!("n{i}"))).unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    // Still open after 2.7 s: the upstream hears "bye" and closes.
    ws.send(Message::text("bye")).unwrap();
    match next_data(&mut ws) {
        Message::Close(_) => {}
        other => panic!("expected the upstream's close, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Server-sent events and other long streams
// ---------------------------------------------------------------------------------------

/// Sends `GET path` and returns the head plus, for each body piece, when it arrived
/// (relative to the request) and its bytes.
fn timed_body(gw: &Gateway, path: &str) -> (String, Vec<(String, String)>, Pieces) {
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut wire = Wire::new(s);
    let head = wire.read_head().unwrap().expect("head");
    let (start, headers) = parse_head(&head);
    let mut pieces = Vec::new();
    let mut sink = |b: &[u8]| pieces.push((t.elapsed(), b.to_vec()));
    let chunked = header_of(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    if chunked {
        wire.read_chunked_to(&mut sink).unwrap();
    } else if let Some(cl) = header_of(&headers, "content-length") {
        wire.read_exact_to(cl.parse().unwrap(), &mut sink).unwrap();
    } else {
        wire.read_to_close(&mut sink).unwrap();
    }
    (start, headers, pieces)
}

/// When the body first contained `needle`.
fn when_seen(pieces: &[(Duration, Vec<u8>)], needle: &str) -> Option<Duration> {
    let mut acc = Vec::new();
    for (at, data) in pieces {
        acc.extend_from_slice(data);
        if String::from_utf8_lossy(&acc).contains(needle) {
            return Some(*at);
        }
    }
    None
}

fn sse_events() -> Vec<(Duration, Vec<u8>)> {
    vec![
        (Duration::ZERO, b"id: 1\ndata: first\n\n".to_vec()),
        (Duration::from_secs(2), b"id: 2\ndata: second\n\n".to_vec()),
    ]
}

fn sse_gateway(b: &Backend) -> Gateway {
    Gateway::start(&format!(
        "shards: 1\nroutes:\n  - path: /events/*\n    upstream: {{type: url, target: \"{}\"}}\n",
        b.url()
    ))
}

fn assert_first_event_early(pieces: &[(Duration, Vec<u8>)]) {
    let first = when_seen(pieces, "data: first\n\n").expect("first event");
    let second = when_seen(pieces, "data: second\n\n").expect("second event");
    assert!(
        first < Duration::from_millis(800),
        "first event reached the client after {first:?}; it was sent at once (second at 2 s)"
    );
    assert!(second >= Duration::from_millis(1900), "{second:?}");
}

#[test]
fn sse_first_event_arrives_before_the_second_is_sent() {
    let b = Backend::with(
        "sse",
        Behavior::Chunks {
            content_type: "text/event-stream".into(),
            chunks: sse_events(),
            finish: true,
        },
    );
    let gw = sse_gateway(&b);
    let (start, headers, pieces) = timed_body(&gw, "/events/stream");
    assert!(start.contains(" 200 "), "{start}");
    assert_eq!(
        header_of(&headers, "content-type"),
        Some("text/event-stream")
    );
    assert_eq!(header_of(&headers, "cache-control"), Some("no-cache"));
    assert_first_event_early(&pieces);
}

#[test]
fn sse_close_delimited_stream_is_passed_on_event_by_event() {
    let b = Backend::with(
        "sse",
        Behavior::UntilClose {
            pieces: sse_events(),
        },
    );
    let gw = sse_gateway(&b);
    let (start, headers, pieces) = timed_body(&gw, "/events/stream");
    assert!(start.contains(" 200 "), "{start}");
    assert!(
        header_of(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")),
        "a close-delimited body to an HTTP/1.1 client is re-framed as chunked: {headers:?}"
    );
    assert_first_event_early(&pieces);
}

#[test]
fn sse_content_length_stream_is_not_held_back() {
    let events = sse_events();
    let len = events.iter().map(|(_, d)| d.len()).sum();
    let b = Backend::with(
        "sse",
        Behavior::Sized {
            len,
            pieces: events,
        },
    );
    let gw = sse_gateway(&b);
    let (_, _, pieces) = timed_body(&gw, "/events/stream");
    assert_first_event_early(&pieces);
}

#[test]
fn sse_many_events_arrive_one_by_one() {
    let chunks: Vec<(Duration, Vec<u8>)> = (0..6)
        .map(|i| {
            (
                Duration::from_millis(if i == 0 { 0 } else { 250 }),
                format!("data: e{i}\n\n").into_bytes(),
            )
        })
        .collect();
    let b = Backend::with(
        "sse",
        Behavior::Chunks {
            content_type: "text/event-stream".into(),
            chunks,
            finish: true,
        },
    );
    let gw = sse_gateway(&b);
    let (_, _, pieces) = timed_body(&gw, "/events/stream");
    let times: Vec<Duration> = (0..6)
        .map(|i| when_seen(&pieces, &format!("data: e{i}\n\n")).unwrap())
        .collect();
    for (i, t) in times.iter().enumerate() {
        let sent = Duration::from_millis(250 * i as u64);
        assert!(
            *t < sent + Duration::from_millis(200),
            "event {i} sent at {sent:?} arrived at {t:?}: {times:?}"
        );
    }
}
