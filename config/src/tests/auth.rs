//! `consumers` and the auth policies (`jwt-auth`, `api-key-auth`, `basic-auth`, `oauth2`,
//! `rbac`): every field, its default, and each error with its exact path.

use super::*;

const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
const ARGON2: &str = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
/// 32 bytes: the shortest secret HS256 accepts.
const SECRET_32: &str = "0123456789abcdef0123456789abcdef";

/// Consumers that satisfy every auth policy: one with an API key, one with a password.
pub(super) const CONSUMERS: &str = "consumers:\n  - id: svc\n    api_keys: [k-1]\n  \
    - id: alice\n    basic: {username: alice, password_hash: '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'}\n";

/// A valid file whose first route has an ip-filter and then `policy` (flow style), so the
/// policy's path is `routes[0].policies[1]`.
fn route_policy(policy: &str) -> String {
    format!(
        "name: demo\n{CONSUMERS}routes:\n  - path: /\n    policies:\n      \
         - {{type: ip-filter, deny: ['10.0.0.0/8']}}\n      - {policy}\n    \
         upstream: {{type: static}}\n"
    )
}

/// The single error of a route policy, its path relative to `routes[0].policies[1]`.
fn policy_error(policy: &str) -> (String, String) {
    let (path, message) = error(&route_policy(policy));
    let relative = path
        .strip_prefix("routes[0].policies[1]")
        .unwrap_or_else(|| panic!("error outside the policy: {path}: {message}"));
    (relative.to_owned(), message)
}

fn jwt(policy: &str) -> JwtAuthOptions {
    let c = ok(&route_policy(policy));
    match &c.routes[0].policies[1].kind {
        PolicyKind::JwtAuth(o) => o.clone(),
        other => panic!("{other:?}"),
    }
}

/// The options of `{type: oauth2, <options>}` as route policy, the required fields added
/// unless `options` gives them.
fn oauth2_policy(options: &str) -> String {
    let mut fields = vec!["type: oauth2".to_owned()];
    for (field, default) in [
        ("introspection_url", "'http://idp/introspect'"),
        ("client_id", "gateway"),
        ("client_secret", "s3cret"),
    ] {
        if !options.contains(&format!("{field}:")) {
            fields.push(format!("{field}: {default}"));
        }
    }
    if !options.is_empty() {
        fields.push(options.to_owned());
    }
    format!("{{{}}}", fields.join(", "))
}

fn oauth2(options: &str) -> OAuth2Options {
    let c = ok(&route_policy(&oauth2_policy(options)));
    match &c.routes[0].policies[1].kind {
        PolicyKind::OAuth2(o) => o.clone(),
        other => panic!("{other:?}"),
    }
}

