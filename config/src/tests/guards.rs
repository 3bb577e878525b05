//! The request guards and the cache (`cors`, `request-limit`, `ssl-enforce`,
//! `override-method`, `json-threat-protection`, `regex-threat-protection`, `geo-ip-filter`,
//! `cache`): every field, its default, and each error with its exact path.

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

fn cors(options: &str) -> CorsOptions {
    match spec("cors", options).kind {
        PolicyKind::Cors(o) => o,
        other => panic!("{other:?}"),
    }
}

fn ssl(options: &str) -> SslEnforceOptions {
    match spec("ssl-enforce", options).kind {
        PolicyKind::SslEnforce(o) => o,
        other => panic!("{other:?}"),
    }
}

fn override_method(options: &str) -> OverrideMethodOptions {
    match spec("override-method", options).kind {
        PolicyKind::OverrideMethod(o) => o,
        other => panic!("{other:?}"),
    }
}

fn json_threat(options: &str) -> JsonThreatOptions {
    match spec("json-threat-protection", options).kind {
        PolicyKind::JsonThreatProtection(o) => o,
        other => panic!("{other:?}"),
    }
}

fn regex_threat(options: &str) -> RegexThreatOptions {
    match spec("regex-threat-protection", options).kind {
        PolicyKind::RegexThreatProtection(o) => o,
        other => panic!("{other:?}"),
    }
}

fn geo_ip(options: &str) -> GeoIpOptions {
    match spec("geo-ip-filter", options).kind {
        PolicyKind::GeoIpFilter(o) => o,
        other => panic!("{other:?}"),
    }
}

