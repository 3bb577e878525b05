//! Key generation and token minting for tests and benches: real keys made at run time for
//! every algorithm, tokens signed with them, and the JWKS that publishes them.
//!
//! Built for this crate's tests and, with the `test-util` feature, for other crates'
//! integration tests and benches. These helpers panic on failure (a test support
//! module): RNG failure, or bytes ring refuses to sign with.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};

use super::{Alg, KeySet, KeyType};

/// A signing key for one algorithm, with an optional `kid`.
pub struct TestKey {
    alg: Alg,
    kid: Option<String>,
    signer: Signer,
}

enum Signer {
    Hmac(Vec<u8>),
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// rsa's key generation wants a `rand_core` RNG; this feeds it from ring's system RNG so
/// no further crate is needed.
struct RingRng(SystemRandom);

impl rsa::rand_core::RngCore for RingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest).expect("system RNG");
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for RingRng {}

/// A fresh RSA private key of `bits` bits as PKCS#8 DER (ring cannot generate RSA keys).
/// Slow in debug builds (seconds): [`TestKey::generate`] shares one 2048-bit key.
pub fn generate_rsa_pkcs8(bits: usize) -> Vec<u8> {
    let key = rsa::RsaPrivateKey::new(&mut RingRng(SystemRandom::new()), bits).expect("RSA keygen");
    key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec()
}

/// base64url without padding, as in tokens and JWKs.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWKS document (`{"keys": [...]}`) publishing the public halves of `keys`.
pub fn jwks(keys: &[&TestKey]) -> String {
    let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

/// One 2048-bit RSA private key (PKCS#8 DER) generated on first use and shared by the
/// process, since generating one takes seconds in debug builds.
pub fn shared_rsa_pkcs8() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| generate_rsa_pkcs8(2048))
}

impl TestKey {
    /// A new key for `alg`: a random 32-byte secret for HS*, a fresh P-256/P-384/Ed25519
    /// key pair, or for RS*/PS* one 2048-bit key shared by the whole process (use
    /// [`TestKey::from_rsa_pkcs8`] with [`generate_rsa_pkcs8`] for a distinct one).
    pub fn generate(alg: Alg, kid: Option<&str>) -> TestKey {
        let rng = SystemRandom::new();
        let signer = match alg.key_type() {
            KeyType::Hmac => {
                let mut secret = vec![0u8; 32];
                rng.fill(&mut secret).expect("system RNG");
                Signer::Hmac(secret)
            }
            KeyType::Rsa => return TestKey::from_rsa_pkcs8(alg, kid, shared_rsa_pkcs8()),
            KeyType::EcP256 | KeyType::EcP384 => {
                let signing = ecdsa_signing(alg);
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("EC keygen");
                let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).expect("EC key");
                Signer::Ecdsa(pair)
            }
            KeyType::Ed25519 => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 keygen");
                Signer::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key"))
            }
        };
        TestKey {
            alg,
            kid: kid.map(str::to_owned),
            signer,
        }
    }

    /// An HS* key with this secret.
    pub fn hmac(alg: Alg, secret: &[u8]) -> TestKey {
        assert_eq!(
            alg.key_type(),
            KeyType::Hmac,
            "{alg} is not an HMAC algorithm"
        );
        TestKey {
            alg,
            kid: None,
            signer: Signer::Hmac(secret.to_vec()),
        }
    }

    /// An RS*/PS* key from PKCS#8 DER.
    pub fn from_rsa_pkcs8(alg: Alg, kid: Option<&str>, pkcs8: &[u8]) -> TestKey {
        assert_eq!(
            alg.key_type(),
            KeyType::Rsa,
            "{alg} is not an RSA algorithm"
        );
        TestKey {
            alg,
            kid: kid.map(str::to_owned),
            signer: Signer::Rsa(RsaKeyPair::from_pkcs8(pkcs8).expect("RSA key")),
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The `kid` put in minted headers and in the JWK.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The raw JWS signature of `input` under this key's algorithm.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Hmac(secret) => {
                let alg = match self.alg {
                    Alg::HS256 => hmac::HMAC_SHA256,
                    Alg::HS384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::sign(&hmac::Key::new(alg, secret), input)
                    .as_ref()
                    .to_vec()
            }
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Alg::RS256 => &signature::RSA_PKCS1_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut sig).expect("RSA sign");
                sig
            }
            Signer::Ecdsa(pair) => pair
                .sign(&rng, input)
                .expect("ECDSA sign")
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A token for `claims` with header `{"alg", "typ": "JWT", "kid"?}`.
    pub fn mint(&self, claims: &Value) -> String {
        let mut header = json!({ "alg": self.alg.name(), "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        self.mint_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A token from raw header and payload bytes (for malformed-JSON and odd-header
    /// cases), signed under this key's algorithm whatever the header says.
    pub fn mint_parts(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// The public JWK (`kty`, key members, `kid`, `alg`, `use: sig`). HMAC keys give a
    /// `kty: oct` JWK, which [`KeySet::from_jwks_json`] skips on purpose.
    pub fn jwk(&self) -> Value {
        let mut jwk = match &self.signer {
            Signer::Hmac(secret) => json!({ "kty": "oct", "k": b64(secret) }),
            Signer::Rsa(pair) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                json!({ "kty": "RSA", "n": b64(&c.n), "e": b64(&c.e) })
            }
            Signer::Ecdsa(pair) => {
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&point[1..1 + len]),
                    "y": b64(&point[1 + len..]),
                })
            }
            Signer::Ed25519(pair) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) })
            }
        };
        jwk["alg"] = json!(self.alg.name());
        jwk["use"] = json!("sig");
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The key set that verifies this key's tokens: the secret for HS*, else a JWKS of
    /// this one key parsed with [`KeySet::from_jwks_json`].
    pub fn key_set(&self) -> KeySet {
        match &self.signer {
            Signer::Hmac(secret) => KeySet::hmac(secret.clone()).expect("non-empty secret"),
            _ => KeySet::from_jwks_json(jwks(&[self]).as_bytes()).expect("JWKS of one key"),
        }
    }

    /// The public key bytes (PKCS#1 DER for RSA, the point for EC, the 32 bytes for
    /// Ed25519; the secret for HMAC), e.g. to forge an alg-confusion token with.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Hmac(secret) => secret.clone(),
            Signer::Rsa(pair) => pair.public().as_ref().to_vec(),
            Signer::Ecdsa(pair) => pair.public_key().as_ref().to_vec(),
            Signer::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        }
    }
}

fn ecdsa_signing(alg: Alg) -> &'static signature::EcdsaSigningAlgorithm {
    match alg {
        Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}
