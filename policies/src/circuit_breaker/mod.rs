//! `circuit-breaker` (default priority 30): stop calling an upstream that keeps failing.
//!
//! Each key (a target address or a route, per [`Scope`]) has a [`Breaker`]:
//!
//! ```text
//!   Closed --(failure_threshold failures, or failure_rate, within the rolling window)--> Open
//!   Open   --(reset_timeout passed; the next admit becomes a probe)--------------> HalfOpen
//!   HalfOpen --(half_open_max probes succeed)--> Closed
//!   HalfOpen --(any probe fails)---------------> Open
//! ```
//!
//! The engine calls [`BreakerState::admit`] before each upstream attempt and
//! [`BreakerState::record`] with its outcome. Both return a [`Transition`] when the state
//! changed, for the engine to log and count. A refused attempt becomes 503 `circuit_open`
//! with `Retry-After` ([`CircuitBreaker::refusal`]).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::retry::AttemptOutcome;
use crate::rolling::Rolling;
use crate::Reject;

/// Default `failure_threshold` when neither it nor `failure_rate` is given.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default `window` for `failure_rate`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// Default `min_requests`: fewer requests in the window never trip on rate.
pub const DEFAULT_MIN_REQUESTS: u32 = 10;
/// Default `reset_timeout`: how long the breaker stays open.
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `half_open_max`: probes allowed at once while half-open.
pub const DEFAULT_HALF_OPEN_MAX: u32 = 1;
/// Default `failure_on` statuses.
pub const DEFAULT_FAILURE_ON: [u16; 4] = [500, 502, 503, 504];
/// `Retry-After` of a refusal while half-open with every probe slot taken: probes are
/// usually answered quickly, so the client is told to come back soon.
pub const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What one breaker covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// One breaker per upstream target address (default).
    #[default]
    Target,
    /// One breaker for the whole route, whatever target served it.
    Route,
}

/// Compiled `circuit-breaker` options. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreaker {
    /// Names this breaker's keys (e.g. `route:<pattern>:<name>` or `global:<name>`) so two
    /// breakers with different options never share state; see [`CircuitBreaker::key`].
    pub breaker_id: String,
    /// Per target (default) or per route.
    pub scope: Scope,
    /// Open after this many failures within `window`; `None` disables the check. Default
    /// [`DEFAULT_FAILURE_THRESHOLD`] (the compiler leaves it `None` when only
    /// `failure_rate` is given). Zero counts as one.
    pub failure_threshold: Option<u32>,
    /// Open when at least this share (`0.0..=1.0`) of the requests in `window` failed and
    /// there were at least `min_requests`; `None` (default) disables the check. When both
    /// checks are set, either one opens the breaker.
    pub failure_rate: Option<f64>,
    /// Rolling window of the rate check, kept in 10 buckets; default 10 s.
    pub window: Duration,
    /// Requests the window must hold before the rate check applies; default 10, zero counts
    /// as one.
    pub min_requests: u32,
    /// How long the breaker stays open before it lets probes through; default 30 s. Also how
    /// long a probe may stay unanswered before its slot is given to a new probe.
    pub reset_timeout: Duration,
    /// Probes allowed in flight while half-open, and probe successes needed to close;
    /// default 1, zero counts as one.
    pub half_open_max: u32,
    /// Upstream statuses that count as failures; default 500, 502, 503, 504. Connect errors,
    /// resets and timeouts always count.
    pub failure_on: Vec<u16>,
}

/// The verdict on one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// The state name of a breaker, for transitions, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Closed,
    Open,
    HalfOpen,
}

/// A state change, returned so the engine can log and count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
}

/// One key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    /// Requests pass; failures are counted.
    Closed,
    /// Requests are refused until `until`.
    Open { until: Instant },
    /// Up to `half_open_max` probes pass; `successes` probes have succeeded so far.
    HalfOpen { in_flight: u32, successes: u32 },
}

/// Marks an admitted attempt as a half-open probe. Hand it back to
/// [`BreakerState::record`] with the outcome, or to [`BreakerState::release`] when the
/// attempt ended without one (e.g. the client went away). A token from before the breaker
/// last changed state is ignored.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a probe token must go back to record() or release()"]
pub struct ProbeToken {
    generation: u64,
}

/// The answer to [`BreakerState::admit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Call the upstream; `Some` when the attempt is a half-open probe.
    Allowed(Option<ProbeToken>),
    /// Do not call the upstream; answer 503 with this `Retry-After`.
    Refused { retry_after: Duration },
}

