use super::*;

const APP: &str = "https://app.example.com";

fn list(origins: &[&str]) -> Origins {
    Origins::List(origins.iter().map(|s| s.to_string()).collect())
}

fn cors(options: CorsOptions) -> Cors {
    Cors::new(options).unwrap()
}

fn listed() -> Cors {
    cors(CorsOptions {
        origins: list(&[APP]),
        ..CorsOptions::default()
    })
}

fn request(origin: Option<&str>, pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    h.append("Host", "api.example.com");
    if let Some(o) = origin {
        h.append("Origin", o.to_string());
    }
    for (k, v) in pairs {
        h.append(k.to_string(), v.to_string());
    }
    h
}

fn preflight(op: &Cors, origin: &str, method: &str, extra: &[(&str, &str)]) -> Answer {
    let mut pairs = vec![("Access-Control-Request-Method", method)];
    pairs.extend_from_slice(extra);
    match op.on_request(&Method::Options, &request(Some(origin), &pairs)) {
        CorsOutcome::Preflight(a) => a,
        other => panic!("expected a preflight answer, got {other:?}"),
    }
}

fn continued(op: &Cors, method: &Method, headers: &Headers) -> CorsOrigin {
    match op.on_request(method, headers) {
        CorsOutcome::Continue(o) => o,
        other => panic!("expected to continue, got {other:?}"),
    }
}

fn names(h: &Headers) -> Vec<String> {
    h.iter()
        .map(|f| String::from_utf8_lossy(&f.name).to_ascii_lowercase())
        .collect()
}

fn response_for(op: &Cors, origin: &CorsOrigin, upstream: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (k, v) in upstream {
        h.append(k.to_string(), v.to_string());
    }
    op.on_response(origin, &mut h);
    h
}

#[test]
fn defaults() {
    let o = CorsOptions::default();
    assert!(matches!(o.origins, Origins::Any));
    assert_eq!(
        o.methods,
        [
            Method::Get,
            Method::Head,
            Method::Put,
            Method::Patch,
            Method::Post,
            Method::Delete
        ]
    );
    assert!(o.allowed_headers.is_empty() && o.exposed_headers.is_empty());
    assert!(!o.credentials && o.preflight);
    assert_eq!(o.max_age, 86_400);
}

#[test]
fn credentials_with_any_origin_is_a_config_error() {
    let err = Cors::new(CorsOptions {
        credentials: true,
        ..CorsOptions::default()
    })
    .unwrap_err();
    assert!(
        err.contains("credentials") && err.contains("browsers"),
        "{err}"
    );
    assert!(Cors::new(CorsOptions {
        credentials: true,
        origins: list(&[APP]),
        ..CorsOptions::default()
    })
    .is_ok());
}

#[test]
fn origin_matching() {
    let l = list(&[APP, "null"]);
    assert!(l.allows(APP.as_bytes()));
    assert!(l.allows(b"HTTPS://APP.example.com"));
    assert!(l.allows(b"null"));
    assert!(!l.allows(b"https://app.example.com:8443"));
    assert!(!l.allows(b"http://app.example.com"));

    let p =
        Origins::patterns([r"https://[a-z0-9-]+\.example\.com", r"http://localhost:\d+"]).unwrap();
    assert!(p.allows(b"https://app.example.com"));
    assert!(p.allows(b"http://localhost:3000"));
    // Anchored at both ends.
    assert!(!p.allows(b"https://app.example.com.evil.net"));
    assert!(!p.allows(b"xhttps://app.example.com"));
    assert!(!p.allows(b"\xff"));
    assert!(Origins::patterns(["("]).is_err());

    assert!(Origins::Any.allows(b"https://anything.test"));
}

#[test]
fn preflight_for_an_allowed_origin() {
    let op = listed();
    let a = preflight(
        &op,
        APP,
        "PUT",
        &[("Access-Control-Request-Headers", "content-type, x-trace")],
    );
    assert_eq!(a.status, 204);
    assert!(a.body.is_empty());
    let h = &a.headers;
    assert_eq!(h.get_str("access-control-allow-origin"), Some(APP));
    assert_eq!(
        h.get_str("access-control-allow-methods"),
        Some("GET, HEAD, PUT, PATCH, POST, DELETE")
    );
    assert_eq!(
        h.get_str("access-control-allow-headers"),
        Some("content-type, x-trace")
    );
    assert_eq!(h.get_str("access-control-max-age"), Some("86400"));
    assert!(!h.contains("access-control-allow-credentials"));
    assert_eq!(h.get_str("vary"), Some(PREFLIGHT_VARY));
}

