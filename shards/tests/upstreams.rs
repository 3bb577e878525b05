//! Upstream groups over real sockets: distribution per balancer, consistent hashing,
//! passive outlier ejection and return, active health checks, and every target down.
//!
//! Every gateway here runs `shards: 1`, so the balancer state (rotation, in-flight counts,
//! ejections) is the one the test reasons about.

mod backend;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use backend::*;
use common::*;

/// `[{url: ..}, {url: .., weight: w}]` for `targets:`.
fn targets(list: &[(&Backend, Option<u32>)]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(b, w)| match w {
            Some(w) => format!("{{url: \"{}\", weight: {w}}}", b.url()),
            None => format!("{{url: \"{}\"}}", b.url()),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// One route `/svc/*` over `backends` with `load_balancer: lb` and extra upstream fields
/// (`extra` is a YAML flow-mapping body such as `outlier: {..}`), on one shard.
fn group_config(list: &[(&Backend, Option<u32>)], lb: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "shards: 1\nroutes:\n  - path: /svc/*\n    upstream: {{type: url, targets: {}, load_balancer: {lb}{extra}}}\n",
        targets(list)
    )
}

fn plain<'a>(bs: &[&'a Backend]) -> Vec<(&'a Backend, Option<u32>)> {
    bs.iter().map(|b| (*b, None)).collect()
}

/// Sends `n` GETs to `path` on one keep-alive connection; the body of each 200 names the
/// backend that served it.
fn served_by(gw: &Gateway, path: &str, n: usize) -> Vec<String> {
    let mut c = gw.connect();
    (0..n)
        .map(|_| {
            let r = c.request("GET", path, &[], b"");
            assert_eq!(r.status, 200, "{r}");
            r.text()
        })
        .collect()
}

fn count_of(tally: &BTreeMap<String, usize>, name: &str) -> usize {
    tally.get(name).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Distribution per balancer
// ---------------------------------------------------------------------------------------

#[test]
fn round_robin_spreads_evenly() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let gw = Gateway::start(&group_config(&plain(&[&a, &b, &c]), "round_robin", ""));
    let bodies = served_by(&gw, "/svc/x", 30);
    let t = tally(bodies.iter().map(String::as_str));
    assert_eq!(
        t,
        BTreeMap::from([("a".into(), 10), ("b".into(), 10), ("c".into(), 10)]),
        "{bodies:?}"
    );
    // A strict rotation: no target twice in a row.
    assert!(bodies.windows(2).all(|w| w[0] != w[1]), "{bodies:?}");
    assert_eq!((a.count(), b.count(), c.count()), (10, 10, 10));
}

#[test]
fn weighted_follows_weights() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let cfg = group_config(
        &[(&a, Some(3)), (&b, Some(1)), (&c, Some(2))],
        "weighted",
        "",
    );
    let gw = Gateway::start(&cfg);
    let bodies = served_by(&gw, "/svc/x", 60);
    let t = tally(bodies.iter().map(String::as_str));
    assert_eq!(
        t,
        BTreeMap::from([("a".into(), 30), ("b".into(), 10), ("c".into(), 20)]),
        "{bodies:?}"
    );
    // Smooth: the heavy target never gets more than two turns in a row with weights 3:1:2.
    assert!(
        bodies.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
        "{bodies:?}"
    );
}

/// `clients` threads hammer `/svc/x` for `for_how_long`; returns who served what.
fn load(gw: &Gateway, clients: usize, for_how_long: Duration) -> BTreeMap<String, usize> {
    let addr = gw.addr();
    let end = Instant::now() + for_how_long;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let mut got = Vec::new();
                while Instant::now() < end {
                    let r = c.request("GET", "/svc/x", &[], b"");
                    assert_eq!(r.status, 200, "{r}");
                    got.push(r.text());
                }
                got
            })
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    tally(all.iter().map(String::as_str))
}

