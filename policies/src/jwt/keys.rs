//! Verification keys: the [`Key`] material, [`KeySet`] built from a secret, from JWKS JSON
//! (RFC 7517/7518/8037) or from PEM/DER public keys, and key selection by `kid` and `alg`.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::Deserialize;
use serde_json::Value;

use super::{token, verify, Alg, JwtError};

/// Most keys kept from one JWKS. A token without `kid` is tried against every key of the
/// right type, so this bounds the work a forged kid-less token can cause.
pub const MAX_JWKS_KEYS: usize = 32;

/// Smallest and largest RSA modulus ring verifies with the `*_2048_8192_*` parameters.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// JWK members are base64url without padding (RFC 7518 §6), but a JWKS comes from the
/// operator's own identity provider, so padding is tolerated there rather than dropping
/// a key over it. Tokens themselves are decoded strictly (`token::decode_part`).
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The kind of key an algorithm needs (see [`Alg::key_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA public key (RS*, PS*).
    Rsa,
    /// A NIST P-256 public key (ES256).
    EcP256,
    /// A NIST P-384 public key (ES384).
    EcP384,
    /// An Ed25519 public key (EdDSA).
    Ed25519,
}

/// Public key material (or the HMAC secret). Values are checked when built through the
/// constructors and parsers here; ring checks them again at each verification.
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    /// An HMAC secret (HS256/384/512). `Debug` does not print it.
    Hmac(Vec<u8>),
    /// An RSA public key.
    Rsa {
        /// Modulus, big-endian without leading zeros (2048..=8192 bits).
        n: Vec<u8>,
        /// Public exponent, big-endian without leading zeros.
        e: Vec<u8>,
    },
    /// A P-256 public key.
    EcP256 {
        /// The uncompressed point `0x04 || x || y` (65 bytes).
        point: Vec<u8>,
    },
    /// A P-384 public key.
    EcP384 {
        /// The uncompressed point `0x04 || x || y` (97 bytes).
        point: Vec<u8>,
    },
    /// An Ed25519 public key.
    Ed25519 {
        /// The 32-byte public key.
        x: Vec<u8>,
    },
}

/// One key with the JWK metadata that selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The JWK `kid`; a key without one may verify tokens with any `kid`.
    pub kid: Option<String>,
    /// The JWK `alg`: when present, the only algorithm this key verifies.
    pub alg: Option<Alg>,
    /// The key material.
    pub key: Key,
}

/// The keys one `jwt-auth` op verifies against; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
    skipped: usize,
}

/// What [`KeySet::find`] found for a token's `kid` and `alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A key that can verify the token.
    Found(&'a KeyEntry),
    /// The token names a `kid` no key has (and no kid-less key of the right type exists):
    /// the key set may be stale, so the caller may refetch.
    UnknownKid,
    /// Keys exist for the `kid` (or, without `kid`, at all) but none of the type `alg`
    /// needs: refused, never refetched.
    WrongType,
}

/// One JWK as it arrives; everything optional so a malformed key is skipped, not fatal.
/// Private members (`d`, `p`, ...) are never read.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<Value>,
}

impl Key {
    /// An HMAC secret; [`JwtError::NoKeys`] when it is empty. RFC 7518 §3.2 asks for at
    /// least as many bytes as the hash output (32 for HS256); shorter ones are accepted
    /// here and left for config validation to warn about.
    pub fn hmac(secret: impl Into<Vec<u8>>) -> Result<Key, JwtError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(JwtError::NoKeys);
        }
        Ok(Key::Hmac(secret))
    }

    /// An RSA public key from big-endian `n` and `e` (leading zeros are stripped). Refused
    /// when the modulus is outside 2048..=8192 bits or the exponent is even or below 3.
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<Key, JwtError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = match n.first() {
            Some(top) => n.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(bad_key("RSA modulus size"));
        }
        // ring takes exponents of 3..2^33 that are odd.
        let e_ok = (1..=5).contains(&e.len())
            && e.last().is_some_and(|b| b & 1 == 1)
            && (e.len() > 1 || e[0] >= 3);
        if !e_ok {
            return Err(bad_key("RSA exponent"));
        }
        Ok(Key::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// A P-256 key from its 32-byte affine coordinates.
    pub fn ec_p256(x: &[u8], y: &[u8]) -> Result<Key, JwtError> {
        ec_point(x, y, 32).map(|point| Key::EcP256 { point })
    }

    /// A P-384 key from its 48-byte affine coordinates.
    pub fn ec_p384(x: &[u8], y: &[u8]) -> Result<Key, JwtError> {
        ec_point(x, y, 48).map(|point| Key::EcP384 { point })
    }

    /// An Ed25519 key from its 32 bytes.
    pub fn ed25519(x: &[u8]) -> Result<Key, JwtError> {
        if x.len() != 32 {
            return Err(bad_key("Ed25519 key length"));
        }
        Ok(Key::Ed25519 { x: x.to_vec() })
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            Key::Hmac(_) => KeyType::Hmac,
            Key::Rsa { .. } => KeyType::Rsa,
            Key::EcP256 { .. } => KeyType::EcP256,
            Key::EcP384 { .. } => KeyType::EcP384,
            Key::Ed25519 { .. } => KeyType::Ed25519,
        }
    }

    /// A public key from DER: SubjectPublicKeyInfo (RSA, EC P-256/P-384, Ed25519) or a
    /// PKCS#1 `RSAPublicKey`.
    pub fn from_der(der: &[u8]) -> Result<Key, JwtError> {
        let (spki, rest) = der::take(der, der::SEQUENCE).ok_or(bad_key("DER"))?;
        if !rest.is_empty() {
            return Err(bad_key("DER trailing bytes"));
        }
        if spki.first() == Some(&der::INTEGER) {
            return rsa_public_key(spki);
        }
        // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID, params }, BIT STRING }
        let (alg_id, rest) = der::take(spki, der::SEQUENCE).ok_or(bad_key("DER"))?;
        let (bits, rest) = der::take(rest, der::BIT_STRING).ok_or(bad_key("DER"))?;
        if !rest.is_empty() {
            return Err(bad_key("DER"));
        }
        let key = match bits.split_first() {
            Some((0, key)) => key,
            _ => return Err(bad_key("DER bit string")),
        };
        let (oid, params) = der::take(alg_id, der::OID).ok_or(bad_key("DER"))?;
        match oid {
            der::OID_RSA => {
                let (inner, rest) = der::take(key, der::SEQUENCE).ok_or(bad_key("DER"))?;
                if !rest.is_empty() {
                    return Err(bad_key("DER trailing bytes"));
                }
                rsa_public_key(inner)
            }
            der::OID_ED25519 => Key::ed25519(key),
            der::OID_EC => {
                let (curve, _) = der::take(params, der::OID).ok_or(bad_key("EC curve"))?;
                let point = |len: usize| {
                    (key.len() == 1 + 2 * len && key[0] == 4)
                        .then(|| key.to_vec())
                        .ok_or(bad_key("EC point"))
                };
                match curve {
                    der::OID_P256 => point(32).map(|point| Key::EcP256 { point }),
                    der::OID_P384 => point(48).map(|point| Key::EcP384 { point }),
                    _ => Err(bad_key("unsupported EC curve")),
                }
            }
            _ => Err(bad_key("unsupported key algorithm")),
        }
    }

    /// A public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
    /// (PKCS#1). The first PEM block is used.
    pub fn from_pem(pem: &str) -> Result<Key, JwtError> {
        let mut body = String::new();
        let mut inside = false;
        for line in pem.lines().map(str::trim) {
            if line.starts_with("-----BEGIN ") {
                if !matches!(
                    line,
                    "-----BEGIN PUBLIC KEY-----" | "-----BEGIN RSA PUBLIC KEY-----"
                ) {
                    return Err(bad_key("PEM type"));
                }
                inside = true;
            } else if line.starts_with("-----END ") {
                if inside {
                    let der = STANDARD.decode(&body).map_err(|_| bad_key("PEM base64"))?;
                    return Key::from_der(&der);
                }
            } else if inside {
                body.push_str(line);
            }
        }
        Err(bad_key("no PEM block"))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Secrets end up in logs through `Debug` of config structs; print the length only.
            Key::Hmac(secret) => write!(f, "Hmac(<{} bytes>)", secret.len()),
            Key::Rsa { n, .. } => write!(f, "Rsa(<{} bits>)", n.len() * 8),
            Key::EcP256 { .. } => f.write_str("EcP256"),
            Key::EcP384 { .. } => f.write_str("EcP384"),
            Key::Ed25519 { .. } => f.write_str("Ed25519"),
        }
    }
}

