//! `json-threat-protection`: refuses JSON bodies that are too deep, too wide, hold too long
//! strings or are not JSON at all, checked while the body streams to the upstream.
//!
//! Phases (the engine calls them in this order):
//! 1. [`JsonThreat::on_request`] with the head's framing: a declared `Content-Length` past
//!    `max_body_bytes` is refused with 413 `body_too_large` before any byte is read.
//! 2. [`JsonThreat::body_checker`]: `Some` only when the `Content-Type` is one of
//!    `content_types`; other bodies are not checked.
//! 3. [`JsonChecker::feed`] for each body chunk before it is forwarded, and
//!    [`JsonChecker::finish`] once the last byte was fed, before the end of the body is
//!    forwarded (a truncated document or trailing garbage is only known then). An `Err` at
//!    either step means: abort the upstream request and answer with the refusal.
//!
//! The checker never builds a tree: it is a byte-level state machine (see [`scanner`])
//! holding one small frame per open container, so memory is bounded by `max_depth`.
//! Compressed bodies (`Content-Encoding: gzip` and the like) are not decoded; they fail as
//! `invalid_json`, which keeps the check from being bypassed by compressing the payload.
//! An empty body (no bytes at all) passes: there is nothing to parse.

use sluice_codec::{BodyFraming, Headers};

use crate::Reject;

pub mod scanner;

pub use scanner::{JsonLimits, Limit, ScanError, Scanner};

/// Options of `json-threat-protection`, as the config gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonThreatOptions {
    /// Deepest nesting of objects and arrays (top-level container = 1). Default 20.
    pub max_depth: usize,
    /// Most keys in one object. Default 100.
    pub max_keys: usize,
    /// Longest string or key, in characters after unescaping. Default 10,000.
    pub max_string_length: usize,
    /// Most elements in one array. Default 100.
    pub max_array_size: usize,
    /// Largest body in bytes. Default 1 MiB.
    pub max_body_bytes: u64,
    /// Media types to check, compared without parameters and ignoring case. An entry that
    /// starts with `+` is a structured-syntax suffix (`+json` matches
    /// `application/problem+json`). Default `["application/json", "+json"]`.
    pub content_types: Vec<String>,
}

impl Default for JsonThreatOptions {
    fn default() -> Self {
        Self {
            max_depth: 20,
            max_keys: 100,
            max_string_length: 10_000,
            max_array_size: 100,
            max_body_bytes: 1024 * 1024,
            content_types: vec!["application/json".into(), "+json".into()],
        }
    }
}

/// Compiled `json-threat-protection`.
#[derive(Debug, Clone)]
pub struct JsonThreat {
    limits: JsonLimits,
    max_body_bytes: u64,
    /// Lower-case full media types.
    exact_types: Vec<String>,
    /// Lower-case suffixes, each starting with `+`.
    suffixes: Vec<String>,
}

/// Per-request state of a JSON body check; see the module docs for the calling order.
#[derive(Debug, Clone)]
pub struct JsonChecker {
    scanner: Scanner,
    limits: JsonLimits,
    max_body_bytes: u64,
    seen: u64,
    /// The first refusal, returned again if the engine keeps feeding.
    failed: Option<Reject>,
}

impl JsonThreat {
    /// Compiles the options. Never fails: every value is usable (a zero limit refuses
    /// every document that has what it limits).
    pub fn new(options: JsonThreatOptions) -> Self {
        let (suffixes, exact_types) = options
            .content_types
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .partition(|t| t.starts_with('+'));
        Self {
            limits: JsonLimits {
                max_depth: options.max_depth,
                max_keys: options.max_keys,
                max_string_length: options.max_string_length,
                max_array_size: options.max_array_size,
            },
            max_body_bytes: options.max_body_bytes,
            exact_types,
            suffixes,
        }
    }

