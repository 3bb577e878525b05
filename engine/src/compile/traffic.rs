//! Config -> compiled traffic limits: `rate-limit` and the process-wide bounds of the
//! rate-limit and cache state.

use regex::RegexSet;
use sluice_config::{Config, PolicyKind};

pub(super) fn compile_rate_limit(
    o: &sluice_config::RateLimitOptions,
    limit_id: &str,
) -> sluice_policies::RateLimit {
    use sluice_config::{RateAlgorithm, RateKeyBy};
    use sluice_policies::rate_limit::{Algorithm, KeyBy, LimitSpec};
    let paths = if o.exclude_paths.is_empty() {
        None
    } else {
        RegexSet::new(o.exclude_paths.iter().map(|r| r.as_str())).ok()
    };
    sluice_policies::RateLimit {
        limit_id: limit_id.to_owned(),
        spec: LimitSpec {
            max: o.max,
            window: o.window,
            algorithm: match o.algorithm {
                RateAlgorithm::TokenBucket => Algorithm::TokenBucket,
                RateAlgorithm::SlidingWindow => Algorithm::SlidingWindow,
            },
        },
        key_by: match &o.key_by {
            RateKeyBy::Ip => KeyBy::Ip {
                trust_forwarded: o.trust_forwarded,
            },
            RateKeyBy::Header(h) => KeyBy::Header(h.clone()),
            RateKeyBy::Claim(c) => KeyBy::Claim(c.clone()),
            RateKeyBy::Consumer => KeyBy::Consumer,
            RateKeyBy::Route => KeyBy::Route,
            RateKeyBy::Global => KeyBy::Global,
        },
        exclude_paths: paths,
        status: o.status,
        message: o.message.clone(),
    }
}

/// The smallest `max_keys` of any rate limit (the bound applies per shard).
pub(super) fn rate_limit_max_keys(cfg: &Config) -> usize {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
        .filter_map(|p| match &p.kind {
            PolicyKind::RateLimit(o) => Some(o.max_keys),
            _ => None,
        })
        .min()
        .unwrap_or(1_000_000)
}

/// The smallest per-shard `max_bytes` of any cache policy.
pub(super) fn cache_max_bytes(cfg: &Config) -> usize {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
        .filter_map(|p| match &p.kind {
            PolicyKind::Cache(o) => usize::try_from(o.max_bytes).ok(),
            _ => None,
        })
        .min()
        .unwrap_or(sluice_policies::cache::DEFAULT_MAX_BYTES)
}

/// A `required_claims` value from config: YAML scalars arrive as text, so `true`, `false`
/// and numbers become JSON booleans and numbers again; anything else stays a string.
pub(super) fn required_value(text: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => v,
        _ => serde_json::Value::String(text.to_owned()),
    }
}
