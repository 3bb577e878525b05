//! The in-process test upstream.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::wire::{header, lossy};
use super::*;

// ---------------------------------------------------------------------------------------
// TestUpstream
// ---------------------------------------------------------------------------------------

/// What the upstream answers on a route.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a JSON report of the request (see [`Echo`]).
    Echo,
    /// A response with `Content-Length` added (none for 1xx/204/304; no body bytes for HEAD).
    Fixed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with `Transfer-Encoding: chunked`, one chunk per element.
    Chunked {
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
    },
    /// 200 without `Content-Length`; the body ends when the upstream closes.
    CloseDelimited { body: Vec<u8> },
    /// 200 with `Content-Length: len` and [`pattern_at`] bytes, written in 64 KiB pieces.
    Stream { len: u64 },
    /// Bytes written as they are; the connection stays open.
    Raw(Vec<u8>),
    /// Bytes written as they are, then the connection is closed.
    RawThenClose(Vec<u8>),
    /// Closes the connection with a TCP reset, before any response byte.
    Reset,
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Reply {
        Reply::Fixed {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_headers(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply::Fixed {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn delayed(by: Duration, reply: Reply) -> Reply {
        Reply::Delay(by, Box::new(reply))
    }
}

/// One request as the upstream received it, recorded after its whole body was read.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// [`Checksum`] of the body as received (after chunked decoding).
    pub body_sum: String,
}

/// Builder of an in-process upstream: `TestUpstream::new().route("/slow", reply).start()`.
/// Unrouted paths get [`Reply::Echo`].
#[derive(Default)]
pub struct TestUpstream {
    routes: Vec<(String, Reply)>,
    close_idle_after: Option<Duration>,
    answer_first_request_only: bool,
}

#[derive(Default)]
struct UpstreamState {
    connections: AtomicUsize,
    heads: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// A running upstream; stops accepting on drop.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
    stop: Arc<AtomicBool>,
}

impl TestUpstream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers targets starting with `prefix` (longest prefix wins) with `reply`.
    pub fn route(mut self, prefix: &str, reply: Reply) -> Self {
        self.routes.push((prefix.to_string(), reply));
        self
    }

    /// Keeps each connection alive after a response (no `Connection: close`), then closes
    /// it silently once it has been idle for `idle`.
    pub fn close_idle_after(mut self, idle: Duration) -> Self {
        self.close_idle_after = Some(idle);
        self
    }

    /// Answers only the first request of each connection; on a later one it closes the
    /// connection before any response byte, like a server that timed the connection out
    /// just as the request arrived.
    pub fn answer_first_request_only(mut self) -> Self {
        self.answer_first_request_only = true;
        self
    }

    pub fn start(self) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(self);
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let (st, config) = (st.clone(), config.clone());
                thread::spawn(move || {
                    let _ = serve_connection(stream, &config, &st);
                });
            }
        });
        Upstream { addr, state, stop }
    }
}

impl Upstream {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces `$UP` in `yaml` with this upstream's port.
    pub fn fill(&self, yaml: &str) -> String {
        yaml.replace("$UP", &self.port().to_string())
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Request heads received so far (bodies possibly still in flight).
    pub fn heads(&self) -> usize {
        self.state.heads.load(Ordering::SeqCst)
    }

    /// Requests received completely, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` request heads arrived; false on timeout.
    pub fn wait_heads(&self, n: usize, timeout: Duration) -> bool {
        poll(timeout, || self.heads() >= n)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve_connection(
    stream: TcpStream,
    config: &TestUpstream,
    state: &UpstreamState,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut wire = Wire::new(stream);
    let mut served = 0usize;
    loop {
        let idle = if served == 0 {
            None
        } else {
            config.close_idle_after
        };
        wire.stream
            .set_read_timeout(Some(idle.unwrap_or(Duration::from_secs(60))))?;
        let head = match wire.read_head() {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Idle for too long: close without a word, like a server whose keep-alive
                // timeout fired.
                return wire.stream.shutdown(Shutdown::Both);
            }
            Err(e) => return Err(e),
        };
        wire.stream
            .set_read_timeout(Some(Duration::from_secs(60)))?;
        state.heads.fetch_add(1, Ordering::SeqCst);
        let (start, headers) = parse_head(&head);
        let mut parts = start.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("").to_string();

        if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            wire.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut sum = Checksum::default();
        let mut body = Vec::new();
        {
            let mut sink = |b: &[u8]| {
                sum.update(b);
                if (body.len() as u64) < ECHO_BODY_MAX + 1 {
                    body.extend_from_slice(b);
                }
            };
            if header(&headers, "transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
            {
                wire.read_chunked_to(&mut sink)?;
            } else if let Some(cl) = header(&headers, "content-length") {
                let cl = cl
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "CL"))?;
                wire.read_exact_to(cl, &mut sink)?;
            }
        }
        let body_len = sum.len;
        if config.answer_first_request_only && served > 0 {
            return wire.stream.shutdown(Shutdown::Both);
        }
        served += 1;
        state.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            headers: headers.clone(),
            body_len,
            body_sum: sum.finish(),
        });

