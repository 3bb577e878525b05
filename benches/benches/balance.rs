//! Upstream selection over a 16-target group: one pick plus its `start`/`finish` pair per
//! iteration, for every algorithm, and the hash ring build a reload pays.
//!
//! Baseline in the same run: `round_robin`, the cheapest pick; read the others as ratios
//! to it. Hash keys are 24-byte paths; `roll` comes from a multiply, not an RNG.

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_engine::balance::{Algorithm, Balancer, HashOn, HashRing, Outcome, TargetSpec};

const TARGETS: usize = 16;

fn specs() -> Vec<TargetSpec> {
    (0..TARGETS)
        .map(|i| TargetSpec {
            name: format!("http://10.0.0.{i}:8080"),
            weight: 1 + (i % 3) as u32,
        })
        .collect()
}

fn balance(c: &mut Criterion) {
    let now = Instant::now();
    let keys: Vec<String> = (0..1024).map(|k| format!("/api/users/{k:012}")).collect();
    let mut g = c.benchmark_group("balance");
    for (name, algorithm) in [
        ("round_robin", Algorithm::RoundRobin),
        ("weighted", Algorithm::Weighted),
        ("least_conn", Algorithm::LeastConn),
        ("p2c", Algorithm::P2c),
        ("hash", Algorithm::Hash(HashOn::Path)),
    ] {
        let b = Balancer::new(algorithm, specs());
        let mut s = b.new_state();
        // Some standing load so least_conn and p2c compare real numbers.
        for i in 0..TARGETS {
            for _ in 0..i % 4 {
                s.start(i);
            }
        }
        let mut n: u64 = 0;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                n = n.wrapping_add(1);
                let key = keys[(n % 1024) as usize].as_bytes();
                let roll = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let i = b.pick(&mut s, black_box(Some(key)), &[], now, roll);
                if let Some(i) = i {
                    s.start(i);
                    s.finish(i, Outcome::Success, now);
                }
                i
            })
        });
    }
    g.bench_function("ring_build", |bench| {
        let targets = specs();
        bench.iter(|| HashRing::new(black_box(&targets)))
    });
    g.finish();
}

criterion_group!(benches, balance);
criterion_main!(benches);