/// A file with `consumers` (a YAML list body, indented two spaces) and nothing needing them.
fn with_consumers(list: &str) -> String {
    format!("{MINIMAL}consumers:\n{list}")
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn consumers_full() {
    let text = with_consumers(&format!(
        "  - id: billing-service
    api_keys: [k-plain, 'sha256:{upper}', '${{UPSTREAM_HOST}}']
    roles: [admin, billing]
    metadata: {{team: payments, tier: 2, internal: true}}
  - id: alice
    basic: {{username: alice, password_hash: '{ARGON2}'}}
  - id: bob
    basic:
      username: bob
      password_hash: '{BCRYPT}'
",
        upper = "AB".repeat(32)
    ));
    let c = ok(&text);
    assert_eq!(
        c.consumers,
        [
            ConsumerSpec {
                id: "billing-service".into(),
                api_keys: vec![
                    "k-plain".into(),
                    format!("sha256:{}", "ab".repeat(32)),
                    "10.1.2.3".into()
                ],
                basic: None,
                roles: strings(&["admin", "billing"]),
                metadata: pairs(&[("team", "payments"), ("tier", "2"), ("internal", "true")]),
                field_path: "consumers[0]".into(),
            },
            ConsumerSpec {
                id: "alice".into(),
                api_keys: vec![],
                basic: Some(("alice".into(), ARGON2.into())),
                roles: vec![],
                metadata: vec![],
                field_path: "consumers[1]".into(),
            },
            ConsumerSpec {
                id: "bob".into(),
                api_keys: vec![],
                basic: Some(("bob".into(), BCRYPT.into())),
                roles: vec![],
                metadata: vec![],
                field_path: "consumers[2]".into(),
            },
        ]
    );
}

#[test]
fn consumers_defaults() {
    assert!(ok(MINIMAL).consumers.is_empty());
    assert!(ok(&format!("{MINIMAL}consumers:\n")).consumers.is_empty());
    assert!(ok(&format!("{MINIMAL}consumers: []\n"))
        .consumers
        .is_empty());
    let c = ok(&with_consumers("  - id: 42\n"));
    assert_eq!(
        c.consumers,
        [ConsumerSpec {
            id: "42".into(),
            api_keys: vec![],
            basic: None,
            roles: vec![],
            metadata: vec![],
            field_path: "consumers[0]".into(),
        }]
    );
}

#[test]
fn consumer_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "  - {api_keys: [a]}\n",
            "consumers[0]",
            "missing required field \"id\"",
        ),
        ("  - {id: ' '}\n", "consumers[0].id", "must not be empty"),
        (
            "  - {id: ' a'}\n",
            "consumers[0].id",
            "consumer id \" a\" must not contain control characters or leading or trailing \
             whitespace (it is forwarded in a header)",
        ),
        (
            "  - {id: a}\n  - {id: b}\n  - {id: a}\n",
            "consumers[2].id",
            "duplicate consumer id \"a\" (also used by consumers[0])",
        ),
        (
            "  - {id: a, api_keys: [k, '']}\n",
            "consumers[0].api_keys[1]",
            "must not be empty",
        ),
        (
            "  - {id: a, api_keys: ['sha256:abc']}\n",
            "consumers[0].api_keys[0]",
            "a key starting with \"sha256:\" must be followed by 64 hex digits (the SHA-256 \
             digest of the key)",
        ),
        (
            "  - {id: a, api_keys: [k1, k2]}\n  - {id: b, api_keys: [k2]}\n",
            "consumers[1].api_keys[0]",
            "this key is also listed at consumers[0].api_keys[1]",
        ),
        (
            "  - {id: a, api_keys: [k1, k1]}\n",
            "consumers[0].api_keys[1]",
            "this key is also listed at consumers[0].api_keys[0]",
        ),
        (
            "  - {id: a, basic: {password_hash: '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'}}\n",
            "consumers[0].basic",
            "missing required field \"username\"",
        ),
        (
            "  - {id: a, basic: {username: a}}\n",
            "consumers[0].basic",
            "missing required field \"password_hash\"",
        ),
        (
            "  - {id: a, basic: {username: '', password_hash: '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'}}\n",
            "consumers[0].basic.username",
            "must not be empty",
        ),
        (
            "  - {id: a, basic: {username: 'a:b', password_hash: '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'}}\n",
            "consumers[0].basic.username",
            "username \"a:b\" must not contain ':' (Basic credentials are split at the first \
             ':')",
        ),
        (
            "  - {id: a, basic: {username: a, password_hash: hunter2}}\n",
            "consumers[0].basic.password_hash",
            "password_hash must be an argon2 or bcrypt hash (plain passwords are not accepted)",
        ),
        (
            "  - {id: a, basic: {username: a, password_hash: '$2b$99$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'}}\n",
            "consumers[0].basic.password_hash",
            "bcrypt cost 99 is out of range (04 to 31)",
        ),
        (
            "  - {id: a, basic: 'alice:secret'}\n",
            "consumers[0].basic",
            "expected a mapping, found a string",
        ),
        (
            "  - {id: a, roles: [x, '']}\n",
            "consumers[0].roles[1]",
            "must not be empty",
        ),
        (
            "  - {id: a, roles: [x, x]}\n",
            "consumers[0].roles[1]",
            "\"x\" is listed twice",
        ),
        (
            "  - {id: a, metadata: {team: [a]}}\n",
            "consumers[0].metadata.team",
            "expected a single value, found a list",
        ),
        (
            "  - {id: a, metadata: {1: x}}\n",
            "consumers[0].metadata.1",
            "metadata keys must be strings",
        ),
        (
            "  - {id: a, apikeys: [k]}\n",
            "consumers[0].apikeys",
            "unknown field \"apikeys\" (did you mean \"api_keys\"?), expected one of: id, \
             api_keys, basic, roles, metadata",
        ),
        (
            "  - {id: a, basic: {username: a, password_hash: '$2y$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW', password: x}}\n",
            "consumers[0].basic.password",
            "unknown field \"password\", expected one of: username, password_hash",
        ),
        ("  - a\n", "consumers[0]", "expected a mapping, found a string"),
    ];
    for (list, path, message) in cases {
        assert_eq!(
            error(&with_consumers(list)),
            (path.to_string(), message.to_string()),
            "{list}"
        );
    }
    assert_eq!(
        error(&format!("{MINIMAL}consumers: {{id: a}}\n")),
        (
            "consumers".into(),
            "expected a list of consumers, found a mapping".into()
        )
    );
    // Equal digests are the same key whatever the case of their hex.
    let text = with_consumers(&format!(
        "  - {{id: a, api_keys: ['sha256:{}']}}\n  - {{id: b, api_keys: ['sha256:{}']}}\n",
        "ab".repeat(32),
        "AB".repeat(32)
    ));
    assert_eq!(
        error(&text),
        (
            "consumers[1].api_keys[0]".into(),
            "this key is also listed at consumers[0].api_keys[0]".into()
        )
    );
    let text = with_consumers(&format!(
        "  - {{id: a, basic: {{username: al, password_hash: '{BCRYPT}'}}}}\n  \
         - {{id: b, basic: {{username: al, password_hash: '{ARGON2}'}}}}\n"
    ));
    assert_eq!(
        error(&text),
        (
            "consumers[1].basic.username".into(),
            "duplicate username \"al\" (also used by consumers[0])".into()
        )
    );
}

#[test]
fn consumer_errors_are_all_reported() {
    let text = with_consumers(
        "  - {id: a, api_keys: ['sha256:x'], roles: ['']}\n  - {api_keys: [k]}\n  \
         - {id: c, basic: {username: c, password_hash: plain}}\n",
    );
    let paths: Vec<String> = errors(&text).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "consumers[0].api_keys[0]",
            "consumers[0].roles[0]",
            "consumers[1]",
            "consumers[2].basic.password_hash",
        ]
    );
}

