//! Options of the request guards and the cache: `cors`, `request-limit`, `ssl-enforce`,
//! `override-method`, `json-threat-protection`, `regex-threat-protection`, `geo-ip-filter`
//! and `cache`.

use std::time::Duration;

use regex::Regex;
use serde_yaml_ng::Value;

use crate::auth::lower_header;
use crate::error::{self, Errors};
use crate::http;
use crate::model::{
    CacheOptions, CorsOptions, CorsOrigins, GeoIpOptions, IpFilterMode, JsonThreatOptions,
    OverrideMethodOptions, RegexThreatOptions, RequestLimitOptions, SslEnforceOptions,
    ThreatPattern, ThreatTarget,
};
use crate::policy::regex;
use crate::raw::{
    self, kind, RawCache, RawCors, RawGeoIp, RawHsts, RawJsonThreat, RawOverrideMethod,
    RawRegexThreat, RawRequestLimit, RawSslEnforce, RawThreatPattern, Scalar,
};
use crate::traffic::message;
use crate::validate::{positive, required};

const DEFAULT_CORS_METHODS: &[&str] = &["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"];
const DEFAULT_CORS_MAX_AGE: u64 = 86_400;
/// One year: the default HSTS `max_age`, and the least the HSTS preload list accepts.
const HSTS_PRELOAD_MIN_AGE: u64 = 31_536_000;
const DEFAULT_OVERRIDE_HEADER: &str = "x-http-method-override";
const DEFAULT_OVERRIDE_METHODS: &[&str] = &["PUT", "PATCH", "DELETE"];
const DEFAULT_JSON_MAX_DEPTH: usize = 20;
const DEFAULT_JSON_MAX_KEYS: usize = 100;
const DEFAULT_JSON_MAX_STRING_LENGTH: usize = 10_000;
const DEFAULT_JSON_MAX_ARRAY_SIZE: usize = 100;
const DEFAULT_JSON_MAX_BODY_BYTES: u64 = 1024 * 1024;
const DEFAULT_JSON_CONTENT_TYPE: &str = "application/json";
/// The `targets` names, in the order listed in messages.
const THREAT_TARGETS: &[&str] = &["path", "query", "headers", "body"];
const DEFAULT_THREAT_MESSAGE: &str = "Request blocked";
const DEFAULT_MAX_BODY_SCAN_BYTES: usize = 64 * 1024;
const DEFAULT_COUNTRY_HEADER: &str = "cf-ipcountry";
const DEFAULT_CACHE_TTL_SECS: u64 = 300;
const DEFAULT_CACHE_METHODS: &[&str] = &["GET", "HEAD"];
/// RFC 9110's heuristically cacheable statuses, less 501 (5xx is never stored) and 308.
const DEFAULT_CACHEABLE_STATUSES: &[u16] = &[200, 203, 204, 206, 300, 301, 404, 405, 410, 414];
const DEFAULT_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_CACHE_MAX_OBJECT_BYTES: u64 = 1024 * 1024;
const DEFAULT_CACHE_STATUS_HEADER: &str = "x-cache";

/// `type: cors` options at `path`.
pub(crate) fn cors(raw: RawCors, path: &str, errors: &mut Errors) -> Option<CorsOptions> {
    let at = |field: &str| error::key(path, field);
    let origins = required(raw.origins, path, "origins", errors)
        .and_then(|value| origins(value, &at("origins"), errors));
    let methods = distinct_or_default(
        raw.methods,
        &at("methods"),
        DEFAULT_CORS_METHODS,
        http::method,
        |m| format!("method {m}"),
        errors,
    );
    let allowed_headers = header_names(raw.allowed_headers, &at("allowed_headers"), false, errors);
    let exposed_headers = header_names(raw.exposed_headers, &at("exposed_headers"), false, errors);
    let credentials = flag(raw.credentials, &at("credentials"), false, errors);
    let credentials = match (credentials, &origins) {
        (Some(true), Some(CorsOrigins::Any)) => {
            errors.add(
                &at("credentials"),
                "credentials: true cannot be combined with origins: \"*\": browsers refuse a \
                 wildcard Access-Control-Allow-Origin on credentialed requests, so list the \
                 origins that may call",
            );
            None
        }
        (credentials, _) => credentials,
    };
    let max_age = seconds(raw.max_age, &at("max_age"), DEFAULT_CORS_MAX_AGE, errors);
    let preflight = flag(raw.preflight, &at("preflight"), true, errors);
    Some(CorsOptions {
        origins: origins?,
        methods: methods?,
        allowed_headers: allowed_headers?,
        exposed_headers: exposed_headers?,
        credentials: credentials?,
        max_age: max_age?,
        preflight: preflight?,
    })
}

