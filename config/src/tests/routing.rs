//! The policies that pick or replace the upstream call (`dynamic-routing`, `http-callout`,
//! `interrupt`) and their `when` conditions: every field, its default, and each error with
//! its exact path.

use regex::Regex;

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

/// `unknown field {name:?}..., expected one of: type, name, priority, skip, {options}`.
fn unknown(name: &str, hint: &str, options: &str) -> String {
    format!("unknown field {name:?}{hint}, expected one of: type, name, priority, skip, {options}")
}

fn routing(options: &str) -> DynamicRoutingOptions {
    match spec("dynamic-routing", options).kind {
        PolicyKind::DynamicRouting(o) => o,
        other => panic!("{other:?}"),
    }
}

fn callout(options: &str) -> HttpCalloutOptions {
    match spec("http-callout", options).kind {
        PolicyKind::HttpCallout(o) => o,
        other => panic!("{other:?}"),
    }
}

fn interrupt(options: &str) -> InterruptOptions {
    match spec("interrupt", options).kind {
        PolicyKind::Interrupt(o) => o,
        other => panic!("{other:?}"),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// `(name, pattern)` of a name → regex list.
fn patterns(list: &[(String, Regex)]) -> Vec<(&str, &str)> {
    list.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect()
}

fn http(host: &str, port: u16, prefix: &str) -> TargetUrl {
    TargetUrl {
        scheme: "http".into(),
        host: host.into(),
        port,
        path_prefix: prefix.into(),
    }
}

#[test]
fn default_priorities_and_names() {
    for (type_name, options, priority) in [
        (
            "dynamic-routing",
            "rules: [{when: {path: ^/v2}, target: 'http://b'}]",
            50,
        ),
        ("http-callout", "url: 'http://a/check'", 50),
        ("interrupt", "when: {method: DELETE}", 100),
    ] {
        let s = spec(type_name, options);
        assert_eq!((s.name.as_str(), s.priority), (type_name, priority));
        assert_eq!(s.kind.type_name(), type_name);
    }
}

// ---- dynamic-routing and `when` ------------------------------------------------------------

#[test]
fn dynamic_routing_rules() {
    let o = routing(
        "rules: [{when: {headers: {X-Canary: '^1$', x-tenant: acme}, query: {v: '^2$'}, path: \
         '^/api/', method: [get, POST]}, target: 'http://canary:9000/v2/', strip_prefix: \
         /api/}, {when: {method: DELETE}, target: 'http://archive'}]",
    );
    assert_eq!(o.rules.len(), 2);
    let first = &o.rules[0];
    assert_eq!(
        patterns(&first.when.headers),
        [("x-canary", "^1$"), ("x-tenant", "acme")]
    );
    assert_eq!(patterns(&first.when.query), [("v", "^2$")]);
    assert_eq!(first.when.path.as_ref().map(Regex::as_str), Some("^/api/"));
    assert_eq!(first.when.methods, ["GET", "POST"]);
    assert_eq!(first.target, http("canary", 9000, "/v2"));
    assert_eq!(first.strip_prefix.as_deref(), Some("/api"));
    let second = &o.rules[1];
    // A single method need not be a list; absent conditions are empty.
    assert_eq!(second.when.methods, ["DELETE"]);
    assert!(second.when.headers.is_empty() && second.when.query.is_empty());
    assert!(second.when.path.is_none());
    assert_eq!(second.target, http("archive", 80, ""));
    assert_eq!(second.strip_prefix, None);
    // An empty regex matches any value: the header only has to be there.
    let o = routing("rules: [{when: {headers: {x-beta: ''}}, target: 'http://b'}]");
    assert!(o.rules[0].when.headers[0].1.is_match("anything"));
    // Block style on a route.
    let c = ok(&with_route_fields(
        "    policies:
      - type: dynamic-routing
        rules:
          - when:
              headers: {x-region: ^eu}
            target: http://eu.internal:9000
    upstream: {type: url, target: 'http://default'}
",
    ));
    let PolicyKind::DynamicRouting(o) = &c.routes[0].policies[0].kind else {
        panic!()
    };
    assert_eq!(o.rules[0].target, http("eu.internal", 9000, ""));
}

#[test]
fn dynamic_routing_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("", "", "missing required field \"rules\"".into()),
        (
            "rules: []",
            ".rules",
            "needs at least one rule (without rules every request goes to the route's upstream)"
                .into(),
        ),
        (
            "rules: [{target: 'http://b'}]",
            ".rules[0]",
            "missing required field \"when\"".into(),
        ),
        (
            "rules: [{when: {path: x}}]",
            ".rules[0]",
            "missing required field \"target\"".into(),
        ),
        (
            "rules: [{when: {}, target: 'http://b'}]",
            ".rules[0].when",
            "has no conditions (give headers, query, path or method), so it would match every \
             request"
                .into(),
        ),
        (
            "rules: [{when: {headers: {}}, target: 'http://b'}]",
            ".rules[0].when",
            "has no conditions (give headers, query, path or method), so it would match every \
             request"
                .into(),
        ),
        (
            "rules: [{when: {path: '('}, target: 'http://b'}]",
            ".rules[0].when.path",
            "invalid regex \"(\": unclosed group".into(),
        ),
        (
            "rules: [{when: {headers: {'x y': a}}, target: 'http://b'}]",
            ".rules[0].when.headers.x y",
            "invalid header name \"x y\"".into(),
        ),
        (
            "rules: [{when: {headers: {x-a: '['}}, target: 'http://b'}]",
            ".rules[0].when.headers.x-a",
            "invalid regex \"[\": unclosed character class".into(),
        ),
        (
            "rules: [{when: {headers: {x-a: [1]}}, target: 'http://b'}]",
            ".rules[0].when.headers.x-a",
            "expected a regex, found a list".into(),
        ),
        (
            "rules: [{when: {headers: {X-A: a, x-a: b}}, target: 'http://b'}]",
            ".rules[0].when.headers.x-a",
            "header x-a is listed twice".into(),
        ),
        (
            "rules: [{when: {query: {'a=b': c}}, target: 'http://b'}]",
            ".rules[0].when.query.a=b",
            "invalid query parameter name \"a=b\"".into(),
        ),
        (
            "rules: [{when: {query: {1: c}}, target: 'http://b'}]",
            ".rules[0].when.query.1",
            "query parameter names must be strings".into(),
        ),
        (
            "rules: [{when: {method: []}, target: 'http://b'}]",
            ".rules[0].when.method",
            "must not be empty (leave it out to match every method)".into(),
        ),
        (
            "rules: [{when: {method: [GET, get]}, target: 'http://b'}]",
            ".rules[0].when.method[1]",
            "method GET is listed twice".into(),
        ),
        (
            "rules: [{when: {method: 'G T'}, target: 'http://b'}]",
            ".rules[0].when.method",
            "invalid method \"G T\"".into(),
        ),
        (
            "rules: [{when: {method: {a: 1}}, target: 'http://b'}]",
            ".rules[0].when.method",
            "expected a method, found a mapping".into(),
        ),
        (
            "rules: [{when: {methods: [GET]}, target: 'http://b'}]",
            ".rules[0].when.methods",
            "unknown field \"methods\" (did you mean \"method\"?), expected one of: headers, \
             query, path, method"
                .into(),
        ),
        (
            "rules: [{when: {path: x}, target: 'https://b'}]",
            ".rules[0].target",
            "https upstreams are not supported yet (TLS is planned)".into(),
        ),
        (
            "rules: [{when: {path: x}, target: 'http://b', strip_prefix: api}]",
            ".rules[0].strip_prefix",
            "path \"api\" must start with '/'".into(),
        ),
        (
            "rules: [{when: {path: x}, target: 'http://b', upstream: 'http://c'}]",
            ".rules[0].upstream",
            "unknown field \"upstream\", expected one of: when, target, strip_prefix".into(),
        ),
        (
            "rules: {when: {path: x}, target: 'http://b'}",
            ".rules",
            "invalid type: map, expected a sequence".into(),
        ),
        (
            "rules: [{when: {path: x}, target: 'http://b'}], default: 'http://c'",
            ".default",
            unknown("default", "", "rules"),
        ),
    ];
    assert_errors("dynamic-routing", cases);
    // Every rule and every condition is checked.
    let paths: Vec<String> = errors_of(
        "dynamic-routing",
        "rules: [{when: {path: '(', method: ['a b'], headers: {'x y': '('}}, target: x, \
         strip_prefix: y}, {when: {}, target: 'http://ok'}, 5]",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".rules[0].when.headers.x y",
            ".rules[0].when.headers.x y",
            ".rules[0].when.path",
            ".rules[0].when.method[0]",
            ".rules[0].target",
            ".rules[0].strip_prefix",
            ".rules[1].when",
            ".rules[2]",
        ]
    );
}

