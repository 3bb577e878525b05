//! `debug_headers` and `x-sluice-debug: trace`: the `x-sluice-trace` answer header.

mod common;

use common::*;

fn config(debug: bool) -> String {
    format!(
        r#"
        debug_headers: {debug}
        routes:
          - path: /t
            policies:
              - {{type: request-transform, set_headers: {{x-a: b}}}}
              - {{type: mock, status: 201, body: mocked}}
            upstream: {{type: static, body: never}}
        "#
    )
}

#[test]
fn trace_lists_the_ops_that_ran_and_which_answered() {
    let gw = Gateway::start(&config(true));
    let r = gw.request("GET", "/t", &[("x-sluice-debug", "trace")], b"");
    assert_eq!(r.status, 201);
    let trace: serde_json::Value =
        serde_json::from_str(r.header("x-sluice-trace").expect("trace header")).unwrap();
    assert_eq!(trace["request_id"], r.header("x-request-id").unwrap());
    assert_eq!(trace["route"], "/t");
    let ops = trace["ops"].as_array().unwrap();
    let names: Vec<_> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    assert_eq!(names, ["request-transform", "mock"]);
    assert_eq!(ops[0]["answered"], false);
    assert_eq!(ops[1]["answered"], true);
    assert!(ops[0]["duration_us"].as_f64().unwrap() >= 0.0);
    // Not asked: no header.
    assert_eq!(gw.get("/t").header("x-sluice-trace"), None);
}

#[test]
fn trace_is_off_unless_the_config_allows_it() {
    let gw = Gateway::start(&config(false));
    let r = gw.request("GET", "/t", &[("x-sluice-debug", "trace")], b"");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-sluice-trace"), None);
}