#[test]
fn jwt_auth_with_secret_full() {
    let o = jwt(&format!(
        "{{type: jwt-auth, secret: '{SECRET_32}{SECRET_32}', algorithms: [hs256, HS512], \
         issuer: 'https://idp.example', audience: api, header_name: X-Token, token_prefix: '', \
         query_param: access_token, cookie: session, \
         forward_claims: {{sub: X-User-Id, realm_access.roles: x-roles}}, clock_skew: 30s, \
         require_exp: false, required_claims: {{tenant: acme, level: 3, admin: true}}}}"
    ));
    assert_eq!(
        o,
        JwtAuthOptions {
            keys: JwtKeySource::Secret(format!("{SECRET_32}{SECRET_32}")),
            algorithms: strings(&["HS256", "HS512"]),
            issuer: Some("https://idp.example".into()),
            audience: strings(&["api"]),
            header_name: "x-token".into(),
            token_prefix: String::new(),
            query_param: Some("access_token".into()),
            cookie: Some("session".into()),
            forward_claims: pairs(&[("sub", "x-user-id"), ("realm_access.roles", "x-roles")]),
            clock_skew: Duration::from_secs(30),
            require_exp: false,
            required_claims: pairs(&[("tenant", "acme"), ("level", "3"), ("admin", "true")]),
            jwks_cache_ttl: Duration::from_secs(300),
            jwks_timeout: Duration::from_secs(10),
        }
    );
}

#[test]
fn jwt_auth_with_jwks_full() {
    let o = jwt(
        "{type: jwt-auth, jwks_url: 'http://IdP.internal:8080/realms/a/certs', \
         algorithms: [RS256, ps384, es256, eddsa], audience: [a, b], jwks_cache_ttl: 1m, \
         jwks_timeout: 500ms}",
    );
    assert_eq!(
        o.keys,
        JwtKeySource::JwksUrl(TargetUrl {
            scheme: "http".into(),
            host: "idp.internal".into(),
            port: 8080,
            path_prefix: "/realms/a/certs".into(),
        })
    );
    assert_eq!(o.algorithms, ["RS256", "PS384", "ES256", "EdDSA"]);
    assert_eq!(o.audience, ["a", "b"]);
    assert_eq!(o.jwks_cache_ttl, Duration::from_secs(60));
    assert_eq!(o.jwks_timeout, Duration::from_millis(500));
    // The path is the document's address: kept exactly, trailing '/' included.
    let o = jwt("{type: jwt-auth, jwks_url: 'http://idp/keys/'}");
    let JwtKeySource::JwksUrl(url) = &o.keys else {
        panic!()
    };
    assert_eq!((url.port, url.path_prefix.as_str()), (80, "/keys/"));
}

#[test]
fn jwt_auth_defaults() {
    let defaults = |keys: JwtKeySource| JwtAuthOptions {
        keys,
        algorithms: vec![],
        issuer: None,
        audience: vec![],
        header_name: "authorization".into(),
        token_prefix: "Bearer".into(),
        query_param: None,
        cookie: None,
        forward_claims: vec![],
        clock_skew: Duration::ZERO,
        require_exp: true,
        required_claims: vec![],
        jwks_cache_ttl: Duration::from_secs(300),
        jwks_timeout: Duration::from_secs(10),
    };
    assert_eq!(
        jwt(&format!("{{type: jwt-auth, secret: '{SECRET_32}'}}")),
        defaults(JwtKeySource::Secret(SECRET_32.into()))
    );
    let o = jwt("{type: jwt-auth, jwks_url: 'http://idp/jwks.json'}");
    assert_eq!(
        o,
        defaults(JwtKeySource::JwksUrl(TargetUrl {
            scheme: "http".into(),
            host: "idp".into(),
            port: 80,
            path_prefix: "/jwks.json".into(),
        }))
    );
    let c = ok(&route_policy("{type: jwt-auth, jwks_url: 'http://idp/j'}"));
    let spec = &c.routes[0].policies[1];
    assert_eq!((spec.name.as_str(), spec.priority), ("jwt-auth", 10));
    assert_eq!(spec.field_path, "routes[0].policies[1]");
}

#[test]
fn jwt_auth_key_source_errors() {
    assert_eq!(
        policy_error(&format!(
            "{{type: jwt-auth, secret: '{SECRET_32}', jwks_url: 'http://idp/j'}}"
        )),
        (
            "".into(),
            "give either secret or jwks_url, not both (one policy verifies one kind of key)".into()
        )
    );
    assert_eq!(
        policy_error("{type: jwt-auth, issuer: x}"),
        (
            "".into(),
            "missing key source: give secret (HS256/HS384/HS512) or jwks_url".into()
        )
    );
    assert_eq!(
        policy_error("{type: jwt-auth, secret: short}"),
        (
            ".secret".into(),
            "secret must be at least 32 bytes for HS256".into()
        )
    );
    assert_eq!(
        policy_error(&format!(
            "{{type: jwt-auth, secret: '{SECRET_32}', algorithms: [HS384]}}"
        )),
        (
            ".secret".into(),
            "secret must be at least 48 bytes for HS384".into()
        )
    );
    // The strictest listed algorithm sets the bar; invalid entries do not hide it.
    assert_eq!(
        errors(&route_policy(&format!(
            "{{type: jwt-auth, secret: '{SECRET_32}x', \
             algorithms: [HS256, HS512, RS256]}}"
        ))),
        [
            (
                "routes[0].policies[1].algorithms[2]".into(),
                "RS256 cannot be used with secret: a shared secret only verifies HS256, HS384 \
                 and HS512 (use jwks_url for RS256)"
                    .into()
            ),
            (
                "routes[0].policies[1].secret".into(),
                "secret must be at least 64 bytes for HS512".into()
            ),
        ]
    );
    let o = jwt(&format!(
        "{{type: jwt-auth, secret: '{SECRET_32}{SECRET_32}', algorithms: [HS512]}}"
    ));
    assert_eq!(o.algorithms, ["HS512"]);
    let long = format!("{SECRET_32}{}", &SECRET_32[..16]);
    let o = jwt(&format!(
        "{{type: jwt-auth, secret: '{long}', algorithms: [HS384]}}"
    ));
    assert_eq!(o.algorithms, ["HS384"]);
    // Bytes, not characters.
    assert_eq!(
        policy_error(&format!("{{type: jwt-auth, secret: '{}'}}", "é".repeat(15))),
        (
            ".secret".into(),
            "secret must be at least 32 bytes for HS256".into()
        )
    );
    jwt(&format!("{{type: jwt-auth, secret: '{}'}}", "é".repeat(16)));
    // The secret comes from the environment like any value; an unset variable is the only
    // complaint.
    assert_eq!(
        error(&route_policy("{type: jwt-auth, secret: '${JWT_SECRET}'}")),
        (
            "routes[0].policies[1].secret".into(),
            "environment variable JWT_SECRET is not set".into()
        )
    );
    for (url, message) in [
        (
            "https://idp/j",
            "https jwks_url is not supported yet (TLS is planned)",
        ),
        (
            "http://idp",
            "invalid jwks_url \"http://idp\": needs the path of the JWKS document, \
             e.g. http://idp.internal/.well-known/jwks.json",
        ),
        (
            "http://idp/j?x=1",
            "invalid jwks_url \"http://idp/j?x=1\": a query or fragment is not allowed",
        ),
        (
            "idp/j",
            "invalid jwks_url \"idp/j\": expected http://host[:port][/path]",
        ),
    ] {
        assert_eq!(
            policy_error(&format!("{{type: jwt-auth, jwks_url: '{url}'}}")),
            (".jwks_url".into(), message.into()),
            "{url}"
        );
    }
    assert_eq!(
        errors(&route_policy(&format!(
            "{{type: jwt-auth, secret: '{SECRET_32}', jwks_cache_ttl: 1m, jwks_timeout: nope}}"
        ))),
        [
            (
                "routes[0].policies[1].jwks_cache_ttl".into(),
                "jwks_cache_ttl only applies with jwks_url".into()
            ),
            (
                "routes[0].policies[1].jwks_timeout".into(),
                "jwks_timeout only applies with jwks_url".into()
            ),
        ]
    );
}