#[test]
fn least_conn_prefers_the_fast_target_when_one_is_slow() {
    let fast = Backend::start("fast");
    let slow = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_millis(400), Behavior::Ok),
    );
    let gw = Gateway::start(&group_config(&plain(&[&fast, &slow]), "least_conn", ""));
    let t = load(&gw, 4, Duration::from_millis(1500));
    let (f, s) = (count_of(&t, "fast"), count_of(&t, "slow"));
    assert!(
        s >= 1,
        "the slow target still gets traffic when idle: {t:?}"
    );
    assert!(
        f >= 10 * s,
        "least_conn should favour the fast target: {t:?}"
    );
}

#[test]
fn p2c_prefers_the_fast_targets_when_one_is_slow() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let slow = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_millis(400), Behavior::Ok),
    );
    let gw = Gateway::start(&group_config(&plain(&[&a, &b, &slow]), "p2c", ""));
    let t = load(&gw, 4, Duration::from_millis(1500));
    let (fa, fb, s) = (count_of(&t, "a"), count_of(&t, "b"), count_of(&t, "slow"));
    assert!(fa > 0 && fb > 0, "both fast targets are used: {t:?}");
    assert!(
        fa + fb >= 10 * s,
        "p2c should favour the fast targets: {t:?}"
    );
}

#[test]
fn least_conn_counts_a_response_still_streaming_as_in_flight() {
    // A request is in flight until its response body is done, not just its head: while a
    // long download streams from `a`, least_conn sends the other requests to `b`.
    let a = Backend::with(
        "a",
        Behavior::Chunks {
            content_type: "text/plain".into(),
            chunks: (0..8)
                .map(|i| {
                    (
                        Duration::from_millis(200),
                        format!("part {i}\n").into_bytes(),
                    )
                })
                .collect(),
            finish: true,
        },
    );
    let b = Backend::start("b");
    let gw = Gateway::start(&group_config(&plain(&[&a, &b]), "least_conn", ""));
    let mut stream = gw.connect();
    stream.send_request("GET", "/svc/download", &[], b"");
    // Read just the head: the body is still streaming from `a`.
    let head = stream.wire.read_head().unwrap().unwrap();
    let (_, headers) = parse_head(&head);
    assert!(
        headers.iter().any(|(n, v)| n == "x-backend" && v == "a"),
        "the first pick on an idle group should be a: {headers:?}"
    );
    let mut c = gw.connect();
    let picks: Vec<String> = (0..6)
        .map(|_| {
            let r = c.request("GET", "/svc/x", &[], b"");
            r.header("x-backend").unwrap_or("?").to_string()
        })
        .collect();
    assert_eq!(
        a.count(),
        1,
        "least_conn sent requests to the target busy streaming a response: {picks:?}"
    );
}

#[test]
fn hash_share_of_keys_follows_weight() {
    let heavy = Backend::start("heavy");
    let light = Backend::start("light");
    let gw = Gateway::start(&group_config(
        &[(&heavy, Some(3)), (&light, Some(1))],
        "hash",
        "hash_on: \"header:x-k\"",
    ));
    let mut c = gw.connect();
    let heavy_keys = (0..400)
        .filter(|i| {
            let r = c.request("GET", "/svc/x", &[("x-k", &format!("k{i}"))], b"");
            r.text() == "heavy"
        })
        .count();
    assert!(
        (240..=360).contains(&heavy_keys),
        "weight 3:1 gave heavy {heavy_keys} of 400 keys"
    );
}

#[test]
fn round_robin_does_not_avoid_a_slow_target() {
    // The contrast for the two tests above: round robin keeps sending the slow target its turn.
    let fast = Backend::start("fast");
    let slow = Backend::with(
        "slow",
        Behavior::delayed(Duration::from_millis(300), Behavior::Ok),
    );
    let gw = Gateway::start(&group_config(&plain(&[&fast, &slow]), "round_robin", ""));
    let bodies = served_by(&gw, "/svc/x", 6);
    let t = tally(bodies.iter().map(String::as_str));
    assert_eq!(count_of(&t, "slow"), 3, "{t:?}");
}

