//! Shared fixtures for the benchmarks: a realistic route table and request heads.

use bytes::BytesMut;
use sluice_codec::{parse_request_head, HeadLimits, RequestHead};
use sluice_engine::Snapshot;

/// A config with 50 routes of mixed shapes and a few policies on the hot route.
pub fn bench_config() -> String {
    let mut yaml = String::from(
        "name: bench\nlisten: [\"127.0.0.1:0\"]\nbase_path: /api\npolicies:\n  - {type: ip-filter, deny: [\"10.0.0.0/8\", \"192.168.0.0/16\"]}\n  - {type: response-transform, set_headers: {x-gw: sluice}}\nroutes:\n",
    );
    for i in 0..16 {
        yaml.push_str(&format!(
            "  - {{path: /svc{i}/items/:id, methods: [GET], upstream: {{type: static, body: ok}}}}\n  - {{path: /svc{i}/items, methods: [POST], upstream: {{type: static, body: ok}}}}\n  - {{path: /svc{i}/files/*, upstream: {{type: static, body: ok}}}}\n"
        ));
    }
    yaml.push_str(
        "  - path: /users/:id/orders/:order\n    methods: [GET]\n    policies:\n      - {type: request-transform, set_headers: {x-a: b}, remove_headers: [cookie]}\n    upstream: {type: static, body: ok}\n",
    );
    yaml
}

/// The compiled snapshot of [`bench_config`].
pub fn bench_snapshot() -> Snapshot {
    let cfg =
        sluice_config::load_str(&bench_config(), "bench.yaml").expect("bench config is valid");
    sluice_engine::compile(&cfg).expect("bench config compiles")
}

/// A browser-like GET head for `path`.
pub fn browser_get(path: &str) -> RequestHead {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: session=abc123\r\nConnection: keep-alive\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n"
    );
    let mut buf = BytesMut::from(raw.as_bytes());
    parse_request_head(&mut buf, &HeadLimits::default())
        .expect("valid head")
        .expect("complete head")
}
