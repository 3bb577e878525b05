//! Active health verdicts: a target flips state only after a run of agreeing checks.

/// Checks in a row that bring an unhealthy target back (HAProxy's `rise`).
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;

/// Checks in a row that take a healthy target out (HAProxy's `fall`).
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// Turns individual health check results into verdicts, per target. Kept by whichever
/// shard runs the checks; it publishes each flip, and every shard applies it with
/// [`BalancerState::set_health`](super::BalancerState::set_health).
#[derive(Debug, Clone)]
pub struct HealthCounter {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    targets: Vec<Run>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    healthy: bool,
    /// Results in a row that disagree with `healthy`.
    against: u32,
}

impl Run {
    const NEW: Run = Run {
        healthy: true,
        against: 0,
    };
}

impl HealthCounter {
    /// Counter for `n_targets` targets, all starting healthy (so a new upstream serves at
    /// once; passive detection covers a dead target until the checks catch up).
    /// Thresholds below 1 count as 1.
    pub fn new(n_targets: usize, healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        Self {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            targets: vec![Run::NEW; n_targets],
        }
    }

    /// Records one check of target `i`; returns the new verdict when this check flips it
    /// (`Some(false)` after `unhealthy_threshold` failures in a row, `Some(true)` after
    /// `healthy_threshold` successes in a row), else `None`. Out of range: `None`.
    pub fn observe(&mut self, i: usize, ok: bool) -> Option<bool> {
        let run = self.targets.get_mut(i)?;
        if ok == run.healthy {
            run.against = 0;
            return None;
        }
        run.against += 1;
        let needed = if ok {
            self.healthy_threshold
        } else {
            self.unhealthy_threshold
        };
        if run.against < needed {
            return None;
        }
        run.healthy = ok;
        run.against = 0;
        Some(ok)
    }

    /// The current verdict for target `i`; `false` when out of range.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.targets.get(i).is_some_and(|r| r.healthy)
    }

    /// Number of targets counted.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether no target is counted.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Rebuilds for a new target list, like
    /// [`BalancerState::remap`](super::BalancerState::remap): new target `k` keeps the
    /// verdict and run of old target `new_from_old[k]`, or starts healthy.
    pub fn remap(&mut self, new_from_old: &[Option<usize>]) {
        let old = std::mem::take(&mut self.targets);
        self.targets = new_from_old
            .iter()
            .map(|&from| from.and_then(|j| old.get(j).copied()).unwrap_or(Run::NEW))
            .collect();
    }

    /// Replaces the thresholds (a reload); runs in progress keep their count.
    pub fn set_thresholds(&mut self, healthy_threshold: u32, unhealthy_threshold: u32) {
        self.healthy_threshold = healthy_threshold.max(1);
        self.unhealthy_threshold = unhealthy_threshold.max(1);
    }
}