#[test]
fn jwt_auth_algorithm_errors() {
    let alg = |list: &str, key: &str| {
        policy_error(&format!("{{type: jwt-auth, {key}, algorithms: {list}}}"))
    };
    let jwks = "jwks_url: 'http://idp/j'";
    let secret = format!("secret: '{SECRET_32}'");
    assert_eq!(
        alg("[RS256, none]", jwks),
        (
            ".algorithms[1]".into(),
            "algorithm \"none\" is refused: it marks an unsigned token, which anyone can forge"
                .into()
        )
    );
    assert_eq!(
        alg("[RS265]", jwks),
        (
            ".algorithms[0]".into(),
            "unknown algorithm \"RS265\" (did you mean \"RS256\"?), expected one of: HS256, \
             HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                .into()
        )
    );
    assert_eq!(
        alg("[ES512]", jwks),
        (
            ".algorithms[0]".into(),
            "algorithm ES512 is not supported, expected one of: HS256, HS384, HS512, RS256, \
             RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                .into()
        )
    );
    assert_eq!(
        alg("[ES256, HS256]", jwks),
        (
            ".algorithms[1]".into(),
            "HS256 cannot be used with jwks_url: allowing an HMAC algorithm next to public keys \
             invites algorithm confusion (a token signed with HMAC using the public key as the \
             secret would verify); use secret for HS256"
                .into()
        )
    );
    assert_eq!(
        alg("[HS256, es256]", &secret),
        (
            ".algorithms[1]".into(),
            "ES256 cannot be used with secret: a shared secret only verifies HS256, HS384 and \
             HS512 (use jwks_url for ES256)"
                .into()
        )
    );
    assert_eq!(
        alg("[RS256, rs256]", jwks),
        (
            ".algorithms[1]".into(),
            "algorithm RS256 is listed twice".into()
        )
    );
    assert_eq!(
        alg("[]", jwks),
        (
            ".algorithms".into(),
            "must not be empty (leave it out to allow every algorithm the key source supports)"
                .into()
        )
    );
    assert_eq!(
        alg("RS256", jwks),
        (
            ".algorithms".into(),
            "invalid type: string \"RS256\", expected a sequence".into()
        )
    );
}

