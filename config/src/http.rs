//! HTTP syntax rules shared by routes, upstreams and policies: tokens, header maps, prefixes.

use serde_yaml_ng::{Mapping, Value};

use crate::env::key_text;
use crate::error::{self, Errors};
use crate::raw::{kind, Scalar};

/// RFC 9110 `token`: what header names and methods are made of.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks a header name; returns it as written.
pub(crate) fn header_name(name: &str) -> Result<String, String> {
    if is_token(name) {
        Ok(name.to_owned())
    } else {
        Err(format!("invalid header name {name:?}"))
    }
}

/// Checks a header value. CR and LF would let a value start a new header (response
/// splitting) and NUL is refused by most peers; other bytes are passed through as written.
pub(crate) fn header_value(value: &str) -> Result<String, String> {
    if value.contains(['\r', '\n', '\0']) {
        Err("header value must not contain CR, LF or NUL".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

/// Checks a method token and upper-cases it (methods are case-sensitive on the wire, and the
/// standard ones are upper-case, so `get` almost certainly means `GET`).
pub(crate) fn method(text: &str) -> Result<String, String> {
    if is_token(text) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(format!("invalid method {text:?}"))
    }
}

/// Reads a list of methods at `path`: upper-cased, each once, at least one.
pub(crate) fn methods(list: Vec<Scalar>, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    let items = list
        .into_iter()
        .enumerate()
        .map(|(i, item)| (error::index(path, i), item));
    method_list(items, path, "allow", errors)
}

/// Methods given as `(field path, text)` pairs: upper-cased, each once, at least one. An
/// empty list is refused at `path`, saying that leaving the field out would `verb` every
/// method.
pub(crate) fn method_list(
    items: impl ExactSizeIterator<Item = (String, Scalar)>,
    path: &str,
    verb: &str,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    if items.len() == 0 {
        errors.add(
            path,
            format!("must not be empty (leave it out to {verb} every method)"),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (at, Scalar(text)) in items {
        match method(&text) {
            Ok(m) if out.contains(&m) => {
                errors.add(&at, format!("method {m} is listed twice"));
                ok = false;
            }
            Ok(m) => out.push(m),
            Err(message) => {
                errors.add(&at, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Reads a `{name: value}` header map at `path`, in file order. Names keep their case (they
/// are sent as written); values may be written as numbers or booleans.
pub(crate) fn header_map(
    map: Option<Mapping>,
    path: &str,
    errors: &mut Errors,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in map.into_iter().flatten() {
        let name_text = key_text(&k);
        let at = error::key(path, &name_text);
        let name = match k {
            Value::String(name) => errors.check(&at, header_name(&name)),
            _ => {
                errors.add(&at, "header names must be strings");
                None
            }
        };
        let value = match Scalar::from_value(&v) {
            Some(text) => errors.check(&at, header_value(&text.0)),
            None => {
                errors.add(&at, format!("expected a header value, found {}", kind(&v)));
                None
            }
        };
        if let (Some(name), Some(value)) = (name, value) {
            out.push((name, value));
        }
    }
    out
}

/// Normalises a path prefix (`base_path`, `strip_prefix`): must start with `/`, trailing `/`
/// trimmed, and `/` alone means no prefix (`None`).
pub(crate) fn prefix(text: &str) -> Result<Option<String>, String> {
    literal_path(text)?;
    let trimmed = text.trim_end_matches('/');
    if trimmed.contains("//") {
        return Err(format!("path prefix {text:?} has an empty segment"));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// The host and port of a URL's authority (`host`, `host:port`, `[v6]`, `[v6]:port`).
pub(crate) struct Authority {
    /// Lower-cased; an IPv6 address without its brackets.
    pub host: String,
    /// Whether `host` is an IPv6 address (written in brackets).
    pub ipv6: bool,
    /// The port, 1 to 65535, when one is written.
    pub port: Option<u16>,
}

/// Splits and checks a URL authority; `Err` is the reason, for the caller's message.
pub(crate) fn authority(text: &str) -> Result<Authority, String> {
    let (host, ipv6, port_text) = if let Some(bracketed) = text.strip_prefix('[') {
        let Some((ip, after)) = bracketed.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| "bad IPv6 address".to_string())?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "expected ':port' after ']'".to_string())?,
            ),
        };
        (ip.to_string(), true, port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err("IPv6 addresses must be in brackets, e.g. http://[::1]:8080".into());
        }
        if host.is_empty() {
            return Err("missing host".into());
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err(format!("invalid host {host:?}"));
        }
        (host.to_ascii_lowercase(), false, port)
    };
    let port = match port_text {
        None => None,
        // Digits only: `+80` parses as a u16 but is no port.
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("invalid port {p:?}")),
        },
    };
    Ok(Authority { host, ipv6, port })
}

/// The rules every configured path shares: starts with `/`; no query, fragment, whitespace or
/// control characters; no `.` or `..` segments (clients normalise those away, so a path
/// holding one could never match).
pub(crate) fn literal_path(text: &str) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err(format!("path {text:?} must start with '/'"));
    }
    if text.contains(['?', '#']) {
        return Err(format!("path {text:?} must not contain '?' or '#'"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "path {text:?} must not contain whitespace or control characters"
        ));
    }
    if text.split('/').any(|s| s == "." || s == "..") {
        return Err(format!(
            "path {text:?} must not contain '.' or '..' segments"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token("x-request-id"));
        assert!(is_token("GET"));
        assert!(!is_token(""));
        assert!(!is_token("x y"));
        assert!(!is_token("x:y"));
        assert!(!is_token("é"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("/api/"), Ok(Some("/api".into())));
        assert_eq!(prefix("/api/v1"), Ok(Some("/api/v1".into())));
        assert_eq!(prefix("/"), Ok(None));
        assert_eq!(
            prefix("api"),
            Err("path \"api\" must start with '/'".into())
        );
        assert!(prefix("/a//b").is_err());
        assert!(prefix("/a/../b").is_err());
        assert!(prefix("/a?b").is_err());
    }

    #[test]
    fn header_maps_keep_order_and_report_each_bad_entry() {
        let map: Mapping =
            serde_yaml_ng::from_str("z-last: 1\nbad name: x\na-first: \"v\\r\\n\"\nok: true\n")
                .unwrap();
        let mut errors = Errors::default();
        let headers = header_map(Some(map), "h", &mut errors);
        assert_eq!(
            headers,
            [
                ("z-last".to_owned(), "1".to_owned()),
                ("ok".to_owned(), "true".to_owned())
            ]
        );
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, "h.bad name");
        assert_eq!(
            errors[1].message,
            "header value must not contain CR, LF or NUL"
        );
    }
}
