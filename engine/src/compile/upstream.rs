//! Config -> compiled upstreams: `url` groups (targets resolved now, so no request waits on
//! DNS, and their balancer), `static` answers and `health` probes.

use bytes::Bytes;
use sluice_codec::Headers;
use sluice_config::{RouteSpec, UpstreamSpec};

use super::{CompileError, Resolver};
use crate::balance::{Algorithm, Balancer, HashOn, OutlierConfig, TargetSpec};
use crate::{FetchTarget, HealthCheck, StaticResponse, Upstream, UpstreamTarget, UrlUpstream};

pub(super) fn compile_upstream(
    spec: &RouteSpec,
    resolver: &Resolver,
) -> Result<Upstream, CompileError> {
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
                let t = compile_target(&wt.url, &path, resolver)?;
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
                let t = compile_target(url, &at, resolver)?;
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
pub(super) fn compile_target(
    t: &sluice_config::TargetUrl,
    path: &str,
    resolver: &Resolver,
) -> Result<UpstreamTarget, CompileError> {
    let addrs = resolver
        .resolve(&t.host, t.port)
        .map_err(|e| CompileError {
            path: path.to_owned(),
            message: format!("cannot resolve {}: {e}", t.host),
        })?;
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

pub(super) fn to_headers(pairs: &[(String, String)]) -> Headers {
    let mut h = Headers::with_capacity(pairs.len());
    for (n, v) in pairs {
        h.append(Bytes::from(n.clone()), Bytes::from(v.clone()));
    }
    h
}