#[test]
fn preflight_without_requested_headers_has_no_allow_headers() {
    let a = preflight(&listed(), APP, "GET", &[]);
    assert!(!a.headers.contains("access-control-allow-headers"));
    let a = preflight(
        &listed(),
        APP,
        "GET",
        &[("Access-Control-Request-Headers", "")],
    );
    assert!(!a.headers.contains("access-control-allow-headers"));
}

#[test]
fn preflight_with_configured_options() {
    let op = cors(CorsOptions {
        origins: list(&[APP]),
        methods: vec![Method::Get, Method::Post],
        allowed_headers: vec!["Content-Type".into(), "Authorization".into()],
        exposed_headers: vec!["X-Request-Id".into()],
        credentials: true,
        max_age: 600,
        preflight: true,
    });
    let a = preflight(
        &op,
        APP,
        "POST",
        &[("Access-Control-Request-Headers", "x-other")],
    );
    let h = &a.headers;
    assert_eq!(h.get_str("access-control-allow-origin"), Some(APP));
    assert_eq!(h.get_str("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        h.get_str("access-control-allow-headers"),
        Some("Content-Type, Authorization")
    );
    assert_eq!(h.get_str("access-control-max-age"), Some("600"));
    assert_eq!(h.get_str("access-control-allow-credentials"), Some("true"));
    // Expose-Headers belongs to actual responses only.
    assert!(!h.contains("access-control-expose-headers"));
}

#[test]
fn bare_any_preflight_answers_star() {
    let op = cors(CorsOptions::default());
    let a = preflight(&op, "https://x.test", "DELETE", &[]);
    assert_eq!(a.headers.get_str("access-control-allow-origin"), Some("*"));
}

#[test]
fn refused_preflights_get_only_vary() {
    let op = listed();
    for (origin, method) in [
        ("https://evil.test", "GET"),
        (APP, "TRACE"),
        (APP, "OPTIONS"),
        // Method names are case-sensitive.
        (APP, "delete"),
    ] {
        let a = preflight(&op, origin, method, &[]);
        assert_eq!(a.status, 204);
        assert_eq!(names(&a.headers), ["vary"], "{origin} {method}");
    }
}

#[test]
fn not_a_preflight_continues() {
    let op = listed();
    // OPTIONS without Access-Control-Request-Method is a plain OPTIONS request.
    let h = request(Some(APP), &[]);
    assert_eq!(
        continued(&op, &Method::Options, &h),
        CorsOrigin::Allowed(Bytes::from_static(APP.as_bytes()))
    );
    // Without Origin it is not a CORS request at all.
    let h = request(None, &[("Access-Control-Request-Method", "PUT")]);
    assert_eq!(continued(&op, &Method::Options, &h), CorsOrigin::Absent);
    // Another method carrying the header is not a preflight either.
    let h = request(Some(APP), &[("Access-Control-Request-Method", "PUT")]);
    assert!(matches!(
        continued(&op, &Method::Get, &h),
        CorsOrigin::Allowed(_)
    ));
    let h = request(Some("https://evil.test"), &[]);
    assert_eq!(continued(&op, &Method::Post, &h), CorsOrigin::Refused);
}

#[test]
fn preflight_false_passes_preflights_on() {
    let op = cors(CorsOptions {
        origins: list(&[APP]),
        preflight: false,
        ..CorsOptions::default()
    });
    let h = request(Some(APP), &[("Access-Control-Request-Method", "PUT")]);
    let origin = continued(&op, &Method::Options, &h);
    assert!(matches!(origin, CorsOrigin::Allowed(_)));
    let r = response_for(&op, &origin, &[]);
    assert_eq!(r.get_str("access-control-allow-origin"), Some(APP));
}

#[test]
fn bare_any_responses_always_carry_star_and_no_vary() {
    let op = cors(CorsOptions {
        exposed_headers: vec!["X-Total".into()],
        ..CorsOptions::default()
    });
    let origin = continued(&op, &Method::Get, &request(Some("https://x.test"), &[]));
    let h = response_for(&op, &origin, &[]);
    assert_eq!(h.get_str("access-control-allow-origin"), Some("*"));
    assert_eq!(h.get_str("access-control-expose-headers"), Some("X-Total"));
    assert!(!h.contains("vary"));
    assert!(!h.contains("access-control-allow-credentials"));
    let h = response_for(&op, &CorsOrigin::Absent, &[]);
    assert_eq!(h.get_str("access-control-allow-origin"), Some("*"));
}

#[test]
fn listed_responses_echo_the_origin_and_vary() {
    let op = cors(CorsOptions {
        origins: list(&[APP]),
        exposed_headers: vec!["X-Total".into(), "X-Page".into()],
        credentials: true,
        ..CorsOptions::default()
    });
    let origin = continued(&op, &Method::Get, &request(Some(APP), &[]));
    let h = response_for(&op, &origin, &[("Content-Type", "text/plain")]);
    assert_eq!(h.get_str("access-control-allow-origin"), Some(APP));
    assert_eq!(h.get_str("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        h.get_str("access-control-expose-headers"),
        Some("X-Total, X-Page")
    );
    assert_eq!(h.get_str("vary"), Some("Origin"));
    assert_eq!(h.get_str("content-type"), Some("text/plain"));
}

#[test]
fn patterns_with_credentials_echo_not_star() {
    let op = cors(CorsOptions {
        origins: Origins::patterns([r"https://.*\.example\.com"]).unwrap(),
        credentials: true,
        ..CorsOptions::default()
    });
    let origin = continued(&op, &Method::Get, &request(Some(APP), &[]));
    let h = response_for(&op, &origin, &[]);
    assert_eq!(h.get_str("access-control-allow-origin"), Some(APP));
}

#[test]
fn refused_and_absent_origins_get_only_vary() {
    let op = listed();
    let upstream = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "X-Secret"),
    ];
    for origin in [CorsOrigin::Refused, CorsOrigin::Absent] {
        let h = response_for(&op, &origin, &upstream);
        assert_eq!(names(&h), ["vary"], "{origin:?}");
        assert_eq!(h.get_str("vary"), Some("Origin"));
    }
}

