use super::*;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Params, Version};

/// An argon2 PHC string for `password`, at the lowest cost so tests stay fast.
pub(crate) fn argon2_hash(algorithm: Algorithm, password: &str) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"sluice-test-salt").unwrap();
    Argon2::new(algorithm, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// A bcrypt hash for `password` at cost 4, the lowest bcrypt allows.
pub(crate) fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

pub(crate) fn spec(id: &str, keys: &[&str]) -> ConsumerSpec {
    ConsumerSpec {
        id: id.into(),
        api_keys: keys.iter().map(|k| k.to_string()).collect(),
        ..ConsumerSpec::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn plain_and_sha256_keys() {
    let digest = hex(&sha256(b"hashed-key"));
    let reg = ConsumerRegistry::new(vec![
        spec("alice", &["plain-key"]),
        spec("bob", &[&format!("sha256:{digest}")]),
        spec("carol", &[&format!("sha256:{}", digest.to_uppercase())]),
    ]);
    // carol's key is bob's digest in upper case: the same key, so refused.
    assert!(reg.unwrap_err().contains("already used by consumer `bob`"));

    let reg = ConsumerRegistry::new(vec![
        spec("alice", &["plain-key"]),
        spec("bob", &[&format!("sha256:{digest}"), "second"]),
    ])
    .unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!(reg.find_by_api_key(b"plain-key").unwrap().id, "alice");
    assert_eq!(reg.find_by_api_key(b"hashed-key").unwrap().id, "bob");
    assert_eq!(reg.find_by_api_key(b"second").unwrap().id, "bob");
    assert!(reg.find_by_api_key(b"plain-ke").is_none());
    assert!(reg.find_by_api_key(b"").is_none());
    // The digest itself is not a key.
    assert!(reg.find_by_api_key(digest.as_bytes()).is_none());
    assert_eq!(reg.by_id("bob").unwrap().id, "bob");
    assert!(reg.by_id("nobody").is_none());
}

#[test]
fn refusals() {
    let cases: Vec<(Vec<ConsumerSpec>, &str)> = vec![
        (vec![spec("a", &[]), spec("a", &[])], "`a`: duplicate id"),
        (vec![spec("", &[])], "empty id"),
        (
            vec![spec("a", &["k"]), spec("b", &["k"])],
            "already used by consumer `a`",
        ),
        (
            vec![spec("a", &["k", "k"])],
            "api key #2 is already used by consumer `a`",
        ),
        (vec![spec("a", &[""])], "empty key"),
        (vec![spec("a", &["sha256:abc"])], "64 hex digits"),
        (
            vec![spec("a", &[&format!("sha256:{}", "g".repeat(64))])],
            "64 hex digits",
        ),
    ];
    for (specs, want) in cases {
        let err = ConsumerRegistry::new(specs).unwrap_err();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn errors_never_show_secrets() {
    let err =
        ConsumerRegistry::new(vec![spec("a", &["s3cret"]), spec("b", &["s3cret"])]).unwrap_err();
    assert!(!err.contains("s3cret"));
}

#[test]
fn basic_credentials_checked() {
    let with_basic = |id: &str, user: &str, hash: &str| ConsumerSpec {
        basic: Some((user.into(), hash.into())),
        ..spec(id, &[])
    };
    let argon = argon2_hash(Algorithm::Argon2id, "pw");
    let bcrypt = bcrypt_hash("pw");
    let bad: Vec<(Vec<ConsumerSpec>, &str)> = vec![
        (vec![with_basic("a", "u", "plain")], "must be argon2"),
        (vec![with_basic("a", "u", "$2x$04$abc")], "must be argon2"),
        (
            vec![with_basic("a", "u", "$argon2id$v=19$garbage")],
            "argon2",
        ),
        (
            vec![with_basic("a", "u", "$2b$04$short")],
            "malformed bcrypt",
        ),
        (
            vec![with_basic("a", "u", &bcrypt.replace("$04$", "$03$"))],
            "outside 4..=31",
        ),
        (
            vec![with_basic("a", "u", &bcrypt.replace("$04$", "$4$"))],
            "malformed bcrypt",
        ),
        (vec![with_basic("a", "", &argon)], "non-empty"),
        (vec![with_basic("a", "u:v", &argon)], "without ':'"),
        (
            vec![with_basic("a", "u", &argon), with_basic("b", "u", &bcrypt)],
            "username `u` is already used",
        ),
    ];
    for (specs, want) in bad {
        let err = ConsumerRegistry::new(specs).unwrap_err();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }

    let reg = ConsumerRegistry::new(vec![
        with_basic("a", "ann", &argon),
        with_basic("b", "ben", &bcrypt),
        with_basic("c", "cy", &argon2_hash(Algorithm::Argon2i, "pw")),
        with_basic("d", "di", &argon2_hash(Algorithm::Argon2d, "pw")),
    ])
    .unwrap();
    for user in ["ann", "ben", "cy", "di"] {
        let (_, hash) = reg.basic_user(user).unwrap();
        assert!(hash.verify(b"pw"), "{user}");
        assert!(!hash.verify(b"pW"), "{user}");
    }
    assert_eq!(reg.basic_user("ben").unwrap().0.id, "b");
    assert!(reg.basic_user("nobody").is_none());
    assert_eq!(reg.dummy_hash().unwrap().text.as_ref(), argon);
    assert!(!format!("{reg:?}").contains("argon2"));
}
