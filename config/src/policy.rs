//! Policy entries (`policies:` lists, global and per route) and each type's options.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde_yaml_ng::{Mapping, Value};

use crate::env::key_text;
use crate::error::{self, Errors};
use crate::model::{
    IpFilterMode, IpFilterOptions, MockOptions, PolicyKind, PolicySpec, SkipSpec, TransformOptions,
};
use crate::raw::{
    self, kind, RawIpFilter, RawMock, RawPolicyCommon, RawSkip, RawTransform, Scalar,
};
use crate::route::status;
use crate::validate::duration;
use crate::{auth, guards, http, observability, resilience, routing, traffic};

/// The policy `type` names this version understands, in the order listed in messages
/// (that of the default priorities).
pub const POLICY_TYPES: &[&str] = &[
    "request-log",
    "ip-filter",
    "geo-ip-filter",
    "cors",
    "request-limit",
    "ssl-enforce",
    "override-method",
    "json-threat-protection",
    "regex-threat-protection",
    "latency-injection",
    "fault-injection",
    "jwt-auth",
    "api-key-auth",
    "basic-auth",
    "oauth2",
    "rbac",
    "rate-limit",
    "circuit-breaker",
    "cache",
    "request-transform",
    "dynamic-routing",
    "http-callout",
    "timeout",
    "retry",
    "response-transform",
    "traffic-shadow",
    "interrupt",
    "mock",
];

/// Fields every policy entry has, whatever its type.
const COMMON_FIELDS: &[&str] = &["type", "name", "priority", "skip"];

impl PolicyKind {
    /// The `type:` name this kind is written as, e.g. `"ip-filter"`; one of [`POLICY_TYPES`].
    pub fn type_name(&self) -> &'static str {
        match self {
            PolicyKind::RequestLog(_) => "request-log",
            PolicyKind::JwtAuth(_) => "jwt-auth",
            PolicyKind::ApiKeyAuth(_) => "api-key-auth",
            PolicyKind::BasicAuth(_) => "basic-auth",
            PolicyKind::Rbac(_) => "rbac",
            PolicyKind::OAuth2(_) => "oauth2",
            PolicyKind::RateLimit(_) => "rate-limit",
            PolicyKind::Cors(_) => "cors",
            PolicyKind::RequestLimit(_) => "request-limit",
            PolicyKind::SslEnforce(_) => "ssl-enforce",
            PolicyKind::OverrideMethod(_) => "override-method",
            PolicyKind::JsonThreatProtection(_) => "json-threat-protection",
            PolicyKind::RegexThreatProtection(_) => "regex-threat-protection",
            PolicyKind::GeoIpFilter(_) => "geo-ip-filter",
            PolicyKind::Cache(_) => "cache",
            PolicyKind::IpFilter(_) => "ip-filter",
            PolicyKind::RequestTransform(_) => "request-transform",
            PolicyKind::ResponseTransform(_) => "response-transform",
            PolicyKind::Mock(_) => "mock",
            PolicyKind::Timeout(_) => "timeout",
            PolicyKind::Retry(_) => "retry",
            PolicyKind::CircuitBreaker(_) => "circuit-breaker",
            PolicyKind::LatencyInjection(_) => "latency-injection",
            PolicyKind::FaultInjection(_) => "fault-injection",
            PolicyKind::TrafficShadow(_) => "traffic-shadow",
            PolicyKind::DynamicRouting(_) => "dynamic-routing",
            PolicyKind::HttpCallout(_) => "http-callout",
            PolicyKind::Interrupt(_) => "interrupt",
        }
    }

    /// The `priority` used when an entry gives none; lower runs earlier in a phase.
    ///
    /// The full ladder, including types still to come, so that new types slot in without
    /// renumbering (gaps are deliberate):
    ///
    /// | priority | policy |
    /// |---:|---|
    /// | 0 | observability: request-log |
    /// | 1 | ip-filter, geo-ip-filter |
    /// | 5 | early: cors, request-limit, ssl-enforce, override-method, json-/regex-threat-protection, latency-injection, fault-injection |
    /// | 10 | auth |
    /// | 20 | rate-limit |
    /// | 30 | circuit-breaker |
    /// | 40 | cache |
    /// | 50 | request-transform, dynamic-routing, http-callout |
    /// | 85 | timeout |
    /// | 90 | retry |
    /// | 92 | response-transform, traffic-shadow |
    /// | 95 | proxy |
    /// | 100 | default (anything unlisted), interrupt |
    /// | 999 | mock |
    pub fn default_priority(&self) -> i32 {
        match self {
            PolicyKind::RequestLog(_) => 0,
            PolicyKind::IpFilter(_) => 1,
            PolicyKind::JwtAuth(_)
            | PolicyKind::ApiKeyAuth(_)
            | PolicyKind::BasicAuth(_)
            | PolicyKind::Rbac(_)
            | PolicyKind::OAuth2(_) => 10,
            PolicyKind::RateLimit(_) => 20,
            PolicyKind::GeoIpFilter(_) => 1,
            PolicyKind::Cors(_)
            | PolicyKind::RequestLimit(_)
            | PolicyKind::SslEnforce(_)
            | PolicyKind::OverrideMethod(_)
            | PolicyKind::JsonThreatProtection(_)
            | PolicyKind::RegexThreatProtection(_)
            | PolicyKind::LatencyInjection(_)
            | PolicyKind::FaultInjection(_) => 5,
            PolicyKind::CircuitBreaker(_) => 30,
            PolicyKind::Cache(_) => 40,
            PolicyKind::RequestTransform(_)
            | PolicyKind::DynamicRouting(_)
            | PolicyKind::HttpCallout(_) => 50,
            PolicyKind::Timeout(_) => 85,
            PolicyKind::Retry(_) => 90,
            PolicyKind::ResponseTransform(_) | PolicyKind::TrafficShadow(_) => 92,
            PolicyKind::Interrupt(_) => 100,
            // Last, so every other policy (auth, filters, transforms) still applies to a
            // mocked route.
            PolicyKind::Mock(_) => 999,
        }
    }
}

