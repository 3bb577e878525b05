//! Control-plane documents: APIs, policies and consumers sent to the admin API, merged into
//! the config file's document so they pass through exactly the same validation.
//!
//! An API becomes a route (`path_prefix` + `/*`, so the prefix itself matches too) with a
//! `url` upstream and the policies attached to it; a consumer becomes an entry of
//! `consumers:`. They are appended to the file's lists after `${VAR}` substitution (admin
//! values are taken literally), and every error about them is reported against the
//! document the admin API was sent (`policies["rl"].config.maxRequests`), not against the
//! YAML they were turned into.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value;

use crate::error::FieldError;
use crate::model::{Config, RouteSpec};
use crate::policy::POLICY_TYPES;

/// `POST /admin/apis`: an API served under a path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiDoc {
    /// Required; the key of upserts.
    pub id: String,
    /// Display name. Default empty.
    #[serde(default)]
    pub name: String,
    /// The control plane's tenant. Default none.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Required: `/orders` serves `/orders` and everything below it.
    pub path_prefix: String,
    /// The upstream when `upstreams` is empty.
    #[serde(default)]
    pub backend_url: Option<String>,
    /// Allowed methods; empty means every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The control plane's hash of the API's spec, stored and echoed.
    #[serde(default)]
    pub spec_hash: Option<String>,
    /// `false`: stored (and validated) but not routed. Default true.
    #[serde(default = "default_true")]
    pub activated: bool,
    /// Weighted targets; when given, `backend_url` is ignored.
    #[serde(default)]
    pub upstreams: Vec<ApiUpstream>,
    /// Any `load_balancer` name of a `url` upstream. Default `round_robin`, or `weighted`
    /// when targets carry weights.
    #[serde(default)]
    pub load_balancer: Option<String>,
}

/// One entry of an API's `upstreams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUpstream {
    /// `http://host[:port][/path]`.
    pub url: String,
    /// Default 1.
    #[serde(default)]
    pub weight: Option<u32>,
}

/// `POST /admin/policies`: a policy attached to one API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Required; the key of upserts.
    pub id: String,
    /// The policy's name in the route's program (the merge key with global policies).
    /// Default: the id.
    #[serde(default)]
    pub name: Option<String>,
    /// Any Sluice policy type (`rate-limit`, or `rate_limit`), plus the aliases
    /// `rate_limit` with `{maxRequests, intervalSeconds}` and `cors` with camel-case keys.
    pub policy_type: String,
    /// The policy's options, in the same shape as in YAML. Default `{}`.
    #[serde(default = "empty_object")]
    pub config: Json,
    /// Default: the type's default priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Required: the API whose program runs this policy.
    pub api_id: String,
}

/// Everything the admin API has stored, keyed by id (so iteration order, and with it the
/// compiled config, is the same however the documents arrived).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlState {
    /// By `id`.
    pub apis: BTreeMap<String, ApiDoc>,
    /// By `id`.
    pub policies: BTreeMap<String, PolicyDoc>,
    /// By `id`; each in the shape of a `consumers:` entry.
    pub consumers: BTreeMap<String, Json>,
}

fn default_true() -> bool {
    true
}

fn empty_object() -> Json {
    Json::Object(Map::new())
}

/// Where each appended entry came from, to report errors against the admin documents.
pub(crate) struct Appended {
    /// Index of the first appended route, then per route: API id and its policy ids.
    first_route: usize,
    routes: Vec<(String, Vec<(String, PolicyShape)>)>,
    first_consumer: usize,
    consumers: Vec<String>,
}

/// How a policy's YAML keys map back to what was sent.
#[derive(Clone, Copy)]
enum PolicyShape {
    Plain,
    RateLimitAlias,
    CorsAlias,
}

/// The label of an admin document in messages: `apis["orders"]`.
pub fn label(kind: &str, id: &str) -> String {
    format!("{kind}[{id:?}]")
}

