//! Side calls ops ask for (JWKS documents), single-flight per shard: concurrent requests
//! that need the same document wait for one fetch instead of starting their own.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use sluice_codec::Method;
use sluice_engine::{FetchTarget, Snapshot};
use sluice_policies::jwt::KeySet;
use sluice_policies::oauth2::{introspection_body, IntrospectionAnswer};
use sluice_policies::rate_limit::{Grant, LimitSpec};

use bytes::Bytes;

use crate::client::{call, SideRequest, SideResponse};
use crate::shard::Shard;

/// Fetches in flight on one shard, by URL.
#[derive(Default)]
pub struct InFlight {
    by_url: RefCell<HashMap<String, Rc<Waiters>>>,
}

#[derive(Default)]
struct Waiters {
    done: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Waiters {
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                self.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn finish(&self) {
        self.done.set(true);
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

impl InFlight {
    /// Single flight per `key`: when a call for `key` is already running, waits for it and
    /// answers `None`; otherwise answers the [`Flight`] this caller now leads.
    async fn lead_or_wait(&self, key: &str) -> Option<Flight<'_>> {
        let running = self.by_url.borrow().get(key).cloned();
        if let Some(w) = running {
            w.wait().await;
            return None;
        }
        let waiters = Rc::new(Waiters::default());
        self.by_url
            .borrow_mut()
            .insert(key.to_owned(), waiters.clone());
        Some(Flight {
            set: self,
            key: key.to_owned(),
            waiters,
        })
    }
}

/// A call that others with the same key wait for. Dropping it (when the call ends, or its
/// task is cancelled) wakes them.
struct Flight<'a> {
    set: &'a InFlight,
    key: String,
    waiters: Rc<Waiters>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.set.by_url.borrow_mut().remove(&self.key);
        self.waiters.finish();
    }
}

/// Makes sure the shard's JWT state has tried to load `url` (or waits for the fetch already
/// running). Failures are logged; the op then decides (stale keys or 502 `jwks_error`).
pub async fn fetch_jwks(shard: &Shard, snap: &Snapshot, url: &str) {
    let Some(_flight) = shard.in_flight.lead_or_wait(url).await else {
        return;
    };
    let Some(target) = snap.jwks.get(url) else {
        tracing::error!(url, "jwt-auth asked for a JWKS the snapshot does not know");
        return;
    };
    shard
        .state
        .jwt
        .borrow_mut()
        .jwks_fetch_started(url, Instant::now());
    match load(target).await {
        Ok(keys) => {
            tracing::info!(
                shard = shard.id,
                url,
                keys = keys.entries().len(),
                "JWKS loaded"
            );
            shard
                .state
                .jwt
                .borrow_mut()
                .jwks_loaded(url, keys, Instant::now());
        }
        Err(e) => {
            tracing::warn!(shard = shard.id, url, error = %e, "JWKS fetch failed; keeping the last good keys")
        }
    }
}

async fn load(target: &FetchTarget) -> Result<KeySet, String> {
    let resp = call_target(
        target,
        Method::Get,
        side_headers(target, None),
        Bytes::new(),
    )
    .await?;
    if resp.status != 200 {
        return Err(format!("status {}", resp.status));
    }
    KeySet::from_jwks_json(&resp.body).map_err(|e| format!("invalid JWKS: {e}"))
}

