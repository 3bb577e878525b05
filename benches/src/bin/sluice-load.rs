//! `sluice-load`: a closed-loop HTTP/1.1 keep-alive load generator.
//!
//! One thread, one monoio runtime, `--connections` connections. Each connection sends one
//! pre-encoded `GET`, waits for the whole response, records the latency and sends the next.
//! Requests that complete during `--warmup` are not recorded. Latency percentiles come from
//! one `hdrhistogram` (3 significant figures) shared by all connections.
//!
//! While running it writes two marker lines to stderr, `sluice-load: measuring` when the
//! warmup ends and `sluice-load: window end` when the measured window closes, so a driving
//! script can sample server CPU time over exactly the window the requests are counted in.
//!
//! A response that is not well-formed HTTP/1.1 with `Content-Length` or chunked framing
//! stops the run with exit status 2; closed or reset connections count as errors and are
//! reconnected.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, Runtime, RuntimeBuilder};

/// Per-connection read buffer; a response head must fit in it.
const READ_BUF_BYTES: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted before the response counts as malformed.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Highest latency the histogram tracks (60 s); longer ones are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Pause after a failed connect, so a dead server does not turn the run into a busy loop.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// How long after the window closes to wait for connections to notice and stop.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Granularity at which the main task checks for a fatal error while it waits.
const WAIT_STEP: Duration = Duration::from_millis(50);

#[derive(Parser, Debug)]
#[command(
    name = "sluice-load",
    about = "Closed-loop HTTP/1.1 keep-alive load generator (one thread, monoio)"
)]
struct Args {
    /// Target URL, `http://HOST:PORT/PATH` (plain HTTP only).
    #[arg(long)]
    url: String,
    /// Number of concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of the measured window, e.g. `10s`, `500ms`, `1m`; a bare number is seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Time to run before the measured window starts; nothing in it is recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Extra request header `"name: value"`; repeatable. A `Host` header replaces the default.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Print one JSON object instead of the human-readable table.
    #[arg(long)]
    json: bool,
    /// I/O driver: `auto` tries io_uring and falls back to the legacy (epoll) driver.
    #[arg(long, value_enum, default_value_t = DriverChoice::Auto)]
    driver: DriverChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DriverChoice {
    Auto,
    Uring,
    Legacy,
}

/// Why a response could not be read as HTTP/1.1; any of these stops the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProtoError {
    StatusLine,
    HeaderLine,
    ContentLength,
    TransferEncoding,
    /// A 1xx response; a plain `GET` should never get one.
    Informational,
    /// Neither `Content-Length` nor chunked: the body would run until close.
    NoFraming,
    HeadTooLarge,
    ChunkSize,
    ChunkDataEnd,
    LineTooLong,
    /// Bytes arrived after a complete response although only one request was in flight.
    TrailingBytes,
}

/// Where the response parser is; advanced by [`ResponseParser::advance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    /// Fixed-length body with this many bytes still to come.
    Length(u64),
    ChunkSize,
    /// Inside a chunk with this many data bytes still to come.
    ChunkData(u64),
    /// The CRLF that closes a chunk's data.
    ChunkDataEnd,
    Trailer,
    Done,
}

/// Incremental HTTP/1.1 response reader: feeds on whatever bytes are buffered and says
/// how many it consumed, so body bytes never need to stay in the buffer.
#[derive(Debug)]
struct ResponseParser {
    state: State,
    status: u16,
    close: bool,
}

/// The target, resolved and encoded once at start-up.
struct Target {
    addr: SocketAddr,
    /// The complete request; shared by all connections and written as is.
    request: Rc<Vec<u8>>,
}

/// The measured window: responses that complete in `[start, end)` are counted.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// State shared by the connections of the single thread.
struct Shared {
    window: Window,
    histogram: RefCell<Histogram<u64>>,
    requests: Cell<u64>,
    non_2xx: Cell<u64>,
    errors: Cell<u64>,
    warmup_errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
    /// Set on a protocol error; every connection stops at its next request.
    fatal: RefCell<Option<String>>,
    live_connections: Cell<usize>,
}

