//! Errors the gateway itself answers with, and the one function that renders them.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_codec::Headers;
use sluice_policies::Reject;

/// An error answered by the gateway rather than the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No route matches the path: 404 `not_found`.
    NotFound,
    /// The path matches but not the method: 405 `method_not_allowed`; carries the `Allow` value.
    MethodNotAllowed(String),
    /// Malformed or smuggling-shaped request: 400 `bad_request`.
    BadRequest(Cow<'static, str>),
    /// Head over `max_header_bytes` or too many headers: 431 `headers_too_large`.
    HeadersTooLarge,
    /// Body over `max_body_bytes`: 413 `payload_too_large`.
    PayloadTooLarge,
    /// Upstream refused, reset or sent garbage: 502 `bad_gateway`.
    BadGateway(Cow<'static, str>),
    /// Upstream did not answer within `timeout`: 504 `gateway_timeout`.
    GatewayTimeout,
    /// Shard at `max_connections_per_shard`: 503 `overloaded`.
    Overloaded,
    /// A policy refused the request.
    Rejected(Reject),
}

/// A response built at the gateway: head fields plus a complete body.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Bytes,
}

impl ErrorKind {
    /// Status, code and message of this error.
    pub fn parts(&self) -> (u16, &'static str, Cow<'_, str>) {
        match self {
            ErrorKind::NotFound => (404, "not_found", "No route matches the request path".into()),
            ErrorKind::MethodNotAllowed(_) => (
                405,
                "method_not_allowed",
                "Method not allowed on this route".into(),
            ),
            ErrorKind::BadRequest(m) => (400, "bad_request", Cow::Borrowed(m.as_ref())),
            ErrorKind::HeadersTooLarge => (
                431,
                "headers_too_large",
                "Request header section too large".into(),
            ),
            ErrorKind::PayloadTooLarge => (
                413,
                "payload_too_large",
                "Request body exceeds the configured limit".into(),
            ),
            ErrorKind::BadGateway(m) => (502, "bad_gateway", Cow::Borrowed(m.as_ref())),
            ErrorKind::GatewayTimeout => (
                504,
                "gateway_timeout",
                "Upstream did not respond in time".into(),
            ),
            ErrorKind::Overloaded => (
                503,
                "overloaded",
                "Too many connections; try again later".into(),
            ),
            ErrorKind::Rejected(r) => (r.status, r.code, Cow::Borrowed(r.message.as_ref())),
        }
    }
}

/// Renders `err` as the JSON error every gateway-made error uses:
/// `{"error","message","statusCode","requestId"}` with `content-type: application/json`.
pub fn error_response(err: &ErrorKind, request_id: &[u8]) -> LocalResponse {
    let (status, code, message) = err.parts();
    let mut body = BytesMut::with_capacity(96 + message.len());
    body.put_slice(b"{\"error\":\"");
    body.put_slice(code.as_bytes());
    body.put_slice(b"\",\"message\":\"");
    json_escape(message.as_bytes(), &mut body);
    body.put_slice(b"\",\"statusCode\":");
    body.put_slice(itoa::Buffer::new().format(status).as_bytes());
    body.put_slice(b",\"requestId\":\"");
    json_escape(request_id, &mut body);
    body.put_slice(b"\"}");
    let mut headers = Headers::with_capacity(4);
    headers.append("content-type", "application/json");
    match err {
        ErrorKind::MethodNotAllowed(allow) => headers.append("allow", Bytes::from(allow.clone())),
        ErrorKind::Rejected(r) => {
            for (name, value) in &r.headers {
                headers.append(*name, Bytes::from(value.clone()));
            }
        }
        _ => {}
    }
    LocalResponse {
        status,
        headers,
        body: body.freeze(),
    }
}

/// Escapes a string for a JSON string literal (quotes, backslash, control characters).
pub fn json_escape(src: &[u8], dst: &mut BytesMut) {
    for &b in src {
        match b {
            b'"' => dst.put_slice(b"\\\""),
            b'\\' => dst.put_slice(b"\\\\"),
            b'\n' => dst.put_slice(b"\\n"),
            b'\r' => dst.put_slice(b"\\r"),
            b'\t' => dst.put_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                dst.put_slice(b"\\u00");
                dst.put_u8(HEX[(b >> 4) as usize]);
                dst.put_u8(HEX[(b & 0xf) as usize]);
            }
            _ => dst.put_u8(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_with_escapes() {
        let err = ErrorKind::BadRequest("bad \"thing\"\n".into());
        let r = error_response(&err, b"abc");
        assert_eq!(r.status, 400);
        assert_eq!(
            &r.body[..],
            br#"{"error":"bad_request","message":"bad \"thing\"\n","statusCode":400,"requestId":"abc"}"#
        );
    }

    #[test]
    fn method_not_allowed_has_allow() {
        let r = error_response(&ErrorKind::MethodNotAllowed("GET, POST".into()), b"x");
        assert_eq!(r.headers.get("allow").unwrap().as_ref(), b"GET, POST");
    }
}
