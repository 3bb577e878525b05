//! The per-shard half of a balancer: in-flight counts, rotation, smooth weighted round robin
//! weights, active health flags and passive outlier detection (ejection).

use std::time::{Duration, Instant};

/// How a request to a target ended, as far as outlier detection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered usefully; any answer the caller does not count as a failure
    /// (a 404 is the application's business, not the target's health).
    Success,
    /// The target failed: connect error, reset, timeout, or a status the caller counts
    /// (typically 5xx).
    Failure,
    /// The downstream went away before the target answered: releases the in-flight slot
    /// and counts neither way.
    Cancelled,
}

/// Passive outlier detection settings (Envoy's `outlier_detection`, trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Failures in a row that eject a target; default 5. 0 turns ejection off.
    pub consecutive_failures: u32,
    /// How long the first ejection lasts; default 30 s. Each repeat ejection doubles it.
    pub ejection_time: Duration,
    /// Cap on a grown ejection; default 300 s (10x `ejection_time`). Treated as
    /// `ejection_time` when smaller.
    pub max_ejection_time: Duration,
    /// At most this share of the targets is ejected at once, rounded down; default 50.
    /// So a lone target is never ejected, and one of two can be.
    pub max_ejection_percent: u8,
    /// A target that stays in this long after its last ejection ended starts again from
    /// `ejection_time` at its next ejection; default 300 s.
    pub reset_after: Duration,
}

/// Counters for one target, for metrics and the admin listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// Requests started and not yet finished.
    pub in_flight: u32,
    /// Requests started since the state was created.
    pub started: u64,
    /// Requests finished with [`Outcome::Failure`].
    pub failures: u64,
    /// Times outlier detection ejected the target.
    pub ejections: u64,
}

/// Mutable selection state of one upstream group on one shard.
///
/// Owned by the shard (no locks); keyed by the caller, who carries it across reloads with
/// [`BalancerState::carry_over`] so in-flight counts, health and ejections survive. Target
/// indices are those of the [`Balancer`](super::Balancer) it was made for; an index out of
/// range is ignored by every method.
#[derive(Debug, Clone)]
pub struct BalancerState {
    pub(super) targets: Vec<TargetState>,
    /// Where round robin (and tie breaking) resumes; taken modulo the target count.
    pub(super) cursor: usize,
    outlier: OutlierConfig,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct TargetState {
    pub(super) in_flight: u32,
    /// Smooth weighted round robin's running weight (nginx's `current_weight`).
    pub(super) current: i64,
    /// Set by the active health checker; true until it says otherwise.
    pub(super) healthy: bool,
    consecutive_failures: u32,
    /// End of the current or last ejection; in the past once the target is back.
    ejected_until: Option<Instant>,
    /// Ejections since the last reset; the next one lasts `ejection_time * 2^streak`.
    ejection_streak: u32,
    started: u64,
    failures: u64,
    ejections: u64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
            reset_after: Duration::from_secs(300),
        }
    }
}

impl OutlierConfig {
    /// Length of ejection number `streak` (1 for the first): `ejection_time` doubled
    /// `streak - 1` times, capped at `max_ejection_time`. Saturates, never panics.
    pub fn ejection_duration(&self, streak: u32) -> Duration {
        let factor = 1u32
            .checked_shl(streak.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let cap = self.max_ejection_time.max(self.ejection_time);
        self.ejection_time.saturating_mul(factor).min(cap)
    }
}

impl TargetState {
    fn new() -> Self {
        Self {
            in_flight: 0,
            current: 0,
            healthy: true,
            consecutive_failures: 0,
            ejected_until: None,
            ejection_streak: 0,
            started: 0,
            failures: 0,
            ejections: 0,
        }
    }

    pub(super) fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|end| end > now)
    }
}

impl BalancerState {
    /// State for `n_targets` targets, all healthy and idle, with the default
    /// [`OutlierConfig`].
    pub fn new(n_targets: usize) -> Self {
        Self::with_outlier(n_targets, OutlierConfig::default())
    }

    /// State for `n_targets` targets, all healthy and idle, ejecting per `outlier`.
    pub fn with_outlier(n_targets: usize, outlier: OutlierConfig) -> Self {
        Self {
            targets: vec![TargetState::new(); n_targets],
            cursor: 0,
            outlier,
        }
    }

    /// Number of targets this state tracks.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether this state tracks no target.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The outlier detection settings in force.
    pub fn outlier(&self) -> &OutlierConfig {
        &self.outlier
    }

    /// Replaces the outlier detection settings; current ejections keep their end time.
    pub fn set_outlier(&mut self, outlier: OutlierConfig) {
        self.outlier = outlier;
    }

    /// Counts a request sent to target `i`; call it once per attempt, right after
    /// [`Balancer::pick`](super::Balancer::pick), and pair it with one [`Self::finish`].
    pub fn start(&mut self, i: usize) {
        if let Some(t) = self.targets.get_mut(i) {
            t.in_flight = t.in_flight.saturating_add(1);
            t.started += 1;
        }
    }