/// What one connection did in one request/response exchange.
enum Outcome {
    Response { status: u16, close: bool },
    Io(io::Error),
    Proto(ProtoError, Vec<u8>),
}

/// Final figures of a run.
struct Report {
    driver: &'static str,
    connections: usize,
    seconds: f64,
    requests: u64,
    errors: u64,
    warmup_errors: u64,
    first_error: Option<String>,
    non_2xx: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::StatusLine => "malformed status line",
            Self::HeaderLine => "malformed header line",
            Self::ContentLength => "invalid or conflicting Content-Length",
            Self::TransferEncoding => "Transfer-Encoding other than chunked",
            Self::Informational => "1xx response",
            Self::NoFraming => "response body without Content-Length or chunked framing",
            Self::HeadTooLarge => "response head larger than the read buffer",
            Self::ChunkSize => "malformed chunk size line",
            Self::ChunkDataEnd => "chunk data not followed by CRLF",
            Self::LineTooLong => "chunk size or trailer line too long",
            Self::TrailingBytes => "bytes after a complete response",
        };
        f.write_str(text)
    }
}

impl ResponseParser {
    fn new() -> Self {
        Self {
            state: State::Head,
            status: 0,
            close: false,
        }
    }

    fn reset(&mut self) {
        *self = Self::new();
    }

    fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes as much of `buf` (the unconsumed bytes received so far) as it can and
    /// returns how many bytes that was. A head is only consumed once it is complete.
    fn advance(&mut self, buf: &[u8]) -> Result<usize, ProtoError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Head => {
                    let Some(end) = find(rest, b"\r\n\r\n") else {
                        if rest.len() >= READ_BUF_BYTES {
                            return Err(ProtoError::HeadTooLarge);
                        }
                        return Ok(pos);
                    };
                    self.state = self.parse_head(&rest[..end + 2])?;
                    pos += end + 4;
                }
                State::Length(left) | State::ChunkData(left) => {
                    let take = left.min(rest.len() as u64);
                    pos += take as usize;
                    let left = left - take;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkDataEnd,
                        (_, _) => State::ChunkData(left),
                    };
                    if left > 0 {
                        return Ok(pos);
                    }
                }
                State::ChunkDataEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ProtoError::ChunkDataEnd);
                    }
                    pos += 2;
                    self.state = State::ChunkSize;
                }
                State::ChunkSize | State::Trailer => {
                    let Some(end) = find(rest, b"\r\n") else {
                        if rest.len() > MAX_LINE_BYTES {
                            return Err(ProtoError::LineTooLong);
                        }
                        return Ok(pos);
                    };
                    let line = &rest[..end];
                    pos += end + 2;
                    self.state = match self.state {
                        State::ChunkSize => match parse_chunk_size(line)? {
                            0 => State::Trailer,
                            size => State::ChunkData(size),
                        },
                        _ if line.is_empty() => State::Done,
                        _ => State::Trailer,
                    };
                }
                State::Done => return Ok(pos),
            }
        }
    }

    /// Parses the status line and header lines (`head` ends with the last header's CRLF)
    /// and returns the state the body starts in.
    fn parse_head(&mut self, head: &[u8]) -> Result<State, ProtoError> {
        // Every line, the last included, ends in CRLF; a bare LF fails the CR check below.
        let head = head.strip_suffix(b"\n").ok_or(ProtoError::StatusLine)?;
        let mut lines = head.split(|&b| b == b'\n');
        let status_line = lines.next().ok_or(ProtoError::StatusLine)?;
        let status_line = status_line
            .strip_suffix(b"\r")
            .ok_or(ProtoError::StatusLine)?;
        let (minor, status) = parse_status_line(status_line)?;
        self.status = status;
        // HTTP/1.0 closes after each response unless it says keep-alive.
        self.close = minor == 0;

        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        for line in lines {
            let line = line.strip_suffix(b"\r").ok_or(ProtoError::HeaderLine)?;
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(ProtoError::HeaderLine)?;
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
                return Err(ProtoError::HeaderLine);
            }
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = parse_decimal(value).ok_or(ProtoError::ContentLength)?;
                if content_length.is_some_and(|old| old != n) {
                    return Err(ProtoError::ContentLength);
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                if !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(ProtoError::TransferEncoding);
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                        self.close = false;
                    }
                }
            }
        }

        match status {
            100..=199 => Err(ProtoError::Informational),
            204 | 304 => Ok(State::Done),
            _ if chunked && content_length.is_some() => Err(ProtoError::ContentLength),
            _ if chunked => Ok(State::ChunkSize),
            _ => match content_length {
                Some(0) => Ok(State::Done),
                Some(n) => Ok(State::Length(n)),
                None => Err(ProtoError::NoFraming),
            },
        }
    }
}

