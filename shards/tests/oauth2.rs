//! oauth2 (RFC 7662 token introspection) over real sockets: an introspection endpoint in
//! the test checks the gateway's client credentials and answers per token.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;

/// `Basic base64("gateway:s3cret")`.
const CLIENT_AUTH: &str = "Basic Z2F0ZXdheTpzM2NyZXQ=";

struct Introspector {
    port: u16,
    calls: Arc<AtomicUsize>,
    /// Form bodies received, in order.
    bodies: Arc<Mutex<Vec<String>>>,
}

/// Answers `POST /introspect`: 401 without the right client credentials, else by token:
/// `good` active with scope `read write` and `sub: alice`, `writer` active with scope
/// `write` only, anything else inactive.
fn introspector() -> Introspector {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (c, b) = (calls.clone(), bodies.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the Content-Length body.
            let (head, body) = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, text[end + 4..end + 4 + len].to_string());
                    }
                }
            };
            c.fetch_add(1, Ordering::SeqCst);
            b.lock().unwrap().push(body.clone());
            let authorized = head
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("authorization: {CLIENT_AUTH}")));
            let answer = if !head.starts_with("POST /introspect ") || !authorized {
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".to_string()
            } else {
                let json = if body.contains("token=good&") {
                    r#"{"active":true,"scope":"read write","sub":"alice","exp":4102444800}"#
                } else if body.contains("token=writer&") {
                    r#"{"active":true,"scope":"write","sub":"bob"}"#
                } else {
                    r#"{"active":false}"#
                };
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}", json.len())
            };
            let _ = s.write_all(answer.as_bytes());
        }
    });
    Introspector {
        port,
        calls,
        bodies,
    }
}

fn gateway(introspect_port: u16, cache_ttl: &str, client_secret: &str) -> (Upstream, Gateway) {
    let up = TestUpstream::new().start();
    let yaml = format!(
        r#"
        shards: 1
        routes:
          - path: /api
            policies:
              - type: oauth2
                introspection_url: "http://127.0.0.1:{introspect_port}/introspect"
                client_id: gateway
                client_secret: "{client_secret}"
                required_scopes: [read]
                cache_ttl: {cache_ttl}
                forward_token_info: {{sub: x-user}}
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
        "#
    );
    let gw = Gateway::start(&up.fill(&yaml));
    (up, gw)
}

fn bearer(gw: &Gateway, token: &str) -> Response {
    gw.request(
        "GET",
        "/api",
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    )
}

#[test]
fn active_token_passes_and_forwards_token_info() {
    let idp = introspector();
    let (up, gw) = gateway(idp.port, "0s", "s3cret");
    let r = bearer(&gw, "good");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().header("x-user"), Some("alice"));
    // RFC 7662: a form POST naming the token.
    assert_eq!(
        idp.bodies.lock().unwrap()[0],
        "token=good&token_type_hint=access_token"
    );
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn inactive_missing_scope_and_missing_token_are_refused() {
    let idp = introspector();
    let (up, gw) = gateway(idp.port, "0s", "s3cret");
    let r = bearer(&gw, "revoked");
    assert_gateway_error(&r, 401, "unauthorized");
    assert_eq!(r.json()["message"], "Invalid token");
    let r = bearer(&gw, "writer");
    assert_gateway_error(&r, 403, "forbidden");
    assert_eq!(r.json()["message"], "Insufficient scope");
    let r = gw.get("/api");
    assert_gateway_error(&r, 401, "unauthorized");
    assert_eq!(r.json()["message"], "Missing bearer token");
    assert!(
        up.seen().is_empty(),
        "refused requests must not reach the upstream"
    );
}

#[test]
fn cache_ttl_saves_introspection_calls_and_zero_disables_it() {
    let idp = introspector();
    let (_up, gw) = gateway(idp.port, "60s", "s3cret");
    for _ in 0..3 {
        assert_eq!(bearer(&gw, "good").status, 200);
    }
    assert_eq!(
        idp.calls.load(Ordering::SeqCst),
        1,
        "cached after the first call"
    );

    let idp = introspector();
    let (_up, gw) = gateway(idp.port, "0s", "s3cret");
    for _ in 0..3 {
        assert_eq!(bearer(&gw, "good").status, 200);
    }
    assert_eq!(
        idp.calls.load(Ordering::SeqCst),
        3,
        "no cache with cache_ttl 0s"
    );
}

#[test]
fn endpoint_down_or_refusing_the_client_is_a_502() {
    // Refuses our client credentials.
    let idp = introspector();
    let (_up, gw) = gateway(idp.port, "0s", "wrong");
    assert_gateway_error(&bearer(&gw, "good"), 502, "introspection_error");
    // Nothing listening.
    let port = free_port();
    let (_up, gw) = gateway(port, "0s", "s3cret");
    let r = bearer(&gw, "good");
    assert_gateway_error(&r, 502, "introspection_error");
    assert!(
        !r.text().contains(&port.to_string()),
        "addresses stay out of client errors: {r}"
    );
}
