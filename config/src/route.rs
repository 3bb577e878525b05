//! `routes:` entries: the route path, methods, `websocket`, and the upstream with its target
//! URL (group settings and `type: health` in `upstream.rs`).

use std::time::Duration;

use serde_yaml_ng::Value;

use crate::error::{self, Errors};
use crate::model::{RouteSpec, StaticUpstream, TargetUrl, UpstreamSpec, UrlUpstream};
use crate::raw::{self, kind, RawRoute, RawStaticUpstream, RawUrlUpstream, Scalar};
use crate::validate::{positive_duration, required};
use crate::{guards, http, policy, upstream};

const UPSTREAM_TYPES: &[&str] = &["url", "static", "health"];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_HTTP_PORT: u16 = 80;
const DEFAULT_STATUS: u16 = 200;

/// `routes`: a non-empty list of routes.
pub(crate) fn list(value: Value, path: &str, errors: &mut Errors) -> Option<Vec<RouteSpec>> {
    let items = match value {
        Value::Sequence(items) if items.is_empty() => {
            errors.add(path, "needs at least one route");
            return None;
        }
        Value::Sequence(items) => items,
        other => {
            errors.add(
                path,
                format!("expected a list of routes, found {}", kind(&other)),
            );
            return None;
        }
    };
    let routes: Vec<Option<RouteSpec>> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| route(item, &error::index(path, i), errors))
        .collect();
    routes.into_iter().collect()
}

fn route(value: Value, path: &str, errors: &mut Errors) -> Option<RouteSpec> {
    let raw: RawRoute = raw::object(value, path, &[], errors)?;
    let route_path = required(raw.path, path, "path", errors)
        .and_then(|p| errors.check(&error::key(path, "path"), route_path(&p.0)));
    let methods = match raw.methods {
        Some(list) => http::methods(list, &error::key(path, "methods"), errors).map(Some),
        None => Some(None),
    };
    let policies = policy::list(raw.policies, &error::key(path, "policies"), errors);
    let upstream = required(raw.upstream, path, "upstream", errors)
        .and_then(|u| upstream(u, &error::key(path, "upstream"), errors));
    let websocket_at = error::key(path, "websocket");
    let websocket = guards::flag(raw.websocket, &websocket_at, false, errors);
    // Judged only on a valid upstream, so a mistake there is reported once, as itself.
    let websocket = match (websocket, &upstream) {
        (Some(true), Some(UpstreamSpec::Static(_) | UpstreamSpec::Health(_))) => {
            errors.add(
                &websocket_at,
                "websocket: true needs a url upstream (the connection is tunnelled to it)",
            );
            None
        }
        (websocket, _) => websocket,
    };
    Some(RouteSpec {
        path: route_path?,
        methods: methods?,
        policies: policies?,
        upstream: upstream?,
        websocket: websocket?,
        field_path: path.to_owned(),
    })
}

/// Checks a route path: `/`-separated literal segments, `:name` parameters (each name once),
/// and `*` only as the whole last segment.
pub(crate) fn route_path(text: &str) -> Result<String, String> {
    http::literal_path(text)?;
    let invalid = |why: String| format!("invalid route path {text:?}: {why}");
    if text == "/" {
        return Ok(text.to_owned());
    }
    let segments: Vec<&str> = text[1..].split('/').collect();
    let mut params: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            // The router compares segments, so `/a/` and `/a//b` would never match what the
            // writer expects; make them say what they mean.
            return Err(invalid("empty segment (doubled or trailing '/')".into()));
        }
        if segment.contains('*') {
            if *segment != "*" || i + 1 != segments.len() {
                return Err(invalid(
                    "'*' is only allowed as the whole last segment".into(),
                ));
            }
            continue;
        }
        if let Some(name) = segment.strip_prefix(':') {
            if !is_param_name(name) {
                return Err(invalid(format!(
                    "parameter name {name:?} must match [A-Za-z_][A-Za-z0-9_]*"
                )));
            }
            if params.contains(&name) {
                return Err(invalid(format!("parameter :{name} appears twice")));
            }
            params.push(name);
        }
    }
    Ok(text.to_owned())
}

