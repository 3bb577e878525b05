//! The admin listener, served by shard 0: introspection, reload and metrics.
//!
//! Every `/admin/*` endpoint needs `Authorization: Bearer <token>` (compared in constant
//! time); with no token configured they answer 503, so the admin API is never open by
//! accident. Figures that live on other shards are gathered by messages, never by locks.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};
use serde_json::{json, Value};
use sluice_codec::{parse_request_head, BodyFraming, HeadLimits, Method};
use sluice_engine::Upstream;

use crate::mesh::{BucketAnswer, BucketOp};
use crate::server::Reloader;
use crate::shard::Shard;

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// What the admin endpoints need besides the shard.
pub struct Admin {
    pub reloader: Arc<Reloader>,
    /// `None` or empty: every `/admin/*` endpoint answers 503.
    pub token: Option<String>,
    /// Serve `/metrics` and `/health` without the token.
    pub metrics_public: bool,
    pub started: Instant,
    pub shards: usize,
}

/// Accepts admin connections until shutdown.
pub async fn serve(listener: std::net::TcpListener, admin: Rc<Admin>, shard: Rc<Shard>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the admin listener");
            return;
        }
    };
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = shard.shutdown_signal() => return,
        };
        if let Ok((stream, _)) = accepted {
            monoio::spawn(connection(stream, admin.clone(), shard.clone()));
        }
    }
}

struct AdminRequest {
    method: Method,
    path: String,
    query: String,
    authorization: Option<Bytes>,
}

async fn connection(mut stream: TcpStream, admin: Rc<Admin>, shard: Rc<Shard>) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    if req.method == Method::Get && req.path == "/admin/sse" && authorized(&req, &admin).is_ok() {
        return sse(stream, &shard).await;
    }
    let (status, body) = route(&req, &admin, &shard).await;
    let mut out = BytesMut::with_capacity(body.len() + 160);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(sluice_codec::canonical_reason(status).as_bytes());
    let metrics_path = req.path == "/metrics" || req.path == "/admin/metrics";
    let content_type: &[u8] = if metrics_path && status == 200 {
        b"text/plain; version=0.0.4"
    } else {
        b"application/json"
    };
    out.extend_from_slice(b"\r\ncontent-type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    let _ = stream.write_all(out).await;
}

