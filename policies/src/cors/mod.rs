//! `cors`: Cross-Origin Resource Sharing (the Fetch standard's CORS protocol) at the gateway.
//!
//! Phases:
//! 1. [`Cors::on_request`] → [`CorsOutcome`].
//!    - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, when
//!      `preflight` is on) is answered here with 204, even when the route has no OPTIONS:
//!      [`CorsOutcome::Preflight`] holds the complete answer. The engine must not run
//!      [`Cors::on_response`] for it (the answer already has every header it needs).
//!    - Anything else goes on: [`CorsOutcome::Continue`] holds a [`CorsOrigin`] that the
//!      engine keeps for the response phase.
//! 2. [`Cors::on_response`] with the kept [`CorsOrigin`], on every response of the request
//!    (upstream answers and gateway errors alike, so a browser can read a 401 or 429).
//!
//! Refusal is the browser's job: the gateway never rejects a request for CORS reasons. An
//! origin or method that is not allowed simply gets no `Access-Control-Allow-*` headers
//! (a refused preflight is still a 204, with only `Vary`), and the browser blocks the call.
//!
//! This op owns the CORS response headers: `Access-Control-Allow-Origin`,
//! `-Allow-Credentials` and `-Expose-Headers` from the upstream are replaced or removed, so
//! an upstream cannot let in an origin the policy refuses.

use std::time::Duration;

use bytes::Bytes;
use regex::RegexSet;
use sluice_codec::{Headers, Method};

use crate::Answer;

/// `Vary` of a preflight answer: its headers depend on all three request headers.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// Which origins may call.
#[derive(Debug, Clone)]
pub enum Origins {
    /// `origins: "*"`: every origin.
    Any,
    /// Exact origins such as `https://app.example.com` (compared ignoring ASCII case, as
    /// scheme and host are case-insensitive).
    List(Vec<String>),
    /// Patterns matched against the whole `Origin` value; build with
    /// [`Origins::patterns`], which anchors them.
    Patterns(RegexSet),
}

/// Options of `cors`, as the config gives them.
#[derive(Debug, Clone)]
pub struct CorsOptions {
    /// Allowed origins. Default [`Origins::Any`].
    pub origins: Origins,
    /// Methods a preflight may ask for. Default GET, HEAD, PUT, PATCH, POST, DELETE.
    pub methods: Vec<Method>,
    /// `Access-Control-Allow-Headers` of a preflight answer. Default empty: echo the
    /// preflight's `Access-Control-Request-Headers`.
    pub allowed_headers: Vec<String>,
    /// `Access-Control-Expose-Headers` of actual responses. Default empty: none sent.
    pub exposed_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`. Default false.
    pub credentials: bool,
    /// `Access-Control-Max-Age` of a preflight answer, in seconds. Default 86,400.
    pub max_age: u64,
    /// Answer preflights at the gateway. Default true; when false they go to the upstream
    /// like any request (and still get `Access-Control-Allow-Origin` on the way back).
    pub preflight: bool,
}

impl Default for CorsOptions {
    fn default() -> Self {
        Self {
            origins: Origins::Any,
            methods: vec![
                Method::Get,
                Method::Head,
                Method::Put,
                Method::Patch,
                Method::Post,
                Method::Delete,
            ],
            allowed_headers: Vec::new(),
            exposed_headers: Vec::new(),
            credentials: false,
            max_age: 86_400,
            preflight: true,
        }
    }
}

/// Compiled `cors`.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Origins,
    methods: Vec<Method>,
    /// `Access-Control-Allow-Methods`, joined once.
    methods_value: Bytes,
    /// `Access-Control-Allow-Headers`, joined once; `None` to echo the request's.
    allowed_headers_value: Option<Bytes>,
    /// `Access-Control-Expose-Headers`, joined once; `None` when empty.
    exposed_value: Option<Bytes>,
    credentials: bool,
    max_age_value: Bytes,
    preflight: bool,
}

/// What the request phase learned about the caller's origin, kept by the engine for
/// [`Cors::on_response`]. Cloning is cheap (the origin is a shared slice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigin {
    /// No `Origin` header: a same-origin or non-browser request.
    Absent,
    /// An allowed origin; holds the request's `Origin` value to echo.
    Allowed(Bytes),
    /// An origin the policy does not allow.
    Refused,
}

/// What the request phase decided.
#[derive(Debug, Clone)]
pub enum CorsOutcome {
    /// Not answered here: go on, and pass this to [`Cors::on_response`].
    Continue(CorsOrigin),
    /// A preflight answered at the gateway: send it; skip `on_response` for this op.
    Preflight(Answer),
}

impl Origins {
    /// Compiles regex patterns, each anchored to match the whole `Origin` value (so
    /// `https://.*\.example\.com` cannot match `https://x.example.com.evil.net`).
    pub fn patterns<I, S>(patterns: I) -> Result<Origins, regex::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let anchored = patterns
            .into_iter()
            .map(|p| format!("^(?:{})$", p.as_ref()));
        RegexSet::new(anchored).map(Origins::Patterns)
    }

    /// True when `origin` may call.
    pub fn allows(&self, origin: &[u8]) -> bool {
        match self {
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| origin.eq_ignore_ascii_case(o.as_bytes())),
            Origins::Patterns(set) => std::str::from_utf8(origin).is_ok_and(|o| set.is_match(o)),
        }
    }
}

