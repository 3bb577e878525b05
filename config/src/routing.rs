//! Options of the policies that pick or replace the upstream call: `dynamic-routing`,
//! `http-callout` and `interrupt`, with their shared `when` conditions and body templates.

use std::time::Duration;

use regex::Regex;
use serde_yaml_ng::{Mapping, Value};

use crate::auth::{claim_path, query_param};
use crate::env::key_text;
use crate::error::{self, Errors};
use crate::http;
use crate::model::{
    CalloutOnError, DynamicRoutingOptions, HttpCalloutOptions, InterruptOptions, RequestMatch,
    RoutingRule, Template, TemplatePart, TemplateVar,
};
use crate::policy::regex;
use crate::raw::{
    self, kind, RawDynamicRouting, RawHttpCallout, RawInterrupt, RawRequestMatch, RawRoutingRule,
    Scalar,
};
use crate::route::{status, target_url};
use crate::upstream::endpoint;
use crate::validate::{positive_duration, required};

const DEFAULT_CALLOUT_METHOD: &str = "GET";
const DEFAULT_CALLOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// The `on_error` names, in the order listed in messages.
const ON_ERROR: &[&str] = &["fail", "continue"];
/// The template variables that take no name, for "did you mean".
const TEMPLATE_WORDS: &[&str] = &[
    "method",
    "path",
    "query",
    "client_ip",
    "request_id",
    "consumer",
];
/// Every template variable form, as listed in messages.
const TEMPLATE_FORMS: &str =
    "method, path, query, client_ip, request_id, consumer, header.<name>, query.<name>, \
     claim.<path>";

/// `type: dynamic-routing` options at `path`.
pub(crate) fn dynamic_routing(
    raw: RawDynamicRouting,
    path: &str,
    errors: &mut Errors,
) -> Option<DynamicRoutingOptions> {
    let rules_at = error::key(path, "rules");
    let items = required(raw.rules, path, "rules", errors)?;
    if items.is_empty() {
        errors.add(
            &rules_at,
            "needs at least one rule (without rules every request goes to the route's upstream)",
        );
        return None;
    }
    let rules: Vec<Option<RoutingRule>> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| routing_rule(item, &error::index(&rules_at, i), errors))
        .collect();
    Some(DynamicRoutingOptions {
        rules: rules.into_iter().collect::<Option<_>>()?,
    })
}

/// One entry of `rules:` at `path`.
fn routing_rule(value: Value, path: &str, errors: &mut Errors) -> Option<RoutingRule> {
    let raw: RawRoutingRule = raw::object(value, path, &[], errors)?;
    let at = |field: &str| error::key(path, field);
    let when = required(raw.when, path, "when", errors)
        .and_then(|value| request_match(value, &at("when"), errors));
    let target = required(raw.target, path, "target", errors)
        .and_then(|Scalar(text)| errors.check(&at("target"), target_url(&text)));
    let strip_prefix = match raw.strip_prefix {
        Some(Scalar(text)) => errors.check(&at("strip_prefix"), http::prefix(&text)),
        None => Some(None),
    };
    Some(RoutingRule {
        when: when?,
        target: target?,
        strip_prefix: strip_prefix?,
    })
}

/// `when:` at `path`: at least one condition.
pub(crate) fn request_match(value: Value, path: &str, errors: &mut Errors) -> Option<RequestMatch> {
    // A misspelt condition is reported as an unknown field; "no conditions" would repeat it.
    let fields = raw::struct_fields::<RawRequestMatch>();
    let misspelt = matches!(&value, Value::Mapping(map)
        if map.keys().any(|k| !k.as_str().is_some_and(|k| fields.contains(&k))));
    let raw: RawRequestMatch = raw::object(value, path, &[], errors)?;
    let at = |field: &str| error::key(path, field);
    let headers = regex_map(
        raw.headers,
        &at("headers"),
        "header",
        |name| http::header_name(name).map(|h| h.to_ascii_lowercase()),
        errors,
    );
    let query = regex_map(
        raw.query,
        &at("query"),
        "query parameter",
        query_param,
        errors,
    );
    let path_regex = match raw.path {
        Some(Scalar(text)) => errors.check(&at("path"), regex(&text)).map(Some),
        None => Some(None),
    };
    let methods = match raw.method {
        Some(value) => methods(value, &at("method"), errors),
        None => Some(Vec::new()),
    };
    let spec = RequestMatch {
        headers: headers?,
        query: query?,
        path: path_regex?,
        methods: methods?,
    };
    if spec.headers.is_empty()
        && spec.query.is_empty()
        && spec.path.is_none()
        && spec.methods.is_empty()
    {
        if !misspelt {
            errors.add(
                path,
                "has no conditions (give headers, query, path or method), so it would match \
                 every request",
            );
        }
        return None;
    }
    Some(spec)
}