/// A `policies:` list at `path` (absent = empty). Names must be unique within the list:
/// the name is the key that merges a route's entry with a global one.
pub(crate) fn list(
    value: Option<Value>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<PolicySpec>> {
    let items = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            errors.add(
                path,
                format!("expected a list of policies, found {}", kind(&other)),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    let mut seen: HashMap<String, String> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = error::index(path, i);
        let Some(spec) = entry(item, &at, errors) else {
            ok = false;
            continue;
        };
        if let Some(first) = seen.get(&spec.name) {
            errors.add(
                &at,
                format!(
                    "duplicate policy name {:?} (also used by {first}); \
                     set a distinct `name` on one of them",
                    spec.name
                ),
            );
            ok = false;
        } else {
            seen.insert(spec.name.clone(), at);
        }
        out.push(spec);
    }
    ok.then_some(out)
}

fn entry(value: Value, path: &str, errors: &mut Errors) -> Option<PolicySpec> {
    let (type_name, mut options) = raw::tagged(value, path, "policy", POLICY_TYPES, errors)?;
    // Split the common fields off so the type's options struct can refuse anything else.
    let mut common = Mapping::new();
    for field in raw::struct_fields::<RawPolicyCommon>() {
        if let Some(v) = options.shift_remove(*field) {
            common.insert(Value::String((*field).to_owned()), v);
        }
    }
    let common: Option<RawPolicyCommon> = raw::object(Value::Mapping(common), path, &[], errors);
    let options = Value::Mapping(options);
    let kind = match type_name {
        "ip-filter" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| ip_filter(raw, path, errors))
            .map(PolicyKind::IpFilter),
        "request-log" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| observability::request_log(raw, path, errors))
            .map(PolicyKind::RequestLog),
        "jwt-auth" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| auth::jwt_auth(raw, path, errors))
            .map(PolicyKind::JwtAuth),
        "api-key-auth" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| auth::api_key_auth(raw, path, errors))
            .map(PolicyKind::ApiKeyAuth),
        "basic-auth" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| auth::basic_auth(raw, path, errors))
            .map(PolicyKind::BasicAuth),
        "oauth2" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| auth::oauth2(raw, path, errors))
            .map(PolicyKind::OAuth2),
        "rbac" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| auth::rbac(raw, path, errors))
            .map(PolicyKind::Rbac),
        "rate-limit" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| traffic::rate_limit(raw, path, errors))
            .map(PolicyKind::RateLimit),
        "geo-ip-filter" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::geo_ip(raw, path, errors))
            .map(PolicyKind::GeoIpFilter),
        "cors" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::cors(raw, path, errors))
            .map(PolicyKind::Cors),
        "request-limit" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::request_limit(raw, path, errors))
            .map(PolicyKind::RequestLimit),
        "ssl-enforce" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::ssl_enforce(raw, path, errors))
            .map(PolicyKind::SslEnforce),
        "override-method" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::override_method(raw, path, errors))
            .map(PolicyKind::OverrideMethod),
        "json-threat-protection" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::json_threat(raw, path, errors))
            .map(PolicyKind::JsonThreatProtection),
        "regex-threat-protection" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::regex_threat(raw, path, errors))
            .map(PolicyKind::RegexThreatProtection),
        "cache" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| guards::cache(raw, path, errors))
            .map(PolicyKind::Cache),
        "request-transform" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| transform(raw, type_name, path, errors))
            .map(PolicyKind::RequestTransform),
        "response-transform" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| transform(raw, type_name, path, errors))
            .map(PolicyKind::ResponseTransform),
        "mock" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| mock(raw, path, errors))
            .map(PolicyKind::Mock),
        "timeout" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::timeout(raw, path, errors))
            .map(PolicyKind::Timeout),
        "retry" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::retry(raw, path, errors))
            .map(PolicyKind::Retry),
        "circuit-breaker" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::circuit_breaker(raw, path, errors))
            .map(PolicyKind::CircuitBreaker),
        "latency-injection" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::latency_injection(raw, path, errors))
            .map(PolicyKind::LatencyInjection),
        "fault-injection" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::fault_injection(raw, path, errors))
            .map(PolicyKind::FaultInjection),
        "traffic-shadow" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| resilience::traffic_shadow(raw, path, errors))
            .map(PolicyKind::TrafficShadow),
        "dynamic-routing" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| routing::dynamic_routing(raw, path, errors))
            .map(PolicyKind::DynamicRouting),
        "http-callout" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| routing::http_callout(raw, path, errors))
            .map(PolicyKind::HttpCallout),
        "interrupt" => raw::object(options, path, COMMON_FIELDS, errors)
            .and_then(|raw| routing::interrupt(raw, path, errors))
            .map(PolicyKind::Interrupt),
        // `tagged` only returns names from POLICY_TYPES.
        _ => None,
    };
    let common = common?;
    let name = match common.name {
        Some(Scalar(name)) if name.trim().is_empty() => {
            errors.add(&error::key(path, "name"), "must not be empty");
            None
        }
        Some(Scalar(name)) => Some(name),
        None => Some(type_name.to_owned()),
    };
    let priority = match common.priority {
        Some(text) => errors.check(&error::key(path, "priority"), text.integer::<i32>()),
        None => kind.as_ref().map(PolicyKind::default_priority),
    };
    let skip = match common.skip {
        Some(value) => skip(value, &error::key(path, "skip"), errors).map(Some),
        None => Some(None),
    };
    Some(PolicySpec {
        name: name?,
        priority: priority?,
        skip: skip?,
        kind: kind?,
        field_path: path.to_owned(),
    })
}

