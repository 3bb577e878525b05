//! Upstream groups (`targets`, `load_balancer`, `hash_on`, `health_check`, `outlier`), the
//! route's `websocket` and `type: health`: every field, its default, and each error with its
//! exact path.

use super::*;

/// A file whose only route has `upstream: {<upstream>}` (flow style) and `extra` route lines.
fn route_with(upstream: &str, extra: &str) -> String {
    with_route_fields(&format!("{extra}    upstream: {{{upstream}}}\n"))
}

fn url(fields: &str) -> UrlUpstream {
    let c = ok(&route_with(&format!("type: url, {fields}"), ""));
    match &c.routes[0].upstream {
        UpstreamSpec::Url(u) => u.clone(),
        other => panic!("{other:?}"),
    }
}

fn health(fields: &str) -> HealthUpstream {
    let c = ok(&route_with(&format!("type: health, {fields}"), ""));
    match &c.routes[0].upstream {
        UpstreamSpec::Health(h) => h.clone(),
        other => panic!("{other:?}"),
    }
}

/// Every error of `upstream: {type: <type_name>, <fields>}`, paths relative to
/// `routes[0].upstream`.
fn upstream_errors(type_name: &str, fields: &str) -> Vec<(String, String)> {
    errors(&route_with(&format!("type: {type_name}, {fields}"), ""))
        .into_iter()
        .map(|(path, message)| {
            let relative = path
                .strip_prefix("routes[0].upstream")
                .unwrap_or_else(|| panic!("error outside the upstream: {path}: {message}"));
            (relative.to_owned(), message)
        })
        .collect()
}

/// Asserts that each `(fields, path, message)` case is exactly that one error.
fn assert_errors(type_name: &str, cases: &[(&str, &str, String)]) {
    for (fields, path, message) in cases {
        assert_eq!(
            upstream_errors(type_name, fields),
            [(path.to_string(), message.clone())],
            "{type_name}: {fields}"
        );
    }
}

fn http(host: &str, port: u16, prefix: &str) -> TargetUrl {
    TargetUrl {
        scheme: "http".into(),
        host: host.into(),
        port,
        path_prefix: prefix.into(),
    }
}

fn weighted(host: &str, weight: u32) -> WeightedTarget {
    WeightedTarget {
        url: http(host, 80, ""),
        weight,
    }
}

// ---- targets and balancing -----------------------------------------------------------------

#[test]
fn single_target_is_one_weighted_target() {
    let u = url("target: 'http://a:9000/v1/'");
    assert_eq!(u.target, http("a", 9000, "/v1"));
    assert_eq!(
        u.targets,
        [WeightedTarget {
            url: http("a", 9000, "/v1"),
            weight: 1
        }]
    );
    assert_eq!(u.load_balancer, LoadBalancer::RoundRobin);
    assert_eq!(u.health_check, None);
    assert_eq!(u.outlier, None);
}

#[test]
fn several_targets() {
    let u = url(
        "targets: [{url: 'http://b:81/p'}, {url: 'http://A', weight: 3}, {url: 'http://c', \
         weight: '1'}], load_balancer: weighted",
    );
    assert_eq!(
        u.targets,
        [
            WeightedTarget {
                url: http("b", 81, "/p"),
                weight: 1
            },
            weighted("a", 3),
            weighted("c", 1),
        ]
    );
    // `target` is the first entry, for single-target code.
    assert_eq!(u.target, http("b", 81, "/p"));
    assert_eq!(u.load_balancer, LoadBalancer::Weighted);
    // One entry is fine, and so is `weight: 1` with any balancer.
    let u = url("targets: [{url: 'http://a', weight: 1}], load_balancer: p2c");
    assert_eq!(u.targets, [weighted("a", 1)]);
    assert_eq!(u.load_balancer, LoadBalancer::P2c);
    // Block style, the other upstream fields still read.
    let c = ok(&with_route_fields(
        "    upstream:
      type: url
      targets:
        - url: http://a
          weight: 2
        - url: http://b
      load_balancer: hash
      hash_on: 'header:X-User'
      timeout: 3s
",
    ));
    let UpstreamSpec::Url(u) = &c.routes[0].upstream else {
        panic!()
    };
    assert_eq!(u.targets, [weighted("a", 2), weighted("b", 1)]);
    assert_eq!(
        u.load_balancer,
        LoadBalancer::Hash(HashOn::Header("x-user".into()))
    );
    assert_eq!(u.timeout, Duration::from_secs(3));
}

