//! The interpreter: one loop over the op array per phase.

use std::net::IpAddr;
use std::time::Instant;

use sluice_codec::{Headers, RequestHead};
use sluice_policies::{Answer, Op, Reject};

use crate::body::BodyCheck;
use sluice_policies::cache::{CacheStatus, Lookup};
use sluice_policies::cors::CorsOutcome;
use sluice_policies::rate_limit::{RateInfo, RequestFacts};
use sluice_policies::ssl_enforce::SslOutcome;
use sluice_policies::{ConsumerRegistry, JwtOutcome, OAuth2Outcome, RateOutcome};

use crate::context::unix_now;
use crate::{state::ShardState, Program, RequestContext};

/// What ops may read besides the request: the snapshot's consumers and the shard's caches.
#[derive(Clone, Copy)]
pub struct PolicyEnv<'a> {
    pub consumers: &'a ConsumerRegistry,
    pub state: &'a ShardState,
}

/// What the request phase decided.
#[derive(Debug)]
pub enum Flow {
    /// Every op passed: call the upstream.
    Continue,
    /// An op answered (e.g. mock): send this, skip the upstream.
    Answer(Answer),
    /// An op refused: send the JSON error.
    Reject(Reject),
    /// An op needs the JWKS at `url` (a key in `Snapshot::jwks`): fetch it, report it to
    /// the shard state, then call [`run_request_from`] with `resume_at`.
    FetchJwks { url: String, resume_at: usize },
    /// An `oauth2` op needs `token` introspected at `target` (a key in
    /// `Snapshot::side_targets`): call it, put the answer in `ctx.side_answer`, then call
    /// [`run_request_from`] with `resume_at`.
    Introspect {
        target: String,
        token: String,
        resume_at: usize,
    },
    /// A `rate-limit` op holds no lease for `key`: ask shard `owner` for one, install it in
    /// the shard state, then call [`run_request_from`] with `resume_at`.
    RateLimitAsk {
        key: String,
        owner: usize,
        spec: sluice_policies::rate_limit::LimitSpec,
        resume_at: usize,
    },
    /// Another request on this shard is fetching the same cacheable response: wait for
    /// `pending` (request coalescing), then call [`run_request_from`] with `resume_at`.
    CacheWait {
        pending: std::rc::Rc<sluice_policies::cache::Pending>,
        resume_at: usize,
    },
    /// `latency-injection`: wait `delay`, then call [`run_request_from`] with `resume_at`.
    Sleep {
        delay: std::time::Duration,
        resume_at: usize,
    },
    /// `http-callout`: call `target` (a key in `Snapshot::side_targets`) with `method` and
    /// `body`, put the answer in `ctx.side_answer`, then call [`run_request_from`] with
    /// `resume_at`.
    Callout {
        target: String,
        method: sluice_codec::Method,
        headers: Vec<(String, String)>,
        body: bytes::Bytes,
        resume_at: usize,
    },
}

/// Runs the request phase forward, stopping at the first op that answers or refuses.
/// Records in `ctx` which ops ran (for the response phase) and how long each took.
pub fn run_request(
    program: &Program,
    env: PolicyEnv<'_>,
    req: &mut RequestHead,
    ctx: &mut RequestContext,
) -> Flow {
    run_request_from(program, env, req, ctx, 0)
}