async fn read_request(stream: &mut TcpStream) -> Option<AdminRequest> {
    use monoio::buf::IoBufMut;
    use monoio::io::AsyncReadRent;
    let mut buf = BytesMut::with_capacity(8192);
    let deadline = Duration::from_secs(10);
    let head = loop {
        if let Ok(Some(h)) = parse_request_head(&mut buf, &HeadLimits::default()) {
            break h;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        buf.reserve(8192);
        let (len, cap) = (buf.len(), buf.capacity());
        let read = monoio::time::timeout(deadline, stream.read(buf.slice_mut(len..cap))).await;
        let (res, slice) = read.ok()?;
        buf = slice.into_inner();
        if res.ok()? == 0 {
            return None;
        }
    };
    // The body is read (so the connection stays well-framed) but no endpoint takes one yet.
    match head.framing {
        BodyFraming::Length(n) if n as usize <= MAX_ADMIN_BODY => {
            while buf.len() < n as usize {
                buf.reserve(8192);
                let (len, cap) = (buf.len(), buf.capacity());
                let read =
                    monoio::time::timeout(deadline, stream.read(buf.slice_mut(len..cap))).await;
                let (res, slice) = read.ok()?;
                buf = slice.into_inner();
                if res.ok()? == 0 {
                    return None;
                }
            }
            let _ = buf.split_to(n as usize);
        }
        BodyFraming::None => {}
        _ => return None,
    }
    Some(AdminRequest {
        method: head.method.clone(),
        path: String::from_utf8_lossy(&head.path).into_owned(),
        query: head
            .query
            .as_ref()
            .map(|q| String::from_utf8_lossy(q).into_owned())
            .unwrap_or_default(),
        authorization: head.headers.get("authorization").cloned(),
    })
}

fn error(status: u16, code: &str, message: &str) -> (u16, Bytes) {
    let body = json!({"error": code, "message": message, "statusCode": status});
    (status, Bytes::from(body.to_string()))
}

fn ok(value: Value) -> (u16, Bytes) {
    (200, Bytes::from(value.to_string()))
}

/// Constant-time token check (both lengths are compared only after the whole loop).
fn token_matches(expected: &str, header: Option<&Bytes>) -> bool {
    let Some(value) = header else { return false };
    // The scheme name is case-insensitive (RFC 9110 section 11.1).
    if value.len() < 7 || !value[..7].eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    let given = &value[7..];
    let e = expected.as_bytes();
    let mut diff = (e.len() != given.len()) as u8;
    for i in 0..e.len().max(given.len()) {
        diff |= e.get(i).copied().unwrap_or(0) ^ given.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

/// The token rules: `Err` carries the refusal to send.
fn authorized(req: &AdminRequest, admin: &Admin) -> Result<(), (u16, Bytes)> {
    let public = admin.metrics_public && matches!(req.path.as_str(), "/metrics" | "/health");
    if public {
        return Ok(());
    }
    match admin.token.as_deref().filter(|t| !t.is_empty()) {
        None => Err(error(503, "admin_disabled", "No admin token is configured")),
        Some(t) if !token_matches(t, req.authorization.as_ref()) => {
            Err(error(401, "unauthorized", "Missing or invalid admin token"))
        }
        Some(_) => Ok(()),
    }
}

async fn route(req: &AdminRequest, admin: &Admin, shard: &Shard) -> (u16, Bytes) {
    if let Err(refusal) = authorized(req, admin) {
        return refusal;
    }
    let snap = shard.snapshot();
    match (&req.method, req.path.as_str()) {
        (Method::Get, "/admin/health" | "/health") => ok(json!({
            "status": "ok",
            "name": snap.name,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": admin.started.elapsed().as_secs(),
            "shards": admin.shards,
            "driver": shard.driver(),
            "routes": snap.routes.len(),
            "policies": snap.routes.iter().map(|r| r.program.len()).sum::<usize>(),
        })),
        (Method::Get, "/admin/routes") => {
            ok(Value::Array(snap.routes.iter().map(route_json).collect()))
        }
        (Method::Get, "/admin/policies") => ok(policies_json(&snap)),
        (Method::Get, "/admin/config") => ok(crate::redact::redacted(&snap.source)),
        (Method::Post, "/admin/reload") => reload(admin).await,
        (Method::Get, "/admin/logs") => ok(logs(shard, &req.query)),
        (Method::Delete, "/admin/logs") => {
            let cleared = shard.logs.ring.lock().map(|mut r| {
                let n = r.len();
                r.clear();
                n
            });
            ok(json!({"cleared": cleared.unwrap_or(0)}))
        }
        (Method::Get, "/admin/logs/stats") => ok(log_stats(shard)),
        (Method::Get, "/admin/stats") => ok(stats(shard).await),
        (Method::Get, "/admin/rate-limit/buckets") => ok(buckets(shard, &req.query).await),
        (Method::Post, "/admin/rate-limit/clear") => {
            let cleared: usize = removed(shard.mesh.on_buckets(BucketOp::Clear).await);
            ok(json!({"cleared": cleared}))
        }
        (Method::Delete, p) if p.starts_with("/admin/rate-limit/buckets/") => {
            let key = percent_decode(&p["/admin/rate-limit/buckets/".len()..]);
            match removed(shard.mesh.on_buckets(BucketOp::Remove(key.clone())).await) {
                0 => error(404, "not_found", "No such bucket"),
                n => ok(json!({"key": key, "deleted": n})),
            }
        }
        (Method::Get, "/admin/metrics" | "/metrics") => (
            200,
            Bytes::from(crate::stats::prometheus(shard, admin).await),
        ),
        _ => error(404, "not_found", "No such admin endpoint"),
    }
}

fn route_json(r: &sluice_engine::Route) -> Value {
    let program: Vec<Value> = r
        .program
        .ops
        .iter()
        .map(|e| json!({"op": e.op.type_name(), "name": e.name, "priority": e.priority}))
        .collect();
    let upstream = match &r.upstream {
        Upstream::Url(u) => {
            json!({"type": "url", "targets": u.targets.iter().map(|t| t.display.clone()).collect::<Vec<_>>()})
        }
        Upstream::Static(s) => json!({"type": "static", "status": s.status}),
        Upstream::Health(h) => {
            json!({"type": "health", "probes": h.probes.iter().map(|p| p.0.clone()).collect::<Vec<_>>()})
        }
    };
    json!({
        "path": r.pattern,
        "methods": r.methods.as_ref().map(|m| m.iter().map(|x| x.as_str().to_string()).collect::<Vec<_>>()),
        "program": program,
        "upstream": upstream,
    })
}

fn policies_json(snap: &sluice_engine::Snapshot) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for r in &snap.routes {
        for e in &r.program.ops {
            out.push(json!({"route": r.pattern, "name": e.name, "type": e.op.type_name(), "priority": e.priority}));
        }
    }
    Value::Array(out)
}

/// Runs the reload on its own thread (reading and compiling a file must not stall this
/// shard's requests) and waits for it without blocking the shard.
async fn reload(admin: &Admin) -> (u16, Bytes) {
    let reloader = admin.reloader.clone();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(reloader.reload());
    });
    loop {
        match rx.try_recv() {
            Ok(Ok(generation)) => return ok(json!({"status": "ok", "generation": generation})),
            Ok(Err(errors)) => {
                return (
                    400,
                    Bytes::from(json!({"status": "error", "errors": errors}).to_string()),
                )
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {
                monoio::time::sleep(Duration::from_millis(5)).await
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return error(500, "internal", "the reload thread ended without an answer")
            }
        }
    }
}

fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes stay as written.
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&sluice_policies::urlencoded::percent_decode(
        s.as_bytes(),
        true,
    ))
    .into_owned()
}

