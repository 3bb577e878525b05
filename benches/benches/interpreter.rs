//! The interpreter over a route program: an empty program (baseline), and the hot route's
//! ip-filter + request-transform + response-transform program, both phases.

use std::net::SocketAddr;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_benches::{bench_snapshot, browser_get};
use sluice_engine::{run_request, run_response, PolicyEnv, Program, RequestContext, ShardState};

fn interpreter(c: &mut Criterion) {
    let snap = bench_snapshot();
    let hot = &snap.routes.last().expect("routes").program;
    let empty = Program::default();
    let state = ShardState::default();
    let peer: SocketAddr = "203.0.113.7:5000".parse().expect("addr");
    let head = browser_get("/api/users/42/orders/9");
    let mut g = c.benchmark_group("interpreter");
    for (name, program) in [("empty_program", &empty), ("three_ops", hot)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut req = head.clone();
                let mut ctx = RequestContext::new(peer, &req.headers, b"x-request-id");
                let env = PolicyEnv {
                    consumers: &snap.consumers,
                    state: &state,
                };
                let flow = run_request(black_box(program), env, &mut req, &mut ctx);
                let mut resp_headers = sluice_codec::Headers::with_capacity(4);
                run_response(program, 200, &mut resp_headers, &mut ctx);
                black_box((flow, resp_headers))
            })
        });
    }
    g.bench_function("context_new", |b| {
        b.iter(|| black_box(RequestContext::new(peer, &head.headers, b"x-request-id")))
    });
    g.finish();
}

criterion_group!(benches, interpreter);
criterion_main!(benches);
