//! Pieces shared by request and response head parsing: spans over the head buffer, the
//! one pass over framing-relevant headers, and the mapping of `httparse` errors.

use std::ops::Range;

use bytes::Bytes;

use crate::headers::trim_ows;
use crate::{CodecError, HeadLimits, Headers, MAX_LEADING_EMPTY_LINES};

/// Header spans kept on the stack. Zeroing a full `MAX_HEADER_SLOTS` array (4 KiB) on
/// every parse measured ~50 ns of a ~440 ns 8-header parse; 32 slots (512 bytes) cover
/// ordinary requests, and a head with more fields pays one allocation instead.
const INLINE_SPANS: usize = 32;

/// A byte range inside the head buffer. `u32` halves the size of the span array; the
/// parse window is capped at `u32::MAX` bytes in [`parse_window`] so offsets always fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

/// Where one header's name and value lie in the head buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// Where the header spans of one head are kept: inline for up to [`INLINE_SPANS`] fields,
/// on the heap beyond.
#[derive(Debug)]
pub(crate) struct SpanBuf {
    inline: [HeaderSpan; INLINE_SPANS],
    heap: Vec<HeaderSpan>,
}

/// Facts about framing and connection handling gathered in one pass over the headers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadFacts {
    /// The agreed Content-Length, once at least one valid field was seen.
    pub content_length: Option<u64>,
    /// Number of Content-Length fields.
    pub content_length_fields: usize,
    /// Number of Transfer-Encoding fields.
    pub te_fields: usize,
    /// The only Transfer-Encoding field was exactly `chunked` (requests accept nothing else).
    pub te_exactly_chunked: bool,
    /// How many codings named `chunked` appear over all Transfer-Encoding fields.
    pub te_chunked_codings: usize,
    /// The last non-empty coding over all Transfer-Encoding fields is `chunked`.
    pub te_last_is_chunked: bool,
    /// Number of Host fields.
    pub host_fields: usize,
    /// Every Host field seen was a valid `host[:port]`.
    pub host_valid: bool,
    /// The Host value (only meaningful when `host_fields == 1`).
    pub host: Span,
    /// A Connection field lists `close`.
    pub conn_close: bool,
    /// A Connection field lists `keep-alive`.
    pub conn_keep_alive: bool,
    /// An Expect field is `100-continue`.
    pub expect_continue: bool,
}

