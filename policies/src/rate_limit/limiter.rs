//! A shard's rate-limit state: buckets for the keys it owns, leases for keys other shards own.
//!
//! Every key has one owner shard (a fixed hash of the key). The owner's bucket is the truth.
//! Other shards hold small leases: tokens the owner already deducted and handed over, spent
//! locally without a message per request. The owner sizes each lease at a fraction of what
//! is left (`available / (2 × shards)`), so leases shrink as the limit nears and few tokens
//! can be stranded; unused lease tokens go back to the owner after [`LEASE_IDLE`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use super::bucket::{Bucket, LimitSpec};

/// A lease unused this long is returned to its owner.
pub const LEASE_IDLE: Duration = Duration::from_secs(1);
/// Largest lease the owner grants at once.
pub const MAX_LEASE: u64 = 1024;

/// What the headers of a limited response report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u64,
    pub window: Duration,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until the next request may pass (zero when one may pass now).
    pub retry_after: Duration,
}

/// The outcome of trying to take one request's worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Allowed(RateInfo),
    Denied(RateInfo),
    /// This shard holds no lease for the key: ask its owner shard.
    Ask {
        owner: usize,
    },
}

/// The owner's answer to a lease request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub granted: u64,
    /// What the owner still has after this grant.
    pub available: u64,
    pub reset: Duration,
    pub retry_after: Duration,
}

/// Tokens to hand back to an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub owner: usize,
    pub key: String,
    pub spec: LimitSpec,
    pub tokens: u64,
}

#[derive(Debug)]
struct Lease {
    spec: LimitSpec,
    tokens: u64,
    owner_available: u64,
    reset_at: Instant,
    denied_until: Option<Instant>,
    last_used: Instant,
}

/// One shard's rate-limit state. Owned by the shard thread; no locks.
#[derive(Debug)]
pub struct LimiterState {
    shard: usize,
    shards: usize,
    max_keys: usize,
    owned: HashMap<Box<str>, (LimitSpec, Bucket)>,
    leases: HashMap<Box<str>, Lease>,
    evicted: u64,
}

impl Default for LimiterState {
    fn default() -> Self {
        Self::new(0, 1, 1_000_000)
    }
}

impl LimiterState {
    /// State for shard `shard` of `shards`, holding at most `max_keys` owned buckets.
    pub fn new(shard: usize, shards: usize, max_keys: usize) -> Self {
        Self {
            shard,
            shards: shards.max(1),
            max_keys: max_keys.max(1),
            owned: HashMap::new(),
            leases: HashMap::new(),
            evicted: 0,
        }
    }

    /// Sets the bound on owned buckets (from the config; the smallest configured wins).
    pub fn set_max_keys(&mut self, max_keys: usize) {
        self.max_keys = max_keys.max(1);
    }