#[test]
fn load_balancers() {
    let targets = "targets: [{url: 'http://a'}, {url: 'http://b'}]";
    for (written, expected) in [
        ("round_robin", LoadBalancer::RoundRobin),
        ("weighted", LoadBalancer::Weighted),
        ("least_conn", LoadBalancer::LeastConn),
        ("p2c", LoadBalancer::P2c),
    ] {
        assert_eq!(
            url(&format!("{targets}, load_balancer: {written}")).load_balancer,
            expected,
            "{written}"
        );
    }
    for (written, expected) in [
        ("ip", HashOn::Ip),
        ("path", HashOn::Path),
        ("'header:X-Tenant'", HashOn::Header("x-tenant".into())),
        ("'cookie:Session'", HashOn::Cookie("Session".into())),
    ] {
        assert_eq!(
            url(&format!(
                "{targets}, load_balancer: hash, hash_on: {written}"
            ))
            .load_balancer,
            LoadBalancer::Hash(expected),
            "{written}"
        );
    }
    // Weights count with hash too, and a single target may be balanced.
    let u = url("targets: [{url: 'http://a', weight: 5}], load_balancer: hash, hash_on: ip");
    assert_eq!(u.targets, [weighted("a", 5)]);
    assert_eq!(
        url("target: 'http://a', load_balancer: least_conn").load_balancer,
        LoadBalancer::LeastConn
    );
}

#[test]
fn target_errors() {
    const HASH_ON: &str = "ip, header:<name>, cookie:<name>, path";
    let cases: &[(&str, &str, String)] = &[
        (
            "target: 'http://a', targets: [{url: 'http://b'}]",
            "",
            "give either target or targets, not both (write one entry of targets per server)"
                .into(),
        ),
        (
            "timeout: 1s",
            "",
            "missing required field \"target\" (or \"targets\" for several)".into(),
        ),
        (
            "targets: []",
            ".targets",
            "needs at least one target".into(),
        ),
        (
            "targets: 'http://a'",
            ".targets",
            "invalid type: string \"http://a\", expected a sequence".into(),
        ),
        (
            "targets: ['http://a']",
            ".targets[0]",
            "expected a mapping, found a string".into(),
        ),
        (
            "targets: [{url: 'http://a'}, {weight: 2}], load_balancer: weighted",
            ".targets[1]",
            "missing required field \"url\"".into(),
        ),
        (
            "targets: [{url: 'https://a'}]",
            ".targets[0].url",
            "https upstreams are not supported yet (TLS is planned)".into(),
        ),
        (
            "targets: [{url: 'http://a/x/../y'}]",
            ".targets[0].url",
            "invalid upstream target \"http://a/x/../y\": path \"/x/../y\" must not contain \
             '.' or '..' segments"
                .into(),
        ),
        (
            "targets: [{url: 'http://a'}, {url: 'http://A:80/'}]",
            ".targets[1].url",
            "target \"http://A:80/\" is listed twice (give it a larger weight instead)".into(),
        ),
        (
            "targets: [{url: 'http://a', wieght: 2}]",
            ".targets[0].wieght",
            "unknown field \"wieght\" (did you mean \"weight\"?), expected one of: url, weight"
                .into(),
        ),
        (
            "targets: [{url: 'http://a', weight: 0}], load_balancer: weighted",
            ".targets[0].weight",
            "must be greater than 0".into(),
        ),
        (
            "targets: [{url: 'http://a', weight: heavy}], load_balancer: weighted",
            ".targets[0].weight",
            "expected an integer, found \"heavy\"".into(),
        ),
        (
            "targets: [{url: 'http://a'}, {url: 'http://b', weight: 2}]",
            ".targets[1].weight",
            "weight only applies to load_balancer: weighted or hash (load_balancer here is \
             round_robin)"
                .into(),
        ),
        (
            "targets: [{url: 'http://a', weight: 2}], load_balancer: least_conn",
            ".targets[0].weight",
            "weight only applies to load_balancer: weighted or hash (load_balancer here is \
             least_conn)"
                .into(),
        ),
        (
            "targets: [{url: 'http://a', weight: 2}], load_balancer: p2c",
            ".targets[0].weight",
            "weight only applies to load_balancer: weighted or hash (load_balancer here is p2c)"
                .into(),
        ),
        (
            "target: 'http://a', load_balancer: roundrobin",
            ".load_balancer",
            "unknown load_balancer \"roundrobin\" (did you mean \"round_robin\"?), expected one \
             of: round_robin, weighted, least_conn, p2c, hash"
                .into(),
        ),
        (
            "target: 'http://a', load_balancer: [p2c]",
            ".load_balancer",
            "expected a single value, found a list".into(),
        ),
        (
            "target: 'http://a', load_balancer: hash",
            "",
            format!(
                "missing required field \"hash_on\" (load_balancer hash needs it: one of \
                 {HASH_ON})"
            ),
        ),
        (
            "target: 'http://a', hash_on: ip",
            ".hash_on",
            "hash_on only applies to load_balancer: hash (load_balancer here is round_robin)"
                .into(),
        ),
        (
            "target: 'http://a', load_balancer: p2c, hash_on: path",
            ".hash_on",
            "hash_on only applies to load_balancer: hash (load_balancer here is p2c)".into(),
        ),
        (
            "target: 'http://a', load_balancer: hash, hash_on: ipp",
            ".hash_on",
            format!("unknown hash_on \"ipp\" (did you mean \"ip\"?), expected one of: {HASH_ON}"),
        ),
        (
            "target: 'http://a', load_balancer: hash, hash_on: header",
            ".hash_on",
            format!("unknown hash_on \"header\", expected one of: {HASH_ON}"),
        ),
        (
            "target: 'http://a', load_balancer: hash, hash_on: 'header:'",
            ".hash_on",
            "invalid header name \"\"".into(),
        ),
        (
            "target: 'http://a', load_balancer: hash, hash_on: 'cookie:a b'",
            ".hash_on",
            "invalid cookie name \"a b\"".into(),
        ),
    ];
    assert_errors("url", cases);
}

