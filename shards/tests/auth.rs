//! Authentication and identity end to end: `jwt-auth` with HMAC secrets and with a JWKS
//! (every algorithm, every failure message, forgeries, key rotation, JWKS outages, the
//! verified-token cache), consumers with `api-key-auth` and `basic-auth`, and `rbac`.
//!
//! Tokens are minted by PyJWT (`tests/scripts/jwt_mint.py`) from keys generated in the
//! test; the JWKS comes from [`JwksServer`], which the tests rotate, count and take down.
//! Every gateway runs `shards: 1`, so the per-shard JWKS and token caches are one cache.

mod common;
#[path = "auth/jwks_server.rs"]
mod jwks_server;
#[path = "auth/tokens.rs"]
mod tokens;

use std::process::Command;
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};

use common::*;
use jwks_server::{JwksReply, JwksServer};
use tokens::{ensure_python, unix_now, Mint, Minted};

const URL: &str = r#"{type: url, target: "http://127.0.0.1:$UP"}"#;

/// 64 bytes: long enough for HS512, so one secret serves HS256, HS384 and HS512.
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The challenge of a 401 for a token that was sent but refused.
const INVALID_TOKEN: &str = r#"Bearer error="invalid_token""#;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Starts an echo upstream and a one-shard gateway on `yaml` with `$URL` (the upstream),
/// `$SECRET` and `$JWKS` (when `jwks` is given) filled in.
fn start(yaml: &str, jwks: Option<&JwksServer>) -> (Upstream, Gateway) {
    let up = TestUpstream::new().start();
    let mut yaml = dedent(yaml).replace("$URL", URL).replace("$SECRET", SECRET);
    if let Some(j) = jwks {
        yaml = yaml.replace("$JWKS", &j.url());
    }
    let gw = Gateway::start(&up.fill(&format!("shards: 1\n{yaml}")));
    (up, gw)
}

/// Claims valid for ten minutes, for subject `sub`.
fn claims(sub: &str) -> Value {
    let now = unix_now();
    json!({"sub": sub, "iat": now, "exp": now + 600})
}

/// `claims` with `extra` merged in (a `null` value removes the claim).
fn with(mut claims: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Response {
    gw.request("GET", path, headers, b"")
}

/// GET with `Authorization: Bearer <token>`.
fn get_bearer(gw: &Gateway, path: &str, token: &str) -> Response {
    get(gw, path, &[("authorization", &format!("Bearer {token}"))])
}

/// The claims of a compact JWS, decoded without any check.
fn token_claims(token: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = token.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

/// A gateway refusal with exactly this status, code and message.
fn assert_refused(resp: &Response, status: u16, code: &str, message: &str) {
    assert_gateway_error(resp, status, code);
    assert_eq!(resp.json()["message"], message, "wrong message in {resp}");
}

/// A `jwt-auth` 401 for a token that was sent: `message` and the `invalid_token` challenge.
fn assert_invalid_token(resp: &Response, message: &str) {
    assert_refused(resp, 401, "unauthorized", message);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(INVALID_TOKEN),
        "challenge of {resp}"
    );
}

/// A `jwt-auth` 401 for a request without a token: bare `Bearer` challenge.
fn assert_missing_token(resp: &Response) {
    assert_refused(resp, 401, "unauthorized", "Missing bearer token");
    assert_eq!(
        resp.header("www-authenticate"),
        Some("Bearer"),
        "challenge of {resp}"
    );
}

/// A `basic-auth` 401 with `message` and the realm challenge.
fn assert_basic_refused(resp: &Response, message: &str, realm: &str) {
    assert_refused(resp, 401, "unauthorized", message);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(format!("Basic realm=\"{realm}\"").as_str()),
        "challenge of {resp}"
    );
}

/// The one value of header `name` the upstream received (panics on none or several).
fn upstream_header(resp: &Response, name: &str) -> String {
    let echo = resp.echo();
    let all = echo.header_all(name);
    assert_eq!(all.len(), 1, "upstream got {name}: {all:?} in {resp}");
    all[0].to_string()
}

/// Lower-case hex SHA-256 of `data`.
fn sha256_hex(data: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, data.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A bcrypt hash at the lowest cost (4): the gateway is a debug build.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// An argon2id PHC hash with tiny parameters (m=256 KiB, t=1, p=1) and a fixed salt.
fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(256, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"sluice-test-salt").unwrap();
    argon
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// Every algorithm a JWKS can serve, with the generated key that signs it.
const JWKS_ALGS: [(&str, &str); 9] = [
    ("RS256", "rsa"),
    ("RS384", "rsa"),
    ("RS512", "rsa"),
    ("PS256", "rsa"),
    ("PS384", "rsa"),
    ("PS512", "rsa"),
    ("ES256", "ec256"),
    ("ES384", "ec384"),
    ("EdDSA", "ed"),
];

/// Keys of every type the gateway supports.
fn all_key_types() -> Mint {
    Mint::new()
        .key("rsa", "RSA")
        .key("ec256", "P-256")
        .key("ec384", "P-384")
        .key("ed", "Ed25519")
}

// ---------------------------------------------------------------------------------------
// jwt-auth: algorithms and forwarded claims
// ---------------------------------------------------------------------------------------

#[test]
fn hmac_tokens_verify_and_forward_claims() {
    let mut mint = Mint::new();
    for alg in ["HS256", "HS384", "HS512"] {
        let c = with(
            claims(&format!("user-{alg}")),
            json!({"org": {"id": "acme", "tier": 2}, "groups": ["a", "b", "c"], "admin": true}),
        );
        mint = mint.hmac(alg, alg, SECRET, c);
    }
    let minted = mint.run();
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies:
              - type: jwt-auth
                secret: "$SECRET"
                forward_claims: {sub: x-user-id, "org.id": x-org, org.tier: x-tier, groups: x-groups, admin: x-admin, missing: x-missing}
            upstream: $URL
        "#,
        None,
    );
    for alg in ["HS256", "HS384", "HS512"] {
        let resp = get_bearer(&gw, "/api", minted.token(alg));
        assert_eq!(resp.status, 200, "{alg}: {resp}");
        assert_eq!(upstream_header(&resp, "x-user-id"), format!("user-{alg}"));
        assert_eq!(
            upstream_header(&resp, "x-org"),
            "acme",
            "nested claim by dot path"
        );
        assert_eq!(upstream_header(&resp, "x-tier"), "2");
        assert_eq!(
            upstream_header(&resp, "x-groups"),
            "a,b,c",
            "arrays joined by commas"
        );
        assert_eq!(upstream_header(&resp, "x-admin"), "true");
        assert_eq!(
            resp.echo().header("x-missing"),
            None,
            "absent claim, no header"
        );
    }
    // The scheme is case-insensitive, and a client cannot choose its own forwarded claims.
    let resp = get(
        &gw,
        "/api",
        &[
            (
                "authorization",
                &format!("bearer {}", minted.token("HS256")),
            ),
            ("x-user-id", "someone-else"),
        ],
    );
    assert_eq!(upstream_header(&resp, "x-user-id"), "user-HS256");
    assert_eq!(up.seen().len(), 4);
}

