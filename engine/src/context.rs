//! The per-request context: identity, trace, timing. Independent of transport and HTTP version.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_codec::Headers;
use sluice_policies::Identity;

/// How many ops get an individual timing slot; later ops share the last slot.
pub const TIMED_OPS: usize = 32;

/// State of one request as it moves through the program.
#[derive(Debug)]
pub struct RequestContext {
    /// The request id (incoming if sane, else a fresh UUID v4).
    pub request_id: Bytes,
    pub trace: TraceContext,
    pub start: Instant,
    /// Downstream peer address.
    pub client: SocketAddr,
    /// Matched route index, once routed.
    pub route: Option<usize>,
    /// Captured path parameters as byte ranges of the path, in the route's parameter order.
    pub params: Vec<(usize, usize)>,
    /// Bit `i` set when op `i` ran in the request phase.
    pub executed: u128,
    /// Nanoseconds spent in each op (both phases), for metrics.
    pub op_time_ns: [u32; TIMED_OPS],
    /// Who the caller is, once an auth op identified them.
    pub identity: Identity,
    /// The answer of the side call an op asked for, handed to it when it runs again.
    pub side_answer: Option<sluice_policies::oauth2::IntrospectionAnswer>,
    /// The tightest rate-limit state seen, for the response headers.
    pub rate_info: Option<sluice_policies::rate_limit::RateInfo>,
    /// What `cors` learned about the caller's origin (set when it let the request on).
    pub cors_origin: Option<sluice_policies::cors::CorsOrigin>,
    /// Whether `ssl-enforce` saw a secure request (HSTS goes only on those).
    pub secure: bool,
    /// Checks the request body must pass as it streams upstream.
    pub body_checks: crate::body::BodyChecks,
    /// A `cache` op missed: its table index and the token that must store or abandon.
    pub cache_miss: Option<(u32, sluice_policies::cache::MissToken)>,
    /// What the `cache` op reports in its status header (`MISS` / `BYPASS`; a hit's answer
    /// carries `HIT` itself).
    pub cache_status: Option<&'static str>,
    /// A WebSocket upgrade the route allows: forward `Upgrade`/`Connection` and expect 101.
    pub upgrade: bool,
    /// Timeouts a `timeout` op set.
    pub timeouts: Option<sluice_policies::timeout::TimeoutPolicy>,
    /// The `retry` op (index into the program's table) that governs failed attempts.
    pub retry: Option<u32>,
    /// The `circuit-breaker` op guarding the upstream call.
    pub breaker: Option<u32>,
    /// A `dynamic-routing` rule chose this alternate target (index into the program's
    /// `alt_targets`) and path prefix to strip.
    pub route_override: Option<(usize, Option<String>)>,
    /// A `traffic-shadow` op chose to mirror this request (index into the program's table).
    pub shadow: Option<u32>,
    /// The status sent downstream (0 until a response head went out).
    pub status: u16,
    /// A `request-log` op wants this request logged (index into the program's table).
    pub log: Option<u32>,
    /// The upstream target that answered, for logs.
    pub upstream: Option<String>,
    /// The op that answered or refused in the request phase, if one did.
    pub answered_by: Option<usize>,
}

impl RequestContext {
    /// A context for a request from `client`, reusing an incoming request id and trace
    /// parent when they are well-formed.
    pub fn new(client: SocketAddr, headers: &Headers, request_id_header: &[u8]) -> Self {
        let request_id = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(request_id_header))
            .map(|h| &h.value)
            .filter(|v| is_sane_request_id(v))
            .cloned()
            .unwrap_or_else(new_request_id);
        let trace = headers
            .get("traceparent")
            .and_then(|v| TraceContext::parse(v))
            .map(|parent| parent.child())
            .unwrap_or_else(TraceContext::new_root);
        Self {
            request_id,
            trace,
            start: Instant::now(),
            client,
            route: None,
            params: Vec::new(),
            executed: 0,
            op_time_ns: [0; TIMED_OPS],
            identity: Identity::default(),
            side_answer: None,
            rate_info: None,
            cors_origin: None,
            secure: false,
            body_checks: Default::default(),
            cache_miss: None,
            cache_status: None,
            upgrade: false,
            timeouts: None,
            retry: None,
            breaker: None,
            route_override: None,
            shadow: None,
            status: 0,
            log: None,
            upstream: None,
            answered_by: None,
        }
    }

    /// Adds `took` to op `i`'s timing slot.
    pub fn record_op_time(&mut self, i: usize, took: Duration) {
        let slot = i.min(TIMED_OPS - 1);
        let ns = u32::try_from(took.as_nanos()).unwrap_or(u32::MAX);
        self.op_time_ns[slot] = self.op_time_ns[slot].saturating_add(ns);
    }
}

