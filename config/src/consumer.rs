//! `consumers:`: the identities `api-key-auth` and `basic-auth` authenticate, with their
//! credentials, roles and metadata; and the checks that tie those policies to them.

use std::collections::HashMap;

use serde_yaml_ng::Value;

use crate::env::key_text;
use crate::error::{self, Errors};
use crate::model::{ConsumerSpec, PolicyKind, PolicySpec};
use crate::raw::{self, kind, RawBasicCredentials, RawConsumer, Scalar};
use crate::validate::required;

/// What marks an API key as a SHA-256 digest rather than the key itself.
const SHA256_PREFIX: &str = "sha256:";
/// Hex digits in a SHA-256 digest.
const SHA256_HEX_LEN: usize = 64;
/// Length of the salt-and-hash part of a bcrypt hash (22 salt + 31 hash characters).
const BCRYPT_BODY_LEN: usize = 53;
/// bcrypt's cost is a base-2 exponent; implementations accept 4..=31.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;
/// The one message for a `password_hash` that is not a hash; the value is never echoed, as
/// it may be a password written by mistake.
const NOT_A_HASH: &str =
    "password_hash must be an argon2 or bcrypt hash (plain passwords are not accepted)";

/// `consumers` (absent or empty = no consumers). Ids, API keys and basic usernames are each
/// unique across the whole list.
pub(crate) fn list(
    value: Option<Value>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<ConsumerSpec>> {
    let items = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            errors.add(
                path,
                format!("expected a list of consumers, found {}", kind(&other)),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    // Value -> path of its first use, for the "also used by" part of messages.
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut usernames: HashMap<String, String> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = error::index(path, i);
        let Some(spec) = consumer(item, &at, errors) else {
            ok = false;
            continue;
        };
        let id_at = error::key(&at, "id");
        if let Some(first) = ids.get(&spec.id) {
            errors.add(
                &id_at,
                format!("duplicate consumer id {:?} (also used by {first})", spec.id),
            );
            ok = false;
        } else {
            ids.insert(spec.id.clone(), at.clone());
        }
        let keys_at = error::key(&at, "api_keys");
        for (k, key) in spec.api_keys.iter().enumerate() {
            let key_at = error::index(&keys_at, k);
            if let Some(first) = keys.get(key) {
                // The key itself is a secret: name where it is, never what it is.
                errors.add(&key_at, format!("this key is also listed at {first}"));
                ok = false;
            } else {
                keys.insert(key.clone(), key_at);
            }
        }
        if let Some((username, _)) = &spec.basic {
            if let Some(first) = usernames.get(username) {
                errors.add(
                    &error::key(&at, "basic.username"),
                    format!("duplicate username {username:?} (also used by {first})"),
                );
                ok = false;
            } else {
                usernames.insert(username.clone(), at.clone());
            }
        }
        out.push(spec);
    }
    ok.then_some(out)
}

/// Checks that each `api-key-auth` and `basic-auth` entry of `policies` has a consumer it
/// could let in; a policy that refuses every request is a config mistake, not a lock.
pub(crate) fn check_policies(
    policies: &[PolicySpec],
    consumers: &[ConsumerSpec],
    errors: &mut Errors,
) {
    for policy in policies {
        let has_credentials = match policy.kind {
            PolicyKind::ApiKeyAuth(_) => consumers.iter().any(|c| !c.api_keys.is_empty()),
            PolicyKind::BasicAuth(_) => consumers.iter().any(|c| c.basic.is_some()),
            PolicyKind::JwtAuth(_)
            | PolicyKind::Rbac(_)
            | PolicyKind::OAuth2(_)
            | PolicyKind::RateLimit(_)
            | PolicyKind::Cors(_)
            | PolicyKind::RequestLimit(_)
            | PolicyKind::SslEnforce(_)
            | PolicyKind::OverrideMethod(_)
            | PolicyKind::JsonThreatProtection(_)
            | PolicyKind::RegexThreatProtection(_)
            | PolicyKind::GeoIpFilter(_)
            | PolicyKind::Cache(_)
            | PolicyKind::IpFilter(_)
            | PolicyKind::RequestTransform(_)
            | PolicyKind::ResponseTransform(_)
            | PolicyKind::Mock(_)
            | PolicyKind::Timeout(_)
            | PolicyKind::Retry(_)
            | PolicyKind::CircuitBreaker(_)
            | PolicyKind::LatencyInjection(_)
            | PolicyKind::FaultInjection(_)
            | PolicyKind::TrafficShadow(_)
            | PolicyKind::DynamicRouting(_)
            | PolicyKind::HttpCallout(_)
            | PolicyKind::Interrupt(_)
            | PolicyKind::RequestLog(_) => continue,
        };
        if consumers.is_empty() {
            errors.add(
                &policy.field_path,
                "no consumers are configured, so every request would be refused",
            );
        } else if !has_credentials {
            let what = match policy.kind {
                PolicyKind::BasicAuth(_) => "basic credentials",
                _ => "api_keys",
            };
            errors.add(
                &policy.field_path,
                format!("no consumer has {what}, so every request would be refused"),
            );
        }
    }
}

fn consumer(value: Value, path: &str, errors: &mut Errors) -> Option<ConsumerSpec> {
    let raw: RawConsumer = raw::object(value, path, &[], errors)?;
    let id = required(raw.id, path, "id", errors)
        .and_then(|id| errors.check(&error::key(path, "id"), consumer_id(&id.0)));
    let keys_at = error::key(path, "api_keys");
    let api_keys: Vec<Option<String>> = raw
        .api_keys
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, key)| errors.check(&error::index(&keys_at, i), api_key(&key.0)))
        .collect();
    let basic = match raw.basic {
        Some(value) => basic(value, &error::key(path, "basic"), errors).map(Some),
        None => Some(None),
    };
    let roles = roles(raw.roles, &error::key(path, "roles"), errors);
    let metadata_at = error::key(path, "metadata");
    let metadata: Vec<Option<(String, String)>> = raw
        .metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let at = error::key(&metadata_at, &key_text(&k));
            let name = match k {
                Value::String(name) if !name.is_empty() => Some(name),
                Value::String(_) => {
                    errors.add(&at, "metadata keys must not be empty");
                    None
                }
                _ => {
                    errors.add(&at, "metadata keys must be strings");
                    None
                }
            };
            let value = match Scalar::from_value(&v) {
                Some(Scalar(text)) => Some(text),
                None => {
                    errors.add(&at, format!("expected a single value, found {}", kind(&v)));
                    None
                }
            };
            Some((name?, value?))
        })
        .collect();
    Some(ConsumerSpec {
        id: id?,
        api_keys: api_keys.into_iter().collect::<Option<_>>()?,
        basic: basic?,
        roles: roles?,
        metadata: metadata.into_iter().collect::<Option<_>>()?,
        field_path: path.to_owned(),
    })
}

