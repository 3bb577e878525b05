//! Request coalescing: which keys are being fetched on this shard, who waits for them, and
//! which keys recently refused to be stored ("pass" markers).
//!
//! The table sits in an `Rc<RefCell<..>>` shared by the [`ResponseCache`] and every
//! [`MissToken`] it handed out, so a token dropped anywhere (an upstream error, a client
//! gone) takes its key out of the table at once without a reference to the cache.
//!
//! [`ResponseCache`]: super::ResponseCache

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use sluice_codec::Headers;

use super::store::CachedResponse;

/// At most this many pass markers per cache. Past it, expired ones are swept; if none
/// expired, no marker is set (the key then coalesces as usual, which is only slower).
pub const MAX_PASS_MARKERS: usize = 4096;

/// What a fetch others waited on came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The response was stored; serve it (a HIT).
    Stored(Rc<CachedResponse>),
    /// Nothing to share (not cacheable, given up, the fetch failed, or a `Vary` the waiter
    /// does not match): go upstream yourself.
    NotStored,
}

/// A fetch in progress that other requests wait on. Settled exactly once, by the
/// [`MissToken`] (or [`StoreWriter`](super::StoreWriter)) that leads it.
#[derive(Debug, Default)]
pub struct Pending {
    outcome: RefCell<Option<Outcome>>,
    wakers: RefCell<Vec<Waker>>,
}

/// The right, and the duty, to fetch a missed key. Hand it to
/// [`CachePolicy::begin_store`](super::CachePolicy::begin_store) with the response head, or
/// drop it (or call [`MissToken::abandon`]): waiters are then woken with
/// [`Outcome::NotStored`]. Holds a copy of the request's header list (for `Vary`, `Range`
/// and `Authorization` at store time).
#[derive(Debug)]
pub struct MissToken {
    pub(crate) key: Bytes,
    pub(crate) request: Headers,
    pub(crate) head: bool,
    /// `Some` when this request leads the fetch others wait on.
    leader: Option<Rc<Pending>>,
    flights: SharedFlights,
}

pub(crate) type SharedFlights = Rc<RefCell<Flights>>;

/// Keys being fetched, and pass markers.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: HashMap<Bytes, Flight>,
    passes: usize,
}

#[derive(Debug)]
pub(crate) enum Flight {
    Fetching(Rc<Pending>),
    /// Misses before `until` (unix seconds) fetch on their own instead of leading.
    Pass {
        until: u64,
    },
}

/// What a lookup that found no entry should do.
pub(crate) enum Join {
    /// Someone else is fetching: wait for them.
    Wait(Rc<Pending>),
    /// Go upstream; others will wait on this `Pending`.
    Lead(Rc<Pending>),
    /// Go upstream; nobody waits.
    Alone,
}