/// A request id is echoed into logs and upstream headers, so only short visible ASCII is kept.
fn is_sane_request_id(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic())
}

/// Seconds since the Unix epoch (0 if the clock is before it), for token and cache expiry.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh UUID v4 as 36 ASCII bytes. Uses the thread-local fast RNG: request ids need
/// uniqueness, not secrecy, and a getrandom syscall per request would cost more than the rest.
pub fn new_request_id() -> Bytes {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = [0u8; 36];
    let mut o = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[(b >> 4) as usize];
        out[o + 1] = HEX[(b & 0xf) as usize];
        o += 2;
    }
    Bytes::copy_from_slice(&out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// W3C trace context of this hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The span id of this hop (the gateway); upstreams see it as their parent.
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceContext {
    /// A new trace (sampled flag set).
    pub fn new_root() -> Self {
        let mut trace_id = fastrand::u128(..).to_be_bytes();
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        Self {
            trace_id,
            span_id: new_span_id(),
            flags: 1,
        }
    }

    /// Parses a `traceparent` value (version 00 layout); `None` when malformed or all-zero ids.
    pub fn parse(v: &[u8]) -> Option<Self> {
        if v.len() < 55 || (v.len() > 55 && v[55] != b'-') {
            return None;
        }
        if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        let version = hex_byte(&v[0..2])?;
        if version == 0xff || (version == 0 && v.len() != 55) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, b) in trace_id.iter_mut().enumerate() {
            *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent = [0u8; 8];
        for (i, b) in parent.iter_mut().enumerate() {
            *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&v[53..55])?;
        if trace_id == [0; 16] || parent == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id: parent,
            flags,
        })
    }

    /// The context of a new span in the same trace.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: new_span_id(),
            flags: self.flags,
        }
    }

    /// The `traceparent` header value naming this hop's span.
    pub fn to_header(&self) -> [u8; 55] {
        let mut out = [b'-'; 55];
        out[0] = b'0';
        out[1] = b'0';
        write_hex(&mut out[3..35], &self.trace_id);
        write_hex(&mut out[36..52], &self.span_id);
        write_hex(&mut out[53..55], &[self.flags]);
        out
    }
}

fn new_span_id() -> [u8; 8] {
    let mut id = fastrand::u64(..).to_be_bytes();
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

fn write_hex(dst: &mut [u8], src: &[u8]) {
    for (i, b) in src.iter().enumerate() {
        dst[2 * i] = HEX[(b >> 4) as usize];
        dst[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
}

/// Lower-case hex only, as W3C requires.
fn hex_byte(two: &[u8]) -> Option<u8> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    Some(nibble(two[0])? << 4 | nibble(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_shape() {
        let id = new_request_id();
        let s = std::str::from_utf8(&id).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn traceparent_round_trip_and_child() {
        let v = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceContext::parse(v).unwrap();
        assert_eq!(&t.to_header(), v);
        let c = t.child();
        assert_eq!(c.trace_id, t.trace_id);
        assert_ne!(c.span_id, t.span_id);
    }

    #[test]
    fn malformed_traceparent_rejected() {
        for bad in [
            &b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(
                TraceContext::parse(bad).is_none(),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
    }
}