#[test]
fn every_jwks_algorithm_verifies() {
    let mut mint = all_key_types();
    for (alg, key) in JWKS_ALGS {
        let c = with(
            claims(&format!("user-{alg}")),
            json!({"org": {"id": "acme"}}),
        );
        mint = mint.signed(alg, alg, key, c);
    }
    // No `kid`: tried against every key of the right type.
    let minted = mint
        .token(
            "no-kid",
            json!({"alg": "ES384", "key": "ec384", "kid": null, "claims": claims("user-no-kid")}),
        )
        .run();
    let jwks = JwksServer::serving(&minted.jwks(&["rsa", "ec256", "ec384", "ed"]));
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies:
              - type: jwt-auth
                jwks_url: $JWKS
                forward_claims: {sub: x-user-id, "org.id": x-org}
            upstream: $URL
        "#,
        Some(&jwks),
    );
    for (alg, _) in JWKS_ALGS {
        let resp = get_bearer(&gw, "/api", minted.token(alg));
        assert_eq!(resp.status, 200, "{alg} was refused: {resp}");
        assert_eq!(upstream_header(&resp, "x-user-id"), format!("user-{alg}"));
        assert_eq!(upstream_header(&resp, "x-org"), "acme");
    }
    let resp = get_bearer(&gw, "/api", minted.token("no-kid"));
    assert_eq!(upstream_header(&resp, "x-user-id"), "user-no-kid");
    assert_eq!(up.seen().len(), JWKS_ALGS.len() + 1);
    assert_eq!(jwks.fetches(), 1, "one shard loads the JWKS once");
}

// ---------------------------------------------------------------------------------------
// jwt-auth: where the token comes from
// ---------------------------------------------------------------------------------------

#[test]
fn token_locations_header_query_and_cookie() {
    let minted = Mint::new()
        .hmac("t", "HS256", SECRET, claims("loc-user"))
        .run();
    let t = minted.token("t");
    let (up, gw) = start(
        r#"
        routes:
          - path: /custom
            policies: [{type: jwt-auth, secret: "$SECRET", header_name: X-Auth-Token, token_prefix: "", forward_claims: {sub: x-user-id}}]
            upstream: $URL
          - path: /alt
            policies: [{type: jwt-auth, secret: "$SECRET", query_param: access_token, cookie: session, forward_claims: {sub: x-user-id}}]
            upstream: $URL
          - path: /scheme
            policies: [{type: jwt-auth, secret: "$SECRET", token_prefix: JWT}]
            upstream: $URL
        "#,
        None,
    );
    // Custom header holding the bare token.
    let resp = get(&gw, "/custom", &[("x-auth-token", t)]);
    assert_eq!(upstream_header(&resp, "x-user-id"), "loc-user");
    assert_missing_token(&get_bearer(&gw, "/custom", t));

    // Header, else query parameter, else cookie.
    assert_eq!(get_bearer(&gw, "/alt", t).status, 200);
    let resp = get(&gw, &format!("/alt?page=2&access_token={t}"), &[]);
    assert_eq!(upstream_header(&resp, "x-user-id"), "loc-user");
    let cookie = format!("theme=dark; session={t}; other=1");
    let resp = get(&gw, "/alt", &[("cookie", &cookie)]);
    assert_eq!(upstream_header(&resp, "x-user-id"), "loc-user");
    assert_invalid_token(
        &get(&gw, "/alt?access_token=not.a.token", &[]),
        "Invalid token",
    );
    assert_missing_token(&get(&gw, "/alt?access_token=", &[("cookie", "session=")]));

    // Another scheme.
    let resp = get(&gw, "/scheme", &[("authorization", &format!("JWT {t}"))]);
    assert_eq!(resp.status, 200, "{resp}");
    assert_missing_token(&get_bearer(&gw, "/scheme", t));
    assert_eq!(up.seen().len(), 5);
}

// ---------------------------------------------------------------------------------------
// jwt-auth: every failure message
// ---------------------------------------------------------------------------------------

