//! The validated config model handed to the engine's compiler.
//!
//! Everything here has passed validation: CIDRs are parsed, regexes compiled, URLs split,
//! durations converted. The engine never re-validates.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use regex::Regex;

/// A whole config file.
#[derive(Debug, Clone)]
pub struct Config {
    /// `name`, required.
    pub name: String,
    /// `base_path`: prefix of every route, normalised to start with `/` and not end with `/`.
    /// `None` when absent or `/`.
    pub base_path: Option<String>,
    /// `listen`: at least one address. Default `["127.0.0.1:8080"]`.
    pub listen: Vec<SocketAddr>,
    /// `shards`: default `auto`.
    pub shards: ShardsSpec,
    /// `request_id_header`, lower-cased. Default `x-request-id`.
    pub request_id_header: String,
    /// `shutdown_timeout`. Default 30s.
    pub shutdown_timeout: Duration,
    /// `limits`; every field has a default (see [`Limits::default`]).
    pub limits: Limits,
    /// Global `policies`, in file order. Default empty.
    pub policies: Vec<PolicySpec>,
    /// `routes`, required, at least one, in file order.
    pub routes: Vec<RouteSpec>,
    /// `consumers`: identities known to `api-key-auth`, `basic-auth` and `rbac`. Default empty.
    pub consumers: Vec<ConsumerSpec>,
    /// `admin`: the admin API's listener. `None` when absent (no admin listener).
    pub admin: Option<AdminConfig>,
    /// `debug_headers`: answer `x-sluice-debug: trace` on a request with an `x-sluice-trace`
    /// header. Default false (the request header is ignored).
    pub debug_headers: bool,
}

/// `admin:`: the admin API, on a listener of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `listen`, required: one address, the rules of a `listen` entry. Never the same as (nor,
    /// for a non-zero port, overlapping through a wildcard address) a `listen` address.
    pub listen: SocketAddr,
    /// `token`: the bearer token every `/admin/*` endpoint requires. `None` when absent or
    /// empty: every `/admin/*` endpoint then answers 503. When given, at least 16 characters,
    /// without whitespace or control characters.
    pub token: Option<String>,
    /// `metrics_public`: serve `/metrics` and `/health` without the token. Default false.
    pub metrics_public: bool,
    /// `data_dir`: where the durable admin state lives, as written (not blank, no control
    /// characters). Default `./sluice-data`.
    pub data_dir: String,
}

/// One entry of `consumers:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// `id`, required, unique.
    pub id: String,
    /// `api_keys`: plain keys or `sha256:<64 hex>` digests. Default empty.
    pub api_keys: Vec<String>,
    /// `basic: {username, password_hash}` (argon2 or bcrypt PHC string). Optional.
    pub basic: Option<(String, String)>,
    /// `roles`. Default empty.
    pub roles: Vec<String>,
    /// `metadata: {k: v}`, file order. Default empty.
    pub metadata: Vec<(String, String)>,
    /// Field path, e.g. `consumers[0]`.
    pub field_path: String,
}

/// How many shards to run and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardsSpec {
    /// One per available core.
    Auto,
    /// This many shards, pinned to CPUs 0..n (modulo available cores).
    Count(usize),
    /// One shard per listed CPU, e.g. from `"0-3,8"`.
    Cpus(Vec<usize>),
}

/// `limits:`. Every value is greater than zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Default 16384.
    pub max_header_bytes: usize,
    /// Default 100 (at most 256).
    pub max_headers: usize,
    /// Default 10485760.
    pub max_body_bytes: u64,
    /// Default 10s.
    pub header_timeout: Duration,
    /// Default 60s.
    pub idle_timeout: Duration,
    /// Default 10000.
    pub max_connections_per_shard: usize,
}

/// One entry of `routes:`.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// `path`, e.g. `/users/:id` or `/files/*`; starts with `/`.
    pub path: String,
    /// `methods`, upper-cased, each once; `None` means every method.
    pub methods: Option<Vec<String>>,
    /// The route's own `policies`, in file order; default empty.
    pub policies: Vec<PolicySpec>,
    /// `upstream`, required.
    pub upstream: UpstreamSpec,
    /// `websocket`: proxy `Upgrade: websocket` requests (101, then a byte tunnel both ways).
    /// Default false (an Upgrade is refused). Only `true` with a `url` upstream.
    pub websocket: bool,
    /// Field path of this route, e.g. `routes[2]`, for messages from later stages.
    pub field_path: String,
}