fn cache(options: &str) -> CacheOptions {
    match spec("cache", options).kind {
        PolicyKind::Cache(o) => o,
        other => panic!("{other:?}"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// `unknown field {name:?}..., expected one of: type, name, priority, skip, {options}`.
fn unknown(name: &str, hint: &str, options: &str) -> String {
    format!("unknown field {name:?}{hint}, expected one of: type, name, priority, skip, {options}")
}

// ---- cors ----------------------------------------------------------------------------------

const CORS_OPTIONS: &str =
    "origins, methods, allowed_headers, exposed_headers, credentials, max_age, preflight";

#[test]
fn cors_defaults() {
    let s = spec("cors", "origins: '*'");
    assert_eq!((s.name.as_str(), s.priority), ("cors", 5));
    let PolicyKind::Cors(o) = s.kind else {
        panic!("{:?}", s.kind)
    };
    assert!(matches!(o.origins, CorsOrigins::Any));
    assert_eq!(
        o.methods,
        strings(&["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"])
    );
    assert!(o.allowed_headers.is_empty());
    assert!(o.exposed_headers.is_empty());
    assert!(!o.credentials);
    assert_eq!(o.max_age, 86_400);
    assert!(o.preflight);
}

#[test]
fn cors_full() {
    let o = cors(
        "origins: ['https://App.Example.com', 'http://localhost:3000', 'http://[::1]:8080'], \
         methods: [get, POST, PURGE], allowed_headers: [X-Api-Key, content-type], \
         exposed_headers: [X-Request-Id], credentials: true, max_age: 10m, preflight: false",
    );
    let CorsOrigins::List(list) = &o.origins else {
        panic!("{:?}", o.origins)
    };
    assert_eq!(
        list,
        &strings(&[
            "https://app.example.com",
            "http://localhost:3000",
            "http://[::1]:8080"
        ])
    );
    assert_eq!(o.methods, strings(&["GET", "POST", "PURGE"]));
    assert_eq!(o.allowed_headers, strings(&["X-Api-Key", "content-type"]));
    assert_eq!(o.exposed_headers, strings(&["X-Request-Id"]));
    assert!(o.credentials);
    assert_eq!(o.max_age, 600);
    assert!(!o.preflight);
    // max_age: integer seconds or a whole-second duration; 0 is allowed.
    assert_eq!(cors("origins: '*', max_age: 3600").max_age, 3600);
    assert_eq!(cors("origins: '*', max_age: '0'").max_age, 0);
    assert_eq!(cors("origins: '*', max_age: 2h").max_age, 7200);
    assert_eq!(cors("origins: '*', max_age: 2000ms").max_age, 2);
    assert!(!cors("origins: '*', credentials: false").credentials);
    assert!(cors("origins: '*', allowed_headers: []")
        .allowed_headers
        .is_empty());
}

#[test]
fn cors_patterns_escape_exact_origins() {
    let o = cors(concat!(
        r"origins: ['HTTPS://App.example.com', 'regex:https://[a-z]+\.example\.com'], ",
        "credentials: true",
    ));
    assert!(o.credentials, "credentials are fine with patterns");
    let CorsOrigins::Patterns(patterns) = &o.origins else {
        panic!("{:?}", o.origins)
    };
    let written: Vec<&str> = patterns.iter().map(Regex::as_str).collect();
    assert_eq!(
        written,
        [
            r"^(?:https://app\.example\.com)$",
            r"^(?:https://[a-z]+\.example\.com)$"
        ]
    );
    let allows = |origin: &str| patterns.iter().any(|p| p.is_match(origin));
    assert!(allows("https://app.example.com"));
    assert!(allows("https://shop.example.com"));
    assert!(
        !allows("https://appxexample.com"),
        "exact origins are escaped"
    );
    assert!(!allows("https://shop.example.com.evil.net"), "anchored");
    assert!(!allows("xhttps://shop.example.com"), "anchored");
    // Only patterns: still Patterns.
    let o = cors("origins: ['regex:https?://localhost(:[0-9]+)?']");
    assert!(matches!(&o.origins, CorsOrigins::Patterns(p) if p.len() == 1));
}

#[test]
fn cors_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "methods: [GET]",
            "",
            "missing required field \"origins\"".into(),
        ),
        (
            "origins: []",
            ".origins",
            "must not be empty: list the origins that may call, or write \"*\" for every origin"
                .into(),
        ),
        (
            "origins: 'https://a.com'",
            ".origins",
            "expected \"*\" or a list of origins, found \"https://a.com\" \
             (write [\"https://a.com\"] for a single origin)"
                .into(),
        ),
        (
            "origins: {a: b}",
            ".origins",
            "expected \"*\" or a list of origins, found a mapping".into(),
        ),
        (
            "origins: true",
            ".origins",
            "expected \"*\" or a list of origins, found a boolean".into(),
        ),
        (
            "origins: ['*']",
            ".origins[0]",
            "\"*\" cannot be part of a list: write origins: \"*\" to allow every origin".into(),
        ),
        (
            "origins: ['https://a.com', [x]]",
            ".origins[1]",
            "expected an origin, found a list".into(),
        ),
        (
            "origins: ['https://a.com/']",
            ".origins[0]",
            "invalid origin \"https://a.com/\": an origin has no path, query or fragment \
             (not even a trailing '/')"
                .into(),
        ),
        (
            "origins: ['https://a.com/app']",
            ".origins[0]",
            "invalid origin \"https://a.com/app\": an origin has no path, query or fragment \
             (not even a trailing '/')"
                .into(),
        ),
        (
            "origins: ['https://a.com?x=1']",
            ".origins[0]",
            "invalid origin \"https://a.com?x=1\": an origin has no path, query or fragment \
             (not even a trailing '/')"
                .into(),
        ),
        (
            "origins: [a.com]",
            ".origins[0]",
            "invalid origin \"a.com\": expected scheme://host[:port], e.g. \
             https://app.example.com"
                .into(),
        ),
        (
            "origins: ['ftp://a.com']",
            ".origins[0]",
            "invalid origin \"ftp://a.com\": unsupported scheme \"ftp\" (expected http or https)"
                .into(),
        ),
        (
            "origins: ['https://a.com:443']",
            ".origins[0]",
            "invalid origin \"https://a.com:443\": browsers leave the default port 443 out of \
             Origin, so it would never match; write https://a.com"
                .into(),
        ),
        (
            "origins: ['https://a.com:x']",
            ".origins[0]",
            "invalid origin \"https://a.com:x\": invalid port \"x\"".into(),
        ),
        (
            "origins: ['https://user@a.com']",
            ".origins[0]",
            "invalid origin \"https://user@a.com\": user info (user@host) is not allowed".into(),
        ),
        (
            "origins: ['https://a.com', 'HTTPS://A.com']",
            ".origins[1]",
            "origin \"https://a.com\" is listed twice".into(),
        ),
        (
            "origins: ['regex:']",
            ".origins[0]",
            "\"regex:\" has no pattern (expected regex:<pattern>, e.g. \
             regex:https://.*\\.example\\.com)"
                .into(),
        ),
        (
            "origins: ['regex:(']",
            ".origins[0]",
            "invalid regex \"(\": unclosed group".into(),
        ),
        (
            "origins: ['regex:a', 'regex:a']",
            ".origins[1]",
            "pattern \"a\" is listed twice".into(),
        ),
        (
            "origins: '*', methods: []",
            ".methods",
            "must not be empty (leave it out for GET, HEAD, PUT, PATCH, POST, DELETE)".into(),
        ),
        (
            "origins: '*', methods: [GET, get]",
            ".methods[1]",
            "method GET is listed twice".into(),
        ),
        (
            "origins: '*', methods: ['G T']",
            ".methods[0]",
            "invalid method \"G T\"".into(),
        ),
        (
            "origins: '*', allowed_headers: ['x y']",
            ".allowed_headers[0]",
            "invalid header name \"x y\"".into(),
        ),
        (
            "origins: '*', allowed_headers: [X-A, x-a]",
            ".allowed_headers[1]",
            "header \"x-a\" is listed twice".into(),
        ),
        (
            "origins: '*', exposed_headers: ['a:b']",
            ".exposed_headers[0]",
            "invalid header name \"a:b\"".into(),
        ),
        (
            "origins: '*', exposed_headers: x-a",
            ".exposed_headers",
            "invalid type: string \"x-a\", expected a sequence".into(),
        ),
        (
            "origins: '*', credentials: yes",
            ".credentials",
            "expected true or false, found \"yes\"".into(),
        ),
        (
            "origins: '*', credentials: true",
            ".credentials",
            "credentials: true cannot be combined with origins: \"*\": browsers refuse a \
             wildcard Access-Control-Allow-Origin on credentialed requests, so list the \
             origins that may call"
                .into(),
        ),
        (
            "origins: '*', max_age: 1.5s",
            ".max_age",
            "must be a whole number of seconds, found \"1.5s\" (e.g. 30s, 5m, 24h)".into(),
        ),
        (
            "origins: '*', max_age: -1",
            ".max_age",
            "invalid duration \"-1\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "origins: '*', max_age: 1d",
            ".max_age",
            "invalid duration \"1d\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "origins: '*', preflight: 1",
            ".preflight",
            "expected true or false, found \"1\"".into(),
        ),
        (
            "origins: '*', origin: x",
            ".origin",
            unknown("origin", " (did you mean \"origins\"?)", CORS_OPTIONS),
        ),
    ];
    assert_errors("cors", cases);
}