/// `method`: one method or a non-empty list, upper-cased, each once.
fn methods(value: Value, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    let items = raw::one_or_list(value, path, "a method", errors)?;
    http::method_list(items.into_iter(), path, "match", errors)
}

/// `{name: regex}` at `path`, file order: each name (a `what`, checked and normalised by
/// `check`) once, each regex compiled.
fn regex_map(
    map: Option<Mapping>,
    path: &str,
    what: &str,
    check: impl Fn(&str) -> Result<String, String>,
    errors: &mut Errors,
) -> Option<Vec<(String, Regex)>> {
    let mut out: Vec<(String, Regex)> = Vec::new();
    let mut ok = true;
    for (k, v) in map.into_iter().flatten() {
        let at = error::key(path, &key_text(&k));
        let name = match k.as_str() {
            Some(name) => errors.check(&at, check(name)),
            None => {
                errors.add(&at, format!("{what} names must be strings"));
                None
            }
        };
        let name = name.and_then(|name| {
            if out.iter().any(|(n, _)| *n == name) {
                errors.add(&at, format!("{what} {name} is listed twice"));
                return None;
            }
            Some(name)
        });
        let pattern = match Scalar::from_value(&v) {
            Some(Scalar(text)) => errors.check(&at, regex(&text)),
            None => {
                errors.add(&at, format!("expected a regex, found {}", kind(&v)));
                None
            }
        };
        match (name, pattern) {
            (Some(name), Some(pattern)) => out.push((name, pattern)),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `type: http-callout` options at `path`.
pub(crate) fn http_callout(
    raw: RawHttpCallout,
    path: &str,
    errors: &mut Errors,
) -> Option<HttpCalloutOptions> {
    let at = |field: &str| error::key(path, field);
    let url = required(raw.url, path, "url", errors).and_then(|Scalar(text)| {
        errors.check(
            &at("url"),
            endpoint(
                &text,
                "url",
                "the path to call, e.g. http://authz.internal/check",
            ),
        )
    });
    let method = match raw.method {
        Some(Scalar(text)) => errors.check(&at("method"), http::method(&text)),
        None => Some(DEFAULT_CALLOUT_METHOD.to_owned()),
    };
    let headers = http::header_map(raw.headers, &at("headers"), errors);
    let body = match raw.body {
        Some(Scalar(text)) => errors.check(&at("body"), template(&text)).map(Some),
        None => Some(None),
    };
    let set_headers_from = set_headers_from(raw.set_headers_from, &at("set_headers_from"), errors);
    let on_error = match raw.on_error {
        Some(Scalar(text)) => errors.check(&at("on_error"), on_error(&text)),
        None => Some(CalloutOnError::Fail),
    };
    let timeout = positive_duration(raw.timeout, &at("timeout"), DEFAULT_CALLOUT_TIMEOUT, errors);
    Some(HttpCalloutOptions {
        url: url?,
        method: method?,
        headers,
        body: body?,
        set_headers_from: set_headers_from?,
        on_error: on_error?,
        timeout: timeout?,
    })
}

fn on_error(text: &str) -> Result<CalloutOnError, String> {
    match text {
        "fail" => Ok(CalloutOnError::Fail),
        "continue" => Ok(CalloutOnError::Continue),
        _ => Err(format!(
            "unknown on_error {text:?}{}, expected one of: {}",
            raw::did_you_mean(text, ON_ERROR),
            ON_ERROR.join(", ")
        )),
    }
}

/// `set_headers_from: {header: json_pointer}`: header names lower-cased, each once.
fn set_headers_from(
    map: Option<Mapping>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut ok = true;
    for (k, v) in map.into_iter().flatten() {
        let at = error::key(path, &key_text(&k));
        let header = match k.as_str() {
            Some(name) => {
                errors.check(&at, http::header_name(name).map(|h| h.to_ascii_lowercase()))
            }
            None => {
                errors.add(&at, "header names must be strings");
                None
            }
        };
        let header = header.and_then(|header| {
            if out.iter().any(|(h, _)| *h == header) {
                errors.add(&at, format!("header {header} is listed twice"));
                return None;
            }
            Some(header)
        });
        let pointer = match Scalar::from_value(&v) {
            Some(Scalar(text)) => errors.check(&at, json_pointer(&text)),
            None => {
                errors.add(&at, format!("expected a JSON pointer, found {}", kind(&v)));
                None
            }
        };
        match (header, pointer) {
            (Some(header), Some(pointer)) => out.push((header, pointer)),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// An RFC 6901 JSON pointer into the answer: starts with `/`, and `~` only as `~0` or `~1`.
fn json_pointer(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "invalid JSON pointer {text:?}: must start with '/' (e.g. /user/id; RFC 6901)"
        ));
    }
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON pointer {text:?}: '~' must be followed by 0 or 1 (~0 is '~', \
                 ~1 is '/')"
            ));
        }
    }
    Ok(text.to_owned())
}

