use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn spec(name: &str, weight: u32) -> TargetSpec {
    TargetSpec {
        name: name.into(),
        weight,
    }
}

/// Targets named `http://10.0.0.<i>:8080` with the given weights.
fn specs(weights: &[u32]) -> Vec<TargetSpec> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| spec(&format!("http://10.0.0.{i}:8080"), w))
        .collect()
}

fn setup(algorithm: Algorithm, weights: &[u32]) -> (Balancer, BalancerState) {
    let b = Balancer::new(algorithm, specs(weights));
    let s = b.new_state();
    (b, s)
}

fn hash_path() -> Algorithm {
    Algorithm::Hash(HashOn::Path)
}

/// Picks `n` times, each request finishing at once; returns picks per target.
fn counts(b: &Balancer, s: &mut BalancerState, n: usize, now: Instant) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut out = vec![0; b.len()];
    for _ in 0..n {
        let i = b
            .pick(s, None, &[], now, rng.u64(..))
            .expect("a usable target");
        s.start(i);
        s.finish(i, Outcome::Success, now);
        out[i] += 1;
    }
    out
}

/// `n` failures of target `i`; returns what the last `finish` said.
fn fail(s: &mut BalancerState, i: usize, n: usize, now: Instant) -> Option<Duration> {
    let mut last = None;
    for _ in 0..n {
        s.start(i);
        last = s.finish(i, Outcome::Failure, now);
    }
    last
}

/// Owner of each of `keys` test keys, by target name.
fn owners(b: &Balancer, keys: usize) -> Vec<String> {
    let mut s = b.new_state();
    let now = Instant::now();
    (0..keys)
        .map(|k| {
            let key = format!("/users/{k}");
            let i = b.pick(&mut s, Some(key.as_bytes()), &[], now, 0).unwrap();
            b.targets()[i].name.clone()
        })
        .collect()
}

fn moved(before: &[String], after: &[String]) -> f64 {
    let n = before.iter().zip(after).filter(|(a, b)| a != b).count();
    n as f64 / before.len() as f64
}

#[test]
fn balancer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Balancer>();
    check::<HashRing>();
}

#[test]
fn round_robin_rotates_evenly() {
    let (b, mut s) = setup(Algorithm::RoundRobin, &[5, 1, 1]);
    let now = Instant::now();
    let seq: Vec<_> = (0..6)
        .map(|_| b.pick(&mut s, None, &[], now, 0).unwrap())
        .collect();
    assert_eq!(seq, [0, 1, 2, 0, 1, 2], "weights are ignored");
    assert_eq!(counts(&b, &mut s, 3000, now), [1000, 1000, 1000]);
}

#[test]
fn round_robin_skips_down_targets_evenly() {
    let (b, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1, 1]);
    s.set_health(1, false);
    assert_eq!(
        counts(&b, &mut s, 3000, Instant::now()),
        [1000, 0, 1000, 1000]
    );
}

#[test]
fn weighted_is_smooth() {
    // nginx's example: {a:5, b:1, c:1} gives a a b a c a a.
    let (b, mut s) = setup(Algorithm::Weighted, &[5, 1, 1]);
    let now = Instant::now();
    let seq: Vec<_> = (0..14)
        .map(|_| b.pick(&mut s, None, &[], now, 0).unwrap())
        .collect();
    assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn weighted_respects_weights() {
    let (b, mut s) = setup(Algorithm::Weighted, &[3, 2, 1]);
    let now = Instant::now();
    assert_eq!(counts(&b, &mut s, 6000, now), [3000, 2000, 1000]);
    s.set_health(0, false);
    assert_eq!(counts(&b, &mut s, 3000, now), [0, 2000, 1000]);
}

#[test]
fn weight_zero_is_never_picked() {
    let now = Instant::now();
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2c,
    ] {
        let (b, mut s) = setup(algorithm.clone(), &[1, 0, 1]);
        let c = counts(&b, &mut s, 1000, now);
        assert_eq!(c[1], 0, "{algorithm:?}");
    }
    let (b, mut s) = setup(hash_path(), &[1, 0, 1]);
    for k in 0..1000 {
        let key = format!("/k/{k}");
        assert_ne!(b.pick(&mut s, Some(key.as_bytes()), &[], now, 0), Some(1));
    }
}

