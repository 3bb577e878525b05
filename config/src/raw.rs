//! The file's shape as serde structs, before any checking of values.
//!
//! Each object of the file (the top level, `limits`, one route, one upstream, one policy, one
//! `skip`) is deserialized on its own by [`object`], with nested objects kept as [`Value`]
//! until their turn: a mistake in one route then cannot hide the mistakes in the next.
//! Leaf values are read as [`Scalar`] text and typed by the validator, for the same reason.
//!
//! [`object`] reports unknown fields itself (all of them, not only the first); the
//! `deny_unknown_fields` on each struct is a guard for any other way in.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::duration::parse_duration;
use crate::env::key_text;
use crate::error::{self, Errors};

/// A single YAML value read as text: `30`, `"30"` and a `${PORT}` already substituted to `30`
/// all arrive as `30`, and the validator parses it as the type the field wants. Environment
/// variables thus work for numbers and booleans too, and a bad number is an ordinary error
/// that does not stop its neighbours from being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) String);

/// The top level of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub name: Option<Scalar>,
    pub base_path: Option<Scalar>,
    /// One string or a list of them.
    pub listen: Option<Value>,
    pub shards: Option<Scalar>,
    pub request_id_header: Option<Scalar>,
    pub shutdown_timeout: Option<Scalar>,
    pub limits: Option<Value>,
    pub policies: Option<Value>,
    pub routes: Option<Value>,
    pub consumers: Option<Value>,
    /// A [`RawAdmin`] mapping.
    pub admin: Option<Value>,
    pub debug_headers: Option<Scalar>,
}

/// `admin:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub listen: Option<Scalar>,
    pub token: Option<Scalar>,
    pub metrics_public: Option<Scalar>,
    pub data_dir: Option<Scalar>,
}

/// One entry of `consumers:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsumer {
    pub id: Option<Scalar>,
    pub api_keys: Option<Vec<Scalar>>,
    pub basic: Option<Value>,
    pub roles: Option<Vec<Scalar>>,
    pub metadata: Option<Mapping>,
}

/// `basic:` of a consumer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicCredentials {
    pub username: Option<Scalar>,
    pub password_hash: Option<Scalar>,
}

/// `limits:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_header_bytes: Option<Scalar>,
    pub max_headers: Option<Scalar>,
    pub max_body_bytes: Option<Scalar>,
    pub header_timeout: Option<Scalar>,
    pub idle_timeout: Option<Scalar>,
    pub max_connections_per_shard: Option<Scalar>,
}

/// One entry of `routes:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub path: Option<Scalar>,
    pub methods: Option<Vec<Scalar>>,
    pub policies: Option<Value>,
    pub upstream: Option<Value>,
    pub websocket: Option<Scalar>,
}

/// `upstream:` with `type: url`, less the `type` field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUrlUpstream {
    pub target: Option<Scalar>,
    /// [`RawWeightedTarget`] mappings.
    pub targets: Option<Vec<Value>>,
    pub load_balancer: Option<Scalar>,
    pub hash_on: Option<Scalar>,
    /// A [`RawHealthCheck`] mapping.
    pub health_check: Option<Value>,
    /// A [`RawOutlier`] mapping.
    pub outlier: Option<Value>,
    pub timeout: Option<Scalar>,
    pub connect_timeout: Option<Scalar>,
    pub headers: Option<Mapping>,
    pub preserve_host: Option<Scalar>,
    pub strip_prefix: Option<Scalar>,
}

/// One entry of `targets:` of a `url` upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeightedTarget {
    pub url: Option<Scalar>,
    pub weight: Option<Scalar>,
}

/// `health_check:` of a `url` upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealthCheck {
    pub path: Option<Scalar>,
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub healthy_threshold: Option<Scalar>,
    pub unhealthy_threshold: Option<Scalar>,
    /// One status or a list of them.
    pub expected_status: Option<Value>,
}

/// `outlier:` of a `url` upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutlier {
    pub consecutive_failures: Option<Scalar>,
    pub ejection_time: Option<Scalar>,
}

/// `upstream:` with `type: health`, less the `type` field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealthUpstream {
    pub probes: Option<Vec<Scalar>>,
    pub probe_timeout: Option<Scalar>,
    pub include_upstreams: Option<Scalar>,
}

/// `upstream:` with `type: static`, less the `type` field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStaticUpstream {
    pub status: Option<Scalar>,
    pub headers: Option<Mapping>,
    pub body: Option<Scalar>,
}