impl Cors {
    /// Compiles the options. Errors (for the config loader to report) when `credentials`
    /// is combined with `origins: "*"`, which browsers reject.
    pub fn new(options: CorsOptions) -> Result<Cors, String> {
        if options.credentials && matches!(options.origins, Origins::Any) {
            return Err(
                "cors: `credentials: true` cannot be combined with `origins: \"*\"`: \
                 browsers refuse credentialed responses that allow every origin; \
                 list the allowed origins instead"
                    .into(),
            );
        }
        let join = |items: &mut dyn Iterator<Item = &str>| {
            Bytes::from(items.collect::<Vec<_>>().join(", "))
        };
        let methods_value = join(&mut options.methods.iter().map(Method::as_str));
        let allowed_headers_value = (!options.allowed_headers.is_empty())
            .then(|| join(&mut options.allowed_headers.iter().map(String::as_str)));
        let exposed_value = (!options.exposed_headers.is_empty())
            .then(|| join(&mut options.exposed_headers.iter().map(String::as_str)));
        Ok(Cors {
            origins: options.origins,
            methods: options.methods,
            methods_value,
            allowed_headers_value,
            exposed_value,
            credentials: options.credentials,
            max_age_value: Bytes::from(options.max_age.to_string()),
            preflight: options.preflight,
        })
    }

    /// Request phase. Never refuses; see the module docs.
    ///
    /// A preflight answer for an allowed origin and method carries
    /// `Access-Control-Allow-Origin` (see [`Cors::on_response`] for its value),
    /// `-Allow-Methods` (the configured list), `-Allow-Headers` (the configured list, or the
    /// requested headers echoed when none are configured; absent when neither exists),
    /// `-Max-Age`, `-Allow-Credentials: true` when enabled, and `Vary: Origin,
    /// Access-Control-Request-Method, Access-Control-Request-Headers`. For an origin or
    /// method that is not allowed it carries only the `Vary`.
    pub fn on_request(&self, method: &Method, headers: &Headers) -> CorsOutcome {
        let origin = match headers.get("origin") {
            None => CorsOrigin::Absent,
            Some(o) if self.origins.allows(o) => CorsOrigin::Allowed(o.clone()),
            Some(_) => CorsOrigin::Refused,
        };
        let requested_method = headers.get("access-control-request-method");
        let (true, Method::Options, Some(requested)) = (self.preflight, method, requested_method)
        else {
            return CorsOutcome::Continue(origin);
        };
        let mut out = Headers::with_capacity(7);
        match &origin {
            // OPTIONS with Access-Control-Request-Method but no Origin is not a preflight.
            CorsOrigin::Absent => return CorsOutcome::Continue(origin),
            CorsOrigin::Allowed(o) if self.method_allowed(requested) => {
                out.append("Access-Control-Allow-Origin", self.allow_origin_value(o));
                out.append("Access-Control-Allow-Methods", self.methods_value.clone());
                let allow_headers = self.allowed_headers_value.clone().or_else(|| {
                    headers
                        .get("access-control-request-headers")
                        .filter(|v| !v.is_empty())
                        .cloned()
                });
                if let Some(v) = allow_headers {
                    out.append("Access-Control-Allow-Headers", v);
                }
                out.append("Access-Control-Max-Age", self.max_age_value.clone());
                if self.credentials {
                    out.append("Access-Control-Allow-Credentials", "true");
                }
            }
            CorsOrigin::Allowed(_) | CorsOrigin::Refused => {}
        }
        out.append("Vary", PREFLIGHT_VARY);
        CorsOutcome::Preflight(Answer {
            status: 204,
            headers: out,
            body: Bytes::new(),
            delay: Duration::ZERO,
        })
    }

