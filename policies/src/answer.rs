//! What an op hands back when it ends the request phase early.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use sluice_codec::Headers;

/// A complete response produced by an op (a mock, later a cache hit or a CORS preflight).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Headers,
    pub body: Bytes,
    /// Wait this long before answering (mock `delay`); zero for none.
    pub delay: Duration,
}

/// A refusal. The engine turns it into the JSON error body in one place, so every
/// policy error looks the same to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    /// Machine-readable code, e.g. `ip_denied`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: Cow<'static, str>,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl Reject {
    /// A refusal with no extra headers.
    pub fn new(status: u16, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}