/// One shard's breakers, by key. Owned by the shard thread; no locks. Survives reloads:
/// entries are looked up by key and take the options passed with each call.
#[derive(Debug, Default)]
pub struct BreakerState {
    entries: HashMap<Box<str>, Entry>,
}

#[derive(Debug)]
struct Entry {
    breaker: Breaker,
    /// Failures since the last success (closed only).
    consecutive: u32,
    /// Requests and failures over `window` (closed only).
    window: Rolling,
    /// Bumped on every entry into half-open; probe tokens carry it.
    generation: u64,
    /// While half-open: when the newest probe counts as lost.
    probe_deadline: Instant,
    last_seen: Instant,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            breaker_id: String::new(),
            scope: Scope::Target,
            failure_threshold: Some(DEFAULT_FAILURE_THRESHOLD),
            failure_rate: None,
            window: DEFAULT_WINDOW,
            min_requests: DEFAULT_MIN_REQUESTS,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            half_open_max: DEFAULT_HALF_OPEN_MAX,
            failure_on: DEFAULT_FAILURE_ON.to_vec(),
        }
    }
}

impl CircuitBreaker {
    /// The state key for an attempt on `route` (the route's stable id) served by `target`
    /// (the target address): `<breaker_id>|t:<target>` or `<breaker_id>|r:<route>` by scope.
    pub fn key(&self, route: &str, target: &str) -> String {
        match self.scope {
            Scope::Target => format!("{}|t:{target}", self.breaker_id),
            Scope::Route => format!("{}|r:{route}", self.breaker_id),
        }
    }

    /// Classifies an attempt: a failure when it could not connect, was reset, timed out, or
    /// answered a `failure_on` status; otherwise a success (including an attempt with no
    /// status and no error, which the engine should rather not record at all).
    pub fn outcome(&self, attempt: &AttemptOutcome) -> Outcome {
        let failed = attempt.connect_error
            || attempt.reset
            || attempt.timeout
            || attempt.status.is_some_and(|s| self.failure_on.contains(&s));
        if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// 503 `circuit_open` with `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn refusal(retry_after: Duration) -> Reject {
        let mut secs = retry_after.as_secs();
        if retry_after.subsec_nanos() > 0 {
            secs += 1;
        }
        let mut r = Reject::new(
            503,
            "circuit_open",
            "Upstream is failing; circuit breaker open",
        );
        r.headers.push(("retry-after", secs.max(1).to_string()));
        r
    }

    fn trips(&self, e: &Entry, now: Instant) -> bool {
        // `failure_threshold` counts failures within the rolling window (a success in
        // between does not forgive them), as the window is what operators configure.
        let [_, window_failures] = e.window.totals(now);
        if self
            .failure_threshold
            .is_some_and(|t| window_failures >= u64::from(t.max(1)))
        {
            return true;
        }
        self.failure_rate.is_some_and(|rate| {
            let [requests, failures] = e.window.totals(now);
            requests >= u64::from(self.min_requests.max(1))
                && failures as f64 >= rate * requests as f64
        })
    }
}

impl Phase {
    /// `closed`, `open` or `half_open`, for logs and metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Breaker {
    /// The state's name.
    pub fn phase(&self) -> Phase {
        match self {
            Breaker::Closed => Phase::Closed,
            Breaker::Open { .. } => Phase::Open,
            Breaker::HalfOpen { .. } => Phase::HalfOpen,
        }
    }
}

impl BreakerState {
    /// An empty state (every key starts closed).
    pub fn new() -> Self {
        Self::default()
    }

    /// Before an upstream attempt on `key`: whether it may go, and the transition when an
    /// open breaker's `reset_timeout` has passed (open to half-open; this attempt is then the
    /// first probe). Refusals carry the time left open, or [`HALF_OPEN_RETRY_AFTER`] when
    /// half-open with every probe slot taken.
    pub fn admit(
        &mut self,
        cb: &CircuitBreaker,
        key: &str,
        now: Instant,
    ) -> (Admission, Option<Transition>) {
        let e = self.entry(cb, key, now);
        let max = cb.half_open_max.max(1);
        match &mut e.breaker {
            Breaker::Closed => (Admission::Allowed(None), None),
            Breaker::Open { until } if now < *until => {
                let retry_after = *until - now;
                (Admission::Refused { retry_after }, None)
            }
            Breaker::Open { .. } => {
                e.generation += 1;
                e.breaker = Breaker::HalfOpen {
                    in_flight: 1,
                    successes: 0,
                };
                e.probe_deadline = now + cb.reset_timeout;
                let token = ProbeToken {
                    generation: e.generation,
                };
                let transition = Transition {
                    from: Phase::Open,
                    to: Phase::HalfOpen,
                };
                (Admission::Allowed(Some(token)), Some(transition))
            }
            Breaker::HalfOpen { in_flight, .. } => {
                if *in_flight >= max && now >= e.probe_deadline {
                    // Probes unanswered for `reset_timeout` are taken as lost (their exchange
                    // ended without record or release); their slots go to new probes.
                    *in_flight = 0;
                }
                if *in_flight < max {
                    *in_flight += 1;
                    e.probe_deadline = now + cb.reset_timeout;
                    let token = ProbeToken {
                        generation: e.generation,
                    };
                    (Admission::Allowed(Some(token)), None)
                } else {
                    let retry_after = HALF_OPEN_RETRY_AFTER;
                    (Admission::Refused { retry_after }, None)
                }
            }
        }
    }

