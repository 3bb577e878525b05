use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// No jitter, no budget floor issues: a generous budget.
fn plain() -> Retry {
    Retry {
        jitter: false,
        ..Retry::default()
    }
}

fn roomy() -> RetryBudget {
    RetryBudget::new(100.0, 1_000.0)
}

#[test]
fn defaults() {
    let r = Retry::default();
    assert_eq!(r.max_retries, 3);
    assert_eq!(r.retry_on.statuses, vec![502, 503, 504]);
    assert!(r.retry_on.connect_error && r.retry_on.reset && !r.retry_on.timeout);
    for m in [
        Method::Get,
        Method::Head,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Trace,
    ] {
        assert!(r.methods.contains(&m), "{m:?}");
    }
    assert!(!r.methods.contains(&Method::Post) && !r.methods.contains(&Method::Patch));
    assert_eq!(
        (r.backoff, r.base_delay, r.max_delay),
        (Backoff::Exponential, ms(25), ms(1000))
    );
    assert!(r.jitter);
    assert_eq!((r.budget_percent, r.budget_min_per_sec), (20.0, 10.0));
    assert_eq!(
        (r.retry_count_header.as_deref(), r.max_replay_bytes),
        (None, 64 * 1024)
    );
}

#[test]
fn retries_up_to_max_retries() {
    let r = plain();
    let mut b = roomy();
    let now = Instant::now();
    let o = AttemptOutcome::from_status(503);
    assert_eq!(
        r.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0),
        Some(ms(25))
    );
    assert_eq!(
        r.should_retry(2, &o, &Method::Get, true, &mut b, now, 0.0),
        Some(ms(50))
    );
    assert_eq!(
        r.should_retry(3, &o, &Method::Get, true, &mut b, now, 0.0),
        Some(ms(100))
    );
    assert_eq!(
        r.should_retry(4, &o, &Method::Get, true, &mut b, now, 0.0),
        None
    );
    let none = Retry {
        max_retries: 0,
        ..plain()
    };
    assert_eq!(
        none.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0),
        None
    );
}

#[test]
fn retry_on_statuses_and_flags() {
    let mut r = plain();
    let get = &Method::Get;
    assert!(r.retryable(&AttemptOutcome::from_status(502), get));
    assert!(!r.retryable(&AttemptOutcome::from_status(500), get));
    assert!(!r.retryable(&AttemptOutcome::from_status(200), get));
    assert!(r.retryable(&AttemptOutcome::connect_error(), get));
    assert!(r.retryable(&AttemptOutcome::reset(), get));
    assert!(!r.retryable(&AttemptOutcome::timeout(), get));
    assert!(!r.retryable(&AttemptOutcome::default(), get));
    r.retry_on = RetryOn {
        statuses: vec![500],
        connect_error: false,
        reset: false,
        timeout: true,
    };
    assert!(r.retryable(&AttemptOutcome::from_status(500), get));
    assert!(!r.retryable(&AttemptOutcome::from_status(502), get));
    assert!(!r.retryable(&AttemptOutcome::connect_error(), get));
    assert!(!r.retryable(&AttemptOutcome::reset(), get));
    assert!(r.retryable(&AttemptOutcome::timeout(), get));
}

#[test]
fn methods_limit_retries_except_connect_errors() {
    let r = plain();
    let mut b = roomy();
    let now = Instant::now();
    let post = &Method::Post;
    assert_eq!(
        r.should_retry(
            1,
            &AttemptOutcome::from_status(503),
            post,
            true,
            &mut b,
            now,
            0.0
        ),
        None
    );
    assert_eq!(
        r.should_retry(1, &AttemptOutcome::reset(), post, true, &mut b, now, 0.0),
        None
    );
    // Nothing reached the upstream: safe for any method.
    assert_eq!(
        r.should_retry(
            1,
            &AttemptOutcome::connect_error(),
            post,
            true,
            &mut b,
            now,
            0.0
        ),
        Some(ms(25))
    );
    let posts = Retry {
        methods: vec![Method::Post],
        ..plain()
    };
    assert!(posts.retryable(&AttemptOutcome::from_status(503), post));
    assert!(!posts.retryable(&AttemptOutcome::from_status(503), &Method::Get));
}

#[test]
fn unreplayable_body_is_not_retried_and_spends_no_budget() {
    let r = plain();
    let mut b = RetryBudget::new(0.0, 0.1); // one retry per window
    let now = Instant::now();
    let o = AttemptOutcome::from_status(503);
    assert_eq!(
        r.should_retry(1, &o, &Method::Put, false, &mut b, now, 0.0),
        None
    );
    assert_eq!(b.totals(now), (0, 0));
    assert!(r
        .should_retry(1, &o, &Method::Put, true, &mut b, now, 0.0)
        .is_some());
}

