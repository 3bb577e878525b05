//! Forwarding a request to a `url` upstream and streaming the response back.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use monoio::net::TcpStream;
use sluice_codec::{
    encode_chunk, encode_last_chunk, parse_response_head, BodyFraming, ChunkedDecoder,
    ChunkedEvent, RequestHead, ResponseFraming, ResponseHead, Version,
};
use sluice_engine::body::BodyChecks;
use sluice_engine::forward::encode_upstream_head;
use sluice_engine::{
    run_response, ErrorKind, RequestContext, Route, Snapshot, UpstreamTarget, UrlUpstream,
};
use sluice_policies::cache::StoreWriter;
use sluice_policies::circuit_breaker::{Admission, CircuitBreaker, Transition};
use sluice_policies::retry::AttemptOutcome;

use crate::conn::{answer_error, conn_header, Downstream, SMALL_BODY};
use crate::io::{read_some, write_all, write_bytes, IoFail};
use crate::pool::UpstreamConn;
use crate::respond::{encode_head, ConnHeader, OutFraming};
use crate::shard::Shard;

/// Why sending the request body upstream stopped.
/// Which side failed while a response body was relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelayFail {
    /// The client went away or stalled.
    Downstream,
    /// The upstream closed early, stalled past its deadline or broke the framing.
    Upstream,
}

enum BodyFail {
    /// The client vanished or stalled: close without answering.
    Downstream,
    /// The client's chunked framing was invalid: 400.
    Malformed,
    /// The body passed `max_body_bytes`: 413.
    TooLarge,
    /// The upstream failed while receiving it.
    Upstream(IoFail),
    /// A body check (json/regex threat protection, request-limit) refused it.
    Rejected(sluice_policies::Reject),
}

/// Why no usable response head arrived.
enum ExchangeFail {
    /// Worth one retry on a fresh connection (nothing came back from a reused one).
    Stale,
    Fatal(ErrorKind),
    Body(BodyFail),
}

