//! A latency histogram: an hdrhistogram with an exact running sum, in one fixed unit.

use std::fmt;

use hdrhistogram::Histogram;

/// Significant figures kept by every latency histogram (0.1% relative error).
///
/// Memory per histogram at 3 figures would be 17,408 `u64` counts (136 KiB) for
/// [`Unit::Micros`] up to 60 s, 27,648 (216 KiB) for [`Unit::Nanos`]; each figure fewer
/// divides that by about 8.
//
// Two significant figures (1% error) instead of three: a three-figure histogram costs
// 136-216 KiB, and there are two per route per shard (measured: ~200 MB for 100 routes on
// 8 shards); two figures cut that about 7x, and 1% is finer than any bucket boundary.
pub(crate) const SIGFIGS: u8 = 2;

/// Longest latency tracked as itself; longer ones are recorded as this (60 s).
const MAX_SECONDS: u64 = 60;

/// Bucket ladder for request and upstream durations: `(upper bound in µs, le label)`.
/// `+Inf` is implied.
pub(crate) const MICROS_LADDER: &[(u64, &str)] = &[
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

/// Bucket ladder for policy durations, 1 µs to 1 s, since most ops take microseconds:
/// `(upper bound in ns, le label)`. `+Inf` is implied.
pub(crate) const NANOS_LADDER: &[(u64, &str)] = &[
    (1_000, "0.000001"),
    (2_500, "0.0000025"),
    (5_000, "0.000005"),
    (10_000, "0.00001"),
    (25_000, "0.000025"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
];

/// The unit a [`Latency`] records in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Request and upstream durations.
    Micros,
    /// Policy durations.
    Nanos,
}

/// A latency distribution: hdrhistogram counts plus the exact sum of recorded values.
#[derive(Clone)]
pub(crate) struct Latency {
    unit: Unit,
    hist: Histogram<u64>,
    /// Sum of recorded values (after clamping to the tracked range), in `unit`; saturating.
    sum: u64,
}

impl Unit {
    /// Units in one second.
    pub(crate) fn per_second(self) -> u64 {
        match self {
            Unit::Micros => 1_000_000,
            Unit::Nanos => 1_000_000_000,
        }
    }

    /// The fixed Prometheus bucket ladder for this unit.
    pub(crate) fn ladder(self) -> &'static [(u64, &'static str)] {
        match self {
            Unit::Micros => MICROS_LADDER,
            Unit::Nanos => NANOS_LADDER,
        }
    }

    /// Largest value tracked: 60 s in this unit.
    fn highest(self) -> u64 {
        MAX_SECONDS * self.per_second()
    }
}

impl Latency {
    /// An empty histogram tracking 1..=60 s in `unit` at [`SIGFIGS`] figures. Allocates
    /// its whole counts array now, so recording never allocates. Never panics.
    pub(crate) fn new(unit: Unit) -> Self {
        // The only `expect` outside tests: the bounds are constants (low >= 1,
        // high >= 2 * low, sigfigs <= 5), so this cannot fail; `histogram_bounds_are_valid`
        // builds both units.
        let hist = Histogram::new_with_bounds(1, unit.highest(), SIGFIGS)
            .expect("constant histogram bounds are valid");
        Self { unit, hist, sum: 0 }
    }

    /// The unit values are recorded in.
    pub(crate) fn unit(&self) -> Unit {
        self.unit
    }

    /// Records one value in this histogram's unit; values over 60 s count as 60 s.
    pub(crate) fn record(&mut self, value: u64) {
        let value = value.min(self.unit.highest());
        self.hist.saturating_record(value);
        self.sum = self.sum.saturating_add(value);
    }

    /// Number of recorded values.
    pub(crate) fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Exact sum of recorded values, in this histogram's unit.
    pub(crate) fn sum(&self) -> u64 {
        self.sum
    }

    /// The value at quantile `q` (0.0..=1.0), in this histogram's unit; the highest value
    /// equivalent to it at [`SIGFIGS`] figures. 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }

    /// Adds `other`'s counts and sum into `self`. Units must match (one metric family);
    /// a mismatch is a bug and `other` is ignored (debug builds panic).
    pub(crate) fn add(&mut self, other: &Latency) {
        debug_assert_eq!(
            self.unit, other.unit,
            "merging histograms of different units"
        );
        if self.unit != other.unit {
            return;
        }
        if self.hist.add(&other.hist).is_err() {
            // Unreachable with equal bounds; re-record so no count is ever lost.
            for v in other.hist.iter_recorded() {
                self.hist
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Removes `earlier`'s counts and sum from `self`, leaving what was recorded since
    /// `earlier` was copied from the same cumulative histogram. `false` (and `self`
    /// unchanged) when `earlier` is not a prefix of `self`: other units, or a count that
    /// would go negative.
    pub(crate) fn subtract(&mut self, earlier: &Latency) -> bool {
        if self.unit != earlier.unit || self.hist.subtract(&earlier.hist).is_err() {
            return false;
        }
        self.sum = self.sum.saturating_sub(earlier.sum);
        true
    }

    /// Cumulative counts for each bound of this unit's ladder (`+Inf` excluded: that is
    /// [`Latency::count`]). A value counts under bound `b` when the lowest value of its
    /// hdrhistogram bucket is `<= b`, the same rule as `Histogram::count_between(0, b)`,
    /// so a count can include values up to 0.1% above `b`.
    ///
    /// One pass over the recorded buckets, instead of one `count_between` per bound.
    pub(crate) fn cumulative_buckets(&self) -> Vec<u64> {
        let ladder = self.unit.ladder();
        let mut counts = vec![0u64; ladder.len()];
        for v in self.hist.iter_recorded() {
            let low = self.hist.lowest_equivalent(v.value_iterated_to());
            let first = ladder.partition_point(|&(bound, _)| bound < low);
            if let Some(c) = counts.get_mut(first) {
                *c = c.saturating_add(v.count_at_value());
            }
        }
        let mut running = 0u64;
        for c in &mut counts {
            running = running.saturating_add(*c);
            *c = running;
        }
        counts
    }

    /// The underlying histogram (tests compare against `count_between`).
    #[cfg(test)]
    pub(crate) fn hist(&self) -> &Histogram<u64> {
        &self.hist
    }
}

impl fmt::Debug for Latency {
    /// A summary; the counts array is far too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latency")
            .field("unit", &self.unit)
            .field("count", &self.count())
            .field("sum", &self.sum)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}
