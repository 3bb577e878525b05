//! The per-shard verified-token cache: a token whose signature verified is not verified
//! again on that shard until the earlier of its `exp` and a bound.
//!
//! Keyed by the SHA-256 of the token, so a hit needs a second preimage of a valid token
//! (a 64-bit hash would make a false hit, i.e. an auth bypass, merely unlikely) and an
//! entry costs about 100 bytes however long the token. Bounded by entry count with
//! least-recently-used eviction. No locks: each shard owns one per `jwt-auth` op (in a
//! `RefCell` of its shard state).

use std::collections::HashMap;
use std::rc::Rc;

use ring::digest;

use super::claims::numeric_date;
use super::VerifiedToken;

/// A slot index in the intrusive LRU list; `NIL` ends it.
type Slot = u32;
const NIL: Slot = Slot::MAX;

/// The SHA-256 of a token: the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

/// A bounded LRU of verified tokens. Default: 10 000 entries, 300 s bound.
#[derive(Debug)]
pub struct VerifiedCache {
    map: HashMap<TokenDigest, Slot>,
    /// Entries live at stable indices; `prev`/`next` link them from most (`head`) to
    /// least (`tail`) recently used, so a hit and an eviction are O(1) without a crate.
    entries: Vec<Entry>,
    /// Indices of `entries` emptied by expiry, reused before the vector grows.
    free: Vec<Slot>,
    head: Slot,
    tail: Slot,
    capacity: usize,
    bound_secs: u64,
}

#[derive(Debug)]
struct Entry {
    digest: TokenDigest,
    /// `None` only while the slot is on the free list (so its claims are dropped).
    token: Option<Rc<VerifiedToken>>,
    /// Unix seconds at which the entry stops being served.
    expires_at: u64,
    prev: Slot,
    next: Slot,
}

impl TokenDigest {
    /// Hashes `token`.
    pub fn of(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        TokenDigest(out)
    }
}

impl Default for VerifiedCache {
    fn default() -> Self {
        VerifiedCache::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_BOUND_SECS)
    }
}

impl VerifiedCache {
    /// Default number of entries.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// Default longest time, in seconds, a verified token is served from the cache.
    pub const DEFAULT_BOUND_SECS: u64 = 300;

    /// A cache of at most `capacity` entries (0 disables it; capped at 2^32 - 1), each
    /// kept at most `bound_secs` seconds. Nothing is allocated until the first insert.
    pub fn new(capacity: usize, bound_secs: u64) -> VerifiedCache {
        VerifiedCache {
            map: HashMap::new(),
            entries: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.min(NIL as usize),
            bound_secs,
        }
    }

    /// The verified token for `token` if cached and not expired at `now` (unix seconds);
    /// an expired entry is dropped. A hit becomes the most recently used entry. The
    /// caller must still run the claims checks.
    pub fn get(&mut self, token: &str, now: u64) -> Option<Rc<VerifiedToken>> {
        self.get_digest(&TokenDigest::of(token), now)
    }

    /// [`VerifiedCache::get`] with the digest computed already.
    pub fn get_digest(&mut self, digest: &TokenDigest, now: u64) -> Option<Rc<VerifiedToken>> {
        let slot = *self.map.get(digest)?;
        let entry = &self.entries[slot as usize];
        if now >= entry.expires_at {
            self.remove(slot);
            return None;
        }
        let hit = entry.token.clone();
        self.unlink(slot);
        self.push_front(slot);
        hit
    }

    /// Admits `verified` for `token` until `min(exp, now + bound)` and returns it shared.
    /// Call only once [`decode_and_verify`](super::decode_and_verify) and the claims
    /// checks have passed for this very `token`. Not admitted (but still returned) when
    /// the cache is disabled, `exp` is not a number, or the entry would already be expired. At capacity the least
    /// recently used entry is evicted.
    pub fn insert(&mut self, token: &str, verified: VerifiedToken, now: u64) -> Rc<VerifiedToken> {
        self.insert_digest(TokenDigest::of(token), verified, now)
    }

    /// [`VerifiedCache::insert`] with the digest computed already.
    pub fn insert_digest(
        &mut self,
        digest: TokenDigest,
        verified: VerifiedToken,
        now: u64,
    ) -> Rc<VerifiedToken> {
        let verified = Rc::new(verified);
        let mut expires_at = now.saturating_add(self.bound_secs);
        match numeric_date(verified.claims(), "exp") {
            // Floor: a fractional exp must not stretch the entry past it.
            Ok(Some(exp)) => expires_at = expires_at.min(exp.max(0.0) as u64),
            Ok(None) => {}
            Err(_) => return verified,
        }
        if self.capacity == 0 || expires_at <= now {
            // An older entry for the same token can only be as stale; drop it now.
            if let Some(&slot) = self.map.get(&digest) {
                self.remove(slot);
            }
            return verified;
        }
        if let Some(&slot) = self.map.get(&digest) {
            let entry = &mut self.entries[slot as usize];
            entry.token = Some(verified.clone());
            entry.expires_at = expires_at;
            self.unlink(slot);
            self.push_front(slot);
            return verified;
        }
        let entry = Entry {
            digest,
            token: Some(verified.clone()),
            expires_at,
            prev: NIL,
            next: NIL,
        };
        let slot = if self.map.len() >= self.capacity {
            // Reuse the least recently used slot in place.
            let slot = self.tail;
            self.unlink(slot);
            self.map.remove(&self.entries[slot as usize].digest);
            self.entries[slot as usize] = entry;
            slot
        } else if let Some(slot) = self.free.pop() {
            self.entries[slot as usize] = entry;
            slot
        } else {
            self.entries.push(entry);
            // `capacity` is capped below NIL, so the index fits.
            (self.entries.len() - 1) as Slot
        };
        self.map.insert(digest, slot);
        self.push_front(slot);
        verified
    }

    /// Number of entries (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops every entry (call when the op's keys or allowed algorithms change: a hit
    /// means "verified against these keys").
    pub fn clear(&mut self) {
        self.map.clear();
        self.entries.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    fn remove(&mut self, slot: Slot) {
        self.unlink(slot);
        let entry = &mut self.entries[slot as usize];
        entry.token = None;
        let digest = entry.digest;
        self.map.remove(&digest);
        self.free.push(slot);
    }

    fn unlink(&mut self, slot: Slot) {
        let (prev, next) = {
            let e = &self.entries[slot as usize];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.entries[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entries[n as usize].prev = prev,
        }
        let e = &mut self.entries[slot as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_front(&mut self, slot: Slot) {
        let old = self.head;
        {
            let e = &mut self.entries[slot as usize];
            e.prev = NIL;
            e.next = old;
        }
        match old {
            NIL => self.tail = slot,
            o => self.entries[o as usize].prev = slot,
        }
        self.head = slot;
    }
}