impl Target {
    /// Parses `http://HOST[:PORT][/PATH]`, resolves the host and encodes the request.
    fn new(url: &str, headers: &[String]) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("URL has no host: {url}"));
        }
        let (host, port) = split_host_port(authority)?;
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;

        let mut extra = String::new();
        let mut host_header = None;
        for header in headers {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("header must be \"name: value\": {header:?}"))?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || header.contains(['\r', '\n']) {
                return Err(format!("invalid header: {header:?}"));
            }
            if name.eq_ignore_ascii_case("host") {
                host_header = Some(value.to_owned());
            } else {
                extra.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        let host_header = host_header.unwrap_or_else(|| authority.to_owned());
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\n{extra}\r\n");
        Ok(Self {
            addr,
            request: Rc::new(request.into_bytes()),
        })
    }
}

impl Shared {
    fn new(window: Window) -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .expect("constant histogram bounds are valid");
        Self {
            window,
            histogram: RefCell::new(histogram),
            requests: Cell::new(0),
            non_2xx: Cell::new(0),
            errors: Cell::new(0),
            warmup_errors: Cell::new(0),
            first_error: RefCell::new(None),
            fatal: RefCell::new(None),
            live_connections: Cell::new(0),
        }
    }

    fn stopped(&self, now: Instant) -> bool {
        now >= self.window.end || self.fatal.borrow().is_some()
    }

    /// Counts a response that completed at `end`, if it falls inside the window.
    fn record(&self, status: u16, start: Instant, end: Instant) {
        if end < self.window.start || end >= self.window.end {
            return;
        }
        let micros = u64::try_from((end - start).as_micros()).unwrap_or(u64::MAX);
        self.histogram.borrow_mut().saturating_record(micros);
        self.requests.set(self.requests.get() + 1);
        if !(200..300).contains(&status) {
            self.non_2xx.set(self.non_2xx.get() + 1);
        }
    }

    fn io_error(&self, what: &str, err: &io::Error) {
        let now = Instant::now();
        if now >= self.window.end {
            return;
        }
        let counter = if now < self.window.start {
            &self.warmup_errors
        } else {
            &self.errors
        };
        counter.set(counter.get() + 1);
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(format!("{what}: {err}"));
        }
    }

    fn fail(&self, err: ProtoError, received: &[u8]) {
        let mut fatal = self.fatal.borrow_mut();
        if fatal.is_none() {
            let shown = &received[..received.len().min(512)];
            *fatal = Some(format!(
                "{err}; received {} bytes: {:?}",
                received.len(),
                String::from_utf8_lossy(shown)
            ));
        }
    }
}