/// The fields every policy entry has besides `type` (which is read first, to pick the
/// options struct).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicyCommon {
    pub name: Option<Scalar>,
    pub priority: Option<Scalar>,
    pub skip: Option<Value>,
}

/// `skip:` of a policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSkip {
    pub paths: Option<Vec<Scalar>>,
    pub methods: Option<Vec<Scalar>>,
    pub headers: Option<Mapping>,
}

/// Options of `type: ip-filter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpFilter {
    pub allow: Option<Vec<Scalar>>,
    pub deny: Option<Vec<Scalar>>,
    pub mode: Option<Scalar>,
    pub trust_forwarded: Option<Scalar>,
}

/// Options of `type: request-transform` and `type: response-transform`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransform {
    pub set_headers: Option<Mapping>,
    pub append_headers: Option<Mapping>,
    pub remove_headers: Option<Vec<Scalar>>,
    pub rename_headers: Option<Mapping>,
}

/// Options of `type: jwt-auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwtAuth {
    pub secret: Option<Scalar>,
    pub jwks_url: Option<Scalar>,
    pub algorithms: Option<Vec<Scalar>>,
    pub issuer: Option<Scalar>,
    /// One string or a list of them.
    pub audience: Option<Value>,
    pub header_name: Option<Scalar>,
    pub token_prefix: Option<Scalar>,
    pub query_param: Option<Scalar>,
    pub cookie: Option<Scalar>,
    pub forward_claims: Option<Mapping>,
    pub clock_skew: Option<Scalar>,
    pub require_exp: Option<Scalar>,
    pub required_claims: Option<Mapping>,
    pub jwks_cache_ttl: Option<Scalar>,
    pub jwks_timeout: Option<Scalar>,
}

/// Options of `type: api-key-auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiKeyAuth {
    pub header_name: Option<Scalar>,
    pub query_param: Option<Scalar>,
    pub forward_consumer_header: Option<Scalar>,
}

/// Options of `type: basic-auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub realm: Option<Scalar>,
    pub forward_consumer_header: Option<Scalar>,
}

/// Options of `type: rbac`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRbac {
    pub roles: Option<Vec<Scalar>>,
    pub permissions: Option<Vec<Scalar>>,
    pub roles_claim: Option<Scalar>,
    pub permissions_claim: Option<Scalar>,
    pub role_header: Option<Scalar>,
    pub deny_message: Option<Scalar>,
}

/// Options of `type: oauth2`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuth2 {
    pub introspection_url: Option<Scalar>,
    pub client_id: Option<Scalar>,
    pub client_secret: Option<Scalar>,
    pub token_location: Option<Scalar>,
    pub required_scopes: Option<Vec<Scalar>>,
    pub cache_ttl: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub forward_token_info: Option<Mapping>,
}

/// Options of `type: mock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMock {
    pub status: Option<Scalar>,
    pub headers: Option<Mapping>,
    pub body: Option<Scalar>,
    pub delay: Option<Scalar>,
}

/// Options of `type: request-log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestLog {
    pub output: Option<Scalar>,
    pub file: Option<Scalar>,
    pub redact_headers: Option<Vec<Scalar>>,
    pub buffer: Option<Scalar>,
    pub include_headers: Option<Scalar>,
}

/// Options of `type: rate-limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub max: Option<Scalar>,
    pub window: Option<Scalar>,
    pub algorithm: Option<Scalar>,
    pub key_by: Option<Scalar>,
    pub trust_forwarded: Option<Scalar>,
    pub exclude_paths: Option<Vec<Scalar>>,
    pub status: Option<Scalar>,
    pub message: Option<Scalar>,
    pub max_keys: Option<Scalar>,
}

/// Options of `type: cors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCors {
    /// `"*"` or a list of origins.
    pub origins: Option<Value>,
    pub methods: Option<Vec<Scalar>>,
    pub allowed_headers: Option<Vec<Scalar>>,
    pub exposed_headers: Option<Vec<Scalar>>,
    pub credentials: Option<Scalar>,
    pub max_age: Option<Scalar>,
    pub preflight: Option<Scalar>,
}

/// Options of `type: request-limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestLimit {
    pub max_bytes: Option<Scalar>,
}

/// Options of `type: ssl-enforce`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSslEnforce {
    pub redirect: Option<Scalar>,
    /// A [`RawHsts`] mapping.
    pub hsts: Option<Value>,
    pub trust_forwarded: Option<Scalar>,
}