#[test]
fn least_conn_prefers_idle_and_rotates_ties() {
    let (b, mut s) = setup(Algorithm::LeastConn, &[1, 1, 1]);
    let now = Instant::now();
    s.start(0);
    s.start(0);
    s.start(2);
    assert_eq!(b.pick(&mut s, None, &[], now, 0), Some(1));
    s.finish(0, Outcome::Success, now);
    s.finish(0, Outcome::Success, now);
    s.finish(2, Outcome::Success, now);
    // All idle: ties go round.
    assert_eq!(counts(&b, &mut s, 300, now), [100, 100, 100]);
}

#[test]
fn least_conn_weighs_load_by_weight() {
    let (b, mut s) = setup(Algorithm::LeastConn, &[2, 1]);
    let now = Instant::now();
    s.start(0);
    // 1 request per 2 units against 0 per 1 unit.
    assert_eq!(b.pick(&mut s, None, &[], now, 0), Some(1));
    s.start(1);
    // 1/2 against 1/1.
    assert_eq!(b.pick(&mut s, None, &[], now, 0), Some(0));
}

#[test]
fn p2c_spreads_idle_traffic_evenly() {
    let (b, mut s) = setup(Algorithm::P2c, &[1, 1, 1, 1]);
    let c = counts(&b, &mut s, 40_000, Instant::now());
    for (i, &n) in c.iter().enumerate() {
        let share = n as f64 / 40_000.0;
        assert!((share - 0.25).abs() < 0.01, "target {i}: {share}");
    }
}

#[test]
fn p2c_draws_two_distinct_targets_and_takes_the_idle_one() {
    let now = Instant::now();
    // Two targets: whatever the roll, the idle one must be in the pair.
    let (b, mut s) = setup(Algorithm::P2c, &[1, 1]);
    s.start(0);
    for roll in 0..1000 {
        assert_eq!(b.pick(&mut s, None, &[], now, roll), Some(1));
    }
    // A busy target is picked only when drawn against another equally busy one.
    let (b, mut s) = setup(Algorithm::P2c, &[1, 1, 1]);
    for _ in 0..10 {
        s.start(0);
    }
    assert_eq!(counts(&b, &mut s, 3000, now)[0], 0);
}

/// Target 0 holds each request for 10 ticks, the others for 1; one request per tick.
fn slow_target_share(algorithm: Algorithm) -> f64 {
    let (b, mut s) = setup(algorithm, &[1, 1, 1, 1]);
    let now = Instant::now();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut pending: VecDeque<(u32, usize)> = VecDeque::new();
    let mut slow = 0;
    let ticks = 10_000;
    for tick in 0..ticks {
        pending.retain(|&(end, i)| {
            if end > tick {
                return true;
            }
            s.finish(i, Outcome::Success, now);
            false
        });
        let i = b.pick(&mut s, None, &[], now, rng.u64(..)).unwrap();
        s.start(i);
        pending.push_back((tick + if i == 0 { 10 } else { 1 }, i));
        slow += usize::from(i == 0);
    }
    slow as f64 / f64::from(ticks)
}

#[test]
fn load_aware_algorithms_send_less_to_a_slow_target() {
    assert!((slow_target_share(Algorithm::RoundRobin) - 0.25).abs() < 0.01);
    for algorithm in [Algorithm::LeastConn, Algorithm::P2c] {
        let share = slow_target_share(algorithm.clone());
        assert!(share < 0.15, "{algorithm:?}: {share}");
    }
}

#[test]
fn exclusion_avoids_tried_targets() {
    let now = Instant::now();
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2c,
    ] {
        let (b, mut s) = setup(algorithm.clone(), &[1, 1, 1]);
        for roll in 0..300 {
            let i = b.pick(&mut s, None, &[0, 2], now, roll);
            assert_eq!(i, Some(1), "{algorithm:?}");
        }
        // Every target tried: reuse one rather than fail.
        assert!(b.pick(&mut s, None, &[0, 1, 2], now, 5).is_some());
    }
}

