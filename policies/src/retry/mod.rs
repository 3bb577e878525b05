//! `retry` (default priority 90): try a failed upstream attempt again, within limits.
//!
//! [`Retry::should_retry`] decides after each failed attempt, in this order: attempts left,
//! a retryable outcome, an allowed method, a body that can be sent again, and room in the
//! shard's [`RetryBudget`]. It returns the backoff delay before the next attempt. The engine
//! sends the retry to another target when the upstream has one, and keeps the request body
//! for replay in a [`ReplayBuffer`].

use std::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use sluice_codec::{Headers, Method};

use crate::fault::unit;
use crate::rolling::Rolling;

/// Default `max_retries`.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default `retry_on` statuses.
pub const DEFAULT_RETRY_STATUSES: [u16; 3] = [502, 503, 504];
/// Default `base_delay`.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(25);
/// Default `max_delay`.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1);
/// Default `budget_percent`.
pub const DEFAULT_BUDGET_PERCENT: f64 = 20.0;
/// Default `budget_min_per_second` (linkerd's and Finagle's figure, for the whole process).
pub const DEFAULT_BUDGET_MIN_PER_SEC: f64 = 10.0;
/// The rolling window the retry budget counts over.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Default `max_replay_bytes`.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 64 * 1024;

/// How the delay grows between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backoff {
    /// `base_delay × 2^(n-1)` before retry `n`, capped at `max_delay` (default).
    #[default]
    Exponential,
    /// Exactly `base_delay` before every retry; `max_delay` does not apply.
    Fixed,
}

/// Which failed attempts are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// Upstream statuses to retry; default 502, 503, 504.
    pub statuses: Vec<u16>,
    /// Retry when the connection could not be made; default true. Such a retry is allowed
    /// for every method, since nothing reached the upstream (nginx does the same).
    pub connect_error: bool,
    /// Retry when the connection was reset or closed before a complete response head;
    /// default true.
    pub reset: bool,
    /// Retry when the attempt timed out (`first_byte` or `idle` of the `timeout` policy);
    /// default false, since retrying a slow upstream usually adds load where it hurts.
    pub timeout: bool,
}

/// Compiled `retry` options. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Retries after the first attempt; default 3 (so at most 4 attempts).
    pub max_retries: u32,
    /// Which outcomes are retried.
    pub retry_on: RetryOn,
    /// Methods that may be retried; default the idempotent ones (GET, HEAD, PUT, DELETE,
    /// OPTIONS, TRACE). Connect errors are retried for any method.
    pub methods: Vec<Method>,
    /// Default exponential.
    pub backoff: Backoff,
    /// Default 25 ms.
    pub base_delay: Duration,
    /// Cap on any one exponential delay; default 1 s. Fixed backoff ignores it.
    pub max_delay: Duration,
    /// Full jitter: the delay is drawn uniformly from `[0, computed)`; default true.
    pub jitter: bool,
    /// At most this share (0..=100) of the requests in the last 10 s may be retries, per
    /// shard; default 20.
    pub budget_percent: f64,
    /// `budget_min_per_second`: retries per second always allowed whatever the share, for
    /// the whole process (each shard gets its part, see [`Retry::budget`]), so quiet routes
    /// can still retry; default 10. Set 0 for a pure percentage.
    pub budget_min_per_sec: f64,
    /// Request header carrying the retry number to the upstream (e.g. `x-retry-count`);
    /// `None` (default) sends none.
    pub retry_count_header: Option<String>,
    /// A request body longer than this that has already been streamed upstream cannot be
    /// sent again, so the request is not retried; default 64 KiB.
    pub max_replay_bytes: usize,
}

/// What happened to one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptOutcome {
    /// The response status, when a response head arrived.
    pub status: Option<u16>,
    /// The connection could not be made (nothing reached the upstream).
    pub connect_error: bool,
    /// The connection was reset or closed before a complete response head.
    pub reset: bool,
    /// The attempt timed out.
    pub timeout: bool,
}

/// A shard's retry budget: original requests and retries over the last [`BUDGET_WINDOW`].
/// A retry is allowed while `retries < max(min_per_window, percent% × requests)`.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    percent: f64,
    /// Retries allowed per window whatever the traffic.
    min_per_window: f64,
    /// `[original requests, retries]`.
    counts: Rolling,
}

