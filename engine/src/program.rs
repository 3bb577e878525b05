//! A route's compiled policy program: a flat op array plus per-kind tables.

use std::fmt;

use sluice_policies::{
    ApiKeyAuth, BasicAuth, HeaderTransform, IpFilter, JwtAuth, JwtKeys, Mock, OAuth2, Op,
    RateLimit, Rbac, Skip,
};

/// A compiled `request-log`: where lines go and what they leave out.
#[derive(Debug, Clone)]
pub struct RequestLogSpec {
    /// `"stdout"` or a file path.
    pub output: String,
    /// Lower-cased header names logged as `[REDACTED]`.
    pub redact_headers: Vec<String>,
    /// Ring-buffer entries kept for the admin API.
    pub buffer: usize,
    /// Log the request headers too.
    pub include_headers: bool,
}

/// Most ops one program may hold; the interpreter records which ran in a `u128`.
pub const MAX_OPS: usize = 128;

/// One op with what the interpreter needs around it.
#[derive(Debug, Clone)]
pub struct OpEntry {
    pub op: Op,
    /// Policy `name` (the merge key).
    pub name: String,
    pub priority: i32,
    pub skip: Option<Skip>,
}

/// The read-only program of one route. Mutable per-shard state (buckets, caches) lives
/// in the shard, keyed by what it belongs to (a JWKS URL, a limit's key), never by route or
/// op index, so it carries over a reload that reorders routes.
#[derive(Clone, Default)]
pub struct Program {
    pub ops: Vec<OpEntry>,
    pub ip_filters: Vec<IpFilter>,
    pub transforms: Vec<HeaderTransform>,
    pub mocks: Vec<Mock>,
    pub api_keys: Vec<ApiKeyAuth>,
    pub basic_auths: Vec<BasicAuth>,
    pub rbacs: Vec<Rbac>,
    pub jwts: Vec<JwtAuth>,
    pub oauth2s: Vec<OAuth2>,
    pub rate_limits: Vec<RateLimit>,
    pub cors: Vec<sluice_policies::cors::Cors>,
    pub request_limits: Vec<sluice_policies::request_limit::RequestLimit>,
    pub ssl_enforces: Vec<sluice_policies::ssl_enforce::SslEnforce>,
    pub method_overrides: Vec<sluice_policies::override_method::OverrideMethod>,
    pub json_threats: Vec<sluice_policies::json_threat::JsonThreat>,
    pub regex_threats: Vec<sluice_policies::regex_threat::RegexThreat>,
    pub geo_ips: Vec<sluice_policies::geo_ip::GeoIpFilter>,
    pub caches: Vec<sluice_policies::cache::CachePolicy>,
    pub timeouts: Vec<sluice_policies::timeout::TimeoutPolicy>,
    /// `retry` ops and the identity of each one's budget.
    pub retries: Vec<(sluice_policies::retry::Retry, String)>,
    pub breakers: Vec<sluice_policies::circuit_breaker::CircuitBreaker>,
    pub latencies: Vec<sluice_policies::fault::LatencyInjection>,
    pub faults: Vec<sluice_policies::fault::FaultInjection>,
    pub dynamic_routes: Vec<sluice_policies::dynamic_routing::DynamicRouting>,
    pub interrupts: Vec<sluice_policies::interrupt::Interrupt>,
    pub request_logs: Vec<RequestLogSpec>,
    pub callouts: Vec<crate::callout::Callout>,
    pub shadows: Vec<crate::callout::Shadow>,
    /// Targets `dynamic-routing` rules send requests to.
    pub alt_targets: Vec<crate::UpstreamTarget>,
    /// The route's full pattern (rate limits keyed by route use it).
    pub route_pattern: String,
    /// A hash of the route's pattern and methods, stable across reloads (cache keys use it).
    pub route_key: usize,
    /// What runs after the request phase, for listings: `proxy http://..` or `static 200`.
    pub terminal: String,
}