// ---------------------------------------------------------------------------------------
// Consistent hashing
// ---------------------------------------------------------------------------------------

fn three() -> (Backend, Backend, Backend) {
    (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    )
}

/// Sends each request `reps` times on fresh connections and asserts the same backend served
/// every repeat; returns key -> backend.
fn sticky(
    gw: &Gateway,
    keys: &[String],
    reps: usize,
    send: impl Fn(&mut Conn, &str) -> Response,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for k in keys {
        let mut seen = BTreeSet::new();
        for _ in 0..reps {
            let r = send(&mut gw.connect(), k);
            assert_eq!(r.status, 200, "{r}");
            seen.insert(r.text());
        }
        assert_eq!(seen.len(), 1, "key {k:?} went to {seen:?}");
        map.insert(k.clone(), seen.into_iter().next().unwrap());
    }
    map
}

fn spread(map: &BTreeMap<String, String>) -> usize {
    map.values().collect::<BTreeSet<_>>().len()
}

#[test]
fn hash_on_header_same_key_same_target() {
    let (a, b, c) = three();
    let gw = Gateway::start(&group_config(
        &plain(&[&a, &b, &c]),
        "hash",
        "hash_on: \"header:x-user\"",
    ));
    let keys: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    let map = sticky(&gw, &keys, 3, |c, k| {
        c.request("GET", "/svc/x", &[("x-user", k)], b"")
    });
    assert_eq!(
        spread(&map),
        3,
        "30 keys should reach all 3 targets: {map:?}"
    );
    // The header decides, not the path.
    let mut c = gw.connect();
    let first = c
        .request("GET", "/svc/one", &[("x-user", "user-7")], b"")
        .text();
    let second = c
        .request("GET", "/svc/two?q=1", &[("x-user", "user-7")], b"")
        .text();
    assert_eq!(first, map["user-7"]);
    assert_eq!(second, map["user-7"]);
}

#[test]
fn hash_on_cookie_same_key_same_target() {
    let (a, b, c) = three();
    let gw = Gateway::start(&group_config(
        &plain(&[&a, &b, &c]),
        "hash",
        "hash_on: \"cookie:session\"",
    ));
    let keys: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
    let map = sticky(&gw, &keys, 3, |c, k| {
        c.request("GET", "/svc/x", &[("cookie", &format!("session={k}"))], b"")
    });
    assert_eq!(spread(&map), 3, "{map:?}");
    // Other cookies around it, or the cookie in a second Cookie header, do not change the pick.
    for k in ["s3", "s11", "s20"] {
        let r = gw.request(
            "GET",
            "/svc/x",
            &[("cookie", &format!("theme=dark; session={k}; lang=en"))],
            b"",
        );
        assert_eq!(r.text(), map[k], "cookie among others, key {k}");
        let r = gw.request(
            "GET",
            "/svc/x",
            &[
                ("cookie", "theme=dark"),
                ("cookie", &format!("session={k}")),
            ],
            b"",
        );
        assert_eq!(r.text(), map[k], "cookie in a second header, key {k}");
        // A cookie whose name merely ends in "session" is a different cookie.
        let r = gw.request(
            "GET",
            "/svc/x",
            &[("cookie", &format!("xsession=zzz; session={k}"))],
            b"",
        );
        assert_eq!(
            r.text(),
            map[k],
            "xsession must not be read as session, key {k}"
        );
    }
}