    /// Response phase, for every response of a request whose `on_request` continued.
    ///
    /// With `origins: "*"` and no credentials (the "bare `*`" case): always
    /// `Access-Control-Allow-Origin: *`, even without `Origin`, so a cached copy serves
    /// every origin. Otherwise: the allowed origin echoed, and `Vary: Origin` on every
    /// response (also refused and same-origin ones) because the answer depends on it; merged
    /// into an existing `Vary` rather than replacing it. With an allowed origin also
    /// `Access-Control-Allow-Credentials: true` when enabled and
    /// `Access-Control-Expose-Headers` when configured. A refused origin gets none of these.
    pub fn on_response(&self, origin: &CorsOrigin, headers: &mut Headers) {
        // This op owns these headers; see the module docs.
        headers.remove("access-control-allow-origin");
        headers.remove("access-control-allow-credentials");
        headers.remove("access-control-expose-headers");
        let bare_any = self.bare_any();
        if !bare_any {
            merge_vary(headers, "Origin");
        }
        let allow_origin = match origin {
            CorsOrigin::Allowed(o) => self.allow_origin_value(o),
            CorsOrigin::Absent if bare_any => Bytes::from_static(b"*"),
            CorsOrigin::Absent | CorsOrigin::Refused => return,
        };
        headers.append("Access-Control-Allow-Origin", allow_origin);
        if self.credentials {
            headers.append("Access-Control-Allow-Credentials", "true");
        }
        if let Some(v) = &self.exposed_value {
            headers.append("Access-Control-Expose-Headers", v.clone());
        }
    }

    /// `*` with no credentials: the one case that answers `*` instead of the origin.
    fn bare_any(&self) -> bool {
        matches!(self.origins, Origins::Any) && !self.credentials
    }

    fn allow_origin_value(&self, origin: &Bytes) -> Bytes {
        if self.bare_any() {
            Bytes::from_static(b"*")
        } else {
            origin.clone()
        }
    }

    /// Method tokens are case-sensitive (RFC 9110 section 9.1), so `delete` is not DELETE.
    fn method_allowed(&self, requested: &[u8]) -> bool {
        let requested = requested.trim_ascii();
        self.methods
            .iter()
            .any(|m| m.as_str().as_bytes() == requested)
    }
}

/// Adds `token` to the response's `Vary` unless it (or `*`) is already listed. Several
/// `Vary` lines are folded into one, which means the same (RFC 9110 section 5.3).
fn merge_vary(headers: &mut Headers, token: &str) {
    if headers.has_token("vary", token) || headers.has_token("vary", "*") {
        return;
    }
    let existing: Vec<&[u8]> = headers
        .get_all("vary")
        .map(|v| v.trim_ascii())
        .filter(|v| !v.is_empty())
        .collect();
    if existing.is_empty() {
        headers.set("Vary", Bytes::copy_from_slice(token.as_bytes()));
        return;
    }
    let mut merged = existing.join(&b", "[..]);
    merged.extend_from_slice(b", ");
    merged.extend_from_slice(token.as_bytes());
    headers.set("Vary", merged);
}

#[cfg(test)]
mod tests;