#[test]
fn jwt_auth_option_errors() {
    let jwks = |options: &str| {
        policy_error(&format!(
            "{{type: jwt-auth, jwks_url: 'http://idp/j', {options}}}"
        ))
    };
    let cases: &[(&str, &str, &str)] = &[
        ("issuer: ''", ".issuer", "must not be empty"),
        (
            "audience: []",
            ".audience",
            "must not be empty (leave it out to accept any audience)",
        ),
        ("audience: [a, ' ']", ".audience[1]", "must not be empty"),
        (
            "audience: [a, {b: c}]",
            ".audience[1]",
            "expected a single value, found a mapping",
        ),
        (
            "audience: {a: b}",
            ".audience",
            "expected a single value, found a mapping",
        ),
        (
            "header_name: 'x token'",
            ".header_name",
            "invalid header name \"x token\"",
        ),
        (
            "token_prefix: 'Bearer '",
            ".token_prefix",
            "invalid token_prefix \"Bearer \" (expected an auth scheme such as Bearer, or \"\" \
             when the header holds the bare token)",
        ),
        (
            "query_param: 'a&b'",
            ".query_param",
            "invalid query parameter name \"a&b\"",
        ),
        ("cookie: 'a;b'", ".cookie", "invalid cookie name \"a;b\""),
        (
            "forward_claims: {sub: 'x user'}",
            ".forward_claims.sub",
            "invalid header name \"x user\"",
        ),
        (
            "forward_claims: {a..b: x-a}",
            ".forward_claims.a..b",
            "invalid claim path \"a..b\" (expected names separated by '.', e.g. \
             realm_access.roles)",
        ),
        (
            "forward_claims: {sub: [x]}",
            ".forward_claims.sub",
            "expected a header name, found a list",
        ),
        (
            "forward_claims: {sub: X-User, uid: x-user}",
            ".forward_claims.uid",
            "header x-user is already set from claim sub",
        ),
        (
            "clock_skew: 5x",
            ".clock_skew",
            "invalid duration \"5x\" (expected e.g. 500ms, 30s, 1m)",
        ),
        (
            "require_exp: yes",
            ".require_exp",
            "expected true or false, found \"yes\"",
        ),
        (
            "required_claims: {tenant: [a]}",
            ".required_claims.tenant",
            "expected a single value, found a list",
        ),
        (
            "required_claims: {tenant: }",
            ".required_claims.tenant",
            "expected a single value, found nothing",
        ),
        (
            "required_claims: {'': x}",
            ".required_claims.",
            "invalid claim path \"\" (expected names separated by '.', e.g. realm_access.roles)",
        ),
        (
            "jwks_cache_ttl: 0s",
            ".jwks_cache_ttl",
            "must be greater than 0",
        ),
        ("jwks_timeout: 0", ".jwks_timeout", "must be greater than 0"),
        (
            "audiences: [a]",
            ".audiences",
            "unknown field \"audiences\" (did you mean \"audience\"?), expected one of: type, \
             name, priority, skip, secret, jwks_url, algorithms, issuer, audience, header_name, \
             token_prefix, query_param, cookie, forward_claims, clock_skew, require_exp, \
             required_claims, jwks_cache_ttl, jwks_timeout",
        ),
    ];
    for (options, path, message) in cases {
        assert_eq!(
            jwks(options),
            (path.to_string(), message.to_string()),
            "{options}"
        );
    }
    let o = jwt("{type: jwt-auth, jwks_url: 'http://idp/j', audience: 42, clock_skew: 0}");
    assert_eq!(
        (o.audience, o.clock_skew),
        (strings(&["42"]), Duration::ZERO)
    );
}

#[test]
fn api_key_auth_options() {
    let c = ok(&route_policy(
        "{type: api-key-auth, header_name: X-Key, query_param: api_key, \
         forward_consumer_header: X-Caller}",
    ));
    let spec = &c.routes[0].policies[1];
    assert_eq!((spec.name.as_str(), spec.priority), ("api-key-auth", 10));
    let PolicyKind::ApiKeyAuth(o) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(
        o,
        &ApiKeyAuthOptions {
            header_name: "x-key".into(),
            query_param: Some("api_key".into()),
            forward_consumer_header: "x-caller".into(),
        }
    );
    let c = ok(&route_policy("{type: api-key-auth}"));
    let PolicyKind::ApiKeyAuth(o) = &c.routes[0].policies[1].kind else {
        panic!()
    };
    assert_eq!(
        o,
        &ApiKeyAuthOptions {
            header_name: "x-api-key".into(),
            query_param: None,
            forward_consumer_header: "x-consumer-id".into(),
        }
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "header_name: 'a b'",
            ".header_name",
            "invalid header name \"a b\"",
        ),
        (
            "query_param: ''",
            ".query_param",
            "invalid query parameter name \"\"",
        ),
        (
            "forward_consumer_header: 'x:y'",
            ".forward_consumer_header",
            "invalid header name \"x:y\"",
        ),
        (
            "header: x",
            ".header",
            "unknown field \"header\", expected one of: type, name, priority, skip, \
             header_name, query_param, forward_consumer_header",
        ),
    ];
    for (options, path, message) in cases {
        assert_eq!(
            policy_error(&format!("{{type: api-key-auth, {options}}}")),
            (path.to_string(), message.to_string()),
            "{options}"
        );
    }
}

#[test]
fn basic_auth_options() {
    let c = ok(&route_policy(
        "{type: basic-auth, realm: 'Admin area', forward_consumer_header: X-User}",
    ));
    let spec = &c.routes[0].policies[1];
    assert_eq!((spec.name.as_str(), spec.priority), ("basic-auth", 10));
    let PolicyKind::BasicAuth(o) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(
        o,
        &BasicAuthOptions {
            realm: "Admin area".into(),
            forward_consumer_header: "x-user".into(),
        }
    );
    let c = ok(&route_policy("{type: basic-auth}"));
    let PolicyKind::BasicAuth(o) = &c.routes[0].policies[1].kind else {
        panic!()
    };
    assert_eq!(
        o,
        &BasicAuthOptions {
            realm: "Restricted".into(),
            forward_consumer_header: "x-consumer-id".into(),
        }
    );
    let realm_error = |realm: &str| {
        format!(
            "realm {realm:?} must not contain '\"' or control characters such as CR and LF \
             (it is sent quoted in WWW-Authenticate)"
        )
    };
    assert_eq!(
        policy_error("{type: basic-auth, realm: 'say \"hi\"'}"),
        (".realm".into(), realm_error("say \"hi\""))
    );
    assert_eq!(
        policy_error("{type: basic-auth, realm: \"a\\r\\nb\"}"),
        (".realm".into(), realm_error("a\r\nb"))
    );
    assert_eq!(
        policy_error("{type: basic-auth, forward_consumer_header: ''}"),
        (
            ".forward_consumer_header".into(),
            "invalid header name \"\"".into()
        )
    );
    assert_eq!(
        policy_error("{type: basic-auth, relm: x}"),
        (
            ".relm".into(),
            "unknown field \"relm\" (did you mean \"realm\"?), expected one of: type, name, \
             priority, skip, realm, forward_consumer_header"
                .into()
        )
    );
}