#[test]
fn cors_errors_are_all_reported() {
    let paths: Vec<String> = errors_of(
        "cors",
        "origins: ['https://a.com/', ok, 'regex:)'], methods: [], allowed_headers: ['a b'], \
         exposed_headers: ['c d'], credentials: 2, max_age: x, preflight: x",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".origins[0]",
            ".origins[1]",
            ".origins[2]",
            ".methods",
            ".allowed_headers[0]",
            ".exposed_headers[0]",
            ".credentials",
            ".max_age",
            ".preflight",
        ]
    );
}

// ---- request-limit -------------------------------------------------------------------------

#[test]
fn request_limit() {
    let s = spec("request-limit", "max_bytes: 1024");
    assert_eq!((s.name.as_str(), s.priority), ("request-limit", 5));
    let PolicyKind::RequestLimit(o) = s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(o, RequestLimitOptions { max_bytes: 1024 });
    let s = spec("request-limit", "max_bytes: '${PORT}'");
    assert!(matches!(
        s.kind,
        PolicyKind::RequestLimit(RequestLimitOptions { max_bytes: 9100 })
    ));
}

#[test]
fn request_limit_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("name: x", "", "missing required field \"max_bytes\"".into()),
        (
            "max_bytes: 0",
            ".max_bytes",
            "must be greater than 0".into(),
        ),
        ("max_bytes: -1", ".max_bytes", "-1 is out of range".into()),
        (
            "max_bytes: 1MB",
            ".max_bytes",
            "expected an integer, found \"1MB\"".into(),
        ),
        (
            "max_bytes: 1, max_byte: 2",
            ".max_byte",
            unknown("max_byte", " (did you mean \"max_bytes\"?)", "max_bytes"),
        ),
    ];
    assert_errors("request-limit", cases);
}

// ---- ssl-enforce ---------------------------------------------------------------------------

#[test]
fn ssl_enforce_defaults() {
    let c = ok(&global_policy("{type: ssl-enforce}"));
    let s = &c.policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("ssl-enforce", 5));
    let PolicyKind::SslEnforce(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        o,
        &SslEnforceOptions {
            redirect: true,
            hsts_max_age: 31_536_000,
            include_subdomains: false,
            preload: false,
            trust_forwarded: false,
        }
    );
    assert_eq!(ssl("hsts: null"), ssl("hsts: {}"));
    assert_eq!(ssl("hsts: {}").hsts_max_age, 31_536_000);
}

#[test]
fn ssl_enforce_full() {
    assert_eq!(
        ssl("redirect: false, trust_forwarded: true, \
             hsts: {max_age: 63072000, include_subdomains: true, preload: true}"),
        SslEnforceOptions {
            redirect: false,
            hsts_max_age: 63_072_000,
            include_subdomains: true,
            preload: true,
            trust_forwarded: true,
        }
    );
    // Exactly one year is enough for preload, written as a duration too.
    let o = ssl("hsts: {max_age: 8760h, include_subdomains: true, preload: true}");
    assert_eq!((o.hsts_max_age, o.preload), (31_536_000, true));
    // max_age 0 tells browsers to forget the policy: allowed (without preload).
    let o = ssl("hsts: {max_age: 0, include_subdomains: true}");
    assert_eq!((o.hsts_max_age, o.include_subdomains), (0, true));
}

