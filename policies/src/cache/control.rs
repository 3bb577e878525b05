//! `Cache-Control`, `Pragma`, `Expires` and `Age`: what a message allows and for how long.

use sluice_codec::Headers;

use super::date::parse_http_date;

/// Delta-seconds past this count as this (RFC 9111 1.2.2).
const MAX_DELTA_SECONDS: u64 = 2_147_483_648;

/// The directives the cache acts on, from every `Cache-Control` line of one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    pub no_store: bool,
    /// Also set by `no-cache="field"`: a shared cache that does not revalidate cannot
    /// honour the field form any better than the bare one.
    pub no_cache: bool,
    /// Also set by `private="field"`, for the same reason.
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
    /// First `max-age`; a value that is not delta-seconds reads as 0 (stale).
    pub max_age: Option<u64>,
    /// First `s-maxage`, read like `max_age`.
    pub s_maxage: Option<u64>,
}

impl Directives {
    /// Directives of every `Cache-Control` line in `headers` (unknown ones ignored).
    pub fn parse(headers: &Headers) -> Directives {
        let mut d = Directives::default();
        for line in headers.get_all("cache-control") {
            for_each_directive(line, |name, value| {
                if name.eq_ignore_ascii_case(b"no-store") {
                    d.no_store = true;
                } else if name.eq_ignore_ascii_case(b"no-cache") {
                    d.no_cache = true;
                } else if name.eq_ignore_ascii_case(b"private") {
                    d.private = true;
                } else if name.eq_ignore_ascii_case(b"public") {
                    d.public = true;
                } else if name.eq_ignore_ascii_case(b"must-revalidate") {
                    d.must_revalidate = true;
                } else if name.eq_ignore_ascii_case(b"max-age") {
                    d.max_age = d.max_age.or(Some(delta_seconds(value)));
                } else if name.eq_ignore_ascii_case(b"s-maxage") {
                    d.s_maxage = d.s_maxage.or(Some(delta_seconds(value)));
                }
            });
        }
        d
    }
}

/// True when the request asks not to be answered from (or stored in) a cache:
/// `Cache-Control: no-store` or `no-cache`, or `Pragma: no-cache` with no `Cache-Control`
/// (RFC 9111 5.4).
pub(crate) fn request_bypasses(headers: &Headers) -> bool {
    if headers.contains("cache-control") {
        let d = Directives::parse(headers);
        d.no_store || d.no_cache
    } else {
        headers.has_token("pragma", "no-cache")
    }
}

/// The freshness lifetime the response sets itself: `s-maxage`, else `max-age`, else
/// `Expires` minus `Date` (or minus `now` without a valid `Date`); `None` when it sets
/// none. An `Expires` that does not parse means already expired (RFC 9111 5.3).
pub(crate) fn explicit_lifetime(d: &Directives, headers: &Headers, now: u64) -> Option<u64> {
    if let Some(s) = d.s_maxage.or(d.max_age) {
        return Some(s);
    }
    let expires = headers.get("expires")?;
    let Some(expires) = parse_http_date(expires) else {
        return Some(0);
    };
    let date = headers
        .get("date")
        .and_then(|v| parse_http_date(v))
        .unwrap_or(now);
    Some(expires.saturating_sub(date))
}

/// The response's `Age` in seconds (first value); 0 when absent or not delta-seconds.
pub(crate) fn age(headers: &Headers) -> u64 {
    match headers.get("age") {
        Some(v) if is_digits(v) => delta_seconds(Some(v)),
        _ => 0,
    }
}

/// Delta-seconds, capped at [`MAX_DELTA_SECONDS`]. Missing, empty or non-digit values
/// read as 0, so a malformed lifetime errs towards not storing. A quoted value is
/// accepted (RFC 9111 5.2 asks recipients to).
fn delta_seconds(value: Option<&[u8]>) -> u64 {
    let Some(v) = value.filter(|v| is_digits(v)) else {
        return 0;
    };
    v.iter()
        .try_fold(0u64, |n, &b| {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .unwrap_or(MAX_DELTA_SECONDS)
        .min(MAX_DELTA_SECONDS)
}

fn is_digits(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit)
}

/// Calls `f(name, value)` for each comma-separated directive of one header line. Commas
/// inside a quoted value do not split; surrounding quotes are removed from values.
fn for_each_directive(line: &[u8], mut f: impl FnMut(&[u8], Option<&[u8]>)) {
    let mut rest = line;
    while !rest.is_empty() {
        let mut quoted = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let item = trim(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or_default();
        if item.is_empty() {
            continue;
        }
        match item.iter().position(|&b| b == b'=') {
            Some(eq) => f(trim(&item[..eq]), Some(unquote(trim(&item[eq + 1..])))),
            None => f(item, None),
        }
    }
}

fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
