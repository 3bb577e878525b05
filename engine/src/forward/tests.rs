use super::*;
use crate::{TraceContext, UpstreamTarget};
use bytes::{Bytes, BytesMut};
use sluice_codec::{parse_request_head, HeadLimits, Headers};
use std::time::Duration;

fn head(raw: &str) -> RequestHead {
    let mut buf = BytesMut::from(raw.as_bytes());
    parse_request_head(&mut buf, &HeadLimits::default())
        .unwrap()
        .unwrap()
}

fn upstream(prefix: &str, strip: Option<&str>) -> UrlUpstream {
    let target = UpstreamTarget {
        addrs: vec!["127.0.0.1:9000".parse().unwrap()],
        authority: Bytes::from_static(b"127.0.0.1:9000"),
        path_prefix: prefix.into(),
        display: String::new(),
    };
    UrlUpstream {
        key: String::new(),
        balancer: crate::balance::Balancer::new(
            crate::balance::Algorithm::RoundRobin,
            vec![crate::balance::TargetSpec {
                name: "t".into(),
                weight: 1,
            }],
        ),
        health_check: None,
        targets: vec![target],
        strip_prefix: strip.map(Into::into),
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        headers: vec![(Bytes::from_static(b"x-extra"), Bytes::from_static(b"v"))],
        preserve_host: false,
        display: String::new(),
    }
}

fn target(raw: &str, base: usize, up: &UrlUpstream) -> String {
    let mut dst = BytesMut::new();
    write_upstream_target(
        &head(raw),
        base,
        up.strip_prefix.as_deref(),
        &up.targets[0],
        &mut dst,
    );
    String::from_utf8(dst.to_vec()).unwrap()
}

#[test]
fn paths_are_joined_and_stripped() {
    let up = upstream("/v1", Some("/users"));
    assert_eq!(
        target("GET /api/users/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 4, &up),
        "/v1/42?x=1"
    );
    assert_eq!(
        target("GET /api/users HTTP/1.1\r\nHost: a\r\n\r\n", 4, &up),
        "/v1"
    );
    assert_eq!(
        target("GET /api/usersx HTTP/1.1\r\nHost: a\r\n\r\n", 4, &up),
        "/v1/usersx"
    );
    let bare = upstream("", None);
    assert_eq!(target("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, &bare), "/");
    assert_eq!(
        target("GET //evil.com/x HTTP/1.1\r\nHost: a\r\n\r\n", 0, &bare),
        "/evil.com/x"
    );
}

#[test]
fn dot_segments_refused() {
    for bad in [
        "/a/../b",
        "/a/%2e%2e/b",
        "/a/..%2fb",
        "/a%2F..%2Fb",
        "/a/.%2E/b",
        "/./a",
        "/a\\b",
        "/a%5cb",
        "/..",
    ] {
        assert!(check_path(bad.as_bytes()).is_err(), "{bad}");
    }
    for ok in ["/a/...", "/a/.b", "/a%2fb", "/", "/a/b.c"] {
        assert!(check_path(ok.as_bytes()).is_ok(), "{ok}");
    }
}

#[test]
fn head_strips_hop_by_hop_and_adds_forwarding() {
    let req = head(
        "POST /p HTTP/1.1\r\nHost: gw.example\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n\
         Keep-Alive: 5\r\nProxy-Authorization: x\r\nTE: trailers\r\nUpgrade: h2c\r\n\
         X-Forwarded-For: 10.0.0.1\r\nContent-Length: 3\r\nX-Keep: yes\r\n\r\n",
    );
    let ctx = RequestContext::new(
        "127.0.0.1:5555".parse().unwrap(),
        &Headers::default(),
        b"x-request-id",
    );
    let mut dst = BytesMut::new();
    let up = upstream("", None);
    encode_upstream_head(
        &req,
        0,
        &up,
        &up.targets[0],
        None,
        &ctx,
        b"x-request-id",
        &mut dst,
    );
    let s = String::from_utf8(dst.to_vec())
        .unwrap()
        .to_ascii_lowercase();
    assert!(s.starts_with("post /p http/1.1\r\n"));
    for gone in [
        "x-secret",
        "keep-alive:",
        "proxy-authorization",
        "te:",
        "upgrade",
        "connection",
    ] {
        assert!(!s.contains(gone), "{gone} leaked: {s}");
    }
    assert!(s.contains("x-keep: yes\r\n"));
    assert!(s.contains("host: 127.0.0.1:9000\r\n"));
    assert!(s.contains("x-forwarded-for: 10.0.0.1, 127.0.0.1\r\n"));
    assert!(s.contains("x-forwarded-host: gw.example\r\n"));
    assert!(s.contains("x-forwarded-proto: http\r\n"));
    assert!(s.contains("content-length: 3\r\n"));
    assert!(s.contains("x-extra: v\r\n"));
    let tp = TraceContext::parse(&ctx.trace.to_header()).unwrap();
    assert!(s.contains(std::str::from_utf8(&tp.to_header()).unwrap()));
    assert!(s.ends_with("\r\n\r\n"));
}