/// Forwards `req` to `up` and streams the answer to the client; returns whether the
/// downstream connection may serve another request.
pub async fn forward(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    route: &Route,
    up: &UrlUpstream,
    mut req: RequestHead,
    ctx: &mut RequestContext,
) -> bool {
    let started = shard.watchdog.now();
    let deadline = started + up.timeout;

    // A small body already in the read buffer rides in the same write as the head and can
    // be replayed on a retry (or on another target).
    let buffered_body: Option<Bytes> = match req.framing {
        BodyFraming::None => Some(Bytes::new()),
        BodyFraming::Length(n) if conn.rbuf.len() as u64 >= n && n as usize <= SMALL_BODY => {
            let body = conn.rbuf.split_to(n as usize).freeze();
            if !ctx.body_checks.is_empty() {
                let checked = ctx
                    .body_checks
                    .feed(&body)
                    .and_then(|()| ctx.body_checks.finish());
                if let Err(r) = checked {
                    let e = ErrorKind::Rejected(r);
                    let program = Some(&route.program);
                    return answer_error(conn, shard, snap, &req, ctx, program, e, true).await;
                }
            }
            Some(body)
        }
        _ => None,
    };
    let body_buffered = buffered_body.is_some();
    let replayable = body_buffered && req.method.is_idempotent();

    let program = &route.program;
    // Mirror before the real call so a slow mirror never sits in the request's path. A
    // body already in memory goes now; a streamed one is kept as it is sent (up to the
    // shadow's `max_body_bytes`) and mirrored once the upstream has answered.
    let shadow = ctx.shadow.map(|id| &program.shadows[id as usize]);
    let mut mirror_streamed = None;
    match (shadow, &buffered_body) {
        (Some(s), Some(body)) => {
            crate::side::shadow(s, &req, route.base_path_len, up, body.clone());
        }
        (Some(s), None) => mirror_streamed = Some(s),
        (None, _) => {}
    }
    let retry = ctx.retry.map(|id| &program.retries[id as usize]);
    let breaker = ctx.breaker.map(|id| &program.breakers[id as usize]);
    let timeouts = ctx.timeouts.unwrap_or_default();
    if let Some((policy, budget_id)) = retry {
        shard.note_retry_request(policy, budget_id);
        // Clients must not pose as retries.
        if let Some(h) = &policy.retry_count_header {
            req.headers.remove(h);
        }
    }
    // `timeout.request` tightens the upstream's whole-exchange deadline.
    let deadline = timeouts
        .request_deadline(started)
        .map_or(deadline, |d| d.min(deadline));
    let mut tried: Vec<usize> = Vec::new();
    let mut attempt: u32 = 0;
    // What a streamed body sent upstream, kept (up to the retry policy's
    // `max_replay_bytes`) so a retry can send it again.
    let mut replay = Replay {
        limit: retry
            .map_or(0, |(p, _)| p.max_replay_bytes)
            .max(mirror_streamed.map_or(0, |s| s.max_body_bytes)),
        ..Replay::default()
    };
    let (mut uc, resp, addr, finish) = loop {
        // A dynamic-routing rule names its own target; otherwise the balancer picks one,
        // avoiding targets this request already tried.
        let (target, target_idx, strip) = match &ctx.route_override {
            Some((alt, strip)) => (&program.alt_targets[*alt], None, strip.as_deref()),
            None => match shard.balancers.pick_excluding(up, &req, ctx, &tried) {
                Some(i) => (&up.targets[i], Some(i), up.strip_prefix.as_deref()),
                None => {
                    let e = ErrorKind::Rejected(sluice_policies::Reject::new(
                        503,
                        "no_healthy_upstream",
                        "No healthy upstream target is available",
                    ));
                    let program = Some(program);
                    return answer_error(conn, shard, snap, &req, ctx, program, e, !body_buffered)
                        .await;
                }
            },
        };
        let breaker_key = breaker.map(|b| b.key(&route.pattern, &target.display));
        let mut probe = None;
        if let (Some(b), Some(key)) = (breaker, &breaker_key) {
            let (admission, transition) =
                shard
                    .state
                    .breakers
                    .borrow_mut()
                    .admit(b, key, Instant::now());
            log_transition(key, transition);
            match admission {
                Admission::Allowed(p) => probe = p,
                Admission::Refused { retry_after } => {
                    // Another target may still be closed: try it before refusing.
                    if let Some(i) = target_idx {
                        if tried.len() + 1 < up.targets.len() {
                            tried.push(i);
                            continue;
                        }
                    }
                    let e = ErrorKind::Rejected(CircuitBreaker::refusal(retry_after));
                    let program = Some(program);
                    return answer_error(conn, shard, snap, &req, ctx, program, e, !body_buffered)
                        .await;
                }
            }
        }
        // A target skipped by its open breaker was not an attempt: count only real calls.
        attempt += 1;
        if let (Some((policy, _)), true) = (retry, attempt > 1) {
            policy.write_count(attempt - 1, &mut req.headers);
        }
        let mut head = BytesMut::with_capacity(512);
        encode_upstream_head(
            &req,
            route.base_path_len,
            up,
            target,
            strip,
            ctx,
            &snap.request_id_header,
            &mut head,
        );
        if let Some(body) = &buffered_body {
            head.put_slice(body);
        }
        let head = head.freeze();
        // `first_byte` bounds this attempt's wait for the response head.
        let head_deadline = timeouts
            .first_byte
            .map_or(deadline, |fb| deadline.min(shard.watchdog.now() + fb));

        if let Some(i) = target_idx {
            shard.balancers.start(up, i);
        }
        if ctx.log.is_some() {
            ctx.upstream = Some(target.display.clone());
        }
        let attempt_started = Instant::now();
        let mut fresh_only = false;
        let exchanged = loop {
            let (mut uc, addr, reused) =
                match checkout_or_connect(shard, up, target, fresh_only).await {
                    Ok(c) => c,
                    Err(e) => break Err((ExchangeFail::Fatal(e), true)),
                };
            match exchange(
                conn,
                shard,
                snap,
                &req,
                &mut uc,
                head.clone(),
                body_buffered,
                (head_deadline, deadline, timeouts.first_byte),
                &mut ctx.body_checks,
                ctx.upgrade,
                &mut replay,
            )
            .await
            {
                Ok(resp) => break Ok((uc, resp, addr)),
                Err(ExchangeFail::Stale) if reused && replayable => {
                    fresh_only = true;
                    continue;
                }
                Err(fail) => break Err((fail, false)),
            }
        };
        // What happened, in the terms retry and breaker policies judge.
        {
            use sluice_engine::metrics::UpstreamErrorKind as Kind;
            let mut m = shard.metrics.borrow_mut();
            let kind = match &exchanged {
                Ok((_, resp, _)) => {
                    m.record_upstream(&route.pattern, attempt_started.elapsed());
                    (resp.status >= 500).then_some(Kind::Status5xx)
                }
                Err((_, true)) => Some(Kind::Connect),
                Err((ExchangeFail::Fatal(ErrorKind::GatewayTimeout), _)) => Some(Kind::Timeout),
                Err((ExchangeFail::Stale, _)) => Some(Kind::Reset),
                Err((ExchangeFail::Fatal(_), _)) => Some(Kind::Protocol),
                Err((ExchangeFail::Body(_), _)) => None,
            };
            if let Some(kind) = kind {
                m.record_upstream_error(&target.display, kind);
            }
        }
        let outcome = match &exchanged {
            Ok((_, resp, _)) => AttemptOutcome::from_status(resp.status),
            Err((_, true)) => AttemptOutcome::connect_error(),
            Err((ExchangeFail::Fatal(ErrorKind::GatewayTimeout), _)) => AttemptOutcome::timeout(),
            Err((ExchangeFail::Stale | ExchangeFail::Fatal(_), _)) => AttemptOutcome::reset(),
            // The upstream failed while taking the body: a reset, for breakers and retries.
            Err((ExchangeFail::Body(BodyFail::Upstream(_)), _)) => AttemptOutcome::reset(),
            Err((ExchangeFail::Body(_), _)) => AttemptOutcome::default(),
        };
        let downstream_fault = matches!(
            exchanged,
            Err((
                ExchangeFail::Body(
                    BodyFail::Downstream
                        | BodyFail::Malformed
                        | BodyFail::TooLarge
                        | BodyFail::Rejected(_)
                ),
                _
            ))
        );
        // The balancer's in-flight count ends when the body does (a streaming response is
        // still load), so a success is finished after streaming; failures end here.
        let finish = target_idx.map(|i| {
            let ok = !downstream_fault
                && outcome.status.is_none_or(|s| !matches!(s, 502..=504))
                && !(outcome.connect_error || outcome.reset || outcome.timeout);
            (i, ok || downstream_fault)
        });
        let end_attempt = |finish: Option<(usize, bool)>| {
            if let Some((i, ok)) = finish {
                shard.balancers.finish(up, i, ok);
            }
        };
        if let (Some(b), Some(key)) = (breaker, &breaker_key) {
            let mut breakers = shard.state.breakers.borrow_mut();
            if downstream_fault {
                if let Some(p) = probe {
                    breakers.release(key, p);
                }
            } else {
                let t = breakers.record(b, key, b.outcome(&outcome), probe, Instant::now());
                log_transition(key, t);
            }
        }
        // Retry when the policy, the budget and the body allow it.
        if let Some((policy, budget_id)) = retry {
            if !downstream_fault {
                // A connect error sent nothing, so the body (read or not) is intact; otherwise
                // only a body kept in memory, within `max_replay_bytes`, can be sent again.
                let kept = buffered_body
                    .as_ref()
                    .is_some_and(|b| b.len() <= policy.max_replay_bytes);
                // A streamed body: replayable if it was kept whole (within this policy's
                // limit: a shadow may keep more), or never started.
                let kept_whole = replay.complete && replay.len <= policy.max_replay_bytes;
                let streamed =
                    !body_buffered && (kept_whole || (replay.len == 0 && !replay.overflow));
                let replayable_now = outcome.connect_error || kept || streamed;
                let delay = shard.retry_decision(
                    policy,
                    budget_id,
                    attempt,
                    &outcome,
                    &req.method,
                    replayable_now,
                );
                if let Some(delay) = delay {
                    if shard.watchdog.now() + delay < deadline {
                        end_attempt(finish);
                        if let Some(i) = target_idx {
                            tried.push(i);
                        }
                        if !delay.is_zero() {
                            monoio::time::sleep(delay).await;
                        }
                        continue;
                    }
                }
            }
        }
        match exchanged {
            Ok((uc, resp, addr)) => break (uc, resp, addr, finish),
            Err((fail, _)) => {
                end_attempt(finish);
                let (e, fatal) = match fail {
                    ExchangeFail::Fatal(e) => (e, !body_buffered),
                    ExchangeFail::Stale => (
                        ErrorKind::BadGateway("Upstream closed the connection".into()),
                        !body_buffered,
                    ),
                    ExchangeFail::Body(f) => (
                        match f {
                            BodyFail::Downstream => return false,
                            BodyFail::Malformed => {
                                ErrorKind::BadRequest("Malformed chunked request body".into())
                            }
                            BodyFail::TooLarge => ErrorKind::PayloadTooLarge,
                            BodyFail::Rejected(r) => ErrorKind::Rejected(r),
                            BodyFail::Upstream(io) => io.into(),
                        },
                        true,
                    ),
                };
                return answer_error(conn, shard, snap, &req, ctx, Some(program), e, fatal).await;
            }
        }
    };
    if let (Some(s), true) = (mirror_streamed, replay.complete) {
        if let Some(body) = replay.body(req.framing) {
            crate::side::shadow(s, &req, route.base_path_len, up, body);
        }
    }

    let mut headers = resp.headers;
    ctx.status = resp.status;
    run_response(&route.program, resp.status, &mut headers, ctx);
    crate::conn::add_debug_trace(snap, &req, ctx, &route.program, &mut headers);
    if resp.status == 101 {
        // A tunnel is not a request in flight for balancing purposes.
        if let Some((i, ok)) = finish {
            shard.balancers.finish(up, i, ok);
        }
        // The upstream accepted the WebSocket: answer 101 and hand both sockets to the tunnel.
        encode_head(
            &mut conn.wbuf,
            101,
            &headers,
            OutFraming::NoBody,
            ConnHeader::Upgrade,
            Some((&snap.request_id_header, ctx)),
        );
        conn.slot
            .arm(shard.watchdog.now() + snap.limits.idle_timeout, false);
        if write_all(&mut conn.stream, &mut conn.wbuf, &conn.slot)
            .await
            .is_ok()
        {
            let early = std::mem::take(&mut uc.rbuf);
            conn.upgraded = Some((uc.stream, early));
        }
        return false;
    }
    let client_10 = req.version == Version::Http10;
    let (framing, must_close) = match resp.framing {
        ResponseFraming::None => (OutFraming::NoBody, false),
        ResponseFraming::Length(n) => (OutFraming::Length(n), false),
        ResponseFraming::Chunked | ResponseFraming::Close if client_10 => {
            (OutFraming::UntilClose, true)
        }
        ResponseFraming::Chunked | ResponseFraming::Close => (OutFraming::Chunked, false),
    };
    let keep = req.keep_alive && !must_close && !shard.shutting_down();
    encode_head(
        &mut conn.wbuf,
        resp.status,
        &headers,
        framing,
        conn_header(&req, keep),
        Some((&snap.request_id_header, ctx)),
    );

    // A cache miss stores the response as it streams through (never re-buffered past
    // `max_object_bytes`); the writer sees the headers after the response phase.
    let mut store = ctx.cache_miss.take().and_then(|(id, token)| {
        route.program.caches[id as usize]
            .begin_store(
                token,
                resp.status,
                &headers,
                sluice_engine::context::unix_now(),
            )
            .ok()
    });
    // With a `timeout` policy's `idle`, a body lives as long as it flows (bounded only by
    // `timeout.request`); without one, the upstream `timeout` is a whole-response deadline.
    let body_deadline = match timeouts.idle {
        Some(_) => timeouts.request_deadline(started).unwrap_or(
            started + std::time::Duration::from_secs(sluice_engine::config::MAX_DURATION_SECS),
        ),
        None => deadline,
    };
    let body = stream_response(
        conn,
        shard,
        snap,
        (body_deadline, timeouts.idle),
        &mut uc,
        resp.framing,
        framing,
        &mut store,
    )
    .await;
    if let Some((i, ok)) = finish {
        // A client that leaves mid-body says nothing about the target.
        shard
            .balancers
            .finish(up, i, ok && !matches!(body, Err(RelayFail::Upstream)));
    }
    if let (Ok(()), Some(writer)) = (&body, store) {
        let _ = writer.finish(&mut shard.state.cache.borrow_mut());
    }
    match body {
        Ok(()) => {
            if resp.keep_alive && resp.framing != ResponseFraming::Close {
                shard.pool.checkin(addr, uc, shard.watchdog.now());
            }
            keep
        }
        Err(_) => false,
    }
}