// ---- http-callout --------------------------------------------------------------------------

const CALLOUT_OPTIONS: &str = "url, method, headers, body, set_headers_from, on_error, timeout";

#[test]
fn http_callout_defaults() {
    assert_eq!(
        callout("url: 'http://authz:8181/v1/check'"),
        HttpCalloutOptions {
            url: http("authz", 8181, "/v1/check"),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            set_headers_from: Vec::new(),
            on_error: CalloutOnError::Fail,
            timeout: Duration::from_secs(5),
        }
    );
    // `/` alone is a path; the path is kept as written, trailing `/` included.
    assert_eq!(callout("url: 'http://a/'").url.path_prefix, "/");
    assert_eq!(callout("url: 'http://a/x/'").url.path_prefix, "/x/");
}

#[test]
fn http_callout_full() {
    let o = callout(
        "url: 'http://authz/check', method: post, headers: {Content-Type: application/json, \
         x-n: 1}, body: '{\"user\":\"{{ header.X-User }}\",\"path\":\"{{path}}\"}', \
         set_headers_from: {X-User-Tier: /user/tier, x-flags: '/flags/0'}, on_error: \
         continue, timeout: 750ms",
    );
    assert_eq!(o.method, "POST");
    assert_eq!(
        o.headers,
        pairs(&[("Content-Type", "application/json"), ("x-n", "1")])
    );
    let body = o.body.unwrap();
    assert_eq!(
        body.text,
        "{\"user\":\"{{ header.X-User }}\",\"path\":\"{{path}}\"}"
    );
    assert_eq!(
        body.parts,
        [
            TemplatePart::Literal("{\"user\":\"".into()),
            TemplatePart::Var(TemplateVar::Header("x-user".into())),
            TemplatePart::Literal("\",\"path\":\"".into()),
            TemplatePart::Var(TemplateVar::Path),
            TemplatePart::Literal("\"}".into()),
        ]
    );
    assert_eq!(
        o.set_headers_from,
        pairs(&[("x-user-tier", "/user/tier"), ("x-flags", "/flags/0")])
    );
    assert_eq!(o.on_error, CalloutOnError::Continue);
    assert_eq!(o.timeout, Duration::from_millis(750));
    assert_eq!(
        callout("url: 'http://a/c', on_error: fail").on_error,
        CalloutOnError::Fail
    );
    // A body without placeholders is one literal; an empty body has no parts.
    let body = callout("url: 'http://a/c', body: plain").body.unwrap();
    assert_eq!(body.parts, [TemplatePart::Literal("plain".into())]);
    assert!(callout("url: 'http://a/c', body: ''")
        .body
        .unwrap()
        .parts
        .is_empty());
}

