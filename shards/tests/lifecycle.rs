//! The process: `--version`, `sluice check`, refusing a bad config, SIGHUP reloads (also
//! under load), SIGTERM draining, `--shards`/`--cpus`, and logging to stderr only.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn static_config(body: &str) -> String {
    format!(
        r#"
        routes:
          - path: /static
            upstream: {{type: static, status: 200, headers: {{content-type: text/plain}}, body: {body}}}
        "#
    )
}

fn write_config(yaml: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new();
    let path = dir.write("sluice.yaml", &dedent(yaml));
    (dir, path)
}

const BAD_CIDR: &str = r#"
    name: demo
    listen: ["127.0.0.1:1"]
    routes:
      - path: /a
        upstream: {type: static, body: a}
      - path: /b
        policies:
          - type: ip-filter
            deny: ["10.0.0.1", "10.0.0.0/8", "10.0.0.0/33"]
        upstream: {type: static, body: b}
"#;

#[test]
fn version_flag_prints_the_version() {
    let out = sluice(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout:?}");
}

#[test]
fn check_accepts_a_good_file_and_lists_each_route_program() {
    let (_dir, path) = write_config(
        r#"
        name: demo
        base_path: /api
        listen: ["127.0.0.1:1"]
        policies:
          - {type: ip-filter, deny: ["10.0.0.0/8"]}
        routes:
          - path: /users/:id
            methods: [GET, POST]
            policies: [{type: mock, status: 200, body: hi}]
            upstream: {type: url, target: "http://127.0.0.1:9/prefix"}
          - path: /health
            upstream: {type: static, body: ok}
        "#,
    );
    let out = sluice(&["check", "--config", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/users/:id") && stdout.contains("/health"),
        "routes missing from:\n{stdout}"
    );
    let squashed = stdout.to_ascii_lowercase().replace(['-', '_'], "");
    assert!(
        squashed.contains("ipfilter") && squashed.contains("mock"),
        "program listing missing from:\n{stdout}"
    );
}

#[test]
fn check_reports_a_bad_cidr_with_its_field_path() {
    let (_dir, path) = write_config(BAD_CIDR);
    let file = path.to_str().unwrap();
    let out = sluice(&["check", "--config", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let expected = format!(r#"{file}: routes[1].policies[0].deny[2]: invalid CIDR "10.0.0.0/33""#);
    assert!(
        stderr.lines().any(|l| l.trim_end() == expected),
        "no line {expected:?} in:\n{stderr}"
    );
}

#[test]
fn check_reports_other_mistakes_with_their_field_path() {
    let cases = [
        (
            r#"
            name: demo
            routes:
              - path: /a
                policies: [{type: ip-filter, deny: []}, {type: no-such-policy}]
                upstream: {type: static}
            "#,
            "routes[0].policies[1]",
        ),
        (
            r#"
            name: demo
            routes:
              - path: /a
                upstream: {type: url, target: "http://127.0.0.1:9", timeout: soon}
            "#,
            "routes[0].upstream.timeout",
        ),
        ("name: demo\nroutes: [\n", ""),
    ];
    for (yaml, field) in cases {
        let (_dir, path) = write_config(yaml);
        let file = path.to_str().unwrap();
        let out = sluice(&["check", "--config", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "for {yaml}\nstderr: {stderr}");
        let prefix = format!("{file}: {field}");
        assert!(
            stderr.lines().any(|l| l.starts_with(&prefix)),
            "no line starting {prefix:?} in:\n{stderr}"
        );
    }
}

#[test]
fn run_refuses_a_bad_config() {
    let (_dir, path) = write_config(BAD_CIDR);
    let mut child = std::process::Command::new(SLUICE)
        .args(["run", "--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = poll(Duration::from_secs(5), || {
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "sluice run kept running on a bad config");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"invalid CIDR "10.0.0.0/33""#), "{stderr}");
}

#[test]
fn sighup_applies_a_valid_change() {
    let gw = Gateway::start(&static_config("v1"));
    assert_eq!(gw.get("/static").text(), "v1");
    gw.rewrite_config(&static_config("v2"));
    gw.signal(libc::SIGHUP);
    assert!(
        poll(Duration::from_secs(5), || gw.get("/static").text() == "v2"),
        "still {:?}",
        gw.get("/static").text()
    );
}

#[test]
fn sighup_as_soon_as_the_port_accepts_is_handled() {
    // Once the port accepts connections, a reload signal must not kill the process.
    let mut gw = Gateway::start(&static_config("v1"));
    gw.rewrite_config(&static_config("v2"));
    gw.signal(libc::SIGHUP);
    assert_eq!(
        gw.wait_exit(Duration::from_millis(300)),
        None,
        "SIGHUP killed the gateway"
    );
    assert!(poll(Duration::from_secs(5), || gw.get("/static").text() == "v2"));
}

#[test]
fn sighup_can_add_and_remove_routes() {
    let gw = Gateway::start(&static_config("v1"));
    assert_gateway_error(&gw.get("/new"), 404, "not_found");
    gw.rewrite_config(
        r#"
        routes:
          - path: /new
            upstream: {type: static, body: fresh}
        "#,
    );
    gw.signal(libc::SIGHUP);
    assert!(poll(Duration::from_secs(5), || gw.get("/new").status == 200));
    assert_eq!(gw.get("/new").text(), "fresh");
    assert_gateway_error(&gw.get("/static"), 404, "not_found");
}

#[test]
fn upstream_pool_survives_a_reload() {
    let up = TestUpstream::new().start();
    let routes = |marker: &str| {
        up.fill(&format!(
            r#"
            routes:
              - path: /up/*
                upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
              - path: /marker
                upstream: {{type: static, body: {marker}}}
            "#
        ))
    };
    let gw = Gateway::start(&routes("m1"));
    let mut c = gw.connect();
    assert_eq!(c.request("GET", "/up/before", &[], b"").status, 200);
    gw.rewrite_config(&routes("m2"));
    gw.signal(libc::SIGHUP);
    assert!(
        poll(Duration::from_secs(5), || c
            .request("GET", "/marker", &[], b"")
            .text()
            == "m2"),
        "a connection opened before the reload never sees the new config"
    );
    assert_eq!(c.request("GET", "/up/after", &[], b"").status, 200);
    assert_eq!(
        up.connections(),
        1,
        "the pooled upstream connection was dropped by the reload"
    );
}

#[test]
fn sighup_with_an_invalid_file_keeps_the_running_config() {
    let gw = Gateway::start(&static_config("v1"));
    assert_eq!(gw.get("/static").text(), "v1");
    gw.rewrite_config(
        r#"
        routes:
          - path: /static
            policies: [{type: ip-filter, deny: ["10.0.0.0/33"]}]
            upstream: {type: static, body: broken}
        "#,
    );
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_stderr("invalid CIDR", Duration::from_secs(5)),
        "the refused reload must be logged with its reason"
    );
    let mut c = gw.connect();
    for _ in 0..3 {
        assert_eq!(c.request("GET", "/static", &[], b"").text(), "v1");
    }
    assert_eq!(gw.get("/static").text(), "v1");

    gw.rewrite_config(&static_config("v3"));
    gw.signal(libc::SIGHUP);
    assert!(poll(Duration::from_secs(5), || gw.get("/static").text() == "v3"));
}

#[test]
fn reload_under_load_fails_no_request() {
    let up = TestUpstream::new().start();
    let config = |v: &str| {
        up.fill(&format!(
            r#"
            shards: 2
            routes:
              - path: /static
                upstream: {{type: static, body: {v}}}
              - path: /up/*
                upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
            "#
        ))
    };
    let gw = Gateway::start(&config("v1"));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = gw.addr();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let (mut ok, mut failures, mut saw_v2) = (0u32, Vec::new(), false);
                let mut c = Conn::connect(addr);
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/up/w{w}/{ok}");
                    match c.try_request("GET", "/static", &[], b"") {
                        Ok(r) if r.status == 200 && (r.body == b"v1" || r.body == b"v2") => {
                            saw_v2 |= r.body == b"v2";
                            ok += 1;
                        }
                        Ok(r) => failures.push(format!("/static: {r}")),
                        Err(e) => {
                            failures.push(format!("/static: {e}"));
                            c = Conn::connect(addr);
                        }
                    }
                    match c.try_request("GET", &path, &[], b"") {
                        Ok(r) if r.status == 200 => ok += 1,
                        Ok(r) => failures.push(format!("{path}: {r}")),
                        Err(e) => {
                            failures.push(format!("{path}: {e}"));
                            c = Conn::connect(addr);
                        }
                    }
                }
                (ok, failures, saw_v2)
            })
        })
        .collect();
    for i in 0..6 {
        thread::sleep(Duration::from_millis(300));
        gw.rewrite_config(&config(if i % 2 == 0 { "v2" } else { "v1" }));
        gw.signal(libc::SIGHUP);
    }
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failures, mut saw_v2) = (0, Vec::new(), false);
    for w in workers {
        let (o, f, s) = w.join().unwrap();
        ok += o;
        failures.extend(f);
        saw_v2 |= s;
    }
    assert!(
        failures.is_empty(),
        "{} failed of {}:\n{}",
        failures.len(),
        ok as usize + failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert!(ok > 100, "only {ok} requests in 2 s");
    assert!(saw_v2, "no reload took effect");
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_0() {
    let up = TestUpstream::new()
        .route(
            "/slow",
            Reply::delayed(Duration::from_secs(1), Reply::text(200, "done")),
        )
        .start();
    let mut gw = Gateway::start(&up.fill(
        r#"
        shutdown_timeout: 5s
        routes:
          - path: /slow
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    let addr = gw.addr();
    let client = thread::spawn(move || {
        let resp = Conn::connect(addr).request("GET", "/slow", &[], b"");
        (resp, Instant::now())
    });
    assert!(
        up.wait_heads(1, Duration::from_secs(5)),
        "the slow request never reached the upstream"
    );
    let signalled = Instant::now();
    gw.signal(libc::SIGTERM);
    let mut refused_at = None;
    poll(Duration::from_secs(3), || {
        let refused = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err();
        if refused {
            refused_at = Some(Instant::now());
        }
        refused
    });
    let (resp, answered_at) = client.join().unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "done"), "{resp}");
    let refused_at = refused_at.expect("still accepting connections 3 s after SIGTERM");
    assert!(
        refused_at < answered_at,
        "new connections were accepted while draining"
    );
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .expect("still running 5 s after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigterm_when_idle_exits_promptly() {
    let mut gw = Gateway::start(&static_config("v1"));
    assert_eq!(gw.get("/static").status, 200);
    let _idle_keep_alive = gw.connect();
    gw.signal(libc::SIGTERM);
    let status = gw
        .wait_exit(Duration::from_secs(3))
        .expect("an idle gateway must exit quickly");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_gives_up_on_requests_past_shutdown_timeout() {
    let up = TestUpstream::new()
        .route(
            "/stuck",
            Reply::delayed(Duration::from_secs(10), Reply::text(200, "too late")),
        )
        .start();
    let mut gw = Gateway::start(&up.fill(
        r#"
        shutdown_timeout: 1s
        routes:
          - path: /stuck
            upstream: {type: url, target: "http://127.0.0.1:$UP"}
        "#,
    ));
    let mut c = gw.connect();
    c.send_request("GET", "/stuck", &[], b"");
    assert!(up.wait_heads(1, Duration::from_secs(5)));
    let signalled = Instant::now();
    gw.signal(libc::SIGTERM);
    gw.wait_exit(Duration::from_secs(4))
        .expect("still running 4 s into a 1 s shutdown_timeout");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "gave up before shutdown_timeout"
    );
}

fn many_concurrent_clients(gw: &Gateway) {
    let addr = gw.addr();
    let clients: Vec<_> = (0..32)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                (0..5)
                    .map(|j| {
                        c.try_request("GET", &format!("/up/{i}/{j}"), &[], b"")
                            .map(|r| r.status)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        for (j, result) in client.join().unwrap().into_iter().enumerate() {
            assert_eq!(result.ok(), Some(200), "client {i} request {j}");
        }
    }
}

const UP_ROUTE: &str = r#"
    routes:
      - path: /up/*
        upstream: {type: url, target: "http://127.0.0.1:$UP"}
"#;

#[test]
fn shards_flag_runs_two_shards() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start_with_args(
        &up.fill(&format!("shards: 1\n{}", dedent(UP_ROUTE))),
        &["--shards", "2"],
    );
    many_concurrent_clients(&gw);
    assert!(up.seen().len() == 32 * 5);
}

#[test]
fn shards_as_a_cpu_list_in_the_config() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start(&up.fill(&format!("shards: \"0-1\"\n{}", dedent(UP_ROUTE))));
    many_concurrent_clients(&gw);
}

#[test]
fn cpus_flag_pins_to_the_listed_cpus() {
    let up = TestUpstream::new().start();
    let gw = Gateway::start_with_args(&up.fill(UP_ROUTE), &["--cpus", "0"]);
    many_concurrent_clients(&gw);
}

#[test]
fn logs_go_to_stderr_and_stdout_stays_empty() {
    let mut gw = Gateway::start(&static_config("v1"));
    assert_eq!(gw.get("/static").status, 200);
    assert_gateway_error(&gw.get("/nope"), 404, "not_found");
    gw.signal(libc::SIGTERM);
    gw.wait_exit(Duration::from_secs(5))
        .expect("exit after SIGTERM");
    assert_eq!(gw.stdout(), "", "sluice run must not write to stdout");
    let stderr = gw.stderr();
    assert!(
        !stderr.trim().is_empty(),
        "expected some log lines on stderr"
    );
}

/// `shards: auto` follows the process's affinity mask: under `taskset -c LAST` one shard
/// runs, pinned to that CPU, with no pinning warning.
#[test]
fn auto_shards_follow_the_affinity_mask() {
    let cpus = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let last = cpus - 1;
    let (dir, path) = write_config(&format!(
        "name: t\nlisten: [\"127.0.0.1:0\"]\nshards: auto\n{}",
        dedent(&static_config("ok"))
    ));
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new("taskset")
        .args(["-c", &last.to_string(), SLUICE, "run", "--config"])
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("taskset (util-linux) runs sluice");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = poll(Duration::from_secs(10), || read().contains("shard started"));
    // Give a second shard, if one were wrongly started, time to log too.
    thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let text = read();
    assert!(started, "{text}");
    let shard_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("shard started"))
        .collect();
    assert_eq!(shard_lines.len(), 1, "{text}");
    assert!(shard_lines[0].contains(&format!("cpu={last}")), "{text}");
    assert!(!text.contains("cannot pin"), "{text}");
}