/// `upstream:` of a route.
// `Url` is a few hundred bytes larger than the rest; as for `PolicyKind`, a config is built
// once per load, so boxing it would only make every match on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum UpstreamSpec {
    /// Proxy to an HTTP server.
    Url(UrlUpstream),
    /// Answer with a fixed response.
    Static(StaticUpstream),
    /// Answer with the health of probed URLs (and of the file's `url` upstreams).
    Health(HealthUpstream),
}

/// `upstream: {type: url, ...}`.
#[derive(Debug, Clone)]
pub struct UrlUpstream {
    /// `target` when written; with `targets`, the first entry's URL. Kept for code that knows
    /// a single target: anything that balances reads [`UrlUpstream::targets`].
    pub target: TargetUrl,
    /// Every target, in file order, never empty, URLs distinct: exactly one of `target` (one
    /// entry of weight 1) and `targets: [{url, weight}]`.
    pub targets: Vec<WeightedTarget>,
    /// `load_balancer` (with `hash_on` for `hash`). Default round robin.
    pub load_balancer: LoadBalancer,
    /// `health_check`: active checks. `None` when absent.
    pub health_check: Option<HealthCheck>,
    /// `outlier`: passive checks (ejection after consecutive failures). `None` when absent;
    /// present (even as `{}`) it has every default filled in.
    pub outlier: Option<OutlierDetection>,
    /// Whole-response deadline. Default 30s.
    pub timeout: Duration,
    /// Default 5s.
    pub connect_timeout: Duration,
    /// Headers set on the upstream request, in file order. Names as written (valid tokens),
    /// values free of CR, LF and NUL.
    pub headers: Vec<(String, String)>,
    /// Default false.
    pub preserve_host: bool,
    /// Normalised like `base_path`; `None` when absent.
    pub strip_prefix: Option<String>,
}

/// One entry of `targets:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTarget {
    /// `url`, required: the rules of `target` (http, optional path prefix).
    pub url: TargetUrl,
    /// `weight`, at least 1. Default 1. Only other than 1 with `weighted` and `hash`.
    pub weight: u32,
}

/// `load_balancer:` of a `url` upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancer {
    /// `round_robin` (default): each target in turn.
    RoundRobin,
    /// `weighted`: each target in turn, in proportion to its weight.
    Weighted,
    /// `least_conn`: the target with the fewest requests in flight.
    LeastConn,
    /// `p2c`: the less busy (fewer requests in flight) of two targets picked at random.
    P2c,
    /// `hash` with its required `hash_on`: consistent hashing of that key (targets' shares of
    /// the ring in proportion to their weights).
    Hash(HashOn),
}

/// `hash_on:` of `load_balancer: hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// `ip`: the client address (socket peer).
    Ip,
    /// `header:<name>`, the name lower-cased.
    Header(String),
    /// `cookie:<name>`, the name as written.
    Cookie(String),
    /// `path`: the request path, without the query.
    Path,
}

/// `health_check:` of a `url` upstream: active checks of every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `path`, required: a literal path (route path rules) sent as written to each target's
    /// host and port, without the target's path prefix.
    pub path: String,
    /// `interval` between checks of one target. Default 10s; greater than 0.
    pub interval: Duration,
    /// `timeout` of one check. Default 2s; greater than 0 and shorter than `interval`.
    pub timeout: Duration,
    /// `healthy_threshold`: consecutive passes that bring a target back. Default 2, at least 1.
    pub healthy_threshold: u32,
    /// `unhealthy_threshold`: consecutive failures that take a target out. Default 3, at
    /// least 1.
    pub unhealthy_threshold: u32,
    /// `expected_status`: one status or a list, each 100..=599, distinct. Default `[200]`.
    pub expected_status: Vec<u16>,
}

/// `outlier:` of a `url` upstream: passive checks on real traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierDetection {
    /// `consecutive_failures` (connection errors, resets, timeouts, 5xx) that eject a target.
    /// Default 5, at least 1.
    pub consecutive_failures: u32,
    /// `ejection_time`: how long the first ejection lasts (growing on repeat). Default 30s;
    /// greater than 0.
    pub ejection_time: Duration,
}

