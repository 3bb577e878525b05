//! Reads and writes bounded by the connection's watchdog slot.

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::watchdog::{ConnSlot, Expiry};

/// Smallest free space offered to a read.
pub const READ_CHUNK: usize = 16 * 1024;

/// Why a read or write did not complete.
#[derive(Debug)]
pub enum IoFail {
    /// The peer closed the connection (read of 0 bytes).
    Closed,
    /// The slot's deadline passed.
    Timeout,
    /// The shard is shutting down and the connection was idle.
    Shutdown,
    /// Any other socket error (reset, broken pipe, ...).
    Io(std::io::Error),
}

const ECANCELED: i32 = 125;

fn classify(e: std::io::Error, slot: &ConnSlot) -> IoFail {
    if e.raw_os_error() == Some(ECANCELED) {
        match slot.expiry() {
            Expiry::Timeout => IoFail::Timeout,
            Expiry::Shutdown => IoFail::Shutdown,
            Expiry::None => IoFail::Io(e),
        }
    } else {
        IoFail::Io(e)
    }
}

/// Appends what the socket has to `buf` (growing it by at least [`READ_CHUNK`] when full);
/// returns the count read. The read is cancelled by the watchdog, never by dropping it,
/// so bytes that arrived are always kept.
pub async fn read_some(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    slot: &ConnSlot,
) -> Result<usize, IoFail> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    let owned = std::mem::take(buf);
    let len = owned.len();
    let cap = owned.capacity();
    let (res, slice) = stream
        .cancelable_read(owned.slice_mut(len..cap), slot.handle())
        .await;
    *buf = slice.into_inner();
    match res {
        Ok(0) => Err(IoFail::Closed),
        Ok(n) => Ok(n),
        Err(e) => Err(classify(e, slot)),
    }
}

/// Writes all of `buf` and clears it (keeping its allocation).
pub async fn write_all(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    slot: &ConnSlot,
) -> Result<(), IoFail> {
    if buf.is_empty() {
        return Ok(());
    }
    let owned = std::mem::take(buf);
    let (res, mut owned) =
        CancelableAsyncWriteRentExt::write_all(stream, owned, slot.handle()).await;
    owned.clear();
    *buf = owned;
    match res {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(e, slot)),
    }
}

/// Writes a frozen buffer (e.g. a body slice) without copying it.
pub async fn write_bytes(
    stream: &mut TcpStream,
    data: bytes::Bytes,
    slot: &ConnSlot,
) -> Result<(), IoFail> {
    if data.is_empty() {
        return Ok(());
    }
    let (res, _) = CancelableAsyncWriteRentExt::write_all(stream, data, slot.handle()).await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(e, slot)),
    }
}