#[test]
fn every_jwt_failure_message() {
    let now = unix_now();
    let good = json!({
        "sub": "u1", "iss": "https://idp.test", "aud": "orders", "tenant": "acme",
        "org": {"id": "acme"}, "iat": now, "exp": now + 600,
    });
    let cases: Vec<(&str, Value)> = vec![
        ("good", good.clone()),
        (
            "aud-list-one-matches",
            with(good.clone(), json!({"aud": ["other", "billing"]})),
        ),
        ("expired", with(good.clone(), json!({"exp": now - 60}))),
        (
            "not-yet-valid",
            with(good.clone(), json!({"nbf": now + 600})),
        ),
        (
            "issued-in-future",
            with(good.clone(), json!({"iat": now + 600})),
        ),
        (
            "wrong-issuer",
            with(good.clone(), json!({"iss": "https://evil.test"})),
        ),
        ("no-issuer", with(good.clone(), json!({"iss": null}))),
        (
            "wrong-audience",
            with(good.clone(), json!({"aud": "other"})),
        ),
        (
            "no-audience-matches",
            with(good.clone(), json!({"aud": ["x", "y"]})),
        ),
        ("no-audience", with(good.clone(), json!({"aud": null}))),
        ("no-tenant", with(good.clone(), json!({"tenant": null}))),
        (
            "wrong-tenant",
            with(good.clone(), json!({"tenant": "globex"})),
        ),
        (
            "wrong-org",
            with(good.clone(), json!({"org": {"id": "globex"}})),
        ),
        ("no-exp", with(good.clone(), json!({"exp": null}))),
        (
            "oversized",
            with(good.clone(), json!({"pad": "x".repeat(9000)})),
        ),
    ];
    let mut mint = Mint::new();
    for (name, c) in &cases {
        mint = mint.hmac(name, "HS256", SECRET, c.clone());
    }
    let other_secret = "another-secret-that-is-long-enough-for-hs256!";
    let minted = mint
        .hmac("wrong-secret", "HS256", other_secret, good.clone())
        .token("tampered", json!({"alg": "HS256", "secret": SECRET, "kid": null, "claims": good, "mode": "tamper"}))
        .token("alg-none", json!({"alg": "none", "kid": null, "claims": good, "mode": "none"}))
        .hmac("hs512", "HS512", SECRET, good.clone())
        .hmac("lenient-expired-10s", "HS256", SECRET, json!({"sub": "l", "exp": now - 10}))
        .hmac("lenient-nbf-10s", "HS256", SECRET, json!({"sub": "l", "exp": now + 600, "nbf": now + 10}))
        .hmac("lenient-no-exp", "HS256", SECRET, json!({"sub": "l"}))
        .hmac("lenient-expired-100s", "HS256", SECRET, json!({"sub": "l", "exp": now - 100}))
        .hmac("lenient-nbf-100s", "HS256", SECRET, json!({"sub": "l", "exp": now + 600, "nbf": now + 100}))
        .run();
    let (up, gw) = start(
        r#"
        routes:
          - path: /strict
            policies:
              - type: jwt-auth
                secret: "$SECRET"
                issuer: https://idp.test
                audience: [orders, billing]
                required_claims: {tenant: acme, org.id: acme}
            upstream: $URL
          - path: /single-audience
            policies: [{type: jwt-auth, secret: "$SECRET", audience: billing}]
            upstream: $URL
          - path: /hs256-only
            policies: [{type: jwt-auth, secret: "$SECRET", algorithms: [HS256]}]
            upstream: $URL
          - path: /lenient
            policies: [{type: jwt-auth, secret: "$SECRET", clock_skew: 30s, require_exp: false}]
            upstream: $URL
        "#,
        None,
    );
    let expect: &[(&str, &str, Option<&str>)] = &[
        ("/strict", "good", None),
        ("/strict", "aud-list-one-matches", None),
        ("/strict", "expired", Some("Token expired")),
        ("/strict", "not-yet-valid", Some("Token not yet valid")),
        ("/strict", "issued-in-future", Some("Invalid token")),
        ("/strict", "wrong-issuer", Some("Invalid issuer")),
        ("/strict", "no-issuer", Some("Invalid issuer")),
        ("/strict", "wrong-audience", Some("Invalid audience")),
        ("/strict", "no-audience-matches", Some("Invalid audience")),
        ("/strict", "no-audience", Some("Invalid audience")),
        (
            "/strict",
            "no-tenant",
            Some("Missing required claim tenant"),
        ),
        (
            "/strict",
            "wrong-tenant",
            Some("Missing required claim tenant"),
        ),
        (
            "/strict",
            "wrong-org",
            Some("Missing required claim org.id"),
        ),
        ("/strict", "no-exp", Some("Missing required claim exp")),
        ("/strict", "oversized", Some("Invalid token")),
        ("/strict", "wrong-secret", Some("Invalid signature")),
        ("/strict", "tampered", Some("Invalid signature")),
        ("/strict", "alg-none", Some("Invalid token")),
        ("/single-audience", "aud-list-one-matches", None),
        ("/single-audience", "good", Some("Invalid audience")),
        ("/hs256-only", "good", None),
        ("/hs256-only", "hs512", Some("Invalid token")),
        ("/lenient", "lenient-expired-10s", None),
        ("/lenient", "lenient-nbf-10s", None),
        ("/lenient", "lenient-no-exp", None),
        ("/lenient", "lenient-expired-100s", Some("Token expired")),
        ("/lenient", "lenient-nbf-100s", Some("Token not yet valid")),
    ];
    let mut failures = Vec::new();
    let mut passed = 0;
    for (path, token, want) in expect {
        let resp = get_bearer(&gw, path, minted.token(token));
        let outcome = match want {
            None if resp.status == 200 => {
                passed += 1;
                Ok(())
            }
            None => Err(format!("expected 200, got {resp}")),
            Some(msg) => check_gateway_error(&resp, 401, "unauthorized").and_then(|()| {
                let got = resp.json()["message"].clone();
                let challenge = resp.header("www-authenticate");
                if got != *msg {
                    Err(format!("message {got}, expected {msg:?}"))
                } else if challenge != Some(INVALID_TOKEN) {
                    Err(format!(
                        "challenge {challenge:?}, expected {INVALID_TOKEN:?}"
                    ))
                } else {
                    Ok(())
                }
            }),
        };
        if let Err(why) = outcome {
            failures.push(format!("{path} with token {token:?}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        up.seen().len(),
        passed,
        "refused requests never reach the upstream"
    );

    // No token, or not a bearer token: no error code in the challenge.
    assert_missing_token(&get(&gw, "/strict", &[]));
    assert_missing_token(&get(&gw, "/strict", &[("authorization", "Bearer")]));
    assert_missing_token(&get(&gw, "/strict", &[("authorization", &basic("a", "b"))]));
    // Not a JWS at all.
    for junk in ["not-a-jwt", "a.b", "a.b!.c", "e30.e30.e30.e30", "..."] {
        assert_invalid_token(&get_bearer(&gw, "/strict", junk), "Invalid token");
    }
    assert_eq!(up.seen().len(), passed);
}

/// `required_claims` values are written in YAML as strings, numbers or booleans; a token
/// carrying the same number or boolean must match.
#[test]
fn required_claims_match_numbers_and_booleans() {
    let now = unix_now();
    let minted = Mint::new()
        .hmac(
            "typed",
            "HS256",
            SECRET,
            json!({"exp": now + 600, "email_verified": true, "tier": 2, "tenant": "acme"}),
        )
        .hmac(
            "unverified",
            "HS256",
            SECRET,
            json!({"exp": now + 600, "email_verified": false, "tier": 2, "tenant": "acme"}),
        )
        .run();
    let (_up, gw) = start(
        r#"
        routes:
          - path: /api
            policies: [{type: jwt-auth, secret: "$SECRET", required_claims: {email_verified: true, tier: 2, tenant: acme}}]
            upstream: $URL
        "#,
        None,
    );
    let resp = get_bearer(&gw, "/api", minted.token("typed"));
    assert_eq!(
        resp.status, 200,
        "required_claims {{email_verified: true, tier: 2}} must match a token with the JSON boolean true and the number 2: {resp}"
    );
    assert_invalid_token(
        &get_bearer(&gw, "/api", minted.token("unverified")),
        "Missing required claim email_verified",
    );
}

// ---------------------------------------------------------------------------------------
// jwt-auth with a JWKS: forgeries, rotation, outages, caching
// ---------------------------------------------------------------------------------------

#[test]
fn jwks_forgeries_are_refused() {
    let c = claims("victim");
    let minted = Mint::new()
        .key("rsa", "RSA")
        .key("ec256", "P-256")
        .key("rogue", "RSA")
        .key("enc", "P-256")
        .signed("good", "RS256", "rsa", c.clone())
        .token("alg-none", json!({"alg": "none", "key": "rsa", "claims": c, "mode": "none"}))
        .token("confusion", json!({"alg": "HS256", "key": "rsa", "claims": c, "mode": "hmac_with_public_pem"}))
        .token("confusion-no-kid", json!({"alg": "HS256", "key": "rsa", "kid": null, "claims": c, "mode": "hmac_with_public_pem"}))
        .token("tampered", json!({"alg": "RS256", "key": "rsa", "claims": c, "mode": "tamper"}))
        .token("rogue-key-same-kid", json!({"alg": "RS256", "key": "rogue", "kid": "rsa", "claims": c}))
        .token("rogue-key-no-kid", json!({"alg": "RS256", "key": "rogue", "kid": null, "claims": c}))
        .token("rs256-kid-of-ec-key", json!({"alg": "RS256", "key": "rsa", "kid": "ec256", "claims": c}))
        .token("es256-kid-of-rsa-key", json!({"alg": "ES256", "key": "ec256", "kid": "rsa", "claims": c}))
        .signed("encryption-key", "ES256", "enc", c.clone())
        .run();
    // The `enc` key is published for encryption only: it must not verify signatures.
    let mut doc = minted.jwks(&["rsa", "ec256", "enc"]);
    doc["keys"][2]["use"] = json!("enc");
    let jwks = JwksServer::serving(&doc);
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies: [{type: jwt-auth, jwks_url: $JWKS}]
            upstream: $URL
          - path: /es-only
            policies: [{type: jwt-auth, jwks_url: $JWKS, algorithms: [ES256]}]
            upstream: $URL
        "#,
        Some(&jwks),
    );
    assert_eq!(get_bearer(&gw, "/api", minted.token("good")).status, 200);
    assert_eq!(jwks.fetches(), 1);

    assert_invalid_token(
        &get_bearer(&gw, "/api", minted.token("alg-none")),
        "Invalid token",
    );
    for name in ["confusion", "confusion-no-kid"] {
        let resp = get_bearer(&gw, "/api", minted.token(name));
        assert_gateway_error(&resp, 401, "unauthorized");
        assert_eq!(
            resp.header("www-authenticate"),
            Some(INVALID_TOKEN),
            "{resp}"
        );
        let msg = resp.json()["message"].clone();
        assert!(
            msg == "Invalid token" || msg == "Invalid signature",
            "{name}: HS256 signed with the RSA public key: {resp}"
        );
    }
    for name in [
        "tampered",
        "rogue-key-same-kid",
        "rogue-key-no-kid",
        "rs256-kid-of-ec-key",
        "es256-kid-of-rsa-key",
        "encryption-key",
    ] {
        let resp = get_bearer(&gw, "/api", minted.token(name));
        if let Err(why) = check_gateway_error(&resp, 401, "unauthorized") {
            panic!("{name}: {why}");
        }
        assert_eq!(
            resp.json()["message"],
            "Invalid signature",
            "{name}: {resp}"
        );
        assert_eq!(
            resp.header("www-authenticate"),
            Some(INVALID_TOKEN),
            "{name}"
        );
    }
    // An algorithm outside the route's list, though a key for it exists.
    assert_invalid_token(
        &get_bearer(&gw, "/es-only", minted.token("good")),
        "Invalid token",
    );
    assert_eq!(
        up.seen().len(),
        1,
        "only the genuine token reached the upstream"
    );
    // The `enc` key's unknown-to-signing kid may cause one refetch, never more.
    assert!(jwks.fetches() <= 2, "fetches: {}", jwks.fetches());
}

/// Key rotation: a token signed with a key the identity provider published after the
/// gateway loaded the JWKS makes the gateway refetch once, then passes.
#[test]
fn key_rotation_refetches_the_jwks_once() {
    let first = Mint::new()
        .key("k1", "RSA")
        .signed("old", "RS256", "k1", claims("old-user"))
        .run();
    let jwks = JwksServer::serving(&first.jwks(&["k1"]));
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies: [{type: jwt-auth, jwks_url: $JWKS, forward_claims: {sub: x-user-id}}]
            upstream: $URL
        "#,
        Some(&jwks),
    );
    let resp = get_bearer(&gw, "/api", first.token("old"));
    assert_eq!(upstream_header(&resp, "x-user-id"), "old-user");
    assert_eq!(jwks.fetches(), 1);

    // Rotation: a new key, made now, published next to the old one.
    let second = Mint::new()
        .key("k2", "RSA")
        .signed("new", "RS256", "k2", claims("new-user"))
        .token(
            "unpublished-kid",
            json!({"alg": "RS256", "key": "k2", "kid": "k3", "claims": claims("x")}),
        )
        .run();
    jwks.set_jwks(&json!({"keys": [first.jwk["k1"], second.jwk["k2"]]}));
    let resp = get_bearer(&gw, "/api", second.token("new"));
    assert_eq!(
        resp.status, 200,
        "unknown kid k2 must trigger one JWKS refetch (JWKS fetches so far: {}) and then pass: {resp}",
        jwks.fetches()
    );
    assert_eq!(upstream_header(&resp, "x-user-id"), "new-user");
    assert_eq!(jwks.fetches(), 2, "exactly one refetch");

    // Another unknown kid right after: no second refetch within 30 s.
    assert_invalid_token(
        &get_bearer(&gw, "/api", second.token("unpublished-kid")),
        "Invalid signature",
    );
    assert_eq!(jwks.fetches(), 2, "refetches are limited to one per 30 s");
    for t in ["old", "new"] {
        let token = if t == "old" {
            first.token(t)
        } else {
            second.token(t)
        };
        assert_eq!(get_bearer(&gw, "/api", token).status, 200, "{t}");
    }
    assert_eq!(jwks.fetches(), 2);
    assert_eq!(up.seen().len(), 4);
}

/// Stale-if-error: once keys loaded, the JWKS server going away does not stop known keys,
/// even past the cache TTL.
#[test]
fn jwks_server_down_after_first_load_keeps_serving() {
    let minted = Mint::new()
        .key("rsa", "RSA")
        .key("ed", "Ed25519")
        .signed("a", "RS256", "rsa", claims("a"))
        .signed("b", "EdDSA", "ed", claims("b"))
        .signed("c", "PS256", "rsa", claims("c"))
        .token(
            "gone",
            json!({"alg": "RS256", "key": "rsa", "kid": "gone", "claims": claims("x")}),
        )
        .run();
    let mut jwks = JwksServer::serving(&minted.jwks(&["rsa", "ed"]));
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies: [{type: jwt-auth, jwks_url: $JWKS, jwks_cache_ttl: 1s, forward_claims: {sub: x-user-id}}]
            upstream: $URL
        "#,
        Some(&jwks),
    );
    assert_eq!(get_bearer(&gw, "/api", minted.token("a")).status, 200);
    assert_eq!(jwks.fetches(), 1);
    jwks.take_down();

    let resp = get_bearer(&gw, "/api", minted.token("b"));
    assert_eq!(upstream_header(&resp, "x-user-id"), "b");
    // Past the TTL: the refresh cannot succeed, the last good keys keep serving.
    thread::sleep(Duration::from_millis(1300));
    for t in ["c", "a", "b"] {
        let resp = get_bearer(&gw, "/api", minted.token(t));
        assert_eq!(
            resp.status, 200,
            "token {t} with the JWKS server down: {resp}"
        );
        assert_eq!(upstream_header(&resp, "x-user-id"), t);
    }
    // An unknown kid is still a bad token, not a key-source failure.
    assert_invalid_token(
        &get_bearer(&gw, "/api", minted.token("gone")),
        "Invalid signature",
    );
    assert_eq!(up.seen().len(), 5);
}