impl Span {
    /// The span of `part` inside `base`, or `None` when `part` does not point into `base`
    /// (httparse hands back a static `""` for reason phrases it will not decode).
    pub(crate) fn of(base: &[u8], part: &[u8]) -> Option<Span> {
        // Comparing addresses is safe code; only dereferencing would need `unsafe`.
        let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > base.len() {
            return None;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// The span as a `usize` range for slicing.
    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// A span from plain offsets; `None` when they do not fit in `u32`.
    pub(crate) fn from_range(r: Range<usize>) -> Option<Span> {
        Some(Span {
            start: u32::try_from(r.start).ok()?,
            end: u32::try_from(r.end).ok()?,
        })
    }

    /// Index one past the last byte.
    pub(crate) fn end(self) -> usize {
        self.end as usize
    }
}

impl SpanBuf {
    /// An empty buffer; allocates nothing.
    pub(crate) fn new() -> Self {
        Self {
            inline: [HeaderSpan::default(); INLINE_SPANS],
            heap: Vec::new(),
        }
    }

    /// `n` slots to fill.
    pub(crate) fn slots(&mut self, n: usize) -> &mut [HeaderSpan] {
        if n <= INLINE_SPANS {
            &mut self.inline[..n]
        } else {
            self.heap.resize(n, HeaderSpan::default());
            &mut self.heap
        }
    }

    /// The first `n` slots, as filled by [`SpanBuf::slots`]`(n)`.
    pub(crate) fn filled(&self, n: usize) -> &[HeaderSpan] {
        let filled = if n <= INLINE_SPANS {
            self.inline.get(..n)
        } else {
            self.heap.get(..n)
        };
        // Only a caller bug could ask for more than was filled; no headers beats a panic.
        filled.unwrap_or_default()
    }
}

impl HeadFacts {
    /// Records one header field. Names are compared by length first so most fields cost
    /// one integer compare.
    pub(crate) fn observe(
        &mut self,
        name: &[u8],
        value: &[u8],
        value_span: Span,
    ) -> Result<(), CodecError> {
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.host_fields += 1;
                self.host_valid =
                    (self.host_fields == 1 || self.host_valid) && is_valid_authority(value);
                self.host = value_span;
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= trim_ows(value).eq_ignore_ascii_case(b"100-continue");
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in value.split(|&b| b == b',').map(trim_ows) {
                    self.conn_close |= token.eq_ignore_ascii_case(b"close");
                    self.conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                self.content_length_fields += 1;
                self.content_length = Some(fold_content_length(value, self.content_length)?);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.te_fields += 1;
                self.te_exactly_chunked =
                    self.te_fields == 1 && trim_ows(value).eq_ignore_ascii_case(b"chunked");
                for coding in value.split(|&b| b == b',').map(trim_ows) {
                    // Empty list elements are allowed by RFC 9110 section 5.6.1 and mean nothing.
                    if coding.is_empty() {
                        continue;
                    }
                    // Compare the whole element: `chunked;x=1` is not plain `chunked`, and
                    // a parser that strips parameters would frame it differently.
                    let chunked = coding.eq_ignore_ascii_case(b"chunked");
                    self.te_chunked_codings += usize::from(chunked);
                    self.te_last_is_chunked = chunked;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// How many bytes of `buf` the head parser looks at: the head limit (capped at `u32::MAX`
/// so spans fit in `u32`), or the whole buffer when it is shorter. Parsing only this prefix
/// bounds the work done on a buffer that also holds a body or pipelined requests.
pub(crate) fn parse_window(buf_len: usize, limits: &HeadLimits) -> usize {
    let limit = limits.max_head_bytes.min(u32::MAX as usize);
    buf_len.min(limit)
}

/// The header list for `spans`, each name and value a slice of `head`.
pub(crate) fn build_headers(head: &Bytes, spans: &[HeaderSpan]) -> Headers {
    let mut headers = Headers::with_capacity(spans.len());
    for span in spans {
        headers.append(
            head.slice(span.name.range()),
            head.slice(span.value.range()),
        );
    }
    headers
}

/// Folds one Content-Length field value (possibly a list such as `5, 5`) into the length
/// agreed so far. Every element must be `1*DIGIT`, fit in `u64` and equal all the others.
fn fold_content_length(value: &[u8], agreed: Option<u64>) -> Result<u64, CodecError> {
    let mut agreed = agreed;
    for element in value.split(|&b| b == b',') {
        let n = parse_decimal(trim_ows(element)).ok_or(CodecError::InvalidContentLength)?;
        match agreed {
            Some(prev) if prev != n => return Err(CodecError::InvalidContentLength),
            _ => agreed = Some(n),
        }
    }
    agreed.ok_or(CodecError::InvalidContentLength)
}

/// `1*DIGIT` as `u64`; `None` when empty, when anything but a digit appears (signs,
/// spaces, hex) or on overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `uri-host [ ":" port ]` as used in Host and in an absolute-form target.
///
/// Stricter than RFC 3986 reg-name: only ALPHA / DIGIT / `-` / `.` / `_` / `~` are allowed
/// (no sub-delims, no percent-encoding, no userinfo), or a bracketed IPv6 literal. No DNS
/// name needs more, and characters such as `,` or `@` are how two parsers come to disagree
/// about which host a request is for. The port, when present, is 1 to 5 digits.
pub(crate) fn is_valid_authority(value: &[u8]) -> bool {
    let (host_ok, rest) = if let Some(literal) = value.strip_prefix(b"[") {
        match literal.iter().position(|&b| b == b']') {
            Some(close) => {
                let inner = &literal[..close];
                let ok = !inner.is_empty()
                    && inner
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                (ok, &literal[close + 1..])
            }
            None => return false,
        }
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let host = &value[..end];
        let ok = !host.is_empty()
            && host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        (ok, &value[end..])
    };
    if !host_ok {
        return false;
    }
    match rest {
        [] => true,
        [b':', port @ ..] => (1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Number of leading CRLF pairs in `window`, or an error for a bare LF / too many lines.
/// `Ok(None)` means the window ends inside the empty lines (more input needed).
pub(crate) fn leading_empty_lines(window: &[u8]) -> Result<Option<usize>, CodecError> {
    let mut i = 0;
    loop {
        match window.get(i..) {
            Some([b'\r', b'\n', ..]) => {
                i += 2;
                if i / 2 > MAX_LEADING_EMPTY_LINES {
                    return Err(CodecError::Malformed);
                }
            }
            Some([] | [b'\r']) => return Ok(None),
            Some([b'\n', ..]) => return Err(CodecError::InvalidLineEnding),
            Some([b'\r', ..]) => return Err(CodecError::InvalidLineEnding),
            _ => return Ok(Some(i)),
        }
    }
}

/// Which kind of head an `httparse` error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadKind {
    Request,
    Response,
}

/// Turns an `httparse` error into the most specific [`CodecError`], looking at the bytes
/// again only on this (rare) path so the happy path pays nothing for good messages.
///
/// The diagnosis reads only bytes httparse had already read when it failed, so the same
/// bad head gives the same error however it was split across reads (the fuzz targets
/// check exactly that).
pub(crate) fn map_httparse_error(
    err: httparse::Error,
    window: &[u8],
    kind: HeadKind,
) -> CodecError {
    match err {
        httparse::Error::TooManyHeaders => CodecError::TooManyHeaders,
        httparse::Error::Version => CodecError::UnsupportedVersion,
        httparse::Error::HeaderValue => CodecError::InvalidHeaderValue,
        httparse::Error::Status => diagnose_status_line(window),
        httparse::Error::NewLine => match kind {
            HeadKind::Request => diagnose_request_line_end(window),
            // In a response, NewLine only comes from a CR at the start of a line (leading
            // empty lines or the end of the headers) that is not followed by LF.
            HeadKind::Response => CodecError::InvalidLineEnding,
        },
        httparse::Error::Token => diagnose_request_line(window),
        httparse::Error::HeaderName => diagnose_header_name(window),
    }
}

/// httparse says `NewLine` when the byte after the request line's version is not CR / LF,
/// and for a CR not followed by LF at the start of a header line. `line` starts at the
/// method; httparse has accepted `method SP target SP HTTP/1.x`, so the positions exist.
fn diagnose_request_line_end(line: &[u8]) -> CodecError {
    let after_method = line.iter().position(|&b| b == b' ').map(|i| i + 1);
    let after_target = after_method.and_then(|start| {
        line[start..]
            .iter()
            .position(|&b| b == b' ')
            .map(|i| start + i)
    });
    match after_target.and_then(|sp| line.get(sp + 9)) {
        // The request line ended in a bare CR, or it ended well and a later line did.
        Some(b'\r' | b'\n') => CodecError::InvalidLineEnding,
        _ => CodecError::Malformed,
    }
}

/// httparse says `Status` for a bad status code, a bad byte after it or in the reason, and
/// for a CR not followed by LF ending the status line. Walk the line the way httparse did.
fn diagnose_status_line(window: &[u8]) -> CodecError {
    let line = skip_empty_lines(window);
    // "HTTP/1.x" SP and three digits were read; then SP reason, or the line end.
    let Some(code) = line.get(9..12) else {
        return CodecError::Malformed;
    };
    if !code.iter().all(u8::is_ascii_digit) {
        return CodecError::Malformed;
    }
    let end_or_bad = match line.get(12) {
        Some(b' ') => line[13..]
            .iter()
            .find(|&&b| !(b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)),
        other => other,
    };
    match end_or_bad {
        Some(b'\r') => CodecError::InvalidLineEnding,
        _ => CodecError::Malformed,
    }
}

/// httparse says `Token` for both a bad method and a bad target; tell them apart.
fn diagnose_request_line(window: &[u8]) -> CodecError {
    let line = skip_empty_lines(window);
    let method_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let method = &line[..method_end];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        CodecError::Malformed
    } else {
        CodecError::InvalidTarget
    }
}

/// httparse says `HeaderName` for obs-fold, for whitespace after a name and for any other
/// bad byte in or after a name. It accepted every line before the bad one, so the first
/// line that is not `token ":"` is the culprit, and its first non-token byte (the one
/// httparse stopped at) tells which.
fn diagnose_header_name(window: &[u8]) -> CodecError {
    let after_start = skip_empty_lines(window);
    let Some(first_lf) = after_start.iter().position(|&b| b == b'\n') else {
        return CodecError::InvalidHeaderName;
    };
    for line in after_start[first_lf + 1..].split(|&b| b == b'\n') {
        match line.iter().find(|&&b| !is_tchar(b)) {
            // A line starting with whitespace continues the previous one.
            Some(b' ' | b'\t') if !line.first().is_some_and(|&b| is_tchar(b)) => {
                return CodecError::ObsFold
            }
            Some(b' ' | b'\t') => return CodecError::SpaceBeforeColon,
            Some(b':') if line.first() != Some(&b':') => continue,
            _ => return CodecError::InvalidHeaderName,
        }
    }
    CodecError::InvalidHeaderName
}

/// `window` without leading CR / LF bytes.
fn skip_empty_lines(window: &[u8]) -> &[u8] {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    &window[start..]
}

/// `tchar` from RFC 9110 section 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}
