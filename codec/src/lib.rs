//! HTTP/1.1 codec for Sluice.
//!
//! Bytes in, heads and body frames out; no I/O and no knowledge of policies.
//! Heads are parsed with `httparse` into offsets over a frozen `Bytes`, so a parsed
//! header name or value is a cheap slice of the read buffer, never a copy.
#![forbid(unsafe_code)]

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
    #[error("malformed request line or header")]
    Malformed,
    #[error("head is larger than the configured limit")]
    HeadTooLarge,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    #[error("both Content-Length and Transfer-Encoding are present")]
    ContentLengthAndTransferEncoding,
    #[error("invalid or conflicting Content-Length")]
    InvalidContentLength,
    #[error("Transfer-Encoding does not end in chunked")]
    InvalidTransferEncoding,
    #[error("invalid chunk size line")]
    InvalidChunkSize,
    #[error("chunk extension too long")]
    ChunkExtensionTooLong,
    #[error("malformed chunk framing")]
    InvalidChunk,
    #[error("trailer section too large")]
    TrailersTooLarge,
    #[error("invalid character in header value")]
    InvalidHeaderValue,
    #[error("invalid header name")]
    InvalidHeaderName,
    #[error("obsolete line folding is not accepted")]
    ObsFold,
    #[error("missing or invalid Host header")]
    InvalidHost,
    #[error("invalid request target")]
    InvalidTarget,
    #[error("line not terminated by CRLF (bare LF or bare CR)")]
    InvalidLineEnding,
    #[error("whitespace between header name and colon")]
    SpaceBeforeColon,
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingOnHttp10,
    #[error("status code below 100")]
    InvalidStatus,
}