/// `GET /admin/logs?limit&ip&status=4xx|404&rate_limited=true&route`: newest first.
fn logs(shard: &Shard, query: &str) -> Value {
    let mut limit = 100usize;
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "limit" => limit = v.parse().unwrap_or(100).min(10_000),
            "ip" | "status" | "rate_limited" | "route" => filters.push((k, v)),
            _ => {}
        }
    }
    let ring = match shard.logs.ring.lock() {
        Ok(r) => r,
        Err(_) => return Value::Array(Vec::new()),
    };
    let matches = |e: &Value| {
        filters.iter().all(|(k, v)| match k.as_str() {
            "ip" => e["client_ip"] == v.as_str(),
            "route" => e["route"] == v.as_str(),
            "rate_limited" => e["rate_limited"] == (v == "true"),
            "status" => {
                let s = e["status"].as_u64().unwrap_or(0);
                match v.strip_suffix("xx").and_then(|c| c.parse::<u64>().ok()) {
                    Some(class) => s / 100 == class,
                    None => v.parse::<u64>().map(|x| x == s).unwrap_or(false),
                }
            }
            _ => true,
        })
    };
    Value::Array(
        ring.iter()
            .rev()
            .filter(|e| matches(e))
            .take(limit)
            .cloned()
            .collect(),
    )
}

