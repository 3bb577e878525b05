//! The counters behind a limit, owned by exactly one shard per key.
//!
//! Token bucket: capacity `max`, refilled lazily at `max / window` per second (no timers).
//! Sliding window: the weighted sum of the previous and current fixed windows.

use std::time::{Duration, Instant};

/// Which counter a limit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    TokenBucket,
    SlidingWindow,
}

/// What a limit allows: `max` per `window` with `algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitSpec {
    pub max: u64,
    pub window: Duration,
    pub algorithm: Algorithm,
}

/// One key's counter. About 40 bytes; the key string is held by the map.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Token bucket: tokens left. Sliding window: count in the current window.
    level: f64,
    /// Sliding window: count in the previous window.
    previous: f64,
    /// Token bucket: last refill. Sliding window: start of the current window.
    mark: Instant,
    /// Last time anyone took from or returned to this bucket (for sweeping and eviction).
    pub last_activity: Instant,
}

impl Bucket {
    /// A full bucket (nothing used yet).
    pub fn new(spec: &LimitSpec, now: Instant) -> Self {
        let level = match spec.algorithm {
            Algorithm::TokenBucket => spec.max as f64,
            Algorithm::SlidingWindow => 0.0,
        };
        Self {
            level,
            previous: 0.0,
            mark: now,
            last_activity: now,
        }
    }

    fn advance(&mut self, spec: &LimitSpec, now: Instant) {
        let window = spec.window.as_secs_f64().max(1e-9);
        match spec.algorithm {
            Algorithm::TokenBucket => {
                let elapsed = now.saturating_duration_since(self.mark).as_secs_f64();
                self.level = (self.level + elapsed * spec.max as f64 / window).min(spec.max as f64);
                self.mark = now;
            }
            Algorithm::SlidingWindow => {
                let elapsed = now.saturating_duration_since(self.mark);
                if elapsed >= spec.window * 2 {
                    self.previous = 0.0;
                    self.level = 0.0;
                    self.mark = now;
                } else if elapsed >= spec.window {
                    self.previous = self.level;
                    self.level = 0.0;
                    self.mark += spec.window;
                }
            }
        }
    }

    /// Whole requests that may pass now.
    pub fn available(&mut self, spec: &LimitSpec, now: Instant) -> u64 {
        self.advance(spec, now);
        match spec.algorithm {
            Algorithm::TokenBucket => self.level.floor().max(0.0) as u64,
            Algorithm::SlidingWindow => {
                let used = self.weighted_count(spec, now);
                (spec.max as f64 - used).floor().max(0.0) as u64
            }
        }
    }

    fn weighted_count(&self, spec: &LimitSpec, now: Instant) -> f64 {
        let into = now.saturating_duration_since(self.mark).as_secs_f64();
        let w = spec.window.as_secs_f64().max(1e-9);
        self.previous * (1.0 - (into / w).min(1.0)) + self.level
    }

    /// Takes up to `want` requests' worth; returns how many were granted.
    pub fn take(&mut self, spec: &LimitSpec, want: u64, now: Instant) -> u64 {
        let granted = self.available(spec, now).min(want);
        match spec.algorithm {
            Algorithm::TokenBucket => self.level -= granted as f64,
            Algorithm::SlidingWindow => self.level += granted as f64,
        }
        self.last_activity = now;
        granted
    }

    /// Gives back requests' worth that a lease did not use.
    pub fn give_back(&mut self, spec: &LimitSpec, n: u64, now: Instant) {
        self.advance(spec, now);
        match spec.algorithm {
            Algorithm::TokenBucket => self.level = (self.level + n as f64).min(spec.max as f64),
            Algorithm::SlidingWindow => self.level = (self.level - n as f64).max(0.0),
        }
        self.last_activity = now;
    }

    /// Time until one more request may pass (zero if one may pass now).
    pub fn retry_after(&mut self, spec: &LimitSpec, now: Instant) -> Duration {
        if self.available(spec, now) > 0 {
            return Duration::ZERO;
        }
        let per_token = spec.window.as_secs_f64() / spec.max.max(1) as f64;
        match spec.algorithm {
            Algorithm::TokenBucket => {
                Duration::from_secs_f64(((1.0 - self.level) * per_token).max(0.0))
            }
            Algorithm::SlidingWindow => {
                // The previous window's weight decays linearly; when it is empty, the
                // current window must end first.
                if self.previous > 0.0 {
                    let excess = self.weighted_count(spec, now) - (spec.max as f64 - 1.0);
                    let rate = self.previous / spec.window.as_secs_f64().max(1e-9);
                    Duration::from_secs_f64((excess / rate).max(0.0))
                } else {
                    (self.mark + spec.window).saturating_duration_since(now)
                }
            }
        }
    }

    /// Time until the bucket is back to full capacity.
    pub fn reset_after(&mut self, spec: &LimitSpec, now: Instant) -> Duration {
        self.advance(spec, now);
        match spec.algorithm {
            Algorithm::TokenBucket => {
                let missing = spec.max as f64 - self.level;
                Duration::from_secs_f64(
                    (missing * spec.window.as_secs_f64() / spec.max.max(1) as f64).max(0.0),
                )
            }
            Algorithm::SlidingWindow => (self.mark + spec.window).saturating_duration_since(now),
        }
    }

    /// True when the bucket holds nothing worth keeping (full and idle for a window).
    pub fn is_idle(&mut self, spec: &LimitSpec, now: Instant) -> bool {
        now.saturating_duration_since(self.last_activity) >= spec.window
            && self.available(spec, now) >= spec.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(algorithm: Algorithm) -> LimitSpec {
        LimitSpec {
            max: 10,
            window: Duration::from_secs(10),
            algorithm,
        }
    }

    #[test]
    fn token_bucket_refills_lazily() {
        let s = spec(Algorithm::TokenBucket);
        let t0 = Instant::now();
        let mut b = Bucket::new(&s, t0);
        assert_eq!(b.take(&s, 15, t0), 10);
        assert_eq!(b.take(&s, 1, t0), 0);
        assert_eq!(b.retry_after(&s, t0), Duration::from_secs(1));
        assert_eq!(b.take(&s, 5, t0 + Duration::from_secs(3)), 3);
        b.give_back(&s, 2, t0 + Duration::from_secs(3));
        assert_eq!(b.available(&s, t0 + Duration::from_secs(3)), 2);
        assert_eq!(
            b.reset_after(&s, t0 + Duration::from_secs(3)),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn sliding_window_weights_previous_window() {
        let s = spec(Algorithm::SlidingWindow);
        let t0 = Instant::now();
        let mut b = Bucket::new(&s, t0);
        assert_eq!(b.take(&s, 10, t0), 10);
        assert_eq!(b.take(&s, 1, t0 + Duration::from_secs(9)), 0);
        // Half-way into the next window half of the previous count still weighs.
        assert_eq!(b.available(&s, t0 + Duration::from_secs(15)), 5);
        assert_eq!(b.available(&s, t0 + Duration::from_secs(30)), 10);
    }

    #[test]
    fn idle_only_when_full_and_quiet() {
        let s = spec(Algorithm::TokenBucket);
        let t0 = Instant::now();
        let mut b = Bucket::new(&s, t0);
        b.take(&s, 1, t0);
        assert!(!b.is_idle(&s, t0 + Duration::from_secs(1)));
        assert!(b.is_idle(&s, t0 + Duration::from_secs(11)));
    }
}