/// `upstream: {type: health, ...}`: answers `{status, timestamp, upstreams}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthUpstream {
    /// `probes`: `http://` URLs, each with a path (kept as written in `path_prefix`), distinct.
    /// Default empty; not empty unless `include_upstreams`.
    pub probes: Vec<TargetUrl>,
    /// `probe_timeout`. Default 2s; greater than 0.
    pub probe_timeout: Duration,
    /// `include_upstreams`: also report the targets of every `url` upstream in the file.
    /// Default false.
    pub include_upstreams: bool,
}

/// A parsed `scheme://host:port[/path-prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// `http` (only scheme supported until TLS lands).
    pub scheme: String,
    /// Host name (lower-cased) or IP literal (IPv6 without brackets).
    pub host: String,
    /// Explicit port, or 80 for http.
    pub port: u16,
    /// Path prefix without a trailing `/`; empty when none.
    pub path_prefix: String,
}

/// `upstream: {type: static, ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUpstream {
    /// Default 200 (always 100..=599).
    pub status: u16,
    /// Response headers in file order, names as written. Default empty.
    pub headers: Vec<(String, String)>,
    /// Default empty.
    pub body: String,
}

/// One policy entry, global or per route.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// `name`, default the type name; the merge key.
    pub name: String,
    /// `priority`, default per type (see [`PolicyKind::default_priority`]).
    pub priority: i32,
    /// `skip`; `None` when absent. When present it has at least one condition.
    pub skip: Option<SkipSpec>,
    /// `type` and the options that go with it.
    pub kind: PolicyKind,
    /// Field path of this entry, e.g. `routes[1].policies[0]`.
    pub field_path: String,
}

/// `skip:` skips the policy when every given condition matches.
#[derive(Debug, Clone, Default)]
pub struct SkipSpec {
    /// Any regex matching the path counts as a match (unanchored unless written with `^`/`$`).
    pub paths: Vec<Regex>,
    /// Upper-cased.
    pub methods: Vec<String>,
    /// Header name (lower-cased) and a regex its value must match.
    pub headers: Vec<(String, Regex)>,
}

/// The typed options of each policy type.
// `JwtAuth` is a few hundred bytes larger than the rest. A config holds a handful of
// policies and is built once per load, never on a request path, so boxing it would only
// make every match on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum PolicyKind {
    /// `request-log`: one JSON line per request.
    RequestLog(RequestLogOptions),
    /// `jwt-auth`.
    JwtAuth(JwtAuthOptions),
    /// `api-key-auth`.
    ApiKeyAuth(ApiKeyAuthOptions),
    /// `basic-auth`.
    BasicAuth(BasicAuthOptions),
    /// `rbac`.
    Rbac(RbacOptions),
    /// `oauth2` (RFC 7662 token introspection).
    OAuth2(OAuth2Options),
    /// `rate-limit`.
    RateLimit(RateLimitOptions),
    /// `cors`.
    Cors(CorsOptions),
    /// `request-limit`.
    RequestLimit(RequestLimitOptions),
    /// `ssl-enforce`.
    SslEnforce(SslEnforceOptions),
    /// `override-method`.
    OverrideMethod(OverrideMethodOptions),
    /// `json-threat-protection`.
    JsonThreatProtection(JsonThreatOptions),
    /// `regex-threat-protection`.
    RegexThreatProtection(RegexThreatOptions),
    /// `geo-ip-filter`.
    GeoIpFilter(GeoIpOptions),
    /// `cache`.
    Cache(CacheOptions),
    /// `ip-filter`.
    IpFilter(IpFilterOptions),
    /// `request-transform`: edits the request before it goes upstream.
    RequestTransform(TransformOptions),
    /// `response-transform`: edits the response before it goes downstream.
    ResponseTransform(TransformOptions),
    /// `mock`: answers without contacting the upstream.
    Mock(MockOptions),
    /// `timeout`.
    Timeout(TimeoutOptions),
    /// `retry`.
    Retry(RetryOptions),
    /// `circuit-breaker`.
    CircuitBreaker(CircuitBreakerOptions),
    /// `latency-injection`.
    LatencyInjection(LatencyInjectionOptions),
    /// `fault-injection`.
    FaultInjection(FaultInjectionOptions),
    /// `traffic-shadow`.
    TrafficShadow(TrafficShadowOptions),
    /// `dynamic-routing`.
    DynamicRouting(DynamicRoutingOptions),
    /// `http-callout`.
    HttpCallout(HttpCalloutOptions),
    /// `interrupt`.
    Interrupt(InterruptOptions),
}