fn skip(value: Value, path: &str, errors: &mut Errors) -> Option<SkipSpec> {
    let raw: RawSkip = raw::object(value, path, &[], errors)?;
    let paths_at = error::key(path, "paths");
    let paths: Vec<Option<Regex>> = raw
        .paths
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| errors.check(&error::index(&paths_at, i), regex(&p.0)))
        .collect();
    let methods = match raw.methods {
        Some(list) => http::methods(list, &error::key(path, "methods"), errors),
        None => Some(Vec::new()),
    };
    let headers_at = error::key(path, "headers");
    let headers: Vec<Option<(String, Regex)>> = raw
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let at = error::key(&headers_at, &key_text(&k));
            let name = match k.as_str() {
                Some(name) => errors.check(&at, http::header_name(name)),
                None => {
                    errors.add(&at, "header names must be strings");
                    None
                }
            };
            let pattern = match Scalar::from_value(&v) {
                Some(text) => errors.check(&at, regex(&text.0)),
                None => {
                    errors.add(&at, format!("expected a regex, found {}", kind(&v)));
                    None
                }
            };
            Some((name?.to_ascii_lowercase(), pattern?))
        })
        .collect();
    let spec = SkipSpec {
        paths: paths.into_iter().collect::<Option<_>>()?,
        methods: methods?,
        headers: headers.into_iter().collect::<Option<_>>()?,
    };
    if spec.paths.is_empty() && spec.methods.is_empty() && spec.headers.is_empty() {
        // With no conditions, "every condition matches" holds for every request, so the
        // policy would never run: almost certainly not what was meant.
        errors.add(
            path,
            "has no conditions (give paths, methods or headers), \
             so it would skip the policy on every request",
        );
        return None;
    }
    Some(spec)
}

/// Compiles a regex; the message keeps the regex crate's own explanation but on one line.
pub(crate) fn regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        // Syntax errors are a multi-line drawing with the reason on the `error:` line.
        let reason = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .map(str::to_owned)
            .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
        format!("invalid regex {pattern:?}: {reason}")
    })
}