async fn checkout_or_connect(
    shard: &Shard,
    up: &UrlUpstream,
    target: &UpstreamTarget,
    fresh_only: bool,
) -> Result<(UpstreamConn, SocketAddr, bool), ErrorKind> {
    if !fresh_only {
        for &addr in &target.addrs {
            if let Some(c) = shard.pool.checkout(addr) {
                return Ok((c, addr, true));
            }
        }
    }
    let mut last = ErrorKind::BadGateway("Upstream has no address".into());
    for &addr in &target.addrs {
        match monoio::time::timeout(up.connect_timeout, TcpStream::connect_addr(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((UpstreamConn::new(stream), addr, false));
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "upstream connect failed");
                last = ErrorKind::BadGateway(
                    format!("Upstream connection failed: {}", e.kind()).into(),
                );
            }
            Err(_) => {
                tracing::debug!(%addr, "upstream connect timed out");
                last = ErrorKind::BadGateway("Upstream connect timed out".into());
            }
        }
    }
    Err(last)
}

/// Sends the head (and body) and reads the final response head.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    req: &RequestHead,
    uc: &mut UpstreamConn,
    head: Bytes,
    body_buffered: bool,
    (mut deadline, overall, first_byte): (Instant, Instant, Option<std::time::Duration>),
    checks: &mut BodyChecks,
    upgrade: bool,
    replay: &mut Replay,
) -> Result<ResponseHead, ExchangeFail> {
    conn.slot.arm(deadline, false);
    if let Err(e) = write_bytes(&mut uc.stream, head, &conn.slot).await {
        return Err(match e {
            IoFail::Timeout => ExchangeFail::Fatal(ErrorKind::GatewayTimeout),
            _ => ExchangeFail::Stale,
        });
    }
    if !body_buffered && replay.complete {
        // A retry of a streamed body: send again exactly what the first attempt sent.
        for chunk in &replay.chunks {
            conn.slot.arm(deadline, false);
            write_bytes(&mut uc.stream, chunk.clone(), &conn.slot)
                .await
                .map_err(|e| ExchangeFail::Body(BodyFail::Upstream(e)))?;
        }
    } else if !body_buffered {
        if req.expect_continue && conn.rbuf.is_empty() {
            conn.wbuf.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            conn.slot
                .arm(shard.watchdog.now() + snap.limits.idle_timeout, false);
            if write_all(&mut conn.stream, &mut conn.wbuf, &conn.slot)
                .await
                .is_err()
            {
                return Err(ExchangeFail::Body(BodyFail::Downstream));
            }
        }
        send_body(conn, shard, snap, uc, req.framing, checks, replay)
            .await
            .map_err(ExchangeFail::Body)?;
        replay.complete = !replay.overflow;
        // `first_byte` counts from the last body byte sent: a slow upload is not a slow
        // upstream.
        if let Some(fb) = first_byte {
            deadline = overall.min(shard.watchdog.now() + fb);
        }
    }
    let mut got_any = false;
    loop {
        if !uc.rbuf.is_empty() {
            got_any = true;
            match parse_response_head(&mut uc.rbuf, &snap.limits.head, &req.method) {
                // 1xx interim answers (e.g. 100 Continue) are consumed here: the gateway
                // already spoke for itself to the client.
                Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => continue,
                Ok(Some(h)) if h.status == 101 && upgrade => return Ok(h),
                Ok(Some(h)) if h.status == 101 => {
                    return Err(ExchangeFail::Fatal(ErrorKind::BadGateway(
                        "Upstream switched protocols without an upgrade request".into(),
                    )))
                }
                Ok(Some(h)) => return Ok(h),
                Ok(None) => {}
                Err(e) => {
                    return Err(ExchangeFail::Fatal(ErrorKind::BadGateway(
                        format!("Invalid response from upstream: {e}").into(),
                    )))
                }
            }
        }
        conn.slot.arm(deadline, false);
        match read_some(&mut uc.stream, &mut uc.rbuf, &conn.slot).await {
            Ok(_) => {}
            Err(IoFail::Timeout) => return Err(ExchangeFail::Fatal(ErrorKind::GatewayTimeout)),
            Err(IoFail::Closed | IoFail::Io(_)) if !got_any => return Err(ExchangeFail::Stale),
            Err(e) => return Err(ExchangeFail::Fatal(e.into())),
        }
    }
}

