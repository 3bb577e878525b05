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
use sluice_codec::{
    parse_request_head, BodyFraming, ChunkedDecoder, ChunkedEvent, HeadLimits, Method,
};

use crate::mesh::BucketOp;

mod control;
mod history;
mod introspect;
mod live;
mod logs;
mod ui;

use crate::reload::Reloader;
use crate::shard::Shard;
use introspect::{policies_json, route_json};
use live::{buckets, removed, sse, stats};

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// How long a read of an admin request may wait.
const ADMIN_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin endpoints need besides the shard.
pub struct Admin {
    pub reloader: Arc<Reloader>,
    /// `None` or empty: every `/admin/*` endpoint answers 503.
    pub token: Option<String>,
    /// Serve `/metrics` and `/health` without the token.
    pub metrics_public: bool,
    pub started: Instant,
    pub shards: usize,
    /// The metrics history, oldest first (loaded from the store at start).
    pub history: std::cell::RefCell<std::collections::VecDeque<crate::store::Sample>>,
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
    monoio::spawn(history::sampler(admin.clone(), shard.clone()));
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
    body: Bytes,
}

async fn connection(mut stream: TcpStream, admin: Rc<Admin>, shard: Rc<Shard>) {
    let req = match read_request(&mut stream).await {
        Ok(req) => req,
        Err(ReadFail::Gone) => return,
        Err(ReadFail::Answer((status, body))) => {
            return write_answer(&mut stream, status, b"application/json", body).await
        }
    };
    if req.method == Method::Get && req.path == "/admin/sse" && authorized(&req, &admin).is_ok() {
        return sse(stream, &shard, &admin).await;
    }
    // The dashboard's page holds no data and no secret; the token is entered in it and
    // every figure it shows comes from token-checked endpoints.
    if req.method == Method::Get && matches!(req.path.as_str(), "/admin/ui" | "/admin/ui/") {
        let _ = stream.write_all(ui::response()).await;
        return;
    }
    let (status, body) = route(&req, &admin, &shard).await;
    let metrics_path = req.path == "/metrics" || req.path == "/admin/metrics";
    let content_type: &[u8] = if metrics_path && status == 200 {
        b"text/plain; version=0.0.4"
    } else {
        b"application/json"
    };
    write_answer(&mut stream, status, content_type, body).await;
}