/// `hsts:` of `ssl-enforce`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHsts {
    pub max_age: Option<Scalar>,
    pub include_subdomains: Option<Scalar>,
    pub preload: Option<Scalar>,
}

/// Options of `type: override-method`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverrideMethod {
    pub header: Option<Scalar>,
    pub allowed_methods: Option<Vec<Scalar>>,
}

/// Options of `type: json-threat-protection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJsonThreat {
    pub max_depth: Option<Scalar>,
    pub max_keys: Option<Scalar>,
    pub max_string_length: Option<Scalar>,
    pub max_array_size: Option<Scalar>,
    pub max_body_bytes: Option<Scalar>,
    pub content_types: Option<Vec<Scalar>>,
}

/// Options of `type: regex-threat-protection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegexThreat {
    /// [`RawThreatPattern`] mappings.
    pub patterns: Option<Vec<Value>>,
    pub max_body_scan_bytes: Option<Scalar>,
}

/// One entry of `patterns:` of `regex-threat-protection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreatPattern {
    pub regex: Option<Scalar>,
    pub targets: Option<Vec<Scalar>>,
    pub message: Option<Scalar>,
}

/// Options of `type: geo-ip-filter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeoIp {
    pub allow: Option<Vec<Scalar>>,
    pub deny: Option<Vec<Scalar>>,
    pub mode: Option<Scalar>,
    pub country_header: Option<Scalar>,
    pub mmdb_path: Option<Scalar>,
}

/// Options of `type: cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub ttl: Option<Scalar>,
    pub methods: Option<Vec<Scalar>>,
    pub cacheable_statuses: Option<Vec<Scalar>>,
    pub vary_headers: Option<Vec<Scalar>>,
    pub respect_cache_control: Option<Scalar>,
    pub max_bytes: Option<Scalar>,
    pub max_object_bytes: Option<Scalar>,
    pub status_header: Option<Scalar>,
}

/// Options of `type: timeout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeout {
    pub request: Option<Scalar>,
    pub first_byte: Option<Scalar>,
    pub idle: Option<Scalar>,
}

/// Options of `type: retry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub max_retries: Option<Scalar>,
    pub retry_on: Option<Vec<Scalar>>,
    pub methods: Option<Vec<Scalar>>,
    pub backoff: Option<Scalar>,
    pub base_delay: Option<Scalar>,
    pub max_delay: Option<Scalar>,
    pub jitter: Option<Scalar>,
    pub budget_percent: Option<Scalar>,
    pub budget_min_per_second: Option<Scalar>,
    pub retry_count_header: Option<Scalar>,
    pub max_replay_bytes: Option<Scalar>,
}

/// Options of `type: circuit-breaker`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCircuitBreaker {
    pub scope: Option<Scalar>,
    pub failure_threshold: Option<Scalar>,
    pub failure_rate: Option<Scalar>,
    pub window: Option<Scalar>,
    pub min_requests: Option<Scalar>,
    pub reset_timeout: Option<Scalar>,
    pub half_open_max: Option<Scalar>,
    pub failure_on: Option<Vec<Scalar>>,
}

/// Options of `type: latency-injection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLatencyInjection {
    pub delay: Option<Scalar>,
    pub jitter: Option<Scalar>,
    pub percentage: Option<Scalar>,
}

/// Options of `type: fault-injection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFaultInjection {
    pub abort_status: Option<Scalar>,
    pub percentage: Option<Scalar>,
    pub message: Option<Scalar>,
}

/// Options of `type: traffic-shadow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrafficShadow {
    pub target: Option<Scalar>,
    pub percentage: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub max_body_bytes: Option<Scalar>,
}

/// Options of `type: dynamic-routing`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDynamicRouting {
    /// [`RawRoutingRule`] mappings.
    pub rules: Option<Vec<Value>>,
}

/// One entry of `rules:` of `dynamic-routing`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoutingRule {
    /// A [`RawRequestMatch`] mapping.
    pub when: Option<Value>,
    pub target: Option<Scalar>,
    pub strip_prefix: Option<Scalar>,
}

/// `when:` of a `dynamic-routing` rule or of `interrupt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestMatch {
    pub headers: Option<Mapping>,
    pub query: Option<Mapping>,
    pub path: Option<Scalar>,
    /// One method or a list of them.
    pub method: Option<Value>,
}