/// One entry of a cors `origins` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginEntry {
    /// A normalised `scheme://host[:port]`.
    Exact(String),
    /// The pattern after `regex:`, as written (it compiles).
    Pattern(String),
}

/// `origins`: `"*"`, or a non-empty list of origins and `regex:` patterns, each once.
fn origins(value: Value, path: &str, errors: &mut Errors) -> Option<CorsOrigins> {
    let items = match value {
        Value::String(text) if text == "*" => return Some(CorsOrigins::Any),
        Value::Sequence(items) if items.is_empty() => {
            errors.add(
                path,
                "must not be empty: list the origins that may call, or write \"*\" for every \
                 origin",
            );
            return None;
        }
        Value::Sequence(items) => items,
        Value::String(text) => {
            errors.add(
                path,
                format!(
                    "expected \"*\" or a list of origins, found {text:?} \
                     (write [{text:?}] for a single origin)"
                ),
            );
            return None;
        }
        other => {
            errors.add(
                path,
                format!(
                    "expected \"*\" or a list of origins, found {}",
                    kind(&other)
                ),
            );
            return None;
        }
    };
    let mut entries: Vec<OriginEntry> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = error::index(path, i);
        let entry = match Scalar::from_value(item) {
            Some(Scalar(text)) => errors.check(&at, origin_entry(&text)),
            None => {
                errors.add(&at, format!("expected an origin, found {}", kind(item)));
                None
            }
        };
        match entry {
            Some(entry) if entries.contains(&entry) => {
                errors.add(&at, format!("{} is listed twice", describe_origin(&entry)));
                ok = false;
            }
            Some(entry) => entries.push(entry),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    if !entries.iter().any(|e| matches!(e, OriginEntry::Pattern(_))) {
        let exact = entries.into_iter().filter_map(|e| match e {
            OriginEntry::Exact(origin) => Some(origin),
            OriginEntry::Pattern(_) => None,
        });
        return Some(CorsOrigins::List(exact.collect()));
    }
    let anchored: Vec<Option<Regex>> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let pattern = match entry {
                OriginEntry::Exact(origin) => regex::escape(origin),
                OriginEntry::Pattern(pattern) => pattern.clone(),
            };
            // The pattern alone compiled, so this only fails past the regex size limit.
            errors.check(&error::index(path, i), regex(&format!("^(?:{pattern})$")))
        })
        .collect();
    anchored
        .into_iter()
        .collect::<Option<_>>()
        .map(CorsOrigins::Patterns)
}

fn describe_origin(entry: &OriginEntry) -> String {
    match entry {
        OriginEntry::Exact(origin) => format!("origin {origin:?}"),
        OriginEntry::Pattern(pattern) => format!("pattern {pattern:?}"),
    }
}

/// `regex:<pattern>`, or an exact origin (see [`origin`]).
fn origin_entry(text: &str) -> Result<OriginEntry, String> {
    if let Some(pattern) = text.strip_prefix("regex:") {
        if pattern.is_empty() {
            return Err(format!(
                "{text:?} has no pattern (expected regex:<pattern>, e.g. \
                 regex:https://.*\\.example\\.com)"
            ));
        }
        return regex(pattern).map(|_| OriginEntry::Pattern(pattern.to_owned()));
    }
    if text == "*" {
        return Err(
            "\"*\" cannot be part of a list: write origins: \"*\" to allow every origin".into(),
        );
    }
    origin(text).map(OriginEntry::Exact)
}