/// Streams the request body from the client to the upstream with bounded memory.
async fn send_body(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    uc: &mut UpstreamConn,
    framing: BodyFraming,
    checks: &mut BodyChecks,
    replay: &mut Replay,
) -> Result<(), BodyFail> {
    let stall = snap.limits.idle_timeout;
    match framing {
        BodyFraming::None => Ok(()),
        BodyFraming::Length(n) => {
            let mut left = n;
            loop {
                let take = (conn.rbuf.len() as u64).min(left) as usize;
                if take > 0 {
                    let chunk = conn.rbuf.split_to(take).freeze();
                    left -= take as u64;
                    if !checks.is_empty() {
                        checks.feed(&chunk).map_err(BodyFail::Rejected)?;
                        // Decide before the last bytes leave, so a refused body never
                        // reaches the upstream whole.
                        if left == 0 {
                            checks.finish().map_err(BodyFail::Rejected)?;
                        }
                    }
                    conn.slot.arm(shard.watchdog.now() + stall, false);
                    replay.keep(&chunk);
                    write_bytes(&mut uc.stream, chunk, &conn.slot)
                        .await
                        .map_err(BodyFail::Upstream)?;
                }
                if left == 0 {
                    return Ok(());
                }
                conn.slot.arm(shard.watchdog.now() + stall, false);
                read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                    .await
                    .map_err(|_| BodyFail::Downstream)?;
            }
        }
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut out = BytesMut::with_capacity(crate::io::READ_CHUNK + 32);
            let mut total: u64 = 0;
            loop {
                let mut done = false;
                loop {
                    match dec.decode(&mut conn.rbuf) {
                        Ok(Some(ChunkedEvent::Data(d))) => {
                            total += d.len() as u64;
                            if total > snap.limits.max_body_bytes {
                                return Err(BodyFail::TooLarge);
                            }
                            checks.feed(&d).map_err(BodyFail::Rejected)?;
                            encode_chunk(&d, &mut out);
                        }
                        Ok(Some(ChunkedEvent::End)) => {
                            checks.finish().map_err(BodyFail::Rejected)?;
                            encode_last_chunk(&mut out);
                            done = true;
                            break;
                        }
                        Ok(None) => break,
                        Err(_) => return Err(BodyFail::Malformed),
                    }
                }
                if !out.is_empty() {
                    conn.slot.arm(shard.watchdog.now() + stall, false);
                    let sent = out.split().freeze();
                    replay.keep(&sent);
                    write_bytes(&mut uc.stream, sent, &conn.slot)
                        .await
                        .map_err(BodyFail::Upstream)?;
                }
                if done {
                    return Ok(());
                }
                conn.slot.arm(shard.watchdog.now() + stall, false);
                read_some(&mut conn.stream, &mut conn.rbuf, &conn.slot)
                    .await
                    .map_err(|_| BodyFail::Downstream)?;
            }
        }
    }
}