impl Program {
    /// Appends an op; returns its index.
    pub fn push(&mut self, entry: OpEntry) -> usize {
        self.ops.push(entry);
        self.ops.len() - 1
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the program has no ops (the request goes straight to the upstream).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// An assembly-style listing, one op per line, as printed by `sluice check`.
impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.ops.iter().enumerate() {
            let (kind, arg) = match e.op {
                Op::IpFilter(id) => {
                    let t = &self.ip_filters[id as usize];
                    let mode = if t.allow_mode { "allow" } else { "deny" };
                    (
                        "IPFILTER",
                        format!("mode={mode} allow={} deny={}", t.allow.len(), t.deny.len()),
                    )
                }
                Op::RequestTransform(id) => {
                    ("REQXFORM", transform_summary(&self.transforms[id as usize]))
                }
                Op::ResponseTransform(id) => {
                    ("RESXFORM", transform_summary(&self.transforms[id as usize]))
                }
                Op::ApiKeyAuth(_)
                | Op::BasicAuth(_)
                | Op::Rbac(_)
                | Op::JwtAuth(_)
                | Op::OAuth2(_)
                | Op::RateLimit(_) => ("", String::new()),
                Op::Cors(_) => ("CORS", String::new()),
                Op::RequestLimit(id) => (
                    "REQLIMIT",
                    format!("max_bytes={}", self.request_limits[id as usize].max_bytes),
                ),
                Op::SslEnforce(_) => ("SSL", String::new()),
                Op::OverrideMethod(id) => (
                    "OVERRIDE",
                    format!("header={}", self.method_overrides[id as usize].header),
                ),
                Op::JsonThreat(_) => ("JSONGUARD", String::new()),
                Op::RegexThreat(_) => ("REGEXGUARD", String::new()),
                Op::GeoIp(_) => ("GEOIP", String::new()),
                Op::Timeout(id) => ("TIMEOUT", format!("{:?}", self.timeouts[id as usize])),
                Op::Retry(id) => {
                    let r = &self.retries[id as usize].0;
                    (
                        "RETRY",
                        format!("max={} backoff={:?}", r.max_retries, r.backoff),
                    )
                }
                Op::CircuitBreaker(id) => {
                    let b = &self.breakers[id as usize];
                    (
                        "BREAKER",
                        format!("scope={:?} reset={:?}", b.scope, b.reset_timeout),
                    )
                }
                Op::LatencyInjection(id) => (
                    "LATENCY",
                    format!("{:?}", self.latencies[id as usize].delay),
                ),
                Op::FaultInjection(id) => {
                    let f = &self.faults[id as usize];
                    (
                        "FAULT",
                        format!("status={} {}%", f.abort_status, f.percentage),
                    )
                }
                Op::DynamicRouting(id) => (
                    "DYNROUTE",
                    format!("rules={}", self.dynamic_routes[id as usize].rules.len()),
                ),
                Op::RequestLog(id) => ("LOG", self.request_logs[id as usize].output.clone()),
                Op::HttpCallout(id) => ("CALLOUT", self.callouts[id as usize].target.clone()),
                Op::TrafficShadow(id) => {
                    ("SHADOW", self.shadows[id as usize].target.display.clone())
                }
                Op::Interrupt(id) => (
                    "INTERRUPT",
                    format!("status={}", self.interrupts[id as usize].status),
                ),
                Op::Cache(id) => {
                    let c = &self.caches[id as usize];
                    (
                        "CACHE",
                        format!("ttl={:?} max_object={}B", c.ttl, c.max_object_bytes),
                    )
                }
                Op::Mock(id) => {
                    let m = &self.mocks[id as usize];
                    (
                        "MOCK",
                        format!(
                            "status={} body={}B delay={:?}",
                            m.status,
                            m.body.len(),
                            m.delay
                        ),
                    )
                }
            };
            let (kind, arg) = match e.op {
                Op::ApiKeyAuth(id) => {
                    let a = &self.api_keys[id as usize];
                    (
                        "APIKEY",
                        format!("header={} query={:?}", a.header_name, a.query_param),
                    )
                }
                Op::BasicAuth(id) => (
                    "BASIC",
                    format!("realm={:?}", self.basic_auths[id as usize].realm),
                ),
                Op::JwtAuth(id) => {
                    let j = &self.jwts[id as usize];
                    let keys = match &j.keys {
                        JwtKeys::Static(_) => "secret".to_string(),
                        JwtKeys::Jwks { url, .. } => format!("jwks={url}"),
                    };
                    let algs: Vec<_> = j.allowed.iter().map(|a| a.name()).collect();
                    ("JWT", format!("{keys} algorithms={algs:?}"))
                }
                Op::RateLimit(id) => {
                    let r = &self.rate_limits[id as usize];
                    let arg = format!(
                        "max={} window={:?} {:?} key={:?} id={}",
                        r.spec.max, r.spec.window, r.spec.algorithm, r.key_by, r.limit_id
                    );
                    ("RATELIMIT", arg)
                }
                Op::OAuth2(id) => {
                    let o = &self.oauth2s[id as usize];
                    let arg = format!(
                        "introspect={} scopes={:?} cache={:?}",
                        o.url, o.required_scopes, o.cache_ttl
                    );
                    ("OAUTH2", arg)
                }
                Op::Rbac(id) => {
                    let r = &self.rbacs[id as usize];
                    (
                        "RBAC",
                        format!("roles={:?} permissions={:?}", r.roles, r.permissions),
                    )
                }
                _ => (kind, arg),
            };
            let skip = if e.skip.is_some() { " skip?" } else { "" };
            writeln!(
                f,
                "  {i:04}  {kind:<9} {:<20} prio={:<4} {arg}{skip}",
                e.name, e.priority
            )?;
        }
        writeln!(
            f,
            "  {:04}  {:<9} {}",
            self.ops.len(),
            "UPSTREAM",
            self.terminal
        )
    }
}

fn transform_summary(t: &HeaderTransform) -> String {
    format!(
        "set={} append={} remove={} rename={}",
        t.set.len(),
        t.append.len(),
        t.remove.len(),
        t.rename.len()
    )
}