/// Where `request-log` writes its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// `output: stdout` (default).
    Stdout,
    /// `output: file` with its required `file`: the path as written (not blank, no control
    /// characters), appended to and reopened on SIGUSR1.
    File(String),
}

/// `type: request-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogOptions {
    /// `output` (with `file`). Default stdout.
    pub output: LogOutput,
    /// `redact_headers`: header names, lower-cased, each once, whose values are logged as
    /// `[REDACTED]`. Default `[authorization, cookie, x-api-key]`; `[]` redacts nothing.
    pub redact_headers: Vec<String>,
    /// `buffer`: entries of the ring buffer kept for the admin API. Default 1000;
    /// 1..=100000.
    pub buffer: usize,
    /// `include_headers`: the line carries the request headers (redacted). Default false.
    pub include_headers: bool,
}

/// `type: ip-filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpFilterOptions {
    /// `allow`; bare IPs become /32 or /128, host bits are cleared. Default empty; never
    /// empty when `mode` is `Allow`.
    pub allow: Vec<IpNet>,
    /// `deny`, like `allow`. Default empty.
    pub deny: Vec<IpNet>,
    /// Default `deny`.
    pub mode: IpFilterMode,
    /// Take the client address a proxy in front forwarded (e.g. `X-Forwarded-For`) over the
    /// peer address. Default false.
    pub trust_forwarded: bool,
}

/// `mode:` of ip-filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFilterMode {
    /// Everything passes except `deny` (an `allow` match overrides a `deny` match).
    Deny,
    /// Only `allow` passes (and `deny` still refuses inside it).
    Allow,
}

/// `type: request-transform` / `response-transform`. At least one list is non-empty.
/// Header names are valid tokens kept as written (compare them case-insensitively); values
/// are free of CR, LF and NUL. Every list keeps file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformOptions {
    /// Replace (or add) these headers.
    pub set_headers: Vec<(String, String)>,
    /// Add these headers, keeping existing ones.
    pub append_headers: Vec<(String, String)>,
    /// Remove these headers.
    pub remove_headers: Vec<String>,
    /// `{from: to}` pairs.
    pub rename_headers: Vec<(String, String)>,
}

/// `type: mock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockOptions {
    /// Default 200 (always 100..=599).
    pub status: u16,
    /// Response headers in file order, names as written. Default empty.
    pub headers: Vec<(String, String)>,
    /// Default empty.
    pub body: String,
    /// Default zero.
    pub delay: std::time::Duration,
}

impl Default for Limits {
    /// The defaults documented on each field.
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 10 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_shard: 10_000,
        }
    }
}

/// Where `jwt-auth` gets its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKeySource {
    /// `secret`: an HMAC secret (after `${ENV}` substitution).
    Secret(String),
    /// `jwks_url`: an `http://` URL serving a JWKS document.
    JwksUrl(TargetUrl),
}

/// `type: jwt-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthOptions {
    /// Exactly one of `secret` / `jwks_url`.
    pub keys: JwtKeySource,
    /// `algorithms`: upper-case names (HS256..EdDSA). Default empty = what the key type allows.
    pub algorithms: Vec<String>,
    /// `issuer`. Optional.
    pub issuer: Option<String>,
    /// `audience`: a string or a list; any match. Default empty (not checked).
    pub audience: Vec<String>,
    /// `header_name`, lower-cased. Default `authorization`.
    pub header_name: String,
    /// `token_prefix`. Default `Bearer` (empty string = the whole header value is the token).
    pub token_prefix: String,
    /// `query_param`. Optional.
    pub query_param: Option<String>,
    /// `cookie`. Optional.
    pub cookie: Option<String>,
    /// `forward_claims: {claim.path: header}`, file order. Default empty.
    pub forward_claims: Vec<(String, String)>,
    /// `clock_skew`. Default 0s.
    pub clock_skew: Duration,
    /// `require_exp`. Default true.
    pub require_exp: bool,
    /// `required_claims: {claim: value}` (values as written, compared as strings/JSON scalars).
    pub required_claims: Vec<(String, String)>,
    /// `jwks_cache_ttl`. Default 5m.
    pub jwks_cache_ttl: Duration,
    /// `jwks_timeout`. Default 10s.
    pub jwks_timeout: Duration,
}

