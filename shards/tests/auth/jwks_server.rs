//! A JWKS document server the test controls: swap the document (key rotation), count the
//! fetches, take it down mid-test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Path the document is served at; anything else gets 404.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What the server answers on [`JWKS_PATH`].
#[derive(Debug, Clone)]
pub enum JwksReply {
    /// 200 `application/json` with this body.
    Document(String),
    /// This status with a short text body.
    Status(u16),
}

struct State {
    reply: Mutex<JwksReply>,
    fetches: AtomicUsize,
    stop: AtomicBool,
}

/// A running JWKS server on `127.0.0.1:0`, one request per connection (as the gateway's
/// side-call client sends them). Stops on drop or [`JwksServer::take_down`].
pub struct JwksServer {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    /// Serves `reply` on [`JWKS_PATH`].
    pub fn start(reply: JwksReply) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            reply: Mutex::new(reply),
            fetches: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    // Returning drops the listener: the port refuses connections from now on.
                    return;
                }
                if let Ok(stream) = stream {
                    let _ = serve(stream, &st);
                }
            }
        });
        JwksServer {
            addr,
            state,
            thread: Some(thread),
        }
    }

    /// Serves `jwks` (a JSON value) as the document.
    pub fn serving(jwks: &serde_json::Value) -> JwksServer {
        Self::start(JwksReply::Document(jwks.to_string()))
    }

    /// `http://127.0.0.1:PORT/.well-known/jwks.json`.
    pub fn url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    /// Replaces the document (or status) served from now on.
    pub fn set(&self, reply: JwksReply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    /// Replaces the document with `jwks`.
    pub fn set_jwks(&self, jwks: &serde_json::Value) {
        self.set(JwksReply::Document(jwks.to_string()));
    }

    /// Requests for [`JWKS_PATH`] received so far (whatever was answered).
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Stops listening and closes the port; later connections are refused. Idempotent.
    pub fn take_down(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        thread.join().unwrap();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.take_down();
    }
}

fn serve(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut start = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (start.next().unwrap_or(""), start.next().unwrap_or(""));
    let (status, content_type, body) = if method == "GET" && target == JWKS_PATH {
        state.fetches.fetch_add(1, Ordering::SeqCst);
        match state.reply.lock().unwrap().clone() {
            JwksReply::Document(doc) => (200, "application/json", doc),
            JwksReply::Status(s) => (s, "text/plain", format!("status {s}")),
        }
    } else {
        (404, "text/plain", "not found".to_string())
    };
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
