//! The resilience and chaos policies (`timeout`, `retry`, `circuit-breaker`,
//! `latency-injection`, `fault-injection`, `traffic-shadow`): every field, its default, and
//! each error with its exact path.

use super::*;

/// A valid file with one global policy, `policy` (flow style), at `policies[0]`.
fn global_policy(policy: &str) -> String {
    format!("{MINIMAL}policies:\n  - {policy}\n")
}

/// The loaded `{type: <type_name>, <options>}` entry.
fn spec(type_name: &str, options: &str) -> PolicySpec {
    let mut c = ok(&global_policy(&format!("{{type: {type_name}, {options}}}")));
    c.policies.remove(0)
}

/// Every error of `{type: <type_name>, <options>}`, paths relative to `policies[0]`.
fn errors_of(type_name: &str, options: &str) -> Vec<(String, String)> {
    errors(&global_policy(&format!("{{type: {type_name}, {options}}}")))
        .into_iter()
        .map(|(path, message)| {
            let relative = path
                .strip_prefix("policies[0]")
                .unwrap_or_else(|| panic!("error outside the policy: {path}: {message}"));
            (relative.to_owned(), message)
        })
        .collect()
}

/// Asserts that each `(options, path, message)` case is exactly that one error.
fn assert_errors(type_name: &str, cases: &[(&str, &str, String)]) {
    for (options, path, message) in cases {
        assert_eq!(
            errors_of(type_name, options),
            [(path.to_string(), message.clone())],
            "{type_name}: {options}"
        );
    }
}