/// `type: api-key-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyAuthOptions {
    /// `header_name`, lower-cased. Default `x-api-key`.
    pub header_name: String,
    /// `query_param`. Optional.
    pub query_param: Option<String>,
    /// `forward_consumer_header`, lower-cased. Default `x-consumer-id`.
    pub forward_consumer_header: String,
}

/// `type: basic-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuthOptions {
    /// `realm`. Default `Restricted`.
    pub realm: String,
    /// `forward_consumer_header`, lower-cased. Default `x-consumer-id`.
    pub forward_consumer_header: String,
}

/// `type: rbac`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacOptions {
    /// `roles`: any one is enough. Default empty.
    pub roles: Vec<String>,
    /// `permissions`: all are required. Default empty.
    pub permissions: Vec<String>,
    /// `roles_claim`. Default `roles`.
    pub roles_claim: String,
    /// `permissions_claim`. Default `permissions`.
    pub permissions_claim: String,
    /// `role_header`, lower-cased. Optional.
    pub role_header: Option<String>,
    /// `deny_message`. Default `Forbidden`.
    pub deny_message: String,
}

/// Where `oauth2` reads the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>` (default).
    Header,
    /// The `access_token` query parameter.
    Query,
}

/// `type: oauth2`: RFC 7662 token introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Options {
    /// `introspection_url`, required, `http://` (path kept as written, like `jwks_url`).
    pub introspection_url: TargetUrl,
    /// `client_id`, required.
    pub client_id: String,
    /// `client_secret`, required (`${ENV}` recommended).
    pub client_secret: String,
    /// `token_location`: `header` (default) or `query`.
    pub token_location: TokenLocation,
    /// `required_scopes`: all required. Default empty.
    pub required_scopes: Vec<String>,
    /// `cache_ttl`. Default 0s = no cache.
    pub cache_ttl: Duration,
    /// `timeout`. Default 5s.
    pub timeout: Duration,
    /// `forward_token_info: {field: header}`, file order, header names lower-cased.
    pub forward_token_info: Vec<(String, String)>,
}

/// `algorithm:` of `rate-limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateAlgorithm {
    /// `token-bucket` (default): capacity `max`, refilled at `max / window`.
    TokenBucket,
    /// `sliding-window`: weighted previous and current fixed windows.
    SlidingWindow,
}

/// `key_by:` of `rate-limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKeyBy {
    /// `ip` (default).
    Ip,
    /// `header:<name>` (name lower-cased).
    Header(String),
    /// `claim:<name>` (a verified JWT claim, dot paths allowed).
    Claim(String),
    /// `consumer`.
    Consumer,
    /// `route`.
    Route,
    /// `global`.
    Global,
}

/// `type: rate-limit`.
#[derive(Debug, Clone)]
pub struct RateLimitOptions {
    /// `max`, required, > 0.
    pub max: u64,
    /// `window`. Default 60s.
    pub window: Duration,
    /// Default token bucket.
    pub algorithm: RateAlgorithm,
    /// Default `ip`.
    pub key_by: RateKeyBy,
    /// `trust_forwarded`: with `key_by: ip`, count by the first `X-Forwarded-For` hop. Default false.
    pub trust_forwarded: bool,
    /// `exclude_paths`: regexes on the path. Default empty.
    pub exclude_paths: Vec<Regex>,
    /// `status`. Default 429.
    pub status: u16,
    /// `message`. Default `Rate limit exceeded`.
    pub message: String,
    /// `max_keys`: buckets a shard keeps before evicting the least recently active. Default 1000000.
    pub max_keys: usize,
}

/// `origins:` of `cors`.
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    /// `"*"`.
    Any,
    /// Exact origins such as `https://app.example.com` (scheme://host[:port], no path).
    List(Vec<String>),
    /// Entries written as `regex:<pattern>`, anchored (`^...$`) at compile time.
    Patterns(Vec<Regex>),
}

