//! Upstream groups and health: the `url` upstream's `target`/`targets`, `load_balancer` and
//! `hash_on`, `health_check` and `outlier`, and `type: health` upstreams.

use std::time::Duration;

use serde_yaml_ng::Value;

use crate::auth::cookie_name;
use crate::error::{self, Errors};
use crate::guards::flag;
use crate::http;
use crate::model::{
    HashOn, HealthCheck, HealthUpstream, LoadBalancer, OutlierDetection, TargetUrl, WeightedTarget,
};
use crate::raw::{self, RawHealthCheck, RawHealthUpstream, RawOutlier, RawWeightedTarget, Scalar};
use crate::route::{http_url, target_url};
use crate::validate::{positive, positive_duration, required};

/// The `load_balancer` names, in the order listed in messages.
const BALANCERS: &[&str] = &["round_robin", "weighted", "least_conn", "p2c", "hash"];
/// The `hash_on` forms, as listed in messages.
const HASH_ON_FORMS: &str = "ip, header:<name>, cookie:<name>, path";
/// The `hash_on` values that take no name, for "did you mean".
const HASH_ON_WORDS: &[&str] = &["ip", "path"];
const DEFAULT_WEIGHT: u32 = 1;
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
const DEFAULT_EXPECTED_STATUS: u16 = 200;
const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;
const DEFAULT_EJECTION_TIME: Duration = Duration::from_secs(30);
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `target` or `targets` of the `url` upstream at `path` (exactly one), as weighted
/// targets in file order, each URL once. Weights other than 1 are refused unless
/// `balancer` (the valid `load_balancer` name, when it is valid) uses them.
pub(crate) fn targets(
    target: Option<Scalar>,
    targets: Option<Vec<Value>>,
    balancer: Option<&str>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<WeightedTarget>> {
    let items = match (target, targets) {
        (Some(_), Some(_)) => {
            errors.add(
                path,
                "give either target or targets, not both (write one entry of targets per \
                 server)",
            );
            return None;
        }
        (None, None) => {
            errors.add(
                path,
                "missing required field \"target\" (or \"targets\" for several)",
            );
            return None;
        }
        (Some(Scalar(text)), None) => {
            let url = errors.check(&error::key(path, "target"), target_url(&text))?;
            return Some(vec![WeightedTarget {
                url,
                weight: DEFAULT_WEIGHT,
            }]);
        }
        (None, Some(items)) => items,
    };
    let list_at = error::key(path, "targets");
    if items.is_empty() {
        errors.add(&list_at, "needs at least one target");
        return None;
    }
    let mut out: Vec<WeightedTarget> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        let at = error::index(&list_at, i);
        let Some(raw) = raw::object::<RawWeightedTarget>(item, &at, &[], errors) else {
            ok = false;
            continue;
        };
        let url = required(raw.url, &at, "url", errors).and_then(|Scalar(text)| {
            let url = errors.check(&error::key(&at, "url"), target_url(&text))?;
            if out.iter().any(|t| t.url == url) {
                errors.add(
                    &error::key(&at, "url"),
                    format!("target {text:?} is listed twice (give it a larger weight instead)"),
                );
                return None;
            }
            Some(url)
        });
        let weight_at = error::key(&at, "weight");
        let weight =
            positive(raw.weight, &weight_at, DEFAULT_WEIGHT, errors).and_then(|w| match balancer {
                Some(name @ ("round_robin" | "least_conn" | "p2c")) if w != DEFAULT_WEIGHT => {
                    errors.add(
                        &weight_at,
                        format!(
                            "weight only applies to load_balancer: weighted or hash \
                             (load_balancer here is {name})"
                        ),
                    );
                    None
                }
                _ => Some(w),
            });
        match (url, weight) {
            (Some(url), Some(weight)) => out.push(WeightedTarget { url, weight }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// The valid `load_balancer` name (default `round_robin`), for judging the other fields.
pub(crate) fn balancer_name(
    field: &Option<Scalar>,
    path: &str,
    errors: &mut Errors,
) -> Option<&'static str> {
    let Some(Scalar(text)) = field else {
        return Some("round_robin");
    };
    match BALANCERS.iter().find(|b| **b == text) {
        Some(name) => Some(name),
        None => {
            errors.add(
                path,
                format!(
                    "unknown load_balancer {text:?}{}, expected one of: {}",
                    raw::did_you_mean(text, BALANCERS),
                    BALANCERS.join(", ")
                ),
            );
            None
        }
    }
}

/// `load_balancer` (already checked into `name`) with `hash_on`, required with `hash` and
/// refused otherwise. `path` is the upstream's.
pub(crate) fn load_balancer(
    name: Option<&str>,
    hash_on: Option<Scalar>,
    path: &str,
    errors: &mut Errors,
) -> Option<LoadBalancer> {
    let hash_at = error::key(path, "hash_on");
    let hash_on = match hash_on {
        Some(Scalar(text)) => Some(errors.check(&hash_at, hash_key(&text))?),
        None => None,
    };
    match (name?, hash_on) {
        ("hash", Some(key)) => Some(LoadBalancer::Hash(key)),
        ("hash", None) => {
            errors.add(
                path,
                format!(
                    "missing required field \"hash_on\" (load_balancer hash needs it: one of \
                     {HASH_ON_FORMS})"
                ),
            );
            None
        }
        (other, Some(_)) => {
            errors.add(
                &hash_at,
                format!(
                    "hash_on only applies to load_balancer: hash (load_balancer here is \
                     {other})"
                ),
            );
            None
        }
        ("weighted", None) => Some(LoadBalancer::Weighted),
        ("least_conn", None) => Some(LoadBalancer::LeastConn),
        ("p2c", None) => Some(LoadBalancer::P2c),
        (_, None) => Some(LoadBalancer::RoundRobin),
    }
}

/// `ip`, `header:<name>` (lower-cased), `cookie:<name>` or `path`.
fn hash_key(text: &str) -> Result<HashOn, String> {
    if let Some(name) = text.strip_prefix("header:") {
        return http::header_name(name).map(|h| HashOn::Header(h.to_ascii_lowercase()));
    }
    if let Some(name) = text.strip_prefix("cookie:") {
        return cookie_name(name).map(HashOn::Cookie);
    }
    match text {
        "ip" => Ok(HashOn::Ip),
        "path" => Ok(HashOn::Path),
        _ => Err(format!(
            "unknown hash_on {text:?}{}, expected one of: {HASH_ON_FORMS}",
            raw::did_you_mean(text, HASH_ON_WORDS)
        )),
    }
}

/// `health_check:` at `path`.
pub(crate) fn health_check(value: Value, path: &str, errors: &mut Errors) -> Option<HealthCheck> {
    let raw: RawHealthCheck = raw::object(value, path, &[], errors)?;
    let at = |field: &str| error::key(path, field);
    let check_path = required(raw.path, path, "path", errors).and_then(|Scalar(text)| {
        errors.check(&at("path"), http::literal_path(&text).map(|()| text))
    });
    let timeout_given = raw.timeout.is_some();
    let interval_given = raw.interval.is_some();
    let interval = positive_duration(
        raw.interval,
        &at("interval"),
        DEFAULT_CHECK_INTERVAL,
        errors,
    );
    let timeout = positive_duration(raw.timeout, &at("timeout"), DEFAULT_CHECK_TIMEOUT, errors);
    let times = match (interval, timeout) {
        (Some(interval), Some(timeout)) if timeout >= interval => {
            if timeout_given || !interval_given {
                errors.add(
                    &at("timeout"),
                    format!("must be shorter than interval ({interval:?})"),
                );
            } else {
                errors.add(
                    &at("interval"),
                    format!(
                        "must be longer than timeout ({timeout:?} by default); lower timeout \
                         as well"
                    ),
                );
            }
            None
        }
        (Some(interval), Some(timeout)) => Some((interval, timeout)),
        _ => None,
    };
    let healthy_threshold = positive(
        raw.healthy_threshold,
        &at("healthy_threshold"),
        DEFAULT_HEALTHY_THRESHOLD,
        errors,
    );
    let unhealthy_threshold = positive(
        raw.unhealthy_threshold,
        &at("unhealthy_threshold"),
        DEFAULT_UNHEALTHY_THRESHOLD,
        errors,
    );
    let expected_status = match raw.expected_status {
        Some(value) => expected_status(value, &at("expected_status"), errors),
        None => Some(vec![DEFAULT_EXPECTED_STATUS]),
    };
    let (interval, timeout) = times?;
    Some(HealthCheck {
        path: check_path?,
        interval,
        timeout,
        healthy_threshold: healthy_threshold?,
        unhealthy_threshold: unhealthy_threshold?,
        expected_status: expected_status?,
    })
}

/// `expected_status`: one status or a non-empty list, each 100..=599 and listed once.
fn expected_status(value: Value, path: &str, errors: &mut Errors) -> Option<Vec<u16>> {
    let items = raw::one_or_list(value, path, "a status", errors)?;
    if items.is_empty() {
        errors.add(path, "must not be empty (leave it out for 200)");
        return None;
    }
    let mut out: Vec<u16> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (at, text) in items {
        match status_code(&text, 100) {
            Ok(code) if out.contains(&code) => {
                errors.add(&at, format!("status {code} is listed twice"));
                ok = false;
            }
            Ok(code) => out.push(code),
            Err(message) => {
                errors.add(&at, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A status `min..=599`: `invalid status "x" (expected {min}..=599)` otherwise.
pub(crate) fn status_code(text: &Scalar, min: u16) -> Result<u16, String> {
    match text.integer::<u16>() {
        Ok(code) if (min..=599).contains(&code) => Ok(code),
        Ok(_) | Err(_) => Err(format!(
            "invalid status {:?} (expected {min}..=599)",
            text.0
        )),
    }
}

/// `outlier:` at `path`; every field has a default.
pub(crate) fn outlier(value: Value, path: &str, errors: &mut Errors) -> Option<OutlierDetection> {
    let raw: RawOutlier = raw::object(value, path, &[], errors)?;
    let consecutive_failures = positive(
        raw.consecutive_failures,
        &error::key(path, "consecutive_failures"),
        DEFAULT_CONSECUTIVE_FAILURES,
        errors,
    );
    let ejection_time = positive_duration(
        raw.ejection_time,
        &error::key(path, "ejection_time"),
        DEFAULT_EJECTION_TIME,
        errors,
    );
    Some(OutlierDetection {
        consecutive_failures: consecutive_failures?,
        ejection_time: ejection_time?,
    })
}

/// `upstream: {type: health, ...}` at `path`.
pub(crate) fn health_upstream(
    raw: RawHealthUpstream,
    path: &str,
    errors: &mut Errors,
) -> Option<HealthUpstream> {
    let at = |field: &str| error::key(path, field);
    let probes_given = raw.probes.is_some();
    let probes_at = at("probes");
    let mut probes: Vec<TargetUrl> = Vec::new();
    let mut probes_ok = true;
    for (i, Scalar(text)) in raw.probes.unwrap_or_default().iter().enumerate() {
        let item_at = error::index(&probes_at, i);
        match endpoint(
            text,
            "probe URL",
            "the path to probe, e.g. http://db.internal:8080/health",
        ) {
            Ok(url) if probes.contains(&url) => {
                errors.add(&item_at, format!("probe {text:?} is listed twice"));
                probes_ok = false;
            }
            Ok(url) => probes.push(url),
            Err(message) => {
                errors.add(&item_at, message);
                probes_ok = false;
            }
        }
    }
    let probe_timeout = positive_duration(
        raw.probe_timeout,
        &at("probe_timeout"),
        DEFAULT_PROBE_TIMEOUT,
        errors,
    );
    let include_upstreams = flag(
        raw.include_upstreams,
        &at("include_upstreams"),
        false,
        errors,
    );
    if include_upstreams == Some(false) && probes_ok && probes.is_empty() {
        let (where_, message) = if probes_given {
            (
                probes_at.as_str(),
                "must not be empty unless include_upstreams is true (with nothing to check, \
                 the answer would always be healthy)",
            )
        } else {
            (
                path,
                "health upstream checks nothing: give probes, or include_upstreams: true to \
                 report the url upstreams",
            )
        };
        errors.add(where_, message);
        return None;
    }
    if !probes_ok {
        return None;
    }
    Some(HealthUpstream {
        probes,
        probe_timeout: probe_timeout?,
        include_upstreams: include_upstreams?,
    })
}

/// A whole `http://` address in a field named `what` in messages: the rules of an upstream
/// target, but the path is required (`needs` describes it; `/` alone is a path) and kept as
/// written in `path_prefix`.
pub(crate) fn endpoint(text: &str, what: &str, needs: &str) -> Result<TargetUrl, String> {
    let url = http_url(
        text,
        what,
        &format!("https {what} is not supported yet (TLS is planned)"),
    )?;
    if url.path_prefix.is_empty() {
        return Err(format!("invalid {what} {text:?}: needs {needs}"));
    }
    http::literal_path(&url.path_prefix)
        .map_err(|why| format!("invalid {what} {text:?}: {why}"))?;
    Ok(url)
}