#[test]
fn exclusion_moves_a_hashed_key_to_the_next_point() {
    let (b, mut s) = setup(hash_path(), &[1, 1, 1, 1, 1]);
    let now = Instant::now();
    let key = Some(&b"/orders/42"[..]);
    let owner = b.pick(&mut s, key, &[], now, 0).unwrap();
    let retry = b.pick(&mut s, key, &[owner], now, 0).unwrap();
    assert_ne!(retry, owner);
    assert_eq!(b.pick(&mut s, key, &[owner], now, 9), Some(retry));
}

#[test]
fn retry_prefers_a_tried_target_over_an_ejected_one() {
    let (b, mut s) = setup(Algorithm::RoundRobin, &[1, 1]);
    let now = Instant::now();
    assert!(fail(&mut s, 0, 5, now).is_some());
    assert_eq!(b.pick(&mut s, None, &[1], now, 0), Some(1));
}

#[test]
fn all_down_is_none() {
    let now = Instant::now();
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2c,
        hash_path(),
    ] {
        let (b, mut s) = setup(algorithm.clone(), &[1, 2, 3]);
        for i in 0..3 {
            s.set_health(i, false);
        }
        assert_eq!(
            b.pick(&mut s, Some(b"/x"), &[], now, 1),
            None,
            "{algorithm:?}"
        );
        s.set_health(2, true);
        assert_eq!(
            b.pick(&mut s, Some(b"/x"), &[], now, 1),
            Some(2),
            "{algorithm:?}"
        );

        let (b, mut s) = setup(algorithm.clone(), &[0, 0]);
        assert_eq!(
            b.pick(&mut s, Some(b"/x"), &[], now, 1),
            None,
            "{algorithm:?}"
        );
        let (b, mut s) = setup(algorithm.clone(), &[]);
        assert_eq!(
            b.pick(&mut s, Some(b"/x"), &[], now, 1),
            None,
            "{algorithm:?}"
        );
    }
}

#[test]
fn a_state_smaller_than_the_balancer_limits_the_pick() {
    let b = Balancer::new(Algorithm::RoundRobin, specs(&[1, 1, 1]));
    let mut s = BalancerState::new(2);
    let c = counts(&b, &mut s, 100, Instant::now());
    assert_eq!(c, [50, 50, 0]);
}

#[test]
fn ejection_takes_a_target_out_and_brings_it_back() {
    let (b, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1]);
    let t0 = Instant::now();
    assert_eq!(fail(&mut s, 0, 4, t0), None);
    assert_eq!(fail(&mut s, 0, 1, t0), Some(30 * SECOND));
    assert!(s.is_ejected(0, t0));
    assert_eq!(s.ejected_until(0, t0), Some(t0 + 30 * SECOND));
    assert_eq!(counts(&b, &mut s, 100, t0 + 29 * SECOND)[0], 0);
    let back = t0 + 30 * SECOND;
    assert!(!s.is_ejected(0, back));
    assert_eq!(s.ejected_until(0, back), None);
    assert_eq!(counts(&b, &mut s, 90, back), [30, 30, 30]);
    let stats = s.stats(0).unwrap();
    assert_eq!(
        (stats.failures, stats.ejections, stats.in_flight),
        (5, 1, 0)
    );
}

#[test]
fn repeat_ejections_double_up_to_the_cap_then_reset() {
    let (_, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1]);
    let mut now = Instant::now();
    for secs in [30, 60, 120, 240, 300, 300] {
        assert_eq!(fail(&mut s, 0, 5, now), Some(secs * SECOND));
        now += secs * SECOND;
    }
    // In for a while, but less than `reset_after`: still growing... at the cap.
    now += 299 * SECOND;
    assert_eq!(fail(&mut s, 0, 5, now), Some(300 * SECOND));
    // In for `reset_after`: starts over.
    now += 300 * SECOND + 300 * SECOND;
    assert_eq!(fail(&mut s, 0, 5, now), Some(30 * SECOND));
    assert_eq!(s.stats(0).unwrap().ejections, 8);
}

