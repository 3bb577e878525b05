//! Options of the traffic policies: `rate-limit`.

use std::time::Duration;

use regex::Regex;

use crate::auth::claim_path;
use crate::error::{self, Errors};
use crate::http;
use crate::model::{RateAlgorithm, RateKeyBy, RateLimitOptions};
use crate::policy::regex;
use crate::raw::{self, RawRateLimit, Scalar};
use crate::validate::{positive, positive_duration, required};

const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_RATE_STATUS: u16 = 429;
const DEFAULT_RATE_MESSAGE: &str = "Rate limit exceeded";
const DEFAULT_MAX_KEYS: usize = 1_000_000;
/// The `algorithm` names, in the order listed in messages.
const RATE_ALGORITHMS: &[&str] = &["token-bucket", "sliding-window"];
/// The `key_by` forms, as listed in messages.
const KEY_BY_FORMS: &str = "ip, header:<name>, claim:<name>, consumer, route, global";
/// The `key_by` values that take no name, for "did you mean".
const KEY_BY_WORDS: &[&str] = &["ip", "consumer", "route", "global"];

/// `type: rate-limit` options at `path`.
pub(crate) fn rate_limit(
    raw: RawRateLimit,
    path: &str,
    errors: &mut Errors,
) -> Option<RateLimitOptions> {
    let at = |field: &str| error::key(path, field);
    // Given whenever `positive` sees it, so its default (1) is never used.
    let max = required(raw.max, path, "max", errors)
        .and_then(|max| positive::<u64>(Some(max), &at("max"), 1, errors));
    let window = positive_duration(raw.window, &at("window"), DEFAULT_RATE_WINDOW, errors);
    let algorithm = match raw.algorithm {
        Some(Scalar(text)) => errors.check(&at("algorithm"), algorithm(&text)),
        None => Some(RateAlgorithm::TokenBucket),
    };
    let key_by_text = raw.key_by.map(|Scalar(text)| text);
    let key_by = match &key_by_text {
        Some(text) => errors.check(&at("key_by"), key_by(text)),
        None => Some(RateKeyBy::Ip),
    };
    let trust_forwarded = match raw.trust_forwarded {
        Some(text) => errors.check(&at("trust_forwarded"), text.boolean()),
        None => Some(false),
    };
    // Judged only when key_by is valid, so a typo there is reported once, as itself.
    let trust_forwarded = match (trust_forwarded, &key_by, &key_by_text) {
        (Some(true), Some(key), Some(written)) if *key != RateKeyBy::Ip => {
            errors.add(
                &at("trust_forwarded"),
                format!(
                    "trust_forwarded only applies to key_by: ip (it counts by the first \
                     X-Forwarded-For address instead of the peer); key_by here is {written:?}"
                ),
            );
            None
        }
        (trust, _, _) => trust,
    };
    let exclude_at = at("exclude_paths");
    let exclude_paths: Vec<Option<Regex>> = raw
        .exclude_paths
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, Scalar(p))| errors.check(&error::index(&exclude_at, i), regex(p)))
        .collect();
    let status = match raw.status {
        Some(text) => errors.check(&at("status"), refusal_status(&text)),
        None => Some(DEFAULT_RATE_STATUS),
    };
    let message = match raw.message {
        Some(Scalar(text)) => errors.check(&at("message"), message(text)),
        None => Some(DEFAULT_RATE_MESSAGE.to_owned()),
    };
    let max_keys = positive(raw.max_keys, &at("max_keys"), DEFAULT_MAX_KEYS, errors);
    Some(RateLimitOptions {
        max: max?,
        window: window?,
        algorithm: algorithm?,
        key_by: key_by?,
        trust_forwarded: trust_forwarded?,
        exclude_paths: exclude_paths.into_iter().collect::<Option<_>>()?,
        status: status?,
        message: message?,
        max_keys: max_keys?,
    })
}

fn algorithm(text: &str) -> Result<RateAlgorithm, String> {
    match text {
        "token-bucket" => Ok(RateAlgorithm::TokenBucket),
        "sliding-window" => Ok(RateAlgorithm::SlidingWindow),
        _ => Err(format!(
            "unknown algorithm {text:?}{}, expected one of: {}",
            raw::did_you_mean(text, RATE_ALGORITHMS),
            RATE_ALGORITHMS.join(", ")
        )),
    }
}

/// `ip`, `header:<name>` (a valid header name, lower-cased), `claim:<path>`, `consumer`,
/// `route` or `global`.
fn key_by(text: &str) -> Result<RateKeyBy, String> {
    if let Some(name) = text.strip_prefix("header:") {
        return http::header_name(name).map(|h| RateKeyBy::Header(h.to_ascii_lowercase()));
    }
    if let Some(name) = text.strip_prefix("claim:") {
        return claim_path(name).map(RateKeyBy::Claim);
    }
    match text {
        "ip" => Ok(RateKeyBy::Ip),
        "consumer" => Ok(RateKeyBy::Consumer),
        "route" => Ok(RateKeyBy::Route),
        "global" => Ok(RateKeyBy::Global),
        _ => Err(format!(
            "unknown key_by {text:?}{}, expected one of: {KEY_BY_FORMS}",
            raw::did_you_mean(text, KEY_BY_WORDS)
        )),
    }
}

/// The status of a refusal: a client or server error.
fn refusal_status(text: &Scalar) -> Result<u16, String> {
    match text.integer::<u16>() {
        Ok(code) if (400..=599).contains(&code) => Ok(code),
        Ok(_) | Err(_) => Err(format!("invalid status {:?} (expected 400..=599)", text.0)),
    }
}

/// The refusal's `message`: not blank, no control characters.
pub(crate) fn message(text: String) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "message {text:?} must not contain control characters"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_by_forms() {
        assert_eq!(key_by("ip"), Ok(RateKeyBy::Ip));
        assert_eq!(
            key_by("header:X-Api-Key"),
            Ok(RateKeyBy::Header("x-api-key".into()))
        );
        assert_eq!(
            key_by("claim:realm_access.tenant"),
            Ok(RateKeyBy::Claim("realm_access.tenant".into()))
        );
        assert_eq!(key_by("global"), Ok(RateKeyBy::Global));
        assert_eq!(key_by("header:"), Err("invalid header name \"\"".into()));
        assert_eq!(
            key_by("IP"),
            Err(
                "unknown key_by \"IP\", expected one of: ip, header:<name>, claim:<name>, \
                 consumer, route, global"
                    .into()
            )
        );
    }
}