/// Appends `state`'s activated APIs to `routes:` and its consumers to `consumers:` of the
/// (already substituted) document `root`. Problems found before validation (a policy for an
/// unknown API, an unknown policy type) are returned with it, such a policy left out so the
/// rest can still be judged by validation (whose errors [`Appended::translate`] names).
pub(crate) fn append(
    root: &mut Value,
    state: &ControlState,
) -> (Option<Appended>, Vec<FieldError>) {
    if state.apis.is_empty() && state.policies.is_empty() && state.consumers.is_empty() {
        return (None, Vec::new());
    }
    let mut errors = Vec::new();
    for (id, p) in &state.policies {
        if !state.apis.contains_key(&p.api_id) {
            errors.push(FieldError::new(
                format!("{}.api_id", label("policies", id)),
                format!("no API with id {:?}", p.api_id),
            ));
            // Attached nowhere, so validation never sees it: report its type at least.
            if let Err(e) = policy_value(p) {
                errors.push(e);
            }
        }
    }
    let Value::Mapping(map) = root else {
        // The file's own validation reports a top level that is not a mapping.
        return (None, errors);
    };
    let mut routes_added: Vec<Value> = Vec::new();
    let mut appended = Appended {
        first_route: 0,
        routes: Vec::new(),
        first_consumer: 0,
        consumers: Vec::new(),
    };
    for (id, api) in &state.apis {
        let mut policies = Vec::new();
        let mut shapes = Vec::new();
        for (pid, p) in state.policies.iter().filter(|(_, p)| &p.api_id == id) {
            match policy_value(p) {
                Ok((value, shape)) => {
                    policies.push(value);
                    shapes.push((pid.clone(), shape));
                }
                Err(e) => errors.push(e),
            }
        }
        // An inactive API is validated like the rest, so it cannot be stored broken; it
        // is left out of the running config afterwards (see `load`).
        routes_added.push(route_value(api, policies));
        appended.routes.push((id.clone(), shapes));
    }
    let routes = map
        .entry(Value::from("routes"))
        .or_insert(Value::Sequence(Vec::new()));
    if let Value::Sequence(list) = routes {
        appended.first_route = list.len();
        list.extend(routes_added);
    }
    let consumers = map
        .entry(Value::from("consumers"))
        .or_insert(Value::Sequence(Vec::new()));
    if consumers.is_null() {
        *consumers = Value::Sequence(Vec::new());
    }
    if let Value::Sequence(list) = consumers {
        appended.first_consumer = list.len();
        for (id, doc) in &state.consumers {
            list.push(to_yaml(doc));
            appended.consumers.push(id.clone());
        }
    }
    (Some(appended), errors)
}

/// Removes inactive APIs' routes (validated, but not served) and checks that no two routes
/// share a path with overlapping methods where one of them came from the admin API.
pub(crate) fn finish(
    config: &mut Config,
    appended: &Appended,
    state: &ControlState,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let first = appended.first_route;
    for (k, (id, _)) in appended.routes.iter().enumerate() {
        let Some(mine) = config.routes.get(first + k) else {
            continue;
        };
        if !state.apis.get(id).is_some_and(|a| a.activated) {
            continue;
        }
        for (j, other) in config.routes.iter().enumerate().take(first + k) {
            let other_active = j < first
                || state
                    .apis
                    .get(&appended.routes[j - first].0)
                    .is_some_and(|a| a.activated);
            if other_active && other.path == mine.path && methods_overlap(mine, other) {
                let owner = if j < first {
                    format!("the config file's {}", other.field_path)
                } else {
                    label("apis", &appended.routes[j - first].0)
                };
                errors.push(FieldError::new(
                    format!("{}.path_prefix", label("apis", id)),
                    format!(
                        "path {} clashes with {owner}, which serves the same path and methods",
                        mine.path
                    ),
                ));
            }
        }
    }
    // Later stages (the compiler) name a route by its field path: make it the document's.
    for (k, (id, shapes)) in appended.routes.iter().enumerate() {
        if let Some(route) = config.routes.get_mut(first + k) {
            route.field_path = label("apis", id);
            for (policy, (pid, _)) in route.policies.iter_mut().zip(shapes) {
                policy.field_path = label("policies", pid);
            }
        }
    }
    let mut k = 0;
    config.routes.retain(|_| {
        let keep = k < first
            || state
                .apis
                .get(&appended.routes[k - first].0)
                .is_some_and(|a| a.activated);
        k += 1;
        keep
    });
    errors
}