/// An exact origin as browsers send it in `Origin`: `http` or `https`, a host and an optional
/// port, nothing after. Scheme and host are lower-cased; IPv6 hosts stay in brackets.
fn origin(text: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("invalid origin {text:?}: {why}");
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid(
            "expected scheme://host[:port], e.g. https://app.example.com",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => {
            return Err(invalid(&format!(
                "unsupported scheme {scheme:?} (expected http or https)"
            )))
        }
    };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("whitespace or control characters are not allowed"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(invalid(
            "an origin has no path, query or fragment (not even a trailing '/')",
        ));
    }
    if rest.contains('@') {
        return Err(invalid("user info (user@host) is not allowed"));
    }
    let auth = crate::http::authority(rest).map_err(|why| invalid(&why))?;
    let host = if auth.ipv6 {
        format!("[{}]", auth.host)
    } else {
        auth.host
    };
    match auth.port {
        None => Ok(format!("{scheme}://{host}")),
        Some(n) if n == default_port => Err(invalid(&format!(
            "browsers leave the default port {n} out of Origin, so it would never match; \
             write {scheme}://{host}"
        ))),
        Some(n) => Ok(format!("{scheme}://{host}:{n}")),
    }
}

/// `type: request-limit` options at `path`.
pub(crate) fn request_limit(
    raw: RawRequestLimit,
    path: &str,
    errors: &mut Errors,
) -> Option<RequestLimitOptions> {
    // Given whenever `positive` sees it, so its default (1) is never used.
    let max_bytes = required(raw.max_bytes, path, "max_bytes", errors)
        .and_then(|max| positive::<u64>(Some(max), &error::key(path, "max_bytes"), 1, errors));
    Some(RequestLimitOptions {
        max_bytes: max_bytes?,
    })
}

/// `type: ssl-enforce` options at `path`; the `hsts` mapping is flattened into them.
pub(crate) fn ssl_enforce(
    raw: RawSslEnforce,
    path: &str,
    errors: &mut Errors,
) -> Option<SslEnforceOptions> {
    let at = |field: &str| error::key(path, field);
    let redirect = flag(raw.redirect, &at("redirect"), true, errors);
    let hsts_at = at("hsts");
    let hsts = match raw.hsts {
        Some(value) => raw::object::<RawHsts>(value, &hsts_at, &[], errors),
        None => Some(RawHsts {
            max_age: None,
            include_subdomains: None,
            preload: None,
        }),
    };
    let (max_age, include_subdomains, preload) = match hsts {
        Some(hsts) => {
            let at = |field: &str| error::key(&hsts_at, field);
            (
                seconds(hsts.max_age, &at("max_age"), HSTS_PRELOAD_MIN_AGE, errors),
                flag(
                    hsts.include_subdomains,
                    &at("include_subdomains"),
                    false,
                    errors,
                ),
                flag(hsts.preload, &at("preload"), false, errors),
            )
        }
        None => (None, None, None),
    };
    // Judged only when the other two are valid, so a typo there is reported once, as itself.
    let preload = match (preload, include_subdomains, max_age) {
        (Some(true), Some(subdomains), Some(age)) if !subdomains || age < HSTS_PRELOAD_MIN_AGE => {
            let mut here = Vec::new();
            if !subdomains {
                here.push("include_subdomains is false".to_owned());
            }
            if age < HSTS_PRELOAD_MIN_AGE {
                here.push(format!("max_age is {age}"));
            }
            errors.add(
                &error::key(&hsts_at, "preload"),
                format!(
                    "preload requires include_subdomains: true and max_age of at least \
                     {HSTS_PRELOAD_MIN_AGE} (one year), as the HSTS preload list does; here {}",
                    here.join(" and ")
                ),
            );
            None
        }
        (preload, _, _) => preload,
    };
    let trust_forwarded = flag(raw.trust_forwarded, &at("trust_forwarded"), false, errors);
    Some(SslEnforceOptions {
        redirect: redirect?,
        hsts_max_age: max_age?,
        include_subdomains: include_subdomains?,
        preload: preload?,
        trust_forwarded: trust_forwarded?,
    })
}