    /// Ends a request to target `i` started with [`Self::start`] and feeds outlier
    /// detection.
    ///
    /// Returns `Some(duration)` when this failure ejected the target (log it), else `None`.
    /// A success resets the failure run. A failure of a target already ejected (a request
    /// sent before the ejection) is counted in its stats but not in the run. When the run
    /// reaches `consecutive_failures` the target is ejected unless that would exceed
    /// `max_ejection_percent` of the targets or leave no target both actively healthy and
    /// not ejected; a refused ejection is tried again on the next failure.
    pub fn finish(&mut self, i: usize, outcome: Outcome, now: Instant) -> Option<Duration> {
        let threshold = self.outlier.consecutive_failures;
        let t = self.targets.get_mut(i)?;
        t.in_flight = t.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Success => {
                t.consecutive_failures = 0;
                None
            }
            Outcome::Cancelled => None,
            Outcome::Failure => {
                t.failures += 1;
                if t.is_ejected(now) {
                    return None;
                }
                t.consecutive_failures = t.consecutive_failures.saturating_add(1);
                if threshold == 0 || t.consecutive_failures < threshold {
                    return None;
                }
                self.eject(i, now)
            }
        }
    }

    /// Records an active health check verdict for target `i` (the health checker decides
    /// when a verdict flips, see [`HealthCounter`](super::HealthCounter)). An unhealthy
    /// target is never picked; ejection and health are independent.
    pub fn set_health(&mut self, i: usize, healthy: bool) {
        if let Some(t) = self.targets.get_mut(i) {
            t.healthy = healthy;
        }
    }

    /// The last active health verdict for target `i`; `false` when out of range.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.targets.get(i).is_some_and(|t| t.healthy)
    }

    /// Whether outlier detection has target `i` out at `now`; `false` when out of range.
    pub fn is_ejected(&self, i: usize, now: Instant) -> bool {
        self.targets.get(i).is_some_and(|t| t.is_ejected(now))
    }

    /// When target `i`'s current ejection ends; `None` when it is not ejected at `now`.
    pub fn ejected_until(&self, i: usize, now: Instant) -> Option<Instant> {
        self.targets
            .get(i)
            .filter(|t| t.is_ejected(now))
            .and_then(|t| t.ejected_until)
    }

    /// Requests started on target `i` and not finished; 0 when out of range.
    pub fn in_flight(&self, i: usize) -> u32 {
        self.targets.get(i).map_or(0, |t| t.in_flight)
    }

    /// Counters for target `i`; `None` when out of range.
    pub fn stats(&self, i: usize) -> Option<TargetStats> {
        self.targets.get(i).map(|t| TargetStats {
            in_flight: t.in_flight,
            started: t.started,
            failures: t.failures,
            ejections: t.ejections,
        })
    }

    /// Grows or shrinks to `n_targets`, keeping the state of targets `0..n_targets` that
    /// existed; new targets start healthy and idle. Restarts smooth weighted round robin.
    pub fn resize(&mut self, n_targets: usize) {
        self.targets.resize(n_targets, TargetState::new());
        self.targets.iter_mut().for_each(|t| t.current = 0);
    }

    /// Rebuilds for a new target list: new target `k` takes the state of old target
    /// `new_from_old[k]`, or starts healthy and idle when that is `None` or out of range.
    /// Restarts smooth weighted round robin (weights may have changed).
    ///
    /// Requests started before the remap must be finished with their new index (invert
    /// the map), or not at all when their target left.
    pub fn remap(&mut self, new_from_old: &[Option<usize>]) {
        let old = std::mem::take(&mut self.targets);
        self.targets = new_from_old
            .iter()
            .map(|&from| {
                let mut t = from
                    .and_then(|j| old.get(j).copied())
                    .unwrap_or_else(TargetState::new);
                t.current = 0;
                t
            })
            .collect();
    }

    /// Carries this state from balancer `old` to its reloaded version `new`: targets are
    /// matched by name ([`Balancer::map_from`](super::Balancer::map_from)), and the
    /// outlier settings become `new`'s. See [`Self::remap`] for requests in flight.
    pub fn carry_over(&mut self, old: &super::Balancer, new: &super::Balancer) {
        self.remap(&new.map_from(old));
        self.outlier = *new.outlier();
    }

    /// Ejects target `i` if the caps allow; returns the ejection's length.
    fn eject(&mut self, i: usize, now: Instant) -> Option<Duration> {
        let cap = self.targets.len() * usize::from(self.outlier.max_ejection_percent) / 100;
        let ejected = self.targets.iter().filter(|t| t.is_ejected(now)).count();
        if ejected >= cap {
            return None;
        }
        // Passive detection alone never takes the last usable target: a 503 should come
        // from active health checks, which actually looked.
        let others = self
            .targets
            .iter()
            .enumerate()
            .any(|(j, t)| j != i && t.healthy && !t.is_ejected(now));
        if !others {
            return None;
        }
        let outlier = self.outlier;
        let t = &mut self.targets[i];
        if t.ejected_until
            .is_some_and(|end| now.saturating_duration_since(end) >= outlier.reset_after)
        {
            t.ejection_streak = 0;
        }
        let streak = t.ejection_streak.saturating_add(1);
        let duration = outlier.ejection_duration(streak);
        t.ejected_until = Some(now.checked_add(duration)?);
        t.ejection_streak = streak;
        t.consecutive_failures = 0;
        t.ejections += 1;
        Some(duration)
    }
}