/// `type: cors`.
#[derive(Debug, Clone)]
pub struct CorsOptions {
    /// Required: `"*"`, a list of origins, or a list mixing origins and `regex:` patterns
    /// (a list with any pattern becomes `Patterns`, exact origins escaped into it).
    pub origins: CorsOrigins,
    /// Default GET HEAD PUT PATCH POST DELETE.
    pub methods: Vec<String>,
    /// Default empty = echo `Access-Control-Request-Headers`.
    pub allowed_headers: Vec<String>,
    /// Default empty.
    pub exposed_headers: Vec<String>,
    /// Default false. `true` with `origins: "*"` is an error.
    pub credentials: bool,
    /// Default 86400 seconds.
    pub max_age: u64,
    /// Default true.
    pub preflight: bool,
}

/// `type: request-limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimitOptions {
    /// `max_bytes`, required, > 0.
    pub max_bytes: u64,
}

/// `type: ssl-enforce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslEnforceOptions {
    /// Default true (301 to https); false answers 403 `ssl_required`.
    pub redirect: bool,
    /// HSTS `max_age` in seconds. Default 31536000.
    pub hsts_max_age: u64,
    /// Default false.
    pub include_subdomains: bool,
    /// Default false.
    pub preload: bool,
    /// Default false.
    pub trust_forwarded: bool,
}

/// `type: override-method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideMethodOptions {
    /// `header`, lower-cased. Default `x-http-method-override`.
    pub header: String,
    /// Upper-case. Default PUT PATCH DELETE.
    pub allowed_methods: Vec<String>,
}

/// `type: json-threat-protection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonThreatOptions {
    /// Default 20.
    pub max_depth: usize,
    /// Default 100 (per object).
    pub max_keys: usize,
    /// Default 10000.
    pub max_string_length: usize,
    /// Default 100.
    pub max_array_size: usize,
    /// Default 1048576.
    pub max_body_bytes: u64,
    /// Lower-case media types. Default `application/json` (and any `+json` suffix).
    pub content_types: Vec<String>,
}

/// Where a `regex-threat-protection` pattern looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreatTarget {
    /// The request path.
    Path,
    /// The query string.
    Query,
    /// Every header value.
    Headers,
    /// The request body (up to `max_body_scan_bytes`).
    Body,
}

/// One entry of `patterns:`.
#[derive(Debug, Clone)]
pub struct ThreatPattern {
    /// The pattern (unanchored).
    pub regex: Regex,
    /// At least one; default all four.
    pub targets: Vec<ThreatTarget>,
    /// Default `Request blocked`.
    pub message: String,
}

/// `type: regex-threat-protection`.
#[derive(Debug, Clone)]
pub struct RegexThreatOptions {
    /// At least one.
    pub patterns: Vec<ThreatPattern>,
    /// Default 65536.
    pub max_body_scan_bytes: usize,
}

/// `type: geo-ip-filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIpOptions {
    /// Upper-case ISO 3166-1 alpha-2 codes let through.
    pub allow: Vec<String>,
    /// Upper-case ISO 3166-1 alpha-2 codes refused.
    pub deny: Vec<String>,
    /// Default deny.
    pub mode: IpFilterMode,
    /// Lower-cased. Default `cf-ipcountry`.
    pub country_header: String,
    /// A MaxMind DB file; when set, the country comes from the client address instead.
    pub mmdb_path: Option<String>,
}

/// `type: cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// Default 300s.
    pub ttl: Duration,
    /// Default GET, HEAD.
    pub methods: Vec<String>,
    /// Default 200, 203, 204, 206, 300, 301, 404, 405, 410, 414 (5xx never, so not 501).
    pub cacheable_statuses: Vec<u16>,
    /// Lower-cased request header names. Default empty.
    pub vary_headers: Vec<String>,
    /// Default true.
    pub respect_cache_control: bool,
    /// Per shard. Default 67108864.
    pub max_bytes: u64,
    /// Default 1048576.
    pub max_object_bytes: u64,
    /// Lower-cased. Default `x-cache`.
    pub status_header: String,
}

/// `type: timeout`. At least one field is given; each is greater than 0, and `first_byte`
/// and `idle` are at most `request` when both are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutOptions {
    /// `request`: the whole exchange, from the request to the last byte of the response.
    pub request: Option<Duration>,
    /// `first_byte`: from sending the request upstream to the response head.
    pub first_byte: Option<Duration>,
    /// `idle`: the longest wait between two chunks of the response body.
    pub idle: Option<Duration>,
}