fn is_param_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn upstream(value: Value, path: &str, errors: &mut Errors) -> Option<UpstreamSpec> {
    let (kind, rest) = raw::tagged(value, path, "upstream", UPSTREAM_TYPES, errors)?;
    let rest = Value::Mapping(rest);
    match kind {
        "url" => {
            let raw = raw::object(rest, path, &["type"], errors)?;
            url_upstream(raw, path, errors).map(UpstreamSpec::Url)
        }
        "static" => {
            let raw = raw::object(rest, path, &["type"], errors)?;
            static_upstream(raw, path, errors).map(UpstreamSpec::Static)
        }
        "health" => {
            let raw = raw::object(rest, path, &["type"], errors)?;
            upstream::health_upstream(raw, path, errors).map(UpstreamSpec::Health)
        }
        // `tagged` only returns names from UPSTREAM_TYPES.
        _ => None,
    }
}

fn url_upstream(raw: RawUrlUpstream, path: &str, errors: &mut Errors) -> Option<UrlUpstream> {
    let balancer = upstream::balancer_name(
        &raw.load_balancer,
        &error::key(path, "load_balancer"),
        errors,
    );
    let targets = upstream::targets(raw.target, raw.targets, balancer, path, errors);
    let load_balancer = upstream::load_balancer(balancer, raw.hash_on, path, errors);
    let health_check = match raw.health_check {
        Some(value) => {
            upstream::health_check(value, &error::key(path, "health_check"), errors).map(Some)
        }
        None => Some(None),
    };
    let outlier = match raw.outlier {
        Some(value) => upstream::outlier(value, &error::key(path, "outlier"), errors).map(Some),
        None => Some(None),
    };
    let timeout = positive_duration(
        raw.timeout,
        &error::key(path, "timeout"),
        DEFAULT_TIMEOUT,
        errors,
    );
    let connect_timeout = positive_duration(
        raw.connect_timeout,
        &error::key(path, "connect_timeout"),
        DEFAULT_CONNECT_TIMEOUT,
        errors,
    );
    let headers = http::header_map(raw.headers, &error::key(path, "headers"), errors);
    let preserve_host = match raw.preserve_host {
        Some(text) => errors.check(&error::key(path, "preserve_host"), text.boolean()),
        None => Some(false),
    };
    let strip_prefix = match raw.strip_prefix {
        Some(text) => errors.check(&error::key(path, "strip_prefix"), http::prefix(&text.0)),
        None => Some(None),
    };
    let targets = targets?;
    Some(UrlUpstream {
        target: targets[0].url.clone(),
        targets,
        load_balancer: load_balancer?,
        health_check: health_check?,
        outlier: outlier?,
        timeout: timeout?,
        connect_timeout: connect_timeout?,
        headers,
        preserve_host: preserve_host?,
        strip_prefix: strip_prefix?,
    })
}

fn static_upstream(
    raw: RawStaticUpstream,
    path: &str,
    errors: &mut Errors,
) -> Option<StaticUpstream> {
    let status = status(raw.status, &error::key(path, "status"), errors);
    let headers = http::header_map(raw.headers, &error::key(path, "headers"), errors);
    Some(StaticUpstream {
        status: status?,
        headers,
        body: raw.body.map(|b| b.0).unwrap_or_default(),
    })
}

/// An HTTP status code at `path`, 100..=599, default 200.
pub(crate) fn status(field: Option<Scalar>, path: &str, errors: &mut Errors) -> Option<u16> {
    let Some(text) = field else {
        return Some(DEFAULT_STATUS);
    };
    errors.check(path, upstream::status_code(&text, 100))
}

/// Parses `http://host[:port][/path-prefix]`.
pub(crate) fn target_url(text: &str) -> Result<TargetUrl, String> {
    let mut url = http_url(
        text,
        "upstream target",
        "https upstreams are not supported yet (TLS is planned)",
    )?;
    let path_prefix = url.path_prefix.trim_end_matches('/');
    if !path_prefix.is_empty() {
        http::literal_path(path_prefix)
            .map_err(|why| format!("invalid upstream target {text:?}: {why}"))?;
    }
    url.path_prefix = path_prefix.to_owned();
    Ok(url)
}