/// A JWKS that never loaded: 502 `jwks_error`, and the key source is not hammered.
#[test]
fn jwks_never_loaded_is_502() {
    let minted = Mint::new()
        .key("ec", "P-256")
        .signed("t", "ES256", "ec", claims("x"))
        .run();
    let erroring = JwksServer::start(JwksReply::Status(500));
    let not_json = JwksServer::start(JwksReply::Document("<html>login</html>".into()));
    let empty = JwksServer::serving(&json!({"keys": []}));
    let closed = format!("http://127.0.0.1:{}/.well-known/jwks.json", free_port());
    let yaml = format!(
        r#"
        routes:
          - path: /closed
            policies: [{{type: jwt-auth, jwks_url: "{closed}", jwks_timeout: 2s}}]
            upstream: $URL
          - path: /erroring
            policies: [{{type: jwt-auth, jwks_url: "{}"}}]
            upstream: $URL
          - path: /not-json
            policies: [{{type: jwt-auth, jwks_url: "{}"}}]
            upstream: $URL
          - path: /empty
            policies: [{{type: jwt-auth, jwks_url: "{}"}}]
            upstream: $URL
        "#,
        erroring.url(),
        not_json.url(),
        empty.url()
    );
    let (up, gw) = start(&yaml, None);
    for path in ["/closed", "/erroring", "/not-json", "/empty"] {
        for attempt in 1..=2 {
            let resp = get_bearer(&gw, path, minted.token("t"));
            if let Err(why) = check_gateway_error(&resp, 502, "jwks_error") {
                panic!("{path}, request {attempt}: {why}");
            }
        }
    }
    for (name, server) in [
        ("erroring", &erroring),
        ("not-json", &not_json),
        ("empty", &empty),
    ] {
        assert_eq!(
            server.fetches(),
            1,
            "{name}: one fetch for two requests (refetches at most once per 30 s)"
        );
    }
    // No token: that is the client's fault whatever the key source does.
    assert_missing_token(&get(&gw, "/closed", &[]));
    assert!(up.seen().is_empty());
}