    /// After an attempt on `key`: counts `outcome` and returns the transition it caused, if
    /// any. Closed: a failure may open the breaker. Half-open: only the current probes count;
    /// a failure reopens, `half_open_max` successes close. Open: results of attempts admitted
    /// before the breaker opened are ignored.
    pub fn record(
        &mut self,
        cb: &CircuitBreaker,
        key: &str,
        outcome: Outcome,
        probe: Option<ProbeToken>,
        now: Instant,
    ) -> Option<Transition> {
        let e = self.entry(cb, key, now);
        match &mut e.breaker {
            Breaker::Closed => {
                match outcome {
                    Outcome::Success => {
                        e.consecutive = 0;
                        e.window.add(now, [1, 0]);
                    }
                    Outcome::Failure => {
                        e.consecutive = e.consecutive.saturating_add(1);
                        e.window.add(now, [1, 1]);
                        if cb.trips(e, now) {
                            return Some(open(e, cb, now, Phase::Closed));
                        }
                    }
                }
                None
            }
            Breaker::Open { .. } => None,
            Breaker::HalfOpen {
                in_flight,
                successes,
            } => {
                if probe.is_none_or(|p| p.generation != e.generation) {
                    return None;
                }
                *in_flight = in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Failure => Some(open(e, cb, now, Phase::HalfOpen)),
                    Outcome::Success => {
                        *successes += 1;
                        if *successes < cb.half_open_max.max(1) {
                            return None;
                        }
                        e.breaker = Breaker::Closed;
                        e.consecutive = 0;
                        e.window.clear();
                        Some(Transition {
                            from: Phase::HalfOpen,
                            to: Phase::Closed,
                        })
                    }
                }
            }
        }
    }

    /// Gives back a probe slot whose attempt ended without an outcome. A stale token (the
    /// breaker changed state since) does nothing.
    pub fn release(&mut self, key: &str, probe: ProbeToken) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if let Breaker::HalfOpen { in_flight, .. } = &mut e.breaker {
            if probe.generation == e.generation {
                *in_flight = in_flight.saturating_sub(1);
            }
        }
    }

    /// The state of `key`, if it has been seen. An open breaker whose `reset_timeout` has
    /// passed still reads `Open` until the next [`BreakerState::admit`].
    pub fn breaker(&self, key: &str) -> Option<&Breaker> {
        self.entries.get(key).map(|e| &e.breaker)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops closed breakers not used for `idle` (e.g. targets gone after a reload); open and
    /// half-open ones are kept. Returns how many were dropped.
    pub fn sweep(&mut self, now: Instant, idle: Duration) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            !matches!(e.breaker, Breaker::Closed)
                || now.saturating_duration_since(e.last_seen) < idle
        });
        before - self.entries.len()
    }

    fn entry(&mut self, cb: &CircuitBreaker, key: &str, now: Instant) -> &mut Entry {
        let e = self.entries.entry(key.into()).or_insert_with(|| Entry {
            breaker: Breaker::Closed,
            consecutive: 0,
            window: Rolling::new(cb.window),
            generation: 0,
            probe_deadline: now,
            last_seen: now,
        });
        if e.window.window() != cb.window {
            // A reload changed the window: old bucket counts do not fit the new one.
            e.window = Rolling::new(cb.window);
        }
        e.last_seen = now;
        e
    }
}

/// Opens `e` for `reset_timeout` and forgets its counts.
fn open(e: &mut Entry, cb: &CircuitBreaker, now: Instant, from: Phase) -> Transition {
    e.breaker = Breaker::Open {
        until: now + cb.reset_timeout,
    };
    e.consecutive = 0;
    e.window.clear();
    Transition {
        from,
        to: Phase::Open,
    }
}

#[cfg(test)]
mod tests;
