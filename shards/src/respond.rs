//! Writing response heads to downstream clients.

use bytes::{BufMut, BytesMut};
use sluice_codec::{canonical_reason, Headers};
use sluice_engine::RequestContext;

/// How the body after a head is framed on the downstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFraming {
    /// `content-length: n`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// No body follows (HEAD, 204, 304): an upstream `content-length` passes through untouched.
    NoBody,
    /// The body runs until the connection closes (HTTP/1.0 clients of unframed bodies).
    UntilClose,
}

/// The `Connection` header a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnHeader {
    /// `connection: close`: the gateway closes after this response.
    Close,
    /// `connection: keep-alive`: an HTTP/1.0 client's connection stays open.
    KeepAlive,
    /// Nothing: HTTP/1.1 keeps the connection by default.
    None,
    /// `connection: upgrade` and `upgrade: websocket`: a 101 starting a WebSocket tunnel.
    Upgrade,
}

/// Response headers that describe the upstream connection or that the gateway sets itself.
fn is_hop_or_own(name: &[u8], keep_length: bool, request_id_header: &[u8]) -> bool {
    const SKIP: &[&[u8]] = &[
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"traceparent",
    ];
    SKIP.iter().any(|s| name.eq_ignore_ascii_case(s))
        || (!keep_length && name.eq_ignore_ascii_case(b"content-length"))
        || name.eq_ignore_ascii_case(request_id_header)
}

/// Encodes a response head into `dst`: status line, the end-to-end headers of `headers`,
/// framing, the `Connection` header, and the request id and `traceparent` of `ctx`.
pub fn encode_head(
    dst: &mut BytesMut,
    status: u16,
    headers: &Headers,
    framing: OutFraming,
    conn: ConnHeader,
    ids: Option<(&[u8], &RequestContext)>,
) {
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(itoa::Buffer::new().format(status).as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(canonical_reason(status).as_bytes());
    dst.put_slice(b"\r\n");
    let rid_name = ids.map(|(n, _)| n).unwrap_or(b"");
    let keep_length = framing == OutFraming::NoBody;
    for h in headers {
        if is_hop_or_own(&h.name, keep_length, rid_name) {
            continue;
        }
        put(dst, &h.name, &h.value);
    }
    match framing {
        OutFraming::Length(n) => put(
            dst,
            b"content-length",
            itoa::Buffer::new().format(n).as_bytes(),
        ),
        OutFraming::Chunked => put(dst, b"transfer-encoding", b"chunked"),
        OutFraming::NoBody | OutFraming::UntilClose => {}
    }
    match conn {
        ConnHeader::Close => put(dst, b"connection", b"close"),
        ConnHeader::KeepAlive => put(dst, b"connection", b"keep-alive"),
        ConnHeader::None => {}
        ConnHeader::Upgrade => {
            put(dst, b"connection", b"upgrade");
            put(dst, b"upgrade", b"websocket");
        }
    }
    if let Some((name, ctx)) = ids {
        put(dst, name, &ctx.request_id);
        put(dst, b"traceparent", &ctx.trace.to_header());
    }
    dst.put_slice(b"\r\n");
}

fn put(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_slice(name);
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_slice(b"\r\n");
}
