//! Messages between shards: crossbeam channels plus a waker per shard, so a message wakes
//! the receiving shard's mailbox task at once (monoio's `sync` feature carries the wake
//! across threads) instead of waiting for a tick.
//!
//! Today the mesh carries the rate-limit lease protocol: a shard without a lease for a key
//! asks the key's owner (`Acquire`), the owner answers (`Grant`), and unused tokens go back
//! (`Return`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use sluice_policies::rate_limit::{Grant, LimitSpec};

/// How long a shard waits for a lease before letting the request through (fail open: a
/// stuck peer must not stall traffic).
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// A message between shards.
#[derive(Debug)]
pub enum MeshMsg {
    /// "Grant me a lease on `key`"; answer to shard `from` quoting `ticket`.
    Acquire {
        key: String,
        spec: LimitSpec,
        from: usize,
        ticket: u64,
    },
    /// The owner's answer to an `Acquire`.
    Grant { ticket: u64, grant: Grant },
    /// Unused lease tokens going back to the owner.
    Return {
        key: String,
        spec: LimitSpec,
        tokens: u64,
    },
    /// An active health check flipped target `target` of upstream `key`.
    Health {
        key: String,
        target: usize,
        healthy: bool,
    },
    /// "Send me your metrics" (the admin shard gathering a scrape).
    MetricsRequest { from: usize, ticket: u64 },
    /// A shard's metrics and owned bucket count, answering `MetricsRequest`.
    Metrics {
        ticket: u64,
        snapshot: Box<(sluice_engine::metrics::MetricsSnapshot, usize)>,
    },
    /// "Send me your summary" (the admin shard's stats, SSE and history, every second).
    SummaryRequest { from: usize, ticket: u64 },
    /// A shard's summary and owned bucket count, answering `SummaryRequest`.
    Summary {
        ticket: u64,
        summary: Box<(sluice_engine::metrics::MetricsSummary, usize)>,
    },
    /// An admin operation on the rate-limit buckets of a shard.
    Buckets {
        from: usize,
        ticket: u64,
        op: BucketOp,
    },
    /// A shard's answer to `Buckets`.
    BucketsDone {
        ticket: u64,
        answer: Box<BucketAnswer>,
    },
}

/// What the admin API asks of a shard's buckets.
#[derive(Debug, Clone)]
pub enum BucketOp {
    List,
    Remove(String),
    Clear,
}

/// A shard's answer to a [`BucketOp`].
#[derive(Debug)]
pub enum BucketAnswer {
    /// `(key, available, idle seconds)` per owned bucket.
    List(Vec<(String, u64, u64)>),
    /// Buckets (or leases) removed.
    Removed(usize),
}

/// An answer a request on this shard waits for.
#[derive(Debug)]
pub enum Reply {
    Grant(Grant),
    Metrics(Box<(sluice_engine::metrics::MetricsSnapshot, usize)>),
    Summary(Box<(sluice_engine::metrics::MetricsSummary, usize)>),
    Buckets(Box<BucketAnswer>),
}

struct Peer {
    tx: Sender<MeshMsg>,
    waker: Arc<AtomicWaker>,
}

/// One shard's end of the mesh, built on the main thread and moved to the shard.
pub struct MeshEnd {
    me: usize,
    peers: Vec<Peer>,
    rx: Receiver<MeshMsg>,
    waker: Arc<AtomicWaker>,
}

/// Builds the ends of a mesh of `n` shards.
pub fn build(n: usize) -> Vec<MeshEnd> {
    let chans: Vec<_> = (0..n)
        .map(|_| (crossbeam_channel::unbounded(), Arc::new(AtomicWaker::new())))
        .collect();
    (0..n)
        .map(|me| MeshEnd {
            me,
            peers: chans
                .iter()
                .map(|((tx, _), w)| Peer {
                    tx: tx.clone(),
                    waker: w.clone(),
                })
                .collect(),
            rx: chans[me].0 .1.clone(),
            waker: chans[me].1.clone(),
        })
        .collect()
}

#[derive(Default)]
struct Pending {
    reply: Cell<Option<Reply>>,
    waker: RefCell<Option<Waker>>,
}

/// The mesh as a shard uses it (shard-local; not `Send`).
pub struct Mesh {
    end: MeshEnd,
    pending: RefCell<HashMap<u64, Rc<Pending>>>,
    next_ticket: Cell<u64>,
}

impl Mesh {
    /// Wraps this shard's end.
    pub fn new(end: MeshEnd) -> Self {
        Self {
            end,
            pending: RefCell::default(),
            next_ticket: Cell::new(1),
        }
    }