/// A list of role or permission names at `path` (absent = empty): each non-blank and listed
/// once. Shared with `rbac`.
pub(crate) fn roles(
    list: Option<Vec<Scalar>>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, Scalar(name)) in list.unwrap_or_default().into_iter().enumerate() {
        let at = error::index(path, i);
        if name.trim().is_empty() {
            errors.add(&at, "must not be empty");
            ok = false;
        } else if out.contains(&name) {
            errors.add(&at, format!("{name:?} is listed twice"));
            ok = false;
        } else {
            out.push(name);
        }
    }
    ok.then_some(out)
}

/// The consumer id: forwarded upstream in a header, so it must be a valid header value
/// that survives the peer's whitespace trimming unchanged.
fn consumer_id(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().any(char::is_control) || text.trim() != text {
        return Err(format!(
            "consumer id {text:?} must not contain control characters or leading or trailing \
             whitespace (it is forwarded in a header)"
        ));
    }
    Ok(text.to_owned())
}

/// A plain key, or `sha256:` and 64 hex digits; the digest's hex is lower-cased so that
/// equal digests compare equal.
fn api_key(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    let Some(hex) = text.strip_prefix(SHA256_PREFIX) else {
        return Ok(text.to_owned());
    };
    if hex.len() != SHA256_HEX_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "a key starting with \"{SHA256_PREFIX}\" must be followed by {SHA256_HEX_LEN} hex \
             digits (the SHA-256 digest of the key)"
        ));
    }
    Ok(format!("{SHA256_PREFIX}{}", hex.to_ascii_lowercase()))
}

fn basic(value: Value, path: &str, errors: &mut Errors) -> Option<(String, String)> {
    let raw: RawBasicCredentials = raw::object(value, path, &[], errors)?;
    let username = required(raw.username, path, "username", errors)
        .and_then(|u| errors.check(&error::key(path, "username"), username(&u.0)));
    let password_hash = required(raw.password_hash, path, "password_hash", errors)
        .and_then(|h| errors.check(&error::key(path, "password_hash"), password_hash(&h.0)));
    Some((username?, password_hash?))
}

/// A Basic user-id: RFC 7617 splits `user:password` at the first `:`, so a `:` in the
/// name could never match.
fn username(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.contains(':') {
        return Err(format!(
            "username {text:?} must not contain ':' (Basic credentials are split at the \
             first ':')"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "username {text:?} must not contain control characters"
        ));
    }
    Ok(text.to_owned())
}