impl Report {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.seconds,
            "rps": self.rps(),
            "p50_us": self.p50_us,
            "p90_us": self.p90_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "max_us": self.max_us,
            "non_2xx": self.non_2xx,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} connections, {:.2} s measured, {} driver",
            self.connections, self.seconds, self.driver
        )?;
        writeln!(f, "  requests   {:>12}", self.requests)?;
        writeln!(f, "  req/s      {:>12.0}", self.rps())?;
        writeln!(f, "  errors     {:>12}", self.errors)?;
        writeln!(f, "  non-2xx    {:>12}", self.non_2xx)?;
        writeln!(
            f,
            "  latency µs        p50      p90      p99    p99.9      max"
        )?;
        write!(
            f,
            "             {:>8} {:>8} {:>8} {:>8} {:>8}",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us
        )
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if report.warmup_errors > 0 {
                eprintln!("sluice-load: {} errors during warmup", report.warmup_errors);
            }
            if let Some(first) = &report.first_error {
                eprintln!("sluice-load: first error: {first}");
            }
            if args.json {
                println!("{}", report.to_json());
            } else {
                println!("sluice-load {}", args.url);
                println!("{report}");
            }
            if report.requests == 0 {
                eprintln!("sluice-load: no request completed in the measured window");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("sluice-load: {message}");
            ExitCode::from(2)
        }
    }
}

/// Sets up the target and the runtime, runs the load and returns its figures.
fn run(args: &Args) -> Result<Report, String> {
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if args.duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    let target = Target::new(&args.url, &args.headers)?;
    // Futures are lazy: nothing starts until a runtime polls this.
    let job = load(target, args.connections, args.warmup, args.duration);
    let (driver, result) = match uring_runtime(args.driver)? {
        Some(mut rt) => ("io_uring", rt.block_on(job)),
        None => {
            let mut rt = RuntimeBuilder::<LegacyDriver>::new()
                .enable_timer()
                .build()
                .map_err(|e| format!("cannot build the legacy runtime: {e}"))?;
            ("legacy", rt.block_on(job))
        }
    };
    let shared = result?;

    let histogram = shared.histogram.borrow();
    let first_error = shared.first_error.borrow().clone();
    Ok(Report {
        driver,
        connections: args.connections,
        seconds: args.duration.as_secs_f64(),
        requests: shared.requests.get(),
        errors: shared.errors.get(),
        warmup_errors: shared.warmup_errors.get(),
        first_error,
        non_2xx: shared.non_2xx.get(),
        p50_us: histogram.value_at_quantile(0.50),
        p90_us: histogram.value_at_quantile(0.90),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        max_us: histogram.max(),
    })
}

/// Builds the io_uring runtime, or returns `None` when `choice` asks for the legacy driver
/// or is `auto` and the ring cannot be set up (io_uring disabled, memlock too low, ..).
fn uring_runtime(
    choice: DriverChoice,
) -> Result<Option<Runtime<TimeDriver<IoUringDriver>>>, String> {
    if choice == DriverChoice::Legacy {
        return Ok(None);
    }
    match RuntimeBuilder::<IoUringDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(rt) => Ok(Some(rt)),
        Err(e) if choice == DriverChoice::Auto => {
            eprintln!("sluice-load: io_uring unavailable ({e}), using the legacy driver");
            Ok(None)
        }
        Err(e) => Err(format!("cannot build the io_uring runtime: {e}")),
    }
}