/// The verified-token cache: a repeated token costs no fetch, and time checks still run
/// on cached tokens.
#[test]
fn cached_tokens_do_not_refetch_and_still_expire() {
    let minted = Mint::new()
        .key("ec", "P-384")
        .signed("long", "ES384", "ec", claims("long"))
        .run();
    let jwks = JwksServer::serving(&minted.jwks(&["ec"]));
    let (up, gw) = start(
        r#"
        routes:
          - path: /api
            policies: [{type: jwt-auth, jwks_url: $JWKS, forward_claims: {sub: x-user-id}}]
            upstream: $URL
          - path: /hmac
            policies: [{type: jwt-auth, secret: "$SECRET"}]
            upstream: $URL
        "#,
        Some(&jwks),
    );
    let mut conn = gw.connect();
    let long = format!("Bearer {}", minted.token("long"));
    for _ in 0..3 {
        let resp = conn.request("GET", "/api", &[("authorization", &long)], b"");
        assert_eq!(upstream_header(&resp, "x-user-id"), "long");
    }
    assert_eq!(get_bearer(&gw, "/api", minted.token("long")).status, 200);
    assert_eq!(jwks.fetches(), 1, "verified again from cache: no refetch");

    // A token that passed (and so sits in the cache) is refused once its `exp` passes.
    // The window grows when the machine is too slow to use the token in time.
    let expired_after_caching = [3, 6, 12].into_iter().any(|window| {
        let short = Mint::new()
            .token(
                "short",
                json!({"alg": "HS256", "secret": SECRET, "kid": null, "claims": {"sub": "short"}, "exp_in": window}),
            )
            .run();
        let token = format!("Bearer {}", short.token("short"));
        let exp = token_claims(short.token("short"))["exp"].as_i64().unwrap();
        if unix_now() + 1 > exp {
            return false;
        }
        for _ in 0..2 {
            let resp = conn.request("GET", "/hmac", &[("authorization", &token)], b"");
            assert_eq!(resp.status, 200, "{resp}");
        }
        while unix_now() <= exp {
            thread::sleep(Duration::from_millis(50));
        }
        let resp = conn.request("GET", "/hmac", &[("authorization", &token)], b"");
        assert_invalid_token(&resp, "Token expired");
        true
    });
    assert!(
        expired_after_caching,
        "could not use a short-lived token before its exp, even with 12 s to spare"
    );
    assert_eq!(jwks.fetches(), 1);
    assert_eq!(up.seen().len(), 6);
}

