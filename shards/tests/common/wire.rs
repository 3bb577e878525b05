//! HTTP/1.1 framing shared by the client and the upstream, and the client itself.

use std::io::{self, Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::*;

// ---------------------------------------------------------------------------------------
// Wire: buffered reading of HTTP/1.1 framing, shared by the client and the upstream
// ---------------------------------------------------------------------------------------

/// A byte source with a read-ahead buffer and the HTTP/1.1 framings the tests need.
pub struct Wire<S> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read> Wire<S> {
    pub fn new(stream: S) -> Self {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream (a reset counts as end).
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads a head up to and including the blank line. `Ok(None)` on a clean end of stream
    /// before any byte of it.
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut searched: usize = 0;
        loop {
            if let Some(i) = find(&self.buf[searched.saturating_sub(3)..], b"\r\n\r\n") {
                let end = searched.saturating_sub(3) + i + 4;
                return Ok(Some(self.buf.drain(..end).collect()));
            }
            searched = self.buf.len();
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(eof(format!(
                    "end of stream inside a head: {:?}",
                    lossy(&self.buf)
                )));
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let mut line: Vec<u8> = self.buf.drain(..i + 2).collect();
                line.truncate(i);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(eof("end of stream inside a line".into()));
            }
        }
    }

    /// Feeds exactly `n` body bytes to `sink`.
    pub fn read_exact_to(&mut self, mut n: u64, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        while n > 0 {
            if self.buf.is_empty() && self.fill()? == 0 {
                return Err(eof(format!("end of stream with {n} body bytes missing")));
            }
            let take = (self.buf.len() as u64).min(n) as usize;
            sink(&self.buf[..take]);
            self.buf.drain(..take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Decodes a chunked body (ignoring extensions and trailers) into `sink`.
    pub fn read_chunked_to(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}"))
            })?;
            if size == 0 {
                // Trailers until the blank line.
                while !self.read_line()?.is_empty() {}
                return Ok(());
            }
            self.read_exact_to(size, sink)?;
            if !self.read_line()?.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no CRLF after chunk data",
                ));
            }
        }
    }

    /// Feeds everything up to the end of stream to `sink`.
    pub fn read_to_close(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        loop {
            if !self.buf.is_empty() {
                sink(&self.buf);
                self.buf.clear();
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// Reads one response (possibly a 1xx) to a request with `method`, feeding its body to
    /// `sink`. The returned response has an empty body.
    pub fn read_response_to(
        &mut self,
        method: &str,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Response> {
        let head = self
            .read_head()?
            .ok_or_else(|| eof("connection closed before a response".into()))?;
        let (start, headers) = parse_head(&head);
        let mut parts = start.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad status line {start:?}"),
                )
            })?;
        let reason = parts.next().unwrap_or("").to_string();
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        let no_body = method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304;
        if no_body {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            self.read_chunked_to(sink)?;
        } else if let Some(cl) = resp.header("content-length") {
            let cl: u64 = cl.trim().parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("content-length {cl:?}"))
            })?;
            self.read_exact_to(cl, sink)?;
        } else {
            self.read_to_close(sink)?;
            resp.headers
                .push(("x-harness-read-to-close".into(), "1".into()));
        }
        Ok(resp)
    }

    /// Reads one response (possibly a 1xx) with its body.
    pub fn read_response(&mut self, method: &str) -> io::Result<Response> {
        let mut body = Vec::new();
        let mut resp = self.read_response_to(method, &mut |b| body.extend_from_slice(b))?;
        resp.body = body;
        Ok(resp)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn eof(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, msg)
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits a head into its start line and `(name, value)` headers (names lower-cased,
/// values trimmed). Lenient: the tests only parse heads they already trust.
pub fn parse_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = lossy(head);
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (start, headers)
}

pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header_all<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Every comma-separated element of every `name` header, trimmed.
fn header_list(headers: &[(String, String)], name: &str) -> Vec<String> {
    header_all(headers, name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Responses as the client sees them, and the echo upstream's JSON
// ---------------------------------------------------------------------------------------

/// A response read by the harness client.
#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Lower-cased names, in wire order. A body read up to the end of the stream adds a
    /// pseudo-header `x-harness-read-to-close: 1`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_all(&self.headers, name)
    }

    /// Every comma-separated element of every `name` header.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        header_list(&self.headers, name)
    }

    pub fn text(&self) -> String {
        lossy(&self.body)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }

    /// The echo upstream's view of the request; asserts a 200 from it.
    pub fn echo(&self) -> Echo {
        assert_eq!(
            self.status, 200,
            "expected the echo upstream's 200, got {self}"
        );
        let v = self.json();
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("echo field {k} in {self}"))
                .to_string()
        };
        Echo {
            method: s("method"),
            target: s("target"),
            version: s("version"),
            headers: v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_string(),
                        p[1].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
            body_len: v["body_len"].as_u64().unwrap(),
            body_sum: s("body_sum"),
            body: v["body"].as_str().map(str::to_string),
        }
    }

    /// The request id header and traceparent every response must carry.
    pub fn assert_ids(&self) -> (String, Traceparent) {
        let rid = self
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {self}"));
        let tp = self
            .header("traceparent")
            .unwrap_or_else(|| panic!("no traceparent on {self}"));
        (rid.to_string(), traceparent(tp))
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.version, self.status, self.reason)?;
        for (n, v) in &self.headers {
            write!(f, "\n  {n}: {v}")?;
        }
        let body = lossy(&self.body[..self.body.len().min(2000)]);
        write!(f, "\n  <{} body bytes> {body}", self.body.len())
    }
}

