//! `jwt-auth`: bearer tokens verified against an HMAC secret or a JWKS, with a per-shard
//! verified-token cache and a per-shard JWKS cache that refetches on unknown `kid`
//! (at most once per [`REFETCH_INTERVAL`]) and keeps serving the last good key set when a
//! refetch fails (stale-if-error, up to [`STALE_IF_ERROR`]).
//!
//! No I/O here: when keys must be fetched the op says so ([`JwtOutcome::FetchJwks`]); the
//! shard fetches, reports through [`JwtState::jwks_fetch_started`] and
//! [`JwtState::jwks_loaded`] (a failure just leaves the old keys), and runs the op again.

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

/// Least time between two refetches for an unknown `kid` of one URL on one shard.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Least time between two loads (first load or TTL refresh) when the last one failed, so a
/// JWKS endpoint that is down is not asked on every request.
pub const LOAD_RETRY: Duration = Duration::from_secs(5);
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
    last_kid_refetch: Option<Instant>,
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
        let prefix = jwks_cache_key(url, "");
        for (key, cache) in self.verified.iter_mut() {
            if key.starts_with(&prefix) {
                cache.clear();
            }
        }
    }

    /// Whether a load (first load or TTL refresh) of `url` may start now.
    pub fn may_fetch(&self, url: &str, now: Instant) -> bool {
        self.jwks
            .get(url)
            .and_then(|e| e.last_fetch)
            .is_none_or(|t| now.duration_since(t) >= LOAD_RETRY)
    }

    /// Whether an unknown `kid` may trigger a refetch of `url` now; if so, records it.
    fn claim_kid_refetch(&mut self, url: &str, now: Instant) -> bool {
        let e = self.jwks.entry(url.to_owned()).or_default();
        let ok = e
            .last_kid_refetch
            .is_none_or(|t| now.duration_since(t) >= REFETCH_INTERVAL);
        if ok {
            e.last_kid_refetch = Some(now);
        }
        ok
    }

    /// Number of key sets held (for tests and stats).
    pub fn jwks_len(&self) -> usize {
        self.jwks.len()
    }
}

