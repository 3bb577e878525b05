//! A controllable upstream for the upstream-group and resilience tests: its behaviour can be
//! changed while the test runs (answer, fail, slow down, stall), it can be killed (listener
//! closed and every open connection shut) and revived on the same port, and it logs every
//! request with its arrival time.
//!
//! Requests to [`HEALTH_PATH`] follow a separate behaviour, so a target can fail its health
//! checks while still serving traffic (or the other way round).
#![allow(dead_code)]

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::{parse_head, poll, Wire};

/// The path active health checks are pointed at in these tests.
pub const HEALTH_PATH: &str = "/healthz";

/// What the backend does with a request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// 200, `text/plain`, body = the backend's name; header `x-backend: name`.
    Ok,
    /// This status with the backend's name as body.
    Status(u16),
    /// Waits, then behaves like the inner one.
    Delay(Duration, Box<Behavior>),
    /// Closes the connection with a TCP reset before any response byte.
    Reset,
    /// Never answers; the connection is held until the backend is killed (or 30 s).
    Hang,
    /// A chunked 200 with `content-type`; each `(wait, data)` is one chunk written after
    /// `wait`. `finish` false leaves the body unterminated and the connection open (a stall).
    Chunks {
        content_type: String,
        chunks: Vec<(Duration, Vec<u8>)>,
        finish: bool,
    },
    /// A 200 with `Content-Length: len`, written as the `(wait, data)` pieces; when they add up
    /// to less than `len` the connection then stalls (held open, nothing more is sent).
    Sized {
        len: usize,
        pieces: Vec<(Duration, Vec<u8>)>,
    },
    /// 200 without framing, pieces as for `Sized`, then the connection is closed.
    UntilClose { pieces: Vec<(Duration, Vec<u8>)> },
}

impl Behavior {
    pub fn delayed(by: Duration, then: Behavior) -> Behavior {
        Behavior::Delay(by, Box::new(then))
    }
}

/// One request as the backend received it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub at: Instant,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    name: String,
    behavior: Mutex<Behavior>,
    health: Mutex<Behavior>,
    hits: Mutex<Vec<Hit>>,
    health_hits: Mutex<Vec<Instant>>,
}

/// A running (or killed) backend.
pub struct Backend {
    shared: Arc<Shared>,
    addr: SocketAddr,
    life: Option<Life>,
}