#[test]
fn hash_on_path_ignores_the_query() {
    let (a, b, c) = three();
    let gw = Gateway::start(&group_config(
        &plain(&[&a, &b, &c]),
        "hash",
        "hash_on: path",
    ));
    let keys: Vec<String> = (0..30).map(|i| format!("/svc/item/{i}")).collect();
    let map = sticky(&gw, &keys, 2, |c, k| c.request("GET", k, &[], b""));
    assert_eq!(spread(&map), 3, "{map:?}");
    for k in keys.iter().take(10) {
        let r = gw.get(&format!("{k}?page={}", k.len()));
        assert_eq!(&r.text(), &map[k], "query changed the pick for {k}");
    }
}

/// One `GET /svc/x` from source address `ip`.
fn get_from(ip: Ipv4Addr, gw: SocketAddr) -> Response {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(ip.into(), 0).into()).unwrap();
    sock.connect(&gw.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /svc/x HTTP/1.1\r\nhost: {gw}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    Wire::new(s).read_response("GET").unwrap()
}

#[test]
fn hash_on_ip_same_client_same_target() {
    let (a, b, c) = three();
    let gw = Gateway::start(&group_config(&plain(&[&a, &b, &c]), "hash", "hash_on: ip"));
    let mut map = BTreeMap::new();
    for last in 2..40u8 {
        let ip = Ipv4Addr::new(127, 0, 0, last);
        let picks: BTreeSet<String> = (0..3).map(|_| get_from(ip, gw.addr()).text()).collect();
        assert_eq!(picks.len(), 1, "{ip} went to {picks:?}");
        map.insert(ip.to_string(), picks.into_iter().next().unwrap());
    }
    assert!(
        spread(&map) >= 2,
        "38 client addresses all on one target: {map:?}"
    );
    // Every X-Forwarded-For value is ignored: the socket peer is the key.
    let ip = Ipv4Addr::new(127, 0, 0, 5);
    let expected = &map[&ip.to_string()];
    for xff in ["10.0.0.1", "10.9.9.9", "192.168.1.1"] {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(ip.into(), 0).into()).unwrap();
        sock.connect(&gw.addr().into()).unwrap();
        let mut s: TcpStream = sock.into();
        write!(
            s,
            "GET /svc/x HTTP/1.1\r\nhost: x\r\nx-forwarded-for: {xff}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let r = Wire::new(s).read_response("GET").unwrap();
        assert_eq!(&r.text(), expected, "x-forwarded-for {xff} moved the pick");
    }
}

#[test]
fn hash_adding_a_target_moves_keys_only_to_it() {
    let (a, b, c) = three();
    let d = Backend::start("d");
    let gw = Gateway::start(&group_config(
        &plain(&[&a, &b, &c]),
        "hash",
        "hash_on: \"header:x-k\"",
    ));
    let keys: Vec<String> = (0..60).map(|i| format!("key-{i}")).collect();
    let send = |c: &mut Conn, k: &str| c.request("GET", "/svc/x", &[("x-k", k)], b"");
    let before = sticky(&gw, &keys, 1, send);
    gw.rewrite_config(&group_config(
        &plain(&[&a, &b, &c, &d]),
        "hash",
        "hash_on: \"header:x-k\"",
    ));
    gw.signal(libc::SIGHUP);
    assert!(
        poll(Duration::from_secs(5), || {
            keys.iter()
                .any(|k| send(&mut gw.connect(), k).text() == "d")
        }),
        "the reload never brought in target d"
    );
    let after = sticky(&gw, &keys, 1, send);
    let moved: Vec<&String> = keys.iter().filter(|k| before[*k] != after[*k]).collect();
    for k in &moved {
        assert_eq!(
            after[*k], "d",
            "key {k} moved from {} to {}",
            before[*k], after[*k]
        );
    }
    assert!(
        !moved.is_empty() && moved.len() <= keys.len() / 2,
        "{} of {} keys moved",
        moved.len(),
        keys.len()
    );
}

// ---------------------------------------------------------------------------------------
// Passive outlier detection
// ---------------------------------------------------------------------------------------

