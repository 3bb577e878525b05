//! Building the upstream request: the forwarded path (SSRF-safe) and the upstream head.

use std::net::SocketAddr;

use bytes::{BufMut, BytesMut};
use sluice_codec::{BodyFraming, RequestHead};

use crate::{ErrorKind, RequestContext, UpstreamTarget, UrlUpstream};

/// Headers that describe one connection, not the message; never forwarded (RFC 9110 7.6.1).
/// `expect` is here because the gateway answers `100-continue` itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "host",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-for",
    "traceparent",
];

/// True when `name` is a hop-by-hop header: the static list, any `proxy-*`, or any token
/// listed in the message's `Connection` header (however many there are).
pub fn is_hop_by_hop(name: &[u8], headers: &sluice_codec::Headers) -> bool {
    if name.len() > 6 && name[..6].eq_ignore_ascii_case(b"proxy-") {
        return true;
    }
    HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        || headers.get_all("connection").any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(name))
        })
}

/// Refuses request paths that could change meaning after normalisation upstream:
/// dot segments (literal or percent-encoded), backslashes, encoded backslashes, NUL.
/// The router matched the raw path, so letting `/public/../admin` through would
/// forward a request to a path no route approved.
pub fn check_path(path: &[u8]) -> Result<(), ErrorKind> {
    if path == b"*" {
        return Ok(());
    }
    if path.first() != Some(&b'/') {
        return Err(ErrorKind::BadRequest(
            "Request path must start with '/'".into(),
        ));
    }
    // An encoded slash counts as a separator here: an upstream that decodes `%2F` before
    // normalising would otherwise read `..%2F..` as two dot segments.
    for seg in segments_decoding_slash(path) {
        if is_dot_segment(seg) {
            return Err(ErrorKind::BadRequest(
                "Dot segments are not allowed in the request path".into(),
            ));
        }
    }
    let lower_has = |needle: &[u8]| {
        path.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if path.contains(&b'\\') || lower_has(b"%5c") || lower_has(b"%00") {
        return Err(ErrorKind::BadRequest(
            "Backslashes and NUL are not allowed in the request path".into(),
        ));
    }
    Ok(())
}

/// Splits on `/` and on `%2F` / `%2f`.
fn segments_decoding_slash(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < path.len() {
            let sep = if path[i] == b'/' {
                1
            } else if path.len() >= i + 3
                && path[i] == b'%'
                && path[i + 1] == b'2'
                && (path[i + 2] | 0x20) == b'f'
            {
                3
            } else {
                0
            };
            if sep > 0 {
                let seg = &path[start..i];
                i += sep;
                start = i;
                return Some(seg);
            }
            i += 1;
        }
        done = true;
        Some(&path[start..])
    })
}

fn is_dot_segment(seg: &[u8]) -> bool {
    // Decode only `.` as `%2e`; anything else makes the segment not a dot segment.
    let mut dots = 0;
    let mut i = 0;
    while i < seg.len() {
        if seg[i] == b'.' {
            i += 1;
        } else if seg.len() >= i + 3
            && seg[i] == b'%'
            && seg[i + 1] == b'2'
            && (seg[i + 2] | 0x20) == b'e'
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// Writes the path the upstream sees: the target's prefix, then the request path minus
/// `base_path` and `strip_prefix`, with runs of `/` collapsed (so `//evil.com` can never be
/// read as an authority), then `?query`.
pub fn write_upstream_target(
    req: &RequestHead,
    base_path_len: usize,
    strip_prefix: Option<&str>,
    target: &UpstreamTarget,
    dst: &mut BytesMut,
) {
    let mut rest = &req.path[base_path_len.min(req.path.len())..];
    if let Some(strip) = strip_prefix {
        let s = strip.as_bytes();
        if rest.starts_with(s) && (rest.len() == s.len() || rest[s.len()] == b'/') {
            rest = &rest[s.len()..];
        }
    }
    dst.put_slice(target.path_prefix.as_bytes());
    let mut last_slash = target.path_prefix.ends_with('/');
    let mut wrote_any = !target.path_prefix.is_empty();
    if rest.first() != Some(&b'/') && !rest.is_empty() {
        dst.put_u8(b'/');
        last_slash = true;
        wrote_any = true;
    }
    for &b in rest {
        if b == b'/' && last_slash {
            continue;
        }
        last_slash = b == b'/';
        dst.put_u8(b);
        wrote_any = true;
    }
    if !wrote_any {
        dst.put_u8(b'/');
    }
    if let Some(q) = &req.query {
        dst.put_u8(b'?');
        dst.put_slice(q);
    }
}

/// Encodes the whole upstream request head into `dst`: request line, the client's
/// end-to-end headers, then the gateway's own (`host`, forwarding headers, trace, request id,
/// the upstream's configured headers, and framing).
#[allow(clippy::too_many_arguments)] // the request, where it goes, and who sends it
pub fn encode_upstream_head(
    req: &RequestHead,
    base_path_len: usize,
    up: &UrlUpstream,
    target: &UpstreamTarget,
    strip_prefix: Option<&str>,
    ctx: &RequestContext,
    request_id_header: &[u8],
    dst: &mut BytesMut,
) {
    dst.put_slice(req.method.as_str().as_bytes());
    dst.put_u8(b' ');
    write_upstream_target(req, base_path_len, strip_prefix, target, dst);
    dst.put_slice(b" HTTP/1.1\r\n");

    for h in &req.headers {
        if is_hop_by_hop(&h.name, &req.headers)
            || h.name.eq_ignore_ascii_case(request_id_header)
            || up
                .headers
                .iter()
                .any(|(n, _)| h.name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        put_header(dst, &h.name, &h.value);
    }

    let client_host = req.headers.get("host");
    dst.put_slice(b"host: ");
    match (up.preserve_host, client_host) {
        (true, Some(h)) => dst.put_slice(h),
        _ => dst.put_slice(&target.authority),
    }
    dst.put_slice(b"\r\n");

    dst.put_slice(b"x-forwarded-for: ");
    let mut first = true;
    for v in req.headers.get_all("x-forwarded-for") {
        if !first {
            dst.put_slice(b", ");
        }
        dst.put_slice(v);
        first = false;
    }
    if !first {
        dst.put_slice(b", ");
    }
    write_ip(ctx.client, dst);
    dst.put_slice(b"\r\nx-forwarded-proto: http\r\n");
    if let Some(h) = client_host {
        put_header(dst, b"x-forwarded-host", h);
    }
    put_header(dst, b"traceparent", &ctx.trace.to_header());
    put_header(dst, request_id_header, &ctx.request_id);
    for (n, v) in &up.headers {
        put_header(dst, n, v);
    }
    if ctx.upgrade {
        // Hop-by-hop on every other request, but the point of this one.
        dst.put_slice(b"connection: upgrade\r\nupgrade: websocket\r\n");
    }
    match req.framing {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            dst.put_slice(b"content-length: ");
            dst.put_slice(itoa::Buffer::new().format(n).as_bytes());
            dst.put_slice(b"\r\n");
        }
        BodyFraming::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    dst.put_slice(b"\r\n");
}

fn put_header(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_slice(name);
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_slice(b"\r\n");
}

fn write_ip(addr: SocketAddr, dst: &mut BytesMut) {
    use std::fmt::Write;
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(std::net::IpAddr::V4)
            .unwrap_or(addr.ip()),
        v4 => v4,
    };
    let _ = write!(dst, "{ip}");
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests;