/// The paths of every error of `{type: <type_name>, <options>}`, relative to `policies[0]`.
fn error_paths(type_name: &str, options: &str) -> Vec<String> {
    errors_of(type_name, options)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// `unknown field {name:?}..., expected one of: type, name, priority, skip, {options}`.
fn unknown(name: &str, hint: &str, options: &str) -> String {
    format!("unknown field {name:?}{hint}, expected one of: type, name, priority, skip, {options}")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn timeout(options: &str) -> TimeoutOptions {
    match spec("timeout", options).kind {
        PolicyKind::Timeout(o) => o,
        other => panic!("{other:?}"),
    }
}

fn retry(options: &str) -> RetryOptions {
    match spec("retry", options).kind {
        PolicyKind::Retry(o) => o,
        other => panic!("{other:?}"),
    }
}

fn breaker(options: &str) -> CircuitBreakerOptions {
    match spec("circuit-breaker", options).kind {
        PolicyKind::CircuitBreaker(o) => o,
        other => panic!("{other:?}"),
    }
}

fn latency(options: &str) -> LatencyInjectionOptions {
    match spec("latency-injection", options).kind {
        PolicyKind::LatencyInjection(o) => o,
        other => panic!("{other:?}"),
    }
}

fn fault(options: &str) -> FaultInjectionOptions {
    match spec("fault-injection", options).kind {
        PolicyKind::FaultInjection(o) => o,
        other => panic!("{other:?}"),
    }
}

fn shadow(options: &str) -> TrafficShadowOptions {
    match spec("traffic-shadow", options).kind {
        PolicyKind::TrafficShadow(o) => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_priorities_and_names() {
    for (type_name, options, priority) in [
        ("timeout", "idle: 1s", 85),
        ("retry", "", 90),
        ("circuit-breaker", "", 30),
        ("latency-injection", "delay: 1s", 5),
        ("fault-injection", "abort_status: 500, percentage: 10", 5),
        ("traffic-shadow", "target: 'http://m'", 92),
    ] {
        let s = spec(type_name, options);
        assert_eq!((s.name.as_str(), s.priority), (type_name, priority));
        assert_eq!(s.kind.type_name(), type_name);
    }
    // On a route, block style, with the common fields.
    let c = ok(&with_route_fields(
        "    policies:
      - type: retry
        name: careful
        priority: 80
        max_retries: 1
        skip: {methods: [PUT]}
      - type: circuit-breaker
        failure_rate: 0.5
    upstream: {type: url, target: 'http://a'}
",
    ));
    let policies = &c.routes[0].policies;
    assert_eq!(
        (policies[0].name.as_str(), policies[0].priority),
        ("careful", 80)
    );
    assert_eq!(policies[1].field_path, "routes[0].policies[1]");
    let PolicyKind::Retry(r) = &policies[0].kind else {
        panic!()
    };
    assert_eq!(r.max_retries, 1);
    let PolicyKind::CircuitBreaker(b) = &policies[1].kind else {
        panic!()
    };
    assert_eq!(b.trip, BreakerTrip::FailureRate(0.5));
}

// ---- timeout -------------------------------------------------------------------------------

const TIMEOUT_OPTIONS: &str = "request, first_byte, idle";

#[test]
fn timeout_fields() {
    assert_eq!(
        timeout("request: 30s, first_byte: 5s, idle: 500ms"),
        TimeoutOptions {
            request: Some(secs(30)),
            first_byte: Some(secs(5)),
            idle: Some(ms(500)),
        }
    );
    for (options, expected) in [
        (
            "request: 1m",
            TimeoutOptions {
                request: Some(secs(60)),
                first_byte: None,
                idle: None,
            },
        ),
        (
            "first_byte: 2",
            TimeoutOptions {
                request: None,
                first_byte: Some(secs(2)),
                idle: None,
            },
        ),
        (
            // Without request, nothing bounds the others.
            "idle: 1h, first_byte: 2h",
            TimeoutOptions {
                request: None,
                first_byte: Some(secs(7200)),
                idle: Some(secs(3600)),
            },
        ),
        (
            // Equal to request is allowed.
            "request: 5s, first_byte: 5s, idle: 5s",
            TimeoutOptions {
                request: Some(secs(5)),
                first_byte: Some(secs(5)),
                idle: Some(secs(5)),
            },
        ),
    ] {
        assert_eq!(timeout(options), expected, "{options}");
    }
}

#[test]
fn timeout_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "",
            "",
            "timeout does nothing: give at least one of request, first_byte, idle".into(),
        ),
        ("request: 0s", ".request", "must be greater than 0".into()),
        (
            "first_byte: 0",
            ".first_byte",
            "must be greater than 0".into(),
        ),
        (
            "idle: 1m30s",
            ".idle",
            "invalid duration \"1m30s\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "request: 5s, first_byte: 6s",
            ".first_byte",
            "must be at most request (5s), or it could never fire".into(),
        ),
        (
            "request: 500ms, idle: 1s",
            ".idle",
            "must be at most request (500ms), or it could never fire".into(),
        ),
        (
            "request: 5s, connect: 1s",
            ".connect",
            unknown("connect", "", TIMEOUT_OPTIONS),
        ),
        (
            "request: 5s, fist_byte: 1s",
            ".fist_byte",
            unknown(
                "fist_byte",
                " (did you mean \"first_byte\"?)",
                TIMEOUT_OPTIONS,
            ),
        ),
    ];
    assert_errors("timeout", cases);
    assert_eq!(
        error_paths("timeout", "request: x, first_byte: 0s, idle: 20s"),
        [".request", ".first_byte"]
    );
    assert_eq!(
        error_paths("timeout", "request: 1s, first_byte: 2s, idle: 3s"),
        [".first_byte", ".idle"]
    );
}

// ---- retry ---------------------------------------------------------------------------------

const RETRY_OPTIONS: &str = "max_retries, retry_on, methods, backoff, base_delay, max_delay, \
                             jitter, budget_percent, budget_min_per_second, retry_count_header, \
                             max_replay_bytes";

#[test]
fn retry_defaults() {
    assert_eq!(
        retry(""),
        RetryOptions {
            max_retries: 3,
            retry_on: vec![
                RetryOn::Status(502),
                RetryOn::Status(503),
                RetryOn::Status(504),
                RetryOn::ConnectError,
                RetryOn::Reset,
            ],
            methods: strings(&["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]),
            backoff: Backoff::Exponential,
            base_delay: ms(25),
            max_delay: secs(1),
            jitter: true,
            budget_percent: 20,
            budget_min_per_second: 10.0,
            retry_count_header: None,
            max_replay_bytes: 65_536,
        }
    );
}

#[test]
fn retry_full() {
    assert_eq!(
        retry(
            "max_retries: 5, retry_on: [429, timeout, reset, connect_error, '500'], methods: \
             [get, POST], backoff: exponential, base_delay: 100ms, max_delay: 2s, jitter: \
             false, budget_percent: 50, budget_min_per_second: 2.5, retry_count_header: \
             X-Retry-Count, max_replay_bytes: 0"
        ),
        RetryOptions {
            max_retries: 5,
            retry_on: vec![
                RetryOn::Status(429),
                RetryOn::Timeout,
                RetryOn::Reset,
                RetryOn::ConnectError,
                RetryOn::Status(500),
            ],
            methods: strings(&["GET", "POST"]),
            backoff: Backoff::Exponential,
            base_delay: ms(100),
            max_delay: secs(2),
            jitter: false,
            budget_percent: 50,
            budget_min_per_second: 2.5,
            retry_count_header: Some("x-retry-count".into()),
            max_replay_bytes: 0,
        }
    );
    let r = retry("backoff: fixed, base_delay: 0s, budget_percent: 0");
    assert_eq!(r.backoff, Backoff::Fixed);
    assert_eq!(r.base_delay, Duration::ZERO);
    // max_delay keeps its default (unused by fixed backoff).
    assert_eq!(r.max_delay, secs(1));
    assert_eq!(r.budget_percent, 0);
    // With fixed backoff base_delay may exceed the default max_delay.
    assert_eq!(retry("backoff: fixed, base_delay: 5s").base_delay, secs(5));
    assert_eq!(retry("budget_percent: 100").budget_percent, 100);
    assert_eq!(retry("base_delay: 1s, max_delay: 1s").base_delay, secs(1));
}

#[test]
fn retry_budget_min_per_second() {
    // 0 is allowed: with budget_percent 0 it turns retries off.
    let r = retry("budget_percent: 0, budget_min_per_second: 0");
    assert_eq!((r.budget_percent, r.budget_min_per_second), (0, 0.0));
    for (written, value) in [
        ("'0'", 0.0),
        ("0.0", 0.0),
        ("0.5", 0.5),
        ("'12.5'", 12.5),
        ("1000", 1000.0),
    ] {
        assert_eq!(
            retry(&format!("budget_min_per_second: {written}")).budget_min_per_second,
            value,
            "{written}"
        );
    }
}

#[test]
fn retry_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "max_retries: 0",
            ".max_retries",
            "must be greater than 0".into(),
        ),
        (
            "max_retries: -1",
            ".max_retries",
            "-1 is out of range".into(),
        ),
        (
            "retry_on: []",
            ".retry_on",
            "must not be empty (leave it out for 502, 503, 504, connect_error, reset)".into(),
        ),
        (
            "retry_on: [502, 302]",
            ".retry_on[1]",
            "invalid status \"302\" (expected 400..=599)".into(),
        ),
        (
            "retry_on: [600]",
            ".retry_on[0]",
            "invalid status \"600\" (expected 400..=599)".into(),
        ),
        (
            "retry_on: [connect-error]",
            ".retry_on[0]",
            "unknown retry_on \"connect-error\" (did you mean \"connect_error\"?), expected a \
             status (400..=599) or one of: connect_error, reset, timeout"
                .into(),
        ),
        (
            "retry_on: [5xx]",
            ".retry_on[0]",
            "unknown retry_on \"5xx\", expected a status (400..=599) or one of: connect_error, \
             reset, timeout"
                .into(),
        ),
        (
            "retry_on: [503, reset, '503']",
            ".retry_on[2]",
            "status 503 is listed twice".into(),
        ),
        (
            "retry_on: [reset, reset]",
            ".retry_on[1]",
            "reset is listed twice".into(),
        ),
        (
            "retry_on: 503",
            ".retry_on",
            "invalid type: integer `503`, expected a sequence".into(),
        ),
        (
            "methods: []",
            ".methods",
            "must not be empty (leave it out for GET, HEAD, PUT, DELETE, OPTIONS, TRACE)".into(),
        ),
        (
            "methods: [GET, get]",
            ".methods[1]",
            "method GET is listed twice".into(),
        ),
        (
            "methods: ['GE T']",
            ".methods[0]",
            "invalid method \"GE T\"".into(),
        ),
        (
            "backoff: linear",
            ".backoff",
            "unknown backoff \"linear\", expected one of: exponential, fixed".into(),
        ),
        (
            "backoff: fix",
            ".backoff",
            "unknown backoff \"fix\" (did you mean \"fixed\"?), expected one of: exponential, \
             fixed"
                .into(),
        ),
        (
            "base_delay: -5ms",
            ".base_delay",
            "invalid duration \"-5ms\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "max_delay: 0s",
            ".max_delay",
            "must be greater than 0".into(),
        ),
        (
            "backoff: fixed, max_delay: 1s",
            ".max_delay",
            "max_delay only applies to backoff: exponential (fixed waits base_delay every time)"
                .into(),
        ),
        (
            "base_delay: 2s, max_delay: 1s",
            ".max_delay",
            "must be at least base_delay (2s)".into(),
        ),
        (
            "max_delay: 10ms",
            ".max_delay",
            "must be at least base_delay (25ms)".into(),
        ),
        (
            "base_delay: 2s",
            ".base_delay",
            "must be at most max_delay (1s by default); raise max_delay as well".into(),
        ),
        (
            "jitter: on",
            ".jitter",
            "expected true or false, found \"on\"".into(),
        ),
        (
            "budget_percent: 101",
            ".budget_percent",
            "must be at most 100".into(),
        ),
        (
            "budget_percent: 2.5",
            ".budget_percent",
            "expected an integer, found \"2.5\"".into(),
        ),
        (
            "budget_percent: -1",
            ".budget_percent",
            "-1 is out of range".into(),
        ),
        (
            "budget_min_per_second: -1",
            ".budget_min_per_second",
            "invalid number \"-1\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: -0.5",
            ".budget_min_per_second",
            "invalid number \"-0.5\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: ten",
            ".budget_min_per_second",
            "invalid number \"ten\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: .nan",
            ".budget_min_per_second",
            "invalid number \".nan\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: .inf",
            ".budget_min_per_second",
            "invalid number \".inf\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: '1.2.3'",
            ".budget_min_per_second",
            "invalid number \"1.2.3\" (expected 0 or more, e.g. 10 or 0.5)".into(),
        ),
        (
            "budget_min_per_second: [1]",
            ".budget_min_per_second",
            "expected a single value, found a list".into(),
        ),
        (
            "budget_min_per_seconds: 1",
            ".budget_min_per_seconds",
            unknown(
                "budget_min_per_seconds",
                " (did you mean \"budget_min_per_second\"?)",
                RETRY_OPTIONS,
            ),
        ),
        (
            "retry_count_header: 'x retry'",
            ".retry_count_header",
            "invalid header name \"x retry\"".into(),
        ),
        (
            "max_replay_bytes: lots",
            ".max_replay_bytes",
            "expected an integer, found \"lots\"".into(),
        ),
        (
            "max_replay_bytes: -1",
            ".max_replay_bytes",
            "-1 is out of range".into(),
        ),
        (
            "retries: 3",
            ".retries",
            unknown("retries", "", RETRY_OPTIONS),
        ),
        (
            "max_retires: 3",
            ".max_retires",
            unknown(
                "max_retires",
                " (did you mean \"max_retries\"?)",
                RETRY_OPTIONS,
            ),
        ),
    ];
    assert_errors("retry", cases);
}