#[test]
fn outlier_ejects_a_failing_target_then_lets_it_back_and_doubles_a_repeat_ejection() {
    let good = Backend::start("good");
    let bad = Backend::with("bad", Behavior::Status(502));
    let gw = Gateway::start(&group_config(
        &plain(&[&good, &bad]),
        "round_robin",
        "outlier: {consecutive_failures: 3, ejection_time: 1s}",
    ));
    let mut c = gw.connect();
    // Round robin: every second request reaches the bad target until its third 502.
    let mut statuses = Vec::new();
    while bad.count() < 3 {
        statuses.push(c.request("GET", "/svc/x", &[], b"").status);
        assert!(statuses.len() < 20, "{statuses:?}");
    }
    let ejected_at = Instant::now();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 502).count(),
        3,
        "{statuses:?}"
    );
    for _ in 0..20 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r}");
    }
    assert_eq!(bad.count(), 3, "an ejected target got traffic");
    // Still out just before ejection_time ends.
    thread::sleep(Duration::from_millis(700).saturating_sub(ejected_at.elapsed()));
    for _ in 0..4 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").text(), "good");
    }
    assert_eq!(bad.count(), 3, "back before ejection_time (1s)");
    // Back after it.
    thread::sleep(Duration::from_millis(1150).saturating_sub(ejected_at.elapsed()));
    let mut second = Vec::new();
    while bad.count() < 6 {
        second.push(c.request("GET", "/svc/x", &[], b"").status);
        assert!(second.len() < 20, "the target never came back: {second:?}");
    }
    let second_at = Instant::now();
    // Ejected again after three more failures, now for twice as long (2 s).
    thread::sleep(Duration::from_millis(1500));
    for _ in 0..6 {
        assert_eq!(c.request("GET", "/svc/x", &[], b"").text(), "good");
    }
    assert_eq!(
        bad.count(),
        6,
        "second ejection ended before 1.5 s; it should last 2 s (doubling)"
    );
    thread::sleep(Duration::from_millis(2150).saturating_sub(second_at.elapsed()));
    bad.set(Behavior::Ok);
    let bodies = served_by(&gw, "/svc/x", 6);
    assert!(bodies.iter().any(|b| b == "bad"), "{bodies:?}");
}

#[test]
fn outlier_ejects_a_dead_target_and_it_returns_once_revived() {
    let good = Backend::start("good");
    let mut flaky = Backend::start("flaky");
    let gw = Gateway::start(&group_config(
        &plain(&[&good, &flaky]),
        "round_robin",
        "outlier: {consecutive_failures: 2, ejection_time: 800ms}",
    ));
    let t = tally(served_by(&gw, "/svc/x", 4).iter().map(String::as_str));
    assert_eq!(count_of(&t, "flaky"), 2);
    flaky.kill();
    let mut c = gw.connect();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(c.request("GET", "/svc/x", &[], b"").status);
    }
    // Two refused connections (502), then only the good target.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 502).count(),
        2,
        "{statuses:?}"
    );
    assert!(statuses[6..].iter().all(|&s| s == 200), "{statuses:?}");
    flaky.revive();
    thread::sleep(Duration::from_millis(900));
    let t = tally(served_by(&gw, "/svc/x", 6).iter().map(String::as_str));
    assert_eq!(count_of(&t, "flaky"), 3, "revived target not back: {t:?}");
}

#[test]
fn outlier_needs_failures_in_a_row() {
    // 502, 200, 502, 200 ... never reaches 3 in a row, so the target stays in.
    let good = Backend::start("good");
    let flappy = Backend::start("flappy");
    let gw = Gateway::start(&group_config(
        &plain(&[&good, &flappy]),
        "round_robin",
        "outlier: {consecutive_failures: 3, ejection_time: 5s}",
    ));
    let mut c = gw.connect();
    for i in 0..12 {
        flappy.set(if i % 2 == 0 {
            Behavior::Status(502)
        } else {
            Behavior::Ok
        });
        // Two requests: one each (round robin).
        c.request("GET", "/svc/x", &[], b"");
        c.request("GET", "/svc/x", &[], b"");
    }
    assert_eq!(
        flappy.count(),
        12,
        "alternating failures ejected the target"
    );
}

