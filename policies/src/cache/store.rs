//! The per-shard store: entries by key, each key holding up to [`MAX_VARIANTS`] responses
//! told apart by their `Vary` values, in one least-recently-used list bounded by bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use sluice_codec::Headers;

use super::flight::{Flights, Join, MissToken, Pending, SharedFlights};
use super::{CacheKey, CacheStatus, NoStore};
use crate::Answer;

/// Bytes charged per entry on top of its body, headers and key: the entry, its `Rc`, its
/// map and list slots, rounded up.
pub const ENTRY_OVERHEAD: usize = 256;
/// Most responses kept for one key (different `Vary` values); storing another drops the
/// oldest stored one. Bounds the linear scan a lookup does over a key's variants.
pub const MAX_VARIANTS: usize = 16;

/// A slot index in the intrusive LRU list; `NIL` ends it.
type Slot = u32;
const NIL: Slot = Slot::MAX;

/// One shard's response cache for one `cache` op. Not `Send`: keep it in a `RefCell` of the
/// shard's state, and never hold the borrow across an `.await`.
#[derive(Debug)]
pub struct ResponseCache {
    /// Each key's variants, oldest stored first.
    keys: HashMap<Bytes, Vec<Slot>>,
    /// Entries at stable indices; `prev`/`next` link them from most (`head`) to least
    /// (`tail`) recently used, so a hit and an eviction are O(1).
    slots: Vec<Entry>,
    /// Indices of `slots` emptied, reused before the vector grows.
    free: Vec<Slot>,
    head: Slot,
    tail: Slot,
    bytes: usize,
    max_bytes: usize,
    flights: SharedFlights,
}

/// What [`ResponseCache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A fresh stored response whose `Vary` values match the request.
    Hit(Rc<CachedResponse>),
    /// Nothing stored: fetch upstream with this token.
    Miss(MissToken),
    /// Another request on this shard is fetching this key; wait for its outcome.
    Wait(Rc<Pending>),
}

/// A stored response. Shared (`Rc`) between the cache and the requests it answers; an
/// evicted entry lives on until its last reader is done.
#[derive(Debug)]
pub struct CachedResponse {
    /// Upstream status.
    pub status: u16,
    /// Upstream headers without hop-by-hop and framing fields (`Connection` and what it
    /// lists, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
    /// `Content-Length`), `Age`, `Set-Cookie` and the status header. Copied into one
    /// buffer of their own, so they do not pin the upstream read buffer.
    pub headers: Headers,
    /// The whole body.
    pub body: Bytes,
    /// Unix seconds when it was stored.
    pub stored_at: u64,
    /// Unix seconds from which it is no longer served.
    pub expires_at: u64,
    /// The upstream `Age` at store time (0 without one).
    pub initial_age: u64,
    /// The request's values of the response's `Vary` headers at store time.
    pub(crate) vary: Box<[VaryField]>,
}

/// One header named by the response's `Vary`, with the request's value lines.
#[derive(Debug)]
pub(crate) struct VaryField {
    /// Lower-case header name.
    pub name: Box<str>,
    pub values: Box<[Bytes]>,
}

#[derive(Debug)]
struct Entry {
    key: Bytes,
    /// `None` only while the slot is on the free list.
    response: Option<Rc<CachedResponse>>,
    /// Bytes charged for the entry.
    size: usize,
    prev: Slot,
    next: Slot,
}

impl ResponseCache {
    /// An empty cache holding at most `max_bytes` (see
    /// [`CachePolicy::max_bytes`](super::CachePolicy::max_bytes)). Allocates nothing until
    /// the first store.
    pub fn new(max_bytes: usize) -> ResponseCache {
        ResponseCache {
            keys: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            max_bytes,
            flights: Rc::new(RefCell::new(Flights::default())),
        }
    }

    /// Looks `key` up for a request with headers `request` at `now` (unix seconds).
    ///
    /// [`Lookup::Hit`] when a fresh variant matches the request's `Vary` values (it becomes
    /// the most recently used; expired variants met on the way are dropped). Otherwise
    /// [`Lookup::Wait`] when another request is fetching the key, else [`Lookup::Miss`]. A
    /// miss leads the fetch (later lookups wait for it) unless the request is HEAD or
    /// conditional (`If-None-Match`, `If-Modified-Since`, `If-Match`,
    /// `If-Unmodified-Since`: its answer may be a 304 or 412 nobody else can use) or the
    /// key holds a pass marker.
    pub fn lookup(&mut self, key: &CacheKey, request: &Headers, now: u64) -> Lookup {
        if let Some(hit) = self.find(&key.bytes, request, now) {
            return Lookup::Hit(hit);
        }
        let may_lead = !key.head && !is_conditional(request);
        let join = self.flights.borrow_mut().join(&key.bytes, may_lead, now);
        let leader = match join {
            Join::Wait(p) => return Lookup::Wait(p),
            Join::Lead(p) => Some(p),
            Join::Alone => None,
        };
        Lookup::Miss(MissToken::new(
            key.bytes.clone(),
            request,
            key.head,
            leader,
            self.flights.clone(),
        ))
    }

    /// Number of stored responses (each variant counts; expired ones count until met by a
    /// lookup or evicted).
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes charged for what is stored (bodies, headers, keys, and [`ENTRY_OVERHEAD`] per
    /// entry); at most `max_bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Changes the byte bound (a reload changed `max_bytes`), evicting down to it at once.
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        while self.bytes > self.max_bytes && self.tail != NIL {
            self.remove(self.tail);
        }
    }

    /// Number of keys being fetched by a leading [`MissToken`] right now.
    pub fn in_flight(&self) -> usize {
        self.flights.borrow().fetching()
    }