    /// Sends `msg()` to every shard, this one included.
    pub fn broadcast(&self, msg: impl Fn() -> MeshMsg) {
        for to in 0..self.len() {
            self.send(to, msg());
        }
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.end.peers.len()
    }

    /// Sends `msg` to shard `to` and wakes its mailbox.
    pub fn send(&self, to: usize, msg: MeshMsg) {
        if let Some(peer) = self.end.peers.get(to) {
            if peer.tx.send(msg).is_ok() {
                peer.waker.wake();
            }
        }
    }

    /// The next message for this shard; `None` once every sender is gone.
    pub async fn recv(&self) -> Option<MeshMsg> {
        std::future::poll_fn(|cx| {
            match self.end.rx.try_recv() {
                Ok(m) => return Poll::Ready(Some(m)),
                Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                Err(TryRecvError::Empty) => {}
            }
            self.end.waker.register(cx.waker());
            // A message may have landed between the first look and registering.
            match self.end.rx.try_recv() {
                Ok(m) => Poll::Ready(Some(m)),
                Err(TryRecvError::Disconnected) => Poll::Ready(None),
                Err(TryRecvError::Empty) => Poll::Pending,
            }
        })
        .await
    }

    /// Asks shard `owner` for a lease on `key`; `None` if no answer came in [`ASK_TIMEOUT`].
    pub async fn ask(&self, owner: usize, key: &str, spec: LimitSpec) -> Option<Grant> {
        let me = self.end.me;
        let reply = self
            .request(owner, |ticket| MeshMsg::Acquire {
                key: key.to_owned(),
                spec,
                from: me,
                ticket,
            })
            .await;
        match reply {
            Some(Reply::Grant(g)) => Some(g),
            _ => None,
        }
    }

    /// Gathers every shard's metrics (this one's included, through its own mailbox);
    /// shards that do not answer in [`ASK_TIMEOUT`] are left out.
    pub async fn gather_metrics(&self) -> Vec<(sluice_engine::metrics::MetricsSnapshot, usize)> {
        let me = self.end.me;
        let mut out = Vec::with_capacity(self.len());
        for to in 0..self.len() {
            let reply = self
                .request(to, |ticket| MeshMsg::MetricsRequest { from: me, ticket })
                .await;
            if let Some(Reply::Metrics(m)) = reply {
                out.push(*m);
            }
        }
        out
    }

    /// Every shard's [`sluice_engine::metrics::MetricsSummary`] and owned bucket count: the
    /// cheap gather behind the admin's per-second figures (a scrape uses
    /// [`Mesh::gather_metrics`]).
    pub async fn gather_summaries(&self) -> Vec<(sluice_engine::metrics::MetricsSummary, usize)> {
        let me = self.end.me;
        let mut out = Vec::with_capacity(self.len());
        for to in 0..self.len() {
            let reply = self
                .request(to, |ticket| MeshMsg::SummaryRequest { from: me, ticket })
                .await;
            if let Some(Reply::Summary(s)) = reply {
                out.push(*s);
            }
        }
        out
    }

    /// Runs `op` on every shard's buckets; the answers in shard order.
    pub async fn on_buckets(&self, op: BucketOp) -> Vec<BucketAnswer> {
        let me = self.end.me;
        let mut out = Vec::with_capacity(self.len());
        for to in 0..self.len() {
            let op = op.clone();
            let reply = self
                .request(to, |ticket| MeshMsg::Buckets {
                    from: me,
                    ticket,
                    op,
                })
                .await;
            if let Some(Reply::Buckets(a)) = reply {
                out.push(*a);
            }
        }
        out
    }

    /// Sends the message `build(ticket)` to `to` and waits for the reply quoting `ticket`.
    async fn request(&self, to: usize, build: impl FnOnce(u64) -> MeshMsg) -> Option<Reply> {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        let pending = Rc::new(Pending::default());
        self.pending.borrow_mut().insert(ticket, pending.clone());
        self.send(to, build(ticket));
        let wait = std::future::poll_fn(|cx| match pending.reply.take() {
            Some(r) => Poll::Ready(r),
            None => {
                *pending.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let got = monoio::time::timeout(ASK_TIMEOUT, wait).await.ok();
        self.pending.borrow_mut().remove(&ticket);
        got
    }

    /// Delivers a reply to the request waiting on `ticket` (late answers are dropped).
    pub fn resolve(&self, ticket: u64, reply: Reply) {
        if let Some(p) = self.pending.borrow().get(&ticket) {
            p.reply.set(Some(reply));
            if let Some(w) = p.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}