fn methods_overlap(a: &RouteSpec, b: &RouteSpec) -> bool {
    match (&a.methods, &b.methods) {
        (Some(x), Some(y)) => x.iter().any(|m| y.contains(m)),
        _ => true,
    }
}

impl Appended {
    /// Rewrites `error`'s path from the merged document to the admin document it is about;
    /// errors about the file itself are returned unchanged.
    pub(crate) fn translate(&self, mut error: FieldError) -> FieldError {
        if let Some((i, rest)) = indexed(&error.path, "routes") {
            if let Some((id, shapes)) = i
                .checked_sub(self.first_route)
                .and_then(|k| self.routes.get(k))
            {
                error.path = self.route_path(id, shapes, rest);
            }
        } else if let Some((i, rest)) = indexed(&error.path, "consumers") {
            if let Some(id) = i
                .checked_sub(self.first_consumer)
                .and_then(|k| self.consumers.get(k))
            {
                error.path = format!("{}{rest}", label("consumers", id));
            }
        }
        error
    }

    fn route_path(&self, id: &str, shapes: &[(String, PolicyShape)], rest: &str) -> String {
        let api = label("apis", id);
        if let Some((j, rest)) = indexed(rest.trim_start_matches('.'), "policies") {
            if let Some((pid, shape)) = shapes.get(j) {
                return format!("{}{}", label("policies", pid), policy_field(rest, *shape));
            }
        }
        let renamed = [
            (".path", ".path_prefix"),
            (".upstream.targets", ".upstreams"),
            (".upstream.target", ".backend_url"),
            (".upstream.load_balancer", ".load_balancer"),
            (".upstream", ".upstreams"),
        ];
        for (from, to) in renamed {
            if let Some(tail) = rest.strip_prefix(from) {
                if tail.is_empty() || tail.starts_with(['.', '[']) {
                    return format!("{api}{to}{tail}");
                }
            }
        }
        format!("{api}{rest}")
    }
}

/// `name[i]rest` -> `(i, rest)`.
fn indexed<'a>(path: &'a str, name: &str) -> Option<(usize, &'a str)> {
    let rest = path.strip_prefix(name)?.strip_prefix('[')?;
    let close = rest.find(']')?;
    Some((rest[..close].parse().ok()?, &rest[close + 1..]))
}

/// A policy entry's field (`.max`) as the admin document names it (`.config.maxRequests`).
fn policy_field(rest: &str, shape: PolicyShape) -> String {
    let Some(field) = rest.strip_prefix('.') else {
        return rest.to_owned();
    };
    let (head, tail) = field.split_at(field.find(['.', '[']).unwrap_or(field.len()));
    let head = match (head, shape) {
        ("type", _) => return format!(".policy_type{tail}"),
        ("name" | "priority", _) => return format!(".{head}{tail}"),
        ("max", PolicyShape::RateLimitAlias) => "maxRequests",
        ("window", PolicyShape::RateLimitAlias) => "intervalSeconds",
        (h, PolicyShape::CorsAlias) => CORS_KEYS
            .iter()
            .find(|(_, ours)| *ours == h)
            .map(|(theirs, _)| *theirs)
            .unwrap_or(h),
        (h, _) => h,
    };
    format!(".config.{head}{tail}")
}

/// Camel-case CORS keys a control plane may send, and the YAML key each means.
const CORS_KEYS: &[(&str, &str)] = &[
    ("allowOrigins", "origins"),
    ("allowMethods", "methods"),
    ("allowHeaders", "allowed_headers"),
    ("allowedHeaders", "allowed_headers"),
    ("exposeHeaders", "exposed_headers"),
    ("exposedHeaders", "exposed_headers"),
    ("maxAge", "max_age"),
];

fn to_yaml(json: &Json) -> Value {
    // A JSON value always has a YAML equivalent.
    serde_yaml_ng::to_value(json).unwrap_or(Value::Null)
}