/// Options of `type: http-callout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpCallout {
    pub url: Option<Scalar>,
    pub method: Option<Scalar>,
    pub headers: Option<Mapping>,
    pub body: Option<Scalar>,
    pub set_headers_from: Option<Mapping>,
    pub on_error: Option<Scalar>,
    pub timeout: Option<Scalar>,
}

/// Options of `type: interrupt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterrupt {
    pub status: Option<Scalar>,
    pub headers: Option<Mapping>,
    pub body: Option<Scalar>,
    /// A [`RawRequestMatch`] mapping.
    pub when: Option<Value>,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Scalar::from_value(&value).ok_or_else(|| {
            de::Error::custom(format!("expected a single value, found {}", kind(&value)))
        })
    }
}

impl Scalar {
    /// The text of a string, number or boolean; `None` for anything else.
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Scalar(s.clone())),
            Value::Number(n) => Some(Scalar(n.to_string())),
            Value::Bool(b) => Some(Scalar(b.to_string())),
            Value::Null | Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
        }
    }

    /// Parses an integer of type `T`.
    pub(crate) fn integer<T: std::str::FromStr>(&self) -> Result<T, String> {
        let text = self.0.trim();
        text.parse().map_err(|_| {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                format!("{text} is out of range")
            } else {
                format!("expected an integer, found {:?}", self.0)
            }
        })
    }

    /// Parses `true` or `false` (YAML 1.2 spelling only: `yes`/`on` are refused rather than
    /// guessed at).
    pub(crate) fn boolean(&self) -> Result<bool, String> {
        match self.0.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("expected true or false, found {:?}", self.0)),
        }
    }

    /// Parses a duration per [`parse_duration`].
    pub(crate) fn duration(&self) -> Result<std::time::Duration, String> {
        parse_duration(&self.0)
    }
}

/// Deserializes one object of the file at `path` into the raw struct `T`.
///
/// Unlike plain `deny_unknown_fields`, which stops at the first, every unknown field is
/// reported, then dropped so the known ones are still checked. `also_valid` names sibling
/// fields that the caller reads itself (a policy's `type`, `name`...): they only appear in
/// the list of valid fields. `null` (a key with nothing after it) counts as an empty object.
pub(crate) fn object<T: DeserializeOwned>(
    value: Value,
    path: &str,
    also_valid: &[&str],
    errors: &mut Errors,
) -> Option<T> {
    let mut map = match value {
        Value::Mapping(map) => map,
        Value::Null => Mapping::new(),
        other => {
            errors.add(path, format!("expected a mapping, found {}", kind(&other)));
            return None;
        }
    };
    let fields = struct_fields::<T>();
    map.retain(|k, _| {
        let known = k.as_str().is_some_and(|k| fields.contains(&k));
        if !known {
            let name = key_text(k);
            let valid: Vec<&str> = also_valid.iter().chain(fields).copied().collect();
            errors.add(&error::key(path, &name), unknown_field(&name, &valid));
        }
        known
    });
    match serde_path_to_error::deserialize(Value::Mapping(map)) {
        Ok(raw) => Some(raw),
        Err(e) => {
            let mut at = path.to_owned();
            for segment in e.path().iter() {
                at = match segment {
                    serde_path_to_error::Segment::Seq { index } => error::index(&at, *index),
                    serde_path_to_error::Segment::Map { key }
                    | serde_path_to_error::Segment::Enum { variant: key } => error::key(&at, key),
                    serde_path_to_error::Segment::Unknown => at,
                };
            }
            errors.add(&at, e.into_inner().to_string());
            None
        }
    }
}