/// What the echo upstream received, as reported in its JSON answer.
#[derive(Debug, Clone)]
pub struct Echo {
    pub method: String,
    /// Request target exactly as received (path and query).
    pub target: String,
    pub version: String,
    /// Names lower-cased, in wire order.
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// [`Checksum`] of the body.
    pub body_sum: String,
    /// The body itself when at most 64 KiB (lossy UTF-8).
    pub body: Option<String>,
}

impl Echo {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_all(&self.headers, name)
    }

    pub fn header_list(&self, name: &str) -> Vec<String> {
        header_list(&self.headers, name)
    }
}

// ---------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------

/// A client connection: write anything, read responses in order.
pub struct Conn {
    pub wire: Wire<TcpStream>,
    host: String,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        Self::connect_result(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// [`Conn::connect`] that returns the error (for peers that may be gone).
    pub fn connect_result(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        Ok(Conn {
            wire: Wire::new(stream),
            host: addr.to_string(),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.wire.stream
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.wire.stream.write_all(bytes).expect("write to gateway");
    }

    /// The bytes of a request: `Host` first, then `headers`, then `Content-Length` when
    /// there is a body (or the method is POST/PUT/PATCH) and `headers` set no framing.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        let framed = headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if !framed && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Writes a request without reading the answer.
    pub fn send_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let bytes = self.request_bytes(method, path, headers, body);
        self.send(&bytes);
    }

    /// Sends a request and reads its final response (1xx skipped).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let bytes = self.request_bytes(method, path, headers, body);
        self.wire.stream.write_all(&bytes)?;
        self.try_read_final(method)
    }

    /// Reads the next response, 1xx included.
    pub fn read_response(&mut self, method: &str) -> Response {
        self.wire
            .read_response(method)
            .unwrap_or_else(|e| panic!("reading response: {e}"))
    }

    /// Reads the next final response, skipping 1xx.
    pub fn read_final(&mut self, method: &str) -> Response {
        self.try_read_final(method)
            .unwrap_or_else(|e| panic!("reading response: {e}"))
    }

    pub fn try_read_final(&mut self, method: &str) -> io::Result<Response> {
        loop {
            let resp = self.wire.read_response(method)?;
            if !(100..200).contains(&resp.status) {
                return Ok(resp);
            }
        }
    }

    /// True when the peer closes (FIN or reset) within `wait` without sending more bytes.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        if !self.wire.buffered().is_empty() {
            return false;
        }
        self.wire.stream.set_read_timeout(Some(wait)).unwrap();
        let mut b = [0u8; 1];
        let closed = match self.wire.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        self.wire
            .stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        closed
    }
}

/// What came back on a raw connection.
pub struct RawReply {
    pub bytes: Vec<u8>,
    /// The gateway closed the connection (FIN or reset) rather than going quiet.
    pub closed: bool,
}

impl RawReply {
    pub fn text(&self) -> String {
        lossy(&self.bytes)
    }

    /// The responses in the bytes, in order (responses to `methods[i]`, GET when missing).
    pub fn responses(&self) -> Vec<Response> {
        let mut wire = Wire::new(Cursor::new(self.bytes.clone()));
        let mut out = Vec::new();
        while let Ok(resp) = wire.read_response("GET") {
            out.push(resp);
        }
        out
    }

    /// The first response; panics with the raw bytes when there is none.
    pub fn first(&self) -> Response {
        self.responses()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no complete response in {:?}", self.text()))
    }
}

/// Writes `bytes` on a new connection in one write and reads until the gateway closes the
/// connection or stays silent for `quiet`.
pub fn send_raw(addr: SocketAddr, bytes: &[u8], quiet: Duration) -> RawReply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(bytes).unwrap();
    read_raw(&mut s, quiet)
}

/// Reads until close or `quiet` of silence.
pub fn read_raw(s: &mut TcpStream, quiet: Duration) -> RawReply {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                return RawReply {
                    bytes: out,
                    closed: true,
                }
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return RawReply {
                    bytes: out,
                    closed: false,
                }
            }
            Err(_) => {
                return RawReply {
                    bytes: out,
                    closed: true,
                }
            }
        }
    }
}
