//! Driving a real headless Chromium from the integration tests.
//!
//! - [`chromium`]: the browser binary (`$SLUICE_CHROMIUM`, else Debian's `/usr/bin/chromium`),
//!   installed with `apt-get install -y chromium` when missing and the tests run as root.
//!   Otherwise the test fails with a message saying how to install it: a browser test must
//!   never pass without a browser.
//! - [`PageServer`]: a tiny HTTP/1.1 server on `127.0.0.1:0` serving one HTML page (the
//!   page's origin is `http://127.0.0.1:PORT`).
//! - [`dump_dom`]: `chromium --headless ... --dump-dom URL`, the serialized DOM after the
//!   page's scripts ran within a virtual time budget.
#![allow(dead_code)]
pub mod cdp;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Flags for every headless run: no sandbox (tests run as root), and none of the
/// background connections this machine's closed network would refuse.
pub const HEADLESS_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
];

/// Where Debian's package puts the browser.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// The Chromium binary, installing Debian's package when it is missing and we are root.
/// Panics (never skips) when no browser can be had.
pub fn chromium() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    if let Some(p) = std::env::var_os("SLUICE_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "SLUICE_CHROMIUM={} is not a file", p.display());
        return p;
    }
    let path = PathBuf::from(DEBIAN_CHROMIUM);
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if path.is_file() {
        return path;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "headless Chromium is required for the CORS browser test but {DEBIAN_CHROMIUM} is \
         missing and the tests do not run as root, so it cannot be installed here. Install it \
         with `sudo apt-get install -y chromium` (or point SLUICE_CHROMIUM at a Chromium \
         binary) and run the test again."
    );
    eprintln!("{DEBIAN_CHROMIUM} is missing: running apt-get install -y chromium");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run apt-get to install chromium: {e}"))
    };
    let mut out = apt(&["install", "-y", "chromium"]);
    if !out.status.success() {
        // Stale or missing package lists: refresh once and retry.
        let _ = apt(&["update"]);
        out = apt(&["install", "-y", "chromium"]);
    }
    assert!(
        out.status.success() && path.is_file(),
        "apt-get install -y chromium failed ({}); the CORS browser test needs Debian's \
         chromium package.\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 30),
        tail(&String::from_utf8_lossy(&out.stderr), 30),
    );
    path
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A one-page HTTP server: a GET of `path` gets the page set with [`PageServer::set_html`]
/// (other paths a 404), each connection closed after one answer. Bound at once, so its
/// origin is known before the page is written. Stops on drop.
pub struct PageServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    html: Arc<Mutex<String>>,
}

impl PageServer {
    pub fn start(path: &str) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let html = Arc::new(Mutex::new(String::new()));
        let (st, count, page) = (stop.clone(), requests.clone(), html.clone());
        let path = path.to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut s) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let target = line.split(' ').nth(1).unwrap_or("");
                let (status, ctype, body) = if target == path {
                    (
                        "200 OK",
                        "text/html; charset=utf-8",
                        page.lock().unwrap().clone(),
                    )
                } else {
                    ("404 Not Found", "text/plain", "not here".to_string())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\
                     cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        PageServer {
            port,
            stop,
            requests,
            html,
        }
    }

    /// The page served from now on.
    pub fn set_html(&self, html: String) {
        *self.html.lock().unwrap() = html;
    }

    /// `http://127.0.0.1:PORT`, the page's origin.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// What Chromium printed for `--dump-dom`.
pub struct Dump {
    pub dom: String,
    pub stderr: String,
}

/// Loads `url` in headless Chromium with a fresh profile in `profile_dir` and returns the
/// DOM once the virtual time budget ran out. Panics when the browser does not finish
/// within `timeout` or exits with an error.
pub fn dump_dom(url: &str, profile_dir: &Path, budget_ms: u32, timeout: Duration) -> Dump {
    let browser = chromium();
    let mut child = Command::new(&browser)
        .args(HEADLESS_FLAGS)
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    // Read both pipes on threads so a chatty browser never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "chromium did not finish within {timeout:?} loading {url}\n--- stderr ---\n{}",
                tail(&stderr, 40)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let dom = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        status.success() && !dom.is_empty(),
        "chromium failed ({status}) loading {url}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        tail(&dom, 20),
        tail(&stderr, 40)
    );
    Dump { dom, stderr }
}

/// The text content of the first element with `id` in a serialized DOM (entities decoded).
pub fn element_text(dom: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = dom.find(&marker)?;
    let open_end = at + dom[at..].find('>')? + 1;
    let close = open_end + dom[open_end..].find("</")?;
    Some(unescape(&dom[open_end..close]))
}

/// `<title>` of a serialized DOM.
pub fn title(dom: &str) -> Option<String> {
    let start = dom.find("<title>")? + "<title>".len();
    let end = start + dom[start..].find("</title>")?;
    Some(unescape(&dom[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}
