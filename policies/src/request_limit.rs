//! `request-limit`: refuses request bodies larger than `max_bytes` with 413
//! `request_too_large`.
//!
//! Phases:
//! 1. [`RequestLimit::on_request`] with the head's framing: a `Content-Length` past the
//!    limit is refused at once, before any body byte is read or forwarded.
//! 2. [`RequestLimit::body_checker`]: `Some` only for chunked bodies, whose size is known
//!    only as they stream. Call [`RequestLimitChecker::feed`] for each chunk before
//!    forwarding it: it refuses as soon as the count passes the limit, so the upstream
//!    request is aborted without the excess. [`RequestLimitChecker::finish`] never refuses;
//!    it exists so the engine can treat every body checker alike.
//!
//! A `Content-Length` body needs no checker: the codec delivers exactly the declared bytes.

use sluice_codec::BodyFraming;

use crate::Reject;

/// Compiled `request-limit` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimit {
    /// Largest body in bytes (required; a body of exactly this size passes).
    pub max_bytes: u64,
}

/// Per-request byte count of a streamed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimitChecker {
    max_bytes: u64,
    seen: u64,
}

impl RequestLimit {
    /// Request phase: `Err` with 413 `request_too_large` when the declared
    /// `Content-Length` exceeds `max_bytes`.
    pub fn on_request(&self, framing: BodyFraming) -> Result<(), Reject> {
        match framing {
            BodyFraming::Length(n) if n > self.max_bytes => Err(too_large(self.max_bytes)),
            _ => Ok(()),
        }
    }

    /// Body phase: a counter for a chunked body, `None` for other framings.
    pub fn body_checker(&self, framing: BodyFraming) -> Option<RequestLimitChecker> {
        matches!(framing, BodyFraming::Chunked).then_some(RequestLimitChecker {
            max_bytes: self.max_bytes,
            seen: 0,
        })
    }
}

impl RequestLimitChecker {
    /// Counts `chunk`: `Err` with 413 `request_too_large` once the body passes the limit
    /// (and on every later call).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Reject> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if self.seen > self.max_bytes {
            Err(too_large(self.max_bytes))
        } else {
            Ok(())
        }
    }

    /// End of the body: always `Ok`, since `feed` already refused anything too large.
    pub fn finish(&mut self) -> Result<(), Reject> {
        Ok(())
    }
}

fn too_large(max: u64) -> Reject {
    Reject::new(
        413,
        "request_too_large",
        format!("Request body exceeds {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_refused_at_once() {
        let limit = RequestLimit { max_bytes: 10 };
        assert!(limit.on_request(BodyFraming::None).is_ok());
        assert!(limit.on_request(BodyFraming::Length(10)).is_ok());
        let r = limit.on_request(BodyFraming::Length(11)).unwrap_err();
        assert_eq!(
            (r.status, r.code, r.message.as_ref()),
            (413, "request_too_large", "Request body exceeds 10 bytes")
        );
        // Only chunked bodies need counting.
        assert!(limit.on_request(BodyFraming::Chunked).is_ok());
        assert!(limit.body_checker(BodyFraming::Length(5)).is_none());
        assert!(limit.body_checker(BodyFraming::None).is_none());
    }

    #[test]
    fn chunked_body_is_refused_when_the_count_passes_the_limit() {
        let limit = RequestLimit { max_bytes: 10 };
        let mut c = limit.body_checker(BodyFraming::Chunked).unwrap();
        assert!(c.feed(b"12345").is_ok());
        assert!(c.feed(b"").is_ok());
        assert!(c.feed(b"67890").is_ok());
        assert!(c.finish().is_ok());
        let r = c.feed(b"x").unwrap_err();
        assert_eq!((r.status, r.code), (413, "request_too_large"));
        assert!(c.feed(b"").is_err(), "stays refused");

        let mut c = limit.body_checker(BodyFraming::Chunked).unwrap();
        assert!(c.feed(&[0; 11]).is_err());

        let zero = RequestLimit { max_bytes: 0 };
        let mut c = zero.body_checker(BodyFraming::Chunked).unwrap();
        assert!(c.feed(b"").is_ok());
        assert!(c.feed(b"a").is_err());
    }
}