/// `type: override-method` options at `path`.
pub(crate) fn override_method(
    raw: RawOverrideMethod,
    path: &str,
    errors: &mut Errors,
) -> Option<OverrideMethodOptions> {
    let header = lower_header(
        raw.header,
        &error::key(path, "header"),
        DEFAULT_OVERRIDE_HEADER,
        errors,
    );
    let allowed_methods = distinct_or_default(
        raw.allowed_methods,
        &error::key(path, "allowed_methods"),
        DEFAULT_OVERRIDE_METHODS,
        override_target,
        |m| format!("method {m}"),
        errors,
    );
    Some(OverrideMethodOptions {
        header: header?,
        allowed_methods: allowed_methods?,
    })
}

/// A method a POST may be turned into: a token, upper-cased, not CONNECT or TRACE.
fn override_target(text: &str) -> Result<String, String> {
    let method = http::method(text)?;
    let why = match method.as_str() {
        "CONNECT" => "it asks for a tunnel, which the gateway never opens",
        "TRACE" => {
            "it echoes the request back, credentials included, which lets a cross-site \
             script read them"
        }
        _ => return Ok(method),
    };
    Err(format!("{method} cannot be allowed: {why}"))
}

/// `type: json-threat-protection` options at `path`.
pub(crate) fn json_threat(
    raw: RawJsonThreat,
    path: &str,
    errors: &mut Errors,
) -> Option<JsonThreatOptions> {
    let at = |field: &str| error::key(path, field);
    let max_depth = positive(
        raw.max_depth,
        &at("max_depth"),
        DEFAULT_JSON_MAX_DEPTH,
        errors,
    );
    let max_keys = positive(raw.max_keys, &at("max_keys"), DEFAULT_JSON_MAX_KEYS, errors);
    let max_string_length = positive(
        raw.max_string_length,
        &at("max_string_length"),
        DEFAULT_JSON_MAX_STRING_LENGTH,
        errors,
    );
    let max_array_size = positive(
        raw.max_array_size,
        &at("max_array_size"),
        DEFAULT_JSON_MAX_ARRAY_SIZE,
        errors,
    );
    let max_body_bytes = positive(
        raw.max_body_bytes,
        &at("max_body_bytes"),
        DEFAULT_JSON_MAX_BODY_BYTES,
        errors,
    );
    let content_types = distinct_or_default(
        raw.content_types,
        &at("content_types"),
        &[DEFAULT_JSON_CONTENT_TYPE],
        media_type,
        |t| format!("media type {t:?}"),
        errors,
    );
    Some(JsonThreatOptions {
        max_depth: max_depth?,
        max_keys: max_keys?,
        max_string_length: max_string_length?,
        max_array_size: max_array_size?,
        max_body_bytes: max_body_bytes?,
        content_types: content_types?,
    })
}

/// A media type `type/subtype`, lower-cased, without parameters or wildcards.
fn media_type(text: &str) -> Result<String, String> {
    if text.eq_ignore_ascii_case("+json") {
        return Err(
            "\"+json\" need not be listed: types ending in +json (application/problem+json...) \
             are always checked"
                .into(),
        );
    }
    if text.contains(';') {
        return Err(format!(
            "invalid media type {text:?}: leave out parameters such as charset (they are \
             ignored when matching)"
        ));
    }
    if text.contains('*') {
        return Err(format!(
            "invalid media type {text:?}: wildcards are not supported, list each media type"
        ));
    }
    match text.split_once('/') {
        Some((kind, subtype)) if http::is_token(kind) && http::is_token(subtype) => {
            Ok(text.to_ascii_lowercase())
        }
        _ => Err(format!(
            "invalid media type {text:?} (expected type/subtype, e.g. application/json)"
        )),
    }
}

