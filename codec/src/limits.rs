//! Named limits of the codec. Configurable ones arrive in [`HeadLimits`].

/// Longest chunk-size line extension accepted (hyper uses the same bound).
pub const MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;
/// Largest trailer section accepted after the last chunk; trailers are discarded.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most empty lines (CRLF) skipped before a request line. RFC 9112 section 2.2 asks servers
/// to ignore "at least one"; a few covers clients that send CRLF after a POST body, and the
/// bound stops a peer from holding a connection with nothing but newlines.
pub const MAX_LEADING_EMPTY_LINES: usize = 4;
/// Largest number of header slots the parser can hold; `HeadLimits::max_headers` is capped here.
pub const MAX_HEADER_SLOTS: usize = 256;

/// Limits applied while parsing a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head (request/status line plus headers plus the blank line) in bytes. Default 16384.
    pub max_head_bytes: usize,
    /// Largest number of header fields. Default 100; capped at [`MAX_HEADER_SLOTS`].
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}
