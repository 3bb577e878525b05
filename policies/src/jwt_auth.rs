//! `jwt-auth`: bearer tokens verified against an HMAC secret or a JWKS, with a per-shard
//! verified-token cache and a per-shard JWKS cache that refetches on unknown `kid`
//! (at most once per [`REFETCH_INTERVAL`]) and keeps serving the last good key set when a
//! refetch fails (stale-if-error, up to [`STALE_IF_ERROR`]).
//!
//! No I/O here: when keys must be fetched the op says so ([`JwtOutcome::FetchJwks`]); the
//! shard fetches, reports through [`JwtState::jwks_loaded`] / [`JwtState::jwks_failed`],
//! and runs the op again.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_codec::Headers;

use crate::identity::Identity;
use crate::jwt::{
    authenticate, bearer_token, claim_at_path, claim_to_header_value, Alg, JwtError, KeySet,
    Validation, VerifiedCache,
};
use crate::Reject;

/// Least time between two JWKS fetches of one URL on one shard.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a key set keeps serving after its TTL when refetches fail.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(24 * 3600);
/// Verified tokens kept per op and shard.
pub const VERIFIED_CACHE_ENTRIES: usize = 10_000;
/// Longest a verified token is trusted without re-verifying its signature.
pub const VERIFIED_CACHE_BOUND_SECS: u64 = 300;

/// Where an op's keys come from.
#[derive(Debug, Clone)]
pub enum JwtKeys {
    /// An HMAC secret, compiled once.
    Static(Arc<KeySet>),
    /// A JWKS URL, fetched per shard.
    Jwks { url: String, ttl: Duration },
}

/// Compiled `jwt-auth` options.
#[derive(Debug, Clone)]
pub struct JwtAuth {
    /// Names this op's verified-token cache: tokens verified against other keys never hit it.
    pub cache_key: String,
    pub keys: JwtKeys,
    /// Allowed algorithms; empty = what the key set's key types allow.
    pub allowed: Vec<Alg>,
    pub validation: Validation,
    /// Lower-case header carrying the token. Default `authorization`.
    pub header_name: String,
    /// Scheme before the token, e.g. `Bearer`; empty = the whole value.
    pub token_prefix: String,
    pub query_param: Option<String>,
    pub cookie: Option<String>,
    /// `(claim path, header name)` pairs copied onto the upstream request.
    pub forward_claims: Vec<(String, Bytes)>,
}

/// What the op decided.
#[derive(Debug)]
pub enum JwtOutcome {
    Pass,
    Reject(Reject),
    /// Fetch the JWKS at this URL, then run the op again.
    FetchJwks(String),
}

/// A shard's JWT state: verified-token caches per op and key sets per JWKS URL.
#[derive(Default)]
pub struct JwtState {
    verified: HashMap<String, VerifiedCache>,
    jwks: HashMap<String, JwksEntry>,
}

#[derive(Default)]
struct JwksEntry {
    keys: Option<Rc<KeySet>>,
    loaded_at: Option<Instant>,
    last_fetch: Option<Instant>,
}

impl JwtState {
    /// Records that a fetch of `url` starts now (rate-limits refetches).
    pub fn jwks_fetch_started(&mut self, url: &str, now: Instant) {
        self.jwks.entry(url.to_owned()).or_default().last_fetch = Some(now);
    }

    /// Installs a freshly fetched key set. Tokens verified against the old set are
    /// forgotten, so a key removed from the JWKS stops working at once.
    pub fn jwks_loaded(&mut self, url: &str, keys: KeySet, now: Instant) {
        let e = self.jwks.entry(url.to_owned()).or_default();
        e.keys = Some(Rc::new(keys));
        e.loaded_at = Some(now);
        if let Some(c) = self.verified.get_mut(&jwks_cache_key(url)) {
            c.clear();
        }
    }

    /// Whether a fetch of `url` may start now.
    pub fn may_fetch(&self, url: &str, now: Instant) -> bool {
        self.jwks
            .get(url)
            .and_then(|e| e.last_fetch)
            .is_none_or(|t| now.duration_since(t) >= REFETCH_INTERVAL)
    }

    /// Number of key sets held (for tests and stats).
    pub fn jwks_len(&self) -> usize {
        self.jwks.len()
    }
}

/// The verified-cache key of a JWKS-backed op.
pub fn jwks_cache_key(url: &str) -> String {
    format!("jwks:{url}")
}

