use super::*;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn all() -> TimeoutPolicy {
    TimeoutPolicy {
        request: Some(s(30)),
        first_byte: Some(s(5)),
        idle: Some(s(10)),
    }
}

#[test]
fn off_by_default() {
    let p = TimeoutPolicy::default();
    assert!(p.is_off());
    let t0 = Instant::now();
    let c = TimeoutClock::new(t0);
    assert_eq!(c.next_deadline(&p), None);
    assert_eq!(c.expired(&p, t0 + s(1_000_000)), None);
    assert_eq!(c.request_remaining(&p, t0), None);
    assert_eq!(c.started(), t0);
}

#[test]
fn deadline_helpers() {
    let p = all();
    let t0 = Instant::now();
    assert!(!p.is_off());
    assert_eq!(p.request_deadline(t0), Some(t0 + s(30)));
    assert_eq!(p.first_byte_deadline(t0), Some(t0 + s(5)));
    assert_eq!(p.idle_deadline(t0), Some(t0 + s(10)));
}

#[test]
fn first_byte_then_idle_then_request() {
    let p = all();
    let t0 = Instant::now();
    let mut c = TimeoutClock::new(t0);
    assert_eq!(
        c.next_deadline(&p),
        Some((t0 + s(5), TimeoutKind::FirstByte))
    );
    assert_eq!(c.expired(&p, t0 + s(4)), None);
    assert_eq!(c.expired(&p, t0 + s(5)), Some(TimeoutKind::FirstByte));
    // Once the head is in, idle governs, then the whole-exchange limit.
    c.response_head(t0 + s(2));
    assert_eq!(c.next_deadline(&p), Some((t0 + s(12), TimeoutKind::Idle)));
    c.response_progress(t0 + s(11));
    c.response_progress(t0 + s(20));
    assert_eq!(c.expired(&p, t0 + s(29)), None);
    assert_eq!(
        c.next_deadline(&p),
        Some((t0 + s(30), TimeoutKind::Request))
    );
    assert_eq!(c.expired(&p, t0 + s(30)), Some(TimeoutKind::Request));
}

#[test]
fn idle_is_not_cut_while_a_stream_flows() {
    let p = TimeoutPolicy {
        idle: Some(s(10)),
        ..TimeoutPolicy::default()
    };
    let t0 = Instant::now();
    let mut c = TimeoutClock::new(t0);
    c.response_head(t0 + s(1));
    for i in 1..100 {
        c.response_progress(t0 + s(i * 9));
        assert_eq!(c.expired(&p, t0 + s(i * 9 + 9)), None);
    }
    assert_eq!(c.expired(&p, t0 + s(99 * 9 + 10)), Some(TimeoutKind::Idle));
    // Idle also bounds the wait for the head.
    let c = TimeoutClock::new(t0);
    assert_eq!(c.expired(&p, t0 + s(10)), Some(TimeoutKind::Idle));
}

#[test]
fn slow_upload_pushes_first_byte_back() {
    let p = TimeoutPolicy {
        first_byte: Some(s(5)),
        ..TimeoutPolicy::default()
    };
    let t0 = Instant::now();
    let mut c = TimeoutClock::new(t0);
    c.request_progress(t0 + s(4));
    c.request_progress(t0 + s(8));
    assert_eq!(c.expired(&p, t0 + s(12)), None);
    assert_eq!(c.expired(&p, t0 + s(13)), Some(TimeoutKind::FirstByte));
    // Out-of-order events never move a deadline earlier.
    c.request_progress(t0);
    assert_eq!(
        c.next_deadline(&p),
        Some((t0 + s(13), TimeoutKind::FirstByte))
    );
}

#[test]
fn each_attempt_restarts_first_byte_and_idle_not_request() {
    let p = all();
    let t0 = Instant::now();
    let mut c = TimeoutClock::new(t0);
    c.response_head(t0 + s(1));
    c.attempt_started(t0 + s(20));
    assert_eq!(
        c.next_deadline(&p),
        Some((t0 + s(25), TimeoutKind::FirstByte))
    );
    c.attempt_started(t0 + s(28));
    assert_eq!(
        c.next_deadline(&p),
        Some((t0 + s(30), TimeoutKind::Request))
    );
    assert_eq!(c.request_remaining(&p, t0 + s(28)), Some(s(2)));
    assert_eq!(c.request_remaining(&p, t0 + s(31)), Some(Duration::ZERO));
}

#[test]
fn ties_prefer_request() {
    let p = TimeoutPolicy {
        request: Some(s(5)),
        first_byte: Some(s(5)),
        idle: Some(s(5)),
    };
    let t0 = Instant::now();
    assert_eq!(
        TimeoutClock::new(t0).expired(&p, t0 + s(5)),
        Some(TimeoutKind::Request)
    );
}

#[test]
fn rejects_with_504() {
    for kind in [
        TimeoutKind::Request,
        TimeoutKind::FirstByte,
        TimeoutKind::Idle,
    ] {
        let r = TimeoutPolicy::reject(kind);
        assert_eq!((r.status, r.code), (504, "gateway_timeout"));
        assert!(r.headers.is_empty());
    }
    assert_eq!(TimeoutKind::FirstByte.to_string(), "first_byte");
}
