//! HTTP/1.1 codec for Sluice.
//!
//! Bytes in, heads and body frames out; no I/O and no knowledge of policies.
//! Heads are parsed with `httparse` into offsets over a frozen `Bytes`, so a parsed
//! header name or value is a cheap slice of the read buffer, never a copy.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chunked;
mod encode;
mod head;
mod headers;
mod limits;
mod request;
mod response;

pub use chunked::{ChunkedDecoder, ChunkedEvent};
pub use encode::{
    canonical_reason, encode_chunk, encode_last_chunk, encode_request_head, encode_response_head,
    is_valid_header_name, is_valid_header_value,
};
pub use headers::{Header, Headers};
pub use limits::*;
pub use request::{parse_request_head, BodyFraming, Method, RequestHead, Version};
pub use response::{parse_response_head, ResponseFraming, ResponseHead};

/// Outcome of a parser fed a possibly incomplete buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// More bytes are needed; nothing was consumed.
    Partial,
    /// A complete item and the number of bytes it used.
    Complete(T, usize),
}

/// Why bytes were refused. Small and `Copy` so the hot path never allocates for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A request or status line, or a header line, that does not parse (bad method token,
    /// bad status digits, too many leading empty lines).
    #[error("malformed request line or header")]
    Malformed,
    /// The head, complete or not, is longer than `HeadLimits::max_head_bytes`.
    #[error("head is larger than the configured limit")]
    HeadTooLarge,
    /// More header fields than `HeadLimits::max_headers`.
    #[error("too many headers")]
    TooManyHeaders,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// Both Content-Length and Transfer-Encoding, the classic smuggling pair.
    #[error("both Content-Length and Transfer-Encoding are present")]
    ContentLengthAndTransferEncoding,
    /// A Content-Length that is not plain digits, overflows `u64`, or disagrees with another one.
    #[error("invalid or conflicting Content-Length")]
    InvalidContentLength,
    /// A Transfer-Encoding other than a single `chunked` (requests), or with `chunked`
    /// twice (responses).
    #[error("unsupported or ambiguous Transfer-Encoding")]
    InvalidTransferEncoding,
    /// A chunk size that is empty, not hex, longer than 16 digits, or has whitespace inside.
    #[error("invalid chunk size line")]
    InvalidChunkSize,
    /// A chunk extension longer than `MAX_CHUNK_EXT_BYTES`.
    #[error("chunk extension too long")]
    ChunkExtensionTooLong,
    /// Chunk framing other than the size: a missing CRLF after data, a bare CR or LF, a
    /// control byte in an extension.
    #[error("malformed chunk framing")]
    InvalidChunk,
    /// A trailer section longer than `MAX_TRAILER_BYTES`.
    #[error("trailer section too large")]
    TrailersTooLarge,
    /// A header value with NUL, a bare CR or another control byte except HTAB.
    #[error("invalid character in header value")]
    InvalidHeaderValue,
    /// A header name that is empty or holds a byte outside `tchar`, or a line without a colon.
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A header line starting with SP or HTAB (obsolete line folding).
    #[error("obsolete line folding is not accepted")]
    ObsFold,
    /// HTTP/1.1 without exactly one Host, a Host that is not `host[:port]`, or one that
    /// differs from an absolute-form target.
    #[error("missing or invalid Host header")]
    InvalidHost,
    /// A request target that is not origin-form, `*` for OPTIONS, or `http://`
    /// absolute-form; or one with a fragment or non-ASCII bytes.
    #[error("invalid request target")]
    InvalidTarget,
    /// A line in a request head ending in a bare LF, or a CR not followed by LF anywhere in a head.
    #[error("line not terminated by CRLF (bare LF or bare CR)")]
    InvalidLineEnding,
    /// Whitespace between a header name and its colon.
    #[error("whitespace after a header name (before the colon)")]
    SpaceBeforeColon,
    /// Transfer-Encoding in an HTTP/1.0 request, which cannot use it.
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingOnHttp10,
    /// A response status code below 100.
    #[error("status code below 100")]
    InvalidStatus,
}
