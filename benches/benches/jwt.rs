//! JWT verification per algorithm, uncached (parse + signature; claims checks included),
//! against the cached path (SHA-256 of the token, LRU look-up, claims checks) that a
//! repeat token takes. `cache_key_sha256` isolates the digest the cached path pays.
//!
//! Keys are generated at start-up; tokens carry a typical access-token claims set.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use sluice_policies::jwt::testing::TestKey;
use sluice_policies::jwt::{
    authenticate, check_claims, decode_and_verify, Alg, Validation, VerifiedCache,
};

const NOW: u64 = 1_700_000_000;

fn jwt(c: &mut Criterion) {
    let claims = json!({
        "iss": "https://login.example.com/",
        "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": ["https://api.example.com", "https://login.example.com/userinfo"],
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "azp": "Xbt3LL8Z0zvRRuE2I9BKN0OJvLqRzmZH",
        "scope": "openid profile email read:orders write:orders",
        "roles": ["customer", "beta"],
        "email": "alice@example.com",
    });
    let validation = Validation {
        issuer: Some("https://login.example.com/".into()),
        audience: vec!["https://api.example.com".into()],
        ..Validation::default()
    };

    let mut g = c.benchmark_group("jwt");
    for alg in [
        Alg::HS256,
        Alg::RS256,
        Alg::PS256,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ] {
        let key = TestKey::generate(alg, Some("k1"));
        let keys = key.key_set();
        let allowed = keys.default_algorithms();
        let token = key.mint(&claims);
        g.bench_function(format!("uncached_{}", alg.name()), |b| {
            b.iter(|| {
                let v = decode_and_verify(black_box(&token), &keys, &allowed).expect("valid");
                check_claims(v.claims(), &validation, NOW).expect("claims");
                v
            })
        });
        if matches!(alg, Alg::HS256 | Alg::RS256) {
            let mut cache = VerifiedCache::default();
            authenticate(&token, &keys, &allowed, &validation, &mut cache, NOW).expect("valid");
            g.bench_function(format!("cached_{}", alg.name()), |b| {
                b.iter(|| {
                    authenticate(
                        black_box(&token),
                        &keys,
                        &allowed,
                        &validation,
                        &mut cache,
                        NOW,
                    )
                    .expect("cached")
                })
            });
            g.bench_function(
                format!("cache_key_sha256_{}_{}B", alg.name(), token.len()),
                |b| b.iter(|| sluice_policies::jwt::cache::TokenDigest::of(black_box(&token))),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, jwt);
criterion_main!(benches);