impl KeyEntry {
    /// A key with no `kid` and no `alg` restriction.
    pub fn new(key: Key) -> KeyEntry {
        KeyEntry {
            kid: None,
            alg: None,
            key,
        }
    }

    /// `true` when this key may verify `alg`: the key type matches and the JWK `alg`, if
    /// any, is `alg`.
    pub fn accepts(&self, alg: Alg) -> bool {
        self.key.key_type() == alg.key_type() && (self.alg.is_none() || self.alg == Some(alg))
    }
}

impl KeySet {
    /// A set of the given keys; [`JwtError::NoKeys`] when `entries` is empty.
    pub fn new(entries: Vec<KeyEntry>) -> Result<KeySet, JwtError> {
        if entries.is_empty() {
            return Err(JwtError::NoKeys);
        }
        Ok(KeySet {
            entries,
            skipped: 0,
        })
    }

    /// The set for a `secret` option: one HMAC key, no `kid`.
    pub fn hmac(secret: impl Into<Vec<u8>>) -> Result<KeySet, JwtError> {
        KeySet::new(vec![KeyEntry::new(Key::hmac(secret)?)])
    }

    /// Parses a JWKS document (`{"keys": [...]}`).
    ///
    /// Keys are skipped, not fatal, when `use` is present and not `sig`, `key_ops` lacks
    /// `verify`, the `alg` is unsupported or does not fit the key, the `kty`/`crv` is
    /// unsupported (`oct` included: a fetched JWKS has no business carrying secrets, and
    /// refusing them keeps HMAC out of an asymmetric key set), a member is missing or
    /// malformed, or [`MAX_JWKS_KEYS`] are already kept. [`KeySet::skipped`] counts them.
    /// [`JwtError::InvalidJwks`] when the document is not a JWKS or no key is usable.
    pub fn from_jwks_json(json: &[u8]) -> Result<KeySet, JwtError> {
        if !token::starts_as_object(json) {
            return Err(JwtError::InvalidJwks("not a JSON object".to_owned()));
        }
        let raw: RawJwks = serde_json::from_slice(json)
            .map_err(|e| JwtError::InvalidJwks(format!("not a JWKS document: {e}")))?;
        let mut entries = Vec::new();
        let mut skipped = 0;
        for value in &raw.keys {
            match parse_jwk(value) {
                Some(entry) if entries.len() < MAX_JWKS_KEYS => entries.push(entry),
                _ => skipped += 1,
            }
        }
        if entries.is_empty() {
            return Err(JwtError::InvalidJwks(format!(
                "no usable signing key among {} keys",
                raw.keys.len()
            )));
        }
        Ok(KeySet { entries, skipped })
    }

