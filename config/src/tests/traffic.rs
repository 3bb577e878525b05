//! The traffic policies (`rate-limit`): every field, its default, and each error with its
//! exact path.

use regex::Regex;

use super::*;

/// A valid file with one global policy, `policy` (flow style), at `policies[0]`.
fn global_policy(policy: &str) -> String {
    format!("{MINIMAL}policies:\n  - {policy}\n")
}

fn rate_limit(options: &str) -> RateLimitOptions {
    let c = ok(&global_policy(&format!("{{type: rate-limit, {options}}}")));
    match &c.policies[0].kind {
        PolicyKind::RateLimit(o) => o.clone(),
        other => panic!("{other:?}"),
    }
}

/// The single error of a `rate-limit` with `options`, its path relative to `policies[0]`.
fn rate_limit_error(options: &str) -> (String, String) {
    let (path, message) = error(&global_policy(&format!("{{type: rate-limit, {options}}}")));
    let relative = path
        .strip_prefix("policies[0]")
        .unwrap_or_else(|| panic!("error outside the policy: {path}: {message}"));
    (relative.to_owned(), message)
}

fn patterns(o: &RateLimitOptions) -> Vec<&str> {
    o.exclude_paths.iter().map(Regex::as_str).collect()
}

#[test]
fn rate_limit_full() {
    let o = rate_limit(
        "max: 100, window: 1.5s, algorithm: sliding-window, key_by: 'header:X-Api-Key', \
         exclude_paths: ['^/health$', '^/metrics'], status: 503, message: Slow down, \
         max_keys: 5000",
    );
    assert_eq!(o.max, 100);
    assert_eq!(o.window, Duration::from_millis(1500));
    assert_eq!(o.algorithm, RateAlgorithm::SlidingWindow);
    assert_eq!(o.key_by, RateKeyBy::Header("x-api-key".into()));
    assert!(!o.trust_forwarded);
    assert_eq!(patterns(&o), ["^/health$", "^/metrics"]);
    assert_eq!(o.status, 503);
    assert_eq!(o.message, "Slow down");
    assert_eq!(o.max_keys, 5000);
    let o = rate_limit("max: '1', key_by: ip, trust_forwarded: true, algorithm: token-bucket");
    assert_eq!(o.max, 1);
    assert_eq!(o.key_by, RateKeyBy::Ip);
    assert!(o.trust_forwarded);
    assert_eq!(o.algorithm, RateAlgorithm::TokenBucket);
    // An explicit false is fine with any key.
    assert!(!rate_limit("max: 1, key_by: consumer, trust_forwarded: false").trust_forwarded);
}

#[test]
fn rate_limit_defaults() {
    let c = ok(&global_policy("{type: rate-limit, max: 10}"));
    let spec = &c.policies[0];
    assert_eq!((spec.name.as_str(), spec.priority), ("rate-limit", 20));
    let PolicyKind::RateLimit(o) = &spec.kind else {
        panic!("{:?}", spec.kind)
    };
    assert_eq!(o.max, 10);
    assert_eq!(o.window, Duration::from_secs(60));
    assert_eq!(o.algorithm, RateAlgorithm::TokenBucket);
    assert_eq!(o.key_by, RateKeyBy::Ip);
    assert!(!o.trust_forwarded);
    assert!(o.exclude_paths.is_empty());
    assert_eq!(o.status, 429);
    assert_eq!(o.message, "Rate limit exceeded");
    assert_eq!(o.max_keys, 1_000_000);
    assert!(rate_limit("max: 1, exclude_paths: []")
        .exclude_paths
        .is_empty());
    // Block style on a route, with the common fields.
    let c = ok(&with_route_fields(
        "    policies:
      - type: rate-limit
        name: per-key
        priority: 15
        max: 5
        window: 1m
        skip: {methods: [OPTIONS]}
    upstream: {type: static}
",
    ));
    let spec = &c.routes[0].policies[0];
    assert_eq!((spec.name.as_str(), spec.priority), ("per-key", 15));
    assert_eq!(spec.field_path, "routes[0].policies[0]");
    let PolicyKind::RateLimit(o) = &spec.kind else {
        panic!("{:?}", spec.kind)
    };
    assert_eq!((o.max, o.window), (5, Duration::from_secs(60)));
}

#[test]
fn rate_limit_key_by_forms() {
    let cases: &[(&str, RateKeyBy)] = &[
        ("ip", RateKeyBy::Ip),
        ("'header:x-tenant'", RateKeyBy::Header("x-tenant".into())),
        ("'header:X-Tenant'", RateKeyBy::Header("x-tenant".into())),
        ("'claim:sub'", RateKeyBy::Claim("sub".into())),
        (
            "'claim:realm_access.tenant'",
            RateKeyBy::Claim("realm_access.tenant".into()),
        ),
        ("consumer", RateKeyBy::Consumer),
        ("route", RateKeyBy::Route),
        ("global", RateKeyBy::Global),
    ];
    for (written, expected) in cases {
        assert_eq!(
            &rate_limit(&format!("max: 1, key_by: {written}")).key_by,
            expected,
            "{written}"
        );
    }
}

