//! Fuzz entry points for `sluice-codec`, one per parser, shared by the libFuzzer targets in
//! `fuzz_targets/` and by `codec/tests/fuzz_regressions.rs`, which replays
//! `fuzz/regressions/<target>/*` through the same functions.
//!
//! Each entry point feeds the bytes whole, then split at a point taken from the first two
//! bytes (so `Ok(None)` and resumption are exercised), and panics when the two disagree or
//! when a successful result breaks an invariant the codec promises (no bare LF in an
//! accepted request head, no control bytes in values, framing that matches the headers,
//! encode-then-parse giving the same head).

use bytes::BytesMut;
use sluice_codec::{
    encode_chunk, encode_last_chunk, encode_request_head, encode_response_head, BodyFraming,
    ChunkedDecoder, ChunkedEvent, CodecError, HeadLimits, Headers, Method, RequestHead,
    ResponseFraming, ResponseHead, Version, MAX_HEADER_SLOTS,
};

/// Limits small enough that fuzz inputs reach them, alongside the defaults.
const SMALL_LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 256,
    max_headers: 4,
};

/// Parses `data` as a request head, whole and split, with default and small limits.
pub fn parse_request_head(data: &[u8]) {
    let (split, data) = split_point(data);
    for limits in [HeadLimits::default(), SMALL_LIMITS] {
        let whole = feed_head(data, data.len(), |buf| {
            sluice_codec::parse_request_head(buf, &limits)
        });
        let parts = feed_head(data, split, |buf| {
            sluice_codec::parse_request_head(buf, &limits)
        });
        assert_eq!(summary(&whole), summary(&parts), "split at {split}");
        if let Ok(Some((head, used))) = &whole {
            check_request(head, &data[..*used], &limits);
        }
    }
}

/// Parses `data` as a response head to a GET or a HEAD (chosen by the length's parity).
pub fn parse_response_head(data: &[u8]) {
    let (split, data) = split_point(data);
    let method = if data.len() % 2 == 0 {
        Method::Get
    } else {
        Method::Head
    };
    for limits in [HeadLimits::default(), SMALL_LIMITS] {
        let parse = |buf: &mut BytesMut| sluice_codec::parse_response_head(buf, &limits, &method);
        let whole = feed_head(data, data.len(), parse);
        let parts = feed_head(data, split, parse);
        assert_eq!(summary(&whole), summary(&parts), "split at {split}");
        if let Ok(Some((head, used))) = &whole {
            check_response(head, *used, &limits, &method);
        }
    }
}

/// Decodes `data` as a chunked body all at once, split in two, and one byte at a time;
/// all three must agree on the body, the end and the error.
pub fn decode_chunked(data: &[u8]) {
    let (split, data) = split_point(data);
    let whole = decode_pieces(&[data]);
    let (a, b) = data.split_at(split);
    assert_eq!(decode_pieces(&[a, b]), whole, "split at {split}");
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(decode_pieces(&bytes), whole, "byte at a time");

    if let Ok((body, true, _)) = &whole {
        let mut wire = BytesMut::new();
        for piece in body.chunks(97) {
            encode_chunk(piece, &mut wire);
        }
        encode_last_chunk(&mut wire);
        assert_eq!(
            decode_pieces(&[&wire]),
            Ok((body.clone(), true, Vec::new()))
        );
    }
}

/// The split point from the first two bytes, and the rest of the input.
fn split_point(data: &[u8]) -> (usize, &[u8]) {
    match data {
        [a, b, rest @ ..] => (
            usize::from(u16::from_le_bytes([*a, *b])) % (rest.len() + 1),
            rest,
        ),
        _ => (0, data),
    }
}

/// Feeds `data[..split]`, then (if that was incomplete) the rest, to `parse`. Returns the
/// parsed head and the number of bytes it consumed. Checks that `Ok(None)` and errors leave
/// the buffer untouched and that success consumes from the front.
fn feed_head<T>(
    data: &[u8],
    split: usize,
    parse: impl Fn(&mut BytesMut) -> Result<Option<T>, CodecError>,
) -> Result<Option<(T, usize)>, CodecError> {
    let mut buf = BytesMut::from(&data[..split]);
    let mut fed = split;
    loop {
        let before = buf.clone();
        match parse(&mut buf) {
            Ok(Some(head)) => {
                assert!(before.ends_with(&buf[..]), "must consume from the front");
                let used = fed - buf.len();
                assert_eq!(&data[used..fed], &buf[..]);
                return Ok(Some((head, used)));
            }
            Ok(None) => assert_eq!(buf, before, "Ok(None) must leave the buffer untouched"),
            Err(err) => {
                assert_eq!(buf, before, "an error must leave the buffer untouched");
                return Err(err);
            }
        }
        if fed == data.len() {
            return Ok(None);
        }
        buf.extend_from_slice(&data[fed..]);
        fed = data.len();
    }
}

/// A comparable rendering of a parse result.
fn summary<T: std::fmt::Debug>(result: &Result<Option<(T, usize)>, CodecError>) -> String {
    format!("{result:?}")
}