/// Splits `http://host[:port][/path]` by the rules of [`target_url`], leaving the path
/// (possibly empty) as written and unchecked in `path_prefix`. `what` names the field in
/// messages (`invalid {what} "...": why`); `https` is the whole message for an `https` URL.
pub(crate) fn http_url(text: &str, what: &str, https: &str) -> Result<TargetUrl, String> {
    let invalid = |why: &str| format!("invalid {what} {text:?}: {why}");
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("expected http://host[:port][/path]"));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" => {}
        "https" => return Err(https.to_owned()),
        _ => {
            return Err(invalid(&format!(
                "unsupported scheme {scheme:?} (expected http)"
            )))
        }
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("a query or fragment is not allowed"));
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("whitespace or control characters are not allowed"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        // Credentials in a config URL would be sent nowhere (no auth support) and end up in
        // logs; refuse rather than silently drop them.
        return Err(invalid("user info (user@host) is not allowed"));
    }
    let auth = http::authority(authority).map_err(|why| invalid(&why))?;
    let (host, port) = (auth.host, auth.port.unwrap_or(DEFAULT_HTTP_PORT));
    Ok(TargetUrl {
        scheme,
        host,
        port,
        path_prefix: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths() {
        for ok in [
            "/",
            "/users",
            "/users/:id",
            "/users/:id/posts/:post_id",
            "/files/*",
            "/a:b",
            "/*",
        ] {
            assert_eq!(route_path(ok), Ok(ok.to_owned()), "{ok}");
        }
        let cases = [
            ("/a/*/b", "'*' is only allowed as the whole last segment"),
            ("/a*", "'*' is only allowed as the whole last segment"),
            ("/u/:id/:id", "parameter :id appears twice"),
            (
                "/u/:1d",
                "parameter name \"1d\" must match [A-Za-z_][A-Za-z0-9_]*",
            ),
            (
                "/u/:",
                "parameter name \"\" must match [A-Za-z_][A-Za-z0-9_]*",
            ),
            ("/u/", "empty segment (doubled or trailing '/')"),
        ];
        for (input, why) in cases {
            let expected = format!("invalid route path {input:?}: {why}");
            assert_eq!(route_path(input), Err(expected), "{input}");
        }
        let literal = [
            ("users", "path \"users\" must start with '/'"),
            (
                "/a/../b",
                "path \"/a/../b\" must not contain '.' or '..' segments",
            ),
            ("/a?b=1", "path \"/a?b=1\" must not contain '?' or '#'"),
        ];
        for (input, message) in literal {
            assert_eq!(route_path(input), Err(message.to_owned()), "{input}");
        }
    }

    #[test]
    fn targets() {
        let t = |host: &str, port, prefix: &str| TargetUrl {
            scheme: "http".into(),
            host: host.into(),
            port,
            path_prefix: prefix.into(),
        };
        assert_eq!(
            target_url("http://127.0.0.1:9000/prefix/"),
            Ok(t("127.0.0.1", 9000, "/prefix"))
        );
        assert_eq!(
            target_url("HTTP://Backend.Local"),
            Ok(t("backend.local", 80, ""))
        );
        assert_eq!(target_url("http://[::1]:8080/"), Ok(t("::1", 8080, "")));
        assert_eq!(target_url("http://[::1]"), Ok(t("::1", 80, "")));
        assert_eq!(
            target_url("https://example.com"),
            Err("https upstreams are not supported yet (TLS is planned)".into())
        );
        for (bad, why) in [
            ("example.com", "expected http://host[:port][/path]"),
            ("ftp://x", "unsupported scheme \"ftp\" (expected http)"),
            ("http://u:p@x", "user info (user@host) is not allowed"),
            ("http://x/?a=1", "a query or fragment is not allowed"),
            ("http://x/#f", "a query or fragment is not allowed"),
            (
                "http://::1/",
                "IPv6 addresses must be in brackets, e.g. http://[::1]:8080",
            ),
            ("http://[::1/", "missing ']' after the IPv6 address"),
            ("http://[zz]/", "bad IPv6 address"),
            ("http://x:0", "invalid port \"0\""),
            ("http://x:99999", "invalid port \"99999\""),
            ("http://x:", "invalid port \"\""),
            ("http://x:+80", "invalid port \"+80\""),
            ("http://:80", "missing host"),
            (
                "http://a b",
                "whitespace or control characters are not allowed",
            ),
        ] {
            assert_eq!(
                target_url(bad),
                Err(format!("invalid upstream target {bad:?}: {why}")),
                "{bad}"
            );
        }
    }
}
