//! Router look-ups against a 50-route table: static, parameter, wildcard and miss.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_benches::bench_snapshot;
use sluice_codec::Method;

fn router(c: &mut Criterion) {
    let snap = bench_snapshot();
    let mut g = c.benchmark_group("router");
    for (name, path) in [
        ("param", "/api/svc7/items/12345"),
        ("two_params", "/api/users/42/orders/9"),
        ("wildcard", "/api/svc15/files/a/b/c.txt"),
        ("miss", "/api/nothing/here"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                snap.router
                    .find(&snap.routes, black_box(&Method::Get), black_box(path))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);
