//! Upstream selection: which target of an upstream group a request goes to.
//!
//! Two halves, like the rest of the engine: a read-only [`Balancer`] compiled into the
//! snapshot (algorithm, targets, hash ring), and a per-shard [`BalancerState`] it picks
//! with (rotation cursor, in-flight counts, smooth weighted round robin weights, health and
//! ejections). Nothing here does I/O or reads a clock: `now` and the random `roll` are
//! arguments, so every test is deterministic.
//!
//! A target is *usable* when its weight is not 0 and the active health checker has not
//! marked it down. [`Balancer::pick`] returns `None` only when no target is usable (the
//! caller answers 503 `no_healthy_upstream`). Among usable targets it prefers, in order:
//!
//! 1. not ejected and not excluded (the normal case);
//! 2. not ejected: a retry goes back to a target it tried rather than to an ejected one;
//! 3. not excluded, then any: passive ejection alone never empties an upstream, since it
//!    only saw failures on live traffic, which active checks would have confirmed.
//!
//! The algorithm then runs over the preferred set only.

use std::time::Instant;

mod health;
mod ring;
mod state;

pub use health::{HealthCounter, DEFAULT_HEALTHY_THRESHOLD, DEFAULT_UNHEALTHY_THRESHOLD};
pub use ring::{hash_key, HashRing, POINTS_PER_TARGET};
pub use state::{BalancerState, Outcome, OutlierConfig, TargetStats};

/// How a balancer chooses among usable targets (`load_balancer:` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    /// Even rotation; weights other than 0 are ignored.
    RoundRobin,
    /// Smooth weighted round robin (nginx): weight 5:1:1 gives `a a b a c a a`.
    Weighted,
    /// Fewest in-flight requests relative to weight (plain fewest when weights are equal);
    /// ties go to the next target in rotation.
    LeastConn,
    /// Power of two choices: two distinct targets drawn from `roll`, the one with fewer
    /// in-flight requests relative to weight wins (the first drawn on a tie). Weights only
    /// scale the comparison, so idle targets share evenly.
    P2c,
    /// Consistent hashing of a request attribute over a [`HashRing`]. Without a key (the
    /// header or cookie is absent) the pick falls back to round robin.
    Hash(HashOn),
}

/// What a `hash` balancer hashes; the caller extracts it and passes it to
/// [`Balancer::pick`] as `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// The downstream address: pass the IP's octets (4 or 16 bytes).
    Ip,
    /// A request header's value; the name is lower-cased.
    Header(String),
    /// A cookie's value, by cookie name.
    Cookie(String),
    /// The request path without the query.
    Path,
}

/// One target of an upstream group, as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The target's identity, e.g. its URL as configured. Hash ring points and reload
    /// carry-over key on it, so it must not change when the target list is reordered.
    pub name: String,
    /// Relative share of requests; 0 drains the target (never picked by any algorithm).
    pub weight: u32,
}

/// The compiled, read-only half of an upstream group's load balancing; `Send + Sync`,
/// lives in the snapshot. Picks with a per-shard [`BalancerState`].
#[derive(Debug, Clone)]
pub struct Balancer {
    algorithm: Algorithm,
    targets: Vec<TargetSpec>,
    /// Present exactly when `algorithm` is `Hash`.
    ring: Option<HashRing>,
    outlier: OutlierConfig,
}

/// Which usable targets a pick may choose; see the module docs for the order tried.
#[derive(Clone, Copy)]
struct Filter<'a> {
    /// Skip these targets (already tried by this request).
    exclude: &'a [usize],
    /// Skip targets ejected at `now`.
    skip_ejected: bool,
    now: Instant,
}

impl Balancer {
    /// Compiles a balancer; builds the hash ring when `algorithm` is `Hash`. Outlier
    /// detection uses [`OutlierConfig::default`] until [`Self::with_outlier`].
    pub fn new(algorithm: Algorithm, targets: Vec<TargetSpec>) -> Self {
        let ring = matches!(algorithm, Algorithm::Hash(_)).then(|| HashRing::new(&targets));
        Self {
            algorithm,
            targets,
            ring,
            outlier: OutlierConfig::default(),
        }
    }

