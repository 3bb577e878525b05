//! Request heads: `parse_request_head` and the types it returns.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::head::{
    build_headers, is_valid_authority, leading_empty_lines, map_httparse_error, parse_window,
    HeadFacts, HeadKind, HeaderSpan, Span, SpanBuf,
};
use crate::{CodecError, HeadLimits, Headers, Parsed, MAX_HEADER_SLOTS};

/// Request method. The common ones are variants so matching never compares strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
    /// `OPTIONS`.
    Options,
    /// `TRACE`.
    Trace,
    /// `PATCH`.
    Patch,
    /// Any other token, as sent.
    Other(Bytes),
}

/// Protocol version of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How the body after a request head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no Content-Length and no Transfer-Encoding, or Content-Length: 0).
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. Every `Bytes` is a slice of the head's buffer.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The path part of the target (starts with `/`, or is `*`), still percent-encoded.
    pub path: Bytes,
    /// The query string without the `?`, if any.
    pub query: Option<Bytes>,
    /// The version from the request line.
    pub version: Version,
    /// The header fields in wire order, values trimmed of surrounding whitespace.
    pub headers: Headers,
    /// How the body that follows the head is framed.
    pub framing: BodyFraming,
    /// Whether the client wants the connection kept open after this exchange
    /// (HTTP/1.1 default unless `Connection: close`; HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// What a successful analysis found, as offsets into the head buffer; turned into a
/// [`RequestHead`] once the head bytes are split off and frozen.
#[derive(Debug, Clone)]
struct RequestPlan {
    /// A known method, or `None` when the method is [`Method::Other`] (built from `method`).
    known_method: Option<Method>,
    method: Span,
    /// `None` stands for `/`: an absolute-form target with an empty path.
    path: Option<Span>,
    query: Option<Span>,
    version: Version,
    header_count: usize,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
}

/// Offsets of the parts of a request target, relative to the target's first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetParts {
    /// `None` stands for `/` (absolute-form with an empty path).
    path: Option<Range<usize>>,
    query: Option<Range<usize>>,
    authority: Option<Range<usize>>,
}

impl Method {
    /// The method for `token`: a variant for the nine registered methods (compared
    /// case-sensitively, as RFC 9110 section 9.1 requires), else [`Method::Other`] holding a
    /// copy of `token`. Does not check that `token` is a valid `tchar` token; the head
    /// parser does that before calling it. Never panics.
    pub fn from_bytes(token: &[u8]) -> Method {
        Self::known(token).unwrap_or_else(|| Method::Other(Bytes::copy_from_slice(token)))
    }

