//! The downstream connection loop: read a head, route, run the program, answer or forward,
//! repeat while the connection stays keep-alive. Pipelined requests are answered in order
//! because each one is handled to completion before the next head is parsed.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use monoio::net::TcpStream;
use sluice_codec::{
    parse_request_head, BodyFraming, ChunkedDecoder, ChunkedEvent, CodecError, Headers, Method,
    RequestHead, Version,
};
use sluice_engine::forward::check_path;
use sluice_engine::{
    error_response, run_request_from, run_response, ErrorKind, Flow, PolicyEnv, Program,
    RequestContext, RouteMatch, Snapshot, Upstream,
};

use crate::io::{read_some, write_all, IoFail, READ_CHUNK};
use crate::respond::{encode_head, ConnHeader, OutFraming};
use crate::shard::Shard;
use crate::watchdog::ConnSlot;

/// Largest unread request body the gateway reads and discards to keep a connection open
/// after answering locally; larger ones close the connection instead.
const MAX_DRAIN_BYTES: u64 = 256 * 1024;

/// One downstream connection's socket and buffers, reused across its requests.
pub struct Downstream {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub slot: Rc<ConnSlot>,
    /// Set when a WebSocket upgrade succeeded: the upstream socket and the bytes it sent
    /// past the 101 head. The connection loop then becomes a tunnel.
    pub upgraded: Option<(TcpStream, BytesMut)>,
}

/// Counts the connection as active for its whole life, even if its task is dropped.
struct ActiveGuard<'a>(&'a Shard);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
    }
}

enum HeadRead {
    Head(RequestHead),
    Closed,
    Error(ErrorKind),
}

/// Serves one accepted connection until it closes.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shard: Rc<Shard>) {
    shard.active.set(shard.active.get() + 1);
    let _active = ActiveGuard(&shard);
    let guard = shard.watchdog.register();
    let mut conn = Downstream {
        stream,
        peer,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: BytesMut::with_capacity(4096),
        slot: guard.slot.clone(),
        upgraded: None,
    };
    let mut first = true;
    loop {
        let limits_from = shard.snapshot();
        match read_head(&mut conn, &shard, &limits_from, first).await {
            HeadRead::Head(req) => {
                first = false;
                // Load again: a reload while this connection idled applies to this request.
                let snap = shard.snapshot();
                let keep = handle(&mut conn, &shard, &snap, req).await;
                if let Some((upstream, early)) = conn.upgraded.take() {
                    let Downstream {
                        stream, rbuf, slot, ..
                    } = conn;
                    let idle = snap.limits.idle_timeout;
                    crate::tunnel::run(stream, rbuf, upstream, early, slot, &shard.watchdog, idle)
                        .await;
                    return;
                }
                if !keep || shard.shutting_down() {
                    break;
                }
            }
            HeadRead::Closed => break,
            HeadRead::Error(kind) => {
                let snap = limits_from;
                let ctx =
                    RequestContext::new(conn.peer, &Headers::default(), &snap.request_id_header);
                let resp = error_response(&kind, &ctx.request_id);
                let _ = send_local(
                    &mut conn,
                    &shard,
                    &snap,
                    &ctx,
                    resp.status,
                    &resp.headers,
                    resp.body,
                    false,
                    ConnHeader::Close,
                )
                .await;
                break;
            }
        }
    }
}

fn codec_error(e: CodecError) -> ErrorKind {
    match e {
        CodecError::HeadTooLarge | CodecError::TooManyHeaders => ErrorKind::HeadersTooLarge,
        other => ErrorKind::BadRequest(other.to_string().into()),
    }
}

