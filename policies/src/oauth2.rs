//! `oauth2`: RFC 7662 token introspection.
//!
//! No I/O here: when the token is not cached the op asks for an introspection call
//! ([`OAuth2Outcome::Introspect`]); the shard POSTs it and runs the op again with the answer.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value};
use sluice_codec::Headers;

use crate::identity::Identity;
use crate::jwt::{bearer_token, claim_to_header_value};
use crate::Reject;

/// Cached introspection results kept per shard before the cache is emptied.
pub const MAX_CACHED: usize = 10_000;

/// Where the token is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Header,
    /// The `access_token` query parameter.
    Query,
}

/// Compiled `oauth2` options.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    /// Names this op's cache entries (introspection URL and client id).
    pub cache_key: String,
    /// Key of the introspection endpoint in the snapshot's side-call targets.
    pub url: String,
    pub token_source: TokenSource,
    pub required_scopes: Vec<String>,
    /// Zero = ask the endpoint on every request.
    pub cache_ttl: Duration,
    /// `(field, header)` pairs copied onto the upstream request.
    pub forward_token_info: Vec<(String, Bytes)>,
}

/// The introspection endpoint's answer as the shard saw it: status and body, or why the
/// call failed.
pub type IntrospectionAnswer = Result<(u16, Bytes), String>;

/// What the op decided.
#[derive(Debug)]
pub enum OAuth2Outcome {
    Pass,
    Reject(Reject),
    /// Introspect this token at `OAuth2::url`, then run the op again with the answer.
    Introspect(String),
}

/// An op's cache key plus the SHA-256 of the token.
type CacheKey = (String, [u8; 32]);

/// An active introspection result and when it stops being trusted.
type CachedInfo = (Rc<Map<String, Value>>, Instant);

/// A shard's cache of active introspection results.
#[derive(Default)]
pub struct OAuth2State {
    cache: HashMap<CacheKey, CachedInfo>,
}

impl OAuth2State {
    /// Number of cached results.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

impl OAuth2 {
    /// Request phase. `answer` is the introspection result when the shard just made the call.
    #[allow(clippy::too_many_arguments)] // each is a distinct input of one request
    pub fn on_request(
        &self,
        state: &mut OAuth2State,
        headers: &mut Headers,
        query: Option<&[u8]>,
        identity: &mut Identity,
        answer: Option<IntrospectionAnswer>,
        now: Instant,
        unix_now: u64,
    ) -> OAuth2Outcome {
        let Some(token) = self.extract(headers, query) else {
            return OAuth2Outcome::Reject(unauthorized("Missing bearer token", "Bearer"));
        };
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or([0; 32]);
        let key = (self.cache_key.clone(), digest);
        let cached = state
            .cache
            .get(&key)
            .filter(|(_, expires)| *expires > now)
            .map(|(info, _)| info.clone());
        let info = match (cached, answer) {
            (Some(info), _) => info,
            (None, None) => return OAuth2Outcome::Introspect(token),
            (None, Some(Err(e))) => return OAuth2Outcome::Reject(introspection_error(&e)),
            (None, Some(Ok((status, body)))) => {
                if status != 200 {
                    return OAuth2Outcome::Reject(introspection_error(&format!("status {status}")));
                }
                let Ok(Value::Object(info)) = serde_json::from_slice::<Value>(&body) else {
                    return OAuth2Outcome::Reject(introspection_error(
                        "answer is not a JSON object",
                    ));
                };
                if info.get("active") != Some(&Value::Bool(true)) {
                    return OAuth2Outcome::Reject(invalid_token());
                }
                let info = Rc::new(info);
                if !self.cache_ttl.is_zero() {
                    // Never past the token's own expiry.
                    let left = exp_of(&info)
                        .map(|exp| Duration::from_secs(exp.saturating_sub(unix_now)))
                        .unwrap_or(self.cache_ttl);
                    if state.cache.len() >= MAX_CACHED {
                        state.cache.clear();
                    }
                    state
                        .cache
                        .insert(key, (info.clone(), now + self.cache_ttl.min(left)));
                }
                info
            }
        };
        if exp_of(&info).is_some_and(|exp| exp < unix_now) {
            return OAuth2Outcome::Reject(invalid_token());
        }
        let scopes: Vec<&str> = info
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_ascii_whitespace().collect())
            .unwrap_or_default();
        if !self
            .required_scopes
            .iter()
            .all(|r| scopes.contains(&r.as_str()))
        {
            let mut r = Reject::new(403, "forbidden", "Insufficient scope");
            r.headers.push((
                "www-authenticate",
                "Bearer error=\"insufficient_scope\"".to_owned(),
            ));
            return OAuth2Outcome::Reject(r);
        }
        for (field, header) in &self.forward_token_info {
            if let Some(v) = info.get(field).and_then(claim_to_header_value) {
                headers.set(header.clone(), Bytes::from(v));
            }
        }
        identity.claims = Some(info);
        OAuth2Outcome::Pass
    }