/// The request body kept while it streams upstream, so a retry can send it again. Holds
/// `Bytes` handles (no copy); once more than the limit has passed it drops what it held.
#[derive(Debug, Clone, Default)]
pub struct ReplayBuffer {
    limit: usize,
    chunks: Vec<Bytes>,
    len: usize,
    overflowed: bool,
}

impl Default for RetryOn {
    fn default() -> Self {
        Self {
            statuses: DEFAULT_RETRY_STATUSES.to_vec(),
            connect_error: true,
            reset: true,
            timeout: false,
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            retry_on: RetryOn::default(),
            methods: vec![
                Method::Get,
                Method::Head,
                Method::Put,
                Method::Delete,
                Method::Options,
                Method::Trace,
            ],
            backoff: Backoff::Exponential,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            jitter: true,
            budget_percent: DEFAULT_BUDGET_PERCENT,
            budget_min_per_sec: DEFAULT_BUDGET_MIN_PER_SEC,
            retry_count_header: None,
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
        }
    }
}

impl AttemptOutcome {
    /// An attempt answered with `status`.
    pub fn from_status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// An attempt that could not connect.
    pub fn connect_error() -> Self {
        Self {
            connect_error: true,
            ..Self::default()
        }
    }

    /// An attempt whose connection was reset before the response head.
    pub fn reset() -> Self {
        Self {
            reset: true,
            ..Self::default()
        }
    }

    /// An attempt that timed out.
    pub fn timeout() -> Self {
        Self {
            timeout: true,
            ..Self::default()
        }
    }
}

impl Retry {
    /// After failed attempt number `attempt` (1 for the original request): the delay before
    /// the next attempt, or `None` to give up and answer with this attempt's result.
    ///
    /// Gives up when `attempt > max_retries`, when the outcome is not in `retry_on`, when the
    /// method is not in `methods` (unless the attempt never connected), when the body cannot
    /// be sent again (`body_replayable` false: it was streamed and was over
    /// `max_replay_bytes`), or when the budget is spent. Only a retry that goes ahead takes
    /// from the budget. `roll` is uniform in `[0, 1)` and draws the jitter.
    #[allow(clippy::too_many_arguments)] // Independent facts the engine holds apart; a struct would only be built to be taken apart here.
    pub fn should_retry(
        &self,
        attempt: u32,
        outcome: &AttemptOutcome,
        method: &Method,
        body_replayable: bool,
        budget: &mut RetryBudget,
        now: Instant,
        roll: f64,
    ) -> Option<Duration> {
        let attempt = attempt.max(1);
        if attempt > self.max_retries
            || !self.retryable(outcome, method)
            || !body_replayable
            || !budget.try_retry(now)
        {
            return None;
        }
        Some(self.delay(attempt, roll))
    }

    /// True when `outcome` is in `retry_on` and `method` may be retried for it.
    pub fn retryable(&self, outcome: &AttemptOutcome, method: &Method) -> bool {
        let on = &self.retry_on;
        if outcome.connect_error {
            return on.connect_error;
        }
        let matched = (outcome.reset && on.reset)
            || (outcome.timeout && on.timeout)
            || outcome.status.is_some_and(|s| on.statuses.contains(&s));
        matched && self.methods.contains(method)
    }

    /// The delay before retry number `retry` (1-based): `base_delay` for fixed backoff, the
    /// exponential backoff capped at `max_delay`, then scaled by `roll` (clamped into
    /// `[0, 1]`) when `jitter` is on. Never panics.
    pub fn delay(&self, retry: u32, roll: f64) -> Duration {
        let computed = match self.backoff {
            // The config refuses `max_delay` with fixed backoff, so its default must not cut
            // a longer `base_delay` short.
            Backoff::Fixed => self.base_delay,
            Backoff::Exponential => {
                let doublings = retry.max(1) - 1;
                self.base_delay
                    .saturating_mul(1u32 << doublings.min(31))
                    .min(self.max_delay)
            }
        };
        if self.jitter {
            computed.mul_f64(unit(roll))
        } else {
            computed
        }
    }

    /// This policy's budget for one shard of `shards`: the per-second floor is split
    /// evenly between shards.
    pub fn budget(&self, shards: usize) -> RetryBudget {
        RetryBudget::new(self.budget_percent, self.shard_floor(shards))
    }