fn ip_filter(raw: RawIpFilter, path: &str, errors: &mut Errors) -> Option<IpFilterOptions> {
    let allow = cidrs(raw.allow, &error::key(path, "allow"), errors);
    let deny = cidrs(raw.deny, &error::key(path, "deny"), errors);
    let mode_at = error::key(path, "mode");
    let mode = match raw.mode.as_ref().map(|m| m.0.as_str()) {
        None | Some("deny") => Some(IpFilterMode::Deny),
        Some("allow") => Some(IpFilterMode::Allow),
        Some(other) => {
            errors.add(
                &mode_at,
                format!("invalid mode {other:?} (expected deny or allow)"),
            );
            None
        }
    };
    let trust_forwarded = match raw.trust_forwarded {
        Some(text) => errors.check(&error::key(path, "trust_forwarded"), text.boolean()),
        None => Some(false),
    };
    if mode == Some(IpFilterMode::Allow) && allow.as_ref().is_some_and(Vec::is_empty) {
        errors.add(
            &mode_at,
            "mode allow with an empty allow list would refuse every client",
        );
        return None;
    }
    Some(IpFilterOptions {
        allow: allow?,
        deny: deny?,
        mode: mode?,
        trust_forwarded: trust_forwarded?,
    })
}

/// A list of IPs or CIDRs at `path`; a bare IP is a /32 or /128.
fn cidrs(list: Option<Vec<Scalar>>, path: &str, errors: &mut Errors) -> Option<Vec<IpNet>> {
    let parsed: Vec<Option<IpNet>> = list
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, item)| errors.check(&error::index(path, i), cidr(&item.0)))
        .collect();
    parsed.into_iter().collect()
}

fn cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        // `10.1.2.3/8` means `10.0.0.0/8`; store the network so printing it is unambiguous.
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("invalid CIDR {text:?}"))
}

fn transform(
    raw: RawTransform,
    type_name: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<TransformOptions> {
    // Judged on what was written, so a bad entry is reported once, as itself.
    let entries = raw.set_headers.as_ref().map_or(0, Mapping::len)
        + raw.append_headers.as_ref().map_or(0, Mapping::len)
        + raw.remove_headers.as_ref().map_or(0, Vec::len)
        + raw.rename_headers.as_ref().map_or(0, Mapping::len);
    if entries == 0 {
        errors.add(
            path,
            format!(
                "{type_name} does nothing: give at least one of set_headers, append_headers, \
                 remove_headers, rename_headers"
            ),
        );
        return None;
    }
    let set_headers = http::header_map(raw.set_headers, &error::key(path, "set_headers"), errors);
    let append_headers = http::header_map(
        raw.append_headers,
        &error::key(path, "append_headers"),
        errors,
    );
    let remove_at = error::key(path, "remove_headers");
    let remove_headers: Vec<Option<String>> = raw
        .remove_headers
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, name)| errors.check(&error::index(&remove_at, i), http::header_name(&name.0)))
        .collect();
    let rename_at = error::key(path, "rename_headers");
    let rename_headers: Vec<Option<(String, String)>> = raw
        .rename_headers
        .unwrap_or_default()
        .into_iter()
        .map(|(from, to)| {
            let at = error::key(&rename_at, &key_text(&from));
            let from = match from.as_str() {
                Some(from) => errors.check(&at, http::header_name(from)),
                None => {
                    errors.add(&at, "header names must be strings");
                    None
                }
            };
            let to = match Scalar::from_value(&to) {
                Some(to) => errors.check(&at, http::header_name(&to.0)),
                None => {
                    errors.add(&at, format!("expected a header name, found {}", kind(&to)));
                    None
                }
            };
            Some((from?, to?))
        })
        .collect();
    Some(TransformOptions {
        set_headers,
        append_headers,
        remove_headers: remove_headers.into_iter().collect::<Option<_>>()?,
        rename_headers: rename_headers.into_iter().collect::<Option<_>>()?,
    })
}

fn mock(raw: RawMock, path: &str, errors: &mut Errors) -> Option<MockOptions> {
    let status = status(raw.status, &error::key(path, "status"), errors);
    let headers = http::header_map(raw.headers, &error::key(path, "headers"), errors);
    let delay = duration(
        raw.delay,
        &error::key(path, "delay"),
        std::time::Duration::ZERO,
        errors,
    );
    Some(MockOptions {
        status: status?,
        headers,
        body: raw.body.map(|b| b.0).unwrap_or_default(),
        delay: delay?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_accept_bare_ips_and_both_families() {
        assert_eq!(cidr("10.0.0.1"), Ok("10.0.0.1/32".parse().unwrap()));
        assert_eq!(cidr("::1"), Ok("::1/128".parse().unwrap()));
        assert_eq!(cidr("10.1.2.3/8"), Ok("10.0.0.0/8".parse().unwrap()));
        assert_eq!(cidr("2001:db8::/32"), Ok("2001:db8::/32".parse().unwrap()));
        assert_eq!(
            cidr("10.0.0.0/33"),
            Err("invalid CIDR \"10.0.0.0/33\"".into())
        );
        assert_eq!(cidr("nope"), Err("invalid CIDR \"nope\"".into()));
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let message = regex("(").unwrap_err();
        assert_eq!(message, "invalid regex \"(\": unclosed group");
    }
}