#[test]
fn ejection_duration_saturates() {
    let cfg = OutlierConfig::default();
    assert_eq!(cfg.ejection_duration(1), 30 * SECOND);
    assert_eq!(cfg.ejection_duration(4), 240 * SECOND);
    assert_eq!(cfg.ejection_duration(u32::MAX), 300 * SECOND);
    let odd = OutlierConfig {
        max_ejection_time: SECOND,
        ..cfg
    };
    assert_eq!(odd.ejection_duration(3), 30 * SECOND);
}

#[test]
fn success_resets_the_failure_run_and_cancel_does_not_count() {
    let (_, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1]);
    let now = Instant::now();
    fail(&mut s, 0, 4, now);
    s.start(0);
    assert_eq!(s.finish(0, Outcome::Success, now), None);
    assert_eq!(fail(&mut s, 0, 4, now), None);
    s.start(0);
    assert_eq!(s.finish(0, Outcome::Cancelled, now), None);
    assert_eq!(s.in_flight(0), 0);
    assert_eq!(fail(&mut s, 0, 1, now), Some(30 * SECOND));
}

#[test]
fn failures_while_ejected_do_not_count() {
    let (_, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1]);
    let now = Instant::now();
    fail(&mut s, 0, 5, now);
    assert_eq!(fail(&mut s, 0, 20, now + SECOND), None);
    assert_eq!(fail(&mut s, 0, 4, now + 30 * SECOND), None);
    assert_eq!(s.stats(0).unwrap().failures, 29);
}

#[test]
fn at_most_half_the_targets_are_ejected() {
    let (_, mut s) = setup(Algorithm::RoundRobin, &[1, 1, 1, 1]);
    let now = Instant::now();
    assert!(fail(&mut s, 0, 5, now).is_some());
    assert!(fail(&mut s, 1, 5, now).is_some());
    assert_eq!(fail(&mut s, 2, 5, now), None);
    assert!(!s.is_ejected(2, now));
    // The refused ejection is tried again on the next failure once there is room.
    let later = now + 30 * SECOND;
    assert_eq!(fail(&mut s, 2, 1, later), Some(30 * SECOND));
}

#[test]
fn the_last_usable_target_is_never_ejected() {
    let now = Instant::now();
    let (b, mut s) = setup(Algorithm::RoundRobin, &[1]);
    assert_eq!(fail(&mut s, 0, 100, now), None);
    assert_eq!(b.pick(&mut s, None, &[], now, 0), Some(0));

    let (_, mut s) = setup(Algorithm::RoundRobin, &[1, 1]);
    s.set_health(1, false);
    assert_eq!(fail(&mut s, 0, 100, now), None);
}

#[test]
fn passive_ejection_alone_never_empties_an_upstream() {
    let (b, mut s) = setup(Algorithm::RoundRobin, &[1, 1]);
    let now = Instant::now();
    assert!(fail(&mut s, 0, 5, now).is_some());
    // The active checker takes the other one out afterwards.
    s.set_health(1, false);
    assert_eq!(b.pick(&mut s, None, &[], now, 0), Some(0));
    s.set_health(0, false);
    assert_eq!(b.pick(&mut s, None, &[], now, 0), None);
}

#[test]
fn disabled_ejection() {
    let cfg = OutlierConfig {
        consecutive_failures: 0,
        ..OutlierConfig::default()
    };
    let b = Balancer::new(Algorithm::RoundRobin, specs(&[1, 1, 1])).with_outlier(cfg);
    let mut s = b.new_state();
    assert_eq!(s.outlier(), &cfg);
    assert_eq!(fail(&mut s, 0, 100, Instant::now()), None);
}

