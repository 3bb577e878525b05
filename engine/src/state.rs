//! Per-shard mutable policy state: caches the interpreter consults and fills.
//!
//! One per shard, owned by the shard's thread; `RefCell`s, never locks. Keyed by what the
//! state belongs to (a credential, a JWKS URL), so it survives reloads.

use std::cell::RefCell;

use sluice_policies::{BasicAuthCache, JwtState, LimiterState, OAuth2State};

/// A shard's policy state.
pub struct ShardState {
    /// Buckets this shard owns and leases it holds (see `sluice_policies::rate_limit`).
    pub limiter: RefCell<LimiterState>,
    /// Successful Basic credential checks, so keep-alive clients skip the hash.
    pub basic: RefCell<BasicAuthCache>,
    /// Verified tokens per `jwt-auth` op and key sets per JWKS URL.
    pub jwt: RefCell<JwtState>,
    /// Active introspection results (only when `cache_ttl` is set).
    pub oauth2: RefCell<OAuth2State>,
    /// Responses stored by `cache` ops (keys include the route, so routes never mix).
    pub cache: RefCell<sluice_policies::cache::ResponseCache>,
    /// Circuit breakers by key (breaker id and target or route).
    pub breakers: RefCell<sluice_policies::circuit_breaker::BreakerState>,
    /// Retry budgets by `retry` op identity.
    pub retry_budgets:
        RefCell<std::collections::HashMap<String, sluice_policies::retry::RetryBudget>>,
    /// Shards in this process (budgets are split evenly).
    pub shards: usize,
}

impl ShardState {
    /// State for shard `shard` of `shards` (rate-limit keys are spread over the shards).
    pub fn new(shard: usize, shards: usize) -> Self {
        Self {
            limiter: RefCell::new(LimiterState::new(shard, shards, 1_000_000)),
            basic: RefCell::default(),
            jwt: RefCell::default(),
            oauth2: RefCell::default(),
            cache: RefCell::new(sluice_policies::cache::ResponseCache::new(
                sluice_policies::cache::DEFAULT_MAX_BYTES,
            )),
            breakers: RefCell::default(),
            retry_budgets: RefCell::default(),
            shards: shards.max(1),
        }
    }
}

impl Default for ShardState {
    /// A single-shard state (tests, benches).
    fn default() -> Self {
        Self::new(0, 1)
    }
}