#[test]
fn ssl_enforce_errors() {
    const PRELOAD: &str = "preload requires include_subdomains: true and max_age of at least \
                           31536000 (one year), as the HSTS preload list does; here";
    let cases: &[(&str, &str, String)] = &[
        (
            "redirect: no",
            ".redirect",
            "expected true or false, found \"no\"".into(),
        ),
        (
            "trust_forwarded: on",
            ".trust_forwarded",
            "expected true or false, found \"on\"".into(),
        ),
        (
            "hsts: true",
            ".hsts",
            "expected a mapping, found a boolean".into(),
        ),
        (
            "hsts: {max_age: 1y}",
            ".hsts.max_age",
            "invalid duration \"1y\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "hsts: {max_age: 0.5s}",
            ".hsts.max_age",
            "must be a whole number of seconds, found \"0.5s\" (e.g. 30s, 5m, 24h)".into(),
        ),
        (
            "hsts: {include_subdomains: 1}",
            ".hsts.include_subdomains",
            "expected true or false, found \"1\"".into(),
        ),
        (
            "hsts: {preload: maybe}",
            ".hsts.preload",
            "expected true or false, found \"maybe\"".into(),
        ),
        (
            "hsts: {preload: true}",
            ".hsts.preload",
            format!("{PRELOAD} include_subdomains is false"),
        ),
        (
            "hsts: {preload: true, include_subdomains: true, max_age: 600}",
            ".hsts.preload",
            format!("{PRELOAD} max_age is 600"),
        ),
        (
            "hsts: {preload: true, max_age: 1h}",
            ".hsts.preload",
            format!("{PRELOAD} include_subdomains is false and max_age is 3600"),
        ),
        // preload is not judged against a field that is itself wrong.
        (
            "hsts: {preload: true, include_subdomains: sure}",
            ".hsts.include_subdomains",
            "expected true or false, found \"sure\"".into(),
        ),
        (
            "hsts: {maxage: 1}",
            ".hsts.maxage",
            "unknown field \"maxage\" (did you mean \"max_age\"?), expected one of: max_age, \
             include_subdomains, preload"
                .into(),
        ),
        // The HSTS fields only exist under `hsts`.
        (
            "max_age: 1",
            ".max_age",
            unknown("max_age", "", "redirect, hsts, trust_forwarded"),
        ),
        (
            "preload: true",
            ".preload",
            unknown("preload", "", "redirect, hsts, trust_forwarded"),
        ),
    ];
    assert_errors("ssl-enforce", cases);
}

// ---- override-method -----------------------------------------------------------------------

#[test]
fn override_method_defaults_and_fields() {
    let c = ok(&global_policy("{type: override-method}"));
    let s = &c.policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("override-method", 5));
    let PolicyKind::OverrideMethod(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        o,
        &OverrideMethodOptions {
            header: "x-http-method-override".into(),
            allowed_methods: strings(&["PUT", "PATCH", "DELETE"]),
        }
    );
    assert_eq!(
        override_method("header: X-Method, allowed_methods: [delete, PURGE, get]"),
        OverrideMethodOptions {
            header: "x-method".into(),
            allowed_methods: strings(&["DELETE", "PURGE", "GET"]),
        }
    );
}

#[test]
fn override_method_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "header: 'x y'",
            ".header",
            "invalid header name \"x y\"".into(),
        ),
        (
            "allowed_methods: []",
            ".allowed_methods",
            "must not be empty (leave it out for PUT, PATCH, DELETE)".into(),
        ),
        (
            "allowed_methods: [connect]",
            ".allowed_methods[0]",
            "CONNECT cannot be allowed: it asks for a tunnel, which the gateway never opens".into(),
        ),
        (
            "allowed_methods: [PUT, TRACE]",
            ".allowed_methods[1]",
            "TRACE cannot be allowed: it echoes the request back, credentials included, which \
             lets a cross-site script read them"
                .into(),
        ),
        (
            "allowed_methods: [PUT, put]",
            ".allowed_methods[1]",
            "method PUT is listed twice".into(),
        ),
        (
            "allowed_methods: ['P T']",
            ".allowed_methods[0]",
            "invalid method \"P T\"".into(),
        ),
        (
            "methods: [PUT]",
            ".methods",
            unknown("methods", "", "header, allowed_methods"),
        ),
    ];
    assert_errors("override-method", cases);
}

// ---- json-threat-protection ----------------------------------------------------------------