// ---------------------------------------------------------------------------------------
// Consumers: api-key-auth and basic-auth
// ---------------------------------------------------------------------------------------

#[test]
fn api_keys_in_header_and_query() {
    let digest = sha256_hex("hashed-key-2");
    let (up, gw) = start(
        &r#"
        consumers:
          - id: billing
            api_keys: ["plain-key-1", "sha256:@DIGEST@"]
            roles: [billing]
            metadata: {team: payments}
          - id: reports
            api_keys: ["reports-key"]
        routes:
          - path: /h
            policies: [{type: api-key-auth}]
            upstream: $URL
          - path: /q
            policies: [{type: api-key-auth, query_param: api_key, forward_consumer_header: x-caller}]
            upstream: $URL
          - path: /custom
            policies: [{type: api-key-auth, header_name: X-Service-Key}]
            upstream: $URL
        "#
        .replace("@DIGEST@", &digest),
        None,
    );
    let key = |path: &str, k: &str| get(&gw, path, &[("x-api-key", k)]);

    for (k, id) in [
        ("plain-key-1", "billing"),
        ("hashed-key-2", "billing"),
        ("reports-key", "reports"),
    ] {
        let resp = key("/h", k);
        assert_eq!(upstream_header(&resp, "x-consumer-id"), id, "key {k}");
        assert_eq!(
            resp.echo().header("x-api-key"),
            None,
            "the key must not reach the upstream"
        );
    }
    // The digest identifies the key; it is not the key.
    assert_refused(
        &key("/h", &format!("sha256:{digest}")),
        401,
        "unauthorized",
        "Invalid API key",
    );
    assert_refused(&key("/h", &digest), 401, "unauthorized", "Invalid API key");
    assert_refused(&key("/h", "nope"), 401, "unauthorized", "Invalid API key");
    assert_refused(&get(&gw, "/h", &[]), 401, "unauthorized", "Missing API key");
    // A client cannot name itself.
    let resp = get(
        &gw,
        "/h",
        &[("x-api-key", "reports-key"), ("x-consumer-id", "billing")],
    );
    assert_eq!(upstream_header(&resp, "x-consumer-id"), "reports");

    // Query parameter: removed before the request goes upstream, the rest kept in order.
    let resp = get(&gw, "/q?a=1&api_key=plain-key-1&b=2", &[]);
    let echo = resp.echo();
    assert_eq!(echo.target, "/q?a=1&b=2");
    assert_eq!(upstream_header(&resp, "x-caller"), "billing");
    assert_eq!(echo.header("x-consumer-id"), None);
    let resp = get(&gw, "/q?api_key=hashed-key-2", &[]);
    assert_eq!(resp.echo().target, "/q");
    let resp = key("/q", "reports-key");
    assert_eq!(upstream_header(&resp, "x-caller"), "reports");
    assert_eq!(resp.echo().header("x-api-key"), None);
    assert_refused(
        &get(&gw, "/q?api_key=wrong", &[]),
        401,
        "unauthorized",
        "Invalid API key",
    );
    assert_refused(
        &get(&gw, "/q?other=1", &[]),
        401,
        "unauthorized",
        "Missing API key",
    );

    // Another header name.
    let resp = get(&gw, "/custom", &[("x-service-key", "reports-key")]);
    assert_eq!(upstream_header(&resp, "x-consumer-id"), "reports");
    assert_eq!(resp.echo().header("x-service-key"), None);
    assert_refused(
        &key("/custom", "reports-key"),
        401,
        "unauthorized",
        "Missing API key",
    );

    assert_eq!(up.seen().len(), 8);
    assert!(
        up.seen().iter().all(|s| !s.target.contains("key=")),
        "no key in any upstream target"
    );
}

