//! The pure core of `jwt-auth`: compact JWS parsing, signature verification with `ring`,
//! JWKS parsing, claims checks and a per-shard cache of verified tokens.
//!
//! Nothing here does I/O. The engine/shard layer extracts the token from the request,
//! fetches JWKS documents over HTTP, keeps one [`VerifiedCache`] per `jwt-auth` op per
//! shard, and calls [`authenticate`] (or the pieces it is made of) with the current time.
//!
//! Every failure is a [`JwtError`]; [`JwtError::message`] gives the exact text the client
//! sees, so the detail in the `Display` form stays in logs.

use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

pub mod cache;
pub mod claims;
pub mod keys;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod token;
pub mod verify;

pub use cache::VerifiedCache;
pub use claims::{check_claims, claim_at_path, claim_to_header_value, Validation};
pub use keys::{Key, KeyEntry, KeySet, KeyType, Lookup};
pub use token::{bearer_token, Header, MAX_TOKEN_BYTES};
pub use verify::verify_signature;

/// A token's claims set: the decoded payload, always a JSON object.
pub type Claims = Map<String, Value>;

/// A JWS algorithm this module can verify (RFC 7518 names, plus `EdDSA` from RFC 8037
/// restricted to Ed25519). `none` is deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt).
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037; Ed448 is not supported).
    EdDSA,
}

/// Why a token (or a key set) was refused. [`JwtError::message`] maps each variant to
/// the client-facing text; the `Display` form carries detail for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// No token where the op looks for one (or the header uses another auth scheme).
    #[error("missing bearer token")]
    MissingToken,
    /// The token is longer than [`MAX_TOKEN_BYTES`]; refused before any decoding.
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// Not three parts, bad base64url, bad JSON, claims not an object, an unknown `crit`
    /// header, or a time claim that is not a number. The text says which.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header says `alg: none` (in any case).
    #[error("alg none is refused")]
    AlgNone,
    /// The header names an algorithm this module does not implement.
    #[error("unsupported alg {0:?}")]
    UnsupportedAlg(String),
    /// The algorithm is known but not in the op's allowed list.
    #[error("alg {0} is not allowed")]
    AlgNotAllowed(Alg),
    /// No key of the type the algorithm needs (e.g. an HS256 token against RSA keys, or a
    /// `kid` that selects an EC key for an RS256 token).
    #[error("no {alg} key for kid {kid:?}")]
    KeyMismatch {
        /// The token's algorithm.
        alg: Alg,
        /// The token's `kid`, if any.
        kid: Option<String>,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The token names a `kid` that the key set does not have: the caller may refetch the
    /// JWKS once and try again.
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    /// No key set is loaded (a JWKS that never loaded): the engine answers 502 `jwks_error`.
    #[error("no keys loaded")]
    NoKeys,
    /// A JWKS document that could not be used at all (the text says why).
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// `exp` has passed (beyond the clock skew).
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead (beyond the clock skew).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future beyond the clock skew.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is absent or differs from the configured issuer.
    #[error("invalid issuer")]
    InvalidIssuer,
    /// `aud` is absent or names none of the configured audiences.
    #[error("invalid audience")]
    InvalidAudience,
    /// A required claim (or `exp` when `require_exp` holds) is absent or has another value.
    #[error("missing required claim {0}")]
    MissingClaim(String),
}

/// A token whose signature verified against a key set. Only [`decode_and_verify`] makes
/// one, so holding one (e.g. in [`VerifiedCache`]) means the signature was checked; the
/// time-dependent claims still need [`check_claims`] on every request.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    header: Header,
    /// Shared so a cache hit hands the claims to the request context without a copy.
    claims: Rc<Claims>,
}

