use super::*;
use crate::{encode_request_head, CodecError::*};

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, CodecError> {
    parse_request_head(&mut BytesMut::from(raw), &HeadLimits::default())
}

fn parse_ok(raw: &[u8]) -> RequestHead {
    match parse(raw) {
        Ok(Some(head)) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

#[test]
fn normal_requests() {
    // (raw, method, path, query, framing, keep_alive, expect_continue)
    type Case = (
        &'static [u8],
        Method,
        &'static str,
        Option<&'static str>,
        BodyFraming,
        bool,
        bool,
    );
    let cases: &[Case] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Method::Get, "/", None, BodyFraming::None, true, false),
        (
            b"GET /a/b?x=1&y=/? HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
            Method::Get,
            "/a/b",
            Some("x=1&y=/?"),
            BodyFraming::None,
            true,
            false,
        ),
        (b"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", Method::Get, "/a", Some(""), BodyFraming::None, true, false),
        (b"GET /?q HTTP/1.1\r\nHost: a\r\n\r\n", Method::Get, "/", Some("q"), BodyFraming::None, true, false),
        (
            b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            Method::Post,
            "/u",
            None,
            BodyFraming::Length(5),
            true,
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\ncontent-length:5\r\n\r\n",
            Method::Post,
            "/",
            None,
            BodyFraming::Length(5),
            true,
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            Method::Post,
            "/",
            None,
            BodyFraming::None,
            true,
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t Chunked \r\nExpect: 100-Continue\r\n\r\n",
            Method::Post,
            "/",
            None,
            BodyFraming::Chunked,
            true,
            true,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", Method::Get, "/", None, BodyFraming::None, false, false),
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\n\r\n",
            Method::Get,
            "/",
            None,
            BodyFraming::None,
            true,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, Close\r\n\r\n",
            Method::Get,
            "/",
            None,
            BodyFraming::None,
            false,
            false,
        ),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Method::Options, "*", None, BodyFraming::None, true, false),
        (
            b"GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
            Method::Get,
            "/p",
            Some("q"),
            BodyFraming::None,
            true,
            false,
        ),
        (b"GET HTTP://a?q HTTP/1.1\r\nHost: a\r\n\r\n", Method::Get, "/", Some("q"), BodyFraming::None, true, false),
        (b"GET http://a HTTP/1.0\r\n\r\n", Method::Get, "/", None, BodyFraming::None, false, false),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", Method::Get, "/", None, BodyFraming::None, true, false),
        (
            b"PURGE /x HTTP/1.1\r\nHost: a\r\nX-Tab: a\tb\r\nX-Obs: \xe9t\xe9\r\nX-Empty:\r\n\r\n",
            Method::Other(Bytes::from_static(b"PURGE")),
            "/x",
            None,
            BodyFraming::None,
            true,
            false,
        ),
    ];
    for (raw, method, path, query, framing, keep_alive, expect_continue) in cases {
        let head = parse_ok(raw);
        let ctx = String::from_utf8_lossy(raw);
        assert_eq!(&head.method, method, "{ctx}");
        assert_eq!(&head.path[..], path.as_bytes(), "{ctx}");
        assert_eq!(head.query.as_deref(), query.map(str::as_bytes), "{ctx}");
        assert_eq!(head.framing, *framing, "{ctx}");
        assert_eq!(head.keep_alive, *keep_alive, "{ctx}");
        assert_eq!(head.expect_continue, *expect_continue, "{ctx}");
    }
}

#[test]
fn header_values_are_trimmed_and_kept_in_order() {
    let head =
        parse_ok(b"GET / HTTP/1.1\r\nHost:  a  \r\nX-Tab: a\tb\r\nX-Empty:\r\nx-tab: c\r\n\r\n");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.headers.len(), 4);
    assert_eq!(head.headers.get("host").map(|v| &v[..]), Some(&b"a"[..]));
    assert_eq!(head.headers.get("x-empty").map(|v| &v[..]), Some(&b""[..]));
    let tabs: Vec<&[u8]> = head.headers.get_all("X-TAB").map(|v| &v[..]).collect();
    assert_eq!(tabs, [&b"a\tb"[..], b"c"]);
}