#[test]
fn basic_auth_with_bcrypt_and_argon2() {
    let (up, gw) = start(
        &r#"
        consumers:
          - id: alice
            basic: {username: alice, password_hash: '@BCRYPT@'}
            roles: [admin]
          - id: bob
            basic: {username: bob, password_hash: '@ARGON2@'}
          - id: carol
            basic: {username: carol, password_hash: '@COLON@'}
        routes:
          - path: /basic
            policies: [{type: basic-auth}]
            upstream: $URL
          - path: /admin
            policies: [{type: basic-auth, realm: Admin area}]
            upstream: $URL
        "#
        .replace("@BCRYPT@", &bcrypt_hash("wonderland"))
        .replace("@ARGON2@", &argon2_hash("builder"))
        .replace("@COLON@", &bcrypt_hash("pa:ss:word")),
        None,
    );
    let auth = |path: &str, v: &str| get(&gw, path, &[("authorization", v)]);

    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "pa:ss:word"),
    ] {
        let resp = auth("/basic", &basic(user, password));
        assert_eq!(
            upstream_header(&resp, "x-consumer-id"),
            user,
            "{user}: {resp}"
        );
        assert_eq!(
            resp.echo().header("authorization"),
            None,
            "the password must not reach the upstream"
        );
    }
    let realm = "Restricted";
    assert_basic_refused(&get(&gw, "/basic", &[]), "Missing credentials", realm);
    assert_basic_refused(
        &auth("/basic", "Bearer abc.def.ghi"),
        "Missing credentials",
        realm,
    );
    for bad in [
        basic("alice", "WONDERLAND"),
        basic("alice", ""),
        basic("bob", "wonderland"),
        basic("mallory", "wonderland"),
        basic("", "wonderland"),
        "Basic !!!not-base64!!!".to_string(),
        format!("Basic {}", BASE64.encode("alice-without-colon")),
        "Basic".to_string(),
    ] {
        assert_basic_refused(&auth("/basic", &bad), "Invalid credentials", realm);
    }
    // Two credentials are ambiguous.
    let two = [
        ("authorization", basic("alice", "wonderland")),
        ("authorization", basic("bob", "builder")),
    ];
    let two: Vec<(&str, &str)> = two.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_basic_refused(&get(&gw, "/basic", &two), "Invalid credentials", realm);

    // The route's realm.
    assert_basic_refused(
        &get(&gw, "/admin", &[]),
        "Missing credentials",
        "Admin area",
    );
    assert_basic_refused(
        &auth("/admin", &basic("alice", "x")),
        "Invalid credentials",
        "Admin area",
    );

    // Keep-alive, and a client cannot name itself.
    let mut conn = gw.connect();
    let alice = basic("alice", "wonderland");
    for _ in 0..3 {
        let resp = conn.request(
            "GET",
            "/admin",
            &[("authorization", &alice), ("x-consumer-id", "bob")],
            b"",
        );
        assert_eq!(upstream_header(&resp, "x-consumer-id"), "alice");
    }
    assert_eq!(up.seen().len(), 6);
}

// ---------------------------------------------------------------------------------------
// rbac
// ---------------------------------------------------------------------------------------

