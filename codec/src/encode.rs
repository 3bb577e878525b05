//! Writing heads and chunk framing. The encoders trust their input: names and values come
//! from parsed heads or from policies, which must check them with [`is_valid_header_name`]
//! and [`is_valid_header_value`] before they reach here.

use bytes::{BufMut, BytesMut};

use crate::head::is_tchar;
use crate::{Headers, Method};

/// Writes a request head: `METHOD path_and_query HTTP/1.1\r\n`, each header as
/// `name: value\r\n` in order, then `\r\n`.
///
/// Always writes HTTP/1.1, as Sluice speaks it upstream. Reserves the exact length first,
/// so `dst` grows at most once. Does not validate its input (a CR or LF in a value would
/// split the head); never panics.
pub fn encode_request_head(
    method: &Method,
    path_and_query: &[u8],
    headers: &Headers,
    dst: &mut BytesMut,
) {
    let method = method.as_str().as_bytes();
    let line = method.len() + 1 + path_and_query.len() + b" HTTP/1.1\r\n".len();
    dst.reserve(line + headers_len(headers) + 2);
    dst.put_slice(method);
    dst.put_u8(b' ');
    dst.put_slice(path_and_query);
    dst.put_slice(b" HTTP/1.1\r\n");
    put_headers(headers, dst);
}

/// Writes a response head: `HTTP/1.1 status reason\r\n`, each header as `name: value\r\n`
/// in order, then `\r\n`. An empty `reason` is replaced by [`canonical_reason`]`(status)`
/// (the space after the status is written even when both are empty, as RFC 9112 section
/// 4 requires).
///
/// Reserves the exact length first; does not validate its input; never panics.
pub fn encode_response_head(status: u16, reason: &[u8], headers: &Headers, dst: &mut BytesMut) {
    let reason = if reason.is_empty() {
        canonical_reason(status).as_bytes()
    } else {
        reason
    };
    let mut digits = itoa::Buffer::new();
    let status = digits.format(status).as_bytes();
    let line = b"HTTP/1.1 ".len() + status.len() + 1 + reason.len() + 2;
    dst.reserve(line + headers_len(headers) + 2);
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(status);
    dst.put_u8(b' ');
    dst.put_slice(reason);
    dst.put_slice(b"\r\n");
    put_headers(headers, dst);
}

/// Writes one chunk: the length in lowercase hex, `\r\n`, `data`, `\r\n`. Writes nothing
/// for empty `data`, since an empty chunk is the last-chunk marker (use
/// [`encode_last_chunk`]). Never panics.
pub fn encode_chunk(data: &[u8], dst: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let hex = format_hex(data.len() as u64, &mut hex);
    dst.reserve(hex.len() + 2 + data.len() + 2);
    dst.put_slice(hex);
    dst.put_slice(b"\r\n");
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

/// Writes the last chunk with an empty trailer section: `0\r\n\r\n`.
pub fn encode_last_chunk(dst: &mut BytesMut) {
    dst.put_slice(b"0\r\n\r\n");
}

/// The reason phrase registered for `status` (IANA HTTP Status Code Registry, names as in
/// RFC 9110), or `""` for an unregistered code.
pub fn canonical_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        // Unused per RFC 9110 section 15.5.19, but widely known and sent.
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// True when `name` is a valid field name (a non-empty `token`, RFC 9110 section 5.1).
pub fn is_valid_header_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| is_tchar(b))
}

/// True when `value` can be written as a field value without changing the head's meaning:
/// no CR, LF, NUL or other control byte except HTAB, and no leading or trailing SP/HTAB
/// (they would be stripped by the receiver). Bytes 0x80 and up (obs-text) are allowed.
pub fn is_valid_header_value(value: &[u8]) -> bool {
    let edge_ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    !edge_ws(value.first())
        && !edge_ws(value.last())
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Bytes [`put_headers`] writes: each `name: value\r\n`, then `\r\n`.
fn headers_len(headers: &Headers) -> usize {
    headers
        .iter()
        .map(|h| h.name.len() + 2 + h.value.len() + 2)
        .sum::<usize>()
        + 2
}

/// Writes each header as `name: value\r\n`, then the empty line.
fn put_headers(headers: &Headers, dst: &mut BytesMut) {
    for h in headers {
        dst.put_slice(&h.name);
        dst.put_slice(b": ");
        dst.put_slice(&h.value);
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// `n` in lowercase hex without leading zeros, written into `buf`.
fn format_hex(mut n: u64, buf: &mut [u8; 16]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_bytes() {
        let mut headers = Headers::default();
        headers.append("Host", "example.com");
        headers.append("X-Empty", "");
        let mut dst = BytesMut::new();
        encode_request_head(&Method::Get, b"/a?b=c", &headers, &mut dst);
        assert_eq!(
            &dst[..],
            b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Empty: \r\n\r\n"
        );
        // Appends rather than overwrites.
        encode_request_head(
            &Method::Other("PURGE".into()),
            b"*",
            &Headers::default(),
            &mut dst,
        );
        assert!(dst.ends_with(b"\r\n\r\nPURGE * HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn response_head_uses_canonical_reason_when_empty() {
        let mut dst = BytesMut::new();
        encode_response_head(404, b"", &Headers::default(), &mut dst);
        assert_eq!(&dst[..], b"HTTP/1.1 404 Not Found\r\n\r\n");
        dst.clear();
        encode_response_head(299, b"", &Headers::default(), &mut dst);
        assert_eq!(&dst[..], b"HTTP/1.1 299 \r\n\r\n");
        dst.clear();
        encode_response_head(200, b"Fine", &Headers::default(), &mut dst);
        assert_eq!(&dst[..], b"HTTP/1.1 200 Fine\r\n\r\n");
    }

    #[test]
    fn chunks() {
        let mut dst = BytesMut::new();
        encode_chunk(b"", &mut dst);
        assert!(dst.is_empty());
        encode_chunk(&[b'x'; 26], &mut dst);
        encode_last_chunk(&mut dst);
        let mut expected = b"1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&dst[..], &expected[..]);
        let mut buf = [0u8; 16];
        assert_eq!(format_hex(0, &mut buf), b"0");
        assert_eq!(format_hex(u64::MAX, &mut buf), b"ffffffffffffffff");
    }

    #[test]
    fn reasons_and_validity() {
        assert_eq!(canonical_reason(200), "OK");
        assert_eq!(canonical_reason(503), "Service Unavailable");
        assert_eq!(canonical_reason(599), "");
        assert!(is_valid_header_name(b"X-Forwarded-For"));
        assert!(!is_valid_header_name(b"X Bad"));
        assert!(!is_valid_header_name(b""));
        assert!(is_valid_header_value(b"a\tb \x80"));
        assert!(is_valid_header_value(b""));
        for bad in [&b"a\r\nb"[..], b"a\nb", b"a\0", b"a\x7f", b" a", b"a\t"] {
            assert!(!is_valid_header_value(bad), "{bad:?}");
        }
    }
}