    /// The same balancer with outlier detection settings `outlier`.
    pub fn with_outlier(mut self, outlier: OutlierConfig) -> Self {
        self.outlier = outlier;
        self
    }

    /// The selection algorithm.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The targets, in config order; a pick returns an index into this.
    pub fn targets(&self) -> &[TargetSpec] {
        &self.targets
    }

    /// The hash ring; `Some` exactly for `Algorithm::Hash`.
    pub fn ring(&self) -> Option<&HashRing> {
        self.ring.as_ref()
    }

    /// The outlier detection settings states made by [`Self::new_state`] use.
    pub fn outlier(&self) -> &OutlierConfig {
        &self.outlier
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the group has no target (every pick is `None`).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// A fresh per-shard state for this balancer: every target healthy and idle.
    pub fn new_state(&self) -> BalancerState {
        BalancerState::with_outlier(self.targets.len(), self.outlier)
    }

    /// For each of this balancer's targets, the index of the target with the same name in
    /// `old` (each old target matched at most once, first come first served), or `None`
    /// for a new target. Feed it to [`BalancerState::remap`] and [`HealthCounter::remap`].
    /// O(old x new): upstream groups are small and this runs once per reload.
    pub fn map_from(&self, old: &Balancer) -> Vec<Option<usize>> {
        let mut taken = vec![false; old.targets.len()];
        self.targets
            .iter()
            .map(|t| {
                let j = old
                    .targets
                    .iter()
                    .enumerate()
                    .position(|(j, o)| !taken[j] && o.name == t.name)?;
                taken[j] = true;
                Some(j)
            })
            .collect()
    }

    /// Chooses the target for one attempt of a request; `None` when no target is usable.
    ///
    /// - `state`: this shard's state for this balancer (made by [`Self::new_state`] or
    ///   carried over); targets beyond either side's length are never picked.
    /// - `key`: the hash input for `Algorithm::Hash` (see [`HashOn`]); ignored otherwise.
    /// - `exclude`: targets this request already tried; avoided when another target is
    ///   usable, else reused (a retry goes to another target when there is one).
    /// - `now`: for ejection ends. `roll`: a random number, used by `P2c` only.
    ///
    /// Call [`BalancerState::start`] with the result when the request is sent. Allocates
    /// nothing; O(targets), plus O(log points) for `Hash`.
    pub fn pick(
        &self,
        state: &mut BalancerState,
        key: Option<&[u8]>,
        exclude: &[usize],
        now: Instant,
        roll: u64,
    ) -> Option<usize> {
        let filter = self.preferred(state, exclude, now)?;
        match &self.algorithm {
            Algorithm::RoundRobin => self.round_robin(state, filter),
            Algorithm::Weighted => self.weighted(state, filter),
            Algorithm::LeastConn => self.least_conn(state, filter),
            Algorithm::P2c => self.p2c(state, filter, roll),
            Algorithm::Hash(_) => match (key, &self.ring) {
                (Some(key), Some(ring)) => ring
                    .walk(hash_key(key))
                    .find(|&i| self.allows(state, filter, i)),
                _ => self.round_robin(state, filter),
            },
        }
    }

    /// Targets a pick may consider: those both the balancer and the state know.
    fn n(&self, state: &BalancerState) -> usize {
        self.targets.len().min(state.targets.len())
    }

    /// The strictest filter that leaves at least one usable target, or `None` when no
    /// target is usable at all. Stops at the first fully available target.
    fn preferred<'a>(
        &self,
        state: &BalancerState,
        exclude: &'a [usize],
        now: Instant,
    ) -> Option<Filter<'a>> {
        // Bits: 1 = not ejected, not excluded; 2 = not ejected; 4 = not excluded; 8 = usable.
        let mut found = 0u8;
        for i in 0..self.n(state) {
            let t = &state.targets[i];
            if self.targets[i].weight == 0 || !t.healthy {
                continue;
            }
            let ejected = t.is_ejected(now);
            let excluded = exclude.contains(&i);
            match (ejected, excluded) {
                (false, false) => {
                    found = 1;
                    break;
                }
                (false, true) => found |= 2 | 8,
                (true, false) => found |= 4 | 8,
                (true, true) => found |= 8,
            }
        }
        let (exclude, skip_ejected) = if found & 1 != 0 {
            (exclude, true)
        } else if found & 2 != 0 {
            (&[][..], true)
        } else if found & 4 != 0 {
            (exclude, false)
        } else if found & 8 != 0 {
            (&[][..], false)
        } else {
            return None;
        };
        Some(Filter {
            exclude,
            skip_ejected,
            now,
        })
    }

    /// Whether `filter` lets a pick choose target `i`; `false` when out of range.
    fn allows(&self, state: &BalancerState, filter: Filter<'_>, i: usize) -> bool {
        let Some(t) = state.targets.get(i) else {
            return false;
        };
        self.targets.get(i).is_some_and(|s| s.weight > 0)
            && t.healthy
            && !(filter.skip_ejected && t.is_ejected(filter.now))
            && !filter.exclude.contains(&i)
    }

    /// The first allowed target from the cursor on; moves the cursor past it.
    fn round_robin(&self, state: &mut BalancerState, filter: Filter<'_>) -> Option<usize> {
        let n = self.n(state);
        let start = state.cursor % n.max(1);
        let i = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.allows(state, filter, i))?;
        state.cursor = i + 1;
        Some(i)
    }

    /// nginx's smooth weighted round robin: every allowed target's running weight grows
    /// by its weight, the largest wins and gives back the total. Spreads a heavy target's
    /// turns out instead of sending them in a burst.
    fn weighted(&self, state: &mut BalancerState, filter: Filter<'_>) -> Option<usize> {
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for i in 0..self.n(state) {
            if !self.allows(state, filter, i) {
                continue;
            }
            let w = i64::from(self.targets[i].weight);
            state.targets[i].current += w;
            total += w;
            if best.is_none_or(|b| state.targets[i].current > state.targets[b].current) {
                best = Some(i);
            }
        }
        let b = best?;
        state.targets[b].current -= total;
        Some(b)
    }

    /// Fewest in flight relative to weight, scanning from the cursor so ties rotate.
    fn least_conn(&self, state: &mut BalancerState, filter: Filter<'_>) -> Option<usize> {
        let n = self.n(state);
        let start = state.cursor % n.max(1);
        let mut best: Option<usize> = None;
        for i in (0..n).map(|k| (start + k) % n) {
            if self.allows(state, filter, i) && best.is_none_or(|b| self.lighter(state, i, b)) {
                best = Some(i);
            }
        }
        let b = best?;
        state.cursor = b + 1;
        Some(b)
    }

    /// Two distinct allowed targets drawn from `roll`; the lighter one, the first on a tie.
    fn p2c(&self, state: &mut BalancerState, filter: Filter<'_>, roll: u64) -> Option<usize> {
        let n = self.n(state);
        let allowed = (0..n).filter(|&i| self.allows(state, filter, i)).count() as u64;
        if allowed == 0 {
            return None;
        }
        let first = roll % allowed;
        let mut second = first;
        if allowed > 1 {
            second = (roll / allowed) % (allowed - 1);
            if second >= first {
                second += 1;
            }
        }
        let mut a = None;
        let mut b = None;
        for (rank, i) in (0..n)
            .filter(|&i| self.allows(state, filter, i))
            .enumerate()
        {
            let rank = rank as u64;
            if rank == first {
                a = Some(i);
            }
            if rank == second {
                b = Some(i);
            }
        }
        let (a, b) = (a?, b?);
        Some(if self.lighter(state, b, a) { b } else { a })
    }

    /// Whether target `i` carries strictly less load per unit of weight than `j`
    /// (cross-multiplied, so no division and no rounding).
    fn lighter(&self, state: &BalancerState, i: usize, j: usize) -> bool {
        let load = |k: usize| u64::from(state.targets[k].in_flight);
        let weight = |k: usize| u64::from(self.targets[k].weight);
        load(i) * weight(j) < load(j) * weight(i)
    }
}

#[cfg(test)]
mod tests;