async fn read_head(conn: &mut Downstream, shard: &Shard, snap: &Snapshot, first: bool) -> HeadRead {
    let limits = &snap.limits;
    // A new connection must send its first head within header_timeout; a keep-alive one
    // may idle for idle_timeout, then has header_timeout from its first byte.
    let mut head_deadline = first.then(|| shard.watchdog.now() + limits.header_timeout);
    loop {
        if !conn.rbuf.is_empty() {
            match parse_request_head(&mut conn.rbuf, &limits.head) {
                Ok(Some(head)) => return HeadRead::Head(head),
                Ok(None) => {}
                Err(e) => return HeadRead::Error(codec_error(e)),
            }
            head_deadline.get_or_insert_with(|| shard.watchdog.now() + limits.header_timeout);
        }
        let idle = conn.rbuf.is_empty();
        if idle && shard.shutting_down() {
            return HeadRead::Closed;
        }
        let deadline = head_deadline.unwrap_or_else(|| shard.watchdog.now() + limits.idle_timeout);
        conn.slot.arm(deadline, idle);
        match read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot).await {
            Ok(_) => {}
            Err(_) => return HeadRead::Closed,
        }
    }
}

/// Handles one request; returns whether the connection may serve another.
async fn handle(conn: &mut Downstream, shard: &Shard, snap: &Snapshot, req: RequestHead) -> bool {
    let mut ctx = RequestContext::new(conn.peer, &req.headers, &snap.request_id_header);
    let method = req.method.clone();
    // Only what the log line needs is kept past the request, and only when it is logged.
    let logged = (snap.has_request_log).then(|| (req.path.clone(), req.headers.clone()));
    let keep = handle_request(conn, shard, snap, req, &mut ctx).await;
    record(shard, snap, &ctx, &method);
    let Some((path, headers)) = logged else {
        return keep;
    };
    let spec = match (ctx.route, ctx.log) {
        (Some(r), Some(id)) => Some(&snap.routes[r].program.request_logs[id as usize]),
        // No route ran a program: the global `request-log` still wants the line (unless
        // its `skip` says otherwise).
        (None, _) => snap.unmatched_log.as_ref().and_then(|(spec, skip)| {
            let skipped = skip
                .as_ref()
                .is_some_and(|s| s.matches(&method, &String::from_utf8_lossy(&path), &headers));
            (!skipped).then_some(spec)
        }),
        (Some(_), None) => None,
    };
    if let Some(spec) = spec {
        let line = access_line(snap, &ctx, &method, &path, &headers, spec);
        shard.log_line(&spec.output, spec.buffer, line);
    }
    keep
}

/// One access-log line (the fields `docs/config.md` lists for `request-log`).
fn access_line(
    snap: &Snapshot,
    ctx: &RequestContext,
    method: &Method,
    path: &[u8],
    headers: &Headers,
    spec: &sluice_engine::program::RequestLogSpec,
) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let trace = ctx.trace.to_header();
    let mut line = serde_json::json!({
        "timestamp": now,
        "request_id": String::from_utf8_lossy(&ctx.request_id),
        "trace_id": String::from_utf8_lossy(&trace[3..35]),
        "method": method.as_str(),
        "path": String::from_utf8_lossy(path),
        "status": ctx.status,
        "duration_ms": ctx.start.elapsed().as_secs_f64() * 1000.0,
        "client_ip": ctx.client.ip().to_string(),
        "user_agent": headers.get_str("user-agent"),
        "route": ctx.route.map(|r| snap.routes[r].pattern.clone()),
        "upstream": ctx.upstream,
        "consumer": ctx.identity.consumer_id(),
        "rate_limited": ctx.status == 429 && ctx.rate_info.is_some(),
    });
    if spec.include_headers {
        let mut map = serde_json::Map::new();
        for h in headers {
            let name = String::from_utf8_lossy(&h.name).to_ascii_lowercase();
            let value = if spec.redact_headers.contains(&name) {
                "[REDACTED]".to_string()
            } else {
                String::from_utf8_lossy(&h.value).into_owned()
            };
            map.insert(name, serde_json::Value::String(value));
        }
        line["headers"] = serde_json::Value::Object(map);
    }
    line
}

