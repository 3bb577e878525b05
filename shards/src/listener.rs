//! SO_REUSEPORT listeners: one socket per shard per address, so the kernel spreads
//! connections across shards without a shared accept queue.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of each listening socket.
const BACKLOG: i32 = 4096;

/// Opens one listening socket per shard on `addr`. A port of 0 is resolved by the first
/// socket and reused by the rest, so every shard serves the same port.
pub fn bind_all(
    addr: SocketAddr,
    shards: usize,
) -> std::io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    // SO_REUSEPORT would let a second Sluice (or anything else of the same user) share the
    // port silently, splitting traffic and rate limits; a plain bind first proves it is free.
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr)?);
    }
    let mut out = Vec::with_capacity(shards);
    let mut addr = addr;
    for _ in 0..shards {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(BACKLOG)?;
        let listener: std::net::TcpListener = sock.into();
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok((addr, out))
}