/// One entry of `retry_on:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// An upstream response status, 400..=599.
    Status(u16),
    /// `connect_error`: no connection could be made.
    ConnectError,
    /// `reset`: the connection closed or failed before a whole response head arrived.
    Reset,
    /// `timeout`: no response head within the upstream's (or `timeout` policy's) deadline.
    Timeout,
}

/// `backoff:` of `retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// `exponential` (default): `base_delay * 2^(retry - 1)`, at most `max_delay`.
    Exponential,
    /// `fixed`: exactly `base_delay` every time (`max_delay` does not apply).
    Fixed,
}

/// `type: retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOptions {
    /// `max_retries`: retries after the first attempt. Default 3, at least 1.
    pub max_retries: u32,
    /// `retry_on`: distinct, not empty. Default 502, 503, 504, connect_error, reset.
    pub retry_on: Vec<RetryOn>,
    /// `methods`, upper-cased, distinct, not empty. Default GET HEAD PUT DELETE OPTIONS TRACE.
    pub methods: Vec<String>,
    /// Default exponential.
    pub backoff: Backoff,
    /// `base_delay`. Default 25ms; 0 allowed.
    pub base_delay: Duration,
    /// `max_delay`: cap of exponential backoff, at least `base_delay`. Default 1s (never
    /// written with `fixed`, which ignores it).
    pub max_delay: Duration,
    /// `jitter`: randomise each delay. Default true.
    pub jitter: bool,
    /// `budget_percent`: retries may be at most this share of requests, 0..=100. Default 20.
    pub budget_percent: u32,
    /// `budget_min_per_second`: retries per second always allowed for the whole process
    /// (split between shards), whatever `budget_percent` says. Default 10; finite, 0 allowed
    /// (with `budget_percent: 0`, no retry is ever made).
    pub budget_min_per_second: f64,
    /// `retry_count_header`, lower-cased: set on retried upstream requests to the retry
    /// number. Default none.
    pub retry_count_header: Option<String>,
    /// `max_replay_bytes`: a request body already streamed upstream is kept for a retry up to
    /// this size. Default 65536; 0 allowed (no request with a body is retried).
    pub max_replay_bytes: u64,
}

/// `scope:` of `circuit-breaker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerScope {
    /// `target` (default): one breaker per upstream target.
    Target,
    /// `route`: one breaker for the route.
    Route,
}

/// When a `circuit-breaker` opens: exactly one of `failure_threshold` and `failure_rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerTrip {
    /// `failure_threshold`: this many failures within `window` (at least 1). The default,
    /// with 5.
    FailureThreshold(u32),
    /// `failure_rate`: this share of the requests within `window` failed, above 0 and at
    /// most 1.
    FailureRate(f64),
}

/// `type: circuit-breaker`.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerOptions {
    /// Default target.
    pub scope: BreakerScope,
    /// Default `FailureThreshold(5)`.
    pub trip: BreakerTrip,
    /// `window`: the rolling window failures are counted over. Default 10s; greater than 0.
    pub window: Duration,
    /// `min_requests` within `window` before the breaker may open. Default 10, at least 1.
    pub min_requests: u32,
    /// `reset_timeout`: how long it stays open before letting trial requests through.
    /// Default 30s; greater than 0.
    pub reset_timeout: Duration,
    /// `half_open_max`: trial requests in flight while half open. Default 1, at least 1.
    pub half_open_max: u32,
    /// `failure_on`: upstream statuses (400..=599, distinct, not empty) that count as
    /// failures besides connection errors and timeouts. Default 502, 503, 504.
    pub failure_on: Vec<u16>,
}

/// `type: latency-injection`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyInjectionOptions {
    /// `delay`, required, greater than 0.
    pub delay: Duration,
    /// `jitter`: a random extra of up to this much. Default 0s.
    pub jitter: Duration,
    /// `percentage` of requests delayed, 0..=100 (fractions allowed). Default 100.
    pub percentage: f64,
}

/// `type: fault-injection`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultInjectionOptions {
    /// `abort_status`, required, 400..=599.
    pub abort_status: u16,
    /// `percentage` of requests aborted, required, 0..=100 (fractions allowed).
    pub percentage: f64,
    /// `message`: not blank, no control characters. Default `Fault injected`.
    pub message: String,
}

