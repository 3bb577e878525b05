//! One shard: its state, its accept loops and its housekeeping tick.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam_channel::Receiver;
use monoio::net::TcpListener;
use sluice_engine::{error_response, ErrorKind, Snapshot};

use crate::mesh::{BucketAnswer, BucketOp, MeshMsg, Reply};
use crate::pool::Pool;
use crate::watchdog::{Watchdog, TICK};

/// Control messages from the main thread.
#[derive(Debug, Clone)]
pub enum ShardMsg {
    /// Stop accepting, finish in-flight requests, exit by `deadline`.
    Shutdown { deadline: Instant },
}

/// Everything one shard owns. Lives in an `Rc` on the shard's thread only.
pub struct Shard {
    pub id: usize,
    snapshots: Arc<ArcSwap<Snapshot>>,
    /// The snapshot this shard last saw, so a request clones an `Rc` (a plain increment)
    /// instead of the shared `Arc` (a contended atomic across shards).
    #[allow(clippy::redundant_allocation)] // the extra Rc is the point: see above
    cached: RefCell<Rc<Arc<Snapshot>>>,
    pub watchdog: Watchdog,
    pub pool: Pool,
    /// Balancer state (in-flight counts, ejections, health) per upstream.
    pub balancers: crate::balancers::Balancers,
    /// Policy caches (Basic credentials, verified tokens, JWKS), kept across reloads.
    pub state: sluice_engine::ShardState,
    /// Side calls (JWKS fetches, lease requests) in flight, for single-flight.
    pub in_flight: crate::side::InFlight,
    /// Messages to and from the other shards.
    pub mesh: crate::mesh::Mesh,
    /// Where `request-log` lines go (shared with the writer threads and the admin API).
    pub logs: Arc<crate::access_log::LogHub>,
    /// This shard's senders to the log writers, by output (filled on first use).
    log_senders:
        RefCell<std::collections::HashMap<String, crossbeam_channel::Sender<serde_json::Value>>>,
    /// Request counts and latencies of this shard, gathered on scrape.
    pub metrics: RefCell<sluice_engine::metrics::ShardMetrics>,
    pub active: Cell<usize>,
    shutdown_at: Cell<Option<Instant>>,
    shutdown_wakers: RefCell<Vec<Waker>>,
    /// Bumped on every snapshot change; health checkers of older generations stop.
    health_generation: Cell<u64>,
    /// The I/O driver this shard runs on, for the admin API.
    driver: Cell<&'static str>,
}

impl Shard {
    /// A new shard reading snapshots from `snapshots`.
    pub fn new(
        id: usize,
        snapshots: Arc<ArcSwap<Snapshot>>,
        mesh: crate::mesh::MeshEnd,
        logs: Arc<crate::access_log::LogHub>,
    ) -> Self {
        let first = snapshots.load_full();
        let mesh = crate::mesh::Mesh::new(mesh);
        let bounds = first.clone();
        let shard = Self {
            id,
            snapshots,
            cached: RefCell::new(Rc::new(first)),
            watchdog: Watchdog::default(),
            pool: Pool::default(),
            balancers: Default::default(),
            state: sluice_engine::ShardState::new(id, mesh.len()),
            in_flight: Default::default(),
            mesh,
            metrics: RefCell::new(sluice_engine::metrics::ShardMetrics::new(id)),
            logs,
            log_senders: RefCell::default(),
            active: Cell::new(0),
            shutdown_at: Cell::new(None),
            shutdown_wakers: RefCell::default(),
            health_generation: Cell::new(0),
            driver: Cell::new("unknown"),
        };
        shard.apply_bounds(&bounds);
        shard
    }