#[test]
fn target_errors_are_all_reported() {
    let paths: Vec<String> = upstream_errors(
        "url",
        "targets: [{url: 'ftp://a'}, {url: 'http://b', weight: 0}, 7, {url: 'http://c', \
         weight: 4}], load_balancer: least_conn, hash_on: ip, timeout: 0s",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".targets[0].url",
            ".targets[1].weight",
            ".targets[2]",
            ".targets[3].weight",
            ".hash_on",
            ".timeout"
        ]
    );
    // An invalid load_balancer is reported once: weights and hash_on are not judged against it.
    assert_eq!(
        upstream_errors(
            "url",
            "targets: [{url: 'http://a', weight: 3}], load_balancer: fastest, hash_on: ip"
        ),
        [(
            ".load_balancer".to_owned(),
            "unknown load_balancer \"fastest\", expected one of: round_robin, weighted, \
             least_conn, p2c, hash"
                .to_owned()
        )]
    );
}

// ---- health_check and outlier --------------------------------------------------------------

#[test]
fn health_check_defaults_and_fields() {
    let u = url("target: 'http://a', health_check: {path: /healthz}");
    assert_eq!(
        u.health_check,
        Some(HealthCheck {
            path: "/healthz".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_status: vec![200],
        })
    );
    let u = url(
        "target: 'http://a', health_check: {path: /ready, interval: 5s, timeout: 500ms, \
         healthy_threshold: 1, unhealthy_threshold: '4', expected_status: [200, 204]}",
    );
    assert_eq!(
        u.health_check,
        Some(HealthCheck {
            path: "/ready".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(500),
            healthy_threshold: 1,
            unhealthy_threshold: 4,
            expected_status: vec![200, 204],
        })
    );
    // A single status, and a short interval with a shorter timeout.
    let check = url(
        "target: 'http://a', health_check: {path: /, expected_status: 401, interval: 1s, \
         timeout: 999ms}",
    )
    .health_check
    .unwrap();
    assert_eq!(check.expected_status, [401]);
    assert_eq!(check.path, "/");
    // Present with nothing after it: no checks.
    assert_eq!(url("target: 'http://a', health_check: ").health_check, None);
}

#[test]
fn outlier_defaults_and_fields() {
    let defaults = Some(OutlierDetection {
        consecutive_failures: 5,
        ejection_time: Duration::from_secs(30),
    });
    assert_eq!(url("target: 'http://a', outlier: {}").outlier, defaults);
    assert_eq!(
        url("target: 'http://a', outlier: {consecutive_failures: 2, ejection_time: 1m}").outlier,
        Some(OutlierDetection {
            consecutive_failures: 2,
            ejection_time: Duration::from_secs(60),
        })
    );
    // Present with nothing after it: no passive checks (as when absent).
    assert_eq!(url("target: 'http://a', outlier: ").outlier, None);
}