/// Starts the connections, prints the window markers and waits for the connections to
/// stop. Returns the shared counters, or the first protocol error.
async fn load(
    target: Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Rc<Shared>, String> {
    let now = Instant::now();
    let window = Window {
        start: now + warmup,
        end: now + warmup + duration,
    };
    let shared = Rc::new(Shared::new(window));
    let target = Rc::new(target);
    for _ in 0..connections {
        monoio::spawn(connection(Rc::clone(&shared), Rc::clone(&target)));
    }

    // The driving script samples server CPU time when it reads these lines.
    for (when, mark) in [
        (window.start, "sluice-load: measuring"),
        (window.end, "sluice-load: window end"),
    ] {
        wait_until(&shared, when).await;
        if let Some(fatal) = shared.fatal.borrow().clone() {
            return Err(fatal);
        }
        eprintln!("{mark}");
    }

    let give_up = window.end + DRAIN_GRACE;
    while shared.live_connections.get() > 0 && Instant::now() < give_up {
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
    // A response that was in flight when the window closed must be well-formed too.
    if let Some(fatal) = shared.fatal.borrow().clone() {
        return Err(fatal);
    }
    let stuck = shared.live_connections.get();
    if stuck > 0 {
        eprintln!("sluice-load: {stuck} connections still waiting for a response at exit");
    }
    Ok(shared)
}

/// Sleeps until `when`, waking early if a connection hit a protocol error.
async fn wait_until(shared: &Shared, when: Instant) {
    loop {
        let now = Instant::now();
        if now >= when || shared.fatal.borrow().is_some() {
            return;
        }
        monoio::time::sleep(WAIT_STEP.min(when - now)).await;
    }
}

/// One closed-loop connection: request, whole response, record, repeat; reconnects when
/// the server closes.
async fn connection(shared: Rc<Shared>, target: Rc<Target>) {
    shared
        .live_connections
        .set(shared.live_connections.get() + 1);
    let mut buf = Vec::with_capacity(READ_BUF_BYTES);
    let mut parser = ResponseParser::new();
    'connect: while !shared.stopped(Instant::now()) {
        let mut stream = match TcpStream::connect_addr(target.addr).await {
            Ok(stream) => stream,
            Err(err) => {
                shared.io_error("connect", &err);
                monoio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        // Requests are written whole, so Nagle would only add delay on a partial write.
        let _ = stream.set_nodelay(true);
        loop {
            let start = Instant::now();
            let (outcome, returned) =
                exchange(&mut stream, &target.request, buf, &mut parser).await;
            buf = returned;
            let end = Instant::now();
            match outcome {
                Outcome::Response { status, close } => {
                    shared.record(status, start, end);
                    if shared.stopped(end) {
                        break 'connect;
                    }
                    if close {
                        continue 'connect;
                    }
                }
                Outcome::Io(err) => {
                    shared.io_error("request", &err);
                    continue 'connect;
                }
                Outcome::Proto(err, received) => {
                    shared.fail(err, &received);
                    break 'connect;
                }
            }
        }
    }
    shared
        .live_connections
        .set(shared.live_connections.get() - 1);
}

/// Writes the request and reads one whole response into `buf` (empty on entry and on a
/// successful return). Allocates only to report a protocol error.
async fn exchange(
    stream: &mut TcpStream,
    request: &Rc<Vec<u8>>,
    mut buf: Vec<u8>,
    parser: &mut ResponseParser,
) -> (Outcome, Vec<u8>) {
    let (written, _) = stream.write_all(Rc::clone(request)).await;
    if let Err(err) = written {
        return (Outcome::Io(err), buf);
    }
    parser.reset();
    buf.clear();
    loop {
        let filled = buf.len();
        let (read, slice) = stream.read(buf.slice_mut(filled..READ_BUF_BYTES)).await;
        buf = slice.into_inner();
        match read {
            Ok(0) => {
                let err = io::Error::new(io::ErrorKind::UnexpectedEof, "server closed");
                return (Outcome::Io(err), buf);
            }
            Ok(_) => {}
            Err(err) => return (Outcome::Io(err), buf),
        }
        let consumed = match parser.advance(&buf) {
            Ok(n) => n,
            Err(err) => return (Outcome::Proto(err, buf.clone()), buf),
        };
        if parser.is_done() {
            if consumed != buf.len() {
                return (Outcome::Proto(ProtoError::TrailingBytes, buf.clone()), buf);
            }
            buf.clear();
            let outcome = Outcome::Response {
                status: parser.status,
                close: parser.close,
            };
            return (outcome, buf);
        }
        buf.drain(..consumed);
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), String> {
    let bad = || format!("invalid host:port: {authority}");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 80,
    };
    Ok((host, port))
}

/// Parses `10s`, `250ms`, `2m` or a bare number of seconds (fractions allowed).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; use e.g. 10s, 500ms, 1m"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// `HTTP/1.x SSS[ reason]` -> (x, SSS).
fn parse_status_line(line: &[u8]) -> Result<(u8, u16), ProtoError> {
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .ok_or(ProtoError::StatusLine)?;
    let minor = match rest.first() {
        Some(b'0') => 0,
        Some(b'1') => 1,
        _ => return Err(ProtoError::StatusLine),
    };
    let code = rest.get(1..5).ok_or(ProtoError::StatusLine)?;
    if code[0] != b' ' || !code[1..].iter().all(u8::is_ascii_digit) {
        return Err(ProtoError::StatusLine);
    }
    if rest.get(5).is_some_and(|&b| b != b' ') {
        return Err(ProtoError::StatusLine);
    }
    let status = code[1..]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    Ok((minor, status))
}

/// Hex size before any `;extension`; rejects empty sizes and overflow.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ProtoError> {
    let digits = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .map_or(line, |i| &line[..i]);
    if digits.is_empty() || digits.len() > 15 {
        return Err(ProtoError::ChunkSize);
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(16).ok_or(ProtoError::ChunkSize)?;
        Ok(acc * 16 + u64::from(digit))
    })
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        value
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
    )
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes the way `exchange` does, returning
    /// (status, close, bytes left unconsumed) once the parser is done.
    fn feed(input: &[u8], step: usize) -> Result<(u16, bool, usize), ProtoError> {
        let mut parser = ResponseParser::new();
        let mut buf = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            let consumed = parser.advance(&buf)?;
            buf.drain(..consumed);
            if parser.is_done() {
                break;
            }
        }
        assert!(parser.is_done(), "incomplete: {:?}", parser.state);
        Ok((parser.status, parser.close, buf.len()))
    }

    #[test]
    fn complete_responses() {
        let cases: &[(&[u8], u16, bool)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, false),
            (b"HTTP/1.1 200\r\ncontent-length:2\r\n\r\nok", 200, false),
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, false),
            (b"HTTP/1.1 204 No Content\r\n\r\n", 204, false),
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, true),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, true),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
                200,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                200,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA;x=y\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
                200,
                false,
            ),
        ];
        for &(input, status, close) in cases {
            for step in [1, 3, input.len()] {
                let got = feed(input, step);
                assert_eq!(got, Ok((status, close, 0)), "{:?} step {step}", input);
            }
        }
    }

    #[test]
    fn malformed_responses() {
        let cases: &[(&[u8], ProtoError)] = &[
            (b"HTTP/2 200 OK\r\n\r\n", ProtoError::StatusLine),
            (b"HTTP/1.1 20 OK\r\n\r\n", ProtoError::StatusLine),
            (b"HTTP/1.1 200OK\r\n\r\n", ProtoError::StatusLine),
            (
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                ProtoError::HeaderLine,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n",
                ProtoError::HeaderLine,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                ProtoError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ProtoError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                ProtoError::TransferEncoding,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", ProtoError::Informational),
            (b"HTTP/1.1 200 OK\r\n\r\n", ProtoError::NoFraming),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ProtoError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n",
                ProtoError::ChunkDataEnd,
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(feed(input, input.len()), Err(want), "{:?}", input);
        }
    }

    #[test]
    fn bytes_after_response_are_left_over() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP";
        assert_eq!(feed(input, input.len()), Ok((200, false, 4)));
    }

    #[test]
    fn request_encoding() {
        let headers = vec!["X-A: 1".to_owned(), "host: example".to_owned()];
        let target = Target::new("http://127.0.0.1:8080/p?q=1", &headers).unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            target.request.as_slice(),
            b"GET /p?q=1 HTTP/1.1\r\nHost: example\r\nX-A: 1\r\n\r\n"
        );
        let target = Target::new("http://127.0.0.1:9", &[]).unwrap();
        assert_eq!(
            target.request.as_slice(),
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"
        );
        assert!(Target::new("https://127.0.0.1/", &[]).is_err());
        assert!(Target::new("http://127.0.0.1:x/", &[]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
    }
}
