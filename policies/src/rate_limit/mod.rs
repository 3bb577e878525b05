//! `rate-limit`: exact limits across shards (see [`limiter`] for the lease protocol).
//!
//! The op derives the key, asks the shard's [`LimiterState`], and either passes, refuses
//! with 429, or tells the engine to ask the key's owner shard for a lease and run it again.
//! On the way out it writes the `X-RateLimit-*`, `RateLimit` and `RateLimit-Policy` headers.

pub mod bucket;
pub mod limiter;

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use regex::RegexSet;
use sluice_codec::Headers;

pub use bucket::{Algorithm, Bucket, LimitSpec};
pub use limiter::{Grant, LimiterState, RateInfo, Return, Take};

use crate::identity::Identity;
use crate::ip_filter::forwarded_client;
use crate::Reject;

/// What a limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBy {
    /// The client address (the first `X-Forwarded-For` hop when `trust_forwarded`).
    Ip { trust_forwarded: bool },
    /// A request header's value (falls back to the client address when absent).
    Header(String),
    /// A claim of the verified token (falls back to the client address when absent).
    Claim(String),
    /// The identified consumer (falls back to the client address when anonymous).
    Consumer,
    /// One bucket per route.
    Route,
    /// One bucket for everything the policy covers.
    Global,
}

/// Compiled `rate-limit` options.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Names this limit's buckets: `global:<name>` for a global policy, `route:<pattern>:<name>`
    /// for a route's own, so routes never share buckets by accident.
    pub limit_id: String,
    pub spec: LimitSpec,
    pub key_by: KeyBy,
    /// Paths not limited at all (no headers either).
    pub exclude_paths: Option<RegexSet>,
    /// Default 429.
    pub status: u16,
    /// Default `Rate limit exceeded`.
    pub message: String,
}

/// What the op decided.
#[derive(Debug)]
pub enum RateOutcome {
    /// Passed (or excluded: `None`); the info feeds the response headers.
    Pass(Option<RateInfo>),
    Reject(Reject, RateInfo),
    /// Ask `owner` for a lease on `key`, install it, and run the op again.
    Ask {
        key: String,
        owner: usize,
    },
}

/// What identifies the request for key derivation.
pub struct RequestFacts<'a> {
    pub client: IpAddr,
    pub path: &'a str,
    pub route: &'a str,
    pub headers: &'a Headers,
    pub identity: &'a Identity,
}

impl RateLimit {
    /// The bucket key of this request, or `None` when the path is excluded.
    pub fn key(&self, facts: &RequestFacts<'_>) -> Option<String> {
        if self
            .exclude_paths
            .as_ref()
            .is_some_and(|s| s.is_match(facts.path))
        {
            return None;
        }
        let ip = |trust: bool| -> String {
            let ip = if trust {
                forwarded_client(facts.headers).unwrap_or(facts.client)
            } else {
                facts.client
            };
            format!("ip:{ip}")
        };
        let value = match &self.key_by {
            KeyBy::Ip { trust_forwarded } => ip(*trust_forwarded),
            KeyBy::Header(name) => match facts.headers.get_str(name) {
                Some(v) => format!("h:{v}"),
                None => ip(false),
            },
            KeyBy::Claim(name) => match facts
                .identity
                .claim(name)
                .and_then(crate::jwt::claim_to_header_value)
            {
                Some(v) => format!("c:{v}"),
                None => ip(false),
            },
            KeyBy::Consumer => match facts.identity.consumer_id() {
                Some(id) => format!("u:{id}"),
                None => ip(false),
            },
            KeyBy::Route => format!("r:{}", facts.route),
            KeyBy::Global => "*".to_owned(),
        };
        Some(format!("{}|{value}", self.limit_id))
    }

    /// Request phase for an already-derived key.
    pub fn on_request(
        &self,
        key: &str,
        state: &mut LimiterState,
        now: std::time::Instant,
    ) -> RateOutcome {
        match state.try_take(key, self.spec, now) {
            Take::Allowed(info) => RateOutcome::Pass(Some(info)),
            Take::Denied(info) => RateOutcome::Reject(self.refusal(&info), info),
            Take::Ask { owner } => RateOutcome::Ask {
                key: key.to_owned(),
                owner,
            },
        }
    }