#[test]
fn retry_errors_are_all_reported() {
    assert_eq!(
        error_paths(
            "retry",
            "max_retries: 0, retry_on: [200, reset, nope], methods: [], backoff: random, \
             base_delay: x, max_delay: 0s, jitter: 1, budget_percent: 200, \
             budget_min_per_second: -3, retry_count_header: '', max_replay_bytes: x"
        ),
        [
            ".max_retries",
            ".retry_on[0]",
            ".retry_on[2]",
            ".methods",
            ".backoff",
            ".base_delay",
            ".max_delay",
            ".jitter",
            ".budget_percent",
            ".budget_min_per_second",
            ".retry_count_header",
            ".max_replay_bytes",
        ]
    );
    // An invalid backoff does not make max_delay an error of its own.
    assert_eq!(
        error_paths("retry", "backoff: fixd, max_delay: 1s"),
        [".backoff"]
    );
}

// ---- circuit-breaker -----------------------------------------------------------------------

const BREAKER_OPTIONS: &str = "scope, failure_threshold, failure_rate, window, min_requests, \
                               reset_timeout, half_open_max, failure_on";

#[test]
fn circuit_breaker_defaults() {
    assert_eq!(
        breaker(""),
        CircuitBreakerOptions {
            scope: BreakerScope::Target,
            trip: BreakerTrip::FailureThreshold(5),
            window: secs(10),
            min_requests: 10,
            reset_timeout: secs(30),
            half_open_max: 1,
            failure_on: vec![502, 503, 504],
        }
    );
}

