//! Consumers: the callers a gateway knows by API key or basic credentials.
//!
//! The engine builds one [`ConsumerRegistry`] per config from the top-level `consumers:`
//! list and shares it read-only between shards. Secrets are kept only in the form needed to
//! check them: SHA-256 digests of API keys and the argon2/bcrypt hashes of passwords.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

/// One consumer as written in config; plain data that [`ConsumerRegistry::new`] checks.
#[derive(Debug, Clone, Default)]
pub struct ConsumerSpec {
    /// Unique, non-empty id; forwarded upstream and logged.
    pub id: String,
    /// API keys, each plain or `sha256:<64 hex digits>` (the digest of the plain key).
    pub api_keys: Vec<String>,
    /// Basic credentials: `(username, password_hash)`, where the hash is a PHC argon2 string
    /// (`$argon2id$`, `$argon2i$`, `$argon2d$`) or bcrypt (`$2a$`, `$2b$`, `$2y$`).
    pub basic: Option<(String, String)>,
    /// Roles, for `rbac`.
    pub roles: Vec<String>,
    /// Free-form key/value pairs, in config order.
    pub metadata: Vec<(String, String)>,
}

/// A known consumer, without its secrets. Shared by `Arc` with each request's
/// [`Identity`](crate::identity::Identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The configured id.
    pub id: String,
    /// Roles, for `rbac`.
    pub roles: Vec<String>,
    /// Free-form key/value pairs, in config order.
    pub metadata: Vec<(String, String)>,
}

/// Every configured consumer, indexed by API-key digest, username and id.
///
/// Look-ups are one hash-map probe, not a scan of the consumers. `Debug` prints counts only,
/// never digests or password hashes.
#[derive(Default)]
pub struct ConsumerRegistry {
    consumers: Vec<Arc<Consumer>>,
    by_id: HashMap<String, u32>,
    /// SHA-256 of each API key -> index into `consumers`.
    by_key: HashMap<[u8; 32], u32>,
    by_username: HashMap<String, BasicEntry>,
    /// A real stored hash verified for unknown usernames, so that a miss costs what a wrong
    /// password costs and response times do not tell which usernames exist.
    dummy: Option<StoredHash>,
}

/// A username's consumer and password hash.
#[derive(Debug, Clone)]
struct BasicEntry {
    consumer: u32,
    hash: StoredHash,
}

/// A validated password hash string and the scheme that checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredHash {
    pub(crate) text: Box<str>,
    kind: HashKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashKind {
    Argon2,
    Bcrypt,
}

const SHA256_PREFIX: &str = "sha256:";
const ARGON2_PREFIXES: [&str; 3] = ["$argon2id$", "$argon2i$", "$argon2d$"];
/// `$2x$` is left out on purpose: it marks hashes from a buggy implementation.
const BCRYPT_PREFIXES: [&str; 3] = ["$2a$", "$2b$", "$2y$"];

impl ConsumerRegistry {
    /// Checks `specs` and indexes them.
    ///
    /// Errors (one message naming the consumer, never a secret): an empty or duplicate id,
    /// an empty API key, a malformed `sha256:` key, a key used twice (by one consumer or
    /// two), an empty or duplicate username or one containing `:` (basic auth cannot carry
    /// it), and a password hash that is not well-formed argon2 or bcrypt.
    pub fn new(specs: Vec<ConsumerSpec>) -> Result<Self, String> {
        let mut reg = Self::default();
        for spec in specs {
            let index =
                u32::try_from(reg.consumers.len()).map_err(|_| "too many consumers".to_string())?;
            let id = spec.id;
            if id.is_empty() {
                return Err(format!("consumer #{}: empty id", index + 1));
            }
            if reg.by_id.insert(id.clone(), index).is_some() {
                return Err(format!("consumer `{id}`: duplicate id"));
            }
            for (n, key) in spec.api_keys.iter().enumerate() {
                let digest = key_digest(key)
                    .map_err(|e| format!("consumer `{id}`: api key #{}: {e}", n + 1))?;
                match reg.by_key.entry(digest) {
                    Entry::Vacant(v) => {
                        v.insert(index);
                    }
                    Entry::Occupied(o) => {
                        let other = reg.consumers.get(*o.get() as usize).map_or(&id, |c| &c.id);
                        return Err(format!(
                            "consumer `{id}`: api key #{} is already used by consumer `{other}`",
                            n + 1
                        ));
                    }
                }
            }
            if let Some((username, hash)) = spec.basic {
                if username.is_empty() || username.contains(':') {
                    return Err(format!(
                        "consumer `{id}`: basic username must be non-empty and without ':'"
                    ));
                }
                let hash = StoredHash::parse(&hash).map_err(|e| format!("consumer `{id}`: {e}"))?;
                if reg.dummy.is_none() {
                    reg.dummy = Some(hash.clone());
                }
                match reg.by_username.entry(username) {
                    Entry::Vacant(v) => {
                        v.insert(BasicEntry {
                            consumer: index,
                            hash,
                        });
                    }
                    Entry::Occupied(o) => {
                        return Err(format!(
                            "consumer `{id}`: basic username `{}` is already used",
                            o.key()
                        ));
                    }
                }
            }
            reg.consumers.push(Arc::new(Consumer {
                id,
                roles: spec.roles,
                metadata: spec.metadata,
            }));
        }
        Ok(reg)
    }