/// [`run_request`] starting at op `start` (after a fetch the op that asked runs again).
pub fn run_request_from(
    program: &Program,
    env: PolicyEnv<'_>,
    req: &mut RequestHead,
    ctx: &mut RequestContext,
    start: usize,
) -> Flow {
    let path = std::str::from_utf8(&req.path).unwrap_or("");
    for (i, entry) in program.ops.iter().enumerate().skip(start) {
        if let Some(skip) = &entry.skip {
            if skip.matches(&req.method, path, &req.headers) {
                continue;
            }
        }
        let started = Instant::now();
        ctx.executed |= 1u128 << i;
        let flow = match entry.op {
            Op::IpFilter(id) => {
                let peer: IpAddr = ctx.client.ip();
                match program.ip_filters[id as usize].on_request(peer, &req.headers) {
                    Ok(()) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::RequestTransform(id) => {
                program.transforms[id as usize].apply(&mut req.headers);
                Flow::Continue
            }
            // Response-only op: nothing to do on the way in.
            Op::ResponseTransform(_) => Flow::Continue,
            Op::Mock(id) => Flow::Answer(program.mocks[id as usize].on_request()),
            Op::ApiKeyAuth(id) => {
                let auth = &program.api_keys[id as usize];
                let query = req.query.clone();
                match auth.on_request(
                    env.consumers,
                    &mut req.headers,
                    query.as_deref(),
                    &mut ctx.identity,
                ) {
                    Ok(()) => {
                        // The upstream must not see the key in the query string either.
                        if let Some(q) = query.as_deref().and_then(|q| auth.strip_query(q)) {
                            req.query = if q.is_empty() { None } else { Some(q) };
                        }
                        Flow::Continue
                    }
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::BasicAuth(id) => {
                let mut cache = env.state.basic.borrow_mut();
                match program.basic_auths[id as usize].on_request(
                    env.consumers,
                    &mut cache,
                    &mut req.headers,
                    &mut ctx.identity,
                ) {
                    Ok(()) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::JwtAuth(id) => {
                let unix_now = unix_now();
                let mut jwt = env.state.jwt.borrow_mut();
                match program.jwts[id as usize].on_request(
                    &mut jwt,
                    &mut req.headers,
                    req.query.as_deref(),
                    &mut ctx.identity,
                    started,
                    unix_now,
                ) {
                    JwtOutcome::Pass => Flow::Continue,
                    JwtOutcome::Reject(r) => Flow::Reject(r),
                    JwtOutcome::FetchJwks(url) => Flow::FetchJwks { url, resume_at: i },
                }
            }
            Op::Cors(id) => match program.cors[id as usize].on_request(&req.method, &req.headers) {
                CorsOutcome::Continue(origin) => {
                    ctx.cors_origin = Some(origin);
                    Flow::Continue
                }
                CorsOutcome::Preflight(answer) => Flow::Answer(answer),
            },
            Op::RequestLimit(id) => {
                let rl = &program.request_limits[id as usize];
                match rl.on_request(req.framing) {
                    Ok(()) => {
                        if let Some(c) = rl.body_checker(req.framing) {
                            ctx.body_checks.push(BodyCheck::Limit(c));
                        }
                        Flow::Continue
                    }
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::SslEnforce(id) => {
                // TLS is not terminated by Sluice yet: the connection itself is plain HTTP.
                let outcome = program.ssl_enforces[id as usize].on_request(
                    false,
                    &req.method,
                    &req.path,
                    req.query.as_deref(),
                    &req.headers,
                );
                match outcome {
                    SslOutcome::Secure => {
                        ctx.secure = true;
                        Flow::Continue
                    }
                    SslOutcome::Redirect(answer) => Flow::Answer(answer),
                    SslOutcome::Reject(r) => Flow::Reject(r),
                }
            }
            Op::OverrideMethod(id) => {
                match program.method_overrides[id as usize]
                    .on_request(&req.method, &mut req.headers)
                {
                    Ok(Some(m)) => {
                        req.method = m;
                        Flow::Continue
                    }
                    Ok(None) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::JsonThreat(id) => {
                let jt = &program.json_threats[id as usize];
                match jt.on_request(req.framing, &req.headers) {
                    Ok(()) => {
                        if req.framing != sluice_codec::BodyFraming::None {
                            if let Some(c) = jt.body_checker(&req.headers) {
                                ctx.body_checks.push(BodyCheck::Json(c));
                            }
                        }
                        Flow::Continue
                    }
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::RegexThreat(id) => {
                let rt = &program.regex_threats[id as usize];
                match rt.on_request(&req.path, req.query.as_deref(), &req.headers) {
                    Ok(()) => {
                        if req.framing != sluice_codec::BodyFraming::None {
                            if let Some(c) = rt.body_checker() {
                                ctx.body_checks.push(BodyCheck::Regex(c));
                            }
                        }
                        Flow::Continue
                    }
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::Timeout(id) => {
                ctx.timeouts = Some(program.timeouts[id as usize]);
                Flow::Continue
            }
            Op::Retry(id) => {
                ctx.retry = Some(id);
                Flow::Continue
            }
            Op::CircuitBreaker(id) => {
                ctx.breaker = Some(id);
                Flow::Continue
            }
            Op::LatencyInjection(id) => {
                let roll = fastrand::f64() * 100.0;
                match program.latencies[id as usize].delay_for(roll, fastrand::f64()) {
                    Some(delay) => Flow::Sleep {
                        delay,
                        resume_at: i + 1,
                    },
                    None => Flow::Continue,
                }
            }
            Op::FaultInjection(id) => {
                match program.faults[id as usize].on_request(fastrand::f64() * 100.0) {
                    Ok(()) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::DynamicRouting(id) => {
                let routing = &program.dynamic_routes[id as usize];
                if let Some(rule) =
                    routing.choose(&req.method, &req.path, req.query.as_deref(), &req.headers)
                {
                    ctx.route_override = Some((rule.target, rule.strip_prefix.clone()));
                }
                Flow::Continue
            }
            Op::HttpCallout(id) => {
                let c = &program.callouts[id as usize];
                match ctx.side_answer.take() {
                    None => Flow::Callout {
                        target: c.target.clone(),
                        method: c.method.clone(),
                        headers: c.headers.clone(),
                        body: c.render_body(req, ctx),
                        resume_at: i,
                    },
                    Some(answer) => match c.apply_answer(answer, &mut req.headers) {
                        Ok(()) => Flow::Continue,
                        Err(r) => Flow::Reject(r),
                    },
                }
            }
            Op::RequestLog(id) => {
                ctx.log = Some(id);
                Flow::Continue
            }
            Op::TrafficShadow(id) => {
                if fastrand::f64() * 100.0 < program.shadows[id as usize].percentage {
                    ctx.shadow = Some(id);
                }
                Flow::Continue
            }
            Op::Interrupt(id) => match program.interrupts[id as usize].on_request(
                &req.method,
                &req.path,
                req.query.as_deref(),
                &req.headers,
            ) {
                Some(answer) => Flow::Answer(answer),
                None => Flow::Continue,
            },
            Op::Cache(id) => {
                let policy = &program.caches[id as usize];
                let route_id = program.route_key;
                match policy.key(
                    route_id,
                    &req.method,
                    &req.path,
                    req.query.as_deref(),
                    &req.headers,
                ) {
                    None => {
                        ctx.cache_status = Some(CacheStatus::Bypass.as_str());
                        Flow::Continue
                    }
                    Some(key) => {
                        let now = unix_now();
                        let found = env.state.cache.borrow_mut().lookup(&key, &req.headers, now);
                        match found {
                            Lookup::Hit(stored) => {
                                Flow::Answer(stored.answer(now, &policy.status_header))
                            }
                            Lookup::Miss(token) => {
                                ctx.cache_status = Some(CacheStatus::Miss.as_str());
                                ctx.cache_miss = Some((id, token));
                                Flow::Continue
                            }
                            Lookup::Wait(pending) => Flow::CacheWait {
                                pending,
                                resume_at: i,
                            },
                        }
                    }
                }
            }
            Op::GeoIp(id) => {
                match program.geo_ips[id as usize].on_request(ctx.client.ip(), &req.headers) {
                    Ok(()) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
            Op::RateLimit(id) => {
                let rl = &program.rate_limits[id as usize];
                let facts = RequestFacts {
                    client: ctx.client.ip(),
                    path,
                    route: &program.route_pattern,
                    headers: &req.headers,
                    identity: &ctx.identity,
                };
                match rl.key(&facts) {
                    None => Flow::Continue,
                    Some(key) => {
                        let mut limiter = env.state.limiter.borrow_mut();
                        match rl.on_request(&key, &mut limiter, started) {
                            RateOutcome::Pass(info) => {
                                keep_tightest(&mut ctx.rate_info, info);
                                Flow::Continue
                            }
                            RateOutcome::Reject(r, info) => {
                                ctx.rate_info = Some(info);
                                Flow::Reject(r)
                            }
                            RateOutcome::Ask { key, owner } => Flow::RateLimitAsk {
                                key,
                                owner,
                                spec: rl.spec,
                                resume_at: i,
                            },
                        }
                    }
                }
            }
            Op::OAuth2(id) => {
                let o = &program.oauth2s[id as usize];
                let answer = ctx.side_answer.take();
                let mut st = env.state.oauth2.borrow_mut();
                match o.on_request(
                    &mut st,
                    &mut req.headers,
                    req.query.as_deref(),
                    &mut ctx.identity,
                    answer,
                    started,
                    unix_now(),
                ) {
                    OAuth2Outcome::Pass => Flow::Continue,
                    OAuth2Outcome::Reject(r) => Flow::Reject(r),
                    OAuth2Outcome::Introspect(token) => Flow::Introspect {
                        target: o.cache_key.clone(),
                        token,
                        resume_at: i,
                    },
                }
            }
            Op::Rbac(id) => {
                match program.rbacs[id as usize].on_request(&req.headers, &ctx.identity) {
                    Ok(()) => Flow::Continue,
                    Err(r) => Flow::Reject(r),
                }
            }
        };
        ctx.record_op_time(i, started.elapsed());
        if matches!(flow, Flow::Answer(_) | Flow::Reject(_)) {
            ctx.answered_by = Some(i);
        }
        if !matches!(flow, Flow::Continue) {
            return flow;
        }
    }
    Flow::Continue
}

/// Runs the response phase in reverse over exactly the ops that ran in the request phase.
pub fn run_response(
    program: &Program,
    status: u16,
    headers: &mut Headers,
    ctx: &mut RequestContext,
) {
    let _ = status;
    if ctx.executed == 0 {
        return;
    }
    for (i, entry) in program.ops.iter().enumerate().rev() {
        if ctx.executed & (1u128 << i) == 0 {
            continue;
        }
        match entry.op {
            Op::ResponseTransform(id) => {
                let started = Instant::now();
                program.transforms[id as usize].apply(headers);
                ctx.record_op_time(i, started.elapsed());
            }
            // Request-only ops: nothing to do on the way out.
            Op::IpFilter(_)
            | Op::RequestTransform(_)
            | Op::Mock(_)
            | Op::ApiKeyAuth(_)
            | Op::BasicAuth(_)
            | Op::Rbac(_)
            | Op::JwtAuth(_)
            | Op::OAuth2(_) => {}
            Op::Cors(id) => {
                // Unset after a preflight answer: that one already carries its headers.
                if let Some(origin) = &ctx.cors_origin {
                    program.cors[id as usize].on_response(origin, headers);
                }
            }
            Op::SslEnforce(id) => {
                program.ssl_enforces[id as usize].on_response(ctx.secure, headers)
            }
            Op::Cache(id) => {
                if let Some(status) = ctx.cache_status {
                    headers.set(program.caches[id as usize].status_header.clone(), status);
                }
            }
            // Request-only ops: nothing to do on the way out.
            Op::RequestLimit(_)
            | Op::OverrideMethod(_)
            | Op::JsonThreat(_)
            | Op::RegexThreat(_)
            | Op::GeoIp(_)
            | Op::Timeout(_)
            | Op::Retry(_)
            | Op::CircuitBreaker(_)
            | Op::LatencyInjection(_)
            | Op::FaultInjection(_)
            | Op::DynamicRouting(_)
            | Op::Interrupt(_)
            | Op::HttpCallout(_)
            | Op::TrafficShadow(_)
            | Op::RequestLog(_) => {}
            Op::RateLimit(_) => {
                if let Some(info) = &ctx.rate_info {
                    sluice_policies::rate_limit::write_headers(info, headers);
                }
            }
        }
    }
}

/// Several limits on one route: the headers report the one closest to refusing.
fn keep_tightest(current: &mut Option<RateInfo>, new: Option<RateInfo>) {
    if let Some(n) = new {
        if current.is_none_or(|c| n.remaining < c.remaining) {
            *current = Some(n);
        }
    }
}

/// The `x-sluice-trace` value (`debug_headers: true` and `x-sluice-debug: trace`): the
/// request id, the route, and each op that ran with its time and whether it answered.
pub fn debug_trace(program: &Program, route: &str, ctx: &RequestContext) -> String {
    let mut ops = Vec::new();
    for (i, e) in program.ops.iter().enumerate() {
        if ctx.executed & (1u128 << i) == 0 {
            continue;
        }
        let ns = ctx.op_time_ns[i.min(crate::context::TIMED_OPS - 1)];
        ops.push(serde_json::json!({
            "op": e.op.type_name(),
            "name": e.name,
            "duration_us": f64::from(ns) / 1000.0,
            "answered": ctx.answered_by == Some(i),
        }));
    }
    serde_json::json!({
        "request_id": String::from_utf8_lossy(&ctx.request_id),
        "route": route,
        "ops": ops,
    })
    .to_string()
}