    /// The keys, in document order.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// How many JWKS keys were skipped as unusable (0 for sets not built from JWKS); worth
    /// a log line when a key the operator expected is missing.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The default `algorithms` list: every algorithm some key here accepts, in
    /// [`Alg::ALL`] order. An HMAC secret gives HS256/384/512; a JWKS gives RS/PS, ES or
    /// EdDSA by its keys, never HS.
    pub fn default_algorithms(&self) -> Vec<Alg> {
        Alg::ALL
            .into_iter()
            .filter(|&a| self.entries.iter().any(|k| k.accepts(a)))
            .collect()
    }

    /// The first key that may verify a token with this `kid` and `alg`.
    ///
    /// With a `kid`, keys with that `kid` are searched; when none has it, keys without a
    /// `kid` stand in (a `secret`, or a JWKS whose keys carry no ids), and only if there
    /// are none of the right type is it [`Lookup::UnknownKid`]. Without a `kid`, any key
    /// of the right type is taken.
    pub fn find(&self, kid: Option<&str>, alg: Alg) -> Lookup<'_> {
        match self.candidates(kid, alg) {
            Ok(mut keys) => keys.next().map_or(Lookup::WrongType, Lookup::Found),
            Err(JwtError::UnknownKid(_)) => Lookup::UnknownKid,
            Err(_) => Lookup::WrongType,
        }
    }

    /// Verifies `signature` over `signing_input` with the key(s) [`KeySet::find`] would
    /// choose. A token without a `kid` is tried against each key of the right type (at
    /// most [`MAX_JWKS_KEYS`]), so a rotation that publishes two keys still works.
    pub fn verify(
        &self,
        kid: Option<&str>,
        alg: Alg,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        let mut tried = false;
        for entry in self.candidates(kid, alg)? {
            tried = true;
            if verify::verify_signature(alg, &entry.key, signing_input, signature).is_ok() {
                return Ok(());
            }
        }
        if tried {
            Err(JwtError::BadSignature)
        } else {
            Err(JwtError::KeyMismatch {
                alg,
                kid: kid.map(str::to_owned),
            })
        }
    }

    /// The keys that may verify (`kid`, `alg`), or [`JwtError::UnknownKid`].
    fn candidates<'a>(
        &'a self,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<impl Iterator<Item = &'a KeyEntry> + 'a, JwtError> {
        // Which `kid` a key must carry: any (no token kid), exactly the token's, or none
        // (the token's kid is unknown and kid-less keys stand in).
        let want = match kid {
            None => None,
            // The kid is taken from the key set, so the iterator does not borrow the token.
            Some(k) => match self
                .entries
                .iter()
                .find_map(|e| e.kid.as_deref().filter(|own| *own == k))
            {
                Some(own) => Some(Some(own)),
                None if self
                    .entries
                    .iter()
                    .any(|e| e.kid.is_none() && e.accepts(alg)) =>
                {
                    Some(None)
                }
                None => return Err(JwtError::UnknownKid(k.to_owned())),
            },
        };
        Ok(self.filter_keys(alg, want))
    }

    /// Keys accepting `alg` whose `kid` is `want` (any key when `want` is `None`).
    fn filter_keys<'a>(
        &'a self,
        alg: Alg,
        want: Option<Option<&'a str>>,
    ) -> impl Iterator<Item = &'a KeyEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.accepts(alg) && want.iter().all(|&w| e.kid.as_deref() == w))
    }
}