#[test]
fn outlier_is_off_unless_configured() {
    // docs/config.md: "Passive checks are off unless `outlier` is given". Ten 502s in a row
    // from one target (twice the default consecutive_failures of 5) must not eject it.
    let good = Backend::start("good");
    let bad = Backend::with("bad", Behavior::Status(502));
    let gw = Gateway::start(&group_config(&plain(&[&good, &bad]), "round_robin", ""));
    let mut c = gw.connect();
    let statuses: Vec<u16> = (0..30)
        .map(|_| c.request("GET", "/svc/x", &[], b"").status)
        .collect();
    assert_eq!(
        bad.count(),
        15,
        "a target was ejected without `outlier` configured; statuses {statuses:?}\n{}",
        gw.stderr()
    );
}

#[test]
fn passive_ejection_never_takes_the_last_target() {
    // Both targets fail: at most half the targets are ejected, and never the last usable
    // one, so the client keeps getting the upstream's 502 (no 503 no_healthy_upstream
    // without active checks).
    let a = Backend::with("a", Behavior::Status(502));
    let b = Backend::with("b", Behavior::Status(502));
    let gw = Gateway::start(&group_config(
        &plain(&[&a, &b]),
        "round_robin",
        "outlier: {consecutive_failures: 1, ejection_time: 10s}",
    ));
    let mut c = gw.connect();
    for _ in 0..10 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!(r.status, 502, "{r}");
    }
    assert_eq!(a.count() + b.count(), 10);
}

// ---------------------------------------------------------------------------------------
// Active health checks
// ---------------------------------------------------------------------------------------

fn health_config(bs: &[&Backend], hc: &str) -> String {
    group_config(
        &plain(bs),
        "round_robin",
        &format!("health_check: {{path: {HEALTH_PATH}, {hc}}}"),
    )
}

/// Sends `n` requests and returns how many `name` served (any status).
fn share(gw: &Gateway, n: usize, name: &str) -> usize {
    let mut c = gw.connect();
    (0..n)
        .filter(|_| {
            let r = c.request("GET", "/svc/x", &[], b"");
            r.header("x-backend") == Some(name)
        })
        .count()
}

