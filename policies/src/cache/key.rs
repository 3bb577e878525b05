//! The cache key: what a request is looked up and stored under.

use bytes::Bytes;
use sluice_codec::{Headers, Method};

use super::{control, CachePolicy};

/// A request's cache key. Two requests with equal key bytes share entries; the entry's
/// stored `Vary` values then pick the variant. Built by [`CachePolicy::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Length-prefixed fields (see [`CachePolicy::key`]), so no two requests that differ
    /// in any field can produce the same bytes.
    pub(crate) bytes: Bytes,
    /// The request is HEAD (keyed as GET): it may read and wait, never store or lead.
    pub(crate) head: bool,
}

impl CacheKey {
    /// The encoded key (opaque; for logs and tests).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when the key was made for a HEAD request.
    pub fn is_head(&self) -> bool {
        self.head
    }
}

impl CachePolicy {
    /// The key for a request, or `None` for BYPASS: the method is not cached (HEAD needs
    /// both GET and HEAD in `methods`), or `respect_cache_control` is on and the request
    /// says `Cache-Control: no-store`/`no-cache` (or `Pragma: no-cache` alone).
    ///
    /// The key holds `route_id`, the method (GET for HEAD), the `Host` lower-cased, the raw
    /// `path` and `query` (`None` and `Some("")` differ), `Range` and `If-Range` when
    /// present, and each of `vary_headers` by name with every value line. `route_id` must
    /// mean the same route for as long as the [`ResponseCache`](super::ResponseCache)
    /// lives (clear it when a reload renumbers routes). Allocates the key buffer; never panics.
    pub fn key(
        &self,
        route_id: usize,
        method: &Method,
        path: &[u8],
        query: Option<&[u8]>,
        headers: &Headers,
    ) -> Option<CacheKey> {
        let head = *method == Method::Head;
        let keyed_method = if head {
            if !(self.methods.contains(&Method::Head) && self.methods.contains(&Method::Get)) {
                return None;
            }
            &Method::Get
        } else if self.methods.contains(method) {
            method
        } else {
            return None;
        };
        if self.respect_cache_control && control::request_bypasses(headers) {
            return None;
        }

        let host = headers.get("host");
        let mut buf = Vec::with_capacity(
            48 + path.len()
                + query.map_or(0, <[u8]>::len)
                + host.map_or(0, |h| h.len())
                + 32 * self.vary_headers.len(),
        );
        buf.extend_from_slice(&(route_id as u64).to_le_bytes());
        put(&mut buf, keyed_method.as_str().as_bytes());
        match host {
            Some(h) => {
                buf.push(1);
                put_len(&mut buf, h.len());
                buf.extend(h.iter().map(u8::to_ascii_lowercase));
            }
            None => buf.push(0),
        }
        put(&mut buf, path);
        put_opt(&mut buf, query);
        if headers.contains("range") {
            buf.push(1);
            put_lines(&mut buf, headers, "range");
            put_lines(&mut buf, headers, "if-range");
        } else {
            buf.push(0);
        }
        for name in &self.vary_headers {
            put_len(&mut buf, name.len());
            buf.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
            put_lines(&mut buf, headers, name);
        }
        Some(CacheKey {
            bytes: Bytes::from(buf),
            head,
        })
    }
}

fn put_len(buf: &mut Vec<u8>, n: usize) {
    // Heads are far below 4 GiB (codec limits), so the length fits.
    buf.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_len(buf, bytes.len());
    buf.extend_from_slice(bytes);
}

fn put_opt(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            buf.push(1);
            put(buf, b);
        }
        None => buf.push(0),
    }
}

/// The count of `name`'s lines, then each line: absent and empty stay distinct.
fn put_lines(buf: &mut Vec<u8>, headers: &Headers, name: &str) {
    let count = headers.get_all(name).count();
    put_len(buf, count);
    for v in headers.get_all(name) {
        put(buf, v);
    }
}
