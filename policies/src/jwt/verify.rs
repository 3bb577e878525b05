//! Signature verification: one `match` from algorithm and key to the ring primitive.

use ring::hmac;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::{Alg, JwtError, Key};

/// Verifies a JWS `signature` over `signing_input` (the ASCII `header.payload`) with
/// `key` under `alg`.
///
/// [`JwtError::KeyMismatch`] when the key is not of the type `alg` needs, so an HMAC
/// algorithm never runs with public-key bytes as its secret; [`JwtError::BadSignature`]
/// when the signature does not verify (including a wrong length, an RSA modulus ring
/// refuses, or an EC point off the curve). HMAC tags are compared in constant time.
pub fn verify_signature(
    alg: Alg,
    key: &Key,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let mismatch = || JwtError::KeyMismatch { alg, kid: None };
    let ok = match key {
        Key::Hmac(secret) => {
            let hmac_alg = hmac_algorithm(alg).ok_or_else(mismatch)?;
            // `hmac::verify` compares in constant time; `==` on tags would leak timing.
            hmac::verify(&hmac::Key::new(hmac_alg, secret), signing_input, signature).is_ok()
        }
        Key::Rsa { n, e } => {
            let params = rsa_parameters(alg).ok_or_else(mismatch)?;
            RsaPublicKeyComponents { n, e }
                .verify(params, signing_input, signature)
                .is_ok()
        }
        // JWS ECDSA signatures are the fixed-width r || s (RFC 7518 §3.4), not ASN.1.
        Key::EcP256 { point } if alg == Alg::ES256 => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signing_input, signature)
                .is_ok()
        }
        Key::EcP384 { point } if alg == Alg::ES384 => {
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(signing_input, signature)
                .is_ok()
        }
        Key::Ed25519 { x } if alg == Alg::EdDSA => UnparsedPublicKey::new(&signature::ED25519, x)
            .verify(signing_input, signature)
            .is_ok(),
        Key::EcP256 { .. } | Key::EcP384 { .. } | Key::Ed25519 { .. } => return Err(mismatch()),
    };
    if ok {
        Ok(())
    } else {
        Err(JwtError::BadSignature)
    }
}

fn hmac_algorithm(alg: Alg) -> Option<hmac::Algorithm> {
    match alg {
        Alg::HS256 => Some(hmac::HMAC_SHA256),
        Alg::HS384 => Some(hmac::HMAC_SHA384),
        Alg::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn rsa_parameters(alg: Alg) -> Option<&'static signature::RsaParameters> {
    match alg {
        Alg::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        Alg::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        Alg::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        Alg::PS256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
        Alg::PS384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
        Alg::PS512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    }
}