#[test]
fn json_threat_defaults_and_fields() {
    let c = ok(&global_policy("{type: json-threat-protection}"));
    let s = &c.policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("json-threat-protection", 5));
    let PolicyKind::JsonThreatProtection(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        o,
        &JsonThreatOptions {
            max_depth: 20,
            max_keys: 100,
            max_string_length: 10_000,
            max_array_size: 100,
            max_body_bytes: 1_048_576,
            content_types: strings(&["application/json"]),
        }
    );
    assert_eq!(
        json_threat(
            "max_depth: 5, max_keys: 10, max_string_length: 200, max_array_size: 50, \
             max_body_bytes: 4096, content_types: [Application/JSON, application/vnd.api+json]"
        ),
        JsonThreatOptions {
            max_depth: 5,
            max_keys: 10,
            max_string_length: 200,
            max_array_size: 50,
            max_body_bytes: 4096,
            content_types: strings(&["application/json", "application/vnd.api+json"]),
        }
    );
}

#[test]
fn json_threat_errors() {
    for field in [
        "max_depth",
        "max_keys",
        "max_string_length",
        "max_array_size",
        "max_body_bytes",
    ] {
        let at = format!(".{field}");
        assert_eq!(
            errors_of("json-threat-protection", &format!("{field}: 0")),
            [(at.clone(), "must be greater than 0".to_owned())]
        );
        assert_eq!(
            errors_of("json-threat-protection", &format!("{field}: lots")),
            [(at, "expected an integer, found \"lots\"".to_owned())]
        );
    }
    let cases: &[(&str, &str, String)] = &[
        (
            "max_body_bytes: -1",
            ".max_body_bytes",
            "-1 is out of range".into(),
        ),
        (
            "content_types: []",
            ".content_types",
            "must not be empty (leave it out for application/json)".into(),
        ),
        (
            "content_types: [application/json, '+json']",
            ".content_types[1]",
            "\"+json\" need not be listed: types ending in +json (application/problem+json...) \
             are always checked"
                .into(),
        ),
        (
            "content_types: ['application/json; charset=utf-8']",
            ".content_types[0]",
            "invalid media type \"application/json; charset=utf-8\": leave out parameters such \
             as charset (they are ignored when matching)"
                .into(),
        ),
        (
            "content_types: ['application/*']",
            ".content_types[0]",
            "invalid media type \"application/*\": wildcards are not supported, list each media \
             type"
                .into(),
        ),
        (
            "content_types: [json]",
            ".content_types[0]",
            "invalid media type \"json\" (expected type/subtype, e.g. application/json)".into(),
        ),
        (
            "content_types: [application/json, APPLICATION/JSON]",
            ".content_types[1]",
            "media type \"application/json\" is listed twice".into(),
        ),
        (
            "content_types: application/json",
            ".content_types",
            "invalid type: string \"application/json\", expected a sequence".into(),
        ),
        (
            "max_size: 1",
            ".max_size",
            unknown(
                "max_size",
                "",
                "max_depth, max_keys, max_string_length, max_array_size, max_body_bytes, \
                 content_types",
            ),
        ),
    ];
    assert_errors("json-threat-protection", cases);
}

// ---- regex-threat-protection ---------------------------------------------------------------

#[test]
fn regex_threat_defaults_and_fields() {
    let s = spec("regex-threat-protection", "patterns: [{regex: '<script'}]");
    assert_eq!(
        (s.name.as_str(), s.priority),
        ("regex-threat-protection", 5)
    );
    let PolicyKind::RegexThreatProtection(o) = s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(o.max_body_scan_bytes, 65_536);
    let [p] = &o.patterns[..] else {
        panic!("{:?}", o.patterns)
    };
    assert_eq!(p.regex.as_str(), "<script");
    assert_eq!(
        p.targets,
        [
            ThreatTarget::Path,
            ThreatTarget::Query,
            ThreatTarget::Headers,
            ThreatTarget::Body
        ]
    );
    assert_eq!(p.message, "Request blocked");

    let o = regex_threat(concat!(
        r"patterns: [{regex: '(?i)union\s+select', targets: [query, body], ",
        r"message: SQL injection}, {regex: '\.\./', targets: [path]}], ",
        "max_body_scan_bytes: 1024",
    ));
    assert_eq!(o.max_body_scan_bytes, 1024);
    let got: Vec<(&str, &[ThreatTarget], &str)> = o
        .patterns
        .iter()
        .map(|p| (p.regex.as_str(), &p.targets[..], p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                r"(?i)union\s+select",
                &[ThreatTarget::Query, ThreatTarget::Body][..],
                "SQL injection"
            ),
            (r"\.\./", &[ThreatTarget::Path][..], "Request blocked"),
        ]
    );
    // Unanchored: matches anywhere.
    assert!(o.patterns[0].regex.is_match("id=1 UNION  SELECT x"));
}