#[test]
fn rbac_options() {
    let c = ok(&route_policy(
        "{type: rbac, roles: [admin, ops], permissions: ['orders:write'], \
         roles_claim: realm_access.roles, permissions_claim: scope, role_header: X-Role, \
         deny_message: 'Admins only'}",
    ));
    let spec = &c.routes[0].policies[1];
    assert_eq!((spec.name.as_str(), spec.priority), ("rbac", 10));
    let PolicyKind::Rbac(o) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(
        o,
        &RbacOptions {
            roles: strings(&["admin", "ops"]),
            permissions: strings(&["orders:write"]),
            roles_claim: "realm_access.roles".into(),
            permissions_claim: "scope".into(),
            role_header: Some("x-role".into()),
            deny_message: "Admins only".into(),
        }
    );
    let c = ok(&route_policy("{type: rbac, permissions: [read]}"));
    let PolicyKind::Rbac(o) = &c.routes[0].policies[1].kind else {
        panic!()
    };
    assert_eq!(
        o,
        &RbacOptions {
            roles: vec![],
            permissions: strings(&["read"]),
            roles_claim: "roles".into(),
            permissions_claim: "permissions".into(),
            role_header: None,
            deny_message: "Forbidden".into(),
        }
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "",
            "",
            "rbac does nothing: give at least one of roles, permissions",
        ),
        (
            "roles: [], permissions: []",
            "",
            "rbac does nothing: give at least one of roles, permissions",
        ),
        ("roles: [a, a]", ".roles[1]", "\"a\" is listed twice"),
        ("permissions: ['']", ".permissions[0]", "must not be empty"),
        (
            "roles: [a], roles_claim: '.roles'",
            ".roles_claim",
            "invalid claim path \".roles\" (expected names separated by '.', e.g. \
             realm_access.roles)",
        ),
        (
            "roles: [a], permissions_claim: ''",
            ".permissions_claim",
            "invalid claim path \"\" (expected names separated by '.', e.g. realm_access.roles)",
        ),
        (
            "roles: [a], role_header: 'x role'",
            ".role_header",
            "invalid header name \"x role\"",
        ),
        (
            "role: [a], permissions: [p]",
            ".role",
            "unknown field \"role\" (did you mean \"roles\"?), expected one of: type, name, \
             priority, skip, roles, permissions, roles_claim, permissions_claim, role_header, \
             deny_message",
        ),
    ];
    for (options, path, message) in cases {
        let policy = if options.is_empty() {
            "{type: rbac}".to_owned()
        } else {
            format!("{{type: rbac, {options}}}")
        };
        assert_eq!(
            policy_error(&policy),
            (path.to_string(), message.to_string()),
            "{options}"
        );
    }
}

#[test]
fn oauth2_full() {
    let c = ok(&route_policy(
        "{type: oauth2, introspection_url: 'http://IdP.internal:8080/oauth2/introspect/', \
         client_id: sluice-gw, client_secret: 's3c:ret', token_location: query, \
         required_scopes: [read, 'orders:write'], cache_ttl: 30s, timeout: 1.5s, \
         forward_token_info: {sub: X-User-Id, client_id: x-client, scope: X-Scopes}}",
    ));
    let spec = &c.routes[0].policies[1];
    assert_eq!((spec.name.as_str(), spec.priority), ("oauth2", 10));
    assert_eq!(spec.field_path, "routes[0].policies[1]");
    let PolicyKind::OAuth2(o) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(
        o,
        &OAuth2Options {
            // The path is the endpoint's address: kept exactly, trailing '/' included.
            introspection_url: TargetUrl {
                scheme: "http".into(),
                host: "idp.internal".into(),
                port: 8080,
                path_prefix: "/oauth2/introspect/".into(),
            },
            client_id: "sluice-gw".into(),
            // Only the user name is split at ':' in Basic credentials; the secret may hold one.
            client_secret: "s3c:ret".into(),
            token_location: TokenLocation::Query,
            required_scopes: strings(&["read", "orders:write"]),
            cache_ttl: Duration::from_secs(30),
            timeout: Duration::from_millis(1500),
            forward_token_info: pairs(&[
                ("sub", "x-user-id"),
                ("client_id", "x-client"),
                ("scope", "x-scopes"),
            ]),
        }
    );
    // The secret comes from the environment like any value.
    assert_eq!(
        oauth2("client_secret: '${UPSTREAM_HOST}'").client_secret,
        "10.1.2.3"
    );
}

#[test]
fn oauth2_defaults() {
    let defaults = OAuth2Options {
        introspection_url: TargetUrl {
            scheme: "http".into(),
            host: "idp".into(),
            port: 80,
            path_prefix: "/introspect".into(),
        },
        client_id: "gateway".into(),
        client_secret: "s3cret".into(),
        token_location: TokenLocation::Header,
        required_scopes: vec![],
        cache_ttl: Duration::ZERO,
        timeout: Duration::from_secs(5),
        forward_token_info: vec![],
    };
    assert_eq!(oauth2(""), defaults);
    // Writing a default out, or an empty list or mapping, is the same as leaving it out.
    assert_eq!(
        oauth2(
            "token_location: header, required_scopes: [], cache_ttl: 0, timeout: 5s, \
             forward_token_info: {}"
        ),
        defaults
    );
    let o = oauth2("client_id: 42, required_scopes: [7], cache_ttl: 0s");
    assert_eq!(
        (o.client_id.as_str(), o.required_scopes, o.cache_ttl),
        ("42", strings(&["7"]), Duration::ZERO)
    );
}

