//! The shard's own small HTTP/1.1 client, for the gateway's side calls (JWKS documents
//! now; introspection and health probes later). One exchange per connection, bounded body,
//! one deadline for the whole exchange.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use sluice_codec::{
    parse_response_head, ChunkedDecoder, ChunkedEvent, HeadLimits, Method, ResponseFraming,
};

/// Largest body a side call accepts.
pub const MAX_SIDE_BODY: usize = 1024 * 1024;

/// What a side call should do.
#[derive(Debug, Clone)]
pub struct SideRequest {
    pub addr: SocketAddr,
    /// `host[:port]` for the Host header.
    pub authority: String,
    /// Path and query.
    pub target: String,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub timeout: Duration,
}

/// A side call's answer.
#[derive(Debug, Clone)]
pub struct SideResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Why a side call failed, in words fit for a log line.
#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("connect to {0} failed: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("response body over {MAX_SIDE_BODY} bytes")]
    TooLarge,
}

/// Performs one request; the whole exchange must finish within `req.timeout`.
pub async fn call(req: &SideRequest) -> Result<SideResponse, SideError> {
    match monoio::time::timeout(req.timeout, exchange(req)).await {
        Ok(r) => r,
        Err(_) => Err(SideError::Timeout),
    }
}

async fn exchange(req: &SideRequest) -> Result<SideResponse, SideError> {
    let mut stream = TcpStream::connect_addr(req.addr)
        .await
        .map_err(|e| SideError::Connect(req.addr, e))?;
    let _ = stream.set_nodelay(true);
    let mut out = BytesMut::with_capacity(256 + req.body.len());
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(req.authority.as_bytes());
    out.extend_from_slice(b"\r\nconnection: close\r\n");
    if !req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
    {
        out.extend_from_slice(b"user-agent: sluice\r\n");
    }
    for (n, v) in &req.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || req.method == Method::Post {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(req.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
    let (res, _) = stream.write_all(out).await;
    res?;

    let mut buf = BytesMut::with_capacity(8192);
    let head = loop {
        if let Some(h) = parse_response_head(&mut buf, &HeadLimits::default(), &req.method)
            .map_err(|e| SideError::Invalid(e.to_string()))?
        {
            if (100..200).contains(&h.status) {
                continue;
            }
            break h;
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(SideError::Invalid(
                "connection closed before the response head".into(),
            ));
        }
    };
    let body = match head.framing {
        ResponseFraming::None => Bytes::new(),
        ResponseFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| SideError::TooLarge)?;
            if n > MAX_SIDE_BODY {
                return Err(SideError::TooLarge);
            }
            while buf.len() < n {
                if read_more(&mut stream, &mut buf).await? == 0 {
                    return Err(SideError::Invalid(
                        "body shorter than Content-Length".into(),
                    ));
                }
            }
            buf.split_to(n).freeze()
        }
        ResponseFraming::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut body = BytesMut::new();
            loop {
                match dec
                    .decode(&mut buf)
                    .map_err(|e| SideError::Invalid(e.to_string()))?
                {
                    Some(ChunkedEvent::Data(d)) => {
                        if body.len() + d.len() > MAX_SIDE_BODY {
                            return Err(SideError::TooLarge);
                        }
                        body.extend_from_slice(&d);
                    }
                    Some(ChunkedEvent::End) => break body.freeze(),
                    None => {
                        if read_more(&mut stream, &mut buf).await? == 0 {
                            return Err(SideError::Invalid("chunked body cut short".into()));
                        }
                    }
                }
            }
        }
        ResponseFraming::Close => {
            while read_more(&mut stream, &mut buf).await? > 0 {
                if buf.len() > MAX_SIDE_BODY {
                    return Err(SideError::TooLarge);
                }
            }
            buf.split().freeze()
        }
    };
    Ok(SideResponse {
        status: head.status,
        body,
    })
}

async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    use monoio::buf::IoBufMut;
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(8192);
    }
    let owned = std::mem::take(buf);
    let (len, cap) = (owned.len(), owned.capacity());
    let (res, slice) = stream.read(owned.slice_mut(len..cap)).await;
    *buf = slice.into_inner();
    res
}
