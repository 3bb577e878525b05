//! `ssl-enforce`: requests must arrive over HTTPS; plain HTTP is redirected or refused, and
//! HTTPS responses carry `Strict-Transport-Security`.
//!
//! Phases:
//! 1. [`SslEnforce::on_request`] → [`SslOutcome`]. `Secure` means go on; the engine keeps
//!    `true` for the response phase. `Redirect` is a complete answer (no upstream call);
//!    `Reject` is the 403.
//! 2. [`SslEnforce::on_response`] with that kept flag (`false` when `on_request` answered or
//!    refused): adds HSTS only to responses of HTTPS requests, since RFC 6797 section 7.2
//!    forbids sending it over plain HTTP.
//!
//! The connection counts as HTTPS when the engine says it is TLS (`is_tls`), or, with
//! `trust_forwarded`, when the first `X-Forwarded-Proto` value is `https`. Sluice does not
//! terminate TLS yet, so without a trusted proxy in front every request is plain HTTP.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_codec::{Headers, Method};

use crate::{Answer, Reject};

/// Options of `ssl-enforce`, as the config gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslEnforceOptions {
    /// Redirect plain HTTP to HTTPS (`true`, default) or refuse it with 403 `ssl_required`.
    pub redirect: bool,
    /// HSTS `max-age` in seconds. Default 31,536,000 (one year).
    pub max_age: u64,
    /// Add `includeSubDomains` to HSTS. Default false.
    pub include_subdomains: bool,
    /// Add `preload` to HSTS. Default false.
    pub preload: bool,
    /// Believe `X-Forwarded-Proto`. Default false: any client could send it.
    pub trust_forwarded: bool,
}

impl Default for SslEnforceOptions {
    fn default() -> Self {
        Self {
            redirect: true,
            max_age: 31_536_000,
            include_subdomains: false,
            preload: false,
            trust_forwarded: false,
        }
    }
}

/// Compiled `ssl-enforce`.
#[derive(Debug, Clone)]
pub struct SslEnforce {
    redirect: bool,
    trust_forwarded: bool,
    /// The whole `Strict-Transport-Security` value, built once.
    hsts: Bytes,
}

/// What the request phase decided.
#[derive(Debug, Clone)]
pub enum SslOutcome {
    /// The request came over HTTPS: go on, and pass `true` to `on_response`.
    Secure,
    /// Plain HTTP with `redirect: true`: send this redirect to the HTTPS URL.
    Redirect(Answer),
    /// Plain HTTP with `redirect: false`, or no usable `Host` to redirect to.
    Reject(Reject),
}

impl SslEnforce {
    /// Compiles the options. Never fails.
    pub fn new(options: SslEnforceOptions) -> Self {
        let mut hsts = format!("max-age={}", options.max_age);
        if options.include_subdomains {
            hsts.push_str("; includeSubDomains");
        }
        if options.preload {
            hsts.push_str("; preload");
        }
        Self {
            redirect: options.redirect,
            trust_forwarded: options.trust_forwarded,
            hsts: Bytes::from(hsts),
        }
    }

    /// True when the request counts as HTTPS (see the module docs).
    pub fn is_secure(&self, is_tls: bool, headers: &Headers) -> bool {
        is_tls
            || (self.trust_forwarded
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.split(|&b| b == b',').next())
                    .is_some_and(|p| p.trim_ascii().eq_ignore_ascii_case(b"https")))
    }

    /// Request phase. HTTPS goes on. Plain HTTP with `redirect` gets a redirect to
    /// `https://<host><path>[?<query>]`: 301 for GET and HEAD, 308 for other methods,
    /// because a 301 lets clients resend a POST as a GET and silently drop its body. The
    /// `Host` port is dropped (it is the plain-HTTP port; HTTPS is assumed on 443). Without
    /// `redirect`, or without a valid `Host`, the answer is 403 `ssl_required`.
    ///
    /// `path` is the request target's path as received (still percent-encoded) and `query`
    /// its query without the `?`.
    pub fn on_request(
        &self,
        is_tls: bool,
        method: &Method,
        path: &[u8],
        query: Option<&[u8]>,
        headers: &Headers,
    ) -> SslOutcome {
        if self.is_secure(is_tls, headers) {
            return SslOutcome::Secure;
        }
        let host = headers.get("host").and_then(|h| host_without_port(h));
        let (true, Some(host)) = (self.redirect, host) else {
            return SslOutcome::Reject(Reject::new(403, "ssl_required", "HTTPS is required"));
        };
        let mut location =
            BytesMut::with_capacity(8 + host.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        location.put_slice(b"https://");
        location.put_slice(host);
        location.put_slice(path);
        if let Some(q) = query {
            location.put_u8(b'?');
            location.put_slice(q);
        }
        let mut answer_headers = Headers::with_capacity(1);
        answer_headers.append("Location", location.freeze());
        let status = if matches!(method, Method::Get | Method::Head) {
            301
        } else {
            308
        };
        SslOutcome::Redirect(Answer {
            status,
            headers: answer_headers,
            body: Bytes::new(),
            delay: Duration::ZERO,
        })
    }

    /// Response phase: sets `Strict-Transport-Security` (replacing an upstream one, as
    /// this op owns the policy) when `secure`; does nothing otherwise.
    pub fn on_response(&self, secure: bool, headers: &mut Headers) {
        if secure {
            headers.set("Strict-Transport-Security", self.hsts.clone());
        }
    }
}