/// Streams the response body to the client (the head is already in `conn.wbuf`).
/// Each upstream read is flushed at once, so event streams are never held back.
/// The upstream `timeout` is a whole-response deadline: a body still arriving when it
/// passes is cut off (the head is already sent, so the connection is closed).
#[allow(clippy::too_many_arguments)] // one streaming step, each argument a distinct piece of it
async fn stream_response(
    conn: &mut Downstream,
    shard: &Shard,
    snap: &Snapshot,
    (deadline, idle): (Instant, Option<std::time::Duration>),
    uc: &mut UpstreamConn,
    from: ResponseFraming,
    to: OutFraming,
    store: &mut Option<StoreWriter>,
) -> Result<(), RelayFail> {
    let client_stall = snap.limits.idle_timeout;
    match from {
        ResponseFraming::None => flush(conn, shard, client_stall).await,
        ResponseFraming::Length(n) => {
            let mut left = n;
            let take = (uc.rbuf.len() as u64).min(left) as usize;
            if take <= SMALL_BODY {
                let first = uc.rbuf.split_to(take);
                keep_copy(store, &first);
                conn.wbuf.put_slice(&first);
                left -= take as u64;
            }
            flush(conn, shard, client_stall).await?;
            loop {
                let take = (uc.rbuf.len() as u64).min(left) as usize;
                if take > 0 {
                    let chunk = uc.rbuf.split_to(take).freeze();
                    keep_copy(store, &chunk);
                    left -= take as u64;
                    conn.slot.arm(shard.watchdog.now() + client_stall, false);
                    write_bytes(&mut conn.stream, chunk, &conn.slot)
                        .await
                        .map_err(|_| RelayFail::Downstream)?;
                }
                if left == 0 {
                    return Ok(());
                }
                read_upstream(conn, shard, uc, (deadline, idle)).await?;
            }
        }
        ResponseFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            loop {
                let mut done = false;
                loop {
                    match dec.decode(&mut uc.rbuf) {
                        Ok(Some(ChunkedEvent::Data(d))) => {
                            keep_copy(store, &d);
                            put_body(&mut conn.wbuf, &d, to)
                        }
                        Ok(Some(ChunkedEvent::End)) => {
                            if to == OutFraming::Chunked {
                                encode_last_chunk(&mut conn.wbuf);
                            }
                            done = true;
                            break;
                        }
                        Ok(None) => break,
                        Err(_) => return Err(RelayFail::Upstream),
                    }
                }
                flush(conn, shard, client_stall).await?;
                if done {
                    return Ok(());
                }
                read_upstream(conn, shard, uc, (deadline, idle)).await?;
            }
        }
        ResponseFraming::Close => loop {
            if !uc.rbuf.is_empty() {
                let data = uc.rbuf.split();
                keep_copy(store, &data);
                put_body(&mut conn.wbuf, &data, to);
            }
            flush(conn, shard, client_stall).await?;
            conn.slot.arm(
                idle.map_or(deadline, |d| deadline.min(shard.watchdog.now() + d)),
                false,
            );
            match read_some(&mut uc.stream, &mut uc.rbuf, &conn.slot).await {
                Ok(_) => {}
                Err(IoFail::Closed) => {
                    if to == OutFraming::Chunked {
                        encode_last_chunk(&mut conn.wbuf);
                    }
                    return flush(conn, shard, client_stall).await;
                }
                Err(_) => return Err(RelayFail::Upstream),
            }
        },
    }
}

