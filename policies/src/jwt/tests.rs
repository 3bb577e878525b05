//! Tests for the whole module with real keys generated at run time (see `testing`).

use std::rc::Rc;

use serde_json::{json, Value};

use super::testing::{b64, jwks, TestKey};
use super::*;

const NOW: u64 = 1_700_000_000;

fn claims() -> Value {
    json!({ "sub": "user-1", "iss": "https://issuer.example", "aud": "api", "iat": NOW, "exp": NOW + 600 })
}

fn hs256() -> TestKey {
    TestKey::hmac(Alg::HS256, b"0123456789abcdef0123456789abcdef")
}

/// Verifies with the key's own set and default algorithms, then runs default checks.
fn check(key: &TestKey, token: &str) -> Result<VerifiedToken, JwtError> {
    let keys = key.key_set();
    let verified = decode_and_verify(token, &keys, &keys.default_algorithms())?;
    check_claims(verified.claims(), &Validation::default(), NOW)?;
    Ok(verified)
}

fn flip_last_char(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().unwrap();
    // Swap between two characters that both keep the encoding canonical in any position.
    t.push(if last == 'A' { 'Q' } else { 'A' });
    t
}

// ---- every algorithm ----

#[test]
fn every_algorithm_verifies_and_tampering_fails() {
    // A second RSA key (the first is shared by the process); seconds to make in debug.
    let other_rsa = testing::generate_rsa_pkcs8(2048);
    for alg in Alg::ALL {
        let key = TestKey::generate(alg, Some("k1"));
        let token = key.mint(&claims());
        let verified = check(&key, &token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.header().alg, alg);
        assert_eq!(verified.header().kid.as_deref(), Some("k1"));
        assert_eq!(verified.header().typ.as_deref(), Some("JWT"));
        assert_eq!(verified.claims()["sub"], "user-1");

        // Another payload under the same signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = b64(json!({ "sub": "admin", "exp": NOW + 600 })
            .to_string()
            .as_bytes());
        parts[1] = &forged_payload;
        assert_eq!(
            check(&key, &parts.join(".")).unwrap_err(),
            JwtError::BadSignature,
            "{alg}"
        );

        // A corrupted signature.
        let err = check(&key, &flip_last_char(&token)).unwrap_err();
        assert!(
            matches!(err, JwtError::BadSignature | JwtError::Malformed(_)),
            "{alg}: {err:?}"
        );

        // Signed by another key of the same type.
        let other = match alg.key_type() {
            KeyType::Rsa => TestKey::from_rsa_pkcs8(alg, Some("k1"), &other_rsa),
            _ => TestKey::generate(alg, Some("k1")),
        };
        let err = check(&key, &other.mint(&claims())).unwrap_err();
        assert_eq!(err, JwtError::BadSignature, "{alg}");
        assert_eq!(err.message(), "Invalid signature");
    }
}

#[test]
fn one_jwks_with_every_asymmetric_key() {
    let keys: Vec<TestKey> = Alg::ALL
        .into_iter()
        .filter(|a| a.key_type() != KeyType::Hmac)
        .map(|a| TestKey::generate(a, Some(a.name())))
        .collect();
    let refs: Vec<&TestKey> = keys.iter().collect();
    let set = KeySet::from_jwks_json(jwks(&refs).as_bytes()).unwrap();
    assert_eq!(set.entries().len(), 9);
    assert_eq!(set.skipped(), 0);
    let allowed = set.default_algorithms();
    assert_eq!(allowed, &Alg::ALL[3..]);
    for key in &keys {
        let token = key.mint(&claims());
        let v = decode_and_verify(&token, &set, &allowed).unwrap();
        assert_eq!(v.header().alg, key.alg());
    }
}