    /// True when the request's `Content-Type` is one this op checks. A request without
    /// `Content-Type` is not checked.
    pub fn applies_to(&self, headers: &Headers) -> bool {
        let Some(value) = headers.get("content-type") else {
            return false;
        };
        let essence = value
            .split(|&b| b == b';')
            .next()
            .unwrap_or(&[])
            .trim_ascii();
        self.exact_types
            .iter()
            .any(|t| essence.eq_ignore_ascii_case(t.as_bytes()))
            || self.suffixes.iter().any(|s| {
                essence.len() > s.len()
                    && essence[essence.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            })
    }

    /// Request phase: `Err` with 413 `body_too_large` when the body is a checked type and
    /// its `Content-Length` already exceeds `max_body_bytes`; chunked bodies are counted
    /// by the [`JsonChecker`] instead.
    pub fn on_request(&self, framing: BodyFraming, headers: &Headers) -> Result<(), Reject> {
        match framing {
            BodyFraming::Length(n) if n > self.max_body_bytes && self.applies_to(headers) => {
                Err(too_large(self.max_body_bytes))
            }
            _ => Ok(()),
        }
    }

    /// Body phase: a fresh checker when the body is a checked type, else `None`.
    pub fn body_checker(&self, headers: &Headers) -> Option<JsonChecker> {
        self.applies_to(headers)
            .then(|| JsonChecker::new(self.limits, self.max_body_bytes))
    }
}

impl JsonChecker {
    /// A checker for one body.
    pub fn new(limits: JsonLimits, max_body_bytes: u64) -> Self {
        Self {
            scanner: Scanner::new(limits),
            limits,
            max_body_bytes,
            seen: 0,
            failed: None,
        }
    }

    /// Checks the next chunk. Errors: 400 `json_threat` naming the broken limit, 400
    /// `invalid_json`, 413 `body_too_large` once more than `max_body_bytes` were fed.
    ///
    /// Only the bytes within `max_body_bytes` are scanned, and they are scanned before the
    /// size is judged, so the verdict is the same however the body is split.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Reject> {
        if let Some(r) = &self.failed {
            return Err(r.clone());
        }
        let room = self.max_body_bytes.saturating_sub(self.seen);
        let within = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        let result = match self.scanner.feed(&chunk[..within]) {
            Err(e) => Err(self.reject(e)),
            Ok(()) if within < chunk.len() => Err(too_large(self.max_body_bytes)),
            Ok(()) => Ok(()),
        };
        if let Err(r) = &result {
            self.failed = Some(r.clone());
        }
        result
    }

    /// Ends the body: `Ok` for exactly one complete JSON value or for an empty body; else
    /// 400 `invalid_json` (truncated document, whitespace only) or the earlier refusal.
    pub fn finish(&mut self) -> Result<(), Reject> {
        if let Some(r) = &self.failed {
            return Err(r.clone());
        }
        if self.scanner.is_empty() {
            return Ok(());
        }
        self.scanner.finish().map_err(|e| self.reject(e))
    }

    fn reject(&self, e: ScanError) -> Reject {
        match e {
            ScanError::Invalid { reason, offset } => Reject::new(
                400,
                "invalid_json",
                format!("Invalid JSON: {reason} at byte {offset}"),
            ),
            ScanError::Limit(limit) => {
                let l = &self.limits;
                let message = match limit {
                    Limit::Depth => format!("JSON depth exceeds {}", l.max_depth),
                    Limit::Keys => format!("JSON object key count exceeds {}", l.max_keys),
                    Limit::StringLength => {
                        format!("JSON string length exceeds {}", l.max_string_length)
                    }
                    Limit::ArraySize => format!("JSON array size exceeds {}", l.max_array_size),
                };
                Reject::new(400, "json_threat", message)
            }
        }
    }
}

fn too_large(max: u64) -> Reject {
    Reject::new(
        413,
        "body_too_large",
        format!("Request body exceeds {max} bytes"),
    )
}

#[cfg(test)]
mod tests;
