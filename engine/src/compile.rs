//! The compiler: validated config -> immutable [`Snapshot`] of per-route programs.

use std::net::ToSocketAddrs;

use bytes::Bytes;
use regex::RegexSet;
use sluice_codec::{HeadLimits, Headers, Method};
use std::collections::HashMap;

use sluice_config::{
    Config, JwtKeySource, PolicyKind, PolicySpec, RouteSpec, SkipSpec, UpstreamSpec,
};
use sluice_policies::{
    ApiKeyAuth, BasicAuth, ConsumerRegistry, ConsumerSpec, HeaderTransform, IpFilter, JwtAuth,
    JwtKeys, Mock, Op, Rbac, Skip,
};

use crate::balance::{Algorithm, Balancer, HashOn, OutlierConfig, TargetSpec};
use crate::program::MAX_OPS;
use crate::{
    FetchTarget, HealthCheck, OpEntry, Program, Route, Router, RuntimeLimits, Snapshot,
    StaticResponse, Upstream, UpstreamTarget, UrlUpstream,
};

/// A problem found while compiling (after validation), with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CompileError {
    pub path: String,
    pub message: String,
}

/// Compiles a validated config into a snapshot. Fails only on what validation cannot
/// know: DNS resolution of upstream hosts and program size.
pub fn compile(cfg: &Config) -> Result<Snapshot, Vec<CompileError>> {
    let mut errors = Vec::new();
    let base = cfg.base_path.clone().unwrap_or_default();
    let mut routes = Vec::with_capacity(cfg.routes.len());
    let mut router = Router::default();
    for (id, spec) in cfg.routes.iter().enumerate() {
        match compile_route(id, spec, &cfg.policies, &base) {
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
    let jwks = collect_jwks(cfg, &mut errors);
    let side_targets = collect_introspection(cfg, &mut errors);
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
    let upstream = compile_upstream(spec)?;
    let route_key = stable_route_key(&pattern, &spec.methods);
    let mut program = compile_program(
        &merge_policies(global, &spec.policies),
        global,
        &pattern,
        route_key,
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
                    p.alt_targets.push(compile_target(&rule.target, &at)?);
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
                    target: compile_target(&o.target, &at)?,
                    percentage: o.percentage,
                    timeout: o.timeout,
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

fn compile_transform(o: &sluice_config::TransformOptions) -> HeaderTransform {
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(n, v)| (Bytes::from(n.clone()), Bytes::from(v.clone())))
            .collect()
    };
    HeaderTransform {
        rename: o
            .rename_headers
            .iter()
            .map(|(f, t)| (f.clone(), Bytes::from(t.clone())))
            .collect(),
        remove: o.remove_headers.clone(),
        set: pairs(&o.set_headers),
        append: pairs(&o.append_headers),
    }
}

fn request_log_spec(o: &sluice_config::RequestLogOptions) -> crate::program::RequestLogSpec {
    crate::program::RequestLogSpec {
        output: match &o.output {
            sluice_config::LogOutput::Stdout => "stdout".into(),
            sluice_config::LogOutput::File(f) => f.clone(),
        },
        redact_headers: o.redact_headers.clone(),
        buffer: o.buffer,
        include_headers: o.include_headers,
    }
}

/// The global `request-log` policy (the first, by priority order as it would run), for
/// requests that match no route: they have no program, but an operator still wants their
/// 404s and 405s in the access log.
fn unmatched_log(global: &[PolicySpec]) -> Option<(crate::program::RequestLogSpec, Option<Skip>)> {
    global.iter().find_map(|spec| match &spec.kind {
        PolicyKind::RequestLog(o) => {
            Some((request_log_spec(o), spec.skip.as_ref().map(compile_skip)))
        }
        _ => None,
    })
}

fn compile_skip(s: &SkipSpec) -> Skip {
    let paths = if s.paths.is_empty() {
        None
    } else {
        // Each regex already compiled during validation, so the set compiles too.
        RegexSet::new(s.paths.iter().map(|r| r.as_str())).ok()
    };
    Skip {
        paths,
        methods: s.methods.clone(),
        headers: s.headers.clone(),
    }
}

fn to_headers(pairs: &[(String, String)]) -> Headers {
    let mut h = Headers::with_capacity(pairs.len());
    for (n, v) in pairs {
        h.append(Bytes::from(n.clone()), Bytes::from(v.clone()));
    }
    h
}

fn compile_upstream(spec: &RouteSpec) -> Result<Upstream, CompileError> {
    match &spec.upstream {
        UpstreamSpec::Static(s) => Ok(Upstream::Static(StaticResponse {
            status: s.status,
            headers: to_headers(&s.headers),
            body: Bytes::from(s.body.clone()),
        })),
        UpstreamSpec::Url(u) => {
            let mut targets = Vec::with_capacity(u.targets.len());
            let mut names = Vec::with_capacity(u.targets.len());
            for (i, wt) in u.targets.iter().enumerate() {
                let path = format!("{}.upstream.targets[{i}]", spec.field_path);
                let t = compile_target(&wt.url, &path)?;
                names.push(TargetSpec {
                    name: t.display.clone(),
                    weight: wt.weight,
                });
                targets.push(t);
            }
            let algorithm = match &u.load_balancer {
                sluice_config::LoadBalancer::RoundRobin => Algorithm::RoundRobin,
                sluice_config::LoadBalancer::Weighted => Algorithm::Weighted,
                sluice_config::LoadBalancer::LeastConn => Algorithm::LeastConn,
                sluice_config::LoadBalancer::P2c => Algorithm::P2c,
                sluice_config::LoadBalancer::Hash(on) => Algorithm::Hash(match on {
                    sluice_config::HashOn::Ip => HashOn::Ip,
                    sluice_config::HashOn::Header(h) => HashOn::Header(h.clone()),
                    sluice_config::HashOn::Cookie(c) => HashOn::Cookie(c.clone()),
                    sluice_config::HashOn::Path => HashOn::Path,
                }),
            };
            let mut balancer = Balancer::new(algorithm, names);
            // Passive ejection only when `outlier:` asks for it (zero failures = off).
            balancer = balancer.with_outlier(match &u.outlier {
                Some(o) => OutlierConfig {
                    consecutive_failures: o.consecutive_failures,
                    ejection_time: o.ejection_time,
                    ..OutlierConfig::default()
                },
                None => OutlierConfig {
                    consecutive_failures: 0,
                    ..OutlierConfig::default()
                },
            });
            let display = targets
                .iter()
                .map(|t| t.display.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            Ok(Upstream::Url(UrlUpstream {
                key: format!("{}#{display}", spec.path),
                balancer,
                health_check: u.health_check.as_ref().map(|h| HealthCheck {
                    path: h.path.clone(),
                    interval: h.interval,
                    timeout: h.timeout,
                    healthy_threshold: h.healthy_threshold,
                    unhealthy_threshold: h.unhealthy_threshold,
                    expected_status: h.expected_status.clone(),
                }),
                display,
                targets,
                strip_prefix: u.strip_prefix.clone(),
                timeout: u.timeout,
                connect_timeout: u.connect_timeout,
                headers: u
                    .headers
                    .iter()
                    .map(|(n, v)| (Bytes::from(n.to_ascii_lowercase()), Bytes::from(v.clone())))
                    .collect(),
                preserve_host: u.preserve_host,
            }))
        }
        UpstreamSpec::Health(h) => {
            let mut probes = Vec::with_capacity(h.probes.len());
            for (i, url) in h.probes.iter().enumerate() {
                let at = format!("{}.upstream.probes[{i}]", spec.field_path);
                let t = compile_target(url, &at)?;
                let path = if url.path_prefix.is_empty() {
                    "/".to_string()
                } else {
                    url.path_prefix.clone()
                };
                probes.push((
                    format!("{}{}", t.display.trim_end_matches(&url.path_prefix), path),
                    FetchTarget {
                        addrs: t.addrs,
                        authority: String::from_utf8_lossy(&t.authority).into_owned(),
                        path,
                        timeout: h.probe_timeout,
                        authorization: None,
                    },
                ));
            }
            Ok(Upstream::Health(crate::HealthRoute {
                probes,
                include_upstreams: h.include_upstreams,
            }))
        }
    }
}

/// Resolves and renders one upstream target.
fn compile_target(
    t: &sluice_config::TargetUrl,
    path: &str,
) -> Result<UpstreamTarget, CompileError> {
    let addrs: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| CompileError {
            path: path.to_owned(),
            message: format!("cannot resolve {}: {e}", t.host),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(CompileError {
            path: path.to_owned(),
            message: format!("{} resolves to no address", t.host),
        });
    }
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    let authority = if t.port == 80 {
        host.clone()
    } else {
        format!("{host}:{}", t.port)
    };
    Ok(UpstreamTarget {
        addrs,
        display: format!("{}://{host}:{}{}", t.scheme, t.port, t.path_prefix),
        authority: Bytes::from(authority),
        path_prefix: t.path_prefix.clone(),
    })
}

mod guards;
mod resilience;

#[cfg(test)]
mod tests;

fn compile_jwt(o: &sluice_config::JwtAuthOptions) -> Result<JwtAuth, CompileError> {
    use sluice_policies::jwt::{Alg, KeySet, Validation};
    let allowed: Vec<Alg> = o
        .algorithms
        .iter()
        .filter_map(|a| Alg::from_name(a))
        .collect();
    let (keys, cache_key) = match &o.keys {
        JwtKeySource::Secret(secret) => {
            let set = KeySet::hmac(secret.as_bytes().to_vec()).map_err(|e| CompileError {
                path: "secret".into(),
                message: e.to_string(),
            })?;
            // Ops with the same secret and algorithms may share verified tokens; the digest
            // keeps the secret itself out of the key.
            let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
            let hex: String = digest.as_ref()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (
                JwtKeys::Static(std::sync::Arc::new(set)),
                format!("secret:{hex}:{:?}", o.algorithms),
            )
        }
        JwtKeySource::JwksUrl(t) => {
            let url = jwks_url(t);
            (
                JwtKeys::Jwks {
                    url: url.clone(),
                    ttl: o.jwks_cache_ttl,
                },
                sluice_policies::jwt_auth::jwks_cache_key(&url, &o.algorithms.join(",")),
            )
        }
    };
    Ok(JwtAuth {
        cache_key,
        keys,
        allowed,
        validation: Validation {
            issuer: o.issuer.clone(),
            audience: o.audience.clone(),
            clock_skew: o.clock_skew.as_secs(),
            require_exp: o.require_exp,
            required_claims: o
                .required_claims
                .iter()
                .map(|(k, v)| (k.clone(), required_value(v)))
                .collect(),
        },
        header_name: o.header_name.clone(),
        token_prefix: o.token_prefix.clone(),
        query_param: o.query_param.clone(),
        cookie: o.cookie.clone(),
        forward_claims: o
            .forward_claims
            .iter()
            .map(|(claim, header)| (claim.clone(), Bytes::from(header.to_ascii_lowercase())))
            .collect(),
    })
}

/// The URL string a JWKS target is known by (the key of `Snapshot::jwks` and of shard state).
fn jwks_url(t: &sluice_config::TargetUrl) -> String {
    format!("{}://{}:{}{}", t.scheme, t.host, t.port, t.path_prefix)
}

/// A side-call endpoint: resolved like an upstream target, requesting the URL's path.
fn fetch_target(
    url: &sluice_config::TargetUrl,
    at: &str,
    timeout: std::time::Duration,
    authorization: Option<String>,
) -> Result<FetchTarget, CompileError> {
    let t = compile_target(url, at)?;
    Ok(FetchTarget {
        addrs: t.addrs,
        authority: String::from_utf8_lossy(&t.authority).into_owned(),
        path: if url.path_prefix.is_empty() {
            "/".into()
        } else {
            url.path_prefix.clone()
        },
        timeout,
        authorization,
    })
}

/// Every policy entry of the config, global and per route.
fn all_policies(cfg: &Config) -> impl Iterator<Item = &PolicySpec> {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
}

/// Every `jwks_url` in the config, resolved once.
fn collect_jwks(cfg: &Config, errors: &mut Vec<CompileError>) -> HashMap<String, FetchTarget> {
    let mut out = HashMap::new();
    for p in all_policies(cfg) {
        let PolicyKind::JwtAuth(o) = &p.kind else {
            continue;
        };
        let JwtKeySource::JwksUrl(t) = &o.keys else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(jwks_url(t)) {
            match fetch_target(
                t,
                &format!("{}.jwks_url", p.field_path),
                o.jwks_timeout,
                None,
            ) {
                Ok(f) => {
                    slot.insert(f);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    out
}

/// The key an `oauth2` op's endpoint and cache entries go by: URL and client id, since two
/// clients of one endpoint may see different answers.
fn oauth2_key(o: &sluice_config::OAuth2Options) -> String {
    format!("{}#{}", jwks_url(&o.introspection_url), o.client_id)
}

fn compile_oauth2(o: &sluice_config::OAuth2Options) -> sluice_policies::OAuth2 {
    use sluice_policies::oauth2::TokenSource;
    sluice_policies::OAuth2 {
        cache_key: oauth2_key(o),
        url: jwks_url(&o.introspection_url),
        token_source: match o.token_location {
            sluice_config::TokenLocation::Header => TokenSource::Header,
            sluice_config::TokenLocation::Query => TokenSource::Query,
        },
        required_scopes: o.required_scopes.clone(),
        cache_ttl: o.cache_ttl,
        forward_token_info: o
            .forward_token_info
            .iter()
            .map(|(f, h)| (f.clone(), Bytes::from(h.to_ascii_lowercase())))
            .collect(),
    }
}

/// Every `oauth2` introspection endpoint in the config, resolved once.
fn collect_introspection(
    cfg: &Config,
    errors: &mut Vec<CompileError>,
) -> HashMap<String, FetchTarget> {
    use base64::Engine as _;
    let mut out = HashMap::new();
    for p in all_policies(cfg) {
        let (key, target) = match &p.kind {
            PolicyKind::HttpCallout(o) => (
                callout_key(o),
                fetch_target(&o.url, &format!("{}.url", p.field_path), o.timeout, None),
            ),
            PolicyKind::OAuth2(o) => {
                // RFC 7662 section 2.1: the gateway authenticates as an OAuth client.
                let creds = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", o.client_id, o.client_secret));
                let at = format!("{}.introspection_url", p.field_path);
                let auth = Some(format!("Basic {creds}"));
                (
                    oauth2_key(o),
                    fetch_target(&o.introspection_url, &at, o.timeout, auth),
                )
            }
            _ => continue,
        };
        if out.contains_key(&key) {
            continue;
        }
        match target {
            Ok(t) => {
                out.insert(key, t);
            }
            Err(e) => errors.push(e),
        }
    }
    out
}

fn compile_rate_limit(
    o: &sluice_config::RateLimitOptions,
    limit_id: &str,
) -> sluice_policies::RateLimit {
    use sluice_config::{RateAlgorithm, RateKeyBy};
    use sluice_policies::rate_limit::{Algorithm, KeyBy, LimitSpec};
    let paths = if o.exclude_paths.is_empty() {
        None
    } else {
        RegexSet::new(o.exclude_paths.iter().map(|r| r.as_str())).ok()
    };
    sluice_policies::RateLimit {
        limit_id: limit_id.to_owned(),
        spec: LimitSpec {
            max: o.max,
            window: o.window,
            algorithm: match o.algorithm {
                RateAlgorithm::TokenBucket => Algorithm::TokenBucket,
                RateAlgorithm::SlidingWindow => Algorithm::SlidingWindow,
            },
        },
        key_by: match &o.key_by {
            RateKeyBy::Ip => KeyBy::Ip {
                trust_forwarded: o.trust_forwarded,
            },
            RateKeyBy::Header(h) => KeyBy::Header(h.clone()),
            RateKeyBy::Claim(c) => KeyBy::Claim(c.clone()),
            RateKeyBy::Consumer => KeyBy::Consumer,
            RateKeyBy::Route => KeyBy::Route,
            RateKeyBy::Global => KeyBy::Global,
        },
        exclude_paths: paths,
        status: o.status,
        message: o.message.clone(),
    }
}

/// The smallest `max_keys` of any rate limit (the bound applies per shard).
fn rate_limit_max_keys(cfg: &Config) -> usize {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
        .filter_map(|p| match &p.kind {
            PolicyKind::RateLimit(o) => Some(o.max_keys),
            _ => None,
        })
        .min()
        .unwrap_or(1_000_000)
}

/// A `required_claims` value from config: YAML scalars arrive as text, so `true`, `false`
/// and numbers become JSON booleans and numbers again; anything else stays a string.
fn required_value(text: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => v,
        _ => serde_json::Value::String(text.to_owned()),
    }
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

/// The smallest per-shard `max_bytes` of any cache policy.
pub(crate) fn cache_max_bytes(cfg: &Config) -> usize {
    cfg.policies
        .iter()
        .chain(cfg.routes.iter().flat_map(|r| r.policies.iter()))
        .filter_map(|p| match &p.kind {
            PolicyKind::Cache(o) => usize::try_from(o.max_bytes).ok(),
            _ => None,
        })
        .min()
        .unwrap_or(sluice_policies::cache::DEFAULT_MAX_BYTES)
}

/// The side-target key of an `http-callout` endpoint.
fn callout_key(o: &sluice_config::HttpCalloutOptions) -> String {
    format!("callout:{}", jwks_url(&o.url))
}