/// `type: traffic-shadow`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficShadowOptions {
    /// `target`, required: the rules of an upstream `target`.
    pub target: TargetUrl,
    /// `percentage` of requests mirrored, 0..=100 (fractions allowed). Default 100.
    pub percentage: f64,
    /// `timeout` of the mirrored exchange. Default 1s; greater than 0.
    pub timeout: Duration,
    /// `max_body_bytes`: the largest streamed request body kept to be mirrored; a longer one
    /// is not mirrored. Default 1048576 (1 MiB); 0 mirrors only requests whose body arrived
    /// whole with the head.
    pub max_body_bytes: u64,
}

/// `when:` of a `dynamic-routing` rule and of `interrupt`: every condition given must match;
/// at least one is given.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    /// `headers: {name: regex}`: each header is present and the regex matches its first
    /// value. Names lower-cased, each once; file order.
    pub headers: Vec<(String, Regex)>,
    /// `query: {name: regex}`: each query parameter is present and the regex matches its
    /// first (still percent-encoded) value. Names as written; file order.
    pub query: Vec<(String, Regex)>,
    /// `path`: a regex on the full request path (no query, still percent-encoded).
    pub path: Option<Regex>,
    /// `method`: one method or a list, upper-cased, distinct. Empty = any method.
    pub methods: Vec<String>,
}

/// One entry of `rules:` of `dynamic-routing`.
#[derive(Debug, Clone)]
pub struct RoutingRule {
    /// `when`, required.
    pub when: RequestMatch,
    /// `target`, required: the rules of an upstream `target`.
    pub target: TargetUrl,
    /// `strip_prefix`, normalised like the upstream's; `None` when absent.
    pub strip_prefix: Option<String>,
}

/// `type: dynamic-routing`.
#[derive(Debug, Clone)]
pub struct DynamicRoutingOptions {
    /// `rules`, at least one; the first whose `when` matches picks the target.
    pub rules: Vec<RoutingRule>,
}

/// A value of the request that a [`Template`] inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateVar {
    /// `{{method}}`.
    Method,
    /// `{{path}}`: the request path, without the query.
    Path,
    /// `{{query}}`: the raw query string, without `?`.
    Query,
    /// `{{client_ip}}`: the socket peer address.
    ClientIp,
    /// `{{request_id}}`.
    RequestId,
    /// `{{consumer}}`: the consumer id an auth policy identified.
    Consumer,
    /// `{{header.<name>}}`: the first value of that request header; name lower-cased.
    Header(String),
    /// `{{query.<name>}}`: the first value of that query parameter.
    QueryParam(String),
    /// `{{claim.<path>}}`: a claim of the token `jwt-auth` verified (`.` for nesting).
    Claim(String),
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// A value of the request; absent values insert nothing.
    Var(TemplateVar),
}

/// A string with `{{variable}}` placeholders, parsed. Values are inserted JSON-string
/// escaped (`"`, `\` and control characters), so placeholders belong inside JSON strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written.
    pub text: String,
    /// Literals and variables in order; adjacent literals merged, no empty literal.
    pub parts: Vec<TemplatePart>,
}

/// `on_error:` of `http-callout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalloutOnError {
    /// `fail` (default): answer 502 `callout_failed`.
    Fail,
    /// `continue`: go on without the headers.
    Continue,
}

/// `type: http-callout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCalloutOptions {
    /// `url`, required: `http://`, with a path (kept as written in `path_prefix`).
    pub url: TargetUrl,
    /// `method`, upper-cased. Default GET.
    pub method: String,
    /// `headers` sent with the callout, file order, names as written. Default empty.
    pub headers: Vec<(String, String)>,
    /// `body` template. Default none (no body).
    pub body: Option<Template>,
    /// `set_headers_from: {header: json_pointer}`: request headers (lower-cased, each once)
    /// set from fields of the JSON answer (RFC 6901 pointers, starting with `/`). File order.
    pub set_headers_from: Vec<(String, String)>,
    /// Default fail.
    pub on_error: CalloutOnError,
    /// `timeout`. Default 5s; greater than 0.
    pub timeout: Duration,
}

/// `type: interrupt`.
#[derive(Debug, Clone)]
pub struct InterruptOptions {
    /// `when`, required.
    pub when: RequestMatch,
    /// Default 200 (100..=599).
    pub status: u16,
    /// Response headers in file order, names as written. Default empty.
    pub headers: Vec<(String, String)>,
    /// Default empty.
    pub body: String,
}