#[test]
fn http_callout_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("method: GET", "", "missing required field \"url\"".into()),
        (
            "url: 'http://authz'",
            ".url",
            "invalid url \"http://authz\": needs the path to call, e.g. \
             http://authz.internal/check"
                .into(),
        ),
        (
            "url: 'https://authz/check'",
            ".url",
            "https url is not supported yet (TLS is planned)".into(),
        ),
        (
            "url: 'http://authz/check?x=1'",
            ".url",
            "invalid url \"http://authz/check?x=1\": a query or fragment is not allowed".into(),
        ),
        (
            "url: 'http://a/c', method: 'P OST'",
            ".method",
            "invalid method \"P OST\"".into(),
        ),
        (
            "url: 'http://a/c', headers: {'a b': c}",
            ".headers.a b",
            "invalid header name \"a b\"".into(),
        ),
        (
            "url: 'http://a/c', body: '{{user}}'",
            ".body",
            "unknown template variable \"user\", expected one of: method, path, query, \
             client_ip, request_id, consumer, header.<name>, query.<name>, claim.<path>"
                .into(),
        ),
        (
            "url: 'http://a/c', body: '{\"a\": \"{{method\"}'",
            ".body",
            "unterminated \"{{\" in template \"{\\\"a\\\": \\\"{{method\\\"}\" (every \"{{\" \
             opens a variable, closed by \"}}\")"
                .into(),
        ),
        (
            "url: 'http://a/c', body: '{{claim.a..b}}'",
            ".body",
            "invalid claim path \"a..b\" (expected names separated by '.', e.g. \
             realm_access.roles)"
                .into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: {x-user: user/id}",
            ".set_headers_from.x-user",
            "invalid JSON pointer \"user/id\": must start with '/' (e.g. /user/id; RFC 6901)"
                .into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: {x-user: '/a~2'}",
            ".set_headers_from.x-user",
            "invalid JSON pointer \"/a~2\": '~' must be followed by 0 or 1 (~0 is '~', ~1 is \
             '/')"
                .into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: {'x user': /a}",
            ".set_headers_from.x user",
            "invalid header name \"x user\"".into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: {X-A: /a, x-a: /b}",
            ".set_headers_from.x-a",
            "header x-a is listed twice".into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: {x-a: [/a]}",
            ".set_headers_from.x-a",
            "expected a JSON pointer, found a list".into(),
        ),
        (
            "url: 'http://a/c', set_headers_from: [x-a]",
            ".set_headers_from",
            "invalid type: sequence, expected a YAML mapping".into(),
        ),
        (
            "url: 'http://a/c', on_error: ignore",
            ".on_error",
            "unknown on_error \"ignore\", expected one of: fail, continue".into(),
        ),
        (
            "url: 'http://a/c', on_error: contine",
            ".on_error",
            "unknown on_error \"contine\" (did you mean \"continue\"?), expected one of: fail, \
             continue"
                .into(),
        ),
        (
            "url: 'http://a/c', timeout: 0s",
            ".timeout",
            "must be greater than 0".into(),
        ),
        (
            "url: 'http://a/c', body_template: x",
            ".body_template",
            unknown("body_template", "", CALLOUT_OPTIONS),
        ),
    ];
    assert_errors("http-callout", cases);
}