/// `type: regex-threat-protection` options at `path`.
pub(crate) fn regex_threat(
    raw: RawRegexThreat,
    path: &str,
    errors: &mut Errors,
) -> Option<RegexThreatOptions> {
    let patterns_at = error::key(path, "patterns");
    let patterns = required(raw.patterns, path, "patterns", errors).and_then(|items| {
        if items.is_empty() {
            errors.add(
                &patterns_at,
                "needs at least one pattern (a policy without patterns blocks nothing)",
            );
            return None;
        }
        let parsed: Vec<Option<ThreatPattern>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| threat_pattern(item, &error::index(&patterns_at, i), errors))
            .collect();
        parsed.into_iter().collect::<Option<Vec<_>>>()
    });
    let max_body_scan_bytes = positive(
        raw.max_body_scan_bytes,
        &error::key(path, "max_body_scan_bytes"),
        DEFAULT_MAX_BODY_SCAN_BYTES,
        errors,
    );
    Some(RegexThreatOptions {
        patterns: patterns?,
        max_body_scan_bytes: max_body_scan_bytes?,
    })
}

/// One entry of `patterns:` at `path`.
fn threat_pattern(value: Value, path: &str, errors: &mut Errors) -> Option<ThreatPattern> {
    let raw: RawThreatPattern = raw::object(value, path, &[], errors)?;
    let at = |field: &str| error::key(path, field);
    let pattern = required(raw.regex, path, "regex", errors).and_then(|Scalar(text)| {
        if text.is_empty() {
            errors.add(
                &at("regex"),
                "must not be empty (an empty pattern matches every request)",
            );
            return None;
        }
        errors.check(&at("regex"), regex(&text))
    });
    let targets = match raw.targets {
        Some(list) if list.is_empty() => {
            errors.add(
                &at("targets"),
                "must not be empty (leave it out to scan path, query, headers and body)",
            );
            None
        }
        Some(list) => distinct(
            list,
            &at("targets"),
            threat_target,
            |t| format!("target {}", target_name(*t)),
            errors,
        ),
        None => Some(vec![
            ThreatTarget::Path,
            ThreatTarget::Query,
            ThreatTarget::Headers,
            ThreatTarget::Body,
        ]),
    };
    let message = match raw.message {
        Some(Scalar(text)) => errors.check(&at("message"), message(text)),
        None => Some(DEFAULT_THREAT_MESSAGE.to_owned()),
    };
    Some(ThreatPattern {
        regex: pattern?,
        targets: targets?,
        message: message?,
    })
}

fn threat_target(text: &str) -> Result<ThreatTarget, String> {
    match text {
        "path" => Ok(ThreatTarget::Path),
        "query" => Ok(ThreatTarget::Query),
        "headers" => Ok(ThreatTarget::Headers),
        "body" => Ok(ThreatTarget::Body),
        _ => Err(format!(
            "unknown target {text:?}{}, expected one of: {}",
            raw::did_you_mean(text, THREAT_TARGETS),
            THREAT_TARGETS.join(", ")
        )),
    }
}

fn target_name(target: ThreatTarget) -> &'static str {
    match target {
        ThreatTarget::Path => "path",
        ThreatTarget::Query => "query",
        ThreatTarget::Headers => "headers",
        ThreatTarget::Body => "body",
    }
}