/// Writes what `conn.wbuf` holds to the client, which may stall at most `stall`.
async fn flush(
    conn: &mut Downstream,
    shard: &Shard,
    stall: std::time::Duration,
) -> Result<(), RelayFail> {
    conn.slot.arm(shard.watchdog.now() + stall, false);
    write_all(&mut conn.stream, &mut conn.wbuf, &conn.slot)
        .await
        .map_err(|_| RelayFail::Downstream)
}

/// Reads more of the upstream's body into `uc.rbuf`, within the body's `deadline` and, with
/// an `idle` limit, no longer than that since the last bytes.
async fn read_upstream(
    conn: &Downstream,
    shard: &Shard,
    uc: &mut UpstreamConn,
    (deadline, idle): (Instant, Option<std::time::Duration>),
) -> Result<(), RelayFail> {
    conn.slot.arm(
        idle.map_or(deadline, |d| deadline.min(shard.watchdog.now() + d)),
        false,
    );
    read_some(&mut uc.stream, &mut uc.rbuf, &conn.slot)
        .await
        .map(drop)
        .map_err(|_| RelayFail::Upstream)
}

fn put_body(dst: &mut BytesMut, data: &[u8], to: OutFraming) {
    if to == OutFraming::Chunked {
        encode_chunk(data, dst);
    } else {
        dst.put_slice(data);
    }
}