    /// The current snapshot; a request keeps the one it started with.
    #[allow(clippy::redundant_allocation)] // shard-local count, see `cached`
    pub fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        let current = self.snapshots.load();
        if !Arc::ptr_eq(&current, &self.cached.borrow()) {
            *self.cached.borrow_mut() = Rc::new(Arc::clone(&current));
            self.apply_bounds(&current);
            self.balancers.retain_upstreams_of(&current);
        }
        self.cached.borrow().clone()
    }

    /// Counts a request that a `retry` policy covers (its budget is a share of these).
    ///
    /// A budget whose share or floor differs from `policy`'s (a reload changed
    /// `budget_percent` or `budget_min_per_second`) is replaced, its counts dropped; one
    /// that matches is kept, so an unrelated reload does not hand out a fresh budget.
    pub fn note_retry_request(&self, policy: &sluice_policies::retry::Retry, budget_id: &str) {
        let shards = self.state.shards;
        let mut budgets = self.state.retry_budgets.borrow_mut();
        let current = budgets
            .get(budget_id)
            .is_some_and(|b| policy.budget_matches(b, shards));
        if !current {
            budgets.insert(budget_id.to_owned(), policy.budget(shards));
        }
        if let Some(b) = budgets.get_mut(budget_id) {
            b.note_request(Instant::now());
        }
    }

    /// Whether (and after what delay) a failed attempt is retried.
    pub fn retry_decision(
        &self,
        policy: &sluice_policies::retry::Retry,
        budget_id: &str,
        attempt: u32,
        outcome: &sluice_policies::retry::AttemptOutcome,
        method: &sluice_codec::Method,
        replayable: bool,
    ) -> Option<std::time::Duration> {
        let mut budgets = self.state.retry_budgets.borrow_mut();
        let budget = budgets.get_mut(budget_id)?;
        policy.should_retry(
            attempt,
            outcome,
            method,
            replayable,
            budget,
            Instant::now(),
            fastrand::f64(),
        )
    }

    /// Applies the snapshot's per-shard bounds to the shard's caches.
    fn apply_bounds(&self, snap: &Snapshot) {
        self.state
            .cache
            .borrow_mut()
            .set_max_bytes(snap.cache_max_bytes);
        self.state
            .limiter
            .borrow_mut()
            .set_max_keys(snap.rate_limit_max_keys);
    }

    /// Hands an access-log line to the writer of `output` (never blocks).
    pub fn log_line(&self, output: &str, buffer: usize, line: serde_json::Value) {
        let mut senders = self.log_senders.borrow_mut();
        if !senders.contains_key(output) {
            match self.logs.sender(output, buffer) {
                Some(tx) => {
                    senders.insert(output.to_owned(), tx);
                }
                None => return,
            }
        }
        if let Some(tx) = senders.get(output) {
            let _ = tx.send(line);
        }
    }

    /// The I/O driver this shard runs on.
    pub fn driver(&self) -> &'static str {
        self.driver.get()
    }

    /// Records the I/O driver (set once the runtime is built).
    pub fn set_driver(&self, driver: &'static str) {
        self.driver.set(driver);
    }

    /// The current health-checker generation.
    pub fn health_generation(&self) -> u64 {
        self.health_generation.get()
    }

    /// True once shutdown began.
    pub fn shutting_down(&self) -> bool {
        self.shutdown_at.get().is_some()
    }

    fn begin_shutdown(&self, deadline: Instant) {
        if self.shutdown_at.get().is_none() {
            self.shutdown_at.set(Some(deadline));
            for w in self.shutdown_wakers.borrow_mut().drain(..) {
                w.wake();
            }
        }
    }

    /// Resolves once shutdown begins.
    pub async fn shutdown_signal(&self) {
        std::future::poll_fn(|cx| {
            if self.shutting_down() {
                Poll::Ready(())
            } else {
                // The accept loop polls this once per accepted connection; register its
                // task once, not once per poll.
                let mut wakers = self.shutdown_wakers.borrow_mut();
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

/// The shard's main future: accept on every listener, tick the watchdog, obey messages;
/// returns when shutdown has drained (or timed out).
pub async fn shard_main(
    shard: Rc<Shard>,
    listeners: Vec<std::net::TcpListener>,
    control: Receiver<ShardMsg>,
    admin: Option<(std::net::TcpListener, crate::admin::Admin)>,
) {
    for std_listener in listeners {
        match TcpListener::from_std(std_listener) {
            Ok(l) => {
                monoio::spawn(accept_loop(l, shard.clone()));
            }
            Err(e) => tracing::error!(shard = shard.id, error = %e, "cannot register listener"),
        }
    }
    monoio::spawn(mailbox(shard.clone()));
    if let Some((listener, admin)) = admin {
        monoio::spawn(crate::admin::serve(listener, Rc::new(admin), shard.clone()));
    }
    // Shard 0 runs the active health checks for everyone.
    let mut checked: Option<Arc<Snapshot>> = None;
    let mut ticker = monoio::time::interval(TICK);
    let mut ticks: u64 = 0;
    loop {
        if shard.id == 0 {
            let current = shard.snapshots.load_full();
            if checked.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &current)) {
                shard
                    .health_generation
                    .set(shard.health_generation.get() + 1);
                crate::health::start(&shard, current.clone(), shard.health_generation.get());
                checked = Some(current);
            }
        }
        ticker.tick().await;
        ticks += 1;
        shard.watchdog.tick(shard.shutting_down());
        if ticks.is_multiple_of(10) {
            let now = shard.watchdog.now();
            shard.pool.sweep(now);
            // Load the snapshot first: a changed one applies its bounds to the limiter and
            // cache, which must not be borrowed at that moment.
            let _ = shard.snapshot();
            let returns = shard.state.limiter.borrow_mut().sweep(now);
            for r in returns {
                shard.mesh.send(
                    r.owner,
                    MeshMsg::Return {
                        key: r.key,
                        spec: r.spec,
                        tokens: r.tokens,
                    },
                );
            }
        }
        while let Ok(msg) = control.try_recv() {
            match msg {
                ShardMsg::Shutdown { deadline } => shard.begin_shutdown(deadline),
            }
        }
        if let Some(deadline) = shard.shutdown_at.get() {
            if shard.active.get() == 0 {
                tracing::debug!(shard = shard.id, "drained");
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    shard = shard.id,
                    open = shard.active.get(),
                    "shutdown_timeout reached; closing remaining connections"
                );
                return;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shard: Rc<Shard>) {
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = shard.shutdown_signal() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let snap = shard.snapshot();
                if shard.active.get() >= snap.limits.max_connections_per_shard {
                    monoio::spawn(refuse_overloaded(stream, peer, snap));
                    continue;
                }
                monoio::spawn(crate::conn::serve(stream, peer, shard.clone()));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(shard = shard.id, error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

#[allow(clippy::redundant_allocation)] // the shard-local snapshot handle, see `Shard::cached`
async fn refuse_overloaded(
    mut stream: monoio::net::TcpStream,
    peer: std::net::SocketAddr,
    snap: Rc<Arc<Snapshot>>,
) {
    use monoio::io::AsyncWriteRentExt;
    let ctx = sluice_engine::RequestContext::new(
        peer,
        &sluice_codec::Headers::default(),
        &snap.request_id_header,
    );
    let resp = error_response(&ErrorKind::Overloaded, &ctx.request_id);
    let mut out = bytes::BytesMut::new();
    crate::respond::encode_head(
        &mut out,
        resp.status,
        &resp.headers,
        crate::respond::OutFraming::Length(resp.body.len() as u64),
        crate::respond::ConnHeader::Close,
        Some((&snap.request_id_header, &ctx)),
    );
    out.extend_from_slice(&resp.body);
    let _ = stream.write_all(out).await;
}

/// Answers other shards: grants leases on keys this shard owns, takes unused tokens back,
/// and hands grants to the requests waiting for them.
async fn mailbox(shard: Rc<Shard>) {
    while let Some(msg) = shard.mesh.recv().await {
        let now = Instant::now();
        match msg {
            MeshMsg::Acquire {
                key,
                spec,
                from,
                ticket,
            } => {
                let grant = shard.state.limiter.borrow_mut().grant(&key, spec, now);
                shard.mesh.send(from, MeshMsg::Grant { ticket, grant });
            }
            MeshMsg::Grant { ticket, grant } => shard.mesh.resolve(ticket, Reply::Grant(grant)),
            MeshMsg::MetricsRequest { from, ticket } => {
                let mut metrics = shard.metrics.borrow_mut();
                metrics.set_connections(shard.active.get() as u64);
                let buckets = shard.state.limiter.borrow().owned_len();
                let snapshot = Box::new((metrics.snapshot(), buckets));
                shard.mesh.send(from, MeshMsg::Metrics { ticket, snapshot });
            }
            MeshMsg::SummaryRequest { from, ticket } => {
                let mut metrics = shard.metrics.borrow_mut();
                metrics.set_connections(shard.active.get() as u64);
                let buckets = shard.state.limiter.borrow().owned_len();
                let summary = Box::new((metrics.summary(), buckets));
                shard.mesh.send(from, MeshMsg::Summary { ticket, summary });
            }
            MeshMsg::Summary { ticket, summary } => {
                shard.mesh.resolve(ticket, Reply::Summary(summary))
            }
            MeshMsg::Buckets { from, ticket, op } => {
                let answer = {
                    let mut limiter = shard.state.limiter.borrow_mut();
                    match op {
                        BucketOp::List => BucketAnswer::List(limiter.list(now)),
                        BucketOp::Remove(key) => {
                            BucketAnswer::Removed(usize::from(limiter.remove(&key)))
                        }
                        BucketOp::Clear => BucketAnswer::Removed(limiter.clear()),
                    }
                };
                shard.mesh.send(
                    from,
                    MeshMsg::BucketsDone {
                        ticket,
                        answer: Box::new(answer),
                    },
                );
            }
            MeshMsg::BucketsDone { ticket, answer } => {
                shard.mesh.resolve(ticket, Reply::Buckets(answer))
            }
            MeshMsg::Metrics { ticket, snapshot } => {
                shard.mesh.resolve(ticket, Reply::Metrics(snapshot))
            }
            MeshMsg::Return { key, spec, tokens } => shard
                .state
                .limiter
                .borrow_mut()
                .give_back(&key, spec, tokens, now),
            MeshMsg::Health {
                key,
                target,
                healthy,
            } => shard.balancers.set_health(&key, target, healthy),
        }
    }
}
