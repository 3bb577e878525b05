//! A small Chrome DevTools Protocol driver: one headless Chromium with one page, driven
//! over the page target's WebSocket with JSON-RPC commands.
//!
//! [`Browser::launch`] starts [`super::chromium`] with a fresh profile and
//! `--remote-debugging-port=0`, reads the port Chromium chose from
//! `<profile>/DevToolsActivePort`, finds the page target in `/json/list` and connects to its
//! `webSocketDebuggerUrl`. Replies are matched to commands by `id`; events are kept (see
//! [`Browser::events`]) so a caller can wait for one or show them in a failure message.
//! Every wait has a deadline, so a hung browser fails the test instead of hanging it. The
//! browser's whole process group is killed, and its profile removed, on drop.

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// How long one command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to start and offer its page target.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Socket reads wake up this often to check their deadline.
const READ_SLICE: Duration = Duration::from_millis(250);

/// A headless Chromium driven over the DevTools protocol. Killed (with every process it
/// started) and its profile removed on drop.
pub struct Browser {
    child: Child,
    dir: PathBuf,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    events: Vec<Value>,
}

impl Browser {
    /// Starts Chromium on `about:blank` and connects to its page. Panics, with the
    /// browser's stderr, when it does not come up within 30 s.
    pub fn launch() -> Browser {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let exe = super::chromium();
        let dir = std::env::temp_dir().join(format!(
            "sluice-cdp-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let profile = dir.join("profile");
        fs::create_dir_all(&profile)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", profile.display()));
        let stderr = fs::File::create(dir.join("stderr.log"))
            .unwrap_or_else(|e| panic!("cannot create the browser's stderr log: {e}"));
        let child = Command::new(&exe)
            .args(super::HEADLESS_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            // Its own process group, so that drop can kill the renderers and helpers too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        // Until the WebSocket is up there is no Browser to drop, so clean up by hand.
        let mut pending = Pending {
            child: Some(child),
            dir: dir.clone(),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let port = pending.devtools_port(&profile, deadline);
        let ws_url = pending.page_ws_url(port, deadline);
        let ws = pending.connect(port, &ws_url);
        let child = pending
            .child
            .take()
            .expect("the browser process is still owned");
        let mut browser = Browser {
            child,
            dir,
            ws,
            next_id: 0,
            events: Vec::new(),
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call("Log.enable", json!({}));
        browser
    }

    /// Sends `method` with `params` and returns its `result`. Panics when the browser
    /// answers with an error or does not answer within 30 s.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("CDP {method}: {e}\n{}", self.diagnostics()))
    }

    /// [`Browser::call`] returning the protocol error instead of panicking on it.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(msg))
            .map_err(|e| format!("sending the command failed: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let Some(reply) = self.next_message(deadline)? else {
                return Err(format!("no reply within {COMMAND_TIMEOUT:?}"));
            };
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(err) = reply.get("error") {
                return Err(format!("error reply {err}"));
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value as
    /// JSON. Panics when it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = result.get("exceptionDetails") {
            panic!(
                "evaluating {expression:?} threw: {}\n{}",
                exception_text(ex),
                self.diagnostics()
            );
        }
        result["result"]["value"].clone()
    }

    /// Navigates to `url` and waits for its load event.
    pub fn navigate(&mut self, url: &str) {
        let from = self.events.len();
        let r = self.call("Page.navigate", json!({"url": url}));
        if let Some(err) = r.get("errorText").and_then(Value::as_str) {
            panic!("navigating to {url} failed: {err}\n{}", self.diagnostics());
        }
        self.wait_event_from(from, "Page.loadEventFired", COMMAND_TIMEOUT);
    }

    /// Reloads the page and waits for its load event.
    pub fn reload(&mut self) {
        let from = self.events.len();
        self.call("Page.reload", json!({"ignoreCache": true}));
        self.wait_event_from(from, "Page.loadEventFired", COMMAND_TIMEOUT);
    }

    /// Types `text` into the focused element, as an IME commit would.
    pub fn insert_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    /// Focuses the element with `id`. Panics when there is none.
    pub fn focus(&mut self, id: &str) {
        let found = self.eval(&format!(
            "(() => {{ const e = document.getElementById({}); if (!e) return false; \
             e.focus(); return document.activeElement === e; }})()",
            js_string(id)
        ));
        assert_eq!(
            found,
            Value::Bool(true),
            "cannot focus #{id}\n{}",
            self.diagnostics()
        );
    }

    /// Clicks the middle of the element with `id` with real mouse events (press and
    /// release of the left button). Panics when it is missing or not rendered.
    pub fn click(&mut self, id: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const e = document.getElementById({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width, h: r.height}}; }})()",
            js_string(id)
        ));
        let (Some(x), Some(y)) = (rect["x"].as_f64(), rect["y"].as_f64()) else {
            panic!(
                "cannot click #{id}: no such element\n{}",
                self.diagnostics()
            );
        };
        assert!(
            rect["w"].as_f64() > Some(0.0) && rect["h"].as_f64() > Some(0.0),
            "cannot click #{id}: it is not rendered ({rect})\n{}",
            self.diagnostics()
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Events received so far, oldest first.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Uncaught exceptions, console errors and browser log errors (a CSP violation, a failed
    /// load) received so far, one line each.
    pub fn page_errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(format!(
                        "exception: {}",
                        exception_text(&p["exceptionDetails"])
                    )),
                    "Runtime.consoleAPICalled" if p["type"] == "error" => {
                        let args: Vec<String> = p["args"]
                            .as_array()?
                            .iter()
                            .map(|a| a["value"].as_str().map_or(a.to_string(), str::to_string))
                            .collect();
                        Some(format!("console.error: {}", args.join(" ")))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
                        "log ({}): {} {}",
                        p["entry"]["source"].as_str().unwrap_or("?"),
                        p["entry"]["text"].as_str().unwrap_or(""),
                        p["entry"]["url"].as_str().unwrap_or("")
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// Page errors and the tail of the browser's stderr, for failure messages.
    pub fn diagnostics(&self) -> String {
        let errors = self.page_errors();
        let stderr = fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        format!(
            "--- page errors ({}) ---\n{}\n--- chromium stderr (tail) ---\n{}",
            errors.len(),
            errors.join("\n"),
            super::tail(&stderr, 20)
        )
    }

    /// Waits for an event named `method` (also among those already received) and returns
    /// it. Panics after `timeout`.
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Value {
        self.wait_event_from(0, method, timeout)
    }

    /// [`Browser::wait_event`] looking only at events after the first `from`.
    fn wait_event_from(&mut self, from: usize, method: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut seen = from;
        loop {
            if let Some(e) = self.events[seen..].iter().find(|e| e["method"] == method) {
                return e.clone();
            }
            seen = self.events.len();
            match self.next_message(deadline) {
                Ok(Some(_)) => {}
                Ok(None) => panic!(
                    "no {method} event within {timeout:?}\n{}",
                    self.diagnostics()
                ),
                Err(e) => panic!("waiting for {method}: {e}\n{}", self.diagnostics()),
            }
        }
    }

    /// The next message as JSON (an event is also kept in `events`), or `None` once
    /// `deadline` passed.
    fn next_message(&mut self, deadline: Instant) -> Result<Option<Value>, String> {
        loop {
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let v: Value = serde_json::from_str(text.as_str())
                        .map_err(|e| format!("unparsable CDP message ({e}): {text}"))?;
                    if v.get("method").is_some() {
                        self.events.push(v.clone());
                    }
                    return Ok(Some(v));
                }
                Ok(Message::Close(frame)) => {
                    return Err(format!("the browser closed the connection: {frame:?}"))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if timed_out(&e) => {}
                Err(e) => return Err(format!("reading from the browser: {e}")),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        kill_group(&mut self.child);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The browser while it starts: killed and its directory removed if startup panics.
struct Pending {
    child: Option<Child>,
    dir: PathBuf,
}

impl Pending {
    fn stderr(&self) -> String {
        super::tail(
            &fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default(),
            30,
        )
    }

    fn check_alive(&mut self, what: &str) {
        let child = self
            .child
            .as_mut()
            .expect("the browser process is still owned");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "chromium exited ({status}) while {what}\n--- stderr ---\n{}",
                self.stderr()
            );
        }
    }

    /// The first line of `DevToolsActivePort`, written once the debugging port is bound.
    fn devtools_port(&mut self, profile: &std::path::Path, deadline: Instant) -> u16 {
        let file = profile.join("DevToolsActivePort");
        loop {
            let port = fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next()?.trim().parse::<u16>().ok());
            if let Some(port) = port.filter(|p| *p != 0) {
                return port;
            }
            self.check_alive("waiting for DevToolsActivePort");
            assert!(
                Instant::now() < deadline,
                "chromium wrote no {} within {STARTUP_TIMEOUT:?}\n--- stderr ---\n{}",
                file.display(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `webSocketDebuggerUrl` of the first `page` target in `/json/list`.
    fn page_ws_url(&mut self, port: u16, deadline: Instant) -> String {
        loop {
            let last = match http_get(port, "/json/list") {
                Ok(body) => {
                    let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let url = targets.as_array().and_then(|list| {
                        list.iter()
                            .find(|t| t["type"] == "page")
                            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    });
                    if let Some(url) = url {
                        return url.to_string();
                    }
                    body
                }
                Err(e) => e.to_string(),
            };
            self.check_alive("waiting for a page target");
            assert!(
                Instant::now() < deadline,
                "no page target in http://127.0.0.1:{port}/json/list within \
                 {STARTUP_TIMEOUT:?}; last answer: {last}\n--- stderr ---\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn connect(&mut self, port: u16, ws_url: &str) -> WebSocket<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot connect to the DevTools port {port}: {e}"));
        stream
            .set_read_timeout(Some(COMMAND_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(COMMAND_TIMEOUT)))
            .expect("set DevTools socket timeouts");
        let (ws, _) = tungstenite::client(ws_url, stream)
            .unwrap_or_else(|e| panic!("WebSocket handshake with {ws_url} failed: {e}"));
        // A short read timeout turns each blocking read into a deadline check (see
        // next_message); tungstenite keeps a partly read frame across the timeouts.
        ws.get_ref()
            .set_read_timeout(Some(READ_SLICE))
            .expect("set DevTools read timeout");
        ws
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            kill_group(child);
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Kills the process group `child` leads (the browser and everything it started).
fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) has no memory-safety preconditions; the group is the one spawned
    // with process_group(0), whose id is the child's pid.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `GET path` on the DevTools HTTP port; the body of a 200.
fn http_get(port: u16, path: &str) -> io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    // Read until the whole body (by content-length) is in, or the server closes.
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|len| raw.len() >= end + 4 + len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no HTTP head in {text:?}")))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!(
            "GET {path}: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_string())
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A JS string literal holding `s`.
pub fn js_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The message of a CDP `exceptionDetails`.
fn exception_text(ex: &Value) -> String {
    let description = ex["exception"]["description"].as_str();
    let text = ex["text"].as_str().unwrap_or("exception");
    match description {
        Some(d) => format!("{text} {d}"),
        None => format!("{text} at {}:{}", ex["lineNumber"], ex["columnNumber"]),
    }
}
