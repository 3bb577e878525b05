//! `interrupt` (default priority 100): answer at the gateway when a condition matches.
//!
//! Used for maintenance pages, feature kill-switches and canned answers for one client; the
//! upstream is never called for a matching request.

use bytes::Bytes;
use sluice_codec::{Headers, Method};

use crate::when::Condition;
use crate::Answer;

/// Compiled `interrupt` options. Defaults for `status`, `headers` and `body` belong to the
/// config layer; nothing here fills them in.
#[derive(Debug, Clone)]
pub struct Interrupt {
    /// Status of the answer.
    pub status: u16,
    /// Header fields of the answer, in order.
    pub headers: Headers,
    /// Body of the answer (may be empty).
    pub body: Bytes,
    /// Answer only requests matching this; `None` answers every request.
    pub when: Option<Condition>,
}

impl Interrupt {
    /// Request phase: `Some(answer)` when `when` is absent or matches, else `None` (the request
    /// goes on). Cloning shares the header and body bytes; the answer has no delay.
    pub fn on_request(
        &self,
        method: &Method,
        path: &[u8],
        query: Option<&[u8]>,
        headers: &Headers,
    ) -> Option<Answer> {
        if let Some(when) = &self.when {
            if !when.matches(method, path, query, headers) {
                return None;
            }
        }
        Some(Answer {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            delay: std::time::Duration::ZERO,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn interrupt(when: Option<Condition>) -> Interrupt {
        let mut headers = Headers::default();
        headers.append("content-type", "text/plain");
        Interrupt {
            status: 503,
            headers,
            body: Bytes::from_static(b"down for maintenance"),
            when,
        }
    }

    #[test]
    fn answers_every_request_without_when() {
        let a = interrupt(None)
            .on_request(&Method::Post, b"/x", None, &Headers::default())
            .unwrap();
        assert_eq!(a.status, 503);
        assert_eq!(a.headers.get_str("content-type"), Some("text/plain"));
        assert_eq!(&a.body[..], b"down for maintenance");
        assert!(a.delay.is_zero());
    }

    #[test]
    fn answers_only_matching_requests() {
        let i = interrupt(Some(Condition {
            path: Some(Regex::new("^/admin").unwrap()),
            method: vec![Method::Delete],
            ..Condition::default()
        }));
        let h = Headers::default();
        assert!(i
            .on_request(&Method::Delete, b"/admin/1", None, &h)
            .is_some());
        assert!(i.on_request(&Method::Get, b"/admin/1", None, &h).is_none());
        assert!(i
            .on_request(&Method::Delete, b"/users/1", None, &h)
            .is_none());
    }
}
