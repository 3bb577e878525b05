//! The compiler: validated config -> immutable [`Snapshot`] of per-route programs.

use bytes::Bytes;
use sluice_codec::{HeadLimits, Method};
use sluice_config::{Config, PolicyKind, PolicySpec, RouteSpec};
use sluice_policies::{
    ApiKeyAuth, BasicAuth, ConsumerRegistry, ConsumerSpec, IpFilter, Mock, Op, Rbac,
};

use crate::program::MAX_OPS;
use crate::{OpEntry, Program, Route, Router, RuntimeLimits, Snapshot, Upstream};

/// A problem found while compiling (after validation), with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CompileError {
    pub path: String,
    pub message: String,
}

/// Compiles a validated config into a snapshot, looking every host name up afresh. Fails
/// only on what validation cannot know: DNS resolution of upstream hosts and program size.
pub fn compile(cfg: &Config) -> Result<Snapshot, Vec<CompileError>> {
    compile_with(cfg, &Resolver::default())
}

/// [`compile`] with host names resolved through `resolver`, which answers names it has
/// seen before from memory (see [`Resolver`]).
pub fn compile_with(cfg: &Config, resolver: &Resolver) -> Result<Snapshot, Vec<CompileError>> {
    let mut errors = Vec::new();
    let base = cfg.base_path.clone().unwrap_or_default();
    let mut routes = Vec::with_capacity(cfg.routes.len());
    let mut router = Router::default();
    for (id, spec) in cfg.routes.iter().enumerate() {
        match compile_route(id, spec, &cfg.policies, &base, resolver) {
            Ok(route) => {
                router.insert(&route.pattern, id);
                routes.push(route);
            }
            Err(e) => errors.push(e),
        }
    }
    let consumers = ConsumerRegistry::new(
        cfg.consumers
            .iter()
            .map(|c| ConsumerSpec {
                id: c.id.clone(),
                api_keys: c.api_keys.clone(),
                basic: c.basic.clone(),
                roles: c.roles.clone(),
                metadata: c.metadata.clone(),
            })
            .collect(),
    )
    .map_err(|message| CompileError {
        path: "consumers".into(),
        message,
    });
    let consumers = match consumers {
        Ok(c) => c,
        Err(e) => {
            errors.push(e);
            ConsumerRegistry::default()
        }
    };
    let jwks = collect_jwks(cfg, &mut errors, resolver);
    let side_targets = collect_introspection(cfg, &mut errors, resolver);
    let rate_limit_max_keys = rate_limit_max_keys(cfg);
    let cache_max_bytes = cache_max_bytes(cfg);
    let mut override_headers: Vec<String> = Vec::new();
    for r in &routes {
        for o in &r.program.method_overrides {
            if !override_headers.contains(&o.header) {
                override_headers.push(o.header.clone());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Snapshot {
        consumers,
        jwks,
        side_targets,
        rate_limit_max_keys,
        cache_max_bytes,
        override_headers,
        source: String::new(),
        unmatched_log: unmatched_log(&cfg.policies),
        has_request_log: routes.iter().any(|r| !r.program.request_logs.is_empty())
            || cfg
                .policies
                .iter()
                .any(|p| matches!(p.kind, PolicyKind::RequestLog(_))),
        debug_headers: cfg.debug_headers,
        name: cfg.name.clone(),
        listen: cfg.listen.clone(),
        limits: RuntimeLimits {
            head: HeadLimits {
                max_head_bytes: cfg.limits.max_header_bytes,
                max_headers: cfg.limits.max_headers,
            },
            max_body_bytes: cfg.limits.max_body_bytes,
            header_timeout: cfg.limits.header_timeout,
            idle_timeout: cfg.limits.idle_timeout,
            max_connections_per_shard: cfg.limits.max_connections_per_shard,
        },
        request_id_header: Bytes::from(cfg.request_id_header.to_ascii_lowercase()),
        shutdown_timeout: cfg.shutdown_timeout,
        router,
        routes,
    })
}

fn compile_route(
    id: usize,
    spec: &RouteSpec,
    global: &[PolicySpec],
    base: &str,
    resolver: &Resolver,
) -> Result<Route, CompileError> {
    let pattern = if spec.path == "/" && !base.is_empty() {
        base.to_string()
    } else {
        format!("{base}{}", spec.path)
    };
    let params = spec
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix(':'))
        .map(str::to_string)
        .collect();
    let methods = spec.methods.as_ref().map(|ms| {
        ms.iter()
            .map(|m| Method::from_bytes(m.as_bytes()))
            .collect()
    });
    let upstream = compile_upstream(spec, resolver)?;
    let route_key = stable_route_key(&pattern, &spec.methods);
    let mut program = compile_program(
        &merge_policies(global, &spec.policies),
        global,
        &pattern,
        route_key,
        resolver,
    )?;
    program.route_pattern = pattern.clone();
    program.route_key = route_key;
    if program.len() > MAX_OPS {
        return Err(CompileError {
            path: format!("{}.policies", spec.field_path),
            message: format!("a route may run at most {MAX_OPS} policies"),
        });
    }
    program.terminal = match &upstream {
        Upstream::Url(u) => format!("proxy {}", u.display),
        Upstream::Static(s) => format!("static {} body={}B", s.status, s.body.len()),
        Upstream::Health(h) => format!("health probes={}", h.probes.len()),
    };
    Ok(Route {
        id,
        pattern,
        params,
        methods,
        base_path_len: base.len(),
        websocket: spec.websocket,
        program,
        upstream,
    })
}

/// Global policies then route policies, a route policy replacing the global one with the
/// same name, then a stable sort by priority (ties keep this order).
pub fn merge_policies<'a>(
    global: &'a [PolicySpec],
    route: &'a [PolicySpec],
) -> Vec<&'a PolicySpec> {
    let mut merged: Vec<&PolicySpec> = global
        .iter()
        .filter(|g| !route.iter().any(|r| r.name == g.name))
        .collect();
    merged.extend(route.iter());
    merged.sort_by_key(|p| p.priority);
    merged
}

