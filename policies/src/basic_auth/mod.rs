//! `basic-auth`: identify the caller by `Authorization: Basic` credentials (RFC 7617).

use std::collections::HashSet;
use std::mem;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use ring::digest::{Context, SHA256};
use sluice_codec::Headers;

use crate::consumers::{ConsumerRegistry, StoredHash};
use crate::identity::Identity;
use crate::Reject;

/// Longest `Authorization` value looked at. Real credentials are far shorter; the bound
/// keeps a hostile header from costing a large decode and copy.
const MAX_AUTHORIZATION_BYTES: usize = 4 * 1024;

/// Compiled `basic-auth` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// Realm sent in `WWW-Authenticate` on refusal. Default `Restricted`.
    pub realm: String,
    /// Header set to the consumer's id for the upstream, replacing any value the client
    /// sent. Default `Some("x-consumer-id")`; `None` forwards nothing.
    pub forward_consumer_header: Option<String>,
}

/// Per-shard cache of credentials that verified, so a keep-alive client pays the password
/// hash once per shard rather than on every request.
///
/// Entries are SHA-256 digests of (username, password, stored hash): no password is kept,
/// the stored hash acts as a salt, and a changed password hash in a new config no longer
/// matches old entries. Failures are never stored. Eviction is two generations (hot and
/// cold, each up to half the capacity): a hit in cold moves to hot, and when hot is full
/// cold is dropped and hot becomes cold. That keeps recently used entries like an LRU with
/// plain hash sets and no per-hit bookkeeping.
#[derive(Debug, Clone)]
pub struct BasicAuthCache {
    hot: HashSet<[u8; 32]>,
    cold: HashSet<[u8; 32]>,
    generation_cap: usize,
    hash_checks: u64,
}

impl Default for BasicAuth {
    fn default() -> Self {
        Self {
            realm: "Restricted".into(),
            forward_consumer_header: Some("x-consumer-id".into()),
        }
    }
}

impl BasicAuth {
    /// Request phase: checks the credentials against `registry` and records the consumer.
    ///
    /// Errors: 401 `unauthorized` with `WWW-Authenticate: Basic realm="<realm>"` and
    /// "Missing credentials" (no `Authorization`, or another scheme) or "Invalid credentials"
    /// (malformed, repeated header, unknown user, wrong password). An unknown user is checked
    /// against a real stored hash anyway, so timing does not reveal which usernames exist.
    ///
    /// On success sets `identity.consumer`, removes `Authorization` so the upstream never
    /// sees the password, and sets `forward_consumer_header`. A cache miss costs one argon2
    /// or bcrypt verification on the calling thread.
    pub fn on_request(
        &self,
        registry: &ConsumerRegistry,
        cache: &mut BasicAuthCache,
        headers: &mut Headers,
        identity: &mut Identity,
    ) -> Result<(), Reject> {
        let consumer = {
            let mut values = headers.get_all("authorization");
            let value = values
                .next()
                .ok_or_else(|| self.reject("Missing credentials"))?;
            // Two credentials are ambiguous: a proxy in front might check the other one.
            if values.next().is_some() {
                return Err(self.reject("Invalid credentials"));
            }
            let decoded = match parse_basic(value) {
                Parsed::Credentials(d) => d,
                Parsed::OtherScheme => return Err(self.reject("Missing credentials")),
                Parsed::Malformed => return Err(self.reject("Invalid credentials")),
            };
            let (user, password) = match decoded.iter().position(|&b| b == b':') {
                Some(i) => (&decoded[..i], &decoded[i + 1..]),
                None => return Err(self.reject("Invalid credentials")),
            };
            let found = std::str::from_utf8(user)
                .ok()
                .and_then(|u| registry.basic_user(u));
            match found {
                Some((consumer, hash)) if cache.check(user, password, hash) => consumer.clone(),
                Some(_) => return Err(self.reject("Invalid credentials")),
                None => {
                    if let Some(dummy) = registry.dummy_hash() {
                        cache.hash_checks += 1;
                        std::hint::black_box(dummy.verify(password));
                    }
                    return Err(self.reject("Invalid credentials"));
                }
            }
        };
        headers.remove("authorization");
        if let Some(name) = &self.forward_consumer_header {
            headers.set(Bytes::from(name.clone()), Bytes::from(consumer.id.clone()));
        }
        identity.consumer = Some(consumer);
        Ok(())
    }

    /// A 401 carrying the challenge for this realm.
    fn reject(&self, message: &'static str) -> Reject {
        let realm = self.realm.replace('\\', "\\\\").replace('"', "\\\"");
        let mut r = Reject::new(401, "unauthorized", message);
        r.headers
            .push(("WWW-Authenticate", format!("Basic realm=\"{realm}\"")));
        r
    }
}

impl BasicAuthCache {
    /// Entries kept by [`BasicAuthCache::default`].
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty cache holding at most `capacity` entries (at least 2).
    pub fn new(capacity: usize) -> Self {
        let generation_cap = (capacity / 2).max(1);
        Self {
            hot: HashSet::with_capacity(generation_cap.min(1024)),
            cold: HashSet::new(),
            generation_cap,
            hash_checks: 0,
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Password hash verifications run through this cache so far (misses, and unknown
    /// users checked against the dummy hash); for metrics and tests.
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.hot.clear();
        self.cold.clear();
    }

    /// True when `password` is right for the user whose stored hash is `hash`; from the
    /// cache when this exact triple verified before, else by verifying and caching success.
    fn check(&mut self, user: &[u8], password: &[u8], hash: &StoredHash) -> bool {
        let key = cache_key(user, password, hash);
        if self.hot.contains(&key) {
            return true;
        }
        if self.cold.remove(&key) {
            self.insert(key);
            return true;
        }
        self.hash_checks += 1;
        let ok = hash.verify(password);
        if ok {
            self.insert(key);
        }
        ok
    }

    fn insert(&mut self, key: [u8; 32]) {
        if self.hot.len() >= self.generation_cap {
            self.cold = mem::take(&mut self.hot);
        }
        self.hot.insert(key);
    }
}

impl Default for BasicAuthCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

enum Parsed {
    Credentials(Vec<u8>),
    OtherScheme,
    Malformed,
}

/// Splits `Basic <base64>` and decodes the payload with strict, padded base64.
fn parse_basic(value: &[u8]) -> Parsed {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Parsed::Malformed;
    }
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Parsed::OtherScheme;
    }
    let payload = rest.trim_ascii();
    match STANDARD.decode(payload) {
        Ok(decoded) if !payload.is_empty() => Parsed::Credentials(decoded),
        _ => Parsed::Malformed,
    }
}

/// SHA-256 of the length-prefixed username, password and stored hash; the prefixes make
/// the encoding unambiguous whatever bytes the parts contain.
fn cache_key(user: &[u8], password: &[u8], hash: &StoredHash) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    for part in [user, password, hash.text.as_bytes()] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests;