#[test]
fn health_check_and_outlier_errors() {
    let t = "target: 'http://a'";
    let hc = |fields: &str| format!("{t}, health_check: {{{fields}}}");
    let cases: Vec<(String, &str, String)> = vec![
        (
            hc(""),
            ".health_check",
            "missing required field \"path\"".into(),
        ),
        (
            hc("path: health"),
            ".health_check.path",
            "path \"health\" must start with '/'".into(),
        ),
        (
            hc("path: '/a?b=1'"),
            ".health_check.path",
            "path \"/a?b=1\" must not contain '?' or '#'".into(),
        ),
        (
            hc("path: /h, interval: 0s"),
            ".health_check.interval",
            "must be greater than 0".into(),
        ),
        (
            hc("path: /h, timeout: 0"),
            ".health_check.timeout",
            "must be greater than 0".into(),
        ),
        (
            hc("path: /h, timeout: soon"),
            ".health_check.timeout",
            "invalid duration \"soon\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            hc("path: /h, timeout: 10s"),
            ".health_check.timeout",
            "must be shorter than interval (10s)".into(),
        ),
        (
            hc("path: /h, interval: 1s, timeout: 1s"),
            ".health_check.timeout",
            "must be shorter than interval (1s)".into(),
        ),
        (
            hc("path: /h, interval: 1s"),
            ".health_check.interval",
            "must be longer than timeout (2s by default); lower timeout as well".into(),
        ),
        (
            hc("path: /h, healthy_threshold: 0"),
            ".health_check.healthy_threshold",
            "must be greater than 0".into(),
        ),
        (
            hc("path: /h, unhealthy_threshold: x"),
            ".health_check.unhealthy_threshold",
            "expected an integer, found \"x\"".into(),
        ),
        (
            hc("path: /h, expected_status: []"),
            ".health_check.expected_status",
            "must not be empty (leave it out for 200)".into(),
        ),
        (
            hc("path: /h, expected_status: 99"),
            ".health_check.expected_status",
            "invalid status \"99\" (expected 100..=599)".into(),
        ),
        (
            hc("path: /h, expected_status: [200, ok]"),
            ".health_check.expected_status[1]",
            "invalid status \"ok\" (expected 100..=599)".into(),
        ),
        (
            hc("path: /h, expected_status: [200, 204, 200]"),
            ".health_check.expected_status[2]",
            "status 200 is listed twice".into(),
        ),
        (
            hc("path: /h, expected_status: [{a: 1}]"),
            ".health_check.expected_status[0]",
            "expected a status, found a mapping".into(),
        ),
        (
            hc("path: /h, intervall: 5s"),
            ".health_check.intervall",
            "unknown field \"intervall\" (did you mean \"interval\"?), expected one of: path, \
             interval, timeout, healthy_threshold, unhealthy_threshold, expected_status"
                .into(),
        ),
        (
            format!("{t}, health_check: /h"),
            ".health_check",
            "expected a mapping, found a string".into(),
        ),
        (
            format!("{t}, outlier: {{consecutive_failures: 0}}"),
            ".outlier.consecutive_failures",
            "must be greater than 0".into(),
        ),
        (
            format!("{t}, outlier: {{ejection_time: 0s}}"),
            ".outlier.ejection_time",
            "must be greater than 0".into(),
        ),
        (
            format!("{t}, outlier: {{failures: 3}}"),
            ".outlier.failures",
            "unknown field \"failures\", expected one of: consecutive_failures, ejection_time"
                .into(),
        ),
        (
            format!("{t}, outlier: true"),
            ".outlier",
            "expected a mapping, found a boolean".into(),
        ),
    ];
    for (fields, path, message) in &cases {
        assert_eq!(
            upstream_errors("url", fields),
            [(path.to_string(), message.clone())],
            "{fields}"
        );
    }
    // Every bad field is reported, and a bad duration does not also trip the comparison.
    let paths: Vec<String> = upstream_errors(
        "url",
        &hc("path: x, interval: 0s, timeout: 5s, healthy_threshold: 0, expected_status: [0]"),
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".health_check.path",
            ".health_check.interval",
            ".health_check.healthy_threshold",
            ".health_check.expected_status[0]"
        ]
    );
}

// ---- websocket -----------------------------------------------------------------------------