/// Parses `{{variable}}` placeholders (spaces inside the braces allowed) in `text`.
pub(crate) fn template(text: &str) -> Result<Template, String> {
    let mut parts: Vec<TemplatePart> = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "unterminated \"{{{{\" in template {text:?} (every \"{{{{\" opens a variable, \
                 closed by \"}}}}\")"
            ));
        };
        let variable = template_var(after[..end].trim())?;
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(TemplatePart::Var(variable));
        rest = &after[end + 2..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    Ok(Template {
        text: text.to_owned(),
        parts,
    })
}

fn template_var(name: &str) -> Result<TemplateVar, String> {
    if let Some(header) = name.strip_prefix("header.") {
        return http::header_name(header).map(|h| TemplateVar::Header(h.to_ascii_lowercase()));
    }
    if let Some(param) = name.strip_prefix("query.") {
        return query_param(param).map(TemplateVar::QueryParam);
    }
    if let Some(claim) = name.strip_prefix("claim.") {
        return claim_path(claim).map(TemplateVar::Claim);
    }
    match name {
        "method" => Ok(TemplateVar::Method),
        "path" => Ok(TemplateVar::Path),
        "query" => Ok(TemplateVar::Query),
        "client_ip" => Ok(TemplateVar::ClientIp),
        "request_id" => Ok(TemplateVar::RequestId),
        "consumer" => Ok(TemplateVar::Consumer),
        _ => Err(format!(
            "unknown template variable {name:?}{}, expected one of: {TEMPLATE_FORMS}",
            raw::did_you_mean(name, TEMPLATE_WORDS)
        )),
    }
}

/// `type: interrupt` options at `path`.
pub(crate) fn interrupt(
    raw: RawInterrupt,
    path: &str,
    errors: &mut Errors,
) -> Option<InterruptOptions> {
    let at = |field: &str| error::key(path, field);
    let status = status(raw.status, &at("status"), errors);
    let headers = http::header_map(raw.headers, &at("headers"), errors);
    let when = required(raw.when, path, "when", errors)
        .and_then(|value| request_match(value, &at("when"), errors));
    Some(InterruptOptions {
        when: when?,
        status: status?,
        headers,
        body: raw.body.map(|b| b.0).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t =
            template("{\"m\":\"{{method}}\",\"u\":\"{{ header.X-User }}\"}{{claim.a.b}}").unwrap();
        assert_eq!(
            t.parts,
            [
                TemplatePart::Literal("{\"m\":\"".into()),
                TemplatePart::Var(TemplateVar::Method),
                TemplatePart::Literal("\",\"u\":\"".into()),
                TemplatePart::Var(TemplateVar::Header("x-user".into())),
                TemplatePart::Literal("\"}".into()),
                TemplatePart::Var(TemplateVar::Claim("a.b".into())),
            ]
        );
        assert_eq!(
            template("a}}b").unwrap().parts,
            [TemplatePart::Literal("a}}b".into())]
        );
        assert!(template("").unwrap().parts.is_empty());
        assert_eq!(
            template("{{query.page}}{{query}}{{path}}{{client_ip}}{{request_id}}{{consumer}}")
                .unwrap()
                .parts,
            [
                TemplatePart::Var(TemplateVar::QueryParam("page".into())),
                TemplatePart::Var(TemplateVar::Query),
                TemplatePart::Var(TemplateVar::Path),
                TemplatePart::Var(TemplateVar::ClientIp),
                TemplatePart::Var(TemplateVar::RequestId),
                TemplatePart::Var(TemplateVar::Consumer),
            ]
        );
        assert_eq!(
            template("x {{method").unwrap_err(),
            "unterminated \"{{\" in template \"x {{method\" (every \"{{\" opens a variable, \
             closed by \"}}\")"
        );
        assert_eq!(
            template("{{methd}}").unwrap_err(),
            "unknown template variable \"methd\" (did you mean \"method\"?), expected one of: \
             method, path, query, client_ip, request_id, consumer, header.<name>, \
             query.<name>, claim.<path>"
        );
        assert_eq!(
            template("{{header.a b}}").unwrap_err(),
            "invalid header name \"a b\""
        );
        assert!(template("{{claim.}}").is_err());
        assert!(template("{{query.a=b}}").is_err());
    }

    #[test]
    fn json_pointers() {
        for ok in ["/", "/a", "/a/0/b", "/a~0b", "/a~1b", "/"] {
            assert_eq!(json_pointer(ok), Ok(ok.to_owned()));
        }
        assert!(json_pointer("")
            .unwrap_err()
            .contains("must start with '/'"));
        assert!(json_pointer("a/b")
            .unwrap_err()
            .contains("must start with '/'"));
        assert!(json_pointer("/a~2")
            .unwrap_err()
            .contains("'~' must be followed"));
        assert!(json_pointer("/a~")
            .unwrap_err()
            .contains("'~' must be followed"));
    }
}
