//! Per-shard keep-alive pools of upstream connections, keyed by socket address.
//!
//! Keyed by address rather than by route, so pools outlive reloads and routes that share an
//! upstream share its connections. A connection is checked in only after its response
//! was read completely.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::net::TcpStream;

/// Idle connections kept per upstream address; more are closed.
const MAX_IDLE_PER_ADDR: usize = 256;
/// An idle connection older than this is closed by the sweep (upstreams commonly close
/// idle keep-alive connections after 60-75 s; closing first avoids most stale reuse).
const IDLE_TTL: Duration = Duration::from_secs(50);

/// An upstream connection with its read buffer.
pub struct UpstreamConn {
    pub stream: TcpStream,
    pub rbuf: BytesMut,
    idle_since: Instant,
}

impl UpstreamConn {
    /// Wraps a freshly connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            rbuf: BytesMut::with_capacity(crate::io::READ_CHUNK),
            idle_since: Instant::now(),
        }
    }
}

/// The pool of one shard.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<SocketAddr, Vec<UpstreamConn>>>,
}

impl Pool {
    /// The most recently used idle connection to `addr`, if any (LIFO keeps the warmest
    /// connections busy and lets the rest age out).
    pub fn checkout(&self, addr: SocketAddr) -> Option<UpstreamConn> {
        self.idle.borrow_mut().get_mut(&addr)?.pop()
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn checkin(&self, addr: SocketAddr, mut conn: UpstreamConn, now: Instant) {
        if !conn.rbuf.is_empty() {
            // Bytes past the end of the response: the upstream is confused; do not reuse.
            return;
        }
        conn.idle_since = now;
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_ADDR {
            list.push(conn);
        }
    }

    /// Closes connections idle for longer than the TTL.
    pub fn sweep(&self, now: Instant) {
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            list.retain(|c| now.duration_since(c.idle_since) < IDLE_TTL);
        }
        idle.retain(|_, l| !l.is_empty());
    }
}