/// Counts a finished request: status, latency, time per policy, rate-limit refusals.
fn record(shard: &Shard, snap: &Snapshot, ctx: &RequestContext, method: &Method) {
    let route = ctx.route.map(|r| snap.routes[r].pattern.as_str());
    let mut m = shard.metrics.borrow_mut();
    let name = route.unwrap_or(sluice_engine::metrics::UNMATCHED_ROUTE);
    m.record_request(name, method, ctx.status, ctx.start.elapsed());
    if let Some(r) = ctx.route {
        let program = &snap.routes[r].program;
        for (i, entry) in program.ops.iter().enumerate() {
            if ctx.executed & (1u128 << i) != 0 {
                let ns = ctx.op_time_ns[i.min(sluice_engine::context::TIMED_OPS - 1)];
                m.record_policy(entry.op.type_name(), u64::from(ns));
            }
        }
        if ctx.status == 429 && ctx.rate_info.is_some() {
            m.record_rate_limited(name);
        }
    }
}

async fn handle_request(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    mut req: RequestHead,
    ctx: &mut RequestContext,
) -> bool {
    if let Err(e) = check_path(&req.path) {
        return answer_error(conn, shard, snap, &req, ctx, None, e, true).await;
    }
    if let BodyFraming::Length(n) = req.framing {
        if n > snap.limits.max_body_bytes {
            return answer_error(
                conn,
                shard,
                snap,
                &req,
                ctx,
                None,
                ErrorKind::PayloadTooLarge,
                true,
            )
            .await;
        }
    }
    // A cheap handle (reference count), so ops may edit the request while routing reads it.
    let path_bytes = req.path.clone();
    let Ok(path) = std::str::from_utf8(&path_bytes) else {
        let e = ErrorKind::BadRequest("Request path is not valid UTF-8".into());
        return answer_error(conn, shard, snap, &req, ctx, None, e, true).await;
    };
    let mut preflight_allow = None;
    if req.method == Method::Post {
        if let Err(r) = override_before_routing(snap, &mut req, path) {
            let e = ErrorKind::Rejected(r);
            return answer_error(conn, shard, snap, &req, ctx, None, e, false).await;
        }
    }
    let (route_id, params) = match snap.router.find(&snap.routes, &req.method, path) {
        RouteMatch::Found { route, params } => (route, params),
        RouteMatch::NotFound => {
            return answer_error(
                conn,
                shard,
                snap,
                &req,
                ctx,
                None,
                ErrorKind::NotFound,
                false,
            )
            .await;
        }
        RouteMatch::MethodNotAllowed(allow) => {
            // A CORS preflight is answered by the route's `cors` op even when the route has
            // no OPTIONS method: find the route by the method the browser asks about.
            match preflight_route(snap, &req, path) {
                Some(found) => {
                    preflight_allow = Some(allow);
                    found
                }
                None => {
                    let e = ErrorKind::MethodNotAllowed(allow);
                    return answer_error(conn, shard, snap, &req, ctx, None, e, false).await;
                }
            }
        }
    };
    ctx.route = Some(route_id);
    ctx.params = params;
    let route = &snap.routes[route_id];
    if req.headers.has_token("upgrade", "websocket") {
        let tunnels = route.websocket && matches!(route.upstream, Upstream::Url(_));
        if !tunnels || !req.headers.has_token("connection", "upgrade") || req.method != Method::Get
        {
            let e =
                ErrorKind::BadRequest("WebSocket upgrades are not enabled on this route".into());
            return answer_error(conn, shard, snap, &req, ctx, None, e, true).await;
        }
        ctx.upgrade = true;
    }
    let env = PolicyEnv {
        consumers: &snap.consumers,
        state: &shard.state,
    };
    // An op that needs a side call (a JWKS) returns; the shard fetches and runs the program
    // again from that op. Twice at most: the op itself rate-limits refetches.
    let mut start = 0;
    // Each kind of side call has its own bound, so one kind cannot starve another.
    let (mut jwks_fetches, mut introspections, mut callouts) = (0, 0, 0);
    let flow = loop {
        match run_request_from(&route.program, env, &mut req, ctx, start) {
            Flow::FetchJwks { url, resume_at } if jwks_fetches < 2 => {
                jwks_fetches += 1;
                crate::side::fetch_jwks(shard, snap, &url).await;
                start = resume_at;
            }
            // Another request is fetching this cacheable response: wait for it (bounded by
            // the idle timeout so a stuck leader cannot hold followers forever), then look
            // again; the lookup may hit, lead, or wait once more.
            Flow::Callout {
                target,
                method,
                headers,
                body,
                resume_at,
            } if callouts < 8 => {
                callouts += 1;
                let answer = crate::side::callout(snap, &target, method, headers, body).await;
                ctx.side_answer = Some(answer);
                start = resume_at;
            }
            Flow::Sleep { delay, resume_at } => {
                monoio::time::sleep(delay).await;
                start = resume_at;
            }
            Flow::CacheWait { pending, resume_at } => {
                let wait = pending.wait(&req.headers);
                let _ = monoio::time::timeout(snap.limits.idle_timeout, wait).await;
                start = resume_at;
            }
            // Rate-limit leases do not count against the side-call cap: a request may need
            // one per limit, and each ask either installs tokens or a refusal.
            Flow::RateLimitAsk {
                key,
                owner,
                spec,
                resume_at,
            } => {
                crate::side::lease(shard, &key, owner, spec).await;
                start = resume_at;
            }
            Flow::Introspect {
                target,
                token,
                resume_at,
            } if introspections < 2 => {
                introspections += 1;
                ctx.side_answer = Some(crate::side::introspect(snap, &target, &token).await);
                start = resume_at;
            }
            other => break other,
        }
    };
    match flow {
        Flow::Continue => {
            if let Some(allow) = preflight_allow {
                // No op answered the preflight: the route really has no OPTIONS.
                let e = ErrorKind::MethodNotAllowed(allow);
                let program = Some(&route.program);
                return answer_error(conn, shard, snap, &req, ctx, program, e, false).await;
            }
        }
        Flow::Answer(answer) => {
            if !answer.delay.is_zero() {
                monoio::time::sleep(answer.delay).await;
            }
            return answer_local(
                conn,
                shard,
                snap,
                &req,
                ctx,
                Some(&route.program),
                answer.status,
                answer.headers,
                answer.body,
            )
            .await;
        }
        Flow::FetchJwks { .. }
        | Flow::Introspect { .. }
        | Flow::RateLimitAsk { .. }
        | Flow::CacheWait { .. }
        | Flow::Sleep { .. }
        | Flow::Callout { .. }
        | Flow::Reject(_) => {
            let r = match flow {
                Flow::Reject(r) => r,
                Flow::Introspect { .. } => sluice_policies::Reject::new(
                    502,
                    "introspection_error",
                    "Token introspection did not settle",
                ),
                Flow::Callout { .. } => sluice_policies::Reject::new(
                    502,
                    "callout_failed",
                    "Too many callouts for one request",
                ),
                // Still no keys after two fetches: the key source is down.
                _ => {
                    sluice_policies::Reject::new(502, "jwks_error", "Signing keys are unavailable")
                }
            };
            let e = ErrorKind::Rejected(r);
            let program = Some(&route.program);
            return answer_error(conn, shard, snap, &req, ctx, program, e, false).await;
        }
    }
    match &route.upstream {
        Upstream::Static(s) => {
            answer_local(
                conn,
                shard,
                snap,
                &req,
                ctx,
                Some(&route.program),
                s.status,
                s.headers.clone(),
                s.body.clone(),
            )
            .await
        }
        Upstream::Url(up) => crate::proxy::forward(conn, shard, snap, route, up, req, ctx).await,
        Upstream::Health(h) => {
            let (status, body) = crate::side::health_report(shard, snap, h).await;
            let mut headers = Headers::with_capacity(2);
            headers.append("content-type", "application/json");
            headers.append("cache-control", "no-store");
            let program = Some(&route.program);
            answer_local(conn, shard, snap, &req, ctx, program, status, headers, body).await
        }
    }
}