/// `type: geo-ip-filter` options at `path`.
pub(crate) fn geo_ip(raw: RawGeoIp, path: &str, errors: &mut Errors) -> Option<GeoIpOptions> {
    let at = |field: &str| error::key(path, field);
    let allow = countries(raw.allow, &at("allow"), errors);
    let deny = countries(raw.deny, &at("deny"), errors);
    let mut lists_ok = true;
    if let (Some(allow), Some(deny)) = (&allow, &deny) {
        for (i, code) in deny.iter().enumerate() {
            if allow.contains(code) {
                errors.add(
                    &error::index(&at("deny"), i),
                    format!(
                        "country {code} is also in allow; list it in one of them (in mode deny \
                         the allow entry wins, in mode allow the deny entry does)"
                    ),
                );
                lists_ok = false;
            }
        }
    }
    let mode = match raw.mode.as_ref().map(|m| m.0.as_str()) {
        None | Some("deny") => Some(IpFilterMode::Deny),
        Some("allow") => Some(IpFilterMode::Allow),
        Some(other) => {
            errors.add(
                &at("mode"),
                format!("invalid mode {other:?} (expected deny or allow)"),
            );
            None
        }
    };
    let mode = match mode {
        Some(IpFilterMode::Allow) if allow.as_ref().is_some_and(Vec::is_empty) => {
            errors.add(
                &at("mode"),
                "mode allow with an empty allow list would refuse every client",
            );
            None
        }
        mode => mode,
    };
    let country_header = match raw.country_header {
        Some(_) if raw.mmdb_path.is_some() => {
            errors.add(
                &at("country_header"),
                "country_header is not used with mmdb_path (the country then comes from the \
                 client address); give one of them",
            );
            None
        }
        header => lower_header(
            header,
            &at("country_header"),
            DEFAULT_COUNTRY_HEADER,
            errors,
        ),
    };
    let mmdb_path = match raw.mmdb_path {
        Some(Scalar(file)) => errors
            .check(&at("mmdb_path"), readable_file(&file))
            .map(Some),
        None => Some(None),
    };
    if !lists_ok {
        return None;
    }
    Some(GeoIpOptions {
        allow: allow?,
        deny: deny?,
        mode: mode?,
        country_header: country_header?,
        mmdb_path: mmdb_path?,
    })
}

/// A list of country codes at `path`, each once.
fn countries(list: Option<Vec<Scalar>>, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    distinct(
        list.unwrap_or_default(),
        path,
        country,
        |c| format!("country {c}"),
        errors,
    )
}

/// An ISO 3166-1 alpha-2 code: two ASCII letters, upper-cased.
fn country(text: &str) -> Result<String, String> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(format!(
            "invalid country code {text:?} (expected two letters, ISO 3166-1 alpha-2, e.g. US)"
        ))
    }
}

/// A file that exists and can be opened for reading now, at load time.
fn readable_file(file: &str) -> Result<String, String> {
    if file.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    let cannot = |e: std::io::Error| format!("cannot read mmdb_path {file:?}: {e}");
    let meta = std::fs::metadata(file).map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "mmdb_path {file:?} is not a file (expected a MaxMind DB such as GeoLite2-Country.mmdb)"
        ));
    }
    std::fs::File::open(file).map_err(cannot)?;
    Ok(file.to_owned())
}