#[test]
fn replay_buffer_keeps_small_bodies_only() {
    let r = Retry {
        max_replay_bytes: 10,
        ..plain()
    };
    let mut buf = r.replay_buffer(None);
    assert!(buf.is_empty());
    buf.push(&Bytes::from_static(b"hello"));
    buf.push(&Bytes::new());
    buf.push(&Bytes::from_static(b"world"));
    assert!(buf.is_replayable());
    assert_eq!(
        buf.chunks(),
        &[Bytes::from_static(b"hello"), Bytes::from_static(b"world")]
    );
    assert_eq!(buf.len(), 10);
    buf.push(&Bytes::from_static(b"!"));
    assert!(!buf.is_replayable());
    assert!(buf.chunks().is_empty());
    assert_eq!(buf.len(), 11);
    buf.push(&Bytes::from_static(b"more"));
    assert!(buf.chunks().is_empty());
    // Declared too long up front: never kept.
    assert!(!r.replay_buffer(Some(11)).is_replayable());
    assert!(r.replay_buffer(Some(10)).is_replayable());
}

#[test]
fn exponential_backoff_grows_and_caps() {
    let r = plain();
    let delays: Vec<_> = (1..=8).map(|n| r.delay(n, 0.0)).collect();
    assert_eq!(
        delays,
        [25, 50, 100, 200, 400, 800, 1000, 1000].map(ms).to_vec()
    );
    // Large retry numbers saturate instead of overflowing.
    assert_eq!(r.delay(u32::MAX, 0.0), ms(1000));
    assert_eq!(r.delay(0, 0.0), ms(25));
}

#[test]
fn fixed_backoff_waits_base_delay_whatever_max_delay() {
    // The default max_delay (1 s) once cut a 2 s fixed delay short.
    let r = Retry {
        backoff: Backoff::Fixed,
        base_delay: ms(2000),
        ..plain()
    };
    assert_eq!(r.delay(1, 0.0), ms(2000));
    assert_eq!(r.delay(5, 0.0), ms(2000));
    assert_eq!(r.delay(u32::MAX, 0.0), ms(2000));
    let r = Retry {
        backoff: Backoff::Fixed,
        base_delay: ms(300),
        max_delay: ms(200),
        ..plain()
    };
    assert_eq!(r.delay(1, 0.0), ms(300));
    let r = Retry {
        backoff: Backoff::Fixed,
        ..plain()
    };
    assert_eq!(r.delay(1, 0.0), ms(25));
    assert_eq!(r.delay(3, 0.0), ms(25));
    // Jitter still draws below the full delay.
    let r = Retry {
        backoff: Backoff::Fixed,
        base_delay: ms(2000),
        jitter: true,
        ..plain()
    };
    assert_eq!(r.delay(1, 0.5), ms(1000));
    assert_eq!(r.delay(1, 0.0), Duration::ZERO);
}

#[test]
fn exponential_backoff_is_still_capped_by_max_delay() {
    let r = Retry {
        base_delay: ms(300),
        max_delay: ms(500),
        ..plain()
    };
    assert_eq!(r.delay(1, 0.0), ms(300));
    assert_eq!(r.delay(2, 0.0), ms(500));
    assert_eq!(r.delay(9, 0.0), ms(500));
}

#[test]
fn full_jitter_scales_by_roll() {
    let r = Retry::default();
    assert_eq!(r.delay(3, 0.0), Duration::ZERO);
    assert_eq!(r.delay(3, 0.5), ms(50));
    assert_eq!(r.delay(10, 0.25), ms(250));
    // Rolls out of range are clamped.
    assert_eq!(r.delay(3, 2.0), ms(100));
    assert_eq!(r.delay(3, -1.0), Duration::ZERO);
    assert_eq!(r.delay(3, f64::NAN), Duration::ZERO);
}

#[test]
fn budget_allows_percent_of_requests() {
    let mut b = RetryBudget::new(20.0, 0.0);
    let now = Instant::now();
    assert!(!b.try_retry(now), "no requests, no floor: no retries");
    for _ in 0..10 {
        b.note_request(now);
    }
    assert!(b.try_retry(now));
    assert!(b.try_retry(now));
    assert!(!b.try_retry(now), "2 of 10 spent");
    assert_eq!(b.totals(now), (10, 2));
    // Refused retries are not counted.
    assert!(!b.try_retry(now));
    assert_eq!(b.totals(now), (10, 2));
}