#[test]
fn hash_is_stable_and_deterministic() {
    let b = Balancer::new(hash_path(), specs(&[1, 1, 1, 1, 1]));
    let first = owners(&b, 1000);
    assert_eq!(owners(&b, 1000), first);
    // A balancer compiled again (a reload, another process) maps keys the same way.
    let again = Balancer::new(hash_path(), specs(&[1, 1, 1, 1, 1]));
    assert_eq!(owners(&again, 1000), first);
    // Order of the target list does not matter either.
    let mut reversed = specs(&[1, 1, 1, 1, 1]);
    reversed.reverse();
    assert_eq!(owners(&Balancer::new(hash_path(), reversed), 1000), first);
    assert_eq!(b.ring().unwrap().len(), 5 * POINTS_PER_TARGET as usize);
}

#[test]
fn hash_spreads_keys_by_weight() {
    let keys = 20_000;
    let count = |weights: &[u32]| {
        let b = Balancer::new(hash_path(), specs(weights));
        let names = owners(&b, keys);
        b.targets()
            .iter()
            .map(|t| names.iter().filter(|n| **n == t.name).count() as f64 / keys as f64)
            .collect::<Vec<_>>()
    };
    for (i, share) in count(&[1, 1, 1, 1, 1]).into_iter().enumerate() {
        assert!((share - 0.2).abs() < 0.05, "target {i}: {share}");
    }
    let shares = count(&[2, 1, 1]);
    assert!((shares[0] - 0.5).abs() < 0.07, "{shares:?}");
}

#[test]
fn removing_one_of_five_targets_moves_only_its_keys() {
    let all = specs(&[1, 1, 1, 1, 1]);
    let before = owners(&Balancer::new(hash_path(), all.clone()), 10_000);
    let mut four = all.clone();
    let gone = four.remove(2).name;
    let after = owners(&Balancer::new(hash_path(), four), 10_000);
    let fraction = moved(&before, &after);
    assert!((0.12..0.28).contains(&fraction), "{fraction}");
    for (b, a) in before.iter().zip(&after) {
        if *b != gone {
            assert_eq!(a, b, "a key of a remaining target moved");
        }
    }
}

#[test]
fn adding_a_sixth_target_takes_about_a_sixth_of_the_keys() {
    let five = specs(&[1, 1, 1, 1, 1]);
    let mut six = five.clone();
    six.push(spec("http://10.0.1.99:8080", 1));
    let before = owners(&Balancer::new(hash_path(), five), 10_000);
    let after = owners(&Balancer::new(hash_path(), six), 10_000);
    let fraction = moved(&before, &after);
    assert!((0.10..0.24).contains(&fraction), "{fraction}");
    for (b, a) in before.iter().zip(&after) {
        if a != b {
            assert_eq!(
                a, "http://10.0.1.99:8080",
                "keys move only to the new target"
            );
        }
    }
}

#[test]
fn hash_falls_over_to_the_next_point_when_the_owner_is_down() {
    let b = Balancer::new(hash_path(), specs(&[1, 1, 1, 1, 1]));
    let mut s = b.new_state();
    let now = Instant::now();
    let pick = |s: &mut BalancerState, k: usize| {
        let key = format!("/users/{k}");
        b.pick(s, Some(key.as_bytes()), &[], now, 0).unwrap()
    };
    let before: Vec<_> = (0..2000).map(|k| pick(&mut s, k)).collect();
    s.set_health(3, false);
    let during: Vec<_> = (0..2000).map(|k| pick(&mut s, k)).collect();
    for (b, d) in before.iter().zip(&during) {
        if *b == 3 {
            assert_ne!(*d, 3);
        } else {
            assert_eq!(d, b, "keys of healthy targets stay put");
        }
    }
    s.set_health(3, true);
    let after: Vec<_> = (0..2000).map(|k| pick(&mut s, k)).collect();
    assert_eq!(after, before, "keys come back when the owner does");
}

#[test]
fn hash_without_a_key_rotates() {
    let (b, mut s) = setup(hash_path(), &[1, 1, 1]);
    assert_eq!(counts(&b, &mut s, 300, Instant::now()), [100, 100, 100]);
}