    /// The shard that owns `key`. The same on every shard: `DefaultHasher::new()` uses fixed keys.
    pub fn owner_of(&self, key: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % self.shards as u64) as usize
    }

    /// Takes one request's worth for `key`, locally when this shard owns the key or holds
    /// lease tokens for it.
    pub fn try_take(&mut self, key: &str, spec: LimitSpec, now: Instant) -> Take {
        let owner = self.owner_of(key);
        if owner == self.shard {
            let bucket = self.owned_bucket(key, spec, now);
            let granted = bucket.take(&spec, 1, now);
            let info = RateInfo {
                limit: spec.max,
                window: spec.window,
                remaining: bucket.available(&spec, now),
                reset: bucket.reset_after(&spec, now),
                retry_after: bucket.retry_after(&spec, now),
            };
            return if granted == 1 {
                Take::Allowed(info)
            } else {
                Take::Denied(info)
            };
        }
        let Some(lease) = self.leases.get_mut(key).filter(|l| l.spec == spec) else {
            return Take::Ask { owner };
        };
        let info = |l: &Lease, retry_after| RateInfo {
            limit: spec.max,
            window: spec.window,
            remaining: l.tokens + l.owner_available,
            reset: l.reset_at.saturating_duration_since(now),
            retry_after,
        };
        if lease.tokens > 0 {
            lease.tokens -= 1;
            lease.last_used = now;
            return Take::Allowed(info(lease, Duration::ZERO));
        }
        match lease.denied_until {
            Some(until) if until > now => Take::Denied(info(lease, until - now)),
            _ => Take::Ask { owner },
        }
    }

    /// Owner side: grants a lease for `key` to another shard.
    pub fn grant(&mut self, key: &str, spec: LimitSpec, now: Instant) -> Grant {
        let shards = self.shards as u64;
        let bucket = self.owned_bucket(key, spec, now);
        let available = bucket.available(&spec, now);
        let size = (available / (2 * shards)).clamp(1, MAX_LEASE);
        let granted = bucket.take(&spec, size, now);
        Grant {
            granted,
            available: bucket.available(&spec, now),
            reset: bucket.reset_after(&spec, now),
            retry_after: bucket.retry_after(&spec, now),
        }
    }

    /// Requester side: installs the owner's grant.
    pub fn install(&mut self, key: &str, spec: LimitSpec, grant: Grant, now: Instant) {
        let lease = self.leases.entry(key.into()).or_insert(Lease {
            spec,
            tokens: 0,
            owner_available: 0,
            reset_at: now,
            denied_until: None,
            last_used: now,
        });
        if lease.spec != spec {
            lease.spec = spec;
            lease.tokens = 0;
        }
        lease.tokens += grant.granted;
        lease.owner_available = grant.available;
        lease.reset_at = now + grant.reset;
        lease.last_used = now;
        lease.denied_until =
            (grant.granted == 0).then(|| now + grant.retry_after.max(Duration::from_millis(1)));
    }

    /// Owner side: takes back unused lease tokens.
    pub fn give_back(&mut self, key: &str, spec: LimitSpec, tokens: u64, now: Instant) {
        if let Some((s, bucket)) = self.owned.get_mut(key) {
            if *s == spec {
                bucket.give_back(&spec, tokens, now);
            }
        }
    }

    /// Drops idle full buckets and returns idle leases; yields what to send back to owners.
    pub fn sweep(&mut self, now: Instant) -> Vec<Return> {
        self.owned
            .retain(|_, (spec, bucket)| !bucket.is_idle(spec, now));
        let mut out = Vec::new();
        let shards = self.shards as u64;
        self.leases.retain(|key, lease| {
            if now.saturating_duration_since(lease.last_used) < LEASE_IDLE {
                return true;
            }
            if lease.tokens > 0 {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                key.hash(&mut h);
                out.push(Return {
                    owner: (h.finish() % shards) as usize,
                    key: key.to_string(),
                    spec: lease.spec,
                    tokens: lease.tokens,
                });
            }
            false
        });
        out
    }

    /// Owned buckets as `(key, requests available now, seconds since last activity)`.
    pub fn list(&mut self, now: Instant) -> Vec<(String, u64, u64)> {
        self.owned
            .iter_mut()
            .map(|(k, (spec, b))| {
                let idle = now.saturating_duration_since(b.last_activity).as_secs();
                (k.to_string(), b.available(spec, now), idle)
            })
            .collect()
    }

    /// Forgets `key` (its bucket if owned here, its lease otherwise); true if it was held.
    pub fn remove(&mut self, key: &str) -> bool {
        let owned = self.owned.remove(key).is_some();
        let leased = self.leases.remove(key).is_some();
        owned || leased
    }

    /// Forgets every bucket and lease; returns how many buckets were owned.
    pub fn clear(&mut self) -> usize {
        let n = self.owned.len();
        self.owned.clear();
        self.leases.clear();
        n
    }

    /// Owned buckets (for stats and the `max_keys` bound).
    pub fn owned_len(&self) -> usize {
        self.owned.len()
    }

    /// Leases held.
    pub fn leases_len(&self) -> usize {
        self.leases.len()
    }

    /// Buckets evicted because `max_keys` was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn owned_bucket(&mut self, key: &str, spec: LimitSpec, now: Instant) -> &mut Bucket {
        if !self.owned.contains_key(key) && self.owned.len() >= self.max_keys {
            self.evict_one(now);
        }
        let entry = self
            .owned
            .entry(key.into())
            .or_insert_with(|| (spec, Bucket::new(&spec, now)));
        if entry.0 != spec {
            // The limit's parameters changed on reload: start afresh under the new ones.
            *entry = (spec, Bucket::new(&spec, now));
        }
        &mut entry.1
    }

    /// Past `max_keys`, the least recently active of a small sample of buckets goes
    /// (sampling keeps this O(1), like Redis's approximate LRU). The evicted key starts
    /// afresh if it comes back: past the bound the limiter fails open for the oldest keys.
    fn evict_one(&mut self, now: Instant) {
        const SAMPLE: usize = 16;
        let victim = self
            .owned
            .iter()
            .take(SAMPLE)
            .min_by_key(|(_, (_, b))| b.last_activity)
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.owned.remove(&k);
            self.evicted += 1;
        }
        let _ = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::bucket::Algorithm;

    fn spec(max: u64) -> LimitSpec {
        LimitSpec {
            max,
            window: Duration::from_secs(60),
            algorithm: Algorithm::TokenBucket,
        }
    }

    /// Two shards draining one key through the lease protocol admit exactly `max`.
    #[test]
    fn two_shards_admit_exactly_max() {
        let now = Instant::now();
        let s = spec(1000);
        let mut shards = [LimiterState::new(0, 2, 100), LimiterState::new(1, 2, 100)];
        let key = "ip|203.0.113.7";
        let owner = shards[0].owner_of(key);
        let mut admitted = 0;
        for round in 0..5000 {
            let me = round % 2;
            match shards[me].try_take(key, s, now) {
                Take::Allowed(_) => admitted += 1,
                Take::Denied(_) => {}
                Take::Ask { owner: o } => {
                    assert_eq!(o, owner);
                    let g = shards[owner].grant(key, s, now);
                    shards[me].install(key, s, g, now);
                }
            }
        }
        assert_eq!(admitted, 1000);
    }

    #[test]
    fn idle_leases_go_back_and_max_keys_evicts() {
        let now = Instant::now();
        let s = spec(100);
        let mut a = LimiterState::new(0, 2, 2);
        let mut b = LimiterState::new(1, 2, 2);
        let key = (0..100)
            .map(|i| format!("k{i}"))
            .find(|k| a.owner_of(k) == 1)
            .unwrap();
        let g = b.grant(&key, s, now);
        assert_eq!(g.granted, 25);
        a.install(&key, s, g, now);
        assert!(matches!(a.try_take(&key, s, now), Take::Allowed(_)));
        let back = a.sweep(now + LEASE_IDLE);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].tokens, 24);
        b.give_back(&key, s, back[0].tokens, now);
        assert_eq!(
            b.owned
                .get(key.as_str())
                .unwrap()
                .1
                .clone()
                .available(&s, now),
            99
        );
        for k in ["x1", "x2", "x3", "x4"] {
            if b.owner_of(k) == 1 {
                b.try_take(k, s, now);
            }
        }
        assert!(b.owned_len() <= 2);
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    /// The budget: about 100 bytes per active key. A bucket entry is the key's bytes
    /// plus this fixed part (the map adds a control byte and load-factor slack per entry).
    #[test]
    fn an_owned_bucket_costs_about_100_bytes_plus_its_key() {
        let fixed = std::mem::size_of::<(Box<str>, (LimitSpec, Bucket))>();
        assert!(
            fixed <= 100,
            "fixed part of a bucket entry is {fixed} bytes"
        );
    }
}