#[test]
fn budget_floor_and_window_roll() {
    let mut b = RetryBudget::new(20.0, 0.5); // 5 per 10 s whatever the traffic
    let t0 = Instant::now();
    for _ in 0..5 {
        assert!(b.try_retry(t0));
    }
    assert!(!b.try_retry(t0));
    // Ten seconds on, the spent retries have left the window.
    let t1 = t0 + Duration::from_secs(10);
    assert!(b.try_retry(t1));
    assert_eq!(b.totals(t1), (0, 1));
}

#[test]
fn budget_exhaustion_stops_should_retry() {
    let r = plain();
    let mut b = r.budget(1);
    let now = Instant::now();
    let o = AttemptOutcome::from_status(502);
    // 10/s floor over 10 s for a single shard: 100 retries.
    let granted = (0..150)
        .filter(|_| {
            r.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0)
                .is_some()
        })
        .count();
    assert_eq!(granted, 100);
    // The floor is split between shards.
    let mut b4 = r.budget(4);
    let granted = (0..150)
        .filter(|_| {
            r.should_retry(1, &o, &Method::Get, true, &mut b4, now, 0.0)
                .is_some()
        })
        .count();
    assert_eq!(granted, 25);
    // With traffic, the share takes over: 20% of 1000 requests.
    for _ in 0..1000 {
        b.note_request(now);
    }
    let granted = (0..150)
        .filter(|_| {
            r.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0)
                .is_some()
        })
        .count();
    assert_eq!(granted, 100);
}

#[test]
fn no_share_and_no_floor_never_retries() {
    let r = Retry {
        budget_percent: 0.0,
        budget_min_per_sec: 0.0,
        ..plain()
    };
    let o = AttemptOutcome::from_status(503);
    for shards in [1, 4] {
        let mut b = r.budget(shards);
        let now = Instant::now();
        for _ in 0..1000 {
            b.note_request(now);
        }
        let granted = (0..50)
            .filter(|_| {
                r.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0)
                    .is_some()
            })
            .count();
        assert_eq!(granted, 0, "{shards} shards");
        assert_eq!(b.totals(now), (1000, 0));
    }
}

#[test]
fn a_configured_floor_is_split_between_shards() {
    let r = Retry {
        budget_percent: 0.0,
        budget_min_per_sec: 2.0,
        ..plain()
    };
    let o = AttemptOutcome::from_status(503);
    let now = Instant::now();
    // 2/s over 10 s: 20 per window for one shard, 5 each for four.
    for (shards, want) in [(1, 20), (4, 5)] {
        let mut b = r.budget(shards);
        let granted = (0..50)
            .filter(|_| {
                r.should_retry(1, &o, &Method::Get, true, &mut b, now, 0.0)
                    .is_some()
            })
            .count();
        assert_eq!(granted, want, "{shards} shards");
    }
}

#[test]
fn budget_matches_its_policy_only() {
    let r = Retry::default();
    let b = r.budget(4);
    assert!(r.budget_matches(&b, 4));
    assert!(b.has_params(20.0, 10.0 / 4.0));
    // Another shard count splits the floor differently.
    assert!(!r.budget_matches(&b, 2));
    let other_share = Retry {
        budget_percent: 0.0,
        ..Retry::default()
    };
    assert!(!other_share.budget_matches(&b, 4));
    let other_floor = Retry {
        budget_min_per_sec: 0.0,
        ..Retry::default()
    };
    assert!(!other_floor.budget_matches(&b, 4));
    // Options that do not shape the budget leave it matching.
    let other_delays = Retry {
        base_delay: ms(5),
        max_retries: 1,
        ..Retry::default()
    };
    assert!(other_delays.budget_matches(&b, 4));
    // Negative inputs are stored as 0 by `new`, and compare the same way.
    assert!(RetryBudget::new(-5.0, -1.0).has_params(0.0, 0.0));
    assert!(RetryBudget::new(0.0, 0.0).has_params(-5.0, -1.0));
}

#[test]
fn retry_count_header() {
    let mut h = Headers::default();
    h.append("X-Retry-Count", "7");
    plain().write_count(2, &mut h);
    assert_eq!(
        h.get_str("x-retry-count"),
        Some("7"),
        "no header configured: untouched"
    );
    let r = Retry {
        retry_count_header: Some("x-retry-count".into()),
        ..plain()
    };
    r.write_count(0, &mut h);
    assert!(!h.contains("x-retry-count"));
    r.write_count(2, &mut h);
    assert_eq!(h.get_str("x-retry-count"), Some("2"));
    r.write_count(3, &mut h);
    assert_eq!(h.get_all("x-retry-count").count(), 1);
    assert_eq!(h.get_str("x-retry-count"), Some("3"));
}