/// One JWK to a key entry; `None` when it is skipped (see [`KeySet::from_jwks_json`]).
fn parse_jwk(value: &Value) -> Option<KeyEntry> {
    if !value.is_object() {
        return None;
    }
    let jwk = RawJwk::deserialize(value).ok()?;
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return None;
    }
    let alg = match jwk.alg.as_deref() {
        Some(name) => Some(Alg::from_name(name)?),
        None => None,
    };
    let b64 = |member: &Option<String>| JWK_BASE64.decode(member.as_deref()?).ok();
    let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => Key::rsa(&b64(&jwk.n)?, &b64(&jwk.e)?),
        ("EC", Some("P-256")) => Key::ec_p256(&b64(&jwk.x)?, &b64(&jwk.y)?),
        ("EC", Some("P-384")) => Key::ec_p384(&b64(&jwk.x)?, &b64(&jwk.y)?),
        ("OKP", Some("Ed25519")) => Key::ed25519(&b64(&jwk.x)?),
        _ => return None,
    }
    .ok()?;
    let entry = KeyEntry {
        kid: jwk.kid,
        alg,
        key,
    };
    // A JWK whose `alg` needs another key type is inconsistent; trust neither half.
    match alg {
        Some(a) if !entry.accepts(a) => None,
        _ => Some(entry),
    }
}

/// The contents of a PKCS#1 `RSAPublicKey`: `INTEGER n, INTEGER e`.
fn rsa_public_key(contents: &[u8]) -> Result<Key, JwtError> {
    let (n, rest) = der::take(contents, der::INTEGER).ok_or(bad_key("DER"))?;
    let (e, rest) = der::take(rest, der::INTEGER).ok_or(bad_key("DER"))?;
    if !rest.is_empty() {
        return Err(bad_key("DER trailing bytes"));
    }
    Key::rsa(n, e)
}

fn ec_point(x: &[u8], y: &[u8], len: usize) -> Result<Vec<u8>, JwtError> {
    if x.len() != len || y.len() != len {
        return Err(bad_key("EC coordinate length"));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

fn bad_key(what: &str) -> JwtError {
    JwtError::InvalidJwks(format!("bad key: {what}"))
}

/// Just enough DER to take public keys apart: definite lengths, single-byte tags.
mod der {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    /// 1.2.840.113549.1.1.1 rsaEncryption
    pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// 1.2.840.10045.2.1 id-ecPublicKey
    pub const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// 1.2.840.10045.3.1.7 prime256v1
    pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// 1.3.132.0.34 secp384r1
    pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// 1.3.101.112 Ed25519
    pub const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

    /// Splits one `tag` element off the front of `input`: (contents, rest).
    pub fn take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form; keys here are far below 2^32 bytes.
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        Some(rest.split_at(len))
    }
}