#[test]
fn websocket_flag() {
    let c = ok(&route_with("type: url, target: 'http://a'", ""));
    assert!(!c.routes[0].websocket);
    let c = ok(&route_with(
        "type: url, target: 'http://a'",
        "    websocket: true\n",
    ));
    assert!(c.routes[0].websocket);
    let c = ok(&route_with("type: static", "    websocket: false\n"));
    assert!(!c.routes[0].websocket);
    assert_eq!(
        error(&route_with("type: static", "    websocket: true\n")),
        (
            "routes[0].websocket".into(),
            "websocket: true needs a url upstream (the connection is tunnelled to it)".into()
        )
    );
    assert_eq!(
        error(&route_with(
            "type: health, include_upstreams: true",
            "    websocket: true\n"
        ))
        .0,
        "routes[0].websocket"
    );
    assert_eq!(
        error(&route_with(
            "type: url, target: 'http://a'",
            "    websocket: yes\n"
        )),
        (
            "routes[0].websocket".into(),
            "expected true or false, found \"yes\"".into()
        )
    );
    // A broken upstream is reported alone, not also as the wrong kind for websocket.
    assert_eq!(
        error(&route_with("type: url", "    websocket: true\n")).0,
        "routes[0].upstream"
    );
}

// ---- type: health --------------------------------------------------------------------------

#[test]
fn health_upstream_defaults_and_fields() {
    assert_eq!(
        health("include_upstreams: true"),
        HealthUpstream {
            probes: Vec::new(),
            probe_timeout: Duration::from_secs(2),
            include_upstreams: true,
        }
    );
}

#[test]
fn health_upstream_probes() {
    let h = health("probes: ['http://db:8080/health', 'http://Cache/'], probe_timeout: 250ms");
    assert_eq!(
        h,
        HealthUpstream {
            probes: vec![http("db", 8080, "/health"), http("cache", 80, "/")],
            probe_timeout: Duration::from_millis(250),
            include_upstreams: false,
        }
    );
    let h = health("probes: ['http://a/x/'], include_upstreams: true");
    assert_eq!(h.probes, [http("a", 80, "/x/")]);
    assert!(h.include_upstreams);
    // Empty probes are fine when the url upstreams are reported.
    assert!(health("probes: [], include_upstreams: true")
        .probes
        .is_empty());
}

#[test]
fn health_upstream_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "probe_timeout: 1s",
            "",
            "health upstream checks nothing: give probes, or include_upstreams: true to report \
             the url upstreams"
                .into(),
        ),
        (
            "probes: []",
            ".probes",
            "must not be empty unless include_upstreams is true (with nothing to check, the \
             answer would always be healthy)"
                .into(),
        ),
        (
            "probes: ['http://db:8080']",
            ".probes[0]",
            "invalid probe URL \"http://db:8080\": needs the path to probe, e.g. \
             http://db.internal:8080/health"
                .into(),
        ),
        (
            "probes: ['https://db/health']",
            ".probes[0]",
            "https probe URL is not supported yet (TLS is planned)".into(),
        ),
        (
            "probes: ['http://db/health?full=1']",
            ".probes[0]",
            "invalid probe URL \"http://db/health?full=1\": a query or fragment is not allowed"
                .into(),
        ),
        (
            "probes: ['http://db/a/../b']",
            ".probes[0]",
            "invalid probe URL \"http://db/a/../b\": path \"/a/../b\" must not contain '.' or \
             '..' segments"
                .into(),
        ),
        (
            "probes: ['http://db/h', 'http://DB:80/h']",
            ".probes[1]",
            "probe \"http://DB:80/h\" is listed twice".into(),
        ),
        (
            "probes: 'http://db/h'",
            ".probes",
            "invalid type: string \"http://db/h\", expected a sequence".into(),
        ),
        (
            "include_upstreams: true, probe_timeout: 0s",
            ".probe_timeout",
            "must be greater than 0".into(),
        ),
        (
            "include_upstreams: 1",
            ".include_upstreams",
            "expected true or false, found \"1\"".into(),
        ),
        (
            "include_upstreams: true, probe: ['http://a/h']",
            ".probe",
            "unknown field \"probe\" (did you mean \"probes\"?), expected one of: type, probes, \
             probe_timeout, include_upstreams"
                .into(),
        ),
    ];
    assert_errors("health", cases);
    assert_eq!(
        upstream_errors("helth", ""),
        [(
            ".type".to_owned(),
            "unknown upstream type \"helth\" (did you mean \"health\"?), expected one of: url, \
             static, health"
                .to_owned()
        )]
    );
}
