//! Harness shared by the gateway's integration tests.
//!
//! - [`TestUpstream`]: an in-process HTTP/1.1 upstream on std threads, echoing requests as
//!   JSON or replaying canned responses, counting the connections it accepts.
//! - [`Gateway`]: the `sluice` binary run on a temp config, killed on drop; its stderr is
//!   kept in a file and printed when a test fails.
//! - [`Conn`] and [`send_raw`]: a small HTTP/1.1 client over raw TCP, for keep-alive,
//!   pipelining and byte-exact wire tests.
//!
//! Everything binds `127.0.0.1:0`; nothing depends on a fixed port or a running service.
#![allow(dead_code, unused_imports)] // each test file uses a different part of the harness

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

mod gateway;
mod upstream;
mod wire;

pub use gateway::*;
pub use upstream::*;
pub use wire::*;

/// Path of the binary under test.
pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// Longest head either side of the harness accepts.
const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// Bodies up to this size are returned verbatim in the echo JSON.
const ECHO_BODY_MAX: u64 = 64 * 1024;
/// Period of [`pattern_at`]; prime so that a shifted stream never lines up by accident.
pub const PATTERN_PERIOD: u64 = 251;
/// Largest slice [`pattern_at`] returns.
pub const PATTERN_CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// Strips the common leading indentation so tests can indent their YAML.
pub fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out.trim_start_matches('\n').to_string()
}

/// A port that was free a moment ago (bind `127.0.0.1:0`, read it, drop the listener).
pub fn free_port() -> u16 {
    free_port_on(std::net::Ipv4Addr::LOCALHOST.into())
}

/// A port on `ip` that was free a moment ago.
pub fn free_port_on(ip: std::net::IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deterministic bytes: `pattern_at(o, n)` is bytes `o..o+n` of the stream `i % 251`.
/// `n` is at most [`PATTERN_CHUNK`].
pub fn pattern_at(offset: u64, len: usize) -> &'static [u8] {
    static BUF: OnceLock<Vec<u8>> = OnceLock::new();
    let buf = BUF.get_or_init(|| {
        (0..PATTERN_CHUNK as u64 + PATTERN_PERIOD)
            .map(|i| (i % PATTERN_PERIOD) as u8)
            .collect()
    });
    assert!(len <= PATTERN_CHUNK);
    let start = (offset % PATTERN_PERIOD) as usize;
    &buf[start..start + len]
}

/// A position-dependent 64-bit checksum (FNV-1a over 8-byte words), cheap enough for
/// hundreds of MiB in a debug build. Both the echo upstream and the tests use it.
#[derive(Clone)]
pub struct Checksum {
    state: u64,
    tail: Vec<u8>,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self {
            state: 0xcbf2_9ce4_8422_2325,
            tail: Vec::with_capacity(8),
            len: 0,
        }
    }
}

impl Checksum {
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.tail.is_empty() {
            let take = (8 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() < 8 {
                return;
            }
            let word = u64::from_le_bytes(self.tail[..].try_into().unwrap());
            self.word(word);
            self.tail.clear();
        }
        let words = data.chunks_exact(8);
        let rest = words.remainder();
        for w in words {
            self.word(u64::from_le_bytes(w.try_into().unwrap()));
        }
        self.tail.extend_from_slice(rest);
    }

    fn word(&mut self, w: u64) {
        self.state = (self.state ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// Hex digest covering the bytes and their count.
    pub fn finish(&self) -> String {
        let mut c = self.clone();
        let mut last = [0u8; 8];
        last[..c.tail.len()].copy_from_slice(&c.tail);
        c.word(u64::from_le_bytes(last));
        c.word(c.len);
        format!("{:016x}", c.state)
    }

    pub fn of(data: &[u8]) -> String {
        let mut c = Checksum::default();
        c.update(data);
        c.finish()
    }
}

/// A temp directory removed on drop, kept (and its path printed) when the test panicked.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sluice-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` atomically (temp file + rename), so a reloading gateway never
    /// reads half a file.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        let tmp = self.0.join(format!(".{name}.tmp"));
        fs::write(&tmp, contents).unwrap();
        fs::rename(&tmp, &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("(kept test files in {})", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `sluice ARGS` to completion.
pub fn sluice(args: &[&str]) -> Output {
    Command::new(SLUICE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice")
}

/// Asserts `s` is a UUID v4 (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, lower or upper hex).
pub fn assert_uuid_v4(s: &str) {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "not a UUID: {s:?}");
    assert!(
        s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "not a UUID: {s:?}"
    );
    assert!(parts[2].starts_with('4'), "UUID is not version 4: {s:?}");
    assert!(
        matches!(
            parts[3].chars().next(),
            Some('8' | '9' | 'a' | 'b' | 'A' | 'B')
        ),
        "UUID variant is not RFC 4122: {s:?}"
    );
}

/// A parsed W3C `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceparent {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: String,
}

/// Parses a `traceparent` and asserts it is valid: version `00`, lower-case hex,
/// non-zero trace id and parent id.
pub fn traceparent(s: &str) -> Traceparent {
    parse_traceparent(s).unwrap_or_else(|why| panic!("{why}"))
}

pub fn parse_traceparent(s: &str) -> Result<Traceparent, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    let lower_hex = |p: &str| p.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    let non_zero = |p: &str| p.chars().any(|c| c != '0');
    if lens != [2, 32, 16, 2] || parts[0] != "00" || !parts.iter().all(|p| lower_hex(p)) {
        return Err(format!("malformed traceparent {s:?}"));
    }
    if !non_zero(parts[1]) || !non_zero(parts[2]) {
        return Err(format!("all-zero id in traceparent {s:?}"));
    }
    Ok(Traceparent {
        trace_id: parts[1].to_string(),
        parent_id: parts[2].to_string(),
        flags: parts[3].to_string(),
    })
}

/// Asserts a gateway-made error: status, `application/json`,
/// `{"error":code,"message":"..","statusCode":status,"requestId":<the x-request-id header>}`,
/// and a valid `traceparent`.
pub fn assert_gateway_error(resp: &Response, status: u16, code: &str) {
    if let Err(why) = check_gateway_error(resp, status, code) {
        panic!("{why}");
    }
}

/// [`assert_gateway_error`] as a `Result`, for table-driven tests.
pub fn check_gateway_error(resp: &Response, status: u16, code: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}, expected a {status} {code} error: {resp}"));
    if resp.status != status {
        return fail("wrong status");
    }
    let ct = resp.header("content-type").unwrap_or_default();
    if !ct.starts_with("application/json") {
        return fail("content-type is not application/json");
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return fail("body is not JSON");
    };
    if json["error"] != code {
        return fail("wrong error code");
    }
    if json["statusCode"] != status {
        return fail("wrong statusCode");
    }
    match json["message"].as_str() {
        Some(m) if !m.is_empty() => {}
        _ => return fail("message is not a non-empty string"),
    }
    let Some(rid) = resp.header("x-request-id") else {
        return fail("no x-request-id header");
    };
    if json["requestId"] != rid {
        return fail("requestId differs from the x-request-id header");
    }
    let Some(tp) = resp.header("traceparent") else {
        return fail("no traceparent header");
    };
    if parse_traceparent(tp).is_err() {
        return fail("invalid traceparent");
    }
    Ok(())
}

/// Makes sure `import requests` works, installing it with pip when missing.
pub fn ensure_python_requests() {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import requests"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return;
    }
    let pip = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "requests"])
        .output()
        .expect("python3 must be installed for this test");
    assert!(
        importable(),
        "python3 cannot import `requests` and `pip install requests` did not fix it:\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
}