/// One side call to `target`: its addresses in order until one answers; `Err` says why none
/// did (for logs).
async fn call_target(
    target: &FetchTarget,
    method: Method,
    headers: Vec<(String, String)>,
    body: Bytes,
) -> Result<SideResponse, String> {
    let mut last = String::from("no address");
    for &addr in &target.addrs {
        let req = SideRequest {
            addr,
            authority: target.authority.clone(),
            target: target.path.clone(),
            method: method.clone(),
            headers: headers.clone(),
            body: body.clone(),
            timeout: target.timeout,
        };
        match call(&req).await {
            Ok(resp) => return Ok(resp),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Introspects `token` at the endpoint known as `key` (RFC 7662): a form POST with the
/// gateway's client credentials. The answer goes back to the op, which judges it.
pub async fn introspect(snap: &Snapshot, key: &str, token: &str) -> IntrospectionAnswer {
    let Some(target) = snap.side_targets.get(key) else {
        return Err("no such introspection endpoint".into());
    };
    let headers = side_headers(target, Some("application/x-www-form-urlencoded"));
    let answer = call_target(target, Method::Post, headers, introspection_body(token)).await;
    let last = match answer {
        Ok(resp) => return Ok((resp.status, resp.body)),
        Err(e) => e,
    };
    tracing::warn!(endpoint = key, error = %last, "token introspection failed");
    // The details (addresses, OS errors) go to the log, not to the client.
    Err("the introspection endpoint did not answer".into())
}

fn side_headers(target: &FetchTarget, content_type: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![("accept".to_string(), "application/json".to_string())];
    if let Some(ct) = content_type {
        h.push(("content-type".into(), ct.into()));
    }
    if let Some(auth) = &target.authorization {
        h.push(("authorization".into(), auth.clone()));
    }
    h
}

/// Gets a lease on rate-limit `key` from its owner shard and installs it; concurrent
/// requests for the same key on this shard share one request. Without an answer in time the
/// request is let through (one token installed locally) and the stall is logged.
pub async fn lease(shard: &Shard, key: &str, owner: usize, spec: LimitSpec) {
    let flight = format!("rl:{key}");
    let Some(_flight) = shard.in_flight.lead_or_wait(&flight).await else {
        return;
    };
    let grant = match shard.mesh.ask(owner, key, spec).await {
        Some(g) => g,
        None => {
            tracing::warn!(
                shard = shard.id,
                owner,
                "no lease answer in time; letting the request through"
            );
            Grant {
                granted: 1,
                available: 0,
                reset: spec.window,
                retry_after: Duration::ZERO,
            }
        }
    };
    shard
        .state
        .limiter
        .borrow_mut()
        .install(key, spec, grant, Instant::now());
}

/// Makes an `http-callout` call to the endpoint known as `key`; the answer goes back to the
/// op, which reads it (or fails the request, per `on_error`).
pub async fn callout(
    snap: &Snapshot,
    key: &str,
    method: Method,
    headers: Vec<(String, String)>,
    body: bytes::Bytes,
) -> IntrospectionAnswer {
    let Some(target) = snap.side_targets.get(key) else {
        return Err("no such callout endpoint".into());
    };
    let mut headers = headers;
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let last = match call_target(target, method, headers, body).await {
        Ok(resp) => return Ok((resp.status, resp.body)),
        Err(e) => e,
    };
    tracing::warn!(endpoint = key, error = %last, "http-callout failed");
    Err("the callout endpoint did not answer".into())
}

/// Sends a copy of the request to a `traffic-shadow` target on its own task, with its own
/// timeout; the answer is read and dropped. Never delays or fails the real request.
pub fn shadow(
    shadow: &sluice_engine::callout::Shadow,
    req: &sluice_codec::RequestHead,
    base_path_len: usize,
    up: &sluice_engine::UrlUpstream,
    body: bytes::Bytes,
) {
    let Some(&addr) = shadow.target.addrs.first() else {
        return;
    };
    let mut path = bytes::BytesMut::new();
    sluice_engine::forward::write_upstream_target(
        req,
        base_path_len,
        up.strip_prefix.as_deref(),
        &shadow.target,
        &mut path,
    );
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|h| !sluice_engine::forward::is_hop_by_hop(&h.name, &req.headers))
        .filter_map(|h| {
            Some((
                std::str::from_utf8(&h.name).ok()?.to_owned(),
                std::str::from_utf8(&h.value).ok()?.to_owned(),
            ))
        })
        .collect();
    headers.push(("x-sluice-shadow".into(), "1".into()));
    let call_req = SideRequest {
        addr,
        authority: String::from_utf8_lossy(&shadow.target.authority).into_owned(),
        target: String::from_utf8_lossy(&path).into_owned(),
        method: req.method.clone(),
        headers,
        body,
        timeout: shadow.timeout,
    };
    monoio::spawn(async move {
        if let Err(e) = call(&call_req).await {
            tracing::debug!(error = %e, "shadow request failed");
        }
    });
}

/// The answer of a `type: health` route: each probe's status and latency (and, with
/// `include_upstreams`, every url upstream target as this shard sees it). `healthy` when all
/// pass, `unhealthy` (503) when none does, `degraded` otherwise.
pub async fn health_report(
    shard: &Shard,
    snap: &Snapshot,
    h: &sluice_engine::HealthRoute,
) -> (u16, bytes::Bytes) {
    let mut entries: Vec<(String, bool, Option<u128>)> = Vec::new();
    for (url, target) in &h.probes {
        let started = Instant::now();
        let probe = vec![("user-agent".into(), "sluice-health".into())];
        let answer = call_target(target, Method::Get, probe, Bytes::new()).await;
        let ok = matches!(answer, Ok(r) if (200..400).contains(&r.status));
        entries.push((url.clone(), ok, Some(started.elapsed().as_millis())));
    }
    if h.include_upstreams {
        for route in &snap.routes {
            if let sluice_engine::Upstream::Url(up) = &route.upstream {
                for (i, t) in up.targets.iter().enumerate() {
                    entries.push((t.display.clone(), shard.balancers.is_healthy(up, i), None));
                }
            }
        }
    }
    let up_count = entries.iter().filter(|e| e.1).count();
    let status = if up_count == entries.len() {
        "healthy"
    } else if up_count == 0 {
        "unhealthy"
    } else {
        "degraded"
    };
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let upstreams: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|(url, ok, latency)| {
            serde_json::json!({
                "url": url,
                "status": if ok { "healthy" } else { "unhealthy" },
                "latency_ms": latency,
            })
        })
        .collect();
    let body =
        serde_json::json!({"status": status, "timestamp": timestamp, "upstreams": upstreams});
    let code = if status == "unhealthy" { 503 } else { 200 };
    (code, bytes::Bytes::from(body.to_string()))
}