#[test]
fn smuggling_vectors_are_refused() {
    fn req(headers: &str) -> Vec<u8> {
        format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").into_bytes()
    }
    let cases: Vec<(Vec<u8>, CodecError)> = vec![
        // Framing conflicts.
        (
            req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            ContentLengthAndTransferEncoding,
        ),
        (
            req("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"),
            ContentLengthAndTransferEncoding,
        ),
        (
            req("Content-Length: 5\r\nContent-Length: 6\r\n"),
            InvalidContentLength,
        ),
        (req("Content-Length: 5, 6\r\n"), InvalidContentLength),
        (req("Content-Length: 5,\r\n"), InvalidContentLength),
        (req("Content-Length: +5\r\n"), InvalidContentLength),
        (req("Content-Length: -5\r\n"), InvalidContentLength),
        (req("Content-Length: 0x5\r\n"), InvalidContentLength),
        (req("Content-Length: 5 5\r\n"), InvalidContentLength),
        (req("Content-Length: 5.0\r\n"), InvalidContentLength),
        (req("Content-Length:\r\n"), InvalidContentLength),
        (
            req("Content-Length: 18446744073709551616\r\n"),
            InvalidContentLength,
        ),
        (
            req("Transfer-Encoding: gzip, chunked\r\n"),
            InvalidTransferEncoding,
        ),
        (
            req("Transfer-Encoding: chunked, chunked\r\n"),
            InvalidTransferEncoding,
        ),
        (
            req("Transfer-Encoding: chunked,\r\n"),
            InvalidTransferEncoding,
        ),
        (
            req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            InvalidTransferEncoding,
        ),
        (
            req("Transfer-Encoding: identity\r\n"),
            InvalidTransferEncoding,
        ),
        (
            req("Transfer-Encoding: xchunked\r\n"),
            InvalidTransferEncoding,
        ),
        (req("Transfer-Encoding:\r\n"), InvalidTransferEncoding),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            TransferEncodingOnHttp10,
        ),
        // Header syntax that parsers disagree on.
        (req("Transfer-Encoding : chunked\r\n"), SpaceBeforeColon),
        (req("Content-Length\t: 5\r\n"), SpaceBeforeColon),
        (req("X-A: a\r\n b\r\n"), ObsFold),
        (req("Transfer-Encoding:\r\n chunked\r\n"), ObsFold),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n".to_vec(), ObsFold),
        (req("X-A b: c\r\n"), SpaceBeforeColon),
        (req("X(: a\r\n"), InvalidHeaderName),
        (req(": a\r\n"), InvalidHeaderName),
        (req("X-A\r\n"), InvalidHeaderName),
        (req("X-A: a\0b\r\n"), InvalidHeaderValue),
        (req("X-A: a\x01b\r\n"), InvalidHeaderValue),
        (req("X-A: a\x7fb\r\n"), InvalidHeaderValue),
        (req("X-A: a\rb\r\n"), InvalidHeaderValue),
        // Line endings.
        (
            b"GET / HTTP/1.1\nHost: a\r\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a  \n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nX-Empty:\nHost: a\r\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\n".to_vec(),
            InvalidLineEnding,
        ),
        (b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), InvalidLineEnding),
        (
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"GET / HTTP/1.1\rHost: a\r\n\r\n".to_vec(),
            InvalidLineEnding,
        ),
        (
            b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            Malformed,
        ),
        // Host.
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), InvalidHost),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n".to_vec(), InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n".to_vec(), InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n".to_vec(), InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n".to_vec(), InvalidHost),
        (
            b"GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (b"GET / HTTP/1.1\r\nHost: []\r\n\r\n".to_vec(), InvalidHost),
        (
            b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n".to_vec(),
            InvalidHost,
        ),
        (b"GET http://a/ HTTP/1.1\r\n\r\n".to_vec(), InvalidHost),
        // Version.
        (
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
            UnsupportedVersion,
        ),
        (
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(),
            UnsupportedVersion,
        ),
        (
            b"GET / HTTP/0.9\r\nHost: a\r\n\r\n".to_vec(),
            UnsupportedVersion,
        ),
        (
            b"GET / http/1.1\r\nHost: a\r\n\r\n".to_vec(),
            UnsupportedVersion,
        ),
        // Target.
        (
            b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), InvalidTarget),
        (
            b"OPTIONS *? HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        (
            b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            InvalidTarget,
        ),
        // Method.
        (b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Malformed),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Malformed),
    ];
    for (raw, expected) in cases {
        let mut buf = BytesMut::from(&raw[..]);
        let got = parse_request_head(&mut buf, &HeadLimits::default());
        assert_eq!(
            got.map(|_| ()),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(&raw)
        );
        assert_eq!(&buf[..], &raw[..], "an error must not consume input");
    }
}

#[test]
fn partial_heads_leave_the_buffer_untouched() {
    let raw = b"\r\nPOST /p?q HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    let head_len = raw.len() - 2;
    for cut in 0..head_len {
        let mut buf = BytesMut::from(&raw[..cut]);
        assert!(
            matches!(
                parse_request_head(&mut buf, &HeadLimits::default()),
                Ok(None)
            ),
            "cut {cut}"
        );
        assert_eq!(&buf[..], &raw[..cut]);
    }
    let mut buf = BytesMut::from(&raw[..]);
    let head = parse_request_head(&mut buf, &HeadLimits::default());
    assert!(matches!(head, Ok(Some(_))));
    assert_eq!(&buf[..], b"hi");
}

