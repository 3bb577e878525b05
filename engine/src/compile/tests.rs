use super::*;
use crate::{run_request, run_response, Flow, PolicyEnv, RequestContext, RouteMatch, ShardState};

fn env<'a>(snap: &'a Snapshot, state: &'a ShardState) -> PolicyEnv<'a> {
    PolicyEnv {
        consumers: &snap.consumers,
        state,
    }
}
use bytes::BytesMut;
use sluice_codec::{parse_request_head, HeadLimits, Headers};

const YAML: &str = r#"
name: t
base_path: /api
listen: ["127.0.0.1:0"]
policies:
  - {type: request-transform, name: tag, set_headers: {x-global: g}}
  - {type: response-transform, set_headers: {x-resp: global}}
  - {type: ip-filter, deny: ["10.0.0.0/8"]}
routes:
  - path: /users/:id
    methods: [GET]
    policies:
      - {type: request-transform, name: tag, set_headers: {x-route: r}}
      - {type: mock, status: 201, body: hi}
    upstream: {type: url, target: "http://127.0.0.1:9/v1"}
  - path: /static
    upstream: {type: static, status: 200, body: ok}
"#;

fn snapshot() -> Snapshot {
    let cfg = sluice_config::load_str(YAML, "t.yaml").unwrap();
    compile(&cfg).unwrap()
}

#[test]
fn merge_replaces_by_name_and_sorts_by_priority() {
    let snap = snapshot();
    let names: Vec<_> = snap.routes[0]
        .program
        .ops
        .iter()
        .map(|e| (e.name.as_str(), e.priority))
        .collect();
    assert_eq!(
        names,
        vec![
            ("ip-filter", 1),
            ("tag", 50),
            ("response-transform", 92),
            ("mock", 999)
        ]
    );
    let listing = format!("{:?}", snap.routes[0].program);
    assert!(listing.contains("IPFILTER"), "{listing}");
    assert!(
        listing.contains("UPSTREAM  proxy http://127.0.0.1:9/v1"),
        "{listing}"
    );
}

#[test]
fn interpreter_short_circuits_and_unwinds_ran_ops() {
    let snap = snapshot();
    let state = ShardState::default();
    let mut buf = BytesMut::from(&b"GET /api/users/7 HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
    let mut req = parse_request_head(&mut buf, &HeadLimits::default())
        .unwrap()
        .unwrap();
    let m = snap.router.find(&snap.routes, &req.method, "/api/users/7");
    let RouteMatch::Found { route, .. } = m else {
        panic!("{m:?}")
    };
    let prog = &snap.routes[route].program;
    let mut ctx = RequestContext::new(
        "127.0.0.1:1".parse().unwrap(),
        &req.headers,
        b"x-request-id",
    );
    let Flow::Answer(answer) = run_request(prog, env(&snap, &state), &mut req, &mut ctx) else {
        panic!("mock should answer")
    };
    assert_eq!(answer.status, 201);
    assert_eq!(req.headers.get("x-route").unwrap().as_ref(), b"r");
    assert!(
        !req.headers.contains("x-global"),
        "route policy replaces the global one"
    );
    let mut h = answer.headers.clone();
    run_response(prog, 201, &mut h, &mut ctx);
    assert_eq!(h.get("x-resp").unwrap().as_ref(), b"global");

    let mut ctx = RequestContext::new("10.1.1.1:1".parse().unwrap(), &req.headers, b"x-request-id");
    let Flow::Reject(r) = run_request(prog, env(&snap, &state), &mut req, &mut ctx) else {
        panic!("ip-filter should refuse")
    };
    assert_eq!((r.status, r.code), (403, "ip_denied"));
    let mut h = Headers::default();
    run_response(prog, 403, &mut h, &mut ctx);
    assert!(
        !h.contains("x-resp"),
        "response-transform did not run in the request phase"
    );
}

#[test]
fn base_path_prefixes_routes() {
    let snap = snapshot();
    assert!(matches!(
        snap.router.find(&snap.routes, &Method::Get, "/api/static"),
        RouteMatch::Found { route: 1, .. }
    ));
    assert_eq!(
        snap.router.find(&snap.routes, &Method::Get, "/static"),
        RouteMatch::NotFound
    );
}

#[test]
fn every_host_goes_through_the_resolver_and_is_looked_up_once() {
    let yaml = r#"
name: t
routes:
  - path: /a
    policies:
      - {type: traffic-shadow, target: "http://127.0.0.3:9000"}
    upstream:
      type: url
      targets: [{url: "http://127.0.0.1:9000"}, {url: "http://127.0.0.2:9000"}]
  - path: /b
    upstream: {type: url, target: "http://127.0.0.1:9000"}
"#;
    let cfg = sluice_config::load_str(yaml, "t.yaml").unwrap();
    let resolver = Resolver::default();
    compile_with(&cfg, &resolver).unwrap();
    assert_eq!(
        resolver.len(),
        3,
        "two targets and the shadow, /b's target shared"
    );
    compile_with(&cfg, &resolver).unwrap();
    assert_eq!(
        resolver.len(),
        3,
        "a second compile asks again for nothing new"
    );
}