#[test]
fn regex_threat_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("name: x", "", "missing required field \"patterns\"".into()),
        (
            "patterns: []",
            ".patterns",
            "needs at least one pattern (a policy without patterns blocks nothing)".into(),
        ),
        (
            "patterns: x",
            ".patterns",
            "invalid type: string \"x\", expected a sequence".into(),
        ),
        (
            "patterns: [x]",
            ".patterns[0]",
            "expected a mapping, found a string".into(),
        ),
        (
            "patterns: [{targets: [body]}]",
            ".patterns[0]",
            "missing required field \"regex\"".into(),
        ),
        (
            "patterns: [{regex: ''}]",
            ".patterns[0].regex",
            "must not be empty (an empty pattern matches every request)".into(),
        ),
        (
            "patterns: [{regex: a}, {regex: '('}]",
            ".patterns[1].regex",
            "invalid regex \"(\": unclosed group".into(),
        ),
        (
            "patterns: [{regex: a, targets: []}]",
            ".patterns[0].targets",
            "must not be empty (leave it out to scan path, query, headers and body)".into(),
        ),
        (
            "patterns: [{regex: a, targets: [bdy]}]",
            ".patterns[0].targets[0]",
            "unknown target \"bdy\" (did you mean \"body\"?), expected one of: path, query, \
             headers, body"
                .into(),
        ),
        (
            "patterns: [{regex: a, targets: [path, cookies]}]",
            ".patterns[0].targets[1]",
            "unknown target \"cookies\", expected one of: path, query, headers, body".into(),
        ),
        (
            "patterns: [{regex: a, targets: [body, body]}]",
            ".patterns[0].targets[1]",
            "target body is listed twice".into(),
        ),
        (
            "patterns: [{regex: a, message: ' '}]",
            ".patterns[0].message",
            "must not be empty".into(),
        ),
        (
            "patterns: [{regex: a, message: \"a\\nb\"}]",
            ".patterns[0].message",
            "message \"a\\nb\" must not contain control characters".into(),
        ),
        (
            "patterns: [{regex: a, flags: i}]",
            ".patterns[0].flags",
            "unknown field \"flags\", expected one of: regex, targets, message".into(),
        ),
        (
            "patterns: [{regex: a}], max_body_scan_bytes: 0",
            ".max_body_scan_bytes",
            "must be greater than 0".into(),
        ),
        (
            "patterns: [{regex: a}], max_body_bytes: 1",
            ".max_body_bytes",
            unknown("max_body_bytes", "", "patterns, max_body_scan_bytes"),
        ),
    ];
    assert_errors("regex-threat-protection", cases);
}

#[test]
fn regex_threat_errors_are_all_reported() {
    let paths: Vec<String> = errors_of(
        "regex-threat-protection",
        "patterns: [{regex: '['}, {targets: [x]}, {regex: a, targets: [], message: ''}], \
         max_body_scan_bytes: -1",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".patterns[0].regex",
            ".patterns[1]",
            ".patterns[1].targets[0]",
            ".patterns[2].targets",
            ".patterns[2].message",
            ".max_body_scan_bytes",
        ]
    );
}

// ---- geo-ip-filter -------------------------------------------------------------------------

/// A readable file, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("sluice-config-{}-{name}", std::process::id()));
        std::fs::write(&path, b"not really a database").unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn geo_ip_defaults_and_fields() {
    let c = ok(&global_policy("{type: geo-ip-filter, deny: [cn]}"));
    let s = &c.policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("geo-ip-filter", 1));
    let PolicyKind::GeoIpFilter(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        o,
        &GeoIpOptions {
            allow: Vec::new(),
            deny: strings(&["CN"]),
            mode: IpFilterMode::Deny,
            country_header: "cf-ipcountry".into(),
            mmdb_path: None,
        }
    );
    assert_eq!(
        geo_ip("allow: [us, Ca], deny: [RU], mode: allow, country_header: X-Country"),
        GeoIpOptions {
            allow: strings(&["US", "CA"]),
            deny: strings(&["RU"]),
            mode: IpFilterMode::Allow,
            country_header: "x-country".into(),
            mmdb_path: None,
        }
    );
    assert_eq!(geo_ip("mode: deny").mode, IpFilterMode::Deny);
    let file = TempFile::new("country.mmdb");
    let written = file.0.display().to_string();
    let o = geo_ip(&format!("allow: [de], mode: allow, mmdb_path: '{written}'"));
    assert_eq!(o.mmdb_path, Some(written));
    assert_eq!(o.country_header, "cf-ipcountry");
}

