//! `dynamic-routing` (default priority 50): send matching requests to another target.
//!
//! The engine builds, per route, a table of alternate targets from the rules' `target`
//! entries; a [`Rule`] refers to it by index. The first rule whose condition matches wins;
//! when none matches the request goes to the route's own upstream.

use sluice_codec::{Headers, Method};

use crate::when::Condition;

/// Compiled `dynamic-routing` options.
#[derive(Debug, Clone, Default)]
pub struct DynamicRouting {
    /// Tried in order; the first match wins.
    pub rules: Vec<Rule>,
}

/// One `rules[]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    /// When the rule applies.
    pub when: Condition,
    /// Index into the route's alternate-target table built by the engine.
    pub target: usize,
    /// Removed from the front of the path before forwarding (see [`Rule::rewrite_path`]);
    /// `None` keeps the path.
    pub strip_prefix: Option<String>,
}

impl DynamicRouting {
    /// Request phase: the first rule matching the request, or `None` to use the route's own
    /// upstream. `path` is the path as received, `query` the query without `?`.
    pub fn choose(
        &self,
        method: &Method,
        path: &[u8],
        query: Option<&[u8]>,
        headers: &Headers,
    ) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.when.matches(method, path, query, headers))
    }
}

impl Rule {
    /// The path to forward: `path` without `strip_prefix` when the prefix matches whole
    /// segments (`/api` strips `/api` and `/api/x`, not `/apix`; a trailing `/` on the prefix
    /// is ignored), `/` when nothing is left, else `path` unchanged. Never allocates.
    pub fn rewrite_path<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        let Some(prefix) = self.strip_prefix.as_deref() else {
            return path;
        };
        let prefix = prefix.trim_end_matches('/').as_bytes();
        if prefix.is_empty() {
            return path;
        }
        match path.strip_prefix(prefix) {
            Some([]) => b"/",
            Some(rest) if rest[0] == b'/' => rest,
            _ => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn rule(target: usize, header: Option<(&str, &str)>, path: Option<&str>) -> Rule {
        Rule {
            when: Condition {
                headers: header
                    .map(|(n, r)| (n.to_owned(), Regex::new(r).unwrap()))
                    .into_iter()
                    .collect(),
                path: path.map(|p| Regex::new(p).unwrap()),
                ..Condition::default()
            },
            target,
            strip_prefix: None,
        }
    }

    #[test]
    fn first_match_wins_else_none() {
        let routing = DynamicRouting {
            rules: vec![
                rule(0, Some(("x-version", "^2$")), None),
                rule(1, None, Some("^/beta")),
                rule(2, None, Some("^/beta/x")),
            ],
        };
        let mut v2 = Headers::default();
        v2.append("x-version", "2");
        let none = Headers::default();
        let pick = |path: &[u8], h: &Headers| {
            routing
                .choose(&Method::Get, path, None, h)
                .map(|r| r.target)
        };
        assert_eq!(pick(b"/beta/x", &v2), Some(0));
        assert_eq!(pick(b"/beta/x", &none), Some(1));
        assert_eq!(pick(b"/other", &none), None);
        assert_eq!(
            DynamicRouting::default()
                .choose(&Method::Get, b"/", None, &none)
                .map(|r| r.target),
            None
        );
    }

    #[test]
    fn strip_prefix_on_segment_boundaries() {
        let mut r = rule(0, None, None);
        assert_eq!(r.rewrite_path(b"/api/x"), b"/api/x");
        r.strip_prefix = Some("/api".into());
        assert_eq!(r.rewrite_path(b"/api/x/y"), b"/x/y");
        assert_eq!(r.rewrite_path(b"/api"), b"/");
        assert_eq!(r.rewrite_path(b"/apix"), b"/apix");
        assert_eq!(r.rewrite_path(b"/other"), b"/other");
        r.strip_prefix = Some("/api/".into());
        assert_eq!(r.rewrite_path(b"/api/x"), b"/x");
        r.strip_prefix = Some("/".into());
        assert_eq!(r.rewrite_path(b"/api/x"), b"/api/x");
    }
}