// ---- interrupt -----------------------------------------------------------------------------

#[test]
fn interrupt_fields() {
    let o = interrupt("when: {path: ^/legacy/}");
    assert_eq!(o.when.path.as_ref().map(Regex::as_str), Some("^/legacy/"));
    assert_eq!((o.status, o.body.as_str()), (200, ""));
    assert!(o.headers.is_empty());
    let o = interrupt(
        "status: 410, headers: {content-type: text/plain, x-n: 2}, body: gone, when: \
         {method: [DELETE], query: {force: '^true$'}}",
    );
    assert_eq!(o.status, 410);
    assert_eq!(
        o.headers,
        pairs(&[("content-type", "text/plain"), ("x-n", "2")])
    );
    assert_eq!(o.body, "gone");
    assert_eq!(o.when.methods, ["DELETE"]);
    assert_eq!(patterns(&o.when.query), [("force", "^true$")]);
}

#[test]
fn interrupt_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("status: 403", "", "missing required field \"when\"".into()),
        (
            "when: {}",
            ".when",
            "has no conditions (give headers, query, path or method), so it would match every \
             request"
                .into(),
        ),
        (
            "when: {path: x}, status: 99",
            ".status",
            "invalid status \"99\" (expected 100..=599)".into(),
        ),
        (
            "when: {path: x}, headers: {x-a: \"1\\r\\n\"}",
            ".headers.x-a",
            "header value must not contain CR, LF or NUL".into(),
        ),
        (
            "when: {path: x}, body: [a]",
            ".body",
            "expected a single value, found a list".into(),
        ),
        (
            "when: {paths: [x]}",
            ".when.paths",
            "unknown field \"paths\" (did you mean \"path\"?), expected one of: headers, query, \
             path, method"
                .into(),
        ),
        (
            "when: {path: x}, message: no",
            ".message",
            unknown("message", "", "status, headers, body, when"),
        ),
    ];
    assert_errors("interrupt", cases);
    let paths: Vec<String> = errors_of("interrupt", "status: 0, when: {path: '('}")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, [".status", ".when.path"]);
}