#[test]
fn token_without_kid_tries_each_key_of_the_type() {
    let old = TestKey::generate(Alg::ES256, None);
    let new = TestKey::generate(Alg::ES256, None);
    let set = KeySet::from_jwks_json(jwks(&[&old, &new]).as_bytes()).unwrap();
    for key in [&old, &new] {
        decode_and_verify(&key.mint(&claims()), &set, &[Alg::ES256]).unwrap();
    }
    let stranger = TestKey::generate(Alg::ES256, None);
    assert_eq!(
        decode_and_verify(&stranger.mint(&claims()), &set, &[Alg::ES256]),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn default_algorithms_follow_the_keys() {
    assert_eq!(
        hs256().key_set().default_algorithms(),
        [Alg::HS256, Alg::HS384, Alg::HS512]
    );
    let rsa = TestKey::generate(Alg::RS256, None);
    let mut jwk = rsa.jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    let set = KeySet::from_jwks_json(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    assert_eq!(set.default_algorithms(), Alg::for_key_type(KeyType::Rsa));
    // A JWK `alg` narrows the key to that algorithm.
    assert_eq!(rsa.key_set().default_algorithms(), [Alg::RS256]);
    let ps = TestKey::generate(Alg::PS256, None);
    assert_eq!(
        decode_and_verify(&ps.mint(&claims()), &rsa.key_set(), &Alg::ALL),
        Err(JwtError::KeyMismatch {
            alg: Alg::PS256,
            kid: None
        })
    );
}

#[test]
fn alg_names_round_trip() {
    for alg in Alg::ALL {
        assert_eq!(Alg::from_name(alg.name()), Some(alg));
        assert!(Alg::for_key_type(alg.key_type()).contains(&alg));
        assert_eq!(alg.to_string(), alg.name());
    }
    for bad in ["none", "hs256", "ES512", "RS1", "EdDSA ", ""] {
        assert_eq!(Alg::from_name(bad), None, "{bad}");
    }
}

// ---- refusals ----

#[test]
fn alg_none_is_refused_in_any_case() {
    let key = hs256();
    let keys = key.key_set();
    for name in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{name}","typ":"JWT"}}"#);
        let payload = claims().to_string();
        for token in [
            format!("{}.{}.", b64(header.as_bytes()), b64(payload.as_bytes())),
            key.mint_parts(header.as_bytes(), payload.as_bytes()),
        ] {
            let err = decode_and_verify(&token, &keys, &Alg::ALL).unwrap_err();
            assert_eq!(err, JwtError::AlgNone);
            assert_eq!(err.message(), "Invalid token");
        }
    }
}

#[test]
fn alg_confusion_hmac_with_the_rsa_public_key_fails() {
    let rsa = TestKey::generate(Alg::RS256, Some("rsa"));
    let keys = rsa.key_set();
    let c = claims();
    let payload = c.to_string();
    // Every spelling of "the public key" an attacker might use as the HMAC secret.
    let secrets = [
        rsa.public_key_bytes(),
        rsa.jwk().to_string().into_bytes(),
        jwks(&[&rsa]).into_bytes(),
    ];
    for secret in &secrets {
        for (alg, kid) in [
            (Alg::HS256, None),
            (Alg::HS256, Some("rsa")),
            (Alg::HS512, Some("rsa")),
        ] {
            let mut header = json!({ "alg": alg.name() });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let forged = TestKey::hmac(alg, secret)
                .mint_parts(header.to_string().as_bytes(), payload.as_bytes());
            // Default algorithms of an RSA key set exclude HS*.
            let err = decode_and_verify(&forged, &keys, &keys.default_algorithms()).unwrap_err();
            assert_eq!(err, JwtError::AlgNotAllowed(alg));
            assert_eq!(err.message(), "Invalid token");
            // Even if an operator allowed everything, no HMAC key exists to verify with.
            let err = decode_and_verify(&forged, &keys, &Alg::ALL).unwrap_err();
            assert!(matches!(err, JwtError::KeyMismatch { .. }), "{err:?}");
            assert_eq!(err.message(), "Invalid signature");
        }
    }
    // And the reverse: an RS256 token against an HMAC secret.
    let err = check(&hs256(), &rsa.mint(&c)).unwrap_err();
    assert_eq!(err, JwtError::AlgNotAllowed(Alg::RS256));
}

#[test]
fn verify_signature_refuses_mismatched_key_types() {
    let rsa = TestKey::generate(Alg::RS256, None);
    let ec = TestKey::generate(Alg::ES256, None);
    let (ec_set, rsa_set) = (ec.key_set(), rsa.key_set());
    let ec_key = &ec_set.entries()[0].key;
    let rsa_key = &rsa_set.entries()[0].key;
    let sig = ec.sign(b"x");
    for (alg, key) in [
        (Alg::HS256, rsa_key),
        (Alg::RS256, ec_key),
        (Alg::ES384, ec_key),
        (Alg::EdDSA, ec_key),
        (Alg::ES256, rsa_key),
    ] {
        assert!(
            matches!(
                verify_signature(alg, key, b"x", &sig),
                Err(JwtError::KeyMismatch { .. })
            ),
            "{alg}"
        );
    }
    assert_eq!(verify_signature(Alg::ES256, ec_key, b"x", &sig), Ok(()));
    assert_eq!(
        verify_signature(Alg::ES256, ec_key, b"y", &sig),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn kid_selecting_a_key_of_another_type_is_refused() {
    let rsa = TestKey::generate(Alg::RS256, Some("rsa"));
    let ec = TestKey::generate(Alg::ES256, Some("ec"));
    let set = KeySet::from_jwks_json(jwks(&[&rsa, &ec]).as_bytes()).unwrap();
    assert!(
        matches!(set.find(Some("rsa"), Alg::RS256), Lookup::Found(e) if e.kid.as_deref() == Some("rsa"))
    );
    assert_eq!(set.find(Some("ec"), Alg::RS256), Lookup::WrongType);
    assert_eq!(set.find(Some("nope"), Alg::RS256), Lookup::UnknownKid);
    assert!(
        matches!(set.find(None, Alg::ES256), Lookup::Found(e) if e.kid.as_deref() == Some("ec"))
    );
    assert_eq!(set.find(None, Alg::EdDSA), Lookup::WrongType);

    // An RS256 token, really signed by the RSA key, that points its kid at the EC key.
    let header = json!({ "alg": "RS256", "kid": "ec" }).to_string();
    let token = rsa.mint_parts(header.as_bytes(), claims().to_string().as_bytes());
    let err = decode_and_verify(&token, &set, &set.default_algorithms()).unwrap_err();
    assert_eq!(
        err,
        JwtError::KeyMismatch {
            alg: Alg::RS256,
            kid: Some("ec".into())
        }
    );
    assert_eq!(err.message(), "Invalid signature");
    assert!(!err.wants_key_refetch());
}

#[test]
fn unknown_kid_asks_for_a_refetch_and_rotation_works() {
    let old = TestKey::generate(Alg::EdDSA, Some("old"));
    let new = TestKey::generate(Alg::EdDSA, Some("new"));
    let before = KeySet::from_jwks_json(jwks(&[&old]).as_bytes()).unwrap();
    let token = new.mint(&claims());
    let err = decode_and_verify(&token, &before, &[Alg::EdDSA]).unwrap_err();
    assert_eq!(err, JwtError::UnknownKid("new".into()));
    assert!(err.wants_key_refetch());
    assert_eq!(err.message(), "Invalid signature");
    assert_eq!(before.find(Some("new"), Alg::EdDSA), Lookup::UnknownKid);

    let after = KeySet::from_jwks_json(jwks(&[&old, &new]).as_bytes()).unwrap();
    decode_and_verify(&token, &after, &[Alg::EdDSA]).unwrap();
    decode_and_verify(&old.mint(&claims()), &after, &[Alg::EdDSA]).unwrap();
}

#[test]
fn kidless_keys_stand_in_for_any_kid() {
    // A `secret` has no kid; tokens carrying one still verify against it.
    let key = hs256();
    let header = json!({ "alg": "HS256", "kid": "whatever" }).to_string();
    let token = key.mint_parts(header.as_bytes(), claims().to_string().as_bytes());
    check(&key, &token).unwrap();
    // But a kid-less key of another type does not make a kid "known".
    let ec = TestKey::generate(Alg::ES256, None);
    let rsa = TestKey::generate(Alg::RS256, Some("rsa"));
    let set = KeySet::from_jwks_json(jwks(&[&ec, &rsa]).as_bytes()).unwrap();
    assert_eq!(set.find(Some("other"), Alg::RS256), Lookup::UnknownKid);
    assert!(matches!(
        set.find(Some("other"), Alg::ES256),
        Lookup::Found(_)
    ));
}

#[test]
fn malformed_tokens_are_invalid() {
    let key = hs256();
    let keys = key.key_set();
    let good = key.mint(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let hdr = br#"{"alg":"HS256"}"#;
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{h}.{p}.{s}.{s}")),
        ("JWE-like five parts", format!("{h}.{p}.{s}.{s}.{s}")),
        ("padded header", format!("{h}=.{p}.{s}")),
        (
            "standard alphabet",
            format!("{}.{p}.{s}", h.replace('-', "+").replace('_', "/") + "+"),
        ),
        ("space in header", format!(" {h}.{p}.{s}")),
        ("bad base64 signature", format!("{h}.{p}.{s}*")),
        ("padded signature", format!("{h}.{p}.{s}=")),
        ("header not JSON", key.mint_parts(b"{alg:HS256}", b"{}")),
        ("header an array", key.mint_parts(b"[\"HS256\"]", b"{}")),
        (
            "header without alg",
            key.mint_parts(b"{\"typ\":\"JWT\"}", b"{}"),
        ),
        (
            "unsupported alg",
            key.mint_parts(br#"{"alg":"HS1"}"#, b"{}"),
        ),
        (
            "crit header",
            key.mint_parts(br#"{"alg":"HS256","crit":["b64"],"b64":false}"#, b"{}"),
        ),
        ("claims not JSON", key.mint_parts(hdr, b"{\"sub\":")),
        ("claims an array", key.mint_parts(hdr, b"[1,2]")),
        ("claims a string", key.mint_parts(hdr, b"\"sub\"")),
        ("claims empty", key.mint_parts(hdr, b"")),
        (
            "claims in latin-1",
            key.mint_parts(hdr, b"{\"sub\":\"\xe9\"}"),
        ),
    ];
    // A signed token whose payload part is not base64url at all.
    let input = format!("{h}.@@@");
    let bad_payload = format!("{input}.{}", b64(&key.sign(input.as_bytes())));
    let mut cases = cases;
    cases.push(("bad base64 payload", bad_payload));
    for (name, token) in cases {
        let result = decode_and_verify(&token, &keys, &keys.default_algorithms());
        let err = result.expect_err(name);
        assert_eq!(err.message(), "Invalid token", "{name}: {err:?}");
    }
}

#[test]
fn tokens_over_8_kib_are_refused() {
    let key = hs256();
    let keys = key.key_set();
    let sized = |filler: usize| {
        let mut c = claims();
        c["pad"] = json!("x".repeat(filler));
        key.mint(&c)
    };
    // Find the largest filler that fits, then go one past.
    let base = sized(0).len();
    let mut filler = (MAX_TOKEN_BYTES - base) * 3 / 4 - 16;
    while sized(filler + 1).len() <= MAX_TOKEN_BYTES {
        filler += 1;
    }
    let fits = sized(filler);
    assert!(fits.len() <= MAX_TOKEN_BYTES);
    decode_and_verify(&fits, &keys, &[Alg::HS256]).unwrap();
    let over = sized(filler + 3);
    assert!(over.len() > MAX_TOKEN_BYTES);
    let err = decode_and_verify(&over, &keys, &[Alg::HS256]).unwrap_err();
    assert_eq!(err, JwtError::TooLarge);
    assert_eq!(err.message(), "Invalid token");
    let mut cache = VerifiedCache::default();
    let err = authenticate(
        &over,
        &keys,
        &[Alg::HS256],
        &Validation::default(),
        &mut cache,
        NOW,
    );
    assert_eq!(err.unwrap_err(), JwtError::TooLarge);
}

#[test]
fn alg_outside_the_allowed_list_is_refused() {
    let key = TestKey::hmac(
        Alg::HS384,
        b"0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    let token = key.mint(&claims());
    let err = decode_and_verify(&token, &key.key_set(), &[Alg::HS256]).unwrap_err();
    assert_eq!(err, JwtError::AlgNotAllowed(Alg::HS384));
    assert_eq!(err.message(), "Invalid token");
    assert_eq!(
        decode_and_verify(&token, &key.key_set(), &[]).unwrap_err(),
        err
    );
}

// ---- claims ----

fn claims_of(v: Value) -> Claims {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn expiry_with_and_without_skew() {
    let c = claims_of(json!({ "exp": NOW }));
    let v = Validation::default();
    assert_eq!(check_claims(&c, &v, NOW), Ok(()));
    assert_eq!(check_claims(&c, &v, NOW + 1), Err(JwtError::Expired));
    assert_eq!(JwtError::Expired.message(), "Token expired");
    let skewed = Validation {
        clock_skew: 30,
        ..Validation::default()
    };
    assert_eq!(check_claims(&c, &skewed, NOW + 30), Ok(()));
    assert_eq!(check_claims(&c, &skewed, NOW + 31), Err(JwtError::Expired));
    // Fractional NumericDate.
    let c = claims_of(json!({ "exp": NOW as f64 + 0.5 }));
    assert_eq!(check_claims(&c, &v, NOW), Ok(()));
    assert_eq!(check_claims(&c, &v, NOW + 1), Err(JwtError::Expired));
}

#[test]
fn exp_required_unless_configured_otherwise() {
    let c = claims_of(json!({ "sub": "a" }));
    let err = check_claims(&c, &Validation::default(), NOW).unwrap_err();
    assert_eq!(err.message(), "Missing required claim exp");
    let lax = Validation {
        require_exp: false,
        ..Validation::default()
    };
    assert_eq!(check_claims(&c, &lax, NOW), Ok(()));
    for bad in [json!("1700000000"), json!(null), json!([1]), json!(true)] {
        let c = claims_of(json!({ "exp": bad }));
        let err = check_claims(&c, &lax, NOW).unwrap_err();
        assert_eq!(err.message(), "Invalid token", "{c:?}");
    }
}

#[test]
fn not_before_and_issued_at() {
    let v = Validation::default();
    let skewed = Validation {
        clock_skew: 10,
        ..Validation::default()
    };
    let c = claims_of(json!({ "exp": NOW + 100, "nbf": NOW + 10 }));
    let err = check_claims(&c, &v, NOW).unwrap_err();
    assert_eq!(err, JwtError::NotYetValid);
    assert_eq!(err.message(), "Token not yet valid");
    assert_eq!(check_claims(&c, &v, NOW + 10), Ok(()));
    assert_eq!(check_claims(&c, &skewed, NOW), Ok(()));
    assert_eq!(
        check_claims(&c, &skewed, NOW - 1),
        Err(JwtError::NotYetValid)
    );

    let c = claims_of(json!({ "exp": NOW + 100, "iat": NOW + 10 }));
    let err = check_claims(&c, &v, NOW).unwrap_err();
    assert_eq!(err, JwtError::IssuedInFuture);
    assert_eq!(err.message(), "Invalid token");
    assert_eq!(check_claims(&c, &skewed, NOW), Ok(()));
    assert_eq!(
        check_claims(&c, &skewed, NOW - 1),
        Err(JwtError::IssuedInFuture)
    );
    let c = claims_of(json!({ "exp": NOW + 100, "nbf": "soon" }));
    assert!(matches!(
        check_claims(&c, &v, NOW),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn issuer_is_matched_exactly() {
    let v = Validation {
        issuer: Some("https://issuer.example".into()),
        ..Validation::default()
    };
    assert_eq!(check_claims(&claims_of(claims()), &v, NOW), Ok(()));
    for iss in [
        json!("https://issuer.example/"),
        json!("HTTPS://ISSUER.EXAMPLE"),
        json!(1),
        json!(["https://issuer.example"]),
    ] {
        let mut c = claims_of(claims());
        c.insert("iss".into(), iss);
        let err = check_claims(&c, &v, NOW).unwrap_err();
        assert_eq!(err.message(), "Invalid issuer");
    }
    let mut c = claims_of(claims());
    c.remove("iss");
    assert_eq!(check_claims(&c, &v, NOW), Err(JwtError::InvalidIssuer));
}

#[test]
fn audience_string_or_list_any_match() {
    let v = Validation {
        audience: vec!["api".into(), "admin".into()],
        ..Validation::default()
    };
    let with_aud = |aud: Option<Value>| {
        let mut c = claims_of(json!({ "exp": NOW + 1 }));
        if let Some(aud) = aud {
            c.insert("aud".into(), aud);
        }
        check_claims(&c, &v, NOW)
    };
    for ok in [
        json!("api"),
        json!("admin"),
        json!(["x", "admin"]),
        json!(["api"]),
    ] {
        assert_eq!(with_aud(Some(ok.clone())), Ok(()), "{ok}");
    }
    for bad in [
        json!("other"),
        json!([]),
        json!(["x", "y"]),
        json!(1),
        json!("API"),
        json!({ "api": true }),
    ] {
        let err = with_aud(Some(bad.clone())).unwrap_err();
        assert_eq!(err.message(), "Invalid audience", "{bad}");
    }
    assert_eq!(with_aud(None), Err(JwtError::InvalidAudience));
    // No audience configured: any aud passes.
    let c = claims_of(json!({ "exp": NOW + 1, "aud": "anything" }));
    assert_eq!(check_claims(&c, &Validation::default(), NOW), Ok(()));
}

#[test]
fn required_claims_match_exactly() {
    let v = Validation {
        required_claims: vec![
            ("role".into(), json!("admin")),
            ("org.id".into(), json!(7)),
            ("email_verified".into(), json!(true)),
        ],
        ..Validation::default()
    };
    let base =
        json!({ "exp": NOW + 1, "role": "admin", "org": { "id": 7.0 }, "email_verified": true });
    assert_eq!(check_claims(&claims_of(base.clone()), &v, NOW), Ok(()));
    let cases = [
        ("role", json!("user"), "role"),
        ("role", json!(["admin"]), "role"),
        ("role", json!(null), "role"),
        ("org", json!({ "id": 8 }), "org.id"),
        ("org", json!({ "id": "7" }), "org.id"),
        ("email_verified", json!("true"), "email_verified"),
    ];
    for (field, value, name) in cases {
        let mut c = claims_of(base.clone());
        c.insert(field.into(), value);
        let err = check_claims(&c, &v, NOW).unwrap_err();
        assert_eq!(err.message(), format!("Missing required claim {name}"));
    }
    let mut c = claims_of(base);
    c.remove("role");
    assert_eq!(
        check_claims(&c, &v, NOW),
        Err(JwtError::MissingClaim("role".into()))
    );
    // Integers compare exactly, not through f64.
    let big = Validation {
        required_claims: vec![("n".into(), json!(9_007_199_254_740_993u64))],
        ..Validation::default()
    };
    let c = claims_of(json!({ "exp": NOW + 1, "n": 9_007_199_254_740_992u64 }));
    assert!(check_claims(&c, &big, NOW).is_err());
}

#[test]
fn claim_lookup_by_dot_path() {
    let c = claims_of(json!({
        "sub": "u",
        "realm": { "roles": ["a", "b"], "deep": { "x": 1 } },
        "https://example.com/roles": ["r"],
        "a.b": "flat",
        "a": { "b": "nested" },
    }));
    assert_eq!(claim_at_path(&c, "sub"), Some(&json!("u")));
    assert_eq!(claim_at_path(&c, "realm.roles"), Some(&json!(["a", "b"])));
    assert_eq!(claim_at_path(&c, "realm.deep.x"), Some(&json!(1)));
    assert_eq!(
        claim_at_path(&c, "https://example.com/roles"),
        Some(&json!(["r"]))
    );
    assert_eq!(
        claim_at_path(&c, "a.b"),
        Some(&json!("flat")),
        "a whole-name claim wins"
    );
    for missing in ["nope", "realm.nope", "sub.x", "realm.roles.0", "", "realm."] {
        assert_eq!(claim_at_path(&c, missing), None, "{missing}");
    }
}

#[test]
fn claims_as_header_values() {
    let cases = [
        (json!("alice"), Some("alice")),
        (json!(42), Some("42")),
        (json!(-1.5), Some("-1.5")),
        (json!(true), Some("true")),
        (json!(["a", "b", 3, false]), Some("a,b,3,false")),
        (json!(["a", ["b"], { "c": 1 }]), Some(r#"a,["b"],{"c":1}"#)),
        (
            json!({ "k": "v", "n": [1, 2] }),
            Some(r#"{"k":"v","n":[1,2]}"#),
        ),
        (
            json!({ "k": "line\nbreak" }),
            Some(r#"{"k":"line\nbreak"}"#),
        ),
        (json!("tab\there"), Some("tab\there")),
        (json!(null), None),
        (json!([]), None),
        (json!("evil\r\nx-admin: 1"), None),
        (json!(["ok", "bad\n"]), None),
        (json!("del\u{7f}"), None),
    ];
    for (value, want) in cases {
        assert_eq!(claim_to_header_value(&value).as_deref(), want, "{value}");
    }
}

// ---- messages ----

#[test]
fn every_error_has_one_of_the_required_messages() {
    let cases = [
        (JwtError::MissingToken, "Missing bearer token"),
        (JwtError::TooLarge, "Invalid token"),
        (JwtError::Malformed("x"), "Invalid token"),
        (JwtError::AlgNone, "Invalid token"),
        (JwtError::UnsupportedAlg("HS1".into()), "Invalid token"),
        (JwtError::AlgNotAllowed(Alg::HS256), "Invalid token"),
        (JwtError::IssuedInFuture, "Invalid token"),
        (JwtError::NoKeys, "Invalid token"),
        (JwtError::InvalidJwks("x".into()), "Invalid token"),
        (
            JwtError::KeyMismatch {
                alg: Alg::RS256,
                kid: None,
            },
            "Invalid signature",
        ),
        (JwtError::BadSignature, "Invalid signature"),
        (JwtError::UnknownKid("k".into()), "Invalid signature"),
        (JwtError::Expired, "Token expired"),
        (JwtError::NotYetValid, "Token not yet valid"),
        (JwtError::InvalidIssuer, "Invalid issuer"),
        (JwtError::InvalidAudience, "Invalid audience"),
        (
            JwtError::MissingClaim("tenant".into()),
            "Missing required claim tenant",
        ),
    ];
    for (err, msg) in cases {
        assert_eq!(err.message(), msg, "{err:?}");
        assert_eq!(
            err.is_key_source_error(),
            matches!(err, JwtError::NoKeys | JwtError::InvalidJwks(_))
        );
        let www = err.www_authenticate();
        if err == JwtError::MissingToken {
            assert_eq!(www, "Bearer");
        } else {
            assert_eq!(www, "Bearer error=\"invalid_token\"");
        }
    }
    assert_eq!(
        bearer_token("Basic dXNlcjpwYXNz", "Bearer")
            .unwrap_err()
            .message(),
        "Missing bearer token"
    );
}

// ---- keys ----

#[test]
fn jwks_skips_unusable_keys() {
    let rsa = TestKey::generate(Alg::RS256, Some("rsa"));
    let ed = TestKey::generate(Alg::EdDSA, Some("ed"));
    let with = |mut jwk: Value, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        f(jwk.as_object_mut().unwrap());
        jwk
    };
    let small_n = {
        let mut n = vec![0xffu8; 128]; // 1024-bit modulus: below ring's minimum
        n[127] = 0xfb;
        b64(&n)
    };
    let skipped = vec![
        with(rsa.jwk(), &|j| {
            j.insert("use".into(), json!("enc"));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("key_ops".into(), json!(["encrypt"]));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("alg".into(), json!("RSA-OAEP"));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("alg".into(), json!("ES256"));
        }),
        with(rsa.jwk(), &|j| {
            j.remove("n");
        }),
        with(rsa.jwk(), &|j| {
            j.insert("n".into(), json!("***"));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("n".into(), json!(small_n));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("e".into(), json!("AAE"));
        }),
        with(rsa.jwk(), &|j| {
            j.insert("kid".into(), json!(5));
        }),
        json!({ "kty": "oct", "k": "c2VjcmV0" }),
        json!({ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }),
        with(ed.jwk(), &|j| {
            j.insert("crv".into(), json!("Ed448"));
        }),
        with(ed.jwk(), &|j| {
            j.insert("x".into(), json!("AAAA"));
        }),
        json!({ "kty": "OKP", "crv": "X25519", "x": b64(&[9; 32]) }),
        json!("not an object"),
        json!(["RSA", "k", "sig"]),
        json!({ "no": "kty" }),
    ];
    let mut keys = skipped.clone();
    keys.push(rsa.jwk());
    keys.push(with(ed.jwk(), &|j| {
        j.insert("key_ops".into(), json!(["verify"]));
    }));
    let set = KeySet::from_jwks_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap();
    assert_eq!(set.entries().len(), 2);
    assert_eq!(set.skipped(), skipped.len());
    decode_and_verify(&rsa.mint(&claims()), &set, &set.default_algorithms()).unwrap();
    decode_and_verify(&ed.mint(&claims()), &set, &set.default_algorithms()).unwrap();

    let err =
        KeySet::from_jwks_json(json!({ "keys": skipped }).to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(err, JwtError::InvalidJwks(_)) && err.is_key_source_error(),
        "{err:?}"
    );
    for doc in [
        &b"not json"[..],
        b"[]",
        b"{}",
        br#"{"keys":5}"#,
        br#"{"keys":[]}"#,
    ] {
        assert!(matches!(
            KeySet::from_jwks_json(doc),
            Err(JwtError::InvalidJwks(_))
        ));
    }
}

#[test]
fn jwks_tolerates_padding_and_caps_its_size() {
    // 32-byte members are 43 characters unpadded; some providers add the `=`.
    let ec = TestKey::generate(Alg::ES256, Some("ec"));
    let mut jwk = ec.jwk();
    for member in ["x", "y"] {
        jwk[member] = json!(format!("{}=", jwk[member].as_str().unwrap()));
    }
    let set = KeySet::from_jwks_json(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    decode_and_verify(&ec.mint(&claims()), &set, &[Alg::ES256]).unwrap();

    let ed = TestKey::generate(Alg::EdDSA, Some("ed"));
    let mut jwk = ed.jwk();
    jwk["x"] = json!(format!("{}=", jwk["x"].as_str().unwrap()));
    let set = KeySet::from_jwks_json(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    decode_and_verify(&ed.mint(&claims()), &set, &[Alg::EdDSA]).unwrap();

    let many: Vec<Value> = (0..keys::MAX_JWKS_KEYS + 3).map(|_| ed.jwk()).collect();
    let set = KeySet::from_jwks_json(json!({ "keys": many }).to_string().as_bytes()).unwrap();
    assert_eq!(set.entries().len(), keys::MAX_JWKS_KEYS);
    assert_eq!(set.skipped(), 3);
}

#[test]
fn keys_from_pem_and_der() {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};

    let rsa_key = TestKey::generate(Alg::RS256, None);
    let private = rsa::RsaPrivateKey::from_pkcs8_der(testing::shared_rsa_pkcs8()).unwrap();
    let public = rsa::RsaPublicKey::from(&private);
    let spki_der = public.to_public_key_der().unwrap();
    let spki_pem = public.to_public_key_pem(Default::default()).unwrap();
    let pkcs1_der = rsa_key.public_key_bytes();
    let pkcs1_pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pkcs1_der)
    );
    let token = rsa_key.mint(&claims());
    for key in [
        Key::from_der(spki_der.as_bytes()).unwrap(),
        Key::from_pem(&spki_pem).unwrap(),
        Key::from_der(&pkcs1_der).unwrap(),
        Key::from_pem(&pkcs1_pem).unwrap(),
    ] {
        let set = KeySet::new(vec![KeyEntry::new(key)]).unwrap();
        decode_and_verify(&token, &set, &[Alg::RS256]).unwrap();
    }

    // EC and Ed25519 SubjectPublicKeyInfo: fixed DER prefixes, then the key bytes.
    let p256_prefix = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    let p384_prefix = hex("3076301006072a8648ce3d020106052b81040022036200");
    let ed_prefix = hex("302a300506032b6570032100");
    for (alg, prefix) in [
        (Alg::ES256, p256_prefix),
        (Alg::ES384, p384_prefix),
        (Alg::EdDSA, ed_prefix),
    ] {
        let key = TestKey::generate(alg, None);
        let der = [prefix, key.public_key_bytes()].concat();
        let parsed = Key::from_der(&der).unwrap();
        assert_eq!(parsed.key_type(), alg.key_type());
        let set = KeySet::new(vec![KeyEntry::new(parsed)]).unwrap();
        decode_and_verify(&key.mint(&claims()), &set, &[alg]).unwrap();
    }

    for bad in [
        &b""[..],
        b"\x30\x00",
        b"\x30\x03\x02\x01\x01",
        &spki_der.as_bytes()[..40],
    ] {
        assert!(Key::from_der(bad).is_err());
    }
    let mut trailing = spki_der.as_bytes().to_vec();
    trailing.push(0);
    assert!(Key::from_der(&trailing).is_err());
    assert!(Key::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
    assert!(Key::from_pem("no pem here").is_err());
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn key_constructors_validate() {
    assert_eq!(Key::hmac(Vec::new()), Err(JwtError::NoKeys));
    assert_eq!(KeySet::new(Vec::new()), Err(JwtError::NoKeys));
    let n = [0xc5u8; 256];
    assert!(Key::rsa(&n, &[1, 0, 1]).is_ok());
    assert!(
        Key::rsa(&[&[0u8, 0][..], &n].concat(), &[0, 1, 0, 1]).is_ok(),
        "leading zeros stripped"
    );
    assert!(Key::rsa(&n[..255], &[1, 0, 1]).is_err(), "2040 bits");
    assert!(Key::rsa(&[0xc5u8; 1025], &[1, 0, 1]).is_err(), "8200 bits");
    assert!(Key::rsa(&[], &[3]).is_err());
    for e in [&[][..], &[1], &[2], &[1, 0, 0], &[1, 1, 1, 1, 1, 1]] {
        assert!(Key::rsa(&n, e).is_err(), "{e:?}");
    }
    assert!(Key::ec_p256(&[1; 32], &[2; 32]).is_ok());
    assert!(Key::ec_p256(&[1; 31], &[2; 32]).is_err());
    assert!(Key::ec_p384(&[1; 48], &[2; 32]).is_err());
    assert!(Key::ed25519(&[1; 31]).is_err());
    // Debug never prints the secret.
    let debug = format!("{:?}", KeySet::hmac(b"topsecretvalue".to_vec()).unwrap());
    assert!(
        !debug.contains("topsecret") && !debug.contains("116"),
        "{debug}"
    );
}

// ---- cache ----

fn verified(key: &TestKey, c: &Value) -> (String, VerifiedToken) {
    let token = key.mint(c);
    let v = decode_and_verify(&token, &key.key_set(), &[key.alg()]).unwrap();
    (token, v)
}

#[test]
fn authenticate_caches_and_still_checks_claims() {
    let key = hs256();
    let keys = key.key_set();
    let other_keys = KeySet::hmac(b"a different secret, so a miss would fail".to_vec()).unwrap();
    let v = Validation::default();
    let mut cache = VerifiedCache::default();
    let token = key.mint(&claims());

    let first = authenticate(&token, &keys, &[Alg::HS256], &v, &mut cache, NOW).unwrap();
    assert_eq!(cache.len(), 1);
    // A hit skips the signature: it passes even with keys that would refuse it.
    let second = authenticate(&token, &other_keys, &[Alg::HS256], &v, &mut cache, NOW + 1).unwrap();
    assert!(Rc::ptr_eq(&first, &second));
    // Time-dependent checks still run on a hit.
    let err = authenticate(&token, &keys, &[Alg::HS256], &v, &mut cache, NOW + 601).unwrap_err();
    assert_eq!(err, JwtError::Expired);
    // ...and so do the others.
    let strict = Validation {
        issuer: Some("someone else".into()),
        ..Validation::default()
    };
    let err = authenticate(&token, &keys, &[Alg::HS256], &strict, &mut cache, NOW + 2).unwrap_err();
    assert_eq!(err, JwtError::InvalidIssuer);
}

#[test]
fn failures_are_never_cached() {
    let key = hs256();
    let keys = key.key_set();
    let v = Validation::default();
    let mut cache = VerifiedCache::default();
    // Bad signature.
    let forged = hs256().mint_parts(br#"{"alg":"HS256"}"#, b"{}");
    let stranger = TestKey::hmac(Alg::HS256, b"another secret entirely, 32 byte");
    let forged = [forged, stranger.mint(&claims())];
    for t in &forged {
        assert!(authenticate(
            t,
            &KeySet::hmac(b"x".to_vec()).unwrap(),
            &[Alg::HS256],
            &v,
            &mut cache,
            NOW
        )
        .is_err());
    }
    assert!(authenticate(&forged[1], &keys, &[Alg::HS256], &v, &mut cache, NOW).is_err());
    assert!(cache.is_empty());
    // Good signature, claims not yet valid: not admitted, so it is verified again later.
    let mut c = claims();
    c["nbf"] = json!(NOW + 100);
    let early = key.mint(&c);
    assert_eq!(
        authenticate(&early, &keys, &[Alg::HS256], &v, &mut cache, NOW),
        Err(JwtError::NotYetValid)
    );
    assert!(cache.is_empty());
    authenticate(&early, &keys, &[Alg::HS256], &v, &mut cache, NOW + 100).unwrap();
    assert_eq!(cache.len(), 1);
    // An already expired token is refused and not admitted.
    let mut c = claims();
    c["exp"] = json!(NOW - 1);
    assert_eq!(
        authenticate(&key.mint(&c), &keys, &[Alg::HS256], &v, &mut cache, NOW),
        Err(JwtError::Expired)
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn cache_entries_expire_at_exp_or_the_bound() {
    let key = hs256();
    let mut cache = VerifiedCache::new(10, 300);
    // exp far off: the bound decides.
    let (far, v) = verified(&key, &json!({ "exp": NOW + 3600 }));
    cache.insert(&far, v, NOW);
    assert!(cache.get(&far, NOW + 299).is_some());
    assert!(cache.get(&far, NOW + 300).is_none());
    assert!(cache.is_empty(), "expired entry dropped");
    // exp soon: exp decides.
    let (near, v) = verified(&key, &json!({ "exp": NOW + 60 }));
    cache.insert(&near, v, NOW);
    assert!(cache.get(&near, NOW + 59).is_some());
    assert!(cache.get(&near, NOW + 60).is_none());
    // No exp (require_exp off): the bound.
    let (none, v) = verified(&key, &json!({ "sub": "x" }));
    cache.insert(&none, v, NOW);
    assert!(cache.get(&none, NOW + 299).is_some());
    assert!(cache.get(&none, NOW + 300).is_none());
    // Already past exp: returned, not admitted.
    let (past, v) = verified(&key, &json!({ "exp": NOW }));
    cache.insert(&past, v, NOW);
    assert!(cache.is_empty());
    // A slot freed by expiry is reused.
    let (again, v) = verified(&key, &json!({ "exp": NOW + 3600, "n": 2 }));
    cache.insert(&again, v, NOW);
    assert!(cache.get(&again, NOW).is_some());
}

#[test]
fn cache_evicts_least_recently_used() {
    let key = hs256();
    let mut cache = VerifiedCache::new(2, 300);
    let tokens: Vec<(String, VerifiedToken)> = (0..3)
        .map(|i| verified(&key, &json!({ "exp": NOW + 600, "n": i })))
        .collect();
    cache.insert(&tokens[0].0, tokens[0].1.clone(), NOW);
    cache.insert(&tokens[1].0, tokens[1].1.clone(), NOW);
    assert!(cache.get(&tokens[0].0, NOW).is_some()); // 0 is now the most recent
    cache.insert(&tokens[2].0, tokens[2].1.clone(), NOW);
    assert_eq!(cache.len(), 2);
    assert!(
        cache.get(&tokens[1].0, NOW).is_none(),
        "least recently used evicted"
    );
    assert!(cache.get(&tokens[0].0, NOW).is_some());
    assert!(cache.get(&tokens[2].0, NOW).is_some());
    // Re-inserting an existing token does not grow the cache.
    cache.insert(&tokens[2].0, tokens[2].1.clone(), NOW);
    assert_eq!(cache.len(), 2);
    cache.clear();
    assert!(cache.is_empty() && cache.get(&tokens[0].0, NOW).is_none());

    let mut off = VerifiedCache::new(0, 300);
    off.insert(&tokens[0].0, tokens[0].1.clone(), NOW);
    assert!(off.is_empty());
}

#[test]
fn cache_matches_a_simple_model() {
    // Random operations against a Vec-based LRU model, with expiry; catches list bugs.
    let key = hs256();
    let pool: Vec<(String, VerifiedToken)> = (0..12)
        .map(|i| verified(&key, &json!({ "exp": NOW + 40 + i * 7, "n": i })))
        .collect();
    let mut cache = VerifiedCache::new(5, 50);
    let mut model: Vec<(usize, u64)> = Vec::new(); // (token index, expires_at), most recent last
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut now = NOW;
    for _ in 0..5000 {
        let i = (next() % 12) as usize;
        if next() % 3 == 0 {
            now += next() % 4;
        }
        if now > NOW + 100 {
            now = NOW;
            cache.clear();
            model.clear();
        }
        if next() % 2 == 0 {
            let exp = NOW + 40 + i as u64 * 7;
            let expires_at = exp.min(now + 50);
            cache.insert(&pool[i].0, pool[i].1.clone(), now);
            model.retain(|&(j, _)| j != i);
            if expires_at > now {
                if model.len() == 5 {
                    model.remove(0);
                }
                model.push((i, expires_at));
            }
        } else {
            let got = cache.get(&pool[i].0, now);
            let pos = model.iter().position(|&(j, _)| j == i);
            let want = match pos {
                Some(p) if model[p].1 > now => {
                    let e = model.remove(p);
                    model.push(e);
                    true
                }
                Some(p) => {
                    model.remove(p);
                    false
                }
                None => false,
            };
            assert_eq!(got.is_some(), want);
            if let Some(got) = got {
                assert_eq!(got.claims()["n"], json!(i));
            }
        }
        assert_eq!(cache.len(), model.len());
    }
}