/// A single value or a list of them at `path`, each with its own path: `path` itself for a
/// single value, `path[i]` in a list (which may be empty). An entry that is not a single
/// value is reported as `expected {what}, found ...`, and the whole is then `None`.
pub(crate) fn one_or_list(
    value: Value,
    path: &str,
    what: &str,
    errors: &mut Errors,
) -> Option<Vec<(String, Scalar)>> {
    let items: Vec<(String, Value)> = match value {
        Value::Sequence(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (error::index(path, i), v))
            .collect(),
        single => vec![(path.to_owned(), single)],
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (at, item) in items {
        match Scalar::from_value(&item) {
            Some(text) => out.push((at, text)),
            None => {
                errors.add(&at, format!("expected {what}, found {}", kind(&item)));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Splits a tagged object (`{type: x, ...}`, as upstreams and policies are written) into its
/// type, which must be one of `known`, and its remaining fields. `what` names the kind of
/// object in messages ("upstream", "policy").
pub(crate) fn tagged(
    value: Value,
    path: &str,
    what: &str,
    known: &'static [&'static str],
    errors: &mut Errors,
) -> Option<(&'static str, Mapping)> {
    let mut map = match value {
        Value::Mapping(map) => map,
        other => {
            errors.add(
                path,
                format!(
                    "expected a mapping with a \"type\" field, found {}",
                    kind(&other)
                ),
            );
            return None;
        }
    };
    let Some(tag) = map.shift_remove("type") else {
        errors.add(
            path,
            format!(
                "missing required field \"type\" (one of: {})",
                known.join(", ")
            ),
        );
        return None;
    };
    let at = error::key(path, "type");
    let Some(Scalar(name)) = Scalar::from_value(&tag) else {
        errors.add(
            &at,
            format!("expected a {what} type name, found {}", kind(&tag)),
        );
        return None;
    };
    match known.iter().find(|k| **k == name) {
        Some(known_name) => Some((known_name, map)),
        None => {
            errors.add(
                &at,
                format!(
                    "unknown {what} type {name:?}{}, expected one of: {}",
                    did_you_mean(&name, known),
                    known.join(", ")
                ),
            );
            None
        }
    }
}

/// `unknown field "tiemout" (did you mean "timeout"?), expected one of: ...`.
pub(crate) fn unknown_field(name: &str, valid: &[&str]) -> String {
    format!(
        "unknown field {name:?}{}, expected one of: {}",
        did_you_mean(name, valid),
        valid.join(", ")
    )
}

/// ` (did you mean "x"?)` when one candidate is within a couple of typos of `word`, else empty.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

/// The candidate within a couple of typos of `word`, if any (the nearest one).
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Two edits catch transpositions and a dropped letter; more starts suggesting unrelated
    // words for short names.
    const MAX_EDITS: usize = 2;
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= MAX_EDITS && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "a string", "a list"... for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The field names of a `#[derive(Deserialize)]` struct.
///
/// Serde hands the list to `Deserializer::deserialize_struct`; this offers `T` a deserializer
/// that records it and then fails. It keeps the raw structs the single source of field names
/// instead of a hand-kept copy that could drift. Empty for anything that is not a struct.
pub(crate) fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // The probe always fails by design; only the recorded list matters.
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn probe_reads_field_names() {
        assert_eq!(struct_fields::<RawSkip>(), ["paths", "methods", "headers"]);
        assert!(struct_fields::<Scalar>().is_empty());
    }

    #[test]
    fn reports_every_unknown_field_and_keeps_the_rest() {
        let mut errors = Errors::default();
        let skip: RawSkip = object(
            yaml("pahts: [a]\nmethods: [GET]\nextra: 1\n"),
            "policies[0].skip",
            &[],
            &mut errors,
        )
        .unwrap();
        assert_eq!(skip.methods, Some(vec![Scalar("GET".into())]));
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, "policies[0].skip.pahts");
        assert_eq!(
            errors[0].message,
            "unknown field \"pahts\" (did you mean \"paths\"?), \
             expected one of: paths, methods, headers"
        );
        assert_eq!(errors[1].path, "policies[0].skip.extra");
    }

    #[test]
    fn type_errors_carry_the_inner_path() {
        let mut errors = Errors::default();
        let skip: Option<RawSkip> = object(yaml("methods: [GET, [x]]\n"), "skip", &[], &mut errors);
        assert!(skip.is_none());
        let errors = errors.into_vec();
        assert_eq!(errors[0].path, "skip.methods[1]");
        assert_eq!(errors[0].message, "expected a single value, found a list");
    }

    #[test]
    fn scalars() {
        let s = |t: &str| Scalar(t.into());
        assert_eq!(s("42").integer::<u16>(), Ok(42));
        assert_eq!(
            s("70000").integer::<u16>(),
            Err("70000 is out of range".into())
        );
        assert_eq!(s("-1").integer::<u16>(), Err("-1 is out of range".into()));
        assert_eq!(
            s("ten").integer::<u16>(),
            Err("expected an integer, found \"ten\"".into())
        );
        assert_eq!(s("true").boolean(), Ok(true));
        assert!(s("yes").boolean().is_err());
        let number: Scalar = serde_yaml_ng::from_str("1.50").unwrap();
        assert_eq!(number, s("1.5"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("tiemout", &["timeout", "target"]),
            " (did you mean \"timeout\"?)"
        );
        assert_eq!(did_you_mean("zzz", &["timeout"]), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
