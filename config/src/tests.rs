//! Whole-file loading: the full schema, defaults, and each error with its exact path.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

mod auth;
mod guards;
mod observability;
mod resilience;
mod routing;
mod traffic;
mod upstreams;

/// A fixed environment, so tests never depend on (or race over) the process's.
fn env(name: &str) -> Option<String> {
    match name {
        "UPSTREAM_HOST" => Some("10.1.2.3".into()),
        "EMPTY" => Some(String::new()),
        "PORT" => Some("9100".into()),
        "SLUICE_ADMIN_TOKEN" => Some("0123456789abcdef0123".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    load_with_env(text, "gateway.yaml", &env, None)
}

fn ok(text: &str) -> Config {
    match load(text) {
        Ok(config) => config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// `(path, message)` of every error.
fn errors(text: &str) -> Vec<(String, String)> {
    match load(text) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(e) => e.errors.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

/// The single error of `text`.
fn error(text: &str) -> (String, String) {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

/// A valid file with `extra` spliced in after the first route's path line.
fn with_route_fields(extra: &str) -> String {
    format!("name: demo\nroutes:\n  - path: /x\n{extra}")
}

const MINIMAL: &str = "name: demo\nroutes:\n  - path: /\n    upstream: {type: static}\n";

const FULL: &str = r#"
name: demo
base_path: /api/
listen: ["127.0.0.1:8080", "localhost:8081", "[::1]:8082"]
shards: "0-3,8"
request_id_header: X-Request-ID
shutdown_timeout: 1.5s
limits:
  max_header_bytes: 8192
  max_headers: 50
  max_body_bytes: 1048576
  header_timeout: 500ms
  idle_timeout: 2m
  max_connections_per_shard: 100
policies:
  - type: ip-filter
    deny: [10.0.0.0/8, "192.168.1.1", "2001:db8::/32"]
    trust_forwarded: true
  - type: request-transform
    name: tag
    priority: 7
    set_headers: {x-gateway: sluice, x-count: 3}
    append_headers: {via: sluice}
    remove_headers: [x-internal]
    rename_headers: {x-old: x-new}
    skip:
      paths: ["^/health$"]
      methods: [options]
      headers: {X-Debug: "^1$"}
routes:
  - path: /users/:id
    methods: [get, POST]
    policies:
      - type: ip-filter
        mode: allow
        allow: [127.0.0.1]
      - type: response-transform
        remove_headers: [server]
    upstream:
      type: url
      target: http://${UPSTREAM_HOST}:${PORT:-9000}/prefix/
      timeout: 10
      connect_timeout: 250ms
      headers: {x-extra: value}
      preserve_host: true
      strip_prefix: /users/
  - path: /health
    upstream:
      type: static
      status: 200
      headers: {content-type: application/json}
      body: '{"status":"ok"}'
  - path: /files/*
    policies:
      - type: mock
        status: 503
        headers: {retry-after: 5}
        body: down
        delay: 100ms
    upstream: {type: url, target: "http://files.internal"}
"#;

#[test]
fn full_example() {
    let c = ok(FULL);
    assert_eq!(c.name, "demo");
    assert_eq!(c.base_path.as_deref(), Some("/api"));
    let listen: Vec<SocketAddr> = ["127.0.0.1:8080", "127.0.0.1:8081", "[::1]:8082"]
        .map(|a| a.parse().unwrap())
        .into();
    assert_eq!(c.listen, listen);
    assert_eq!(c.shards, ShardsSpec::Cpus(vec![0, 1, 2, 3, 8]));
    assert_eq!(c.request_id_header, "x-request-id");
    assert_eq!(c.shutdown_timeout, Duration::from_millis(1500));
    assert_eq!(
        c.limits,
        Limits {
            max_header_bytes: 8192,
            max_headers: 50,
            max_body_bytes: 1_048_576,
            header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(120),
            max_connections_per_shard: 100,
        }
    );

    // Global policies.
    assert_eq!(c.policies.len(), 2);
    let filter = &c.policies[0];
    assert_eq!((filter.name.as_str(), filter.priority), ("ip-filter", 1));
    assert_eq!(filter.field_path, "policies[0]");
    let PolicyKind::IpFilter(f) = &filter.kind else {
        panic!("{filter:?}")
    };
    assert_eq!(
        f.deny,
        ["10.0.0.0/8", "192.168.1.1/32", "2001:db8::/32"].map(|n| n.parse().unwrap())
    );
    assert!(f.allow.is_empty());
    assert_eq!(f.mode, IpFilterMode::Deny);
    assert!(f.trust_forwarded);

    let tag = &c.policies[1];
    assert_eq!((tag.name.as_str(), tag.priority), ("tag", 7));
    let PolicyKind::RequestTransform(t) = &tag.kind else {
        panic!("{tag:?}")
    };
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        t,
        &TransformOptions {
            set_headers: pairs(&[("x-gateway", "sluice"), ("x-count", "3")]),
            append_headers: pairs(&[("via", "sluice")]),
            remove_headers: vec!["x-internal".into()],
            rename_headers: pairs(&[("x-old", "x-new")]),
        }
    );
    let skip = tag.skip.as_ref().unwrap();
    assert!(skip.paths[0].is_match("/health"));
    assert_eq!(skip.methods, ["OPTIONS"]);
    assert_eq!(skip.headers[0].0, "x-debug");
    assert!(skip.headers[0].1.is_match("1"));

    // Routes.
    assert_eq!(c.routes.len(), 3);
    let users = &c.routes[0];
    assert_eq!(users.path, "/users/:id");
    assert_eq!(users.field_path, "routes[0]");
    assert_eq!(
        users.methods.as_deref(),
        Some(&["GET".to_owned(), "POST".to_owned()][..])
    );
    assert_eq!(users.policies[0].field_path, "routes[0].policies[0]");
    let PolicyKind::IpFilter(f) = &users.policies[0].kind else {
        panic!()
    };
    assert_eq!(f.mode, IpFilterMode::Allow);
    assert_eq!(f.allow, ["127.0.0.1/32".parse().unwrap()]);
    assert_eq!(users.policies[1].name, "response-transform");
    assert_eq!(users.policies[1].priority, 92);
    let UpstreamSpec::Url(u) = &users.upstream else {
        panic!()
    };
    assert_eq!(
        u.target,
        TargetUrl {
            scheme: "http".into(),
            host: "10.1.2.3".into(),
            port: 9100,
            path_prefix: "/prefix".into(),
        }
    );
    assert_eq!(u.timeout, Duration::from_secs(10));
    assert_eq!(u.connect_timeout, Duration::from_millis(250));
    assert_eq!(u.headers, pairs(&[("x-extra", "value")]));
    assert!(u.preserve_host);
    assert_eq!(u.strip_prefix.as_deref(), Some("/users"));

    let UpstreamSpec::Static(s) = &c.routes[1].upstream else {
        panic!()
    };
    assert_eq!(
        s,
        &StaticUpstream {
            status: 200,
            headers: pairs(&[("content-type", "application/json")]),
            body: r#"{"status":"ok"}"#.into(),
        }
    );

    let files = &c.routes[2];
    assert_eq!(files.methods, None);
    let PolicyKind::Mock(m) = &files.policies[0].kind else {
        panic!()
    };
    assert_eq!(
        m,
        &MockOptions {
            status: 503,
            headers: pairs(&[("retry-after", "5")]),
            body: "down".into(),
            delay: Duration::from_millis(100),
        }
    );
    assert_eq!(files.policies[0].priority, 999);
    let UpstreamSpec::Url(u) = &files.upstream else {
        panic!()
    };
    assert_eq!(
        (u.target.host.as_str(), u.target.port),
        ("files.internal", 80)
    );
    assert_eq!(u.target.path_prefix, "");
}

#[test]
fn defaults() {
    let c = ok(MINIMAL);
    assert_eq!(c.base_path, None);
    assert_eq!(c.listen, [SocketAddr::from(([127, 0, 0, 1], 8080))]);
    assert_eq!(c.shards, ShardsSpec::Auto);
    assert_eq!(c.request_id_header, "x-request-id");
    assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.limits.max_header_bytes, 16384);
    assert_eq!(c.limits.max_headers, 100);
    assert_eq!(c.limits.max_body_bytes, 10_485_760);
    assert_eq!(c.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.max_connections_per_shard, 10_000);
    assert!(c.policies.is_empty());
    assert_eq!(c.admin, None);
    assert!(!c.debug_headers);
    let route = &c.routes[0];
    assert!(route.policies.is_empty());
    assert_eq!(route.methods, None);
    assert!(!route.websocket);
    let UpstreamSpec::Static(s) = &route.upstream else {
        panic!()
    };
    assert_eq!((s.status, s.body.as_str(), s.headers.len()), (200, "", 0));

    let c = ok(&with_route_fields(
        "    upstream: {type: url, target: 'http://h'}\n",
    ));
    let UpstreamSpec::Url(u) = &c.routes[0].upstream else {
        panic!()
    };
    assert_eq!(u.timeout, Duration::from_secs(30));
    assert_eq!(u.connect_timeout, Duration::from_secs(5));
    assert!(!u.preserve_host);
    assert_eq!(u.strip_prefix, None);
    assert_eq!(
        u.targets,
        [WeightedTarget {
            url: u.target.clone(),
            weight: 1
        }]
    );
    assert_eq!(u.load_balancer, LoadBalancer::RoundRobin);
    assert_eq!(u.health_check, None);
    assert_eq!(u.outlier, None);

    let c = ok(&format!("{MINIMAL}policies:\n  - type: mock\n"));
    let PolicyKind::Mock(m) = &c.policies[0].kind else {
        panic!()
    };
    assert_eq!(
        (m.status, m.body.as_str(), m.delay),
        (200, "", Duration::ZERO)
    );
}

#[test]
fn base_path_forms() {
    let base = |b: &str| ok(&format!("base_path: {b}\n{MINIMAL}")).base_path;
    assert_eq!(base("/"), None);
    assert_eq!(base("/api"), Some("/api".into()));
    assert_eq!(base("/api//"), Some("/api".into()));
    assert_eq!(
        error(&format!("base_path: api\n{MINIMAL}")),
        (
            "base_path".into(),
            "path \"api\" must start with '/'".into()
        )
    );
}

#[test]
fn listen_forms() {
    let c = ok(&format!("listen: 0.0.0.0:80\n{MINIMAL}"));
    assert_eq!(c.listen, [SocketAddr::from(([0, 0, 0, 0], 80))]);
    assert_eq!(
        error(&format!("listen: [127.0.0.1:1, nowhere:2]\n{MINIMAL}")).0,
        "listen[1]"
    );
    assert_eq!(
        error(&format!("listen: [127.0.0.1:1, localhost:1]\n{MINIMAL}")),
        ("listen[1]".into(), "127.0.0.1:1 is listed twice".into())
    );
    assert_eq!(
        error(&format!("listen: []\n{MINIMAL}")),
        ("listen".into(), "needs at least one address".into())
    );
}

#[test]
fn shards_forms() {
    let shards = |s: &str| ok(&format!("shards: {s}\n{MINIMAL}")).shards;
    assert_eq!(shards("auto"), ShardsSpec::Auto);
    assert_eq!(shards("4"), ShardsSpec::Count(4));
    assert_eq!(shards("'4'"), ShardsSpec::Count(4));
    assert_eq!(shards("0-1,3"), ShardsSpec::Cpus(vec![0, 1, 3]));
    assert_eq!(shards("2-2"), ShardsSpec::Cpus(vec![2]));
    assert_eq!(
        error(&format!("shards: 0\n{MINIMAL}")),
        ("shards".into(), "shards must be at least 1".into())
    );
    assert_eq!(
        error(&format!("shards: 1-3,2\n{MINIMAL}")),
        (
            "shards".into(),
            "CPU 2 appears twice in shards \"1-3,2\"".into()
        )
    );
    assert_eq!(
        error(&format!("shards: many\n{MINIMAL}")),
        (
            "shards".into(),
            "invalid shards \"many\" (expected auto, a shard count, or a CPU list like \"0-3,8\")"
                .into()
        )
    );
}

#[test]
fn invalid_cidr_path() {
    let text = r#"
name: demo
routes:
  - path: /a
    upstream: {type: static}
  - path: /b
    policies:
      - type: ip-filter
        deny: [10.0.0.1, "::1", 10.0.0.0/33]
    upstream: {type: static}
"#;
    assert_eq!(
        error(text),
        (
            "routes[1].policies[0].deny[2]".into(),
            "invalid CIDR \"10.0.0.0/33\"".into()
        )
    );
    let e = load(text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "gateway.yaml: routes[1].policies[0].deny[2]: invalid CIDR \"10.0.0.0/33\""
    );
}

#[test]
fn invalid_duration_path() {
    assert_eq!(
        error(&format!("{MINIMAL}limits: {{idle_timeout: 5x}}\n")),
        (
            "limits.idle_timeout".into(),
            "invalid duration \"5x\" (expected e.g. 500ms, 30s, 1m)".into()
        )
    );
    assert_eq!(
        error(&format!("{MINIMAL}limits: {{header_timeout: 0s}}\n")),
        (
            "limits.header_timeout".into(),
            "must be greater than 0".into()
        )
    );
    assert_eq!(
        error(&with_route_fields(
            "    upstream: {type: url, target: 'http://h', timeout: -1}\n"
        ))
        .0,
        "routes[0].upstream.timeout"
    );
}

#[test]
fn limits_ranges() {
    assert_eq!(
        error(&format!("{MINIMAL}limits: {{max_headers: 257}}\n")),
        ("limits.max_headers".into(), "must be at most 256".into())
    );
    assert_eq!(
        error(&format!("{MINIMAL}limits: {{max_body_bytes: 0}}\n")),
        (
            "limits.max_body_bytes".into(),
            "must be greater than 0".into()
        )
    );
    assert_eq!(
        error(&format!("{MINIMAL}limits: {{max_headers: lots}}\n")),
        (
            "limits.max_headers".into(),
            "expected an integer, found \"lots\"".into()
        )
    );
}

#[test]
fn unknown_fields_name_the_field_and_list_valid_ones() {
    assert_eq!(
        error(&format!("{MINIMAL}limts: {{}}\n")),
        (
            "limts".into(),
            "unknown field \"limts\" (did you mean \"limits\"?), expected one of: name, \
             base_path, listen, shards, request_id_header, shutdown_timeout, limits, \
             policies, routes, consumers, admin, debug_headers"
                .into()
        )
    );
    assert_eq!(
        error(&with_route_fields(
            "    upstream: {type: url, target: 'http://h', tiemout: 5s}\n"
        )),
        (
            "routes[0].upstream.tiemout".into(),
            "unknown field \"tiemout\" (did you mean \"timeout\"?), expected one of: type, \
             target, targets, load_balancer, hash_on, health_check, outlier, timeout, \
             connect_timeout, headers, preserve_host, strip_prefix"
                .into()
        )
    );
    let (path, message) = error(&format!(
        "{MINIMAL}policies:\n  - type: ip-filter\n    deny: [1.2.3.4]\n    priorty: 3\n"
    ));
    assert_eq!(path, "policies[0].priorty");
    assert_eq!(
        message,
        "unknown field \"priorty\" (did you mean \"priority\"?), expected one of: type, name, \
         priority, skip, allow, deny, mode, trust_forwarded"
    );
}

#[test]
fn unknown_policy_type() {
    assert_eq!(
        error(&format!("{MINIMAL}policies:\n  - type: ip-filtr\n")),
        (
            "policies[0].type".into(),
            "unknown policy type \"ip-filtr\" (did you mean \"ip-filter\"?), expected one of: \
             request-log, ip-filter, geo-ip-filter, cors, request-limit, ssl-enforce, \
             override-method, json-threat-protection, regex-threat-protection, \
             latency-injection, fault-injection, jwt-auth, api-key-auth, basic-auth, oauth2, \
             rbac, rate-limit, circuit-breaker, cache, request-transform, dynamic-routing, \
             http-callout, timeout, retry, response-transform, traffic-shadow, interrupt, mock"
                .into()
        )
    );
    assert_eq!(
        error(&format!("{MINIMAL}policies:\n  - name: x\n")),
        (
            "policies[0]".into(),
            "missing required field \"type\" (one of: request-log, ip-filter, geo-ip-filter, \
             cors, request-limit, ssl-enforce, override-method, json-threat-protection, \
             regex-threat-protection, latency-injection, fault-injection, jwt-auth, \
             api-key-auth, basic-auth, oauth2, rbac, rate-limit, circuit-breaker, cache, \
             request-transform, dynamic-routing, http-callout, timeout, retry, \
             response-transform, traffic-shadow, interrupt, mock)"
                .into()
        )
    );
}

#[test]
fn every_policy_type_name_round_trips() {
    let options = [
        ("request-log", "buffer: 10"),
        ("ip-filter", "deny: [1.2.3.4]"),
        ("geo-ip-filter", "deny: [cn]"),
        ("cors", "origins: '*'"),
        ("request-limit", "max_bytes: 1024"),
        ("ssl-enforce", "redirect: false"),
        ("override-method", "allowed_methods: [DELETE]"),
        ("json-threat-protection", "max_depth: 5"),
        ("regex-threat-protection", "patterns: [{regex: x}]"),
        ("latency-injection", "delay: 10ms"),
        ("fault-injection", "abort_status: 503, percentage: 1"),
        ("jwt-auth", "jwks_url: 'http://idp/jwks.json'"),
        ("api-key-auth", "header_name: x-key"),
        ("basic-auth", "realm: r"),
        (
            "oauth2",
            "introspection_url: 'http://idp/introspect', client_id: gw, client_secret: s",
        ),
        ("rbac", "roles: [admin]"),
        ("rate-limit", "max: 10"),
        ("circuit-breaker", "scope: route"),
        ("cache", "ttl: 1m"),
        ("request-transform", "remove_headers: [a]"),
        (
            "dynamic-routing",
            "rules: [{when: {method: POST}, target: 'http://b'}]",
        ),
        ("http-callout", "url: 'http://authz/check'"),
        ("timeout", "request: 5s"),
        ("retry", "max_retries: 2"),
        ("response-transform", "remove_headers: [a]"),
        ("traffic-shadow", "target: 'http://mirror'"),
        ("interrupt", "when: {path: ^/old}"),
        ("mock", "status: 204"),
    ];
    assert_eq!(POLICY_TYPES, options.map(|(t, _)| t));
    for (type_name, option) in options {
        let c = ok(&format!(
            "{MINIMAL}{}policies:\n  - {{type: {type_name}, {option}}}\n",
            auth::CONSUMERS
        ));
        assert_eq!(c.policies[0].kind.type_name(), type_name);
        assert_eq!(c.policies[0].name, type_name);
        assert_eq!(
            c.policies[0].priority,
            c.policies[0].kind.default_priority()
        );
    }
}

#[test]
fn bad_route_paths() {
    let route =
        |p: &str| format!("name: demo\nroutes:\n  - path: '{p}'\n    upstream: {{type: static}}\n");
    assert_eq!(
        error(&route("/files/*/x")),
        (
            "routes[0].path".into(),
            "invalid route path \"/files/*/x\": '*' is only allowed as the whole last segment"
                .into()
        )
    );
    assert_eq!(error(&route("users")).0, "routes[0].path");
    assert_eq!(
        error(&route("/u/:id/:id")).1,
        "invalid route path \"/u/:id/:id\": parameter :id appears twice"
    );
    assert_eq!(
        error(&with_route_fields(
            "    methods: [GET, get]\n    upstream: {type: static}\n"
        )),
        (
            "routes[0].methods[1]".into(),
            "method GET is listed twice".into()
        )
    );
}

#[test]
fn https_target() {
    assert_eq!(
        error(&with_route_fields(
            "    upstream: {type: url, target: 'https://example.com'}\n"
        )),
        (
            "routes[0].upstream.target".into(),
            "https upstreams are not supported yet (TLS is planned)".into()
        )
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        error("routes:\n  - path: /\n    upstream: {type: static}\n"),
        ("".into(), "missing required field \"name\"".into())
    );
    assert_eq!(
        error("name: ''\nroutes:\n  - path: /\n    upstream: {type: static}\n"),
        ("name".into(), "must not be empty".into())
    );
    assert_eq!(
        errors(""),
        [
            ("".into(), "missing required field \"name\"".into()),
            ("".into(), "missing required field \"routes\"".into()),
        ]
    );
    assert_eq!(
        error("name: demo\nroutes: []\n"),
        ("routes".into(), "needs at least one route".into())
    );
    assert_eq!(
        errors(&with_route_fields("")),
        [(
            "routes[0]".into(),
            "missing required field \"upstream\"".into()
        )]
    );
    assert_eq!(
        error(&with_route_fields("    upstream: {type: url}\n")),
        (
            "routes[0].upstream".into(),
            "missing required field \"target\" (or \"targets\" for several)".into()
        )
    );
}

#[test]
fn duplicate_policy_names() {
    let text = format!(
        "{MINIMAL}policies:\n  - {{type: mock}}\n  - {{type: ip-filter, deny: ['::1']}}\n  \
         - {{type: mock, priority: 3}}\n"
    );
    assert_eq!(
        error(&text),
        (
            "policies[2]".into(),
            "duplicate policy name \"mock\" (also used by policies[0]); set a distinct `name` \
             on one of them"
                .into()
        )
    );
    // The same name in the global list and a route's list is the merge key, not a clash.
    ok(
        "name: demo\npolicies: [{type: mock}]\nroutes:\n  - path: /\n    \
        policies: [{type: mock}]\n    upstream: {type: static}\n",
    );
    ok(&format!(
        "{MINIMAL}policies:\n  - {{type: mock}}\n  - {{type: mock, name: other}}\n"
    ));
}

#[test]
fn policy_option_rules() {
    let policy = |p: &str| format!("{MINIMAL}policies:\n  - {p}\n");
    assert_eq!(
        error(&policy("{type: ip-filter, mode: allow}")),
        (
            "policies[0].mode".into(),
            "mode allow with an empty allow list would refuse every client".into()
        )
    );
    assert_eq!(
        error(&policy("{type: ip-filter, mode: block, deny: ['::1']}")),
        (
            "policies[0].mode".into(),
            "invalid mode \"block\" (expected deny or allow)".into()
        )
    );
    assert_eq!(
        error(&policy("{type: request-transform}")),
        (
            "policies[0]".into(),
            "request-transform does nothing: give at least one of set_headers, \
             append_headers, remove_headers, rename_headers"
                .into()
        )
    );
    assert_eq!(
        error(&policy(
            "{type: response-transform, set_headers: {'bad name': x}}"
        )),
        (
            "policies[0].set_headers.bad name".into(),
            "invalid header name \"bad name\"".into()
        )
    );
    assert_eq!(
        error(&policy(
            "{type: request-transform, set_headers: {x-a: \"1\\r\\nx-b: 2\"}}"
        )),
        (
            "policies[0].set_headers.x-a".into(),
            "header value must not contain CR, LF or NUL".into()
        )
    );
    assert_eq!(
        error(&policy("{type: mock, status: 700}")),
        (
            "policies[0].status".into(),
            "invalid status \"700\" (expected 100..=599)".into()
        )
    );
    assert_eq!(
        error(&policy("{type: mock, priority: high}")),
        (
            "policies[0].priority".into(),
            "expected an integer, found \"high\"".into()
        )
    );
    assert_eq!(
        error(&policy("{type: mock, skip: {paths: ['(']}}")),
        (
            "policies[0].skip.paths[0]".into(),
            "invalid regex \"(\": unclosed group".into()
        )
    );
    assert_eq!(
        error(&policy("{type: mock, skip: {}}")).0,
        "policies[0].skip"
    );
}

#[test]
fn env_var_missing() {
    let text = format!("{MINIMAL}shutdown_timeout: ${{SLUICE_NOPE}}\n");
    // The unset variable is the only complaint: the leftover `${..}` text is not also
    // reported as an invalid duration.
    assert_eq!(
        error(&text),
        (
            "shutdown_timeout".into(),
            "environment variable SLUICE_NOPE is not set".into()
        )
    );
    assert_eq!(
        error(&with_route_fields(
            "    upstream: {type: url, target: 'http://${HOST_A}'}\n"
        )),
        (
            "routes[0].upstream.target".into(),
            "environment variable HOST_A is not set".into()
        )
    );
}

#[test]
fn env_var_present_default_and_escape() {
    let text = "name: ${UPSTREAM_HOST}\nshards: ${SHARDS:-2}\nlisten: 'localhost:${PORT}'\n\
                request_id_header: ${EMPTY:-x-trace}\nroutes:\n  - path: /\n    upstream:\n      \
                type: static\n      body: '$${literal}'\n      status: ${STATUS:-204}\n";
    let c = ok(text);
    assert_eq!(c.name, "10.1.2.3");
    assert_eq!(c.shards, ShardsSpec::Count(2));
    assert_eq!(c.listen, [SocketAddr::from(([127, 0, 0, 1], 9100))]);
    assert_eq!(c.request_id_header, "x-trace");
    let UpstreamSpec::Static(s) = &c.routes[0].upstream else {
        panic!()
    };
    assert_eq!((s.body.as_str(), s.status), ("${literal}", 204));
}

#[test]
fn yaml_syntax_error() {
    let e = load("name: demo\nroutes: [\n  - path: /\n").unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].path, "");
    assert!(e.errors[0].message.starts_with("invalid YAML: "), "{e}");
    assert!(e.errors[0].message.contains("line "), "{e}");
    assert!(e.to_string().starts_with("gateway.yaml: invalid YAML: "));
}

#[test]
fn wrong_kinds_are_reported_with_paths() {
    assert_eq!(
        error("- a\n"),
        ("".into(), "expected a mapping, found a list".into())
    );
    assert_eq!(
        error(&with_route_fields(
            "    methods: GET\n    upstream: {type: static}\n"
        )),
        (
            "routes[0].methods".into(),
            "invalid type: string \"GET\", expected a sequence".into()
        )
    );
    assert_eq!(
        error(&with_route_fields(
            "    upstream: {type: static, status: [1]}\n"
        )),
        (
            "routes[0].upstream.status".into(),
            "expected a single value, found a list".into()
        )
    );
}

#[test]
fn collects_errors_across_the_file() {
    let text = r#"
name: demo
shards: none
limits: {max_headers: 0, idle_timeout: 5x, bogus: 1}
policies:
  - {type: ip-filter, deny: [nope]}
  - {type: nope}
routes:
  - path: relative
    upstream: {type: url, target: "https://x"}
  - path: /ok
    methods: [GET]
    upstream: {type: static, status: 42}
"#;
    let paths: Vec<String> = errors(text).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "shards",
            "limits.bogus",
            "limits.max_headers",
            "limits.idle_timeout",
            "policies[0].deny[0]",
            "policies[1].type",
            "routes[0].path",
            "routes[0].upstream.target",
            "routes[1].upstream.status",
        ]
    );
}

#[test]
fn merge_keys_and_anchors() {
    let text = r#"
name: demo
routes:
  - path: /a
    upstream: &up {type: url, target: "http://h:1", timeout: 2s}
  - path: /b
    upstream:
      <<: *up
      timeout: 3s
"#;
    let c = ok(text);
    let UpstreamSpec::Url(b) = &c.routes[1].upstream else {
        panic!()
    };
    assert_eq!((b.target.port, b.timeout), (1, Duration::from_secs(3)));
}

#[test]
fn load_file_reports_io_errors_without_a_path() {
    let e = load_file(Path::new("/nonexistent/sluice.yaml")).unwrap_err();
    assert_eq!(e.source, "/nonexistent/sluice.yaml");
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].path, "");
    assert!(e.errors[0].message.starts_with("cannot read file: "));
}