#[test]
fn circuit_breaker_full() {
    assert_eq!(
        breaker(
            "scope: route, failure_threshold: 3, window: 1m, min_requests: 1, reset_timeout: \
             5s, half_open_max: 4, failure_on: [500, 429]"
        ),
        CircuitBreakerOptions {
            scope: BreakerScope::Route,
            trip: BreakerTrip::FailureThreshold(3),
            window: secs(60),
            min_requests: 1,
            reset_timeout: secs(5),
            half_open_max: 4,
            failure_on: vec![500, 429],
        }
    );
    assert_eq!(
        breaker("failure_rate: 0.25").trip,
        BreakerTrip::FailureRate(0.25)
    );
    assert_eq!(
        breaker("failure_rate: 1").trip,
        BreakerTrip::FailureRate(1.0)
    );
    assert_eq!(breaker("scope: target").scope, BreakerScope::Target);
}

#[test]
fn circuit_breaker_errors() {
    let rate = |written: &str| {
        format!(
            "invalid failure_rate {written:?} (expected a fraction above 0 and at most 1, e.g. \
             0.5)"
        )
    };
    let cases: &[(&str, &str, String)] = &[
        (
            "scope: host",
            ".scope",
            "unknown scope \"host\", expected one of: target, route".into(),
        ),
        (
            "scope: routes",
            ".scope",
            "unknown scope \"routes\" (did you mean \"route\"?), expected one of: target, route"
                .into(),
        ),
        (
            "failure_threshold: 5, failure_rate: 0.5",
            "",
            "give either failure_threshold or failure_rate, not both (the breaker opens on one \
             of them)"
                .into(),
        ),
        (
            "failure_threshold: 0",
            ".failure_threshold",
            "must be greater than 0".into(),
        ),
        ("failure_rate: 0", ".failure_rate", rate("0")),
        ("failure_rate: 1.5", ".failure_rate", rate("1.5")),
        ("failure_rate: 50%", ".failure_rate", rate("50%")),
        ("failure_rate: -0.1", ".failure_rate", rate("-0.1")),
        ("failure_rate: .nan", ".failure_rate", rate(".nan")),
        ("failure_rate: inf", ".failure_rate", rate("inf")),
        ("window: 0s", ".window", "must be greater than 0".into()),
        (
            "min_requests: 0",
            ".min_requests",
            "must be greater than 0".into(),
        ),
        (
            "reset_timeout: 0s",
            ".reset_timeout",
            "must be greater than 0".into(),
        ),
        (
            "half_open_max: 0",
            ".half_open_max",
            "must be greater than 0".into(),
        ),
        (
            "failure_on: []",
            ".failure_on",
            "must not be empty (leave it out for 502, 503, 504)".into(),
        ),
        (
            "failure_on: [502, 200]",
            ".failure_on[1]",
            "invalid status \"200\" (expected 400..=599)".into(),
        ),
        (
            "failure_on: [502, 502]",
            ".failure_on[1]",
            "status 502 is listed twice".into(),
        ),
        (
            "threshold: 3",
            ".threshold",
            unknown("threshold", "", BREAKER_OPTIONS),
        ),
    ];
    assert_errors("circuit-breaker", cases);
    assert_eq!(
        error_paths(
            "circuit-breaker",
            "scope: x, failure_rate: 2, window: x, min_requests: 0, reset_timeout: 0s, \
             half_open_max: x, failure_on: [1]"
        ),
        [
            ".scope",
            ".failure_rate",
            ".window",
            ".min_requests",
            ".reset_timeout",
            ".half_open_max",
            ".failure_on[0]",
        ]
    );
}

