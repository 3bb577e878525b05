//! The immutable snapshot a request runs against; swapped whole on reload.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sluice_codec::{HeadLimits, Headers, Method};

use crate::{Program, Router};

/// Everything a request needs, compiled from one config file. Shards hold it behind one
/// `ArcSwap`, so a reload is a single atomic pointer swap and in-flight requests finish
/// on the snapshot they started with.
#[derive(Debug)]
pub struct Snapshot {
    /// `name` from the config.
    pub name: String,
    pub listen: Vec<SocketAddr>,
    pub limits: RuntimeLimits,
    /// Lower-cased request id header name.
    pub request_id_header: Bytes,
    pub shutdown_timeout: Duration,
    pub router: Router,
    pub routes: Vec<Route>,
    /// `consumers:`, indexed for O(1) credential look-ups.
    pub consumers: sluice_policies::ConsumerRegistry,
    /// Where each `jwks_url` named by a `jwt-auth` op is fetched from, by URL.
    pub jwks: std::collections::HashMap<String, FetchTarget>,
    /// Introspection endpoints of `oauth2` ops, by the op's cache key (URL and client).
    pub side_targets: std::collections::HashMap<String, FetchTarget>,
    /// Owned rate-limit buckets a shard keeps at most (the smallest `max_keys` configured).
    pub rate_limit_max_keys: usize,
    /// Response-cache bytes a shard keeps at most (the smallest `max_bytes` configured).
    pub cache_max_bytes: usize,
    /// Header names of every `override-method` op (checked before routing).
    pub override_headers: Vec<String>,
    /// The config file's text as loaded (before `${ENV}` substitution), for the admin API's
    /// redacted view. Empty when compiled from a parsed config only.
    pub source: String,
    /// Whether any route runs a `request-log` op (the connection loop then keeps what a
    /// log line needs).
    pub has_request_log: bool,
    /// The global `request-log` policy and its `skip`, applied to requests that match no
    /// route (404, 405). `None` without a global `request-log`.
    pub unmatched_log: Option<(
        crate::program::RequestLogSpec,
        Option<sluice_policies::skip::Skip>,
    )>,
    /// `debug_headers`: honour `x-sluice-debug: trace`.
    pub debug_headers: bool,
}

/// An HTTP side call the shard makes for an op (a JWKS document).
#[derive(Debug, Clone)]
pub struct FetchTarget {
    /// Resolved at compile time, like upstream targets.
    pub addrs: Vec<SocketAddr>,
    /// `host[:port]` for the Host header.
    pub authority: String,
    /// Path (and query) to request.
    pub path: String,
    pub timeout: Duration,
    /// `Authorization` value to send (introspection client credentials), if any.
    pub authorization: Option<String>,
}

/// Limits the connection loop enforces.
#[derive(Debug, Clone)]
pub struct RuntimeLimits {
    pub head: HeadLimits,
    pub max_body_bytes: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections_per_shard: usize,
}

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    /// Index in `Snapshot::routes`.
    pub id: usize,
    /// Full pattern including `base_path`, e.g. `/api/users/:id`.
    pub pattern: String,
    /// Parameter names in path order.
    pub params: Vec<String>,
    /// `None` = every method. `HEAD` is accepted wherever `GET` is.
    pub methods: Option<Vec<Method>>,
    /// Bytes of `base_path` to drop from the path before forwarding.
    pub base_path_len: usize,
    /// `websocket: true`: `Upgrade: websocket` requests are tunnelled. Default false.
    pub websocket: bool,
    pub program: Program,
    pub upstream: Upstream,
}

impl Route {
    /// Whether `method` may use this route.
    pub fn allows(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(list) => list
                .iter()
                .any(|m| m == method || (*method == Method::Head && *m == Method::Get)),
        }
    }
}

/// Where a route's requests go after the request phase.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per route in a read-only snapshot: size is irrelevant
pub enum Upstream {
    Url(UrlUpstream),
    Static(StaticResponse),
    /// `type: health`: probes URLs and reports.
    Health(HealthRoute),
}

/// A compiled `type: health` upstream.
#[derive(Debug, Clone)]
pub struct HealthRoute {
    /// `(url as written, where to send the probe)`.
    pub probes: Vec<(String, FetchTarget)>,
    /// Also report every `url` upstream target's health as the shard sees it.
    pub include_upstreams: bool,
}

/// A compiled `type: url` upstream.
#[derive(Debug)]
pub struct UrlUpstream {
    /// Identifies this upstream's per-shard balancer state across reloads (route pattern
    /// and target list).
    pub key: String,
    /// The targets requests are spread over (one for `target:`).
    pub targets: Vec<UpstreamTarget>,
    /// Picks a target per request; its mutable half lives in each shard.
    pub balancer: crate::balance::Balancer,
    /// Active health checking, run by shard 0 and published to every shard.
    pub health_check: Option<HealthCheck>,
    pub strip_prefix: Option<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub headers: Vec<(Bytes, Bytes)>,
    pub preserve_host: bool,
    /// `http://host:port/prefix` of each target, for listings and logs.
    pub display: String,
}

/// One target of a `url` upstream.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    /// Resolved at compile time (and again on every reload) so no request waits on DNS.
    pub addrs: Vec<SocketAddr>,
    /// `host[:port]` for the upstream `Host` header (port omitted when 80).
    pub authority: Bytes,
    /// Target path prefix without trailing `/`; may be empty.
    pub path_prefix: String,
    /// `http://host:port/prefix`.
    pub display: String,
}

/// `health_check:` of a `url` upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub expected_status: Vec<u16>,
}

/// A compiled `type: static` upstream.
#[derive(Debug, Clone)]
pub struct StaticResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Bytes,
}