#[test]
fn oauth2_required_fields() {
    let message = |field: &str| format!("missing required field {field:?}");
    assert_eq!(
        errors(&route_policy("{type: oauth2}")),
        [
            ("routes[0].policies[1]".into(), message("introspection_url")),
            ("routes[0].policies[1]".into(), message("client_id")),
            ("routes[0].policies[1]".into(), message("client_secret")),
        ]
    );
    assert_eq!(
        policy_error("{type: oauth2, introspection_url: 'http://idp/i', client_id: gw}"),
        ("".into(), message("client_secret"))
    );
    assert_eq!(
        policy_error("{type: oauth2, introspection_url: 'http://idp/i', client_secret: s}"),
        ("".into(), message("client_id"))
    );
    assert_eq!(
        policy_error("{type: oauth2, client_id: gw, client_secret: s}"),
        ("".into(), message("introspection_url"))
    );
}

#[test]
fn oauth2_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "introspection_url: 'https://idp/introspect'",
            ".introspection_url",
            "https introspection_url is not supported yet (TLS is planned)",
        ),
        (
            "introspection_url: 'http://idp'",
            ".introspection_url",
            "invalid introspection_url \"http://idp\": needs the path of the introspection \
             endpoint, e.g. http://idp.internal/oauth2/introspect",
        ),
        (
            "introspection_url: 'http://idp/'",
            ".introspection_url",
            "invalid introspection_url \"http://idp/\": needs the path of the introspection \
             endpoint, e.g. http://idp.internal/oauth2/introspect",
        ),
        (
            "introspection_url: 'http://idp/i?x=1'",
            ".introspection_url",
            "invalid introspection_url \"http://idp/i?x=1\": a query or fragment is not allowed",
        ),
        (
            "introspection_url: 'idp/introspect'",
            ".introspection_url",
            "invalid introspection_url \"idp/introspect\": expected http://host[:port][/path]",
        ),
        (
            "introspection_url: 'ftp://idp/i'",
            ".introspection_url",
            "invalid introspection_url \"ftp://idp/i\": unsupported scheme \"ftp\" \
             (expected http)",
        ),
        (
            "introspection_url: 'http://gw:pw@idp/i'",
            ".introspection_url",
            "invalid introspection_url \"http://gw:pw@idp/i\": user info (user@host) is not \
             allowed",
        ),
        (
            "introspection_url: 'http://idp/a/../i'",
            ".introspection_url",
            "invalid introspection_url \"http://idp/a/../i\": path \"/a/../i\" must not contain \
             '.' or '..' segments",
        ),
        (
            "introspection_url: [a]",
            ".introspection_url",
            "expected a single value, found a list",
        ),
        ("client_id: ''", ".client_id", "must not be empty"),
        ("client_id: ' '", ".client_id", "must not be empty"),
        (
            "client_id: 'gw:1'",
            ".client_id",
            "client_id \"gw:1\" must not contain ':' (it is sent in HTTP Basic credentials, \
             which are split at the first ':')",
        ),
        (
            "client_id: \"gw\\r\\nx\"",
            ".client_id",
            "client_id \"gw\\r\\nx\" must not contain control characters",
        ),
        ("client_secret: ''", ".client_secret", "must not be empty"),
        ("client_secret: '  '", ".client_secret", "must not be empty"),
        (
            "client_secret: '${EMPTY}'",
            ".client_secret",
            "must not be empty",
        ),
        (
            "client_secret: '${OAUTH_CLIENT_SECRET}'",
            ".client_secret",
            "environment variable OAUTH_CLIENT_SECRET is not set",
        ),
        (
            "client_secret: {a: b}",
            ".client_secret",
            "expected a single value, found a mapping",
        ),
        (
            "token_location: cookie",
            ".token_location",
            "invalid token_location \"cookie\" (expected header or query)",
        ),
        (
            "token_location: Header",
            ".token_location",
            "invalid token_location \"Header\" (expected header or query)",
        ),
        (
            "required_scopes: [read, '']",
            ".required_scopes[1]",
            "must not be empty",
        ),
        (
            "required_scopes: [' ']",
            ".required_scopes[0]",
            "must not be empty",
        ),
        (
            "required_scopes: ['read write']",
            ".required_scopes[0]",
            "scope \"read write\" must not contain whitespace or control characters (list each \
             scope as its own entry)",
        ),
        (
            "required_scopes: [\"a\\tb\"]",
            ".required_scopes[0]",
            "scope \"a\\tb\" must not contain whitespace or control characters (list each \
             scope as its own entry)",
        ),
        (
            "required_scopes: [read, write, read]",
            ".required_scopes[2]",
            "scope \"read\" is listed twice",
        ),
        (
            "required_scopes: read",
            ".required_scopes",
            "invalid type: string \"read\", expected a sequence",
        ),
        (
            "required_scopes: [[read]]",
            ".required_scopes[0]",
            "expected a single value, found a list",
        ),
        (
            "cache_ttl: 5x",
            ".cache_ttl",
            "invalid duration \"5x\" (expected e.g. 500ms, 30s, 1m)",
        ),
        ("timeout: 0", ".timeout", "must be greater than 0"),
        ("timeout: 0ms", ".timeout", "must be greater than 0"),
        (
            "timeout: soon",
            ".timeout",
            "invalid duration \"soon\" (expected e.g. 500ms, 30s, 1m)",
        ),
        (
            "forward_token_info: {sub: 'x user'}",
            ".forward_token_info.sub",
            "invalid header name \"x user\"",
        ),
        (
            "forward_token_info: {sub: [x]}",
            ".forward_token_info.sub",
            "expected a header name, found a list",
        ),
        (
            "forward_token_info: {sub: }",
            ".forward_token_info.sub",
            "expected a header name, found nothing",
        ),
        (
            "forward_token_info: {sub: X-User, username: x-user}",
            ".forward_token_info.username",
            "header x-user is already set from field sub",
        ),
        (
            "forward_token_info: {'': x-a}",
            ".forward_token_info.",
            "invalid field name \"\" (expected a field of the introspection response, e.g. sub)",
        ),
        (
            "forward_token_info: {1: x-a}",
            ".forward_token_info.1",
            "field names must be strings",
        ),
        (
            "forward_token_info: [sub]",
            ".forward_token_info",
            "invalid type: sequence, expected a YAML mapping",
        ),
        (
            "timout: 1s",
            ".timout",
            "unknown field \"timout\" (did you mean \"timeout\"?), expected one of: type, name, \
             priority, skip, introspection_url, client_id, client_secret, token_location, \
             required_scopes, cache_ttl, timeout, forward_token_info",
        ),
        (
            "scopes: [read]",
            ".scopes",
            "unknown field \"scopes\", expected one of: type, name, priority, skip, \
             introspection_url, client_id, client_secret, token_location, required_scopes, \
             cache_ttl, timeout, forward_token_info",
        ),
    ];
    for (options, path, message) in cases {
        assert_eq!(
            policy_error(&oauth2_policy(options)),
            (path.to_string(), message.to_string()),
            "{options}"
        );
    }
}