    /// The method's token, e.g. `"GET"`. For [`Method::Other`] holding bytes that are not
    /// UTF-8 (only possible through [`Method::from_bytes`]), returns `""`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(token) => std::str::from_utf8(token).unwrap_or(""),
        }
    }

    /// True for the idempotent methods of RFC 9110 section 9.2.2 (GET, HEAD, PUT, DELETE,
    /// OPTIONS, TRACE): a request that failed part-way may be retried. False for others,
    /// including every [`Method::Other`].
    pub fn is_idempotent(&self) -> bool {
        self.is_safe() || matches!(self, Method::Put | Method::Delete)
    }

    /// True for the safe methods of RFC 9110 section 9.2.1 (GET, HEAD, OPTIONS, TRACE).
    pub fn is_safe(&self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Options | Method::Trace
        )
    }

    /// The registered method spelled exactly `token`, if any.
    fn known(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => return None,
        })
    }
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`, as written on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a complete head; `buf` is then left
/// untouched and the caller reads more and calls again. On success the head's bytes (and
/// up to [`MAX_LEADING_EMPTY_LINES`](crate::MAX_LEADING_EMPTY_LINES) empty lines before
/// it) are split off the front of `buf`, which keeps the body or the next pipelined
/// request, and every `Bytes` in the returned head is a slice of those frozen head bytes
/// (no copies).
///
/// Errors (with `buf` left untouched) when the head is larger than
/// `limits.max_head_bytes` (whether complete or not), has more than `limits.max_headers`
/// fields, or is malformed or ambiguous in any way that could let two HTTP parsers frame
/// it differently (request smuggling): see [`CodecError`]. Never panics.
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, CodecError> {
    let mut spans = SpanBuf::new();
    let (plan, len) = match analyze_request(buf, limits, &mut spans)? {
        Parsed::Partial => return Ok(None),
        Parsed::Complete(plan, len) => (plan, len),
    };
    let head = buf.split_to(len).freeze();
    let method = match plan.known_method {
        Some(method) => method,
        None => Method::Other(head.slice(plan.method.range())),
    };
    let path = match plan.path {
        Some(span) => head.slice(span.range()),
        None => Bytes::from_static(b"/"),
    };
    Ok(Some(RequestHead {
        method,
        path,
        query: plan.query.map(|span| head.slice(span.range())),
        version: plan.version,
        headers: build_headers(&head, spans.filled(plan.header_count)),
        framing: plan.framing,
        keep_alive: plan.keep_alive,
        expect_continue: plan.expect_continue,
    }))
}

/// Validates the head at the front of `buf` without consuming it: `Complete(plan, len)`
/// with `len` the bytes to split off, header spans written to `spans`.
fn analyze_request(
    buf: &[u8],
    limits: &HeadLimits,
    spans: &mut SpanBuf,
) -> Result<Parsed<RequestPlan>, CodecError> {
    let window = &buf[..parse_window(buf.len(), limits)];
    let partial = || {
        // The window is shorter than `buf` only when it was cut at the limit, so an
        // incomplete head that fills it can never fit.
        if buf.len() > window.len() {
            Err(CodecError::HeadTooLarge)
        } else {
            Ok(Parsed::Partial)
        }
    };
    // httparse would skip any number of CRLF *and bare LF* lines; do it here to bound them.
    let Some(skip) = leading_empty_lines(window)? else {
        return partial();
    };
    let start_line = &window[skip..];

    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADER_SLOTS];
    let max_headers = limits.max_headers.min(MAX_HEADER_SLOTS);
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(start_line, &mut slots[..max_headers]) {
        Ok(httparse::Status::Complete(n)) => skip + n,
        Ok(httparse::Status::Partial) => return partial(),
        Err(err) => return Err(map_httparse_error(err, start_line, HeadKind::Request)),
    };
    // Cannot trigger while the window is capped at the limit; kept so the contract does
    // not depend on how the window is chosen.
    if len > limits.max_head_bytes {
        return Err(CodecError::HeadTooLarge);
    }
    let span = |part: &[u8]| Span::of(window, part).ok_or(CodecError::Malformed);

    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        // httparse fills all three before reporting Complete.
        return Err(CodecError::Malformed);
    };
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(CodecError::UnsupportedVersion),
    };
    let method_span = span(method.as_bytes())?;
    let target_span = span(target.as_bytes())?;

    // httparse accepts a bare LF wherever it accepts CRLF; RFC 9112 section 2.2 lets a
    // server do so, but a proxy that does while the upstream does not can be smuggled
    // through. Each line end sits at a known place, so check only those bytes: after
    // "SP HTTP/1.x" on the request line, after the trailing OWS of each value, and the
    // final empty line. A second full scan of the head measured +60 ns on the 8-header
    // bench and +200 ns (25%) on the 20-header one; the fuzz target checks that this
    // shortcut accepts no bare LF.
    let last_cr = len.checked_sub(2).and_then(|i| window.get(i));
    if window.get(target_span.end() + 9) != Some(&b'\r') || last_cr != Some(&b'\r') {
        return Err(CodecError::InvalidLineEnding);
    }

    let mut facts = HeadFacts::default();
    for (slot, header) in spans
        .slots(req.headers.len())
        .iter_mut()
        .zip(req.headers.iter())
    {
        let name = span(header.name.as_bytes())?;
        let value = span(header.value)?;
        if !ends_with_crlf(window, value.end()) {
            return Err(CodecError::InvalidLineEnding);
        }
        *slot = HeaderSpan { name, value };
        facts.observe(header.name.as_bytes(), header.value, value)?;
    }
    let header_count = req.headers.len();
    if header_count > limits.max_headers {
        return Err(CodecError::TooManyHeaders);
    }

    let known_method = Method::known(method.as_bytes());
    let parts = split_target(target.as_bytes(), known_method.as_ref())?;
    let in_head = |r: Range<usize>| {
        Span::from_range(target_span.range().start + r.start..target_span.range().start + r.end)
            .ok_or(CodecError::InvalidTarget)
    };
    let path = parts.path.map(in_head).transpose()?;
    let query = parts.query.map(in_head).transpose()?;

    check_host(
        version,
        &facts,
        window,
        parts.authority.map(in_head).transpose()?,
    )?;
    let framing = request_framing(version, &facts)?;

    Ok(Parsed::Complete(
        RequestPlan {
            known_method,
            method: method_span,
            path,
            query,
            version,
            header_count,
            framing,
            keep_alive: match version {
                Version::Http11 => !facts.conn_close,
                Version::Http10 => facts.conn_keep_alive && !facts.conn_close,
            },
            // RFC 9110 section 10.1.1: a server ignores 100-continue from HTTP/1.0 clients.
            expect_continue: version == Version::Http11 && facts.expect_continue,
        },
        len,
    ))
}

/// True when the value ending at `value_end` is followed by optional SP/HTAB and a CR.
/// httparse has already checked that a CR is followed by LF, so this rules out a bare LF.
fn ends_with_crlf(window: &[u8], value_end: usize) -> bool {
    window
        .get(value_end..)
        .and_then(|rest| rest.iter().find(|&&b| b != b' ' && b != b'\t'))
        == Some(&b'\r')
}

/// Splits a request target into path, query and (for absolute-form) authority.
///
/// Accepts origin-form (`/path?query`), asterisk-form (`*`, OPTIONS only) and absolute-form
/// with the `http` scheme. Refuses everything else, fragments (clients never send them, so
/// one means a confused or hostile client) and non-ASCII bytes (RFC 3986 has none; servers
/// disagree on how to decode them).
fn split_target(target: &[u8], method: Option<&Method>) -> Result<TargetParts, CodecError> {
    if target.iter().any(|&b| b == b'#' || !b.is_ascii()) {
        return Err(CodecError::InvalidTarget);
    }
    let path_and_query = |from: usize| -> (Option<Range<usize>>, Option<Range<usize>>) {
        let rest = &target[from..];
        match rest.iter().position(|&b| b == b'?') {
            Some(q) => (
                (q > 0).then_some(from..from + q),
                Some(from + q + 1..target.len()),
            ),
            None => ((!rest.is_empty()).then_some(from..target.len()), None),
        }
    };
    match target {
        [b'/', ..] => {
            let (path, query) = path_and_query(0);
            Ok(TargetParts {
                path,
                query,
                authority: None,
            })
        }
        b"*" if method == Some(&Method::Options) => Ok(TargetParts {
            path: Some(0..1),
            query: None,
            authority: None,
        }),
        _ if target.len() >= 7 && target[..7].eq_ignore_ascii_case(b"http://") => {
            let after_scheme = &target[7..];
            let authority_len = after_scheme
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(after_scheme.len());
            let authority = 7..7 + authority_len;
            if !is_valid_authority(&target[authority.clone()]) {
                return Err(CodecError::InvalidTarget);
            }
            let (path, query) = path_and_query(authority.end);
            Ok(TargetParts {
                path,
                query,
                authority: Some(authority),
            })
        }
        _ => Err(CodecError::InvalidTarget),
    }
}

/// RFC 9112 section 3.2: HTTP/1.1 needs exactly one valid Host; HTTP/1.0 may omit it but
/// not repeat it. With an absolute-form target the server must use the target's authority
/// (section 3.2.2); rather than carry two hosts, a Host that differs from it is refused, so
/// routing on Host is always right.
fn check_host(
    version: Version,
    facts: &HeadFacts,
    window: &[u8],
    authority: Option<Span>,
) -> Result<(), CodecError> {
    let host_ok = match facts.host_fields {
        0 => version == Version::Http10,
        1 => facts.host_valid,
        _ => false,
    };
    if !host_ok {
        return Err(CodecError::InvalidHost);
    }
    if let (Some(authority), 1) = (authority, facts.host_fields) {
        if !window[authority.range()].eq_ignore_ascii_case(&window[facts.host.range()]) {
            return Err(CodecError::InvalidHost);
        }
    }
    Ok(())
}

/// Body framing of a request (RFC 9112 section 6), refusing every ambiguous combination
/// instead of picking a winner as section 6.3 allows: a proxy that picks differently from
/// its upstream is how request smuggling works.
fn request_framing(version: Version, facts: &HeadFacts) -> Result<BodyFraming, CodecError> {
    if facts.te_fields > 0 {
        if version == Version::Http10 {
            return Err(CodecError::TransferEncodingOnHttp10);
        }
        if facts.content_length_fields > 0 {
            return Err(CodecError::ContentLengthAndTransferEncoding);
        }
        // Only a single `chunked`: other codings on requests are not supported by
        // upstreams in practice, and lists or repeats are where parsers disagree.
        if facts.te_fields != 1 || !facts.te_exactly_chunked {
            return Err(CodecError::InvalidTransferEncoding);
        }
        return Ok(BodyFraming::Chunked);
    }
    Ok(match facts.content_length {
        None | Some(0) => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}

#[cfg(test)]
mod tests;