#[test]
fn pipelined_heads_parse_one_after_another_without_copies() {
    let raw = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nPOST /two?x HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabcGET";
    let mut buf = BytesMut::from(&raw[..]);
    let start = buf.as_ptr() as usize;
    let within = |b: &Bytes| (start..start + raw.len()).contains(&(b.as_ptr() as usize));

    let first = parse_ok_from(&mut buf);
    assert_eq!(&first.path[..], b"/one");
    assert!(within(&first.path));
    assert!(first
        .headers
        .iter()
        .all(|h| within(&h.name) && within(&h.value)));

    let second = parse_ok_from(&mut buf);
    assert_eq!(second.method, Method::Post);
    assert_eq!(second.query.as_deref(), Some(&b"x"[..]));
    assert_eq!(second.framing, BodyFraming::Length(3));
    assert!(within(&second.path) && within(second.query.as_ref().unwrap()));
    assert_eq!(&buf[..], b"abcGET");
}

fn parse_ok_from(buf: &mut BytesMut) -> RequestHead {
    parse_request_head(buf, &HeadLimits::default())
        .unwrap()
        .unwrap()
}

#[test]
fn limits() {
    let limits = HeadLimits {
        max_head_bytes: 64,
        max_headers: 2,
    };
    let ok = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
    assert!(parse_request_head(&mut BytesMut::from(&ok[..]), &limits)
        .unwrap()
        .is_some());

    let three = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n";
    let got = parse_request_head(&mut BytesMut::from(&three[..]), &limits);
    assert_eq!(got.map(|_| ()), Err(TooManyHeaders));

    // Complete but longer than the limit.
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40));
    let got = parse_request_head(&mut BytesMut::from(long.as_bytes()), &limits);
    assert_eq!(got.map(|_| ()), Err(HeadTooLarge));

    // Incomplete: fine at the limit, too large one byte past it.
    let endless = format!("GET /{}", "a".repeat(100));
    let got = parse_request_head(&mut BytesMut::from(&endless.as_bytes()[..64]), &limits);
    assert!(matches!(got, Ok(None)));
    let got = parse_request_head(&mut BytesMut::from(&endless.as_bytes()[..65]), &limits);
    assert_eq!(got.map(|_| ()), Err(HeadTooLarge));

    // Zero header slots still parse a head without headers.
    let none = HeadLimits {
        max_head_bytes: 64,
        max_headers: 0,
    };
    let got = parse_request_head(&mut BytesMut::from(&b"GET / HTTP/1.0\r\n\r\n"[..]), &none);
    assert!(matches!(got, Ok(Some(_))));
}

#[test]
fn encode_then_parse_round_trips() {
    let raw = b"PATCH /a%20b?c=d HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nX-Obs: \xff\r\n\r\n";
    let head = parse_ok(raw);
    let mut target = head.path.to_vec();
    target.push(b'?');
    target.extend_from_slice(head.query.as_deref().unwrap_or_default());
    let mut out = BytesMut::new();
    encode_request_head(&head.method, &target, &head.headers, &mut out);
    assert_eq!(&out[..], &raw[..]);
    let again = parse_ok(&out);
    assert_eq!(again.method, head.method);
    assert_eq!(again.path, head.path);
    assert_eq!(again.query, head.query);
    assert_eq!(again.headers, head.headers);
    assert_eq!(again.framing, BodyFraming::Length(3));
}

#[test]
fn method_helpers() {
    for (token, method) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("CONNECT", Method::Connect),
        ("OPTIONS", Method::Options),
        ("TRACE", Method::Trace),
        ("PATCH", Method::Patch),
    ] {
        assert_eq!(Method::from_bytes(token.as_bytes()), method);
        assert_eq!(method.as_str(), token);
    }
    let idempotent: Vec<&str> = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "get",
    ]
    .into_iter()
    .filter(|m| Method::from_bytes(m.as_bytes()).is_idempotent())
    .collect();
    assert_eq!(
        idempotent,
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]
    );
    assert!(Method::Get.is_safe() && !Method::Put.is_safe());
    assert_eq!(
        Method::from_bytes(b"get"),
        Method::Other(Bytes::from_static(b"get"))
    );
    assert_eq!(Method::from_bytes(b"\xff").as_str(), "");
    assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
    assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
}

#[test]
fn many_headers_spill_past_the_inline_spans() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..99 {
        raw.extend_from_slice(format!("X-{i}: v{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let head = parse_ok(&raw);
    assert_eq!(head.headers.len(), 100);
    assert_eq!(head.headers.get("x-98").map(|v| &v[..]), Some(&b"v98"[..]));
    raw.splice(16..16, b"X-Extra: 1\r\n".iter().copied());
    assert_eq!(parse(&raw).map(|_| ()), Err(TooManyHeaders));
}
