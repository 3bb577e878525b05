//! Real clients against the gateway: curl (HTTP/1.0, chunked `-T -` upload,
//! `Expect: 100-continue`, connection reuse, HEAD) and Python `requests` (a keep-alive
//! session checking ids, forwarding headers, JSON bodies and errors).

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const ROUTES: &str = r#"
    routes:
      - path: /health
        upstream: {type: static, status: 200, headers: {content-type: application/json}, body: '{"status":"ok"}'}
      - path: /up/*
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
"#;

fn start() -> (Upstream, Gateway) {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(ROUTES));
    (up, gw)
}

/// Runs curl with `-sS -i` (plus `args`), feeding `stdin`.
fn curl(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl must be installed for these tests");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The final response in curl's `-i` output of one URL (interim 1xx heads skipped; curl
/// prints the body already de-chunked).
fn final_response(out: &Output) -> Response {
    let text = &out.stdout;
    let mut at = 0;
    loop {
        let end = text[at..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| at + i + 4)
            .unwrap_or_else(|| {
                panic!("no head in curl output {:?}", String::from_utf8_lossy(text))
            });
        let (start, headers) = parse_head(&text[at..end]);
        let mut parts = start.splitn(3, ' ');
        let version = parts.next().unwrap().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .expect("status code");
        if status >= 200 {
            let reason = parts.next().unwrap_or("").to_string();
            return Response {
                version,
                status,
                reason,
                headers,
                body: text[end..].to_vec(),
            };
        }
        at = end;
    }
}

#[test]
fn curl_get_static_and_proxied() {
    let (_up, gw) = start();
    let resp = final_response(&curl(&[&gw.url("/health")], b""));
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
    resp.assert_ids();

    let resp = final_response(&curl(&[&gw.url("/up/a?b=c")], b""));
    let echo = resp.echo();
    assert_eq!(echo.target, "/up/a?b=c");
    assert_eq!(echo.header("x-forwarded-for"), Some("127.0.0.1"));
}

#[test]
fn curl_http_1_0() {
    let (_up, gw) = start();
    let resp = final_response(&curl(&["--http1.0", &gw.url("/up/old")], b""));
    let echo = resp.echo();
    assert_eq!(echo.method, "GET");
    assert_eq!(echo.target, "/up/old");
    assert_eq!(resp.header("transfer-encoding"), None);

    let resp = final_response(&curl(&["--http1.0", &gw.url("/health")], b""));
    assert_eq!(resp.text(), r#"{"status":"ok"}"#);
}

#[test]
fn curl_chunked_upload_from_stdin() {
    let (_up, gw) = start();
    let body: Vec<u8> = (0..1_048_576u64)
        .map(|i| (i % PATTERN_PERIOD) as u8)
        .collect();
    let out = curl(&["-v", "-T", "-", &gw.url("/up/upload")], &body);
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        verbose
            .to_ascii_lowercase()
            .contains("> transfer-encoding: chunked"),
        "curl did not upload chunked:\n{verbose}"
    );
    let echo = final_response(&out).echo();
    assert_eq!(echo.method, "PUT");
    assert_eq!(echo.body_len, body.len() as u64);
    assert_eq!(echo.body_sum, Checksum::of(&body));
}

#[test]
fn curl_expect_100_continue_is_not_left_waiting() {
    let (_up, gw) = start();
    let body = vec![b'e'; 2 * 1024 * 1024];
    let started = Instant::now();
    let out = curl(
        &[
            "-v",
            "--expect100-timeout",
            "10",
            "-H",
            "Expect: 100-continue",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "@-",
            &gw.url("/up/expect"),
        ],
        &body,
    );
    let took = started.elapsed();
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        verbose.contains("< HTTP/1.1 100 Continue"),
        "no 100 Continue seen by curl:\n{verbose}"
    );
    assert!(
        took < Duration::from_secs(5),
        "curl waited {took:?}: the 100 Continue came late or never"
    );
    let echo = final_response(&out).echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.body_len, body.len() as u64);
}

#[test]
fn curl_reuses_its_connection_and_the_gateway_its_upstream_connection() {
    let (up, gw) = start();
    let out = curl(
        &["-v", &gw.url("/up/1"), &gw.url("/up/2"), &gw.url("/up/3")],
        b"",
    );
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        verbose.contains("Re-using existing connection"),
        "curl opened new connections:\n{verbose}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("HTTP/1.1 200").count(), 3, "{stdout}");
    assert_eq!(up.seen().len(), 3);
    assert_eq!(up.connections(), 1);
}

#[test]
fn curl_head() {
    let (_up, gw) = start();
    let out = curl(&["-I", &gw.url("/health")], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\n"),
        "HEAD answered with a body: {text:?}"
    );
}

const PYTHON_SESSION: &str = r#"
import json, re, sys
import requests

base = sys.argv[1]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
TRACEPARENT = r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"

s = requests.Session()
ids = set()
for i in range(3):
    r = s.get(f"{base}/up/items/{i}", params={"q": "a b"}, headers={"X-Client": "py"})
    assert r.status_code == 200, (r.status_code, r.text)
    echo = r.json()
    assert echo["target"] == f"/up/items/{i}?q=a+b", echo["target"]
    sent = {name: value for name, value in echo["headers"]}
    assert sent["x-client"] == "py", sent
    assert sent["x-forwarded-for"] == "127.0.0.1", sent
    assert sent["x-forwarded-proto"] == "http", sent
    rid = r.headers["X-Request-Id"]
    assert re.fullmatch(UUID, rid, re.I), rid
    assert sent["x-request-id"] == rid, (sent, rid)
    assert re.fullmatch(TRACEPARENT, r.headers["traceparent"]), r.headers
    assert sent["traceparent"][3:35] == r.headers["traceparent"][3:35], "one trace"
    ids.add(rid)
assert len(ids) == 3, ids

r = s.post(f"{base}/up/json", json={"hello": "world"}, headers={"X-Request-Id": "py-req-1"})
echo = r.json()
assert echo["method"] == "POST"
assert json.loads(echo["body"]) == {"hello": "world"}, echo["body"]
assert r.headers["X-Request-Id"] == "py-req-1"

r = s.get(f"{base}/nope")
assert r.status_code == 404
assert r.headers["Content-Type"].startswith("application/json"), r.headers
err = r.json()
assert err["error"] == "not_found" and err["statusCode"] == 404, err
assert err["requestId"] == r.headers["X-Request-Id"], (err, r.headers)

r = s.get(f"{base}/health")
assert r.json() == {"status": "ok"}
print("OK")
"#;

#[test]
fn python_requests_session() {
    ensure_python_requests();
    let (up, gw) = start();
    let out = Command::new("python3")
        .args(["-c", PYTHON_SESSION, &gw.url("")])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "python session failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.seen().len(), 4);
    assert_eq!(
        up.connections(),
        1,
        "one client connection, one pooled upstream connection"
    );
}
