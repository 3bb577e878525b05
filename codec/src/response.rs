//! Response heads: `parse_response_head` and the types it returns.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use crate::head::{
    build_headers, map_httparse_error, parse_window, HeadFacts, HeadKind, HeaderSpan, Span, SpanBuf,
};
use crate::{CodecError, HeadLimits, Headers, Method, Parsed, Version, MAX_HEADER_SLOTS};

/// How the body after a response head is framed (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: a response to HEAD, a 1xx, 204 or 304, or Content-Length: 0.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the upstream closes the connection.
    Close,
}

/// A parsed response head. Every `Bytes` is a slice of the head's buffer.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The version from the status line.
    pub version: Version,
    /// The status code, 100 to 999.
    pub status: u16,
    /// The reason phrase; empty when none was sent or it held non-ASCII bytes.
    pub reason: Bytes,
    /// The header fields in wire order, values trimmed of surrounding whitespace.
    pub headers: Headers,
    /// How the body that follows the head is framed.
    pub framing: ResponseFraming,
    /// Whether the connection may carry another exchange after this response's body.
    pub keep_alive: bool,
}

/// What a successful analysis found, as offsets into the head buffer.
#[derive(Debug, Clone, Copy)]
struct ResponsePlan {
    version: Version,
    status: u16,
    /// `None` when the reason phrase is empty or was dropped for holding obs-text.
    reason: Option<Span>,
    header_count: usize,
    framing: ResponseFraming,
    keep_alive: bool,
}

/// Parses one response head from the front of `buf`; `request_method` is the method of
/// the request this response answers (a response to HEAD never has a body).
///
/// Same buffer contract as [`parse_request_head`](crate::parse_request_head): `Ok(None)`
/// leaves `buf` untouched; on success the head is split off the front of `buf` and every
/// `Bytes` in the result is a slice of it. The reason phrase is empty when the upstream
/// sent none or sent non-ASCII bytes in it.
///
/// More lenient than requests where that cannot change framing (a bare LF line end is
/// accepted, as RFC 9112 section 2.2 allows, since the engine writes its own head
/// downstream), and as strict on framing: conflicting or invalid Content-Length, both
/// Content-Length and Transfer-Encoding, `chunked` applied twice, obs-fold, a status code
/// below 100, more than `limits.max_headers` fields or a head over `limits.max_head_bytes`
/// are errors. Never panics.
pub fn parse_response_head(
    buf: &mut BytesMut,
    limits: &HeadLimits,
    request_method: &Method,
) -> Result<Option<ResponseHead>, CodecError> {
    let mut spans = SpanBuf::new();
    let (plan, len) = match analyze_response(buf, limits, request_method, &mut spans)? {
        Parsed::Partial => return Ok(None),
        Parsed::Complete(plan, len) => (plan, len),
    };
    let head = buf.split_to(len).freeze();
    Ok(Some(ResponseHead {
        version: plan.version,
        status: plan.status,
        reason: plan
            .reason
            .map_or_else(Bytes::new, |span| head.slice(span.range())),
        headers: build_headers(&head, spans.filled(plan.header_count)),
        framing: plan.framing,
        keep_alive: plan.keep_alive,
    }))
}

/// Validates the response head at the front of `buf` without consuming it.
fn analyze_response(
    buf: &[u8],
    limits: &HeadLimits,
    request_method: &Method,
    spans: &mut SpanBuf,
) -> Result<Parsed<ResponsePlan>, CodecError> {
    let window = &buf[..parse_window(buf.len(), limits)];
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADER_SLOTS];
    let max_headers = limits.max_headers.min(MAX_HEADER_SLOTS);
    let mut res = httparse::Response::new(&mut []);
    // Default config: no obs-fold, no space before the colon, no skipping of invalid
    // lines. Each of those leniencies can hide a Content-Length or Transfer-Encoding line.
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        window,
        &mut slots[..max_headers],
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > window.len() => {
            return Err(CodecError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(err) => return Err(map_httparse_error(err, window, HeadKind::Response)),
    };
    if len > limits.max_head_bytes {
        return Err(CodecError::HeadTooLarge);
    }
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err(CodecError::Malformed);
    };
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(CodecError::UnsupportedVersion),
    };
    // httparse reads any three digits; 0xx is not a status class (RFC 9110 section 15).
    if status < 100 {
        return Err(CodecError::InvalidStatus);
    }
    let reason = res
        .reason
        .filter(|r| !r.is_empty())
        .and_then(|r| Span::of(window, r.as_bytes()));

    let mut facts = HeadFacts::default();
    for (slot, header) in spans
        .slots(res.headers.len())
        .iter_mut()
        .zip(res.headers.iter())
    {
        let name = Span::of(window, header.name.as_bytes()).ok_or(CodecError::Malformed)?;
        let value = Span::of(window, header.value).ok_or(CodecError::Malformed)?;
        *slot = HeaderSpan { name, value };
        facts.observe(header.name.as_bytes(), header.value, value)?;
    }
    let header_count = res.headers.len();
    if header_count > limits.max_headers {
        return Err(CodecError::TooManyHeaders);
    }

    let framing = response_framing(version, status, request_method, &facts)?;
    let keep_alive = framing != ResponseFraming::Close
        && match version {
            Version::Http11 => !facts.conn_close,
            Version::Http10 => facts.conn_keep_alive && !facts.conn_close,
        };
    Ok(Parsed::Complete(
        ResponsePlan {
            version,
            status,
            reason,
            header_count,
            framing,
            keep_alive,
        },
        len,
    ))
}

/// Body framing of a response, RFC 9112 section 6.3 in order, except that the
/// combinations the RFC only warns about are errors here.
fn response_framing(
    version: Version,
    status: u16,
    request_method: &Method,
    facts: &HeadFacts,
) -> Result<ResponseFraming, CodecError> {
    // Rule 1: no body whatever the headers say. A 101 hands the connection over; the
    // caller sees the status and takes the bytes that follow.
    if *request_method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(ResponseFraming::None);
    }
    if facts.te_fields > 0 {
        // Rule 3 says Transfer-Encoding wins and the message "ought to be handled as an
        // error"; an upstream that sends both is broken or being used for splitting.
        if facts.content_length_fields > 0 {
            return Err(CodecError::ContentLengthAndTransferEncoding);
        }
        // RFC 9112 section 6.1: chunked must not be applied twice; decoding once would
        // hand a still-chunked body downstream.
        if facts.te_chunked_codings > 1 {
            return Err(CodecError::InvalidTransferEncoding);
        }
        // Section 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing, so
        // read until close. Same for a final coding other than chunked (section 6.3 rule 4).
        if version == Version::Http10 || !facts.te_last_is_chunked {
            return Ok(ResponseFraming::Close);
        }
        return Ok(ResponseFraming::Chunked);
    }
    Ok(match facts.content_length {
        Some(0) => ResponseFraming::None,
        Some(n) => ResponseFraming::Length(n),
        None => ResponseFraming::Close,
    })
}

#[cfg(test)]
mod tests;
