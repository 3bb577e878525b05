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

use crate::client::{call, SideRequest};
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

/// Makes sure the shard's JWT state has tried to load `url` (or waits for the fetch already
/// running). Failures are logged; the op then decides (stale keys or 502 `jwks_error`).
pub async fn fetch_jwks(shard: &Shard, snap: &Snapshot, url: &str) {
    let running = shard.in_flight.by_url.borrow().get(url).cloned();
    if let Some(w) = running {
        w.wait().await;
        return;
    }
    let Some(target) = snap.jwks.get(url) else {
        tracing::error!(url, "jwt-auth asked for a JWKS the snapshot does not know");
        return;
    };
    let waiters = Rc::new(Waiters::default());
    shard
        .in_flight
        .by_url
        .borrow_mut()
        .insert(url.to_owned(), waiters.clone());
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
    shard.in_flight.by_url.borrow_mut().remove(url);
    waiters.finish();
}

async fn load(target: &FetchTarget) -> Result<KeySet, String> {
    let mut last = String::from("no address");
    for &addr in &target.addrs {
        let req = SideRequest {
            addr,
            authority: target.authority.clone(),
            target: target.path.clone(),
            method: Method::Get,
            headers: side_headers(target, None),
            body: bytes::Bytes::new(),
            timeout: target.timeout,
        };
        match call(&req).await {
            Ok(resp) if resp.status == 200 => {
                return KeySet::from_jwks_json(&resp.body)
                    .map_err(|e| format!("invalid JWKS: {e}"));
            }
            Ok(resp) => last = format!("status {}", resp.status),
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
    let mut last = String::from("no address");
    for &addr in &target.addrs {
        let req = SideRequest {
            addr,
            authority: target.authority.clone(),
            target: target.path.clone(),
            method: Method::Post,
            headers: side_headers(target, Some("application/x-www-form-urlencoded")),
            body: introspection_body(token),
            timeout: target.timeout,
        };
        match call(&req).await {
            Ok(resp) => return Ok((resp.status, resp.body)),
            Err(e) => last = e.to_string(),
        }
    }
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
    let running = shard.in_flight.by_url.borrow().get(&flight).cloned();
    if let Some(w) = running {
        w.wait().await;
        return;
    }
    let waiters = Rc::new(Waiters::default());
    shard
        .in_flight
        .by_url
        .borrow_mut()
        .insert(flight.clone(), waiters.clone());
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
    shard.in_flight.by_url.borrow_mut().remove(&flight);
    waiters.finish();
}