#[test]
fn rate_limit_errors() {
    const KEY_BY_FORMS: &str =
        "expected one of: ip, header:<name>, claim:<name>, consumer, route, global";
    let cases: &[(&str, &str, String)] = &[
        ("window: 1s", "", "missing required field \"max\"".into()),
        ("max: 0", ".max", "must be greater than 0".into()),
        ("max: -1", ".max", "-1 is out of range".into()),
        (
            "max: ten",
            ".max",
            "expected an integer, found \"ten\"".into(),
        ),
        (
            "max: 1.5",
            ".max",
            "expected an integer, found \"1.5\"".into(),
        ),
        (
            "max: 1, window: 0s",
            ".window",
            "must be greater than 0".into(),
        ),
        (
            "max: 1, window: 1m30s",
            ".window",
            "invalid duration \"1m30s\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "max: 1, algorithm: token_bucket",
            ".algorithm",
            "unknown algorithm \"token_bucket\" (did you mean \"token-bucket\"?), expected one \
             of: token-bucket, sliding-window"
                .into(),
        ),
        (
            "max: 1, algorithm: leaky-bucket",
            ".algorithm",
            "unknown algorithm \"leaky-bucket\", expected one of: token-bucket, sliding-window"
                .into(),
        ),
        (
            "max: 1, key_by: user",
            ".key_by",
            format!("unknown key_by \"user\", {KEY_BY_FORMS}"),
        ),
        (
            "max: 1, key_by: consumers",
            ".key_by",
            format!("unknown key_by \"consumers\" (did you mean \"consumer\"?), {KEY_BY_FORMS}"),
        ),
        (
            "max: 1, key_by: header",
            ".key_by",
            format!("unknown key_by \"header\", {KEY_BY_FORMS}"),
        ),
        (
            "max: 1, key_by: 'header:x y'",
            ".key_by",
            "invalid header name \"x y\"".into(),
        ),
        (
            "max: 1, key_by: 'header:'",
            ".key_by",
            "invalid header name \"\"".into(),
        ),
        (
            "max: 1, key_by: 'claim:'",
            ".key_by",
            "invalid claim path \"\" (expected names separated by '.', e.g. realm_access.roles)"
                .into(),
        ),
        (
            "max: 1, key_by: 'claim:a..b'",
            ".key_by",
            "invalid claim path \"a..b\" (expected names separated by '.', e.g. \
             realm_access.roles)"
                .into(),
        ),
        (
            "max: 1, key_by: [ip]",
            ".key_by",
            "expected a single value, found a list".into(),
        ),
        (
            "max: 1, trust_forwarded: yes",
            ".trust_forwarded",
            "expected true or false, found \"yes\"".into(),
        ),
        (
            "max: 1, key_by: consumer, trust_forwarded: true",
            ".trust_forwarded",
            "trust_forwarded only applies to key_by: ip (it counts by the first \
             X-Forwarded-For address instead of the peer); key_by here is \"consumer\""
                .into(),
        ),
        (
            "max: 1, key_by: 'header:X-Api-Key', trust_forwarded: true",
            ".trust_forwarded",
            "trust_forwarded only applies to key_by: ip (it counts by the first \
             X-Forwarded-For address instead of the peer); key_by here is \"header:X-Api-Key\""
                .into(),
        ),
        (
            "max: 1, exclude_paths: ['^/ok', '(']",
            ".exclude_paths[1]",
            "invalid regex \"(\": unclosed group".into(),
        ),
        (
            "max: 1, exclude_paths: '^/health'",
            ".exclude_paths",
            "invalid type: string \"^/health\", expected a sequence".into(),
        ),
        (
            "max: 1, status: 302",
            ".status",
            "invalid status \"302\" (expected 400..=599)".into(),
        ),
        (
            "max: 1, status: 600",
            ".status",
            "invalid status \"600\" (expected 400..=599)".into(),
        ),
        (
            "max: 1, status: too-many",
            ".status",
            "invalid status \"too-many\" (expected 400..=599)".into(),
        ),
        (
            "max: 1, message: ' '",
            ".message",
            "must not be empty".into(),
        ),
        (
            "max: 1, message: \"slow\\ndown\"",
            ".message",
            "message \"slow\\ndown\" must not contain control characters".into(),
        ),
        (
            "max: 1, max_keys: 0",
            ".max_keys",
            "must be greater than 0".into(),
        ),
        (
            "max: 1, max_keys: lots",
            ".max_keys",
            "expected an integer, found \"lots\"".into(),
        ),
        (
            "max: 1, max_key: 5",
            ".max_key",
            "unknown field \"max_key\" (did you mean \"max_keys\"?), expected one of: type, \
             name, priority, skip, max, window, algorithm, key_by, trust_forwarded, \
             exclude_paths, status, message, max_keys"
                .into(),
        ),
    ];
    for (options, path, message) in cases {
        assert_eq!(
            rate_limit_error(options),
            (path.to_string(), message.clone()),
            "{options}"
        );
    }
}

#[test]
fn rate_limit_errors_are_all_reported() {
    let text = global_policy(
        "{type: rate-limit, max: 0, window: x, algorithm: fixed, key_by: 'claim:', \
         trust_forwarded: true, exclude_paths: ['[', ok, ')'], status: 200, message: '', \
         max_keys: -5}",
    );
    let paths: Vec<String> = errors(&text).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "policies[0].max",
            "policies[0].window",
            "policies[0].algorithm",
            // key_by is invalid, so trust_forwarded is not judged against it.
            "policies[0].key_by",
            "policies[0].exclude_paths[0]",
            "policies[0].exclude_paths[2]",
            "policies[0].status",
            "policies[0].message",
            "policies[0].max_keys",
        ]
    );
    // A bad trust_forwarded does not hide the fields after it.
    let text = global_policy(
        "{type: rate-limit, max: 1, key_by: route, trust_forwarded: true, status: 99}",
    );
    let paths: Vec<String> = errors(&text).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["policies[0].trust_forwarded", "policies[0].status"]);
}