/// Invariants of an accepted request head whose wire bytes are `raw`.
fn check_request(head: &RequestHead, raw: &[u8], limits: &HeadLimits) {
    assert!(raw.len() <= limits.max_head_bytes);
    assert!(head.headers.len() <= limits.max_headers);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && raw[i - 1] == b'\r', "bare LF accepted at {i}");
        }
        if b == b'\r' {
            assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR accepted at {i}");
        }
    }
    check_headers(&head.headers);
    let path = &head.path[..];
    assert!(path.starts_with(b"/") || (path == b"*" && head.method == Method::Options));
    let target_bytes = path.iter().chain(head.query.iter().flat_map(|q| q.iter()));
    for &b in target_bytes {
        assert!(b.is_ascii_graphic() && b != b'#', "bad target byte {b:#x}");
    }
    if head.version == Version::Http11 {
        assert_eq!(head.headers.get_all("host").count(), 1);
    }
    let te = head.headers.get_all("transfer-encoding").count();
    let cl = head.headers.get_all("content-length").count();
    match head.framing {
        BodyFraming::Chunked => {
            assert_eq!((te, cl, head.version), (1, 0, Version::Http11));
        }
        BodyFraming::Length(n) => {
            assert!(te == 0 && n > 0);
            assert_eq!(
                content_lengths(&head.headers),
                vec![n; content_lengths(&head.headers).len()]
            );
        }
        BodyFraming::None => {
            assert_eq!(te, 0);
            assert!(content_lengths(&head.headers).iter().all(|&n| n == 0));
        }
    }

    // Encode what was parsed and parse it again: the same head must come back.
    if head.version == Version::Http11 {
        let mut target = head.path.to_vec();
        if let Some(query) = &head.query {
            target.push(b'?');
            target.extend_from_slice(query);
        }
        let mut wire = BytesMut::new();
        encode_request_head(&head.method, &target, &head.headers, &mut wire);
        let roomy = HeadLimits {
            max_head_bytes: wire.len(),
            max_headers: MAX_HEADER_SLOTS,
        };
        let again = sluice_codec::parse_request_head(&mut wire, &roomy);
        let again = match again {
            Ok(Some(again)) => again,
            other => panic!("re-encoded head did not parse: {other:?}"),
        };
        assert!(wire.is_empty());
        assert_eq!(format!("{again:?}"), format!("{head:?}"));
    }
}

/// Invariants of an accepted response head that used `used` bytes.
fn check_response(head: &ResponseHead, used: usize, limits: &HeadLimits, method: &Method) {
    assert!(used <= limits.max_head_bytes);
    assert!(head.headers.len() <= limits.max_headers);
    assert!(head.status >= 100);
    assert!(head
        .reason
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)));
    check_headers(&head.headers);
    let te = head.headers.get_all("transfer-encoding").count();
    let cl = head.headers.get_all("content-length").count();
    let bodiless = *method == Method::Head || matches!(head.status, 100..=199 | 204 | 304);
    match head.framing {
        ResponseFraming::None => {
            let lengths = content_lengths(&head.headers);
            assert!(bodiless || (!lengths.is_empty() && lengths.iter().all(|&n| n == 0)));
        }
        ResponseFraming::Length(n) => {
            assert!(!bodiless && te == 0 && n > 0);
            assert!(content_lengths(&head.headers).iter().all(|&m| m == n));
        }
        ResponseFraming::Chunked => assert!(!bodiless && te > 0 && cl == 0),
        ResponseFraming::Close => {
            assert!(!bodiless && cl == 0 && !head.keep_alive);
        }
    }

    if head.version == Version::Http11 {
        let mut wire = BytesMut::new();
        encode_response_head(head.status, &head.reason, &head.headers, &mut wire);
        let roomy = HeadLimits {
            max_head_bytes: wire.len(),
            max_headers: MAX_HEADER_SLOTS,
        };
        let again = match sluice_codec::parse_response_head(&mut wire, &roomy, method) {
            Ok(Some(again)) => again,
            other => panic!("re-encoded head did not parse: {other:?}"),
        };
        assert_eq!((again.status, &again.headers), (head.status, &head.headers));
        assert_eq!(
            (again.framing, again.keep_alive),
            (head.framing, head.keep_alive)
        );
    }
}

/// Names are tokens; values hold no control bytes but HTAB and no edge whitespace.
fn check_headers(headers: &Headers) {
    for h in headers {
        assert!(
            sluice_codec::is_valid_header_name(&h.name),
            "name {:?}",
            h.name
        );
        assert!(
            sluice_codec::is_valid_header_value(&h.value),
            "value {:?}",
            h.value
        );
    }
}

/// Every element of every Content-Length field, as numbers (the parser already accepted
/// them, so they are plain digits).
fn content_lengths(headers: &Headers) -> Vec<u64> {
    headers
        .get_all("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|e| {
            let digits = std::str::from_utf8(e).expect("accepted Content-Length is ASCII");
            digits
                .trim_matches([' ', '\t'])
                .parse()
                .expect("accepted Content-Length is digits")
        })
        .collect()
}

/// Decodes the concatenation of `pieces`, fed one piece at a time. Returns the body,
/// whether the end was reached, and the bytes left after it.
fn decode_pieces(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), CodecError> {
    let mut decoder = ChunkedDecoder::new();
    let mut src = BytesMut::new();
    let mut body = Vec::new();
    let mut ended = false;
    for piece in pieces {
        src.extend_from_slice(piece);
        if ended {
            continue;
        }
        loop {
            match decoder.decode(&mut src)? {
                Some(ChunkedEvent::Data(data)) => {
                    assert!(!data.is_empty(), "empty Data event");
                    body.extend_from_slice(&data);
                }
                Some(ChunkedEvent::End) => {
                    assert!(decoder.is_done());
                    ended = true;
                    break;
                }
                None => {
                    assert!(src.is_empty(), "Ok(None) with input left");
                    break;
                }
            }
        }
    }
    Ok((body, ended, src.to_vec()))
}
