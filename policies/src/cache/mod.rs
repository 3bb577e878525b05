//! `cache`: a per-shard response cache with request coalescing.
//!
//! The compiled options are a [`CachePolicy`] (read-only, shared by every shard); each shard
//! owns one [`ResponseCache`] per `cache` op in a `RefCell` of its state. A request goes:
//!
//! 1. [`CachePolicy::key`]: `None` means BYPASS (method not cached, or the request's
//!    `Cache-Control` forbids); go upstream and neither read nor write the cache.
//! 2. [`ResponseCache::lookup`]:
//!    - [`Lookup::Hit`]: answer from the entry ([`CachedResponse::answer`] adds `Age` and
//!      the status header).
//!    - [`Lookup::Wait`]: another request on this shard is fetching this key; await
//!      [`Pending::wait`]. `Stored` is a HIT; `NotStored` means go upstream yourself (a
//!      second `lookup` first gives a chance to store; do that at most once).
//!    - [`Lookup::Miss`]: go upstream holding the [`MissToken`]. Every waiter depends on
//!      it, so it must reach [`CachePolicy::begin_store`] or be dropped, never leaked.
//! 3. With the upstream response head, [`CachePolicy::begin_store`] either refuses (waiters
//!    are woken with `NotStored`) or returns a [`StoreWriter`]; feed it each body chunk as
//!    it is forwarded ([`StoreWriter::push`]), then [`StoreWriter::finish`] once the body
//!    ended cleanly. Dropping the writer (upstream error, client gone) abandons the entry.
//!
//! Times are unix seconds, like every other op's `unix_now`: `Age`, `max-age` and
//! `Expires` all count whole seconds. Nothing here does I/O or reads the clock.
//!
//! Decisions worth knowing:
//! - HEAD is answered from GET entries (HEAD shares the GET key) and may wait on a GET
//!   fetch, but a HEAD response is never stored: it has no body to serve a GET with. HEAD
//!   is looked up only when both GET and HEAD are in `methods`, otherwise it bypasses.
//! - The key holds the route, the method, the `Host` (lower-cased), the raw path and query,
//!   `Range`/`If-Range` when present, and the configured `vary_headers` with their values.
//!   The request body is never part of it, so listing POST in `methods` is the operator's
//!   call.
//! - A response to a request with `Authorization` is stored only when the response says
//!   `public`, `s-maxage` or `must-revalidate` (RFC 9111 3.5), or `authorization` is one of
//!   `vary_headers`. Like the `Set-Cookie` rule this holds even with
//!   `respect_cache_control: false`: both stop one caller's data reaching another.
//! - 5xx is never stored, even when listed; so the default list drops the 501.
//! - A response refused for what it is (status, `Cache-Control`, `Set-Cookie`, ...) leaves a
//!   "pass" marker for up to [`PASS_SECS`]: later misses on that key go upstream at once
//!   instead of queueing behind a fetch that will not be shared. They may still store.

use std::time::Duration;

use bytes::Bytes;
use sluice_codec::Method;

mod control;
mod date;
mod flight;
mod key;
mod store;
mod writer;

#[cfg(test)]
mod tests;

pub use flight::{MissToken, Outcome, Pending, MAX_PASS_MARKERS};
pub use key::CacheKey;
pub use store::{CachedResponse, Lookup, ResponseCache, ENTRY_OVERHEAD, MAX_VARIANTS};
pub use writer::StoreWriter;

/// Default freshness when the response gives none: 300 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default cacheable statuses: RFC 9110's heuristically cacheable codes named by the
/// issue, minus 501 (5xx is never stored) and minus 308 (not in the list).
pub const DEFAULT_STATUSES: &[u16] = &[200, 203, 204, 206, 300, 301, 404, 405, 410, 414];
/// Default bytes one shard's cache may hold: 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default largest body stored: 1 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 1024 * 1024;
/// Default name of the header that says HIT, MISS or BYPASS.
pub const DEFAULT_STATUS_HEADER: &str = "x-cache";
/// Longest a pass marker (see the module docs) lasts; never longer than the policy's `ttl`.
pub const PASS_SECS: u64 = 60;