fn route_value(api: &ApiDoc, policies: Vec<Value>) -> Value {
    let prefix = api.path_prefix.trim_end_matches('/');
    let mut route = serde_yaml_ng::Mapping::new();
    route.insert("path".into(), format!("{prefix}/*").into());
    if !api.methods.is_empty() {
        route.insert(
            "methods".into(),
            Value::Sequence(api.methods.iter().map(|m| m.as_str().into()).collect()),
        );
    }
    let mut upstream = serde_yaml_ng::Mapping::new();
    upstream.insert("type".into(), "url".into());
    if api.upstreams.is_empty() {
        if let Some(url) = &api.backend_url {
            upstream.insert("target".into(), url.as_str().into());
        }
    } else {
        let weighted = api
            .upstreams
            .iter()
            .any(|u| u.weight.is_some_and(|w| w != 1));
        let targets = api
            .upstreams
            .iter()
            .map(|u| {
                let mut t = serde_yaml_ng::Mapping::new();
                t.insert("url".into(), u.url.as_str().into());
                if let Some(w) = u.weight {
                    t.insert("weight".into(), u64::from(w).into());
                }
                Value::Mapping(t)
            })
            .collect();
        upstream.insert("targets".into(), Value::Sequence(targets));
        if api.load_balancer.is_none() && weighted {
            upstream.insert("load_balancer".into(), "weighted".into());
        }
    }
    if let Some(lb) = &api.load_balancer {
        upstream.insert("load_balancer".into(), lb.as_str().into());
    }
    route.insert("upstream".into(), Value::Mapping(upstream));
    if !policies.is_empty() {
        route.insert("policies".into(), Value::Sequence(policies));
    }
    Value::Mapping(route)
}

/// A policy document as a `policies:` entry.
fn policy_value(p: &PolicyDoc) -> Result<(Value, PolicyShape), FieldError> {
    let at = label("policies", &p.id);
    let Json::Object(config) = &p.config else {
        return Err(FieldError::new(
            format!("{at}.config"),
            "expected an object of the policy's options",
        ));
    };
    let kebab = p.policy_type.replace('_', "-");
    let (kind, shape) = match p.policy_type.as_str() {
        "rate_limit" => ("rate-limit".to_owned(), PolicyShape::RateLimitAlias),
        "cors" => ("cors".to_owned(), PolicyShape::CorsAlias),
        _ if POLICY_TYPES.contains(&kebab.as_str()) => (kebab, PolicyShape::Plain),
        other => {
            return Err(FieldError::new(
                format!("{at}.policy_type"),
                format!(
                    "unknown policy type {other:?}, expected one of: rate_limit, {}",
                    POLICY_TYPES.join(", ")
                ),
            ))
        }
    };
    let mut entry = serde_yaml_ng::Mapping::new();
    entry.insert("type".into(), kind.as_str().into());
    let name = p.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&p.id);
    entry.insert("name".into(), name.into());
    if let Some(priority) = p.priority {
        entry.insert("priority".into(), i64::from(priority).into());
    }
    for (key, value) in config {
        if matches!(key.as_str(), "type" | "name" | "priority") {
            return Err(FieldError::new(
                format!("{at}.config.{key}"),
                format!("{key} is a field of the policy document, not of its config"),
            ));
        }
        let (key, value) = match (shape, key.as_str(), value) {
            (PolicyShape::RateLimitAlias, "maxRequests", v) => ("max", to_yaml(v)),
            (PolicyShape::RateLimitAlias, "intervalSeconds", Json::Number(n)) => {
                ("window", Value::from(format!("{n}s")))
            }
            (PolicyShape::RateLimitAlias, "intervalSeconds", v) => ("window", to_yaml(v)),
            (PolicyShape::CorsAlias, k, v) => (
                CORS_KEYS
                    .iter()
                    .find(|(theirs, _)| *theirs == k)
                    .map(|(_, ours)| *ours)
                    .unwrap_or(k),
                to_yaml(v),
            ),
            (_, k, v) => (k, to_yaml(v)),
        };
        entry.insert(key.into(), value);
    }
    Ok((Value::Mapping(entry), shape))
}

#[cfg(test)]
mod tests;