    fn extract(&self, headers: &Headers, query: Option<&[u8]>) -> Option<String> {
        match self.token_source {
            TokenSource::Header => headers
                .get_str("authorization")
                .and_then(|v| bearer_token(v, "Bearer").ok())
                .map(str::to_owned),
            TokenSource::Query => query?
                .split(|&b| b == b'&')
                .find_map(|pair| pair.strip_prefix(b"access_token="))
                .filter(|v| !v.is_empty())
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned),
        }
    }
}

fn exp_of(info: &Map<String, Value>) -> Option<u64> {
    info.get("exp").and_then(Value::as_u64)
}

fn unauthorized(message: &'static str, challenge: &str) -> Reject {
    let mut r = Reject::new(401, "unauthorized", message);
    r.headers.push(("www-authenticate", challenge.to_owned()));
    r
}

fn invalid_token() -> Reject {
    unauthorized("Invalid token", "Bearer error=\"invalid_token\"")
}

fn introspection_error(why: &str) -> Reject {
    Reject::new(
        502,
        "introspection_error",
        format!("Token introspection failed: {why}"),
    )
}

/// The form body of an introspection request for `token` (RFC 7662 section 2.1).
pub fn introspection_body(token: &str) -> Bytes {
    let mut out = String::with_capacity(token.len() + 40);
    out.push_str("token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("&token_type_hint=access_token");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(ttl: u64) -> OAuth2 {
        OAuth2 {
            cache_key: "k".into(),
            url: "http://idp/introspect".into(),
            token_source: TokenSource::Header,
            required_scopes: vec!["read".into()],
            cache_ttl: Duration::from_secs(ttl),
            forward_token_info: vec![("sub".into(), Bytes::from_static(b"x-user"))],
        }
    }

    fn headers() -> Headers {
        let mut h = Headers::default();
        h.append("authorization", "Bearer tok-1");
        h
    }

    fn answer(v: serde_json::Value) -> Option<IntrospectionAnswer> {
        Some(Ok((200, Bytes::from(v.to_string()))))
    }

    fn run(
        o: &OAuth2,
        st: &mut OAuth2State,
        h: &mut Headers,
        a: Option<IntrospectionAnswer>,
    ) -> OAuth2Outcome {
        o.on_request(
            st,
            h,
            None,
            &mut Identity::default(),
            a,
            Instant::now(),
            1_000,
        )
    }

    #[test]
    fn asks_then_passes_and_forwards() {
        let o = op(0);
        let mut st = OAuth2State::default();
        let mut h = headers();
        assert!(
            matches!(run(&o, &mut st, &mut h, None), OAuth2Outcome::Introspect(t) if t == "tok-1")
        );
        let a = answer(json!({"active": true, "scope": "read write", "sub": "bob", "exp": 2000}));
        assert!(matches!(run(&o, &mut st, &mut h, a), OAuth2Outcome::Pass));
        assert_eq!(h.get("x-user").unwrap().as_ref(), b"bob");
        assert!(st.is_empty(), "cache_ttl 0 caches nothing");
    }

    #[test]
    fn inactive_scope_and_errors() {
        let o = op(0);
        let mut st = OAuth2State::default();
        let reject = |out| match out {
            OAuth2Outcome::Reject(r) => (r.status, r.code, r.message.to_string()),
            other => panic!("{other:?}"),
        };
        let a = answer(json!({"active": false}));
        assert_eq!(reject(run(&o, &mut st, &mut headers(), a)).0, 401);
        let a = answer(json!({"active": true, "scope": "write"}));
        assert_eq!(
            reject(run(&o, &mut st, &mut headers(), a)),
            (403, "forbidden", "Insufficient scope".into())
        );
        let down = Some(Err("connection refused".to_string()));
        assert_eq!(
            reject(run(&o, &mut st, &mut headers(), down)).1,
            "introspection_error"
        );
        assert_eq!(
            reject(run(&o, &mut st, &mut Headers::default(), None)).0,
            401
        );
    }

    #[test]
    fn caches_active_results_up_to_ttl() {
        let o = op(60);
        let mut st = OAuth2State::default();
        let a = answer(json!({"active": true, "scope": "read", "exp": 5000}));
        assert!(matches!(
            run(&o, &mut st, &mut headers(), a),
            OAuth2Outcome::Pass
        ));
        assert_eq!(st.len(), 1);
        assert!(matches!(
            run(&o, &mut st, &mut headers(), None),
            OAuth2Outcome::Pass
        ));
    }

    #[test]
    fn form_body_is_encoded() {
        assert_eq!(
            &introspection_body("a+b/c")[..],
            b"token=a%2Bb%2Fc&token_type_hint=access_token"
        );
    }
}