/// `type: cache` options at `path`.
pub(crate) fn cache(raw: RawCache, path: &str, errors: &mut Errors) -> Option<CacheOptions> {
    let at = |field: &str| error::key(path, field);
    let ttl = seconds(raw.ttl, &at("ttl"), DEFAULT_CACHE_TTL_SECS, errors).and_then(|secs| {
        if secs == 0 {
            errors.add(&at("ttl"), "must be greater than 0");
            return None;
        }
        Some(Duration::from_secs(secs))
    });
    let methods = distinct_or_default(
        raw.methods,
        &at("methods"),
        DEFAULT_CACHE_METHODS,
        cache_method,
        |m| format!("method {m}"),
        errors,
    )
    .and_then(|methods| {
        if methods == ["HEAD"] {
            errors.add(
                &at("methods"),
                "HEAD alone caches nothing: HEAD is answered from GET entries and never \
                 stored, so list GET as well",
            );
            return None;
        }
        Some(methods)
    });
    let cacheable_statuses = match raw.cacheable_statuses {
        Some(list) if list.is_empty() => {
            errors.add(
                &at("cacheable_statuses"),
                "must not be empty (leave it out for the default list)",
            );
            None
        }
        Some(list) => distinct(
            list,
            &at("cacheable_statuses"),
            cacheable_status,
            |s| format!("status {s}"),
            errors,
        ),
        None => Some(DEFAULT_CACHEABLE_STATUSES.to_vec()),
    };
    let vary_headers = header_names(raw.vary_headers, &at("vary_headers"), true, errors);
    let respect_cache_control = flag(
        raw.respect_cache_control,
        &at("respect_cache_control"),
        true,
        errors,
    );
    let max_bytes_given = raw.max_bytes.is_some();
    let max_object_given = raw.max_object_bytes.is_some();
    let max_bytes = positive(
        raw.max_bytes,
        &at("max_bytes"),
        DEFAULT_CACHE_MAX_BYTES,
        errors,
    );
    let max_object_bytes = positive(
        raw.max_object_bytes,
        &at("max_object_bytes"),
        DEFAULT_CACHE_MAX_OBJECT_BYTES,
        errors,
    );
    let sizes = match (max_bytes, max_object_bytes) {
        (Some(total), Some(object)) if object > total => {
            if max_object_given || !max_bytes_given {
                errors.add(
                    &at("max_object_bytes"),
                    format!("must be at most max_bytes ({total})"),
                );
            } else {
                errors.add(
                    &at("max_bytes"),
                    format!(
                        "must be at least max_object_bytes ({object} by default); lower \
                         max_object_bytes as well"
                    ),
                );
            }
            None
        }
        (Some(total), Some(object)) => Some((total, object)),
        _ => None,
    };
    let status_header = lower_header(
        raw.status_header,
        &at("status_header"),
        DEFAULT_CACHE_STATUS_HEADER,
        errors,
    );
    let (max_bytes, max_object_bytes) = sizes?;
    Some(CacheOptions {
        ttl: ttl?,
        methods: methods?,
        cacheable_statuses: cacheable_statuses?,
        vary_headers: vary_headers?,
        respect_cache_control: respect_cache_control?,
        max_bytes,
        max_object_bytes,
        status_header: status_header?,
    })
}

/// GET or HEAD, upper-cased.
fn cache_method(text: &str) -> Result<String, String> {
    let method = http::method(text)?;
    if DEFAULT_CACHE_METHODS.contains(&method.as_str()) {
        Ok(method)
    } else {
        Err(format!(
            "method {method} cannot be cached (expected GET or HEAD)"
        ))
    }
}

/// A status 100..=599 that may be stored: any 5xx is refused.
fn cacheable_status(text: &str) -> Result<u16, String> {
    match Scalar(text.to_owned()).integer::<u16>() {
        Ok(code) if (500..=599).contains(&code) => Err("5xx responses are never cached".into()),
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        Ok(_) | Err(_) => Err(format!("invalid status {text:?} (expected 100..=599)")),
    }
}

/// An optional boolean at `path`, `default` when absent.
pub(crate) fn flag(
    field: Option<Scalar>,
    path: &str,
    default: bool,
    errors: &mut Errors,
) -> Option<bool> {
    match field {
        Some(text) => errors.check(path, text.boolean()),
        None => Some(default),
    }
}

/// An optional number of seconds at `path`, written as an integer (seconds) or a duration
/// that comes to whole seconds; `default` when absent. Zero is allowed.
fn seconds(field: Option<Scalar>, path: &str, default: u64, errors: &mut Errors) -> Option<u64> {
    let Some(text) = field else {
        return Some(default);
    };
    let value = errors.check(path, text.duration())?;
    if value.subsec_nanos() != 0 {
        errors.add(
            path,
            format!(
                "must be a whole number of seconds, found {:?} (e.g. 30s, 5m, 24h)",
                text.0
            ),
        );
        return None;
    }
    Some(value.as_secs())
}