// ---- latency-injection and fault-injection -------------------------------------------------

#[test]
fn latency_injection_fields() {
    assert_eq!(
        latency("delay: 200ms"),
        LatencyInjectionOptions {
            delay: ms(200),
            jitter: Duration::ZERO,
            percentage: 100.0,
        }
    );
    assert_eq!(
        latency("delay: 1s, jitter: 250ms, percentage: 12.5"),
        LatencyInjectionOptions {
            delay: secs(1),
            jitter: ms(250),
            percentage: 12.5,
        }
    );
    assert_eq!(latency("delay: 1s, percentage: 0").percentage, 0.0);
}

#[test]
fn latency_injection_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("jitter: 1s", "", "missing required field \"delay\"".into()),
        ("delay: 0s", ".delay", "must be greater than 0".into()),
        (
            "delay: soon",
            ".delay",
            "invalid duration \"soon\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "delay: 1s, jitter: -1s",
            ".jitter",
            "invalid duration \"-1s\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "delay: 1s, percentage: 101",
            ".percentage",
            "invalid percentage \"101\" (expected a number from 0 to 100)".into(),
        ),
        (
            "delay: 1s, percentage: 10%",
            ".percentage",
            "invalid percentage \"10%\" (expected a number from 0 to 100)".into(),
        ),
        (
            "delay: 1s, percent: 10",
            ".percent",
            unknown("percent", "", "delay, jitter, percentage"),
        ),
    ];
    assert_errors("latency-injection", cases);
}