/// An argon2 PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) or a bcrypt hash
/// (`$2b$12$` and 53 characters). The shape is checked, not the hash.
fn password_hash(text: &str) -> Result<String, String> {
    if is_argon2(text) {
        return Ok(text.to_owned());
    }
    if let Some(cost) = bcrypt_cost(text) {
        if !BCRYPT_COSTS.contains(&cost) {
            return Err(format!(
                "bcrypt cost {cost:02} is out of range ({:02} to {})",
                BCRYPT_COSTS.start(),
                BCRYPT_COSTS.end()
            ));
        }
        return Ok(text.to_owned());
    }
    Err(NOT_A_HASH.to_owned())
}

/// `$argon2{id,i,d}$[v=N$]m=N,t=N,p=N[,more]$<b64 salt>$<b64 hash>`.
fn is_argon2(text: &str) -> bool {
    let mut parts = text.split('$');
    if parts.next() != Some("") {
        return false;
    }
    if !matches!(parts.next(), Some("argon2id" | "argon2i" | "argon2d")) {
        return false;
    }
    let mut rest: Vec<&str> = parts.collect();
    if rest.first().is_some_and(|v| v.starts_with("v=")) {
        let version = rest.remove(0);
        if !is_digits(&version[2..]) {
            return false;
        }
    }
    let [params, salt, hash] = rest[..] else {
        return false;
    };
    let names: Vec<&str> = params
        .split(',')
        .map(|p| match p.split_once('=') {
            Some((name, value)) if !value.is_empty() => name,
            _ => "",
        })
        .collect();
    let numeric = params
        .split(',')
        .filter(|p| matches!(p.split_once('='), Some(("m" | "t" | "p", _))))
        .all(|p| is_digits(&p[2..]));
    names.starts_with(&["m", "t", "p"]) && numeric && is_b64(salt) && is_b64(hash)
}

/// The cost of a `$2a$`/`$2b$`/`$2y$` hash of the right shape, else `None`.
fn bcrypt_cost(text: &str) -> Option<u32> {
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|p| text.strip_prefix(p))?;
    let (cost, body) = rest.split_once('$')?;
    let bcrypt_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if cost.len() != 2
        || !is_digits(cost)
        || body.len() != BCRYPT_BODY_LEN
        || !body.bytes().all(bcrypt_b64)
    {
        return None;
    }
    cost.parse().ok()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The PHC string format's base64: standard alphabet, no padding.
fn is_b64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGON2: &str =
        "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
    const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

    #[test]
    fn password_hash_shapes() {
        for ok in [
            ARGON2,
            "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA",
            "$argon2d$m=4096,t=3,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$c2FsdA$aGFzaA",
            BCRYPT,
            "$2a$04$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$2y$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            assert_eq!(password_hash(ok), Ok(ok.to_owned()), "{ok}");
        }
        for bad in [
            "",
            "hunter2",
            "$argon2$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ",
            "$argon2id$v=19$m=65536,t=3$c2FsdA$aGFzaA",
            "$argon2id$v=x$m=1,t=1,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=a,t=1,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=1,t=1,p=1$c2F=dA$aGFzaA",
            "$argon2id$v=19$m=1,t=1,p=1$$aGFzaA",
            "$2b$12$short",
            "$2x$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$2b$1$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUWx",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMU!",
            "$1$salt$hash",
        ] {
            assert_eq!(password_hash(bad), Err(NOT_A_HASH.to_owned()), "{bad}");
        }
        assert_eq!(
            password_hash("$2b$03$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
            Err("bcrypt cost 03 is out of range (04 to 31)".into())
        );
        assert_eq!(
            password_hash("$2b$32$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
            Err("bcrypt cost 32 is out of range (04 to 31)".into())
        );
    }

    #[test]
    fn api_key_forms() {
        assert_eq!(api_key("k-123"), Ok("k-123".into()));
        let hex = "AB".repeat(32);
        assert_eq!(
            api_key(&format!("sha256:{hex}")),
            Ok(format!("sha256:{}", "ab".repeat(32)))
        );
        assert_eq!(api_key(" "), Err("must not be empty".into()));
        for bad in [
            "sha256:".to_owned(),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "a".repeat(65)),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert_eq!(
                api_key(&bad),
                Err(
                    "a key starting with \"sha256:\" must be followed by 64 hex digits \
                     (the SHA-256 digest of the key)"
                        .into()
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn usernames_and_ids() {
        assert_eq!(username("alice"), Ok("alice".into()));
        assert!(username("a:b")
            .unwrap_err()
            .contains("must not contain ':'"));
        assert!(username("a\u{7}").is_err());
        assert_eq!(consumer_id("svc a"), Ok("svc a".into()));
        assert!(consumer_id(" a").is_err());
        assert!(consumer_id("a\nb").is_err());
    }
}
