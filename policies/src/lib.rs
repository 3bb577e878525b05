//! Sluice policy ops: each policy's compiled config and what it does in each phase.
//!
//! Policies are data. The engine's compiler turns config entries into the structs here and
//! refers to them from a flat array of [`Op`]s; the interpreter dispatches with one `match`.
//! Nothing here knows about sockets, runtimes or config files.
#![forbid(unsafe_code)]

pub mod answer;
pub mod api_key;
pub mod basic_auth;
pub mod cache;
pub mod circuit_breaker;
pub mod consumers;
pub mod cors;
pub mod dynamic_routing;
pub mod fault;
pub mod geo_ip;
pub mod identity;
pub mod interrupt;
pub mod ip_filter;
pub mod json_threat;
pub mod jwt;
pub mod jwt_auth;
pub mod mock;
pub mod oauth2;
pub mod override_method;
pub mod rate_limit;
pub mod rbac;
pub mod regex_threat;
pub mod request_limit;
pub mod retry;
mod rolling;
pub mod skip;
pub mod ssl_enforce;
pub mod timeout;
pub mod transform;
pub mod urlencoded;
pub mod when;

pub use answer::{Answer, Reject};
pub use api_key::ApiKeyAuth;
pub use basic_auth::{BasicAuth, BasicAuthCache};
pub use consumers::{Consumer, ConsumerRegistry, ConsumerSpec};
pub use identity::Identity;
pub use ip_filter::IpFilter;
pub use jwt_auth::{JwtAuth, JwtKeys, JwtOutcome, JwtState};
pub use mock::Mock;
pub use oauth2::{OAuth2, OAuth2Outcome, OAuth2State};
pub use rate_limit::{LimiterState, RateLimit, RateOutcome};
pub use rbac::Rbac;
pub use skip::Skip;
pub use transform::HeaderTransform;

/// One instruction of a route program. The `u32` is an index into the program's
/// per-kind table, so an `Op` is 8 bytes and the op array stays in a few cache lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Refuses clients by address (request phase only).
    IpFilter(u32),
    /// Rewrites request headers before the upstream call (request phase only).
    RequestTransform(u32),
    /// Rewrites response headers on the way back (response phase only).
    ResponseTransform(u32),
    /// Answers without calling the upstream (request phase only).
    Mock(u32),
    /// Identifies the consumer by API key (request phase only).
    ApiKeyAuth(u32),
    /// Identifies the consumer by HTTP Basic credentials (request phase only).
    BasicAuth(u32),
    /// Requires roles / permissions of the identified caller (request phase only).
    Rbac(u32),
    /// Verifies a bearer JWT (request phase only).
    JwtAuth(u32),
    /// Introspects an opaque bearer token (request phase only).
    OAuth2(u32),
    /// Counts the request against a limit; writes rate-limit headers on the way out.
    RateLimit(u32),
    /// Answers CORS preflights; adds CORS headers on the way out.
    Cors(u32),
    /// Refuses bodies over a size, declared or streamed.
    RequestLimit(u32),
    /// Redirects or refuses plain HTTP; adds HSTS on the way out.
    SslEnforce(u32),
    /// Applies `X-HTTP-Method-Override` on POST.
    OverrideMethod(u32),
    /// Checks JSON bodies as they stream.
    JsonThreat(u32),
    /// Refuses requests matching threat patterns (path, query, headers, body).
    RegexThreat(u32),
    /// Refuses clients by country.
    GeoIp(u32),
    /// Answers from the shard's response cache, or marks the response for storing.
    Cache(u32),
    /// Sets the request's timeouts (request, first byte, idle).
    Timeout(u32),
    /// Lets the proxy retry failed attempts.
    Retry(u32),
    /// Guards targets or the route with a circuit breaker.
    CircuitBreaker(u32),
    /// Delays some requests (chaos testing).
    LatencyInjection(u32),
    /// Fails some requests (chaos testing).
    FaultInjection(u32),
    /// Sends matching requests to another target.
    DynamicRouting(u32),
    /// Answers matching requests at the gateway.
    Interrupt(u32),
    /// Calls an HTTP endpoint and copies fields of its answer into request headers.
    HttpCallout(u32),
    /// Mirrors a share of requests to another target, fire-and-forget.
    TrafficShadow(u32),
    /// Writes one JSON line per request, off the request path.
    RequestLog(u32),
}

impl Op {
    /// The policy type name as written in config, e.g. `ip-filter`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::IpFilter(_) => "ip-filter",
            Op::RequestTransform(_) => "request-transform",
            Op::ResponseTransform(_) => "response-transform",
            Op::Mock(_) => "mock",
            Op::ApiKeyAuth(_) => "api-key-auth",
            Op::BasicAuth(_) => "basic-auth",
            Op::Rbac(_) => "rbac",
            Op::JwtAuth(_) => "jwt-auth",
            Op::OAuth2(_) => "oauth2",
            Op::RateLimit(_) => "rate-limit",
            Op::Cors(_) => "cors",
            Op::RequestLimit(_) => "request-limit",
            Op::SslEnforce(_) => "ssl-enforce",
            Op::OverrideMethod(_) => "override-method",
            Op::JsonThreat(_) => "json-threat-protection",
            Op::RegexThreat(_) => "regex-threat-protection",
            Op::GeoIp(_) => "geo-ip-filter",
            Op::Cache(_) => "cache",
            Op::Timeout(_) => "timeout",
            Op::Retry(_) => "retry",
            Op::CircuitBreaker(_) => "circuit-breaker",
            Op::LatencyInjection(_) => "latency-injection",
            Op::FaultInjection(_) => "fault-injection",
            Op::DynamicRouting(_) => "dynamic-routing",
            Op::Interrupt(_) => "interrupt",
            Op::HttpCallout(_) => "http-callout",
            Op::TrafficShadow(_) => "traffic-shadow",
            Op::RequestLog(_) => "request-log",
        }
    }
}