#[test]
fn ring_owner_and_debug() {
    let ring = HashRing::new(&specs(&[1, 1]));
    assert_eq!(ring.len(), 320);
    assert_eq!(format!("{ring:?}"), "HashRing { points: 320 }");
    assert!(ring.owner(b"k").is_some());
    assert!(HashRing::new(&specs(&[0])).is_empty());
    assert_eq!(HashRing::new(&[]).owner(b"k"), None);
    // Duplicated names still get their own points.
    let dup = HashRing::new(&[spec("a", 1), spec("a", 1)]);
    let mut seen = [false; 2];
    for k in 0..200u32 {
        seen[dup.owner(&k.to_le_bytes()).unwrap()] = true;
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn carry_over_keeps_state_by_target_name() {
    let now = Instant::now();
    let old = Balancer::new(
        Algorithm::LeastConn,
        vec![spec("a", 1), spec("b", 1), spec("c", 1)],
    );
    let mut s = old.new_state();
    s.start(0);
    s.start(0);
    assert!(fail(&mut s, 1, 5, now).is_some());
    s.set_health(2, false);

    let cfg = OutlierConfig {
        consecutive_failures: 2,
        ..OutlierConfig::default()
    };
    let new = Balancer::new(
        Algorithm::LeastConn,
        vec![spec("c", 1), spec("a", 1), spec("d", 1)],
    )
    .with_outlier(cfg);
    assert_eq!(new.map_from(&old), [Some(2), Some(0), None]);
    s.carry_over(&old, &new);
    assert_eq!(s.len(), 3);
    assert!(!s.is_healthy(0), "c keeps its health verdict");
    assert_eq!(s.in_flight(1), 2, "a keeps its in-flight count");
    assert_eq!(s.stats(2), Some(TargetStats::default()), "d starts fresh");
    assert!(s.is_healthy(2));
    assert_eq!(s.outlier(), &cfg);
    assert_eq!(new.pick(&mut s, None, &[], now, 0), Some(2));
}

#[test]
fn map_from_matches_each_old_target_once() {
    let old = Balancer::new(Algorithm::RoundRobin, vec![spec("a", 1), spec("a", 1)]);
    let new = Balancer::new(
        Algorithm::RoundRobin,
        vec![spec("a", 1), spec("a", 1), spec("a", 1)],
    );
    assert_eq!(new.map_from(&old), [Some(0), Some(1), None]);
}

#[test]
fn resize_keeps_existing_targets() {
    let mut s = BalancerState::new(2);
    s.start(1);
    s.set_health(0, false);
    s.resize(3);
    assert_eq!((s.len(), s.in_flight(1), s.is_healthy(0)), (3, 1, false));
    assert!(s.is_healthy(2));
    s.resize(1);
    assert_eq!(s.len(), 1);
    assert_eq!(s.in_flight(1), 0);
    assert!(!s.is_healthy(5));
    assert_eq!(s.finish(5, Outcome::Failure, Instant::now()), None);
}

#[test]
fn health_counter_flips_after_thresholds() {
    let mut h = HealthCounter::new(2, 2, 3);
    assert!(h.is_healthy(0));
    assert_eq!(h.observe(0, false), None);
    assert_eq!(h.observe(0, false), None);
    assert_eq!(h.observe(0, true), None, "a success breaks the run");
    assert_eq!(h.observe(0, false), None);
    assert_eq!(h.observe(0, false), None);
    assert_eq!(h.observe(0, false), Some(false));
    assert!(!h.is_healthy(0));
    assert_eq!(h.observe(0, false), None, "no flip while staying down");
    assert_eq!(h.observe(0, true), None);
    assert_eq!(h.observe(0, true), Some(true));
    assert!(h.is_healthy(1), "targets are counted apart");
    assert_eq!(h.observe(9, false), None);
}

#[test]
fn health_counter_thresholds_of_one_and_remap() {
    let mut h = HealthCounter::new(2, 0, 1);
    assert_eq!(h.observe(1, false), Some(false));
    assert_eq!(h.observe(1, true), Some(true));
    h.observe(1, false);
    h.remap(&[Some(1), None]);
    assert_eq!(
        (h.len(), h.is_healthy(0), h.is_healthy(1)),
        (2, false, true)
    );
    h.set_thresholds(3, 3);
    assert_eq!(h.observe(0, true), None);
}