    /// Number of consumers.
    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    /// True when no consumers are configured.
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// Consumers in config order.
    pub fn consumers(&self) -> &[Arc<Consumer>] {
        &self.consumers
    }

    /// The consumer with this id, if any.
    pub fn by_id(&self, id: &str) -> Option<&Arc<Consumer>> {
        self.by_id
            .get(id)
            .and_then(|&i| self.consumers.get(i as usize))
    }

    /// The consumer owning the plain API key `key`, if any.
    ///
    /// Cost: one SHA-256 of the key and one hash-map probe, whatever the number of consumers.
    pub fn find_by_api_key(&self, key: &[u8]) -> Option<&Arc<Consumer>> {
        let wanted = sha256(key);
        let (stored, &index) = self.by_key.get_key_value(&wanted)?;
        // The map probe compared digests in variable time, which is harmless: it can tell an
        // attacker how much of the SHA-256 of their guess matched, and that says nothing
        // usable about any key. The constant-time compare is the check we rely on, so a
        // change of map cannot quietly turn into a timing leak on the keys themselves.
        if bool::from(stored.ct_eq(&wanted)) {
            self.consumers.get(index as usize)
        } else {
            None
        }
    }

    /// The consumer and password hash for `username`, if any.
    pub(crate) fn basic_user(&self, username: &str) -> Option<(&Arc<Consumer>, &StoredHash)> {
        let entry = self.by_username.get(username)?;
        Some((self.consumers.get(entry.consumer as usize)?, &entry.hash))
    }

    /// A hash to verify against when the username is unknown; `None` when no consumer has
    /// basic credentials (then there is no username to discover).
    pub(crate) fn dummy_hash(&self) -> Option<&StoredHash> {
        self.dummy.as_ref()
    }
}

impl fmt::Debug for ConsumerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRegistry")
            .field("consumers", &self.consumers.len())
            .field("api_keys", &self.by_key.len())
            .field("basic_users", &self.by_username.len())
            .finish()
    }
}

impl StoredHash {
    /// Validates a password hash string from config without hashing anything, so start-up
    /// stays fast however many consumers there are.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let kind = if ARGON2_PREFIXES.iter().any(|p| text.starts_with(p)) {
            let hash =
                PasswordHash::new(text).map_err(|e| format!("malformed argon2 hash: {e}"))?;
            argon2::Algorithm::try_from(hash.algorithm)
                .map_err(|e| format!("malformed argon2 hash: {e}"))?;
            argon2::Params::try_from(&hash)
                .map_err(|e| format!("malformed argon2 hash parameters: {e}"))?;
            if hash.salt.is_none() || hash.hash.is_none() {
                return Err("malformed argon2 hash: no salt or no hash".into());
            }
            HashKind::Argon2
        } else if BCRYPT_PREFIXES.iter().any(|p| text.starts_with(p)) {
            check_bcrypt(text)?;
            HashKind::Bcrypt
        } else {
            return Err(
                "password hash must be argon2 ($argon2id$...) or bcrypt ($2b$...)".to_string(),
            );
        };
        Ok(Self {
            text: text.into(),
            kind,
        })
    }

    /// True when `password` matches. Both schemes compare in constant time and cost the
    /// hash's own work factor. bcrypt reads only the first 72 bytes of a password, as every
    /// bcrypt implementation does.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self.kind {
            HashKind::Argon2 => match PasswordHash::new(&self.text) {
                // The parameters (algorithm, memory, passes, lanes) come from the stored
                // hash, not from `Argon2::default()`.
                Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
                Err(_) => false,
            },
            HashKind::Bcrypt => bcrypt::verify(password, &self.text).unwrap_or(false),
        }
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

/// A configured API key in its at-rest form, `sha256:<64 lower-case hex digits>`: a plain
/// key is hashed, a digest is returned lower-cased. Used to store admin-API consumers
/// without ever writing a plain key to disk.
///
/// # Errors
/// An empty key or a malformed `sha256:` digest.
pub fn api_key_at_rest(key: &str) -> Result<String, String> {
    let digest = key_digest(key)?;
    let mut out = String::with_capacity(SHA256_PREFIX.len() + 64);
    out.push_str(SHA256_PREFIX);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    Ok(out)
}

/// The digest to index a configured key by: `sha256:<hex>` decoded, or a plain key hashed.
fn key_digest(key: &str) -> Result<[u8; 32], String> {
    if let Some(hex) = key.strip_prefix(SHA256_PREFIX) {
        return decode_hex32(hex).ok_or_else(|| "sha256: needs exactly 64 hex digits".into());
    }
    if key.is_empty() {
        return Err("empty key".into());
    }
    Ok(sha256(key.as_bytes()))
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

/// The value of one hex digit, either case.
pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `$2b$NN$` + 22 salt and 31 hash characters of bcrypt's base64 alphabet, cost 4..=31.
/// Checked here because `bcrypt::verify` would only fail on the first request.
fn check_bcrypt(text: &str) -> Result<(), String> {
    const BAD: &str = "malformed bcrypt hash (expected $2b$NN$ and 53 characters)";
    let rest = text.get(4..).ok_or(BAD)?;
    let (cost, body) = rest.split_once('$').ok_or(BAD)?;
    let cost: u32 = match cost.len() {
        2 => cost.parse().map_err(|_| BAD)?,
        _ => return Err(BAD.into()),
    };
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is outside 4..=31"));
    }
    let alphabet_ok = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    if body.len() != 53 || !alphabet_ok {
        return Err(BAD.into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