/// Compiled `cache` options. [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// Freshness when the response sets none (or `respect_cache_control` is off). Whole
    /// seconds; 0 stores nothing unless the response sets its own lifetime. Default 300 s.
    pub ttl: Duration,
    /// Methods looked up and stored. Default GET and HEAD; see the module docs for HEAD.
    pub methods: Vec<Method>,
    /// Statuses stored. Default [`DEFAULT_STATUSES`]; a 5xx here is ignored.
    pub cacheable_statuses: Vec<u16>,
    /// Request header names whose values are part of the key (any case). Default none.
    pub vary_headers: Vec<String>,
    /// Obey `Cache-Control` (request `no-store`/`no-cache` bypass; response `no-store`,
    /// `no-cache`, `private` are not stored; `s-maxage`, then `max-age`, then `Expires`
    /// replace `ttl`). Default true.
    pub respect_cache_control: bool,
    /// Bytes one shard's cache holds before evicting least recently used entries (bodies,
    /// headers, key and a fixed overhead per entry). Default 64 MiB.
    pub max_bytes: usize,
    /// Largest body stored; a longer one is given up on mid-stream. Default 1 MiB.
    pub max_object_bytes: usize,
    /// Response header set to HIT, MISS or BYPASS (see [`CacheStatus`]). Default `x-cache`.
    pub status_header: Bytes,
}

/// What the status header says about one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache (a lookup hit, or a wait that ended `Stored`).
    Hit,
    /// Looked up, fetched upstream.
    Miss,
    /// Not looked up: [`CachePolicy::key`] returned `None`.
    Bypass,
}

/// Why a response was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStore {
    /// The request was HEAD: its response has no body to serve GETs with.
    HeadRequest,
    /// Status not in `cacheable_statuses`, any 5xx, or a 206 to a request without `Range`.
    Status,
    /// The response sets a cookie.
    SetCookie,
    /// `Vary: *`, or a `Vary` entry that is not a header name.
    Vary,
    /// The request carried `Authorization` and the response did not allow sharing.
    Authorization,
    /// Response `Cache-Control: no-store`, `no-cache` or `private`.
    CacheControl,
    /// Fresh for no time: a zero lifetime, `Expires` in the past or invalid, or an
    /// upstream `Age` at or past the lifetime.
    Stale,
    /// The body (by `Content-Length`, or as streamed) is over `max_object_bytes`, or the
    /// entry would not fit in `max_bytes` at all.
    TooLarge,
    /// The body ended short of its `Content-Length`.
    Truncated,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            ttl: DEFAULT_TTL,
            methods: vec![Method::Get, Method::Head],
            cacheable_statuses: DEFAULT_STATUSES.to_vec(),
            vary_headers: Vec::new(),
            respect_cache_control: true,
            max_bytes: DEFAULT_MAX_BYTES,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            status_header: Bytes::from_static(DEFAULT_STATUS_HEADER.as_bytes()),
        }
    }
}

impl CachePolicy {
    /// True when `status` may be stored: listed and below 500.
    pub fn is_cacheable_status(&self, status: u16) -> bool {
        status < 500 && self.cacheable_statuses.contains(&status)
    }

    /// True when `name` is one of `vary_headers` (case-insensitive).
    pub fn varies_on(&self, name: &str) -> bool {
        self.vary_headers
            .iter()
            .any(|v| v.eq_ignore_ascii_case(name))
    }

    /// Seconds a pass marker lasts: [`PASS_SECS`], or `ttl` when shorter.
    fn pass_secs(&self) -> u64 {
        self.ttl.as_secs().min(PASS_SECS)
    }
}

impl CacheStatus {
    /// `"HIT"`, `"MISS"` or `"BYPASS"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

impl NoStore {
    /// A short name for logs, e.g. `set_cookie`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoStore::HeadRequest => "head_request",
            NoStore::Status => "status",
            NoStore::SetCookie => "set_cookie",
            NoStore::Vary => "vary",
            NoStore::Authorization => "authorization",
            NoStore::CacheControl => "cache_control",
            NoStore::Stale => "stale",
            NoStore::TooLarge => "too_large",
            NoStore::Truncated => "truncated",
        }
    }

    /// True when the refusal is a property of the response (so the next one is likely
    /// refused too and is worth a pass marker); false for HEAD and for a cut-off body.
    fn leaves_pass(&self) -> bool {
        !matches!(self, NoStore::HeadRequest | NoStore::Truncated)
    }
}
