use super::*;
use crate::{encode_response_head, CodecError::*};

fn parse(raw: &[u8], method: &Method) -> Result<Option<ResponseHead>, CodecError> {
    parse_response_head(&mut BytesMut::from(raw), &HeadLimits::default(), method)
}

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    use ResponseFraming::*;
    // (raw, request method, framing, keep_alive)
    let cases: &[(&[u8], Method, ResponseFraming, bool)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::Get,
            Length(5),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            Method::Get,
            Length(5),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Method::Get,
            None,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Chunked,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n",
            Method::Get,
            Chunked,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Chunked,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Method::Get,
            Close,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::Get,
            Close,
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Close,
            false,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n", Method::Get, Close, false),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            Method::Head,
            None,
            true,
        ),
        (
            b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
            Method::Get,
            None,
            true,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            None,
            true,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", Method::Post, None, true),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n",
            Method::Get,
            None,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
            Method::Get,
            Length(5),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::Get,
            Length(5),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
            Method::Get,
            Length(5),
            true,
        ),
        // Lenient where framing cannot change: bare LF line ends, leading empty lines.
        (
            b"\r\n\nHTTP/1.1 200 OK\nContent-Length: 5\n\n",
            Method::Get,
            Length(5),
            true,
        ),
    ];
    for (raw, method, framing, keep_alive) in cases {
        let ctx = String::from_utf8_lossy(raw);
        let head = match parse(raw, method) {
            Ok(Some(head)) => head,
            other => panic!("{ctx}: {other:?}"),
        };
        assert_eq!(head.framing, *framing, "{ctx}");
        assert_eq!(head.keep_alive, *keep_alive, "{ctx}");
    }
}

#[test]
fn framing_errors_are_refused() {
    let cases: &[(&[u8], CodecError)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            ContentLengthAndTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            InvalidTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
            SpaceBeforeColon,
        ),
        (b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", ObsFold),
        (b"HTTP/1.1 200 OK\r\nX-A: a\0\r\n\r\n", InvalidHeaderValue),
        (b"HTTP/1.1 099 Odd\r\n\r\n", InvalidStatus),
        (b"HTTP/1.1 2000 OK\r\n\r\n", Malformed),
        (b"HTTP/2.0 200 OK\r\n\r\n", UnsupportedVersion),
        (b"HTTP/1.1 200 OK\rX\r\n\r\n", InvalidLineEnding),
        (b"HTTP/1.1 200\rX\r\n\r\n", InvalidLineEnding),
        (b"\rHTTP/1.1 200 OK\r\n\r\n", InvalidLineEnding),
        (b"HTTP/1.1 200 OK\r\n\rX", InvalidLineEnding),
        (b"HTTP/1.1 200OK\r\n\r\n", Malformed),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", Malformed),
        (b"HTTP/1.1 200 O\x01K\r\n\r\n", Malformed),
    ];
    for (raw, expected) in cases {
        let got = parse(raw, &Method::Get).map(|_| ());
        assert_eq!(got, Err(*expected), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn reason_phrase_and_buffer_contract() {
    let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
    let mut buf = BytesMut::from(&raw[..]);
    let first = parse_response_head(&mut buf, &HeadLimits::default(), &Method::Get)
        .unwrap()
        .unwrap();
    assert_eq!((first.status, &first.reason[..]), (404, &b"Not Found"[..]));
    assert_eq!(first.version, Version::Http11);
    assert_eq!(&buf[..2], b"hi");
    let _ = buf.split_to(2);
    let second = parse_response_head(&mut buf, &HeadLimits::default(), &Method::Get)
        .unwrap()
        .unwrap();
    assert_eq!((second.status, &second.reason[..]), (200, &b""[..]));
    assert!(buf.is_empty());

    // obs-text in the reason is dropped rather than passed on.
    let head = parse(b"HTTP/1.1 200 \xc3\xa9\r\n\r\n", &Method::Get)
        .unwrap()
        .unwrap();
    assert!(head.reason.is_empty());

    for cut in 0..raw.len().min(40) {
        let mut buf = BytesMut::from(&raw[..cut]);
        let got = parse_response_head(&mut buf, &HeadLimits::default(), &Method::Get);
        assert!(matches!(got, Ok(None)), "cut {cut}");
        assert_eq!(buf.len(), cut);
    }
}

#[test]
fn limits() {
    let limits = HeadLimits {
        max_head_bytes: 32,
        max_headers: 1,
    };
    let got = parse_response_head(
        &mut BytesMut::from(&b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"[..]),
        &limits,
        &Method::Get,
    );
    assert_eq!(got.map(|_| ()), Err(TooManyHeaders));
    let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(16));
    let got = parse_response_head(&mut BytesMut::from(long.as_bytes()), &limits, &Method::Get);
    assert_eq!(got.map(|_| ()), Err(HeadTooLarge));
}

#[test]
fn encode_then_parse_round_trips() {
    let mut headers = Headers::default();
    headers.append("Content-Length", "12");
    headers.append("X-A", "b");
    let mut out = BytesMut::new();
    encode_response_head(201, b"", &headers, &mut out);
    let head = parse(&out, &Method::Post).unwrap().unwrap();
    assert_eq!((head.status, &head.reason[..]), (201, &b"Created"[..]));
    assert_eq!(head.headers, headers);
    assert_eq!(head.framing, ResponseFraming::Length(12));
}