#[test]
fn upstream_cors_headers_are_replaced() {
    let op = listed();
    let origin = CorsOrigin::Allowed(Bytes::from_static(APP.as_bytes()));
    let h = response_for(
        &op,
        &origin,
        &[
            ("access-control-allow-origin", "https://other.test"),
            ("Access-Control-Allow-Origin", "*"),
        ],
    );
    assert_eq!(h.get_all("access-control-allow-origin").count(), 1);
    assert_eq!(h.get_str("access-control-allow-origin"), Some(APP));
}

#[test]
fn vary_is_merged_not_overwritten() {
    let op = listed();
    let origin = CorsOrigin::Allowed(Bytes::from_static(APP.as_bytes()));
    let h = response_for(&op, &origin, &[("Vary", "Accept-Encoding")]);
    assert_eq!(h.get_str("vary"), Some("Accept-Encoding, Origin"));
    let h = response_for(
        &op,
        &origin,
        &[("Vary", "Accept-Encoding"), ("vary", "Accept-Language")],
    );
    assert_eq!(h.get_all("vary").count(), 1);
    assert_eq!(
        h.get_str("vary"),
        Some("Accept-Encoding, Accept-Language, Origin")
    );
    // Already there (any case), or `*`: left alone.
    let h = response_for(&op, &origin, &[("Vary", "accept, origin")]);
    assert_eq!(h.get_str("vary"), Some("accept, origin"));
    let h = response_for(&op, &origin, &[("Vary", "*")]);
    assert_eq!(h.get_str("vary"), Some("*"));
    let h = response_for(&op, &origin, &[("Vary", "")]);
    assert_eq!(h.get_str("vary"), Some("Origin"));
}