    fn refusal(&self, info: &RateInfo) -> Reject {
        let mut r = Reject::new(self.status, "rate_limited", self.message.clone());
        r.headers
            .push(("retry-after", ceil_secs(info.retry_after).to_string()));
        r
    }
}

/// Writes the rate-limit headers of `info` (both the `X-RateLimit-*` family and the IETF
/// `RateLimit` / `RateLimit-Policy` fields).
pub fn write_headers(info: &RateInfo, headers: &mut Headers) {
    let reset = ceil_secs(info.reset).to_string();
    headers.set("x-ratelimit-limit", Bytes::from(info.limit.to_string()));
    headers.set(
        "x-ratelimit-remaining",
        Bytes::from(info.remaining.to_string()),
    );
    headers.set("x-ratelimit-reset", Bytes::from(reset.clone()));
    headers.set(
        "ratelimit-policy",
        Bytes::from(format!("{};w={}", info.limit, ceil_secs(info.window))),
    );
    headers.set(
        "ratelimit",
        Bytes::from(format!(
            "limit={}, remaining={}, reset={reset}",
            info.limit, info.remaining
        )),
    );
}

/// Whole seconds, rounded up (a client that waits this long will be admitted).
fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn limit(key_by: KeyBy) -> RateLimit {
        RateLimit {
            limit_id: "route:/a:rl".into(),
            spec: LimitSpec {
                max: 2,
                window: Duration::from_secs(60),
                algorithm: Algorithm::TokenBucket,
            },
            key_by,
            exclude_paths: Some(RegexSet::new(["^/health"]).unwrap()),
            status: 429,
            message: "Rate limit exceeded".into(),
        }
    }

    #[test]
    fn keys_by_each_source_and_exclusion() {
        let mut h = Headers::default();
        h.append("x-api", "abc");
        h.append("x-forwarded-for", "198.51.100.1");
        let id = Identity::default();
        let facts = RequestFacts {
            client: "10.0.0.1".parse().unwrap(),
            path: "/a",
            route: "/a",
            headers: &h,
            identity: &id,
        };
        assert_eq!(
            limit(KeyBy::Ip {
                trust_forwarded: false
            })
            .key(&facts)
            .unwrap(),
            "route:/a:rl|ip:10.0.0.1"
        );
        assert_eq!(
            limit(KeyBy::Ip {
                trust_forwarded: true
            })
            .key(&facts)
            .unwrap(),
            "route:/a:rl|ip:198.51.100.1"
        );
        assert_eq!(
            limit(KeyBy::Header("x-api".into())).key(&facts).unwrap(),
            "route:/a:rl|h:abc"
        );
        assert_eq!(
            limit(KeyBy::Consumer).key(&facts).unwrap(),
            "route:/a:rl|ip:10.0.0.1"
        );
        assert_eq!(limit(KeyBy::Global).key(&facts).unwrap(), "route:/a:rl|*");
        let excluded = RequestFacts {
            path: "/health/x",
            ..facts
        };
        assert_eq!(limit(KeyBy::Global).key(&excluded), None);
    }

    #[test]
    fn single_shard_limits_and_refuses_with_retry_after() {
        let l = limit(KeyBy::Global);
        let mut st = LimiterState::new(0, 1, 10);
        let now = Instant::now();
        assert!(
            matches!(l.on_request("k", &mut st, now), RateOutcome::Pass(Some(i)) if i.remaining == 1)
        );
        assert!(matches!(
            l.on_request("k", &mut st, now),
            RateOutcome::Pass(Some(_))
        ));
        match l.on_request("k", &mut st, now) {
            RateOutcome::Reject(r, info) => {
                assert_eq!((r.status, r.code), (429, "rate_limited"));
                assert_eq!(r.headers, vec![("retry-after", "30".to_string())]);
                let mut h = Headers::default();
                write_headers(&info, &mut h);
                assert_eq!(
                    h.get("ratelimit").unwrap().as_ref(),
                    b"limit=2, remaining=0, reset=60"
                );
                assert_eq!(h.get("ratelimit-policy").unwrap().as_ref(), b"2;w=60");
            }
            other => panic!("{other:?}"),
        }
    }
}