#[test]
fn rbac_roles_permissions_and_role_header() {
    let minted = Mint::new()
        .hmac(
            "support",
            "HS256",
            SECRET,
            with(claims("s"), json!({"roles": ["support"]})),
        )
        .hmac(
            "admin-and-more",
            "HS256",
            SECRET,
            with(claims("a"), json!({"roles": ["x", "admin"]})),
        )
        .hmac(
            "guest",
            "HS256",
            SECRET,
            with(claims("g"), json!({"roles": ["guest"]})),
        )
        .hmac("no-roles", "HS256", SECRET, claims("n"))
        .hmac(
            "rw-scope",
            "HS256",
            SECRET,
            with(claims("rw"), json!({"scope": "orders:read orders:write"})),
        )
        .hmac(
            "rw-list",
            "HS256",
            SECRET,
            with(
                claims("rw"),
                json!({"scope": ["orders:write", "x", "orders:read"]}),
            ),
        )
        .hmac(
            "read-only",
            "HS256",
            SECRET,
            with(claims("r"), json!({"scope": "orders:read"})),
        )
        .hmac(
            "nested-editor",
            "HS256",
            SECRET,
            with(claims("e"), json!({"realm_access": {"roles": ["editor"]}})),
        )
        .hmac(
            "top-level-editor",
            "HS256",
            SECRET,
            with(claims("e"), json!({"roles": ["editor"]})),
        )
        .run();
    let (up, gw) = start(
        r#"
        consumers:
          - {id: billing-svc, api_keys: [billing-key], roles: [billing]}
          - {id: reports-svc, api_keys: [reports-key], roles: [reports]}
        routes:
          - path: /staff
            policies:
              - {type: jwt-auth, secret: "$SECRET"}
              - {type: rbac, roles: [admin, support], deny_message: Staff only}
            upstream: $URL
          - path: /orders
            policies:
              - {type: rbac, priority: 11, permissions: ["orders:read", "orders:write"], permissions_claim: scope}
              - {type: jwt-auth, secret: "$SECRET"}
            upstream: $URL
          - path: /editors
            policies:
              - {type: jwt-auth, secret: "$SECRET"}
              - {type: rbac, roles: [editor], roles_claim: realm_access.roles}
            upstream: $URL
          - path: /billing
            policies:
              - {type: rbac, priority: 11, roles: [billing]}
              - {type: api-key-auth}
            upstream: $URL
          - path: /nobody
            policies: [{type: rbac, roles: [admin]}]
            upstream: $URL
          - path: /ops
            policies: [{type: rbac, roles: [ops], role_header: x-roles}]
            upstream: $URL
        "#,
        None,
    );
    let jwt = |path: &str, t: &str| get_bearer(&gw, path, minted.token(t));
    let forbidden = |resp: &Response, msg: &str| assert_refused(resp, 403, "forbidden", msg);
    let mut passed = 0;
    let mut ok = |resp: Response| {
        assert_eq!(resp.status, 200, "{resp}");
        passed += 1;
    };

    // Roles from the token: any one of them.
    ok(jwt("/staff", "support"));
    ok(jwt("/staff", "admin-and-more"));
    forbidden(&jwt("/staff", "guest"), "Staff only");
    forbidden(&jwt("/staff", "no-roles"), "Staff only");
    assert_missing_token(&get(&gw, "/staff", &[]));

    // Permissions: all of them; rbac listed first but priority 11 runs after jwt-auth.
    ok(jwt("/orders", "rw-scope"));
    ok(jwt("/orders", "rw-list"));
    forbidden(&jwt("/orders", "read-only"), "Forbidden");
    forbidden(&jwt("/orders", "support"), "Forbidden");
    assert_missing_token(&get(&gw, "/orders", &[]));

    // Roles at a claim path.
    ok(jwt("/editors", "nested-editor"));
    forbidden(&jwt("/editors", "top-level-editor"), "Forbidden");

    // A consumer's roles, from api-key-auth.
    ok(get(&gw, "/billing", &[("x-api-key", "billing-key")]));
    forbidden(
        &get(&gw, "/billing", &[("x-api-key", "reports-key")]),
        "Forbidden",
    );
    assert_refused(
        &get(&gw, "/billing", &[]),
        401,
        "unauthorized",
        "Missing API key",
    );

    // No auth op identified anyone.
    let resp = get(
        &gw,
        "/nobody",
        &[(
            "authorization",
            &format!("Bearer {}", minted.token("admin-and-more")),
        )],
    );
    assert_refused(&resp, 401, "unauthorized", "Authentication required");
    assert_refused(
        &get(&gw, "/nobody", &[]),
        401,
        "unauthorized",
        "Authentication required",
    );

    // Roles from a header set by a trusted hop.
    ok(get(&gw, "/ops", &[("x-roles", "dev, ops")]));
    ok(get(&gw, "/ops", &[("x-roles", "dev"), ("x-roles", "ops")]));
    forbidden(&get(&gw, "/ops", &[("x-roles", "dev,opsx")]), "Forbidden");
    assert_refused(
        &get(&gw, "/ops", &[]),
        401,
        "unauthorized",
        "Authentication required",
    );

    assert_eq!(up.seen().len(), passed);
}

// ---------------------------------------------------------------------------------------
// A real client
// ---------------------------------------------------------------------------------------

const PYTHON_AUTH_CALLS: &str = r#"
import sys, requests

base, token = sys.argv[1], sys.argv[2]
s = requests.Session()

def upstream_headers(r):
    assert r.status_code == 200, (r.status_code, r.text)
    return {name: value for name, value in r.json()["headers"]}

h = upstream_headers(s.get(f"{base}/jwt/orders", headers={"Authorization": f"Bearer {token}"}))
assert h["x-user-id"] == "py-user", h

r = s.get(f"{base}/jwt/orders")
assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer", (r.status_code, r.headers)
assert r.json()["message"] == "Missing bearer token", r.text

h = upstream_headers(s.get(f"{base}/basic", auth=("alice", "wonderland")))
assert h["x-consumer-id"] == "alice" and "authorization" not in h, h

r = s.get(f"{base}/basic", auth=("alice", "not-her-password"))
assert r.status_code == 401, r.status_code
assert r.headers["WWW-Authenticate"] == 'Basic realm="Restricted"', r.headers
assert r.json()["message"] == "Invalid credentials", r.text

r = s.get(f"{base}/key", params={"q": "1", "api_key": "py-key"})
h = upstream_headers(r)
assert r.json()["target"] == "/key?q=1", r.json()["target"]
assert h["x-consumer-id"] == "alice", h
print("OK")
"#;

#[test]
fn python_requests_authenticated_calls() {
    ensure_python();
    let minted: Minted = Mint::new()
        .hmac("t", "HS256", SECRET, claims("py-user"))
        .run();
    let (up, gw) = start(
        &r#"
        consumers:
          - id: alice
            api_keys: [py-key]
            basic: {username: alice, password_hash: '@BCRYPT@'}
        routes:
          - path: /jwt/*
            policies: [{type: jwt-auth, secret: "$SECRET", forward_claims: {sub: x-user-id}}]
            upstream: $URL
          - path: /basic
            policies: [{type: basic-auth}]
            upstream: $URL
          - path: /key
            policies: [{type: api-key-auth, query_param: api_key}]
            upstream: $URL
        "#
        .replace("@BCRYPT@", &bcrypt_hash("wonderland")),
        None,
    );
    let out = Command::new("python3")
        .args(["-c", PYTHON_AUTH_CALLS, &gw.url(""), minted.token("t")])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "python requests session failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.seen().len(), 3);
}
