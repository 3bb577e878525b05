//! The router: a segment trie over route patterns.
//!
//! Static segments beat `:param` segments, which beat a trailing `*`; the search backtracks,
//! so `/users/me` (GET) and `/users/:id` (POST) can coexist. A path matches with or without
//! one trailing slash.

use sluice_codec::Method;

use crate::Route;

/// Result of a look-up.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    /// Route index and captured parameters as byte ranges of the path.
    Found {
        route: usize,
        params: Vec<(usize, usize)>,
    },
    /// Some route matches the path, none the method; the `Allow` header value.
    MethodNotAllowed(String),
    NotFound,
}

/// The compiled trie of every route pattern in a snapshot.
#[derive(Debug, Default)]
pub struct Router {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    /// Kept sorted by segment for binary search.
    statics: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    /// Routes ending in `*` at this node, in config order.
    wildcard: Vec<usize>,
    /// Routes ending exactly at this node, in config order.
    terminal: Vec<usize>,
}

impl Router {
    /// Adds `pattern` (already including any base path) for route `id`.
    pub fn insert(&mut self, pattern: &str, id: usize) {
        let mut node = &mut self.root;
        for seg in segments(pattern) {
            if seg == "*" {
                node.wildcard.push(id);
                return;
            }
            node = if seg.starts_with(':') {
                node.param.get_or_insert_with(Default::default)
            } else {
                let pos = match node.statics.binary_search_by(|(s, _)| (**s).cmp(seg)) {
                    Ok(p) => p,
                    Err(p) => {
                        node.statics.insert(p, (seg.into(), Node::default()));
                        p
                    }
                };
                &mut node.statics[pos].1
            };
        }
        node.terminal.push(id);
    }

    /// Finds the route for `method` and `path` (path without query).
    pub fn find(&self, routes: &[Route], method: &Method, path: &str) -> RouteMatch {
        let trimmed = if path.len() > 1 && path.ends_with('/') {
            &path[..path.len() - 1]
        } else {
            path
        };
        let mut params = Vec::new();
        let mut path_matched = false;
        if let Some(route) =
            self.root
                .find(routes, method, trimmed, 0, &mut params, &mut path_matched)
        {
            return RouteMatch::Found { route, params };
        }
        if !path_matched {
            return RouteMatch::NotFound;
        }
        // Slow path, only on a 405: collect every method of every path-matching route.
        let mut allowed: Vec<String> = Vec::new();
        let mut any = false;
        self.root
            .collect(routes, trimmed, 0, &mut |r: &Route| match &r.methods {
                None => any = true,
                Some(list) => {
                    for m in list {
                        let m = m.as_str().to_string();
                        if !allowed.contains(&m) {
                            allowed.push(m);
                        }
                    }
                }
            });
        if any {
            // Unreachable in practice: a route allowing every method would have matched.
            return RouteMatch::NotFound;
        }
        if allowed.iter().any(|m| m == "GET") && !allowed.iter().any(|m| m == "HEAD") {
            allowed.push("HEAD".into());
        }
        RouteMatch::MethodNotAllowed(allowed.join(", "))
    }
}

impl Node {
    /// Depth-first search; `offset` is where the unmatched rest of `path` starts
    /// (always at a `/` or the end).
    fn find(
        &self,
        routes: &[Route],
        method: &Method,
        path: &str,
        offset: usize,
        params: &mut Vec<(usize, usize)>,
        path_matched: &mut bool,
    ) -> Option<usize> {
        let rest = &path[offset..];
        if rest.is_empty() || rest == "/" {
            if let Some(id) = pick(&self.terminal, routes, method, path_matched) {
                return Some(id);
            }
        } else {
            let (seg_start, seg_end) = next_segment(path, offset);
            let seg = &path[seg_start..seg_end];
            if let Ok(pos) = self.statics.binary_search_by(|(s, _)| (**s).cmp(seg)) {
                let found =
                    self.statics[pos]
                        .1
                        .find(routes, method, path, seg_end, params, path_matched);
                if found.is_some() {
                    return found;
                }
            }
            if let Some(child) = &self.param {
                if !seg.is_empty() {
                    params.push((seg_start, seg_end));
                    let found = child.find(routes, method, path, seg_end, params, path_matched);
                    if found.is_some() {
                        return found;
                    }
                    params.pop();
                }
            }
        }
        pick(&self.wildcard, routes, method, path_matched)
    }

    fn collect(&self, routes: &[Route], path: &str, offset: usize, f: &mut impl FnMut(&Route)) {
        let rest = &path[offset..];
        if rest.is_empty() || rest == "/" {
            self.terminal.iter().for_each(|&id| f(&routes[id]));
        } else {
            let (seg_start, seg_end) = next_segment(path, offset);
            let seg = &path[seg_start..seg_end];
            if let Ok(pos) = self.statics.binary_search_by(|(s, _)| (**s).cmp(seg)) {
                self.statics[pos].1.collect(routes, path, seg_end, f);
            }
            if let Some(child) = &self.param {
                if !seg.is_empty() {
                    child.collect(routes, path, seg_end, f);
                }
            }
        }
        self.wildcard.iter().for_each(|&id| f(&routes[id]));
    }
}

fn pick(
    ids: &[usize],
    routes: &[Route],
    method: &Method,
    path_matched: &mut bool,
) -> Option<usize> {
    if !ids.is_empty() {
        *path_matched = true;
    }
    ids.iter().copied().find(|&id| routes[id].allows(method))
}

/// Byte range of the segment after the `/` at `offset`.
fn next_segment(path: &str, offset: usize) -> (usize, usize) {
    let start = offset + 1;
    let end = path[start..]
        .find('/')
        .map(|i| start + i)
        .unwrap_or(path.len());
    (start, end)
}

/// Non-empty segments of a pattern.
fn segments(pattern: &str) -> impl Iterator<Item = &str> {
    pattern.split('/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