/// One incarnation: the accept loop and the connections it accepted.
struct Life {
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl Backend {
    /// Starts a backend named `name` answering [`Behavior::Ok`] (health checks too).
    pub fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            name: name.to_string(),
            behavior: Mutex::new(Behavior::Ok),
            health: Mutex::new(Behavior::Ok),
            hits: Mutex::default(),
            health_hits: Mutex::default(),
        });
        let mut b = Backend {
            shared,
            addr,
            life: None,
        };
        b.life = Some(b.run(listener));
        b
    }

    /// Starts a backend that answers `behavior`.
    pub fn with(name: &str, behavior: Behavior) -> Backend {
        let b = Backend::start(name);
        b.set(behavior);
        b
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes what later requests (not health checks) get.
    pub fn set(&self, behavior: Behavior) {
        *self.shared.behavior.lock().unwrap() = behavior;
    }

    /// Changes what later health checks get.
    pub fn set_health(&self, behavior: Behavior) {
        *self.shared.health.lock().unwrap() = behavior;
    }

    /// Requests received so far (health checks excluded).
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.hits.lock().unwrap().len()
    }

    /// Health checks received so far.
    pub fn health_count(&self) -> usize {
        self.shared.health_hits.lock().unwrap().len()
    }

    /// Waits until at least `n` health checks arrived.
    pub fn wait_health_checks(&self, n: usize, timeout: Duration) -> bool {
        poll(timeout, || self.health_count() >= n)
    }

    pub fn is_alive(&self) -> bool {
        self.life.is_some()
    }

    /// Closes the listener (new connections are refused) and shuts every open connection.
    pub fn kill(&mut self) {
        if let Some(life) = self.life.take() {
            life.stop.store(true, Ordering::SeqCst);
            let _ = life.accept.join();
            for c in life.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same port (after [`Backend::kill`]).
    pub fn revive(&mut self) {
        assert!(self.life.is_none(), "{} is alive", self.name());
        let mut last = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr) {
                Ok(l) => {
                    self.life = Some(self.run(l));
                    return;
                }
                Err(e) => last = Some(e),
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("cannot rebind {}: {last:?}", self.addr);
    }

    fn run(&self, listener: TcpListener) -> Life {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (st, cs, sh) = (stop.clone(), conns.clone(), self.shared.clone());
        let accept = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        if let Ok(c) = s.try_clone() {
                            cs.lock().unwrap().push(c);
                        }
                        let (sh, st) = (sh.clone(), st.clone());
                        thread::spawn(move || {
                            let _ = serve(s, &sh, &st);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Life {
            stop,
            conns,
            accept,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sleeps `d`, waking early when the backend is killed; false when killed.
fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep((end - Instant::now()).min(Duration::from_millis(5)));
    }
    !stop.load(Ordering::SeqCst)
}

fn hold(stop: &AtomicBool) {
    nap(Duration::from_secs(30), stop);
}

fn serve(stream: TcpStream, sh: &Shared, stop: &AtomicBool) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut wire = Wire::new(stream);
    loop {
        let Some(head) = wire.read_head()? else {
            return Ok(());
        };
        let (start, headers) = parse_head(&head);
        let mut parts = start.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let find = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let mut body_len = 0usize;
        if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            wire.read_chunked_to(&mut |b| body_len += b.len())?;
        } else if let Some(cl) = find("content-length") {
            let n: u64 = cl.trim().parse().unwrap_or(0);
            wire.read_exact_to(n, &mut |b| body_len += b.len())?;
        }
        let client_closes = find("connection").is_some_and(|v| v.contains("close"));
        let health = target.starts_with(HEALTH_PATH);
        let behavior = if health {
            sh.health_hits.lock().unwrap().push(Instant::now());
            sh.health.lock().unwrap().clone()
        } else {
            sh.hits.lock().unwrap().push(Hit {
                at: Instant::now(),
                method: method.clone(),
                target: target.clone(),
                headers: headers.clone(),
                body_len,
            });
            sh.behavior.lock().unwrap().clone()
        };
        let keep = respond(&mut wire.stream, behavior, &sh.name, method == "HEAD", stop)?;
        if !keep || client_closes {
            let _ = wire.stream.flush();
            let _ = wire.stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Writes the answer; true when the connection may serve another request.
fn respond(
    s: &mut TcpStream,
    mut behavior: Behavior,
    name: &str,
    head_only: bool,
    stop: &AtomicBool,
) -> io::Result<bool> {
    while let Behavior::Delay(d, inner) = behavior {
        if !nap(d, stop) {
            return Ok(false);
        }
        behavior = *inner;
    }
    let simple = |s: &mut TcpStream, status: u16| -> io::Result<bool> {
        if status == 204 || status == 304 {
            write!(s, "HTTP/1.1 {status} X\r\nx-backend: {name}\r\n\r\n")?;
            return Ok(true);
        }
        write!(
            s,
            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\nx-backend: {name}\r\ncontent-length: {}\r\n\r\n",
            name.len()
        )?;
        if !head_only {
            s.write_all(name.as_bytes())?;
        }
        Ok(true)
    };
    match behavior {
        Behavior::Ok => simple(s, 200),
        Behavior::Status(code) => simple(s, code),
        Behavior::Delay(..) => unreachable!(),
        Behavior::Reset => {
            socket2::SockRef::from(&*s).set_linger(Some(Duration::ZERO))?;
            Ok(false)
        }
        Behavior::Hang => {
            hold(stop);
            Ok(false)
        }
        Behavior::Chunks {
            content_type,
            chunks,
            finish,
        } => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\nx-backend: {name}\r\ntransfer-encoding: chunked\r\n\r\n"
            )?;
            s.flush()?;
            for (wait, data) in chunks {
                if !nap(wait, stop) {
                    return Ok(false);
                }
                write!(s, "{:x}\r\n", data.len())?;
                s.write_all(&data)?;
                s.write_all(b"\r\n")?;
                s.flush()?;
            }
            if finish {
                s.write_all(b"0\r\n\r\n")?;
                Ok(true)
            } else {
                hold(stop);
                Ok(false)
            }
        }
        Behavior::Sized { len, pieces } => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nx-backend: {name}\r\ncontent-length: {len}\r\n\r\n"
            )?;
            s.flush()?;
            let mut sent = 0;
            for (wait, data) in pieces {
                if !nap(wait, stop) {
                    return Ok(false);
                }
                s.write_all(&data)?;
                s.flush()?;
                sent += data.len();
            }
            if sent < len {
                hold(stop);
                return Ok(false);
            }
            Ok(true)
        }
        Behavior::UntilClose { pieces } => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-backend: {name}\r\n\r\n"
            )?;
            s.flush()?;
            for (wait, data) in pieces {
                if !nap(wait, stop) {
                    return Ok(false);
                }
                s.write_all(&data)?;
                s.flush()?;
            }
            Ok(false)
        }
    }
}

/// Counts, per backend name, how many of `bodies` each served.
pub fn tally<'a>(
    bodies: impl IntoIterator<Item = &'a str>,
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for b in bodies {
        *m.entry(b.to_string()).or_insert(0) += 1;
    }
    m
}