impl Alg {
    /// Every supported algorithm, in a fixed order (HMAC, RSA PKCS#1, RSA-PSS, ECDSA, EdDSA).
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The algorithm named `name` (case-sensitive, as RFC 7515 requires); `None` for
    /// `none` and anything unsupported.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The registered name, e.g. `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The only key type that can verify this algorithm.
    pub fn key_type(self) -> KeyType {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => KeyType::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                KeyType::Rsa
            }
            Alg::ES256 => KeyType::EcP256,
            Alg::ES384 => KeyType::EcP384,
            Alg::EdDSA => KeyType::Ed25519,
        }
    }

    /// The algorithms a key of type `kt` can verify: the default `algorithms` list for it.
    pub fn for_key_type(kt: KeyType) -> &'static [Alg] {
        match kt {
            KeyType::Hmac => &[Alg::HS256, Alg::HS384, Alg::HS512],
            KeyType::Rsa => &[
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
            ],
            KeyType::EcP256 => &[Alg::ES256],
            KeyType::EcP384 => &[Alg::ES384],
            KeyType::Ed25519 => &[Alg::EdDSA],
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl JwtError {
    /// The exact client-facing message: one of `Missing bearer token`, `Invalid token`,
    /// `Invalid signature`, `Token expired`, `Token not yet valid`, `Invalid issuer`,
    /// `Invalid audience` or `Missing required claim <name>`.
    ///
    /// An unknown `kid` (after the refetch) reads `Invalid signature`: no key verifies it.
    /// [`JwtError::NoKeys`] and [`JwtError::InvalidJwks`] are server-side failures the
    /// engine turns into 502 `jwks_error` (see [`JwtError::is_key_source_error`]); should
    /// one reach a client anyway it reads `Invalid token`, which reveals nothing.
    pub fn message(&self) -> String {
        let text = match self {
            JwtError::MissingToken => "Missing bearer token",
            JwtError::TooLarge
            | JwtError::Malformed(_)
            | JwtError::AlgNone
            | JwtError::UnsupportedAlg(_)
            | JwtError::AlgNotAllowed(_)
            | JwtError::IssuedInFuture
            | JwtError::NoKeys
            | JwtError::InvalidJwks(_) => "Invalid token",
            JwtError::KeyMismatch { .. } | JwtError::BadSignature | JwtError::UnknownKid(_) => {
                "Invalid signature"
            }
            JwtError::Expired => "Token expired",
            JwtError::NotYetValid => "Token not yet valid",
            JwtError::InvalidIssuer => "Invalid issuer",
            JwtError::InvalidAudience => "Invalid audience",
            JwtError::MissingClaim(name) => return format!("Missing required claim {name}"),
        };
        text.to_owned()
    }

    /// `true` for [`JwtError::UnknownKid`]: the key set may be stale, so the caller may
    /// refetch the JWKS (single-flight, rate-limited) and verify once more.
    pub fn wants_key_refetch(&self) -> bool {
        matches!(self, JwtError::UnknownKid(_))
    }

    /// `true` when the fault is the key source, not the token ([`JwtError::NoKeys`],
    /// [`JwtError::InvalidJwks`]): 502 `jwks_error` rather than 401.
    pub fn is_key_source_error(&self) -> bool {
        matches!(self, JwtError::NoKeys | JwtError::InvalidJwks(_))
    }

    /// The `WWW-Authenticate` value for the 401: `Bearer` alone when no token was sent
    /// (RFC 6750 §3.1 says to give no error code then), else `Bearer error="invalid_token"`.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            JwtError::MissingToken => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        }
    }
}

impl VerifiedToken {
    /// The verified JOSE header (`alg`, `kid`, `typ`).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The verified claims set.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claims as a shared handle (a reference-count increment, no copy).
    pub fn shared_claims(&self) -> Rc<Claims> {
        Rc::clone(&self.claims)
    }
}

/// Parses `token`, checks its header against `allowed`, picks the key from `keys` by `kid`
/// and algorithm, verifies the signature, and only then decodes the claims.
///
/// Refuses (see [`JwtError`]): tokens over [`MAX_TOKEN_BYTES`], anything but three strict
/// base64url parts, non-JSON header or claims, claims that are not an object, `alg: none`,
/// an `alg` not in `allowed`, a key of the wrong type for the `alg` (the classic HS256-
/// with-an-RSA-public-key confusion fails here: no HMAC key is in an RSA key set), and a
/// signature mismatch. Claims are not checked here: call [`check_claims`] (or use
/// [`authenticate`], which does both and caches).
pub fn decode_and_verify(
    token: &str,
    keys: &KeySet,
    allowed: &[Alg],
) -> Result<VerifiedToken, JwtError> {
    let parts = token::split(token)?;
    let header = token::parse_header(&token::decode_part(parts.header)?)?;
    if !allowed.contains(&header.alg) {
        return Err(JwtError::AlgNotAllowed(header.alg));
    }
    let signature = token::decode_part(parts.signature)?;
    keys.verify(
        header.kid.as_deref(),
        header.alg,
        parts.signing_input.as_bytes(),
        &signature,
    )?;
    // The payload is decoded only once the signature holds, so a forged token costs no
    // JSON parsing and cannot probe the parser.
    let claims = token::parse_claims(&token::decode_part(parts.payload)?)?;
    Ok(VerifiedToken {
        header,
        claims: Rc::new(claims),
    })
}

/// The whole check for one request: a cache hit skips the signature, a miss runs
/// [`decode_and_verify`]; [`check_claims`] runs either way with `now` (unix seconds),
/// and only a token that passed both is admitted to `cache`.
///
/// `cache` must belong to this op (one per `jwt-auth` op per shard, emptied when its
/// keys or `allowed` change): a hit means "verified against these keys", so a cache
/// shared between ops with different keys would let one op's tokens through another.
pub fn authenticate(
    token: &str,
    keys: &KeySet,
    allowed: &[Alg],
    validation: &Validation,
    cache: &mut VerifiedCache,
    now: u64,
) -> Result<Rc<VerifiedToken>, JwtError> {
    // Checked before hashing so an oversized token costs nothing.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let digest = cache::TokenDigest::of(token);
    if let Some(hit) = cache.get_digest(&digest, now) {
        check_claims(hit.claims(), validation, now)?;
        return Ok(hit);
    }
    let verified = decode_and_verify(token, keys, allowed)?;
    check_claims(verified.claims(), validation, now)?;
    Ok(cache.insert_digest(digest, verified, now))
}

#[cfg(test)]
mod tests;