/// `override-method` changes what the request is, so it applies before routing: a POST
/// carrying an override header is routed as the method it names when the route serving that
/// method runs an `override-method` op that allows it. (The op then finds no POST and
/// only strips the header.)
fn override_before_routing(
    snap: &Snapshot,
    req: &mut RequestHead,
    path: &str,
) -> Result<(), sluice_policies::Reject> {
    for (header, _) in snap.override_headers.iter().map(|h| (h, ())) {
        let Some(value) = req.headers.get(header) else {
            continue;
        };
        let wanted = Method::from_bytes(value.trim_ascii().to_ascii_uppercase().as_slice());
        let RouteMatch::Found { route, .. } = snap.router.find(&snap.routes, &wanted, path) else {
            continue;
        };
        let program = &snap.routes[route].program;
        for entry in &program.ops {
            if let sluice_policies::Op::OverrideMethod(id) = entry.op {
                let op = &program.method_overrides[id as usize];
                if op.header.eq_ignore_ascii_case(header) {
                    if let Some(m) = op.on_request(&req.method, &mut req.headers)? {
                        req.method = m;
                    }
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// For an `OPTIONS` preflight (`Origin` and `Access-Control-Request-Method` present), the
/// route serving the method the browser asks about.
fn preflight_route(
    snap: &Snapshot,
    req: &RequestHead,
    path: &str,
) -> Option<(usize, Vec<(usize, usize)>)> {
    if req.method != Method::Options || !req.headers.contains("origin") {
        return None;
    }
    let asked = req.headers.get("access-control-request-method")?;
    match snap
        .router
        .find(&snap.routes, &Method::from_bytes(asked.trim_ascii()), path)
    {
        RouteMatch::Found { route, params } => Some((route, params)),
        _ => None,
    }
}

/// Answers with a gateway error. `fatal` errors (malformed input) always close.
#[allow(clippy::too_many_arguments)]
pub async fn answer_error(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    req: &RequestHead,
    ctx: &mut RequestContext,
    program: Option<&Program>,
    err: ErrorKind,
    fatal: bool,
) -> bool {
    let resp = error_response(&err, &ctx.request_id);
    let mut headers = resp.headers;
    if let Some(p) = program {
        // Response-phase ops that ran (e.g. response-transform) see errors too.
        run_response(p, resp.status, &mut headers, ctx);
        add_debug_trace(snap, req, ctx, p, &mut headers);
    }
    let keep = !fatal && may_keep(req, shard);
    let conn_header = conn_header(req, keep);
    ctx.status = resp.status;
    let sent = send_local(
        conn,
        shard,
        snap,
        ctx,
        resp.status,
        &headers,
        resp.body,
        req.method == Method::Head,
        conn_header,
    )
    .await;
    sent && keep && discard_body(conn, shard, snap, req.framing).await
}

/// Answers locally (mock, static upstream) after running the response phase.
#[allow(clippy::too_many_arguments)]
async fn answer_local(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    req: &RequestHead,
    ctx: &mut RequestContext,
    program: Option<&Program>,
    status: u16,
    mut headers: Headers,
    body: Bytes,
) -> bool {
    // Body checks judge the body whether or not an upstream would receive it: read it
    // through them before answering, so a mock or static route refuses what a proxied one
    // would.
    let mut framing = req.framing;
    if !ctx.body_checks.is_empty() && framing != BodyFraming::None {
        match check_unforwarded_body(conn, shard, snap, req, ctx).await {
            Ok(()) => framing = BodyFraming::None,
            Err(Some(e)) => {
                return answer_error(conn, shard, snap, req, ctx, program, e, true).await
            }
            Err(None) => return false,
        }
    }
    if let Some(p) = program {
        run_response(p, status, &mut headers, ctx);
        add_debug_trace(snap, req, ctx, p, &mut headers);
    }
    let keep = may_keep(req, shard);
    let conn_header = conn_header(req, keep);
    ctx.status = status;
    let sent = send_local(
        conn,
        shard,
        snap,
        ctx,
        status,
        &headers,
        body,
        req.method == Method::Head,
        conn_header,
    )
    .await;
    // Answer first, then skip the unread body: a client waiting for the answer before
    // sending its body (or sending a body the answer refused) must not hold the answer up.
    sent && keep && discard_body(conn, shard, snap, framing).await
}

/// Reads the whole request body through `ctx.body_checks`, keeping none of it. `Err(None)`:
/// the client went away or stalled (close without answering); `Err(Some(e))`: the answer.
async fn check_unforwarded_body(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    req: &RequestHead,
    ctx: &mut RequestContext,
) -> Result<(), Option<ErrorKind>> {
    if req.expect_continue && conn.rbuf.is_empty() {
        conn.wbuf
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        conn.slot
            .arm(shard.watchdog.now() + snap.limits.idle_timeout, false);
        write_all(&mut conn.stream, &mut conn.wbuf, &conn.slot)
            .await
            .map_err(|_| None)?;
    }
    let stall = snap.limits.idle_timeout;
    let rejected = |r| Some(ErrorKind::Rejected(r));
    match req.framing {
        BodyFraming::None => Ok(()),
        BodyFraming::Length(n) => {
            let mut left = n;
            loop {
                let take = (conn.rbuf.len() as u64).min(left) as usize;
                if take > 0 {
                    let chunk = conn.rbuf.split_to(take);
                    left -= take as u64;
                    ctx.body_checks.feed(&chunk).map_err(rejected)?;
                }
                if left == 0 {
                    return ctx.body_checks.finish().map_err(rejected);
                }
                conn.slot.arm(shard.watchdog.now() + stall, false);
                read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                    .await
                    .map_err(|_| None)?;
            }
        }
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut total: u64 = 0;
            loop {
                match dec.decode(&mut conn.rbuf) {
                    Ok(Some(ChunkedEvent::Data(d))) => {
                        total += d.len() as u64;
                        if total > snap.limits.max_body_bytes {
                            return Err(Some(ErrorKind::PayloadTooLarge));
                        }
                        ctx.body_checks.feed(&d).map_err(rejected)?;
                    }
                    Ok(Some(ChunkedEvent::End)) => {
                        return ctx.body_checks.finish().map_err(rejected)
                    }
                    Ok(None) => {
                        conn.slot.arm(shard.watchdog.now() + stall, false);
                        read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                            .await
                            .map_err(|_| None)?;
                    }
                    Err(_) => {
                        return Err(Some(ErrorKind::BadRequest(
                            "Malformed chunked request body".into(),
                        )))
                    }
                }
            }
        }
    }
}

/// Which `Connection` header the response needs.
pub fn conn_header(req: &RequestHead, keep: bool) -> ConnHeader {
    match (keep, req.version) {
        (false, _) => ConnHeader::Close,
        (true, Version::Http10) => ConnHeader::KeepAlive,
        (true, Version::Http11) => ConnHeader::None,
    }
}

/// Whether the connection may carry another request after a local answer: the client asked
/// for keep-alive, the shard is not draining, and any unread body is small enough to skip.
fn may_keep(req: &RequestHead, shard: &Shard) -> bool {
    if !req.keep_alive || shard.shutting_down() {
        return false;
    }
    match req.framing {
        BodyFraming::None => true,
        // The client is waiting for 100 Continue and may never send the body.
        _ if req.expect_continue => false,
        BodyFraming::Length(n) => n <= MAX_DRAIN_BYTES,
        BodyFraming::Chunked => true,
    }
}

async fn discard_body(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    framing: BodyFraming,
) -> bool {
    let deadline = shard.watchdog.now() + snap.limits.header_timeout;
    match framing {
        BodyFraming::None => true,
        BodyFraming::Length(n) => {
            let mut left = n as usize;
            loop {
                let take = left.min(conn.rbuf.len());
                let _ = conn.rbuf.split_to(take);
                left -= take;
                if left == 0 {
                    return true;
                }
                conn.slot.arm(deadline, false);
                if read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                    .await
                    .is_err()
                {
                    return false;
                }
            }
        }
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut seen: u64 = 0;
            loop {
                match dec.decode(&mut conn.rbuf) {
                    Ok(Some(ChunkedEvent::Data(d))) => {
                        seen += d.len() as u64;
                        if seen > MAX_DRAIN_BYTES {
                            return false;
                        }
                    }
                    Ok(Some(ChunkedEvent::End)) => return true,
                    Ok(None) => {
                        conn.slot.arm(deadline, false);
                        if read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                            .await
                            .is_err()
                        {
                            return false;
                        }
                    }
                    Err(_) => return false,
                }
            }
        }
    }
}

/// Writes a complete response whose body is in memory; returns false if the write failed.
#[allow(clippy::too_many_arguments)]
pub async fn send_local(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    ctx: &RequestContext,
    status: u16,
    headers: &Headers,
    body: Bytes,
    head_only: bool,
    conn_header: ConnHeader,
) -> bool {
    let framing = if matches!(status, 100..=199 | 204 | 304) {
        OutFraming::NoBody
    } else {
        OutFraming::Length(body.len() as u64)
    };
    encode_head(
        &mut conn.wbuf,
        status,
        headers,
        framing,
        conn_header,
        Some((&snap.request_id_header, ctx)),
    );
    let big = !head_only && framing != OutFraming::NoBody && body.len() > SMALL_BODY;
    if !head_only && framing != OutFraming::NoBody && !big {
        conn.wbuf.extend_from_slice(&body);
    }
    conn.slot
        .arm(shard.watchdog.now() + snap.limits.idle_timeout, false);
    if write_all(&mut conn.stream, &mut conn.wbuf, &conn.slot)
        .await
        .is_err()
    {
        return false;
    }
    if big {
        return crate::io::write_bytes(&mut conn.stream, body, &conn.slot)
            .await
            .is_ok();
    }
    true
}

/// Bodies up to this size are copied behind the head so head and body leave in one write.
pub const SMALL_BODY: usize = 16 * 1024;

impl From<IoFail> for ErrorKind {
    fn from(f: IoFail) -> Self {
        match f {
            IoFail::Timeout => ErrorKind::GatewayTimeout,
            IoFail::Closed => ErrorKind::BadGateway("Upstream closed the connection".into()),
            IoFail::Shutdown => ErrorKind::BadGateway("Gateway is shutting down".into()),
            IoFail::Io(e) => ErrorKind::BadGateway(format!("Upstream I/O error: {e}").into()),
        }
    }
}

/// Adds `x-sluice-trace` when the config allows it and the request asks with
/// `x-sluice-debug: trace`.
pub fn add_debug_trace(
    snap: &Snapshot,
    req: &RequestHead,
    ctx: &RequestContext,
    program: &Program,
    headers: &mut Headers,
) {
    if !snap.debug_headers
        || req
            .headers
            .get("x-sluice-debug")
            .is_none_or(|v| !v.eq_ignore_ascii_case(b"trace"))
    {
        return;
    }
    let route = ctx.route.map_or("", |r| snap.routes[r].pattern.as_str());
    let value = sluice_engine::interp::debug_trace(program, route, ctx);
    headers.set("x-sluice-trace", Bytes::from(value));
}
