use super::*;
use crate::consumers::tests::{argon2_hash, bcrypt_hash, spec};
use crate::consumers::ConsumerSpec;
use argon2::Algorithm;

fn registry() -> ConsumerRegistry {
    let basic = |id: &str, user: &str, hash: String| ConsumerSpec {
        basic: Some((user.into(), hash)),
        roles: vec!["reader".into()],
        ..spec(id, &[])
    };
    ConsumerRegistry::new(vec![
        basic(
            "ann-id",
            "ann",
            argon2_hash(Algorithm::Argon2id, "s3cret:with colon"),
        ),
        basic("ben-id", "ben", bcrypt_hash("hunter2")),
        spec("keys-only", &["k"]),
    ])
    .unwrap()
}

fn basic(user_pass: &str) -> Headers {
    let mut h = Headers::default();
    h.append(
        "Authorization",
        format!("Basic {}", STANDARD.encode(user_pass)),
    );
    h
}

fn run(
    auth: &BasicAuth,
    reg: &ConsumerRegistry,
    cache: &mut BasicAuthCache,
    h: &mut Headers,
) -> Result<Identity, Reject> {
    let mut id = Identity::default();
    auth.on_request(reg, cache, h, &mut id).map(|()| id)
}

#[test]
fn argon2_and_bcrypt_users_pass() {
    let reg = registry();
    let auth = BasicAuth::default();
    let mut cache = BasicAuthCache::default();
    for (creds, who) in [
        ("ann:s3cret:with colon", "ann-id"),
        ("ben:hunter2", "ben-id"),
    ] {
        let mut h = basic(creds);
        h.append("x-consumer-id", "spoofed");
        let id = run(&auth, &reg, &mut cache, &mut h).unwrap();
        assert_eq!(id.consumer_id(), Some(who));
        assert_eq!(id.roles("roles"), ["reader"]);
        assert!(
            !h.contains("authorization"),
            "credentials must not go upstream"
        );
        assert_eq!(h.get_all("x-consumer-id").count(), 1);
        assert_eq!(h.get_str("x-consumer-id"), Some(who));
    }
    // Scheme is case-insensitive and extra spaces are allowed.
    let mut h = Headers::default();
    h.append(
        "authorization",
        format!("bAsIc   {}", STANDARD.encode("ben:hunter2")),
    );
    assert!(run(&auth, &reg, &mut cache, &mut h).is_ok());
}

#[test]
fn refusals_carry_the_challenge() {
    let reg = registry();
    let auth = BasicAuth {
        realm: "Staff \"only\"".into(),
        forward_consumer_header: None,
    };
    let mut cache = BasicAuthCache::default();
    let unpadded = format!(
        "Basic {}",
        STANDARD.encode("ben:hunter2").trim_end_matches('=')
    );
    let too_long = format!("Basic {}", STANDARD.encode("a".repeat(4096)));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "Missing credentials"),
        (vec!["Bearer abc".into()], "Missing credentials"),
        (vec!["Basic".into()], "Invalid credentials"),
        (vec!["Basic !!!!".into()], "Invalid credentials"),
        (vec![unpadded], "Invalid credentials"),
        (
            vec![format!("Basic {}", STANDARD.encode("no-colon"))],
            "Invalid credentials",
        ),
        (
            vec![format!("Basic {}", STANDARD.encode("ben:wrong"))],
            "Invalid credentials",
        ),
        (
            vec![format!("Basic {}", STANDARD.encode("ann:s3cret"))],
            "Invalid credentials",
        ),
        (
            vec![format!("Basic {}", STANDARD.encode("nobody:hunter2"))],
            "Invalid credentials",
        ),
        (
            vec![format!("Basic {}", STANDARD.encode(b"\xff:x"))],
            "Invalid credentials",
        ),
        (
            vec![format!("Basic {}", STANDARD.encode("BEN:hunter2"))],
            "Invalid credentials",
        ),
        (vec![too_long], "Invalid credentials"),
        (
            vec![
                format!("Basic {}", STANDARD.encode("ben:hunter2")),
                format!("Basic {}", STANDARD.encode("ann:x")),
            ],
            "Invalid credentials",
        ),
    ];
    for (values, message) in cases {
        let mut h = Headers::default();
        for v in &values {
            h.append("Authorization", v.clone());
        }
        let err = run(&auth, &reg, &mut cache, &mut h).unwrap_err();
        assert_eq!((err.status, err.code), (401, "unauthorized"), "{values:?}");
        assert_eq!(err.message, message, "{values:?}");
        assert_eq!(
            err.headers,
            [(
                "WWW-Authenticate",
                r#"Basic realm="Staff \"only\"""#.to_string()
            )]
        );
    }
    assert!(cache.is_empty(), "failures are never cached");
}

#[test]
fn unknown_user_costs_a_hash_check() {
    let reg = registry();
    let auth = BasicAuth::default();
    let mut cache = BasicAuthCache::default();
    let before = cache.hash_checks();
    assert!(run(&auth, &reg, &mut cache, &mut basic("nobody:x")).is_err());
    assert_eq!(cache.hash_checks(), before + 1);
    // Malformed input involves no secret, so no hash is spent on it.
    assert!(run(&auth, &reg, &mut cache, &mut basic("no-colon")).is_err());
    assert_eq!(cache.hash_checks(), before + 1);
}

#[test]
fn cache_hit_skips_the_hash() {
    let reg = registry();
    let auth = BasicAuth::default();
    let mut cache = BasicAuthCache::default();
    for _ in 0..3 {
        run(&auth, &reg, &mut cache, &mut basic("ben:hunter2")).unwrap();
    }
    assert_eq!((cache.len(), cache.hash_checks()), (1, 1));
    // A wrong password for a cached user still runs the check and is refused.
    assert!(run(&auth, &reg, &mut cache, &mut basic("ben:hunter3")).is_err());
    assert_eq!((cache.len(), cache.hash_checks()), (1, 2));

    // The same user and password under a new hash (a password change and back, or a
    // reload with a re-hashed password) do not hit the old entry.
    let rehashed = ConsumerRegistry::new(vec![ConsumerSpec {
        basic: Some(("ben".into(), bcrypt_hash("other"))),
        ..spec("ben-id", &[])
    }])
    .unwrap();
    assert!(run(&auth, &rehashed, &mut cache, &mut basic("ben:hunter2")).is_err());
    assert_eq!(cache.hash_checks(), 3);
}

#[test]
fn cache_is_bounded_and_keeps_recent_entries() {
    let hash = StoredHash::parse(&bcrypt_hash("pw")).unwrap();
    let mut cache = BasicAuthCache::new(4);
    // Fill directly: `insert` is what a successful check does.
    for i in 0u8..3 {
        cache.insert(cache_key(&[i], b"pw", &hash));
    }
    assert_eq!(cache.len(), 3);
    // Touch entry 0 (cold -> hot), then add more: 0 must survive, 1 must not.
    assert!(cache.check(&[0], b"pw", &hash));
    for i in 3u8..5 {
        cache.insert(cache_key(&[i], b"pw", &hash));
    }
    assert!(cache.len() <= 4);
    let checks = cache.hash_checks();
    assert!(cache.check(&[0], b"pw", &hash));
    assert_eq!(cache.hash_checks(), checks, "recently used entry was kept");
    assert!(!cache.cold.contains(&cache_key(&[1], b"pw", &hash)));
    assert!(!cache.hot.contains(&cache_key(&[1], b"pw", &hash)));
    cache.clear();
    assert!(cache.is_empty());
}