#[test]
fn geo_ip_errors() {
    let cases: &[(&str, &str, String)] = &[
        (
            "allow: [usa]",
            ".allow[0]",
            "invalid country code \"usa\" (expected two letters, ISO 3166-1 alpha-2, e.g. US)"
                .into(),
        ),
        (
            "deny: [T1]",
            ".deny[0]",
            "invalid country code \"T1\" (expected two letters, ISO 3166-1 alpha-2, e.g. US)"
                .into(),
        ),
        (
            "deny: [us, US]",
            ".deny[1]",
            "country US is listed twice".into(),
        ),
        (
            "allow: [us], deny: [fr, US]",
            ".deny[1]",
            "country US is also in allow; list it in one of them (in mode deny the allow entry \
             wins, in mode allow the deny entry does)"
                .into(),
        ),
        (
            "deny: us",
            ".deny",
            "invalid type: string \"us\", expected a sequence".into(),
        ),
        (
            "mode: allowlist",
            ".mode",
            "invalid mode \"allowlist\" (expected deny or allow)".into(),
        ),
        (
            "mode: allow",
            ".mode",
            "mode allow with an empty allow list would refuse every client".into(),
        ),
        (
            "mode: allow, allow: [], deny: [fr]",
            ".mode",
            "mode allow with an empty allow list would refuse every client".into(),
        ),
        (
            "country_header: 'x y'",
            ".country_header",
            "invalid header name \"x y\"".into(),
        ),
        (
            "mmdb_path: /nonexistent/GeoLite2-Country.mmdb",
            ".mmdb_path",
            "cannot read mmdb_path \"/nonexistent/GeoLite2-Country.mmdb\": No such file or \
             directory (os error 2)"
                .into(),
        ),
        (
            "mmdb_path: /",
            ".mmdb_path",
            "mmdb_path \"/\" is not a file (expected a MaxMind DB such as \
             GeoLite2-Country.mmdb)"
                .into(),
        ),
        ("mmdb_path: ''", ".mmdb_path", "must not be empty".into()),
        (
            "trust_forwarded: true",
            ".trust_forwarded",
            unknown(
                "trust_forwarded",
                "",
                "allow, deny, mode, country_header, mmdb_path",
            ),
        ),
    ];
    assert_errors("geo-ip-filter", cases);
    // country_header and mmdb_path are two sources of the country: one at a time.
    let file = TempFile::new("both.mmdb");
    assert_eq!(
        errors_of(
            "geo-ip-filter",
            &format!(
                "country_header: x-country, mmdb_path: '{}'",
                file.0.display()
            )
        ),
        [(
            ".country_header".to_owned(),
            "country_header is not used with mmdb_path (the country then comes from the client \
             address); give one of them"
                .to_owned()
        )]
    );
}

// ---- cache ---------------------------------------------------------------------------------

#[test]
fn cache_defaults() {
    let c = ok(&global_policy("{type: cache}"));
    let s = &c.policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("cache", 40));
    let PolicyKind::Cache(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        o,
        &CacheOptions {
            ttl: Duration::from_secs(300),
            methods: strings(&["GET", "HEAD"]),
            cacheable_statuses: vec![200, 203, 204, 206, 300, 301, 404, 405, 410, 414],
            vary_headers: Vec::new(),
            respect_cache_control: true,
            max_bytes: 67_108_864,
            max_object_bytes: 1_048_576,
            status_header: "x-cache".into(),
        }
    );
}

#[test]
fn cache_full() {
    assert_eq!(
        cache(
            "ttl: 1m, methods: [get], cacheable_statuses: [200, '404', 301, 100], \
             vary_headers: [Accept-Encoding, X-Tenant], respect_cache_control: false, \
             max_bytes: 1048576, max_object_bytes: 65536, status_header: X-Cache-Status"
        ),
        CacheOptions {
            ttl: Duration::from_secs(60),
            methods: strings(&["GET"]),
            cacheable_statuses: vec![200, 404, 301, 100],
            vary_headers: strings(&["accept-encoding", "x-tenant"]),
            respect_cache_control: false,
            max_bytes: 1_048_576,
            max_object_bytes: 65_536,
            status_header: "x-cache-status".into(),
        }
    );
    assert_eq!(cache("ttl: 30").ttl, Duration::from_secs(30));
    assert_eq!(cache("ttl: 1000ms").ttl, Duration::from_secs(1));
    // An object may fill the whole cache.
    let o = cache("max_bytes: 4096, max_object_bytes: 4096");
    assert_eq!((o.max_bytes, o.max_object_bytes), (4096, 4096));
    // Block style on a route, with the common fields.
    let c = ok(&with_route_fields(
        "    policies:
      - type: cache
        name: short
        priority: 45
        ttl: 10s
        skip: {headers: {authorization: '.'}}
    upstream: {type: static}
",
    ));
    let s = &c.routes[0].policies[0];
    assert_eq!((s.name.as_str(), s.priority), ("short", 45));
    assert_eq!(s.field_path, "routes[0].policies[0]");
    let PolicyKind::Cache(o) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(o.ttl, Duration::from_secs(10));
}

