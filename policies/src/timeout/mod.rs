//! `timeout` (default priority 85): bound how long an exchange may take.
//!
//! Three independent limits, each off when `None`:
//! - `request`: the whole exchange, from the downstream request's arrival until the response
//!   body is complete, across every retry. Leave it off for long streams (SSE, downloads).
//! - `first_byte`: per upstream attempt, until its response head arrives; counted from the
//!   attempt's start or the last request-body bytes sent, whichever is later, so a slow
//!   upload is not cut.
//! - `idle`: per attempt, the longest stretch with no bytes moving (request body sent,
//!   response head or body received); long streams are never cut while they flow. Like
//!   nginx's `proxy_read_timeout` it also bounds the wait for the response head.
//!
//! The engine keeps a [`TimeoutClock`] per exchange, feeds it events, and arms one timer for
//! [`TimeoutClock::next_deadline`]. Before the response head went downstream a timeout is
//! answered with 504 `gateway_timeout` ([`TimeoutPolicy::reject`]); after, the engine can only
//! cut the connection.

use std::fmt;
use std::time::{Duration, Instant};

use crate::Reject;

/// Compiled `timeout` options; all off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutPolicy {
    /// Whole exchange, across retries.
    pub request: Option<Duration>,
    /// Per attempt, until the response head.
    pub first_byte: Option<Duration>,
    /// Per attempt, between any two moves of bytes.
    pub idle: Option<Duration>,
}

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    Request,
    FirstByte,
    Idle,
}

/// The instants one exchange's timeouts count from. Start it when the downstream request
/// arrives and call [`TimeoutClock::attempt_started`] before each upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutClock {
    started: Instant,
    /// Latest of the attempt's start and its last request-body bytes sent.
    sent: Instant,
    /// When the current attempt's response head arrived.
    head: Option<Instant>,
    /// Last time bytes moved in the current attempt.
    last_activity: Instant,
}

impl TimeoutPolicy {
    /// True when no limit is set (the op can be left out).
    pub fn is_off(&self) -> bool {
        self.request.is_none() && self.first_byte.is_none() && self.idle.is_none()
    }

    /// When the whole exchange begun at `started` must end, if `request` is set.
    pub fn request_deadline(&self, started: Instant) -> Option<Instant> {
        self.request.map(|d| started + d)
    }

    /// When the response head must arrive for an attempt whose request was last
    /// advanced at `sent`, if `first_byte` is set.
    pub fn first_byte_deadline(&self, sent: Instant) -> Option<Instant> {
        self.first_byte.map(|d| sent + d)
    }

    /// When bytes must next move after `last_activity`, if `idle` is set.
    pub fn idle_deadline(&self, last_activity: Instant) -> Option<Instant> {
        self.idle.map(|d| last_activity + d)
    }

    /// 504 `gateway_timeout`, with a message naming the limit that ran out.
    pub fn reject(kind: TimeoutKind) -> Reject {
        let message = match kind {
            TimeoutKind::Request => "Request did not complete in time",
            TimeoutKind::FirstByte => "Upstream did not respond in time",
            TimeoutKind::Idle => "Upstream went idle for too long",
        };
        Reject::new(504, "gateway_timeout", message)
    }
}

impl TimeoutKind {
    /// `request`, `first_byte` or `idle`, as in config, for logs and metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeoutKind::Request => "request",
            TimeoutKind::FirstByte => "first_byte",
            TimeoutKind::Idle => "idle",
        }
    }
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TimeoutClock {
    /// A clock for an exchange whose downstream request arrived at `now`; its first attempt
    /// is taken to start now too.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            sent: now,
            head: None,
            last_activity: now,
        }
    }

    /// A new upstream attempt (first or retry) starts: `first_byte` and `idle` count afresh;
    /// `request` keeps counting from the exchange's start.
    pub fn attempt_started(&mut self, now: Instant) {
        self.sent = now;
        self.head = None;
        self.last_activity = now;
    }

    /// Request bytes (head or body) were written upstream.
    pub fn request_progress(&mut self, now: Instant) {
        if self.head.is_none() {
            self.sent = self.sent.max(now);
        }
        self.last_activity = self.last_activity.max(now);
    }

    /// The response head of the current attempt arrived (`first_byte` no longer applies).
    pub fn response_head(&mut self, now: Instant) {
        self.head = Some(now);
        self.last_activity = self.last_activity.max(now);
    }

    /// Response body bytes arrived.
    pub fn response_progress(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    /// When the exchange started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The earliest deadline in force and its kind, or `None` when `policy` sets none that
    /// applies. On a tie `request` wins, then `first_byte`.
    pub fn next_deadline(&self, policy: &TimeoutPolicy) -> Option<(Instant, TimeoutKind)> {
        let first_byte = match self.head {
            None => policy.first_byte_deadline(self.sent),
            Some(_) => None,
        };
        [
            (policy.request_deadline(self.started), TimeoutKind::Request),
            (first_byte, TimeoutKind::FirstByte),
            (policy.idle_deadline(self.last_activity), TimeoutKind::Idle),
        ]
        .into_iter()
        .filter_map(|(at, kind)| at.map(|at| (at, kind)))
        .min_by_key(|(at, _)| *at)
    }

    /// The limit that has run out at `now`, if any (the earliest one).
    pub fn expired(&self, policy: &TimeoutPolicy, now: Instant) -> Option<TimeoutKind> {
        self.next_deadline(policy)
            .filter(|(at, _)| now >= *at)
            .map(|(_, kind)| kind)
    }

    /// Time left of the `request` limit at `now` (zero when spent), or `None` when it is off.
    /// The engine gives up on a retry whose backoff would not fit.
    pub fn request_remaining(&self, policy: &TimeoutPolicy, now: Instant) -> Option<Duration> {
        policy
            .request_deadline(self.started)
            .map(|at| at.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests;