#[test]
fn oauth2_errors_are_all_reported_and_never_show_the_secret() {
    let text = route_policy(
        "{type: oauth2, introspection_url: 'http://idp', client_id: 'a:b', \
         client_secret: hunter2-secret, token_location: body, required_scopes: [a, a], \
         cache_ttl: x, timeout: 0, forward_token_info: {sub: 'a b'}, extra: hunter2-secret}",
    );
    let all = errors(&text);
    let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "routes[0].policies[1].extra",
            "routes[0].policies[1].introspection_url",
            "routes[0].policies[1].client_id",
            "routes[0].policies[1].token_location",
            "routes[0].policies[1].required_scopes[1]",
            "routes[0].policies[1].cache_ttl",
            "routes[0].policies[1].timeout",
            "routes[0].policies[1].forward_token_info.sub",
        ]
    );
    for (path, message) in &all {
        assert!(!message.contains("hunter2"), "{path}: {message}");
    }
}

#[test]
fn auth_policies_need_consumers_they_could_let_in() {
    let no_consumers = |policy: &str| {
        format!(
            "name: demo\npolicies: [{policy}]\nroutes:\n  - path: /\n    \
             policies: [{{type: mock}}, {policy}]\n    upstream: {{type: static}}\n"
        )
    };
    for policy in ["{type: api-key-auth}", "{type: basic-auth}"] {
        let message = "no consumers are configured, so every request would be refused";
        assert_eq!(
            errors(&no_consumers(policy)),
            [
                ("policies[0]".into(), message.into()),
                ("routes[0].policies[1]".into(), message.into()),
            ],
            "{policy}"
        );
    }
    // jwt-auth, oauth2 and rbac do not need consumers.
    ok(&no_consumers("{type: rbac, roles: [a]}"));
    ok(&no_consumers("{type: jwt-auth, jwks_url: 'http://idp/j'}"));
    ok(&no_consumers(&oauth2_policy("")));

    let keys_only = "consumers:\n  - {id: svc, api_keys: [k]}\n";
    assert_eq!(
        error(&format!(
            "{MINIMAL}{keys_only}policies: [{{type: basic-auth}}]\n"
        )),
        (
            "policies[0]".into(),
            "no consumer has basic credentials, so every request would be refused".into()
        )
    );
    ok(&format!(
        "{MINIMAL}{keys_only}policies: [{{type: api-key-auth}}]\n"
    ));
    let basic_only =
        format!("consumers:\n  - {{id: a, basic: {{username: a, password_hash: '{BCRYPT}'}}}}\n");
    assert_eq!(
        error(&format!(
            "{MINIMAL}{basic_only}policies: [{{type: api-key-auth}}]\n"
        )),
        (
            "policies[0]".into(),
            "no consumer has api_keys, so every request would be refused".into()
        )
    );
    ok(&format!(
        "{MINIMAL}{basic_only}policies: [{{type: basic-auth}}]\n"
    ));

    // A consumers list with mistakes does not also make every auth policy an error.
    let bad_consumers = "consumers:\n  - {id: ''}\n";
    assert_eq!(
        error(&format!(
            "{MINIMAL}{bad_consumers}policies: [{{type: basic-auth}}]\n"
        )),
        ("consumers[0].id".into(), "must not be empty".into())
    );
    // A bad route does not hide a global policy's problem.
    let text = "name: demo\npolicies: [{type: api-key-auth}]\nroutes:\n  - path: x\n    \
                upstream: {type: static}\n";
    assert_eq!(
        errors(text),
        [
            (
                "routes[0].path".into(),
                "path \"x\" must start with '/'".into()
            ),
            (
                "policies[0]".into(),
                "no consumers are configured, so every request would be refused".into()
            ),
        ]
    );
}

#[test]
fn unknown_top_level_field_suggests_consumers() {
    assert_eq!(
        error(&format!("{MINIMAL}consumer: []\n")).1,
        "unknown field \"consumer\" (did you mean \"consumers\"?), expected one of: name, \
         base_path, listen, shards, request_id_header, shutdown_timeout, limits, policies, \
         routes, consumers, admin, debug_headers"
    );
}