/// `GET /admin/logs/stats`: totals over the ring buffer.
fn log_stats(shard: &Shard) -> Value {
    let Ok(ring) = shard.logs.ring.lock() else {
        return Value::Null;
    };
    let mut by_status: std::collections::BTreeMap<String, u64> = Default::default();
    let mut durations: Vec<f64> = Vec::with_capacity(ring.len());
    let mut rate_limited = 0u64;
    for e in ring.iter() {
        *by_status.entry(e["status"].to_string()).or_default() += 1;
        durations.push(e["duration_ms"].as_f64().unwrap_or(0.0));
        if e["rate_limited"] == true {
            rate_limited += 1;
        }
    }
    durations.sort_by(|a, b| a.total_cmp(b));
    let avg = if durations.is_empty() {
        0.0
    } else {
        durations.iter().sum::<f64>() / durations.len() as f64
    };
    let p99 = durations
        .get((durations.len() as f64 * 0.99).ceil() as usize - usize::from(!durations.is_empty()))
        .copied()
        .unwrap_or(0.0);
    json!({
        "total": ring.len(),
        "rate_limited": rate_limited,
        "by_status": by_status,
        "avg_duration_ms": avg,
        "p99_duration_ms": p99,
    })
}

fn removed(answers: Vec<BucketAnswer>) -> usize {
    answers
        .into_iter()
        .map(|a| match a {
            BucketAnswer::Removed(n) => n,
            BucketAnswer::List(_) => 0,
        })
        .sum()
}

/// `GET /admin/rate-limit/buckets?limit&sort=tokens|last_activity`: owned buckets of every
/// shard (fewest tokens first, or most recently active first, the default).
async fn buckets(shard: &Shard, query: &str) -> Value {
    let mut limit = 100usize;
    let mut by_tokens = false;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "limit" => limit = v.parse().unwrap_or(100).min(100_000),
            "sort" => by_tokens = v == "tokens",
            _ => {}
        }
    }
    let mut all: Vec<(usize, String, u64, u64)> = Vec::new();
    let answers = shard.mesh.on_buckets(BucketOp::List).await;
    for (shard_id, answer) in answers.into_iter().enumerate() {
        if let BucketAnswer::List(list) = answer {
            all.extend(list.into_iter().map(|(k, t, idle)| (shard_id, k, t, idle)));
        }
    }
    if by_tokens {
        all.sort_by_key(|b| b.2);
    } else {
        all.sort_by_key(|b| b.3);
    }
    Value::Array(
        all.into_iter()
            .take(limit)
            .map(|(s, key, tokens, idle)| {
                json!({"key": key, "tokens": tokens, "idle_seconds": idle, "shard": s})
            })
            .collect(),
    )
}

/// `GET /admin/stats`: one snapshot of the whole gateway. `blocked` counts requests answered
/// with a 4xx (refused by the gateway or a policy); `allowed` the rest.
async fn stats(shard: &Shard) -> Value {
    let gathered = shard.mesh.gather_metrics().await;
    let active_buckets: usize = gathered.iter().map(|(_, b)| b).sum();
    let merged =
        sluice_engine::metrics::MetricsSnapshot::merge_all(gathered.into_iter().map(|(m, _)| m));
    let total = merged.requests_total();
    let blocked: u64 = merged
        .requests_by_status()
        .iter()
        .filter(|(s, _)| (400..500).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let recent: Vec<Value> = shard
        .logs
        .ring
        .lock()
        .map(|r| r.iter().rev().take(10).cloned().collect())
        .unwrap_or_default();
    json!({
        "requests": total,
        "allowed": total - blocked,
        "blocked": blocked,
        "rate_limited": merged.rate_limited(None),
        "active_buckets": active_buckets,
        "connections": merged.connections_total(),
        "p99_ms": merged.p99_ms(None),
        "routes": merged.requests_by_route(),
        "recent_logs": recent,
    })
}

/// `GET /admin/sse`: a stats snapshot every second as Server-Sent Events, until the client
/// goes away or the gateway shuts down. Each client has its own task, so it delays nothing.
async fn sse(mut stream: TcpStream, shard: &Shard) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\nconnection: close\r\n\r\n";
    let (res, _) = stream.write_all(head.as_bytes().to_vec()).await;
    if res.is_err() {
        return;
    }
    while !shard.shutting_down() {
        let event = format!("event: stats\ndata: {}\n\n", stats(shard).await);
        let (res, _) = stream.write_all(event.into_bytes()).await;
        if res.is_err() {
            return;
        }
        monoio::time::sleep(Duration::from_secs(1)).await;
    }
}