/// Feeds body bytes to the cache writer; drops the writer (waiters then fetch for
/// themselves) once the object outgrows `max_object_bytes`.
fn keep_copy(store: &mut Option<StoreWriter>, data: &[u8]) {
    if let Some(w) = store {
        if !w.push(data) {
            *store = None;
        }
    }
}

fn log_transition(key: &str, t: Option<Transition>) {
    if let Some(t) = t {
        tracing::warn!(breaker = key, from = %t.from, to = %t.to, "circuit breaker changed state");
    }
}

/// A streamed request body as sent upstream, kept for a retry while within `limit`.
#[derive(Default)]
struct Replay {
    chunks: Vec<Bytes>,
    len: usize,
    limit: usize,
    /// The body went past `limit`: it cannot be sent again.
    overflow: bool,
    /// The whole body was sent and kept.
    complete: bool,
}

impl Replay {
    /// The request body as the client meant it, from the bytes kept: a chunked body is
    /// kept as sent (re-encoded chunks, so a retry can send it again) and decoded here.
    /// `None` when the kept bytes do not decode (never for bytes this gateway encoded).
    fn body(&self, framing: BodyFraming) -> Option<Bytes> {
        let mut sent = BytesMut::with_capacity(self.len);
        for chunk in &self.chunks {
            sent.extend_from_slice(chunk);
        }
        if framing != BodyFraming::Chunked {
            return Some(sent.freeze());
        }
        let mut dec = ChunkedDecoder::new();
        let mut body = BytesMut::with_capacity(self.len);
        loop {
            match dec.decode(&mut sent) {
                Ok(Some(ChunkedEvent::Data(d))) => body.extend_from_slice(&d),
                Ok(Some(ChunkedEvent::End)) => return Some(body.freeze()),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Keeps a handle to bytes just sent (no copy) unless the limit is passed.
    fn keep(&mut self, sent: &Bytes) {
        if self.overflow {
            return;
        }
        self.len += sent.len();
        if self.len > self.limit {
            self.overflow = true;
            self.chunks = Vec::new();
        } else {
            self.chunks.push(sent.clone());
        }
    }
}