/// Writes a whole answer and lets the connection close (one request per connection).
async fn write_answer(stream: &mut TcpStream, status: u16, content_type: &[u8], body: Bytes) {
    let mut out = BytesMut::with_capacity(body.len() + 160);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(sluice_codec::canonical_reason(status).as_bytes());
    if status == 204 {
        // No content: no type and no length either (RFC 9110 section 8.6).
        out.extend_from_slice(b"\r\ncache-control: no-store\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(out).await;
        return;
    }
    out.extend_from_slice(b"\r\ncontent-type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    let _ = stream.write_all(out).await;
}

/// Why no request came out of a connection.
enum ReadFail {
    /// The client went away, stalled or sent no valid head: close without answering.
    Gone,
    /// A request that gets this answer without reaching an endpoint (413).
    Answer((u16, Bytes)),
}

/// Reads more bytes into `buf`; `None` when the peer closed, failed or stalled.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<()> {
    use monoio::buf::IoBufMut;
    use monoio::io::AsyncReadRent;
    buf.reserve(8192);
    let (len, cap) = (buf.len(), buf.capacity());
    let taken = std::mem::take(buf);
    let read =
        monoio::time::timeout(ADMIN_READ_TIMEOUT, stream.read(taken.slice_mut(len..cap))).await;
    let (res, slice) = read.ok()?;
    *buf = slice.into_inner();
    (res.ok()? > 0).then_some(())
}

async fn read_request(stream: &mut TcpStream) -> Result<AdminRequest, ReadFail> {
    let mut buf = BytesMut::with_capacity(8192);
    let head = loop {
        match parse_request_head(&mut buf, &HeadLimits::default()) {
            Ok(Some(h)) => break h,
            Ok(None) if buf.len() <= 64 * 1024 => {}
            _ => return Err(ReadFail::Gone),
        }
        read_more(stream, &mut buf).await.ok_or(ReadFail::Gone)?;
    };
    let too_large = || {
        ReadFail::Answer(error(
            413,
            "payload_too_large",
            &format!("Admin request bodies are limited to {MAX_ADMIN_BODY} bytes"),
        ))
    };
    if head.expect_continue && head.framing != BodyFraming::None && buf.is_empty() {
        if matches!(head.framing, BodyFraming::Length(n) if n as usize > MAX_ADMIN_BODY) {
            return Err(too_large());
        }
        let (res, _) = stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec())
            .await;
        res.map_err(|_| ReadFail::Gone)?;
    }
    let body = match head.framing {
        BodyFraming::None => Bytes::new(),
        BodyFraming::Length(n) if n as usize > MAX_ADMIN_BODY => return Err(too_large()),
        BodyFraming::Length(n) => {
            while buf.len() < n as usize {
                read_more(stream, &mut buf).await.ok_or(ReadFail::Gone)?;
            }
            buf.split_to(n as usize).freeze()
        }
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut body = BytesMut::new();
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(ChunkedEvent::Data(d))) => {
                        if body.len() + d.len() > MAX_ADMIN_BODY {
                            return Err(too_large());
                        }
                        body.extend_from_slice(&d);
                    }
                    Ok(Some(ChunkedEvent::End)) => break body.freeze(),
                    Ok(None) => read_more(stream, &mut buf).await.ok_or(ReadFail::Gone)?,
                    Err(_) => return Err(ReadFail::Gone),
                }
            }
        }
    };
    Ok(AdminRequest {
        method: head.method.clone(),
        path: String::from_utf8_lossy(&head.path).into_owned(),
        query: head
            .query
            .as_ref()
            .map(|q| String::from_utf8_lossy(q).into_owned())
            .unwrap_or_default(),
        authorization: head.headers.get("authorization").cloned(),
        body,
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
        (Method::Get, "/admin/policies")
            if query_pairs(&req.query).any(|(k, v)| k == "source" && v == "admin") =>
        {
            control::list_policies(admin, &req.query)
        }
        (Method::Get, "/admin/policies") => ok(policies_json(&snap, &admin.reloader.control())),
        (Method::Get, "/admin/state") => control::get_state(admin),
        (Method::Put, "/admin/state") => control::put_state(&req.body, admin).await,
        (_, p) if control::handles(p) => control::route(req, admin).await,
        (Method::Get, "/admin/metrics/history") => ok(history::list(admin, &req.query)),
        (Method::Delete, "/admin/metrics/history") => history::clear(admin).await,
        (Method::Get, "/admin/config") => ok(crate::redact::redacted(&snap.source)),
        (Method::Post, "/admin/reload") => {
            let reloader = admin.reloader.clone();
            match blocking(move || reloader.reload()).await {
                Some(Ok(generation)) => ok(json!({"status": "ok", "generation": generation})),
                Some(Err(errors)) => invalid(errors),
                None => error(500, "internal", "the reload thread ended without an answer"),
            }
        }
        (Method::Get, "/admin/logs") => ok(logs::logs(shard, &req.query)),
        (Method::Delete, "/admin/logs") => {
            let cleared = shard.logs.ring.lock().map(|mut r| {
                let n = r.len();
                r.clear();
                n
            });
            ok(json!({"cleared": cleared.unwrap_or(0)}))
        }
        (Method::Get, "/admin/logs/stats") => ok(logs::log_stats(shard)),
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

/// Runs `work` (compiling, writing to disk) on a thread of its own and waits for it
/// without blocking this shard. `None` when the thread died without an answer.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(crossbeam_channel::TryRecvError::Empty) => {
                monoio::time::sleep(Duration::from_millis(2)).await
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
        }
    }
}

/// 400 `{"status": "error", "errors": [...]}`: a refused reload or admin write.
fn invalid(errors: Vec<String>) -> (u16, Bytes) {
    (
        400,
        Bytes::from(json!({"status": "error", "errors": errors}).to_string()),
    )
}

pub(super) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
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