/// The verified-cache key of a JWKS-backed op: the URL and the allowed algorithms, so an
/// op that allows fewer algorithms never trusts a token another op verified.
pub fn jwks_cache_key(url: &str, algorithms: &str) -> String {
    format!("jwks:{url}#{algorithms}")
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
        // Look up before inserting: `entry()` would clone the key String on every request.
        if !state.verified.contains_key(&self.cache_key) {
            state.verified.insert(
                self.cache_key.clone(),
                VerifiedCache::new(VERIFIED_CACHE_ENTRIES, VERIFIED_CACHE_BOUND_SECS),
            );
        }
        let Some(cache) = state.verified.get_mut(&self.cache_key) else {
            return JwtOutcome::Reject(jwks_error());
        };
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
                identity.claims = Some(verified.shared_claims());
                JwtOutcome::Pass
            }
            Err(e) if e.wants_key_refetch() => match &self.keys {
                JwtKeys::Jwks { url, .. } if state.claim_kid_refetch(url, now) => {
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
            let value = crate::urlencoded::query_values(q, name, false).find(|v| !v.is_empty());
            if let Some(v) = value {
                return String::from_utf8(v.into_owned()).map_err(|_| JwtError::MissingToken);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::testing::{jwks, TestKey};
    use serde_json::json;

    fn op(keys: JwtKeys) -> JwtAuth {
        JwtAuth {
            cache_key: "t".into(),
            keys,
            allowed: vec![],
            validation: Validation::default(),
            header_name: "authorization".into(),
            token_prefix: "Bearer".into(),
            query_param: Some("token".into()),
            cookie: Some("jwt".into()),
            forward_claims: vec![("sub".into(), Bytes::from_static(b"x-user"))],
        }
    }

    fn run(
        op: &JwtAuth,
        state: &mut JwtState,
        headers: &mut Headers,
        query: Option<&[u8]>,
    ) -> JwtOutcome {
        let mut id = Identity::default();
        op.on_request(
            state,
            headers,
            query,
            &mut id,
            Instant::now(),
            1_700_000_000,
        )
    }

    #[test]
    fn secret_token_from_each_location() {
        let key = TestKey::hmac(Alg::HS256, &[7u8; 32]);
        let a = op(JwtKeys::Static(Arc::new(key.key_set())));
        let tok = key.mint(&json!({"sub": "bob", "exp": 1_800_000_000u64}));
        let mut st = JwtState::default();
        let mut h = Headers::default();
        h.append("Authorization", format!("Bearer {tok}"));
        assert!(matches!(run(&a, &mut st, &mut h, None), JwtOutcome::Pass));
        assert_eq!(h.get("x-user").unwrap().as_ref(), b"bob");
        let q = format!("a=1&token={tok}");
        assert!(matches!(
            run(&a, &mut st, &mut Headers::default(), Some(q.as_bytes())),
            JwtOutcome::Pass
        ));
        let mut c = Headers::default();
        c.append("cookie", format!("x=1; jwt={tok}"));
        assert!(matches!(run(&a, &mut st, &mut c, None), JwtOutcome::Pass));
        match run(&a, &mut st, &mut Headers::default(), None) {
            JwtOutcome::Reject(r) => assert_eq!(
                (r.status, r.message.as_ref()),
                (401, "Missing bearer token")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jwks_fetch_then_unknown_kid_refetch_is_rate_limited() {
        let k1 = TestKey::generate(Alg::ES256, Some("k1"));
        let k2 = TestKey::generate(Alg::ES256, Some("k2"));
        let url = "http://idp/jwks".to_string();
        let a = op(JwtKeys::Jwks {
            url: url.clone(),
            ttl: Duration::from_secs(300),
        });
        let mut st = JwtState::default();
        let mut h = Headers::default();
        h.append(
            "authorization",
            format!("Bearer {}", k1.mint(&json!({"exp": 1_800_000_000u64}))),
        );
        assert!(matches!(run(&a, &mut st, &mut h, None), JwtOutcome::FetchJwks(u) if u == url));
        let now = Instant::now();
        st.jwks_fetch_started(&url, now);
        st.jwks_loaded(
            &url,
            KeySet::from_jwks_json(jwks(&[&k1]).as_bytes()).unwrap(),
            now,
        );
        assert!(matches!(run(&a, &mut st, &mut h, None), JwtOutcome::Pass));
        // A token from a rotated-in key: one refetch is allowed...
        let mut h2 = Headers::default();
        h2.append(
            "authorization",
            format!("Bearer {}", k2.mint(&json!({"exp": 1_800_000_000u64}))),
        );
        assert!(matches!(
            run(&a, &mut st, &mut h2, None),
            JwtOutcome::FetchJwks(_)
        ));
        // ...and if the new set still lacks the kid, no second one within 30 s.
        st.jwks_loaded(
            &url,
            KeySet::from_jwks_json(jwks(&[&k1]).as_bytes()).unwrap(),
            now,
        );
        match run(&a, &mut st, &mut h2, None) {
            JwtOutcome::Reject(r) => assert_eq!(r.message.as_ref(), "Invalid signature"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_loaded_jwks_is_a_502_once_fetching_is_rate_limited() {
        let url = "http://idp/jwks".to_string();
        let a = op(JwtKeys::Jwks {
            url: url.clone(),
            ttl: Duration::from_secs(300),
        });
        let mut st = JwtState::default();
        st.jwks_fetch_started(&url, Instant::now());
        let mut h = Headers::default();
        h.append("authorization", "Bearer a.b.c");
        match run(&a, &mut st, &mut h, None) {
            JwtOutcome::Reject(r) => assert_eq!((r.status, r.code), (502, "jwks_error")),
            other => panic!("{other:?}"),
        }
    }
}