impl JwtAuth {
    /// Request phase. `now` drives JWKS freshness; `unix_now` (seconds) drives `exp`/`nbf`.
    pub fn on_request(
        &self,
        state: &mut JwtState,
        headers: &mut Headers,
        query: Option<&[u8]>,
        identity: &mut Identity,
        now: Instant,
        unix_now: u64,
    ) -> JwtOutcome {
        let token = match self.extract(headers, query) {
            Ok(t) => t,
            Err(e) => return JwtOutcome::Reject(unauthorized(&e)),
        };
        let fetched;
        let keys: &KeySet = match &self.keys {
            JwtKeys::Static(k) => k,
            JwtKeys::Jwks { url, ttl } => match self.jwks_keys(state, url, *ttl, now) {
                Ok(k) => {
                    fetched = k;
                    &fetched
                }
                Err(outcome) => return outcome,
            },
        };
        let allowed: std::borrow::Cow<'_, [Alg]> = if self.allowed.is_empty() {
            keys.default_algorithms().into()
        } else {
            (&self.allowed[..]).into()
        };
        let cache = state
            .verified
            .entry(self.cache_key.clone())
            .or_insert_with(|| {
                VerifiedCache::new(VERIFIED_CACHE_ENTRIES, VERIFIED_CACHE_BOUND_SECS)
            });
        match authenticate(&token, keys, &allowed, &self.validation, cache, unix_now) {
            Ok(verified) => {
                for (path, header) in &self.forward_claims {
                    if let Some(v) =
                        claim_at_path(verified.claims(), path).and_then(claim_to_header_value)
                    {
                        if sluice_codec::is_valid_header_value(v.as_bytes()) {
                            headers.set(header.clone(), Bytes::from(v));
                        }
                    }
                }
                identity.claims = Some(Rc::new(verified.claims().clone()));
                JwtOutcome::Pass
            }
            Err(e) if e.wants_key_refetch() => match &self.keys {
                JwtKeys::Jwks { url, .. } if state.may_fetch(url, now) => {
                    JwtOutcome::FetchJwks(url.clone())
                }
                _ => JwtOutcome::Reject(unauthorized(&e)),
            },
            Err(e) if e.is_key_source_error() => JwtOutcome::Reject(jwks_error()),
            Err(e) => JwtOutcome::Reject(unauthorized(&e)),
        }
    }

    /// The key set for `url`, or what to do instead (fetch, or 502 when none ever loaded).
    fn jwks_keys(
        &self,
        state: &JwtState,
        url: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<Rc<KeySet>, JwtOutcome> {
        let entry = state.jwks.get(url);
        let may_fetch = state.may_fetch(url, now);
        match entry.and_then(|e| Some((e.keys.clone()?, e.loaded_at?))) {
            None if may_fetch => Err(JwtOutcome::FetchJwks(url.to_owned())),
            None => Err(JwtOutcome::Reject(jwks_error())),
            Some((keys, loaded)) => {
                let age = now.duration_since(loaded);
                if age < ttl {
                    Ok(keys)
                } else if may_fetch {
                    Err(JwtOutcome::FetchJwks(url.to_owned()))
                } else if age < ttl + STALE_IF_ERROR {
                    // The last refresh failed recently: serve the last good keys.
                    Ok(keys)
                } else {
                    Err(JwtOutcome::Reject(jwks_error()))
                }
            }
        }
    }

    /// The token from the header, else the query parameter, else the cookie.
    fn extract(&self, headers: &Headers, query: Option<&[u8]>) -> Result<String, JwtError> {
        if let Some(v) = headers.get_str(&self.header_name) {
            return bearer_token(v, &self.token_prefix).map(str::to_owned);
        }
        if let (Some(name), Some(q)) = (&self.query_param, query) {
            for pair in q.split(|&b| b == b'&') {
                let (k, v) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &b""[..]),
                };
                if k == name.as_bytes() && !v.is_empty() {
                    return percent_decode(v).ok_or(JwtError::MissingToken);
                }
            }
        }
        if let Some(name) = &self.cookie {
            for v in headers.get_all("cookie") {
                let Ok(v) = std::str::from_utf8(v) else {
                    continue;
                };
                for c in v.split(';') {
                    if let Some((k, val)) = c.trim().split_once('=') {
                        if k == name && !val.is_empty() {
                            return Ok(val.to_owned());
                        }
                    }
                }
            }
        }
        Err(JwtError::MissingToken)
    }
}

fn unauthorized(e: &JwtError) -> Reject {
    let mut r = Reject::new(401, "unauthorized", e.message());
    r.headers
        .push(("www-authenticate", e.www_authenticate().to_owned()));
    r
}

fn jwks_error() -> Reject {
    Reject::new(502, "jwks_error", "Signing keys are unavailable")
}

fn percent_decode(v: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let hex = std::str::from_utf8(v.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