#[test]
fn fault_injection_fields() {
    assert_eq!(
        fault("abort_status: 503, percentage: 10"),
        FaultInjectionOptions {
            abort_status: 503,
            percentage: 10.0,
            message: "Fault injected".into(),
        }
    );
    assert_eq!(
        fault("abort_status: '400', percentage: 0.1, message: Chaos monkey"),
        FaultInjectionOptions {
            abort_status: 400,
            percentage: 0.1,
            message: "Chaos monkey".into(),
        }
    );
}

#[test]
fn fault_injection_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "percentage: 10",
            "",
            "missing required field \"abort_status\"".into(),
        ),
        (
            "abort_status: 500",
            "",
            "missing required field \"percentage\"".into(),
        ),
        (
            "abort_status: 302, percentage: 1",
            ".abort_status",
            "invalid status \"302\" (expected 400..=599)".into(),
        ),
        (
            "abort_status: 500, percentage: 100.1",
            ".percentage",
            "invalid percentage \"100.1\" (expected a number from 0 to 100)".into(),
        ),
        (
            "abort_status: 500, percentage: 1, message: ''",
            ".message",
            "must not be empty".into(),
        ),
        (
            "abort_status: 500, percentage: 1, message: \"a\\nb\"",
            ".message",
            "message \"a\\nb\" must not contain control characters".into(),
        ),
        (
            "abort_status: 500, percentage: 1, status: 500",
            ".status",
            unknown("status", "", "abort_status, percentage, message"),
        ),
    ];
    assert_errors("fault-injection", cases);
    assert_eq!(
        errors_of("fault-injection", ""),
        [
            (
                String::new(),
                "missing required field \"abort_status\"".to_owned()
            ),
            (
                String::new(),
                "missing required field \"percentage\"".to_owned()
            ),
        ]
    );
}

// ---- traffic-shadow ------------------------------------------------------------------------

#[test]
fn traffic_shadow_fields() {
    assert_eq!(
        shadow("target: 'http://mirror:9000/v2/'"),
        TrafficShadowOptions {
            target: TargetUrl {
                scheme: "http".into(),
                host: "mirror".into(),
                port: 9000,
                path_prefix: "/v2".into(),
            },
            percentage: 100.0,
            timeout: secs(1),
            max_body_bytes: 1024 * 1024,
        }
    );
    let s = shadow("target: 'http://m', percentage: 5, timeout: 250ms, max_body_bytes: 0");
    assert_eq!(
        (s.percentage, s.timeout, s.max_body_bytes),
        (5.0, ms(250), 0)
    );
}

#[test]
fn traffic_shadow_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "percentage: 5",
            "",
            "missing required field \"target\"".into(),
        ),
        (
            "target: 'https://m'",
            ".target",
            "https upstreams are not supported yet (TLS is planned)".into(),
        ),
        (
            "target: mirror",
            ".target",
            "invalid upstream target \"mirror\": expected http://host[:port][/path]".into(),
        ),
        (
            "target: 'http://m', max_body_bytes: -1",
            ".max_body_bytes",
            "-1 is out of range".into(),
        ),
        (
            "target: 'http://m', percentage: x",
            ".percentage",
            "invalid percentage \"x\" (expected a number from 0 to 100)".into(),
        ),
        (
            "target: 'http://m', timeout: 0s",
            ".timeout",
            "must be greater than 0".into(),
        ),
        (
            "target: 'http://m', url: 'http://m'",
            ".url",
            unknown("url", "", "target, percentage, timeout, max_body_bytes"),
        ),
    ];
    assert_errors("traffic-shadow", cases);
}
