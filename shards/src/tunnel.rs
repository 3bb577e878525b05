//! WebSocket tunnels: after a `101 Switching Protocols`, bytes flow both ways untouched
//! until either side closes or nothing moves for `idle_timeout`.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncWriteRent, CancelableAsyncReadRent, CancelableAsyncWriteRent, CancelableAsyncWriteRentExt,
    Splitable,
};
use monoio::net::TcpStream;

use crate::watchdog::{ConnSlot, Watchdog};

/// Buffer per direction.
const TUNNEL_BUF: usize = 16 * 1024;

/// Pumps both directions until both are done. `client_early` / `upstream_early` are bytes
/// each side sent before the tunnel started (already read into the connection buffers).
pub async fn run(
    client: TcpStream,
    client_early: BytesMut,
    upstream: TcpStream,
    upstream_early: BytesMut,
    slot: Rc<ConnSlot>,
    watchdog: &Watchdog,
    idle: Duration,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    slot.arm(watchdog.now() + idle, false);
    let up = pump(&mut cr, &mut uw, client_early, &slot, watchdog, idle);
    let down = pump(&mut ur, &mut cw, upstream_early, &slot, watchdog, idle);
    monoio::join!(up, down);
}

/// Copies `from` into `to` until EOF, an error or the idle deadline; then half-closes `to`
/// so the peer sees the end of this direction.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    early: BytesMut,
    slot: &ConnSlot,
    watchdog: &Watchdog,
    idle: Duration,
) where
    R: CancelableAsyncReadRent,
    W: CancelableAsyncWriteRent + AsyncWriteRent,
{
    let mut buf = early;
    loop {
        if !buf.is_empty() {
            let (res, mut back) =
                CancelableAsyncWriteRentExt::write_all(to, buf, slot.handle()).await;
            back.clear();
            buf = back;
            if res.is_err() {
                break;
            }
            slot.arm(watchdog.now() + idle, false);
        }
        if buf.capacity() < TUNNEL_BUF {
            buf.reserve(TUNNEL_BUF);
        }
        let cap = buf.capacity();
        let (res, slice) = from
            .cancelable_read(buf.slice_mut(0..cap), slot.handle())
            .await;
        buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => break,
            Ok(_) => slot.arm(watchdog.now() + idle, false),
        }
    }
    let _ = to.shutdown().await;
}