#[test]
fn cache_errors() {
    let cases: &[(&str, &str, String)] = &[
        ("ttl: 0", ".ttl", "must be greater than 0".into()),
        ("ttl: 0s", ".ttl", "must be greater than 0".into()),
        (
            "ttl: 500ms",
            ".ttl",
            "must be a whole number of seconds, found \"500ms\" (e.g. 30s, 5m, 24h)".into(),
        ),
        (
            "ttl: soon",
            ".ttl",
            "invalid duration \"soon\" (expected e.g. 500ms, 30s, 1m)".into(),
        ),
        (
            "methods: []",
            ".methods",
            "must not be empty (leave it out for GET, HEAD)".into(),
        ),
        (
            "methods: [GET, post]",
            ".methods[1]",
            "method POST cannot be cached (expected GET or HEAD)".into(),
        ),
        (
            "methods: [GET, get]",
            ".methods[1]",
            "method GET is listed twice".into(),
        ),
        (
            "methods: ['G T']",
            ".methods[0]",
            "invalid method \"G T\"".into(),
        ),
        (
            "methods: [head]",
            ".methods",
            "HEAD alone caches nothing: HEAD is answered from GET entries and never stored, \
             so list GET as well"
                .into(),
        ),
        (
            "cacheable_statuses: []",
            ".cacheable_statuses",
            "must not be empty (leave it out for the default list)".into(),
        ),
        (
            "cacheable_statuses: [200, 503]",
            ".cacheable_statuses[1]",
            "5xx responses are never cached".into(),
        ),
        (
            "cacheable_statuses: [500]",
            ".cacheable_statuses[0]",
            "5xx responses are never cached".into(),
        ),
        (
            "cacheable_statuses: [99]",
            ".cacheable_statuses[0]",
            "invalid status \"99\" (expected 100..=599)".into(),
        ),
        (
            "cacheable_statuses: [600]",
            ".cacheable_statuses[0]",
            "invalid status \"600\" (expected 100..=599)".into(),
        ),
        (
            "cacheable_statuses: [ok]",
            ".cacheable_statuses[0]",
            "invalid status \"ok\" (expected 100..=599)".into(),
        ),
        (
            "cacheable_statuses: [200, '200']",
            ".cacheable_statuses[1]",
            "status 200 is listed twice".into(),
        ),
        (
            "vary_headers: ['a b']",
            ".vary_headers[0]",
            "invalid header name \"a b\"".into(),
        ),
        (
            "vary_headers: [Accept, accept]",
            ".vary_headers[1]",
            "header \"accept\" is listed twice".into(),
        ),
        (
            "respect_cache_control: nope",
            ".respect_cache_control",
            "expected true or false, found \"nope\"".into(),
        ),
        (
            "max_bytes: 0",
            ".max_bytes",
            "must be greater than 0".into(),
        ),
        (
            "max_object_bytes: 0",
            ".max_object_bytes",
            "must be greater than 0".into(),
        ),
        (
            "max_bytes: 1000, max_object_bytes: 2000",
            ".max_object_bytes",
            "must be at most max_bytes (1000)".into(),
        ),
        (
            "max_object_bytes: 67108865",
            ".max_object_bytes",
            "must be at most max_bytes (67108864)".into(),
        ),
        (
            "max_bytes: 1000",
            ".max_bytes",
            "must be at least max_object_bytes (1048576 by default); lower max_object_bytes \
             as well"
                .into(),
        ),
        (
            "status_header: 'x y'",
            ".status_header",
            "invalid header name \"x y\"".into(),
        ),
        (
            "ttl_secs: 5",
            ".ttl_secs",
            unknown(
                "ttl_secs",
                "",
                "ttl, methods, cacheable_statuses, vary_headers, respect_cache_control, \
                 max_bytes, max_object_bytes, status_header",
            ),
        ),
    ];
    assert_errors("cache", cases);
}

#[test]
fn cache_errors_are_all_reported() {
    let paths: Vec<String> = errors_of(
        "cache",
        "ttl: 0, methods: [PUT], cacheable_statuses: [502, 1000], vary_headers: ['x y'], \
         respect_cache_control: 1, max_bytes: -1, max_object_bytes: x, status_header: ''",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            ".ttl",
            ".methods[0]",
            ".cacheable_statuses[0]",
            ".cacheable_statuses[1]",
            ".vary_headers[0]",
            ".respect_cache_control",
            ".max_bytes",
            ".max_object_bytes",
            ".status_header",
        ]
    );
}