#[test]
fn health_check_takes_a_target_out_after_unhealthy_threshold_and_back_after_healthy_threshold() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let gw = Gateway::start(&health_config(
        &[&a, &b],
        "interval: 300ms, timeout: 200ms, unhealthy_threshold: 3, healthy_threshold: 2",
    ));
    assert!(
        b.wait_health_checks(1, Duration::from_secs(3)),
        "no health check arrived"
    );
    assert_eq!(share(&gw, 10, "b"), 5);
    for hit in b.hits() {
        assert!(!hit.target.starts_with(HEALTH_PATH));
    }

    // Fail b's checks. After one or two failed probes it is still in.
    b.set_health(Behavior::Status(503));
    let p0 = b.health_count();
    assert!(b.wait_health_checks(p0 + 2, Duration::from_secs(3)));
    assert_eq!(
        share(&gw, 10, "b"),
        5,
        "out before unhealthy_threshold (3) failures"
    );
    // After the third it is out.
    assert!(b.wait_health_checks(p0 + 3, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(share(&gw, 10, "b"), 0, "still in after 3 failed checks");
    assert_eq!(share(&gw, 10, "a"), 10);

    // Pass again: one good check is not enough, the second brings it back.
    b.set_health(Behavior::Ok);
    let q0 = b.health_count();
    assert!(b.wait_health_checks(q0 + 1, Duration::from_secs(3)));
    assert_eq!(
        share(&gw, 10, "b"),
        0,
        "back after one passing check (threshold 2)"
    );
    assert!(b.wait_health_checks(q0 + 2, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(share(&gw, 10, "b"), 5, "not back after 2 passing checks");
}

#[test]
fn health_check_expected_status_and_probe_timeout() {
    // expected_status [204]: a 200 fails the check, a 204 passes; a probe slower than the
    // timeout fails.
    let ok204 = Backend::start("ok204");
    ok204.set_health(Behavior::Status(204));
    let ok200 = Backend::start("ok200");
    let slow = Backend::start("slow");
    slow.set_health(Behavior::delayed(
        Duration::from_millis(400),
        Behavior::Status(204),
    ));
    let gw = Gateway::start(&health_config(
        &[&ok204, &ok200, &slow],
        "interval: 250ms, timeout: 150ms, unhealthy_threshold: 1, healthy_threshold: 1, expected_status: [204]",
    ));
    assert!(ok200.wait_health_checks(2, Duration::from_secs(3)));
    assert!(slow.wait_health_checks(2, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    let mut c = gw.connect();
    for _ in 0..9 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!(r.header("x-backend"), Some("ok204"), "{r}");
    }
}

#[test]
fn health_check_uses_the_path_without_the_target_prefix() {
    let a = Backend::start("a");
    let cfg = format!(
        "shards: 1\nroutes:\n  - path: /svc/*\n    upstream: {{type: url, targets: [{{url: \"{}/prefix\"}}], health_check: {{path: {HEALTH_PATH}, interval: 200ms, timeout: 100ms}}}}\n",
        a.url()
    );
    let _gw = Gateway::start(&cfg);
    // The backend only counts requests starting with HEALTH_PATH as health checks; a check
    // sent to /prefix/healthz would show up as an ordinary hit.
    assert!(a.wait_health_checks(2, Duration::from_secs(3)));
    assert_eq!(a.count(), 0, "{:?}", a.hits());
}

#[test]
fn every_target_down_gives_503_no_healthy_upstream_and_a_revived_one_serves_again() {
    let mut a = Backend::start("a");
    let mut b = Backend::start("b");
    let gw = Gateway::start(&health_config(
        &[&a, &b],
        "interval: 200ms, timeout: 100ms, unhealthy_threshold: 2, healthy_threshold: 1",
    ));
    assert_eq!(gw.get("/svc/x").status, 200);
    a.kill();
    b.kill();
    // No request while the checks catch up (a request to a dead target would feed passive
    // detection too): two failed probes each at 200 ms intervals, plus slack.
    thread::sleep(Duration::from_millis(800));
    let r = gw.get("/svc/x");
    assert_gateway_error(&r, 503, "no_healthy_upstream");
    // Stays 503 (not a 502 from trying a dead target) while both are out.
    for _ in 0..5 {
        assert_gateway_error(&gw.get("/svc/x"), 503, "no_healthy_upstream");
    }
    b.revive();
    assert!(
        poll(Duration::from_secs(4), || gw.get("/svc/x").status == 200),
        "revived target never served"
    );
    let mut c = gw.connect();
    for _ in 0..6 {
        let r = c.request("GET", "/svc/x", &[], b"");
        assert_eq!(r.header("x-backend"), Some("b"), "{r}");
    }
    a.revive();
    assert!(
        poll(Duration::from_secs(4), || share(&gw, 6, "a") == 3),
        "second revived target never came back"
    );
}

#[test]
fn health_verdict_survives_a_reload_and_the_target_can_still_come_back() {
    // A reload that keeps the targets keeps their balancer state (health included) and
    // starts new checkers. A target that was out before the reload and recovers after it
    // must come back.
    let a = Backend::start("a");
    let b = Backend::start("b");
    let hc = "interval: 200ms, timeout: 100ms, unhealthy_threshold: 1, healthy_threshold: 1";
    let cfg = health_config(&[&a, &b], hc);
    let gw = Gateway::start(&cfg);
    assert_eq!(share(&gw, 4, "b"), 2);
    b.set_health(Behavior::Status(503));
    let p0 = b.health_count();
    assert!(b.wait_health_checks(p0 + 2, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(share(&gw, 6, "b"), 0, "not taken out");

    // Reload: same upstream, plus an unrelated route.
    gw.rewrite_config(&format!(
        "{cfg}  - path: /marker\n    upstream: {{type: static, body: v2}}\n"
    ));
    gw.signal(libc::SIGHUP);
    assert!(poll(Duration::from_secs(5), || gw.get("/marker").status == 200));
    assert_eq!(
        share(&gw, 6, "b"),
        0,
        "the reload put an unhealthy target back"
    );

    // Now b recovers.
    b.set_health(Behavior::Ok);
    let q0 = b.health_count();
    assert!(b.wait_health_checks(q0 + 3, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        share(&gw, 6, "b"),
        3,
        "a target marked unhealthy before a reload never came back after passing {} checks\n{}",
        b.health_count() - q0,
        gw.stderr()
    );
}

#[test]
fn health_checks_apply_to_every_shard() {
    // Checks run on shard 0 and are published to the others: with 4 shards and many
    // connections (spread over shards), none may still send to the unhealthy target.
    let a = Backend::start("a");
    let b = Backend::start("b");
    let cfg = health_config(
        &[&a, &b],
        "interval: 200ms, timeout: 100ms, unhealthy_threshold: 1, healthy_threshold: 1",
    )
    .replace("shards: 1", "shards: 4");
    let gw = Gateway::start(&cfg);
    // Touch the upstream on every shard first, so each has balancer state.
    for _ in 0..16 {
        gw.get("/svc/x");
    }
    b.set_health(Behavior::Status(500));
    let p0 = b.health_count();
    assert!(b.wait_health_checks(p0 + 2, Duration::from_secs(3)));
    thread::sleep(Duration::from_millis(100));
    let before = b.count();
    for _ in 0..40 {
        let r = gw.get("/svc/x");
        assert_eq!(r.header("x-backend"), Some("a"), "{r}");
    }
    assert_eq!(b.count(), before);
}

#[test]
fn a_client_leaving_mid_body_is_not_a_target_failure() {
    // Two targets (one of two may be ejected), each answering 8 MiB of its own letter.
    let size = 8 << 20;
    let a = TestUpstream::new()
        .route("/", Reply::text(200, &"a".repeat(size)))
        .start();
    let b = TestUpstream::new()
        .route("/", Reply::text(200, &"b".repeat(size)))
        .start();
    let gw = Gateway::start(&format!(
        "shards: 1\nroutes:\n  - path: /big/*\n    upstream: {{type: url, load_balancer: round_robin, \
         targets: [{{url: \"http://127.0.0.1:{}\"}}, {{url: \"http://127.0.0.1:{}\"}}], \
         outlier: {{consecutive_failures: 1, ejection_time: 30s}}}}\n",
        a.port(),
        b.port()
    ));
    // Two clients leave mid-body, one on each target.
    for _ in 0..2 {
        let mut s = TcpStream::connect(gw.addr()).unwrap();
        s.write_all(b"GET /big/x HTTP/1.1\r\nhost: t\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 65536];
        let mut got = 0;
        while got < first.len() {
            match s.read(&mut first[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got > 1000, "the response started");
        // Reset, not a clean close: the gateway's next write fails at once.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        thread::sleep(Duration::from_millis(100));
    }
    let mut letters = BTreeSet::new();
    for _ in 0..4 {
        let r = gw.get("/big/x");
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), size);
        letters.insert(r.body[0]);
    }
    assert_eq!(
        letters,
        BTreeSet::from([b'a', b'b']),
        "a target was ejected for a client's departure"
    );
}