/// The host of a `Host` value without its port, or `None` when it holds anything but
/// host characters (so a rewritten or odd `Host` can never steer the redirect elsewhere,
/// e.g. `evil.example/` or `a@b`).
fn host_without_port(value: &[u8]) -> Option<&[u8]> {
    let host = if value.starts_with(b"[") {
        // IPv6 literal: keep the brackets, drop what follows `]`.
        let close = value.iter().position(|&b| b == b']')?;
        let inner = &value[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        &value[..=close]
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let host = &value[..end];
        if host.is_empty()
            || !host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return None;
        }
        host
    };
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>, proto: Option<&str>) -> Headers {
        let mut h = Headers::default();
        if let Some(host) = host {
            h.append("Host", host.to_string());
        }
        if let Some(proto) = proto {
            h.append("X-Forwarded-Proto", proto.to_string());
        }
        h
    }

    fn location(outcome: SslOutcome) -> (u16, String) {
        match outcome {
            SslOutcome::Redirect(a) => {
                assert!(a.body.is_empty());
                let l = a.headers.get_str("location").unwrap().to_string();
                (a.status, l)
            }
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn plain_http_is_redirected_with_path_and_query() {
        let op = SslEnforce::new(SslEnforceOptions::default());
        let h = request(Some("api.example.com:8080"), None);
        let out = op.on_request(false, &Method::Get, b"/a%20b/c", Some(b"x=1&y"), &h);
        assert_eq!(
            location(out),
            (301, "https://api.example.com/a%20b/c?x=1&y".into())
        );
        let out = op.on_request(false, &Method::Head, b"/", None, &h);
        assert_eq!(location(out), (301, "https://api.example.com/".into()));
        let h6 = request(Some("[2001:db8::1]:80"), None);
        let out = op.on_request(false, &Method::Get, b"/", None, &h6);
        assert_eq!(location(out), (301, "https://[2001:db8::1]/".into()));
    }

    #[test]
    fn non_get_redirects_keep_the_method() {
        let op = SslEnforce::new(SslEnforceOptions::default());
        let h = request(Some("example.com"), None);
        let out = op.on_request(false, &Method::Post, b"/orders", None, &h);
        assert_eq!(location(out), (308, "https://example.com/orders".into()));
    }

    #[test]
    fn bad_or_missing_host_is_refused() {
        let op = SslEnforce::new(SslEnforceOptions::default());
        for host in [
            None,
            Some(""),
            Some("evil.example/x"),
            Some("a@b"),
            Some("[zz]"),
        ] {
            let out = op.on_request(false, &Method::Get, b"/", None, &request(host, None));
            let SslOutcome::Reject(r) = out else {
                panic!("{host:?} should be refused")
            };
            assert_eq!((r.status, r.code), (403, "ssl_required"));
        }
    }

    #[test]
    fn redirect_false_refuses() {
        let op = SslEnforce::new(SslEnforceOptions {
            redirect: false,
            ..SslEnforceOptions::default()
        });
        let h = request(Some("example.com"), None);
        let SslOutcome::Reject(r) = op.on_request(false, &Method::Get, b"/", None, &h) else {
            panic!("expected 403")
        };
        assert_eq!(
            (r.status, r.code, r.message.as_ref()),
            (403, "ssl_required", "HTTPS is required")
        );
    }

    #[test]
    fn tls_passes_and_forwarded_proto_only_when_trusted() {
        let op = SslEnforce::new(SslEnforceOptions::default());
        let plain = request(Some("example.com"), None);
        assert!(matches!(
            op.on_request(true, &Method::Get, b"/", None, &plain),
            SslOutcome::Secure
        ));
        let forwarded = request(Some("example.com"), Some("HTTPS"));
        assert!(matches!(
            op.on_request(false, &Method::Get, b"/", None, &forwarded),
            SslOutcome::Redirect(_)
        ));
        let trusting = SslEnforce::new(SslEnforceOptions {
            trust_forwarded: true,
            ..SslEnforceOptions::default()
        });
        assert!(matches!(
            trusting.on_request(false, &Method::Get, b"/", None, &forwarded),
            SslOutcome::Secure
        ));
        // The first hop decides; a plain `http` there is not upgraded by later values.
        let mixed = request(Some("example.com"), Some("http, https"));
        assert!(!trusting.is_secure(false, &mixed));
        let first = request(Some("example.com"), Some(" https ,http"));
        assert!(trusting.is_secure(false, &first));
        assert!(!trusting.is_secure(false, &plain));
    }

    #[test]
    fn hsts_only_on_secure_responses() {
        let op = SslEnforce::new(SslEnforceOptions::default());
        let mut h = Headers::default();
        op.on_response(false, &mut h);
        assert!(h.is_empty());
        h.append("strict-transport-security", "max-age=5");
        op.on_response(true, &mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(
            h.get_str("Strict-Transport-Security"),
            Some("max-age=31536000")
        );
    }

    #[test]
    fn hsts_options() {
        let op = SslEnforce::new(SslEnforceOptions {
            max_age: 600,
            include_subdomains: true,
            preload: true,
            ..SslEnforceOptions::default()
        });
        let mut h = Headers::default();
        op.on_response(true, &mut h);
        assert_eq!(
            h.get_str("strict-transport-security"),
            Some("max-age=600; includeSubDomains; preload")
        );
        let op = SslEnforce::new(SslEnforceOptions {
            preload: true,
            ..SslEnforceOptions::default()
        });
        let mut h = Headers::default();
        op.on_response(true, &mut h);
        assert_eq!(
            h.get_str("strict-transport-security"),
            Some("max-age=31536000; preload")
        );
    }
}
