//! `when:` request conditions shared by `interrupt` and `dynamic-routing`.
//!
//! Unlike [`Skip`](crate::Skip), a condition can look at query parameters and at every value
//! of a repeated header, and it names methods by [`Method`] so matching never compares strings.

use regex::Regex;
use sluice_codec::{Headers, Method};

use crate::urlencoded::query_values;

/// A request condition: matches when every condition given matches. An empty `Condition`
/// (all lists empty, no path) matches every request.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    /// Header name and a regex one of its values must match (any value of a repeated
    /// header counts). An absent header, or one whose values are not UTF-8, does not match.
    pub headers: Vec<(String, Regex)>,
    /// Query parameter name and a regex its value must match, both percent-decoded with `+`
    /// read as a space (form encoding). Any occurrence of a repeated parameter counts; a
    /// parameter written without `=` has the empty value; an absent one does not match.
    pub query: Vec<(String, Regex)>,
    /// Regex the path must match, as received (still percent-encoded, like the router sees
    /// it). Unanchored unless written with `^`/`$`.
    pub path: Option<Regex>,
    /// Any of these methods; empty means any method.
    pub method: Vec<Method>,
}

impl Condition {
    /// True when the request satisfies every given condition. `path` is the path as received,
    /// `query` the query string without `?`. Never panics.
    pub fn matches(
        &self,
        method: &Method,
        path: &[u8],
        query: Option<&[u8]>,
        headers: &Headers,
    ) -> bool {
        if !self.method.is_empty() && !self.method.contains(method) {
            return false;
        }
        if let Some(re) = &self.path {
            if !re.is_match(&String::from_utf8_lossy(path)) {
                return false;
            }
        }
        let headers_match = self.headers.iter().all(|(name, re)| {
            headers
                .get_all(name)
                .any(|v| std::str::from_utf8(v).is_ok_and(|v| re.is_match(v)))
        });
        if !headers_match {
            return false;
        }
        self.query.iter().all(|(name, re)| {
            query_values(query.unwrap_or_default(), name, true)
                .any(|v| re.is_match(&String::from_utf8_lossy(&v)))
        })
    }

    /// True when no condition is given (the condition matches everything).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
            && self.query.is_empty()
            && self.path.is_none()
            && self.method.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
        let mut h = Headers::default();
        for (n, v) in pairs {
            h.append(*n, *v);
        }
        h
    }

    #[test]
    fn empty_condition_matches_everything() {
        let c = Condition::default();
        assert!(c.is_empty());
        assert!(c.matches(&Method::Post, b"/x", None, &Headers::default()));
    }

    #[test]
    fn method_and_path() {
        let c = Condition {
            method: vec![Method::Get, Method::Head],
            path: Some(re("^/api/v2(/|$)")),
            ..Condition::default()
        };
        let h = Headers::default();
        assert!(c.matches(&Method::Get, b"/api/v2/users", None, &h));
        assert!(c.matches(&Method::Head, b"/api/v2", None, &h));
        assert!(!c.matches(&Method::Post, b"/api/v2/users", None, &h));
        assert!(!c.matches(&Method::Get, b"/api/v20", None, &h));
        // The path is matched as received: an encoded slash stays encoded.
        assert!(!c.matches(&Method::Get, b"/api%2Fv2/x", None, &h));
        assert!(!c.is_empty());
    }

    #[test]
    fn headers_any_value_case_insensitive_name() {
        let c = Condition {
            headers: vec![("x-canary".into(), re("^(yes|1)$"))],
            ..Condition::default()
        };
        let get = |h: &Headers| c.matches(&Method::Get, b"/", None, h);
        assert!(get(&headers(&[("X-Canary", "1")])));
        assert!(get(&headers(&[("x-canary", "no"), ("x-canary", "yes")])));
        assert!(!get(&headers(&[("x-canary", "no")])));
        assert!(!get(&Headers::default()));
        let mut bad = Headers::default();
        bad.append("x-canary", &b"\xff"[..]);
        assert!(!get(&bad));
    }

    #[test]
    fn query_params_decoded() {
        let c = Condition {
            query: vec![("user id".into(), re("^a b/c$"))],
            ..Condition::default()
        };
        let q = |s: &'static str| {
            c.matches(&Method::Get, b"/", Some(s.as_bytes()), &Headers::default())
        };
        assert!(q("user%20id=a+b%2Fc"));
        assert!(q("x=1&&user+id=zzz&user%20id=a%20b/c"));
        assert!(!q("user%20id=ab"));
        assert!(!q("other=a+b%2Fc"));
        assert!(!c.matches(&Method::Get, b"/", None, &Headers::default()));

        let flag = Condition {
            query: vec![("debug".into(), re("^$"))],
            ..Condition::default()
        };
        assert!(flag.matches(&Method::Get, b"/", Some(b"debug"), &Headers::default()));
        assert!(flag.matches(&Method::Get, b"/", Some(b"debug="), &Headers::default()));
    }

    #[test]
    fn all_conditions_must_match() {
        let c = Condition {
            headers: vec![("x-a".into(), re("1"))],
            query: vec![("b".into(), re("2"))],
            path: Some(re("^/p")),
            method: vec![Method::Put],
        };
        let h = headers(&[("x-a", "1")]);
        assert!(c.matches(&Method::Put, b"/p", Some(b"b=2"), &h));
        assert!(!c.matches(&Method::Get, b"/p", Some(b"b=2"), &h));
        assert!(!c.matches(&Method::Put, b"/q", Some(b"b=2"), &h));
        assert!(!c.matches(&Method::Put, b"/p", Some(b"b=3"), &h));
        assert!(!c.matches(&Method::Put, b"/p", Some(b"b=2"), &Headers::default()));
    }
}