        let reply = config
            .routes
            .iter()
            .filter(|(prefix, _)| target.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, r)| r.clone())
            .unwrap_or(Reply::Echo);
        let head_only = method == "HEAD";
        let mut reply = reply;
        while let Reply::Delay(by, inner) = reply {
            thread::sleep(by);
            reply = *inner;
        }
        let s = &mut wire.stream;
        let keep_open = match reply {
            Reply::Echo => {
                let json = serde_json::json!({
                    "method": method,
                    "target": target,
                    "version": version,
                    "headers": headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
                    "body_len": body_len,
                    "body_sum": sum.finish(),
                    "body": (body_len <= ECHO_BODY_MAX).then(|| lossy(&body)),
                })
                .to_string();
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    json.len()
                )?;
                if !head_only {
                    s.write_all(json.as_bytes())?;
                }
                true
            }
            Reply::Fixed {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (n, v) in &headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
                if !bodiless && header(&headers, "content-length").is_none() {
                    out.push_str(&format!("content-length: {}\r\n", body.len()));
                }
                out.push_str("\r\n");
                s.write_all(out.as_bytes())?;
                if !bodiless && !head_only {
                    s.write_all(&body)?;
                }
                // A canned `connection: close` is meant: close after answering.
                !header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            }
            Reply::Chunked { headers, chunks } => {
                let mut out = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n".to_string();
                for (n, v) in &headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                out.push_str("\r\n");
                s.write_all(out.as_bytes())?;
                if !head_only {
                    for c in chunks.iter().filter(|c| !c.is_empty()) {
                        write!(s, "{:x}\r\n", c.len())?;
                        s.write_all(c)?;
                        s.write_all(b"\r\n")?;
                        s.flush()?;
                    }
                    s.write_all(b"0\r\n\r\n")?;
                }
                true
            }
            Reply::CloseDelimited { body } => {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\r\n")?;
                if !head_only {
                    s.write_all(&body)?;
                }
                false
            }
            Reply::Stream { len } => {
                write!(s, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\n\r\n")?;
                if !head_only {
                    let mut sent = 0u64;
                    while sent < len {
                        let n = (len - sent).min(PATTERN_CHUNK as u64) as usize;
                        s.write_all(pattern_at(sent, n))?;
                        sent += n as u64;
                    }
                }
                true
            }
            Reply::Raw(bytes) => {
                s.write_all(&bytes)?;
                true
            }
            Reply::RawThenClose(bytes) => {
                s.write_all(&bytes)?;
                false
            }
            Reply::Reset => {
                socket2::SockRef::from(&*s).set_linger(Some(Duration::ZERO))?;
                false
            }
            Reply::Delay(..) => unreachable!("delays are unwrapped above"),
        };
        let client_closes = header(&headers, "connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (version == "HTTP/1.0"
                && !header(&headers, "connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
        if !keep_open || client_closes {
            let _ = s.flush();
            let _ = s.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        418 => "I'm a teapot",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
