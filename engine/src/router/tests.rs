use super::*;
use crate::{Program, Route, StaticResponse, Upstream};
use bytes::Bytes;
use sluice_codec::Headers;

fn route(id: usize, pattern: &str, methods: Option<&[Method]>) -> Route {
    Route {
        id,
        pattern: pattern.into(),
        params: vec![],
        methods: methods.map(|m| m.to_vec()),
        base_path_len: 0,
        websocket: false,
        program: Program::default(),
        upstream: Upstream::Static(StaticResponse {
            status: 200,
            headers: Headers::default(),
            body: Bytes::new(),
        }),
    }
}

fn table() -> (Router, Vec<Route>) {
    let routes = vec![
        route(0, "/users/me", Some(&[Method::Get])),
        route(1, "/users/:id", Some(&[Method::Post, Method::Get])),
        route(2, "/users/:id/posts/:post", None),
        route(3, "/files/*", None),
        route(4, "/", None),
        route(5, "/only-put", Some(&[Method::Put])),
    ];
    let mut r = Router::default();
    for rt in &routes {
        r.insert(&rt.pattern, rt.id);
    }
    (r, routes)
}

fn found(m: RouteMatch) -> (usize, Vec<(usize, usize)>) {
    match m {
        RouteMatch::Found { route, params } => (route, params),
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn static_beats_param_and_backtracks_on_method() {
    let (r, routes) = table();
    assert_eq!(found(r.find(&routes, &Method::Get, "/users/me")).0, 0);
    assert_eq!(found(r.find(&routes, &Method::Post, "/users/me")).0, 1);
    let (id, params) = found(r.find(&routes, &Method::Get, "/users/42"));
    assert_eq!(id, 1);
    assert_eq!(&"/users/42"[params[0].0..params[0].1], "42");
}

#[test]
fn params_wildcard_trailing_slash_root() {
    let (r, routes) = table();
    let path = "/users/7/posts/99/";
    let (id, params) = found(r.find(&routes, &Method::Delete, path));
    assert_eq!(id, 2);
    assert_eq!(params.len(), 2);
    assert_eq!(&path[params[1].0..params[1].1], "99");
    assert_eq!(found(r.find(&routes, &Method::Get, "/files/a/b/c")).0, 3);
    assert_eq!(found(r.find(&routes, &Method::Get, "/files")).0, 3);
    assert_eq!(found(r.find(&routes, &Method::Get, "/")).0, 4);
    assert_eq!(r.find(&routes, &Method::Get, "/nope"), RouteMatch::NotFound);
    assert_eq!(
        r.find(&routes, &Method::Get, "/users/7/x"),
        RouteMatch::NotFound
    );
}

#[test]
fn method_not_allowed_lists_methods() {
    let (r, routes) = table();
    assert_eq!(
        r.find(&routes, &Method::Get, "/only-put"),
        RouteMatch::MethodNotAllowed("PUT".into())
    );
    assert_eq!(
        r.find(&routes, &Method::Delete, "/users/5"),
        RouteMatch::MethodNotAllowed("POST, GET, HEAD".into())
    );
}

#[test]
fn head_allowed_where_get_is() {
    let (r, routes) = table();
    assert_eq!(found(r.find(&routes, &Method::Head, "/users/me")).0, 0);
}