fn compile_program(
    specs: &[&PolicySpec],
    global: &[PolicySpec],
    route_pattern: &str,
    route_key: usize,
    resolver: &Resolver,
) -> Result<Program, CompileError> {
    let mut p = Program::default();
    for spec in specs {
        let op = match &spec.kind {
            PolicyKind::RequestLog(o) => {
                p.request_logs.push(request_log_spec(o));
                Op::RequestLog((p.request_logs.len() - 1) as u32)
            }
            PolicyKind::Cache(o) => {
                p.caches.push(sluice_policies::cache::CachePolicy {
                    ttl: o.ttl,
                    methods: o
                        .methods
                        .iter()
                        .map(|m| Method::from_bytes(m.as_bytes()))
                        .collect(),
                    cacheable_statuses: o.cacheable_statuses.clone(),
                    vary_headers: o.vary_headers.clone(),
                    respect_cache_control: o.respect_cache_control,
                    max_bytes: usize::try_from(o.max_bytes).unwrap_or(usize::MAX),
                    max_object_bytes: usize::try_from(o.max_object_bytes).unwrap_or(usize::MAX),
                    status_header: Bytes::from(o.status_header.clone()),
                });
                Op::Cache((p.caches.len() - 1) as u32)
            }
            PolicyKind::Cors(o) => {
                let cors = guards::cors(o).map_err(|message| CompileError {
                    path: spec.field_path.clone(),
                    message,
                })?;
                p.cors.push(cors);
                Op::Cors((p.cors.len() - 1) as u32)
            }
            PolicyKind::RequestLimit(o) => {
                p.request_limits
                    .push(sluice_policies::request_limit::RequestLimit {
                        max_bytes: o.max_bytes,
                    });
                Op::RequestLimit((p.request_limits.len() - 1) as u32)
            }
            PolicyKind::SslEnforce(o) => {
                p.ssl_enforces.push(guards::ssl_enforce(o));
                Op::SslEnforce((p.ssl_enforces.len() - 1) as u32)
            }
            PolicyKind::OverrideMethod(o) => {
                p.method_overrides.push(guards::override_method(o));
                Op::OverrideMethod((p.method_overrides.len() - 1) as u32)
            }
            PolicyKind::JsonThreatProtection(o) => {
                p.json_threats.push(guards::json_threat(o));
                Op::JsonThreat((p.json_threats.len() - 1) as u32)
            }
            PolicyKind::RegexThreatProtection(o) => {
                let rt = guards::regex_threat(o).map_err(|message| CompileError {
                    path: spec.field_path.clone(),
                    message,
                })?;
                p.regex_threats.push(rt);
                Op::RegexThreat((p.regex_threats.len() - 1) as u32)
            }
            PolicyKind::GeoIpFilter(o) => {
                let g = guards::geo_ip(o).map_err(|message| CompileError {
                    path: spec.field_path.clone(),
                    message,
                })?;
                p.geo_ips.push(g);
                Op::GeoIp((p.geo_ips.len() - 1) as u32)
            }
            PolicyKind::RateLimit(o) => {
                // A global policy's buckets are shared by every route; a route's own are not.
                let scope = if global.iter().any(|g| std::ptr::eq(g, *spec)) {
                    "global".to_string()
                } else {
                    format!("route:{route_pattern}#{route_key:x}")
                };
                p.rate_limits
                    .push(compile_rate_limit(o, &format!("{scope}:{}", spec.name)));
                Op::RateLimit((p.rate_limits.len() - 1) as u32)
            }
            PolicyKind::OAuth2(o) => {
                p.oauth2s.push(compile_oauth2(o));
                Op::OAuth2((p.oauth2s.len() - 1) as u32)
            }
            PolicyKind::JwtAuth(o) => {
                p.jwts.push(compile_jwt(o)?);
                Op::JwtAuth((p.jwts.len() - 1) as u32)
            }
            PolicyKind::ApiKeyAuth(o) => {
                p.api_keys.push(ApiKeyAuth {
                    header_name: o.header_name.clone(),
                    query_param: o.query_param.clone(),
                    forward_consumer_header: Some(o.forward_consumer_header.clone()),
                });
                Op::ApiKeyAuth((p.api_keys.len() - 1) as u32)
            }
            PolicyKind::BasicAuth(o) => {
                p.basic_auths.push(BasicAuth {
                    realm: o.realm.clone(),
                    forward_consumer_header: Some(o.forward_consumer_header.clone()),
                });
                Op::BasicAuth((p.basic_auths.len() - 1) as u32)
            }
            PolicyKind::Rbac(o) => {
                p.rbacs.push(Rbac {
                    roles: o.roles.clone(),
                    permissions: o.permissions.clone(),
                    roles_claim: o.roles_claim.clone(),
                    permissions_claim: o.permissions_claim.clone(),
                    role_header: o.role_header.clone(),
                    deny_message: o.deny_message.clone(),
                });
                Op::Rbac((p.rbacs.len() - 1) as u32)
            }
            PolicyKind::IpFilter(o) => {
                p.ip_filters.push(IpFilter {
                    allow: o.allow.clone(),
                    deny: o.deny.clone(),
                    allow_mode: o.mode == sluice_config::IpFilterMode::Allow,
                    trust_forwarded: o.trust_forwarded,
                });
                Op::IpFilter((p.ip_filters.len() - 1) as u32)
            }
            PolicyKind::RequestTransform(o) => {
                p.transforms.push(compile_transform(o));
                Op::RequestTransform((p.transforms.len() - 1) as u32)
            }
            PolicyKind::ResponseTransform(o) => {
                p.transforms.push(compile_transform(o));
                Op::ResponseTransform((p.transforms.len() - 1) as u32)
            }
            PolicyKind::Mock(o) => {
                p.mocks.push(Mock {
                    status: o.status,
                    headers: to_headers(&o.headers),
                    body: Bytes::from(o.body.clone()),
                    delay: o.delay,
                });
                Op::Mock((p.mocks.len() - 1) as u32)
            }
            PolicyKind::Timeout(o) => {
                p.timeouts.push(sluice_policies::timeout::TimeoutPolicy {
                    request: o.request,
                    first_byte: o.first_byte,
                    idle: o.idle,
                });
                Op::Timeout((p.timeouts.len() - 1) as u32)
            }
            PolicyKind::Retry(o) => {
                let budget_id = format!("{route_pattern}#{route_key:x}:{}", spec.name);
                p.retries.push((resilience::retry(o), budget_id));
                Op::Retry((p.retries.len() - 1) as u32)
            }
            PolicyKind::CircuitBreaker(o) => {
                let id = format!("{route_pattern}#{route_key:x}:{}", spec.name);
                p.breakers.push(resilience::breaker(o, id));
                Op::CircuitBreaker((p.breakers.len() - 1) as u32)
            }
            PolicyKind::LatencyInjection(o) => {
                p.latencies.push(sluice_policies::fault::LatencyInjection {
                    delay: o.delay,
                    jitter: o.jitter,
                    percentage: o.percentage,
                });
                Op::LatencyInjection((p.latencies.len() - 1) as u32)
            }
            PolicyKind::FaultInjection(o) => {
                p.faults.push(sluice_policies::fault::FaultInjection {
                    abort_status: o.abort_status,
                    percentage: o.percentage,
                    message: o.message.clone().into(),
                });
                Op::FaultInjection((p.faults.len() - 1) as u32)
            }
            PolicyKind::DynamicRouting(o) => {
                let mut rules = Vec::with_capacity(o.rules.len());
                for (i, rule) in o.rules.iter().enumerate() {
                    let at = format!("{}.rules[{i}].target", spec.field_path);
                    p.alt_targets
                        .push(compile_target(&rule.target, &at, resolver)?);
                    rules.push(sluice_policies::dynamic_routing::Rule {
                        when: resilience::condition(&rule.when),
                        target: p.alt_targets.len() - 1,
                        strip_prefix: rule.strip_prefix.clone(),
                    });
                }
                p.dynamic_routes
                    .push(sluice_policies::dynamic_routing::DynamicRouting { rules });
                Op::DynamicRouting((p.dynamic_routes.len() - 1) as u32)
            }
            PolicyKind::Interrupt(o) => {
                p.interrupts.push(sluice_policies::interrupt::Interrupt {
                    status: o.status,
                    headers: to_headers(&o.headers),
                    body: Bytes::from(o.body.clone()),
                    when: Some(resilience::condition(&o.when)),
                });
                Op::Interrupt((p.interrupts.len() - 1) as u32)
            }
            PolicyKind::TrafficShadow(o) => {
                let at = format!("{}.target", spec.field_path);
                p.shadows.push(crate::callout::Shadow {
                    target: compile_target(&o.target, &at, resolver)?,
                    percentage: o.percentage,
                    timeout: o.timeout,
                    max_body_bytes: usize::try_from(o.max_body_bytes).unwrap_or(usize::MAX),
                });
                Op::TrafficShadow((p.shadows.len() - 1) as u32)
            }
            PolicyKind::HttpCallout(o) => {
                p.callouts.push(crate::callout::Callout {
                    target: callout_key(o),
                    method: Method::from_bytes(o.method.as_bytes()),
                    headers: o.headers.clone(),
                    body: o.body.clone(),
                    set_headers_from: o
                        .set_headers_from
                        .iter()
                        .map(|(h, ptr)| (Bytes::from(h.clone()), ptr.clone()))
                        .collect(),
                    fail: o.on_error == sluice_config::CalloutOnError::Fail,
                });
                Op::HttpCallout((p.callouts.len() - 1) as u32)
            }
        };
        p.push(OpEntry {
            op,
            name: spec.name.clone(),
            priority: spec.priority,
            skip: spec.skip.as_ref().map(compile_skip),
        });
    }
    Ok(p)
}

mod auth;
mod guards;
mod resilience;
mod resolve;
mod shaping;
mod traffic;
mod upstream;

use auth::*;
use shaping::*;
use traffic::*;
use upstream::*;

pub use resolve::Resolver;

#[cfg(test)]
mod tests;

/// Every policy entry of the config, global and per route.
pub(super) fn all_policies(cfg: &Config) -> impl Iterator<Item = &PolicySpec> {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
}

/// A route identity that survives reloads which reorder routes (cache keys use it, so a
/// reload never serves one route's cached answer on another).
fn stable_route_key(pattern: &str, methods: &Option<Vec<String>>) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pattern.hash(&mut h);
    methods.hash(&mut h);
    h.finish() as usize
}