    /// Drops every stored response and pass marker. Fetches in progress go on and may
    /// store when they finish.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.slots.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        self.bytes = 0;
        self.flights.borrow_mut().clear_passes();
    }

    /// Drops every variant stored under `key` (the HEAD and GET keys of a request are the
    /// same) and its pass marker; returns how many responses were dropped. A fetch in
    /// progress for it goes on and may store when it finishes.
    pub fn purge(&mut self, key: &CacheKey) -> usize {
        self.flights.borrow_mut().clear_pass(&key.bytes);
        let Some(slots) = self.keys.get(&key.bytes) else {
            return 0;
        };
        let slots = slots.clone();
        for &slot in &slots {
            self.remove(slot);
        }
        slots.len()
    }

    /// Stores `response` for the request whose key bytes and headers are given, replacing
    /// the variants that request would have been answered with, evicting least recently
    /// used entries until it fits.
    pub(crate) fn insert(
        &mut self,
        key: &Bytes,
        request: &Headers,
        response: CachedResponse,
    ) -> Result<Rc<CachedResponse>, NoStore> {
        let size = response.size() + key.len() + ENTRY_OVERHEAD;
        if size > self.max_bytes {
            return Err(NoStore::TooLarge);
        }
        while let Some(slot) = self.variant(key, |r| r.matches(request)) {
            self.remove(slot);
        }
        while self.bytes + size > self.max_bytes && self.tail != NIL {
            self.remove(self.tail);
        }
        let response = Rc::new(response);
        let entry = Entry {
            key: key.clone(),
            response: Some(response.clone()),
            size,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                // Every entry costs at least ENTRY_OVERHEAD bytes, so a `usize` byte bound
                // keeps the count far below NIL on any 64-bit host.
                (self.slots.len() - 1) as Slot
            }
        };
        self.push_front(slot);
        self.bytes += size;
        let variants = self.keys.entry(key.clone()).or_default();
        variants.push(slot);
        if variants.len() > MAX_VARIANTS {
            let oldest = variants[0];
            self.remove(oldest);
        }
        Ok(response)
    }

    /// The newest fresh variant of `key` matching `request`, made most recently used.
    fn find(&mut self, key: &Bytes, request: &Headers, now: u64) -> Option<Rc<CachedResponse>> {
        loop {
            let slot = self.variant(key, |r| r.matches(request))?;
            let response = self.slots[slot as usize].response.as_ref()?;
            if now >= response.expires_at {
                self.remove(slot);
                continue;
            }
            let hit = response.clone();
            self.unlink(slot);
            self.push_front(slot);
            return Some(hit);
        }
    }

    /// The newest variant of `key` for which `pick` holds.
    fn variant(&self, key: &Bytes, pick: impl Fn(&CachedResponse) -> bool) -> Option<Slot> {
        self.keys.get(key)?.iter().rev().copied().find(|&slot| {
            self.slots[slot as usize]
                .response
                .as_deref()
                .is_some_and(&pick)
        })
    }

    fn remove(&mut self, slot: Slot) {
        self.unlink(slot);
        let entry = &mut self.slots[slot as usize];
        entry.response = None;
        self.bytes -= entry.size;
        entry.size = 0;
        let key = std::mem::take(&mut entry.key);
        if let Some(variants) = self.keys.get_mut(&key) {
            variants.retain(|&s| s != slot);
            if variants.is_empty() {
                self.keys.remove(&key);
            }
        }
        self.free.push(slot);
    }

    fn unlink(&mut self, slot: Slot) {
        let (prev, next) = {
            let e = &self.slots[slot as usize];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
        let e = &mut self.slots[slot as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_front(&mut self, slot: Slot) {
        let old = self.head;
        {
            let e = &mut self.slots[slot as usize];
            e.prev = NIL;
            e.next = old;
        }
        match old {
            NIL => self.tail = slot,
            o => self.slots[o as usize].prev = slot,
        }
        self.head = slot;
    }
}

impl CachedResponse {
    /// Seconds for the `Age` header at `now`: the upstream `Age` plus the time stored.
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.stored_at))
    }

    /// True before `expires_at`.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.expires_at
    }

    /// True when `request` has the same value lines, in order, as the request that stored
    /// this response, for every header the response's `Vary` named (absent matches only
    /// absent). Always true without `Vary`.
    pub fn matches(&self, request: &Headers) -> bool {
        self.vary.iter().all(|f| {
            request
                .get_all(&f.name)
                .map(Bytes::as_ref)
                .eq(f.values.iter().map(Bytes::as_ref))
        })
    }

    /// The answer for a hit at `now`: stored status, headers plus `Age` and
    /// `status_header: HIT`, and the body. The engine frames it (`Content-Length` from the
    /// body; for HEAD, that length and no body).
    pub fn answer(&self, now: u64, status_header: &Bytes) -> Answer {
        let mut headers = self.headers.clone();
        headers.set("age", self.age(now).to_string());
        headers.set(status_header.clone(), CacheStatus::Hit.as_str());
        Answer {
            status: self.status,
            headers,
            body: self.body.clone(),
            delay: Duration::ZERO,
        }
    }

    /// Bytes charged for the response (key and overhead excluded).
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let vary: usize = self
            .vary
            .iter()
            .map(|f| f.name.len() + f.values.iter().map(Bytes::len).sum::<usize>())
            .sum();
        self.body.len() + headers + vary
    }
}

/// True for a request whose upstream answer may be a 304 or 412 meant for it alone.
fn is_conditional(request: &Headers) -> bool {
    request.iter().any(|h| {
        [
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
        ]
        .iter()
        .any(|n| h.name.eq_ignore_ascii_case(n.as_bytes()))
    })
}
