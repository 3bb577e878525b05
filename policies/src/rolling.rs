//! Two counters summed over a rolling time window, kept in fixed buckets (shared by the
//! circuit breaker's failure rate and the retry budget).
//!
//! The window is cut into [`BUCKETS`] slots of `window / BUCKETS`; a total covers the current
//! slot and the `BUCKETS - 1` before it, so it spans between 90% and 100% of the window.
//! Adding and summing are O([`BUCKETS`]) with no allocation.

use std::time::{Duration, Instant};

/// Slots per window.
pub(crate) const BUCKETS: usize = 10;

/// Rolling sums of two counters (e.g. requests and failures).
#[derive(Debug, Clone)]
pub(crate) struct Rolling {
    window: Duration,
    /// `window / BUCKETS`, at least 1 ns so slot numbers are defined.
    width: Duration,
    /// Slot numbers count widths since this instant; set by the first `add`.
    origin: Option<Instant>,
    slots: [Slot; BUCKETS],
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Which width since `origin` this slot holds counts for.
    number: u64,
    counts: [u32; 2],
}

impl Rolling {
    /// Empty counters over `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            width: (window / BUCKETS as u32).max(Duration::from_nanos(1)),
            origin: None,
            slots: [Slot::default(); BUCKETS],
        }
    }

    /// The window length given to [`Rolling::new`].
    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// Adds `counts` at `now`.
    pub(crate) fn add(&mut self, now: Instant, counts: [u32; 2]) {
        let origin = *self.origin.get_or_insert(now);
        let number = self.number(origin, now);
        let slot = &mut self.slots[(number % BUCKETS as u64) as usize];
        if slot.number != number {
            *slot = Slot {
                number,
                counts: [0, 0],
            };
        }
        slot.counts[0] = slot.counts[0].saturating_add(counts[0]);
        slot.counts[1] = slot.counts[1].saturating_add(counts[1]);
    }

    /// Both counters summed over the window ending at `now`.
    pub(crate) fn totals(&self, now: Instant) -> [u64; 2] {
        let Some(origin) = self.origin else {
            return [0, 0];
        };
        let current = self.number(origin, now);
        self.slots
            .iter()
            .filter(|s| s.number <= current && s.number.saturating_add(BUCKETS as u64) > current)
            .fold([0, 0], |acc, s| {
                [
                    acc[0] + u64::from(s.counts[0]),
                    acc[1] + u64::from(s.counts[1]),
                ]
            })
    }

    /// Forgets every count.
    pub(crate) fn clear(&mut self) {
        self.origin = None;
        self.slots = [Slot::default(); BUCKETS];
    }

    fn number(&self, origin: Instant, now: Instant) -> u64 {
        let n = now.saturating_duration_since(origin).as_nanos() / self.width.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX - BUCKETS as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_within_window_and_forgets_old_slots() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = Rolling::new(s(10));
        assert_eq!(r.totals(t0), [0, 0]);
        r.add(t0, [1, 0]);
        r.add(t0 + Duration::from_millis(500), [1, 1]);
        r.add(t0 + s(5), [2, 1]);
        assert_eq!(r.totals(t0 + s(5)), [4, 2]);
        assert_eq!(r.totals(t0 + s(9)), [4, 2]);
        // Slot 0 (t0..t0+1s) falls out at 10 s; slot 5 stays until 15 s.
        assert_eq!(r.totals(t0 + s(10)), [2, 1]);
        assert_eq!(r.totals(t0 + s(15)), [0, 0]);
        // A slot reused after a full turn starts from zero.
        r.add(t0 + s(20), [1, 0]);
        assert_eq!(r.totals(t0 + s(20)), [1, 0]);
        r.clear();
        assert_eq!(r.totals(t0 + s(20)), [0, 0]);
        assert_eq!(r.window(), s(10));
    }

    #[test]
    fn zero_window_is_defined() {
        let t0 = Instant::now();
        let mut r = Rolling::new(Duration::ZERO);
        r.add(t0, [1, 1]);
        assert_eq!(r.totals(t0), [1, 1]);
        assert_eq!(r.totals(t0 + Duration::from_micros(1)), [0, 0]);
    }
}