impl Pending {
    /// The outcome, once settled.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.borrow().clone()
    }

    /// True once the leader stored or gave up.
    pub fn is_settled(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    /// Ready with the outcome for a request with headers `request`: `Stored` only when the
    /// stored entry's `Vary` values match `request`. Pending registers `cx`'s waker (once).
    pub fn poll_outcome(&self, cx: &mut Context<'_>, request: &Headers) -> Poll<Outcome> {
        match &*self.outcome.borrow() {
            Some(Outcome::Stored(r)) if r.matches(request) => {
                return Poll::Ready(Outcome::Stored(r.clone()))
            }
            Some(_) => return Poll::Ready(Outcome::NotStored),
            None => {}
        }
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Waits for the outcome; see [`Pending::poll_outcome`]. Bound the wait with the
    /// request's own deadline: a slow upstream body keeps waiters waiting.
    pub async fn wait(&self, request: &Headers) -> Outcome {
        poll_fn(|cx| self.poll_outcome(cx, request)).await
    }

    /// Records `outcome` (first call only) and wakes every waiter.
    fn settle(&self, outcome: Outcome) {
        {
            let mut slot = self.outcome.borrow_mut();
            if slot.is_some() {
                return;
            }
            *slot = Some(outcome);
        }
        // Taken out first: a waker may run code that polls this `Pending` again.
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }
}

impl MissToken {
    pub(crate) fn new(
        key: Bytes,
        request: &Headers,
        head: bool,
        leader: Option<Rc<Pending>>,
        flights: SharedFlights,
    ) -> MissToken {
        MissToken {
            key,
            request: request.clone(),
            head,
            leader,
            flights,
        }
    }

    /// True when other requests on this shard may be waiting for this fetch.
    pub fn is_leader(&self) -> bool {
        self.leader.is_some()
    }

    /// Gives up the fetch's cache side; waiters get [`Outcome::NotStored`]. Same as drop.
    pub fn abandon(self) {}

    /// Ends the token's part: takes its key out of the flight table (leaving a pass marker
    /// until `pass_until` when given), then settles the waiters. A stored outcome also
    /// clears a pass marker, since the key now hits. Idempotent.
    pub(crate) fn settle(&mut self, outcome: Outcome, pass_until: Option<u64>, now: u64) {
        let leader = self.leader.take();
        let stored = matches!(outcome, Outcome::Stored(_));
        if leader.is_some() || stored || pass_until.is_some() {
            // Never fails (no borrow spans user code); if it ever did, the settled Pending
            // is dropped by the next lookup of this key.
            if let Ok(mut flights) = self.flights.try_borrow_mut() {
                flights.settle(&self.key, leader.as_ref(), stored, pass_until, now);
            }
        }
        if let Some(p) = leader {
            p.settle(outcome);
        }
    }
}

impl Drop for MissToken {
    fn drop(&mut self) {
        self.settle(Outcome::NotStored, None, 0);
    }
}

impl Flights {
    /// What a miss on `key` should do at `now`; registers a new fetch when `may_lead` and
    /// nobody is fetching or passing.
    pub(crate) fn join(&mut self, key: &Bytes, may_lead: bool, now: u64) -> Join {
        match self.map.get(key) {
            Some(Flight::Fetching(p)) if !p.is_settled() => return Join::Wait(p.clone()),
            Some(Flight::Pass { until }) if *until > now => return Join::Alone,
            Some(_) => self.remove(key),
            None => {}
        }
        if !may_lead {
            return Join::Alone;
        }
        let p = Rc::new(Pending::default());
        self.map.insert(key.clone(), Flight::Fetching(p.clone()));
        Join::Lead(p)
    }

    /// Number of keys being fetched (for tests and stats).
    pub(crate) fn fetching(&self) -> usize {
        self.map.len() - self.passes
    }

    /// Drops every pass marker, keeping fetches in progress.
    pub(crate) fn clear_passes(&mut self) {
        self.map.retain(|_, f| matches!(f, Flight::Fetching(_)));
        self.passes = 0;
    }

    /// Drops `key`'s pass marker, if any.
    pub(crate) fn clear_pass(&mut self, key: &Bytes) {
        if let Some(Flight::Pass { .. }) = self.map.get(key) {
            self.remove(key);
        }
    }

    fn settle(
        &mut self,
        key: &Bytes,
        leader: Option<&Rc<Pending>>,
        stored: bool,
        pass_until: Option<u64>,
        now: u64,
    ) {
        match (self.map.get(key), leader) {
            (Some(Flight::Fetching(p)), Some(l)) if Rc::ptr_eq(p, l) => self.remove(key),
            // Someone else leads this key now; leave their fetch alone.
            (Some(Flight::Fetching(_)), _) => return,
            (Some(Flight::Pass { .. }), _) if stored => self.remove(key),
            _ => {}
        }
        if let Some(until) = pass_until.filter(|&u| u > now) {
            self.set_pass(key, until, now);
        }
    }

    fn set_pass(&mut self, key: &Bytes, until: u64, now: u64) {
        match self.map.get_mut(key) {
            Some(Flight::Pass { until: u }) => {
                *u = (*u).max(until);
                return;
            }
            Some(Flight::Fetching(_)) => return,
            None => {}
        }
        if self.passes >= MAX_PASS_MARKERS {
            self.map.retain(|_, f| match f {
                Flight::Fetching(p) => !p.is_settled(),
                Flight::Pass { until } => *until > now,
            });
            self.passes = self
                .map
                .values()
                .filter(|f| matches!(f, Flight::Pass { .. }))
                .count();
            if self.passes >= MAX_PASS_MARKERS {
                return;
            }
        }
        self.map.insert(key.clone(), Flight::Pass { until });
        self.passes += 1;
    }

    fn remove(&mut self, key: &Bytes) {
        if let Some(Flight::Pass { .. }) = self.map.remove(key) {
            self.passes -= 1;
        }
    }
}
