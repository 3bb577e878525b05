use super::*;

const K: &str = "k";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn threshold(n: u32) -> CircuitBreaker {
    CircuitBreaker {
        failure_threshold: Some(n),
        reset_timeout: Duration::from_secs(30),
        ..CircuitBreaker::default()
    }
}

fn rate(rate: f64, min_requests: u32) -> CircuitBreaker {
    CircuitBreaker {
        failure_threshold: None,
        failure_rate: Some(rate),
        window: Duration::from_secs(10),
        min_requests,
        ..CircuitBreaker::default()
    }
}

fn to(from: Phase, to: Phase) -> Option<Transition> {
    Some(Transition { from, to })
}

/// Admits and records a non-probe attempt; returns the transition of the record.
fn attempt(
    st: &mut BreakerState,
    cb: &CircuitBreaker,
    o: Outcome,
    now: Instant,
) -> Option<Transition> {
    let (a, t) = st.admit(cb, K, now);
    assert_eq!((a, t), (Admission::Allowed(None), None));
    st.record(cb, K, o, None, now)
}

/// Opens the breaker of `cb` (a threshold-1 breaker) at `now`.
fn opened(cb: &CircuitBreaker, now: Instant) -> BreakerState {
    let mut st = BreakerState::new();
    assert_eq!(
        attempt(&mut st, cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );
    st
}

fn probe(
    st: &mut BreakerState,
    cb: &CircuitBreaker,
    now: Instant,
) -> (ProbeToken, Option<Transition>) {
    match st.admit(cb, K, now) {
        (Admission::Allowed(Some(p)), t) => (p, t),
        other => panic!("expected a probe, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let cb = CircuitBreaker::default();
    assert_eq!(cb.scope, Scope::Target);
    assert_eq!(cb.failure_threshold, Some(5));
    assert_eq!(cb.failure_rate, None);
    assert_eq!((cb.window, cb.min_requests), (Duration::from_secs(10), 10));
    assert_eq!(
        (cb.reset_timeout, cb.half_open_max),
        (Duration::from_secs(30), 1)
    );
    assert_eq!(cb.failure_on, vec![500, 502, 503, 504]);
}

#[test]
fn keys_by_scope() {
    let mut cb = CircuitBreaker {
        breaker_id: "route:/a:cb".into(),
        ..CircuitBreaker::default()
    };
    assert_eq!(cb.key("/a", "10.0.0.1:80"), "route:/a:cb|t:10.0.0.1:80");
    cb.scope = Scope::Route;
    assert_eq!(cb.key("/a", "10.0.0.1:80"), "route:/a:cb|r:/a");
}

#[test]
fn classifies_outcomes() {
    let cb = CircuitBreaker {
        failure_on: vec![500, 429],
        ..CircuitBreaker::default()
    };
    let with = |status: Option<u16>, c: bool, r: bool, t: bool| {
        cb.outcome(&AttemptOutcome {
            status,
            connect_error: c,
            reset: r,
            timeout: t,
        })
    };
    assert_eq!(with(Some(200), false, false, false), Outcome::Success);
    assert_eq!(with(Some(503), false, false, false), Outcome::Success);
    assert_eq!(with(Some(429), false, false, false), Outcome::Failure);
    assert_eq!(with(None, true, false, false), Outcome::Failure);
    assert_eq!(with(None, false, true, false), Outcome::Failure);
    assert_eq!(with(Some(200), false, false, true), Outcome::Failure);
    assert_eq!(with(None, false, false, false), Outcome::Success);
}

#[test]
fn opens_on_threshold_failures_within_the_window() {
    let cb = threshold(3);
    let mut st = BreakerState::new();
    let now = Instant::now();
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    // A success in between does not forgive failures inside the window.
    assert_eq!(attempt(&mut st, &cb, Outcome::Success, now), None);
    assert_eq!(
        attempt(&mut st, &cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );
    assert_eq!(
        st.breaker(K),
        Some(&Breaker::Open {
            until: now + Duration::from_secs(30)
        })
    );
    // Failures older than the window no longer count.
    let mut st = BreakerState::new();
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    let later = now + cb.window * 2;
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, later), None);
}

#[test]
fn open_refuses_with_retry_after() {
    let cb = threshold(1);
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    assert_eq!(
        st.admit(&cb, K, t0 + ms(500)),
        (
            Admission::Refused {
                retry_after: ms(29_500)
            },
            None
        )
    );
    let r = CircuitBreaker::refusal(ms(29_500));
    assert_eq!((r.status, r.code), (503, "circuit_open"));
    assert_eq!(r.headers, vec![("retry-after", "30".to_string())]);
    assert_eq!(
        CircuitBreaker::refusal(Duration::ZERO).headers,
        vec![("retry-after", "1".to_string())]
    );
    // Results of attempts admitted before the trip are ignored while open.
    assert_eq!(st.record(&cb, K, Outcome::Success, None, t0 + ms(1)), None);
    assert_eq!(st.breaker(K).map(Breaker::phase), Some(Phase::Open));
}

#[test]
fn opens_on_rate_once_min_requests_seen() {
    let cb = rate(0.5, 4);
    let mut st = BreakerState::new();
    let now = Instant::now();
    // 3 failures of 3: above the rate but under min_requests.
    for _ in 0..3 {
        assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    }
    assert_eq!(
        attempt(&mut st, &cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );

    // Under the rate: 2 failures of 5 (40%) stays closed; the third makes 50%.
    let mut st = BreakerState::new();
    for o in [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Success,
        Outcome::Success,
        Outcome::Failure,
    ] {
        assert_eq!(attempt(&mut st, &cb, o, now), None);
    }
    assert_eq!(
        attempt(&mut st, &cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );
}

#[test]
fn rate_forgets_requests_outside_the_window() {
    let cb = rate(0.5, 4);
    let mut st = BreakerState::new();
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(attempt(&mut st, &cb, Outcome::Failure, t0), None);
    }
    // Eleven seconds later those three are gone: one failure of one is under min_requests.
    let later = t0 + Duration::from_secs(11);
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, later), None);
    assert_eq!(st.breaker(K), Some(&Breaker::Closed));
}

#[test]
fn either_check_opens_when_both_set() {
    let cb = CircuitBreaker {
        failure_threshold: Some(2),
        ..rate(0.9, 100)
    };
    let mut st = BreakerState::new();
    let now = Instant::now();
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    assert_eq!(
        attempt(&mut st, &cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );
}

#[test]
fn half_open_after_reset_timeout_and_probe_success_closes() {
    let cb = threshold(1);
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    let t1 = t0 + Duration::from_secs(30);
    let (p, t) = probe(&mut st, &cb, t1);
    assert_eq!(t, to(Phase::Open, Phase::HalfOpen));
    assert_eq!(
        st.breaker(K),
        Some(&Breaker::HalfOpen {
            in_flight: 1,
            successes: 0
        })
    );
    // The one probe slot is taken: others are refused for a second.
    assert_eq!(
        st.admit(&cb, K, t1),
        (
            Admission::Refused {
                retry_after: HALF_OPEN_RETRY_AFTER
            },
            None
        )
    );
    // A non-probe result while half-open does not count.
    assert_eq!(st.record(&cb, K, Outcome::Success, None, t1), None);
    assert_eq!(
        st.record(&cb, K, Outcome::Success, Some(p), t1),
        to(Phase::HalfOpen, Phase::Closed)
    );
    assert_eq!(st.breaker(K), Some(&Breaker::Closed));
    // Closed again with fresh counts.
    assert_eq!(attempt(&mut st, &cb, Outcome::Success, t1), None);
}

#[test]
fn probe_failure_reopens() {
    let cb = threshold(1);
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    let t1 = t0 + Duration::from_secs(31);
    let (p, _) = probe(&mut st, &cb, t1);
    assert_eq!(
        st.record(&cb, K, Outcome::Failure, Some(p), t1),
        to(Phase::HalfOpen, Phase::Open)
    );
    assert_eq!(
        st.breaker(K),
        Some(&Breaker::Open {
            until: t1 + Duration::from_secs(30)
        })
    );
    assert!(matches!(
        st.admit(&cb, K, t1 + ms(1)).0,
        Admission::Refused { .. }
    ));
}

#[test]
fn half_open_max_probes_and_successes() {
    let cb = CircuitBreaker {
        half_open_max: 2,
        ..threshold(1)
    };
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    let t1 = t0 + Duration::from_secs(30);
    let (p1, t) = probe(&mut st, &cb, t1);
    assert_eq!(t, to(Phase::Open, Phase::HalfOpen));
    let (p2, t) = probe(&mut st, &cb, t1);
    assert_eq!(t, None);
    assert!(matches!(st.admit(&cb, K, t1).0, Admission::Refused { .. }));
    // One success is not enough to close with half_open_max 2, and frees a slot.
    assert_eq!(st.record(&cb, K, Outcome::Success, Some(p1), t1), None);
    assert_eq!(
        st.breaker(K),
        Some(&Breaker::HalfOpen {
            in_flight: 1,
            successes: 1
        })
    );
    let (p3, _) = probe(&mut st, &cb, t1);
    assert_eq!(
        st.record(&cb, K, Outcome::Success, Some(p2), t1),
        to(Phase::HalfOpen, Phase::Closed)
    );
    // The leftover probe of the closed half-open period counts as an ordinary result.
    assert_eq!(st.record(&cb, K, Outcome::Success, Some(p3), t1), None);
    assert_eq!(st.breaker(K), Some(&Breaker::Closed));
}

#[test]
fn stale_probe_tokens_are_ignored() {
    let cb = threshold(1);
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    let t1 = t0 + Duration::from_secs(30);
    let (old, _) = probe(&mut st, &cb, t1);
    let (p, _) = {
        // Reopen through a fresh probe cycle so `old` belongs to an earlier half-open.
        let (p, _) = probe(&mut st, &cb, t1 + Duration::from_secs(30));
        assert_eq!(
            st.record(
                &cb,
                K,
                Outcome::Failure,
                Some(p),
                t1 + Duration::from_secs(30)
            ),
            to(Phase::HalfOpen, Phase::Open)
        );
        probe(&mut st, &cb, t1 + Duration::from_secs(60))
    };
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!(st.record(&cb, K, Outcome::Failure, Some(old), t2), None);
    assert_eq!(
        st.record(&cb, K, Outcome::Success, Some(p), t2),
        to(Phase::HalfOpen, Phase::Closed)
    );
}

#[test]
fn release_and_lost_probes_free_slots() {
    let cb = threshold(1);
    let t0 = Instant::now();
    let mut st = opened(&cb, t0);
    let t1 = t0 + Duration::from_secs(30);
    let (p, _) = probe(&mut st, &cb, t1);
    st.release(K, p);
    let (_lost, t) = probe(&mut st, &cb, t1 + ms(1));
    assert_eq!(t, None);
    assert!(matches!(
        st.admit(&cb, K, t1 + ms(2)).0,
        Admission::Refused { .. }
    ));
    // Unanswered for reset_timeout: the slot goes to a new probe.
    let (p, _) = probe(&mut st, &cb, t1 + ms(1) + Duration::from_secs(30));
    assert_eq!(
        st.record(
            &cb,
            K,
            Outcome::Success,
            Some(p),
            t1 + Duration::from_secs(31)
        ),
        to(Phase::HalfOpen, Phase::Closed)
    );
    st.release("unknown", ProbeToken { generation: 0 });
}

#[test]
fn keys_are_independent_and_swept_when_idle() {
    let cb = threshold(1);
    let mut st = BreakerState::new();
    let t0 = Instant::now();
    assert!(st.is_empty());
    assert_eq!(
        st.record(&cb, "a", Outcome::Failure, None, t0),
        to(Phase::Closed, Phase::Open)
    );
    assert_eq!(st.admit(&cb, "b", t0), (Admission::Allowed(None), None));
    assert_eq!(st.len(), 2);
    // "b" is closed and idle; "a" is open and kept.
    assert_eq!(
        st.sweep(t0 + Duration::from_secs(60), Duration::from_secs(60)),
        1
    );
    assert_eq!(st.breaker("b"), None);
    assert!(st.breaker("a").is_some());
}

#[test]
fn window_change_on_reload_resets_rate_counts() {
    let mut cb = rate(0.5, 2);
    let mut st = BreakerState::new();
    let now = Instant::now();
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    cb.window = Duration::from_secs(20);
    // The earlier failure is forgotten: one request is under min_requests.
    assert_eq!(attempt(&mut st, &cb, Outcome::Failure, now), None);
    assert_eq!(
        attempt(&mut st, &cb, Outcome::Failure, now),
        to(Phase::Closed, Phase::Open)
    );
}

#[test]
fn phase_names() {
    assert_eq!(Phase::HalfOpen.to_string(), "half_open");
    assert_eq!(Phase::Open.as_str(), "open");
    assert_eq!(Breaker::Closed.phase(), Phase::Closed);
}