    /// True when `budget` was made by [`Retry::budget`] with this policy's share and floor
    /// for `shards` shards, so it may be kept (counts and all) across a reload.
    pub fn budget_matches(&self, budget: &RetryBudget, shards: usize) -> bool {
        budget.has_params(self.budget_percent, self.shard_floor(shards))
    }

    /// One shard's part of `budget_min_per_sec`.
    fn shard_floor(&self, shards: usize) -> f64 {
        self.budget_min_per_sec / shards.max(1) as f64
    }

    /// A replay buffer for a request body of `declared` length (from `Content-Length`;
    /// `None` when chunked or unknown). A body declared over `max_replay_bytes` is never kept.
    pub fn replay_buffer(&self, declared: Option<u64>) -> ReplayBuffer {
        let mut b = ReplayBuffer::new(self.max_replay_bytes);
        if declared.is_some_and(|n| n > self.max_replay_bytes as u64) {
            b.overflowed = true;
        }
        b
    }

    /// Sets `retry_count_header` to `retries` on an upstream request (`retries` 0, the
    /// original attempt, removes any value the client sent, so the upstream can trust it).
    /// Does nothing when no header is configured.
    pub fn write_count(&self, retries: u32, headers: &mut Headers) {
        let Some(name) = self.retry_count_header.as_deref() else {
            return;
        };
        headers.remove(name);
        if retries > 0 {
            headers.append(
                Bytes::copy_from_slice(name.as_bytes()),
                Bytes::from(retries.to_string()),
            );
        }
    }
}

impl RetryBudget {
    /// A budget allowing `percent` (0..=100) of original requests as retries, and never
    /// fewer than `min_per_sec` retries per second, over [`BUDGET_WINDOW`].
    pub fn new(percent: f64, min_per_sec: f64) -> Self {
        let (percent, min_per_window) = Self::params(percent, min_per_sec);
        Self {
            percent,
            min_per_window,
            counts: Rolling::new(BUDGET_WINDOW),
        }
    }

    /// True when [`RetryBudget::new`] with `percent` and `min_per_sec` would allow the same
    /// retries as this budget (its counts aside).
    pub fn has_params(&self, percent: f64, min_per_sec: f64) -> bool {
        // Normalised exactly as `new` does, so the same inputs compare equal bit for bit.
        Self::params(percent, min_per_sec) == (self.percent, self.min_per_window)
    }

    /// `(percent, min_per_window)` as stored: negatives read as 0.
    fn params(percent: f64, min_per_sec: f64) -> (f64, f64) {
        (
            percent.max(0.0),
            min_per_sec.max(0.0) * BUDGET_WINDOW.as_secs_f64(),
        )
    }

    /// Counts one original request (call once per downstream request, not per attempt).
    pub fn note_request(&mut self, now: Instant) {
        self.counts.add(now, [1, 0]);
    }

    /// Takes one retry from the budget: true (and counted) when there is room, else false.
    pub fn try_retry(&mut self, now: Instant) -> bool {
        let [requests, retries] = self.counts.totals(now);
        let allowed = self
            .min_per_window
            .max(self.percent / 100.0 * requests as f64)
            .floor();
        if (retries as f64) < allowed {
            self.counts.add(now, [0, 1]);
            true
        } else {
            false
        }
    }

    /// `[original requests, retries]` in the window ending at `now`, for metrics.
    pub fn totals(&self, now: Instant) -> (u64, u64) {
        let [requests, retries] = self.counts.totals(now);
        (requests, retries)
    }
}

impl ReplayBuffer {
    /// An empty buffer keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Keeps `chunk` (a cheap handle clone) as it goes upstream; past the limit, drops
    /// everything kept and keeps nothing more.
    pub fn push(&mut self, chunk: &Bytes) {
        if self.overflowed {
            return;
        }
        self.len += chunk.len();
        if self.len > self.limit {
            self.overflowed = true;
            self.chunks = Vec::new();
        } else if !chunk.is_empty() {
            self.chunks.push(chunk.clone());
        }
    }

    /// True while everything pushed so far is kept (the body can be sent again).
    pub fn is_replayable(&self) -> bool {
        !self.overflowed
    }

    /// The kept chunks, in order (empty once overflowed).
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// Bytes pushed so far (kept or not).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests;