/// An optional list of header names at `path`, each once (ignoring case); lower-cased when
/// `lower`, else kept as written. Absent = empty.
pub(crate) fn header_names(
    list: Option<Vec<Scalar>>,
    path: &str,
    lower: bool,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, Scalar(name)) in list.unwrap_or_default().iter().enumerate() {
        let at = error::index(path, i);
        let Some(name) = errors.check(&at, http::header_name(name)) else {
            ok = false;
            continue;
        };
        if out.iter().any(|h| h.eq_ignore_ascii_case(&name)) {
            errors.add(&at, format!("header {name:?} is listed twice"));
            ok = false;
            continue;
        }
        out.push(if lower {
            name.to_ascii_lowercase()
        } else {
            name
        });
    }
    ok.then_some(out)
}

/// An optional list at `path` that must not be empty when given: `default` when absent, else
/// [`distinct`].
pub(crate) fn distinct_or_default(
    list: Option<Vec<Scalar>>,
    path: &str,
    default: &[&str],
    parse: impl Fn(&str) -> Result<String, String>,
    describe: impl Fn(&String) -> String,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    match list {
        None => Some(default.iter().map(|m| (*m).to_owned()).collect()),
        Some(list) if list.is_empty() => {
            errors.add(
                path,
                format!(
                    "must not be empty (leave it out for {})",
                    default.join(", ")
                ),
            );
            None
        }
        Some(list) => distinct(list, path, parse, describe, errors),
    }
}

/// Each entry of `list` checked by `parse`, every problem reported at the entry's index; an
/// entry equal to an earlier one is `{describe(entry)} is listed twice`.
pub(crate) fn distinct<T: PartialEq>(
    list: Vec<Scalar>,
    path: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    describe: impl Fn(&T) -> String,
    errors: &mut Errors,
) -> Option<Vec<T>> {
    let mut out: Vec<T> = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, Scalar(text)) in list.iter().enumerate() {
        let at = error::index(path, i);
        match parse(text) {
            Ok(item) if out.contains(&item) => {
                errors.add(&at, format!("{} is listed twice", describe(&item)));
                ok = false;
            }
            Ok(item) => out.push(item),
            Err(message) => {
                errors.add(&at, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin("HTTPS://App.Example.com"),
            Ok("https://app.example.com".into())
        );
        assert_eq!(
            origin("http://localhost:3000"),
            Ok("http://localhost:3000".into())
        );
        assert_eq!(
            origin("http://[0:0::1]:8080"),
            Ok("http://[::1]:8080".into())
        );
        assert_eq!(origin("https://[::1]"), Ok("https://[::1]".into()));
        for (bad, why) in [
            ("app.example.com", "expected scheme://host[:port]"),
            ("ftp://a", "unsupported scheme \"ftp\""),
            ("https://a/", "no path, query or fragment"),
            ("https://a?x", "no path, query or fragment"),
            ("https://u@a", "user info"),
            ("https://", "missing host"),
            ("https://a b", "whitespace"),
            ("https://a:0", "invalid port \"0\""),
            ("https://a:+8", "invalid port \"+8\""),
            ("https://a:70000", "invalid port \"70000\""),
            ("https://::1", "brackets"),
            ("https://[::1", "missing ']'"),
            ("https://[zz]", "bad IPv6"),
            ("https://[::1]x", "expected ':port'"),
            ("https://a!b", "invalid host \"a!b\""),
            ("http://a:80", "default port 80"),
            ("https://a:443", "default port 443"),
        ] {
            let e = origin(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn media_types() {
        assert_eq!(
            media_type("Application/Vnd.API+JSON"),
            Ok("application/vnd.api+json".into())
        );
        for bad in ["json", "application/", "/json", "a/b/c", "text /plain"] {
            assert_eq!(
                media_type(bad),
                Err(format!(
                    "invalid media type {bad:?} (expected type/subtype, e.g. application/json)"
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn country_codes() {
        assert_eq!(country("us"), Ok("US".into()));
        for bad in ["", "U", "USA", "T1", "é"] {
            assert!(country(bad).is_err(), "{bad}");
        }
    }
}
