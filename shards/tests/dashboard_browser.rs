//! The admin dashboard (`GET /admin/ui`) in a real headless Chromium, driven over the
//! DevTools protocol: a wrong token is refused with the gateway's 401 message, the right one
//! connects the live stream, figures, recent requests and routes follow real traffic (some of
//! it rate-limited), a reload reconnects with the token kept in `sessionStorage`, and
//! "disconnect" forgets it.
//!
//! Needs Debian's `chromium` (installed by the test when missing and running as root; else
//! the test fails saying how to install it).

mod browser;
mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use browser::cdp::{js_string, Browser};
use common::*;
use serde_json::Value;

const TOKEN: &str = "admin-token-0123456789abcdef";
const WRONG_TOKEN: &str = "wrong-token-0123456789abcdef";
const STORAGE_KEY: &str = "sluice-admin-token";

/// `/hello` refuses beyond 50 requests a second per client, so the load below (about 100 a
/// second) gets both 200s and 429s.
const GATEWAY: &str = r#"
    routes:
      - path: /hello
        policies:
          - {type: request-log, output: stdout}
          - {type: rate-limit, max: 50, window: 1s}
        upstream: {type: static, body: hi}
"#;

/// The load: this many `GET /hello`, one every `LOAD_GAP`.
const LOAD_REQUESTS: usize = 300;
const LOAD_GAP: Duration = Duration::from_millis(10);

/// A gateway with an admin listener (token `TOKEN`) on a port of its own.
struct AdminGw {
    gw: Gateway,
    admin: SocketAddr,
}

impl AdminGw {
    fn start(yaml: &str) -> AdminGw {
        let port = free_port();
        let block = format!("admin:\n  listen: \"127.0.0.1:{port}\"\n  token: {TOKEN}\n");
        let gw = Gateway::start_with_args(&format!("{block}{}", dedent(yaml)), &[]);
        let admin = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
        let ready = poll(Duration::from_secs(10), || {
            TcpStream::connect_timeout(&admin, Duration::from_millis(200)).is_ok()
                && Conn::connect(admin)
                    .try_request("GET", "/admin/health", &[], b"")
                    .is_ok()
        });
        assert!(
            ready,
            "admin listener {admin} not answering; stderr:\n{}",
            gw.stderr()
        );
        AdminGw { gw, admin }
    }

    /// One admin request with exactly `headers`.
    fn call_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        Conn::connect(self.admin).request(method, path, headers, b"")
    }
}

/// What the dashboard shows, read in one evaluation: the text of each figure, the cells of
/// both tables, the stored token and whether the login form is visible.
struct Dom(Value);

const SNAPSHOT: &str = r#"(() => {
  const text = (id) => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
  const rows = (id) => { const e = document.getElementById(id);
    return e ? Array.from(e.rows, (r) => Array.from(r.cells, (c) => c.textContent.trim())) : null; };
  const out = {};
  for (const id of ["status", "error", "requests-per-second", "requests-total", "p99",
                    "rate-limited", "active-buckets", "connections",
                    "status-2xx", "status-3xx", "status-4xx", "status-5xx"]) out[id] = text(id);
  out["recent-logs"] = rows("recent-logs");
  out["routes"] = rows("routes");
  out["stored-token"] = sessionStorage.getItem(STORAGE_KEY);
  out["login-visible"] = !document.getElementById("login").hidden;
  out["token-input"] = document.getElementById("token").value;
  const line = document.getElementById("spark-line");
  out["sparkline-points"] = line ? line.getAttribute("points").split(" ").filter(Boolean).length : null;
  return out;
})()"#;

impl Dom {
    fn read(b: &mut Browser) -> Dom {
        Dom(b.eval(&SNAPSHOT.replace("STORAGE_KEY", &js_string(STORAGE_KEY))))
    }

    fn text(&self, id: &str) -> &str {
        self.0[id].as_str().unwrap_or("<missing>")
    }

    /// The figure in element `id` as a number, `None` while it shows "–" (or is missing).
    fn num(&self, id: &str) -> Option<f64> {
        self.text(id).parse().ok()
    }

    fn rows(&self, id: &str) -> Vec<Vec<String>> {
        serde_json::from_value(self.0[id].clone()).unwrap_or_default()
    }

    fn stored_token(&self) -> Option<&str> {
        self.0["stored-token"].as_str()
    }

    fn live(&self) -> bool {
        self.text("status") == "live"
    }
}

impl std::fmt::Display for Dom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pretty = serde_json::to_string_pretty(&self.0).unwrap_or_else(|_| self.0.to_string());
        write!(f, "dashboard DOM: {pretty}")
    }
}

/// Reads the DOM every 100 ms until `done` holds; panics with `what`, the last DOM read and
/// the browser's diagnostics after `timeout`.
fn wait_dom(b: &mut Browser, timeout: Duration, what: &str, done: impl Fn(&Dom) -> bool) -> Dom {
    let deadline = Instant::now() + timeout;
    loop {
        let dom = Dom::read(b);
        if done(&dom) {
            return dom;
        }
        if Instant::now() >= deadline {
            panic!(
                "waited {timeout:?} for {what}; last seen:\n{dom}\n{}",
                b.diagnostics()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Empties the token input, focuses it and types `token` the way a user would.
fn type_token(b: &mut Browser, token: &str) {
    b.eval("document.getElementById('token').value = ''");
    b.focus("token");
    b.insert_text(token);
    let typed = b.eval("document.getElementById('token').value");
    assert_eq!(
        typed.as_str(),
        Some(token),
        "Input.insertText did not reach the token input\n{}",
        b.diagnostics()
    );
}

/// `LOAD_REQUESTS` plain `GET /hello`, each on a fresh connection; the count per status.
fn load(addr: SocketAddr) -> BTreeMap<u16, usize> {
    let mut statuses = BTreeMap::new();
    for _ in 0..LOAD_REQUESTS {
        let r = Conn::connect(addr).request("GET", "/hello", &[], b"");
        *statuses.entry(r.status).or_default() += 1;
        thread::sleep(LOAD_GAP);
    }
    statuses
}

#[test]
fn dashboard_follows_live_traffic_in_a_real_browser() {
    let started = Instant::now();
    let gw = AdminGw::start(GATEWAY);
    let mut b = Browser::launch();
    let ui = format!("http://{}/admin/ui", gw.admin);
    b.navigate(&ui);

    let dom = Dom::read(&mut b);
    assert!(
        !dom.live() && dom.stored_token().is_none() && dom.text("requests-total") == "–",
        "a fresh page must wait for a token, not connect\n{dom}"
    );

    // The gateway's own answer to the wrong token is what the page must show.
    let refused = gw.call_with(
        "GET",
        "/admin/sse",
        &[("authorization", &format!("Bearer {WRONG_TOKEN}"))],
    );
    assert_eq!(refused.status, 401, "wrong token: {refused}");
    let message = refused.json()["message"]
        .as_str()
        .unwrap_or_else(|| panic!("401 without a message: {refused}"))
        .to_string();

    type_token(&mut b, WRONG_TOKEN);
    b.click("connect");
    wait_dom(&mut b, Duration::from_secs(10), "the 401 message", |d| {
        d.text("error").contains(&message)
    });
    // A stream that had connected would have sent its first event within a second.
    thread::sleep(Duration::from_millis(1500));
    let dom = Dom::read(&mut b);
    assert!(
        dom.text("error").contains(&message)
            && !dom.live()
            && dom.stored_token().is_none()
            && dom.text("requests-total") == "–"
            && dom.rows("routes").is_empty()
            && dom.0["login-visible"] == true,
        "after a wrong token the page must show {message:?}, store nothing and connect \
         nothing\n{dom}"
    );

    type_token(&mut b, TOKEN);
    b.click("connect");
    let dom = wait_dom(
        &mut b,
        Duration::from_secs(10),
        "status `live` and the token in sessionStorage",
        |d| d.live() && d.stored_token() == Some(TOKEN),
    );
    assert!(
        dom.text("error").is_empty() && dom.0["login-visible"] == false,
        "connected, so the error and the login form must be gone\n{dom}"
    );

    let hello = gw.gw.addr();
    let traffic = thread::spawn(move || load(hello));

    // Every condition the live figures must meet while the load runs, with what was seen.
    let mut first_total: Option<f64> = None;
    let mut increased = None;
    let mut max_rps = 0.0_f64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dom = loop {
        let dom = Dom::read(&mut b);
        if let Some(total) = dom.num("requests-total") {
            match first_total {
                None => first_total = Some(total),
                Some(first) if total > first => increased = Some((first, total)),
                Some(_) => {}
            }
        }
        max_rps = max_rps.max(dom.num("requests-per-second").unwrap_or(0.0));
        let positive = |id: &str| dom.num(id).is_some_and(|n| n > 0.0);
        let hello_logged = dom
            .rows("recent-logs")
            .iter()
            .any(|r| r.len() == 6 && r[2] == "/hello");
        let hello_route = dom
            .rows("routes")
            .iter()
            .any(|r| r.first().is_some_and(|p| p == "/hello") && r[2].contains("rate-limit"));
        let mut unmet = Vec::new();
        if increased.is_none() {
            unmet.push(format!(
                "requests-total to increase (first reading {first_total:?})"
            ));
        }
        if max_rps <= 0.0 {
            unmet.push("requests-per-second > 0".to_string());
        }
        for id in ["status-2xx", "status-4xx", "rate-limited"] {
            if !positive(id) {
                unmet.push(format!("{id} > 0"));
            }
        }
        if !hello_logged {
            unmet.push("a recent-logs row for /hello".to_string());
        }
        if !hello_route {
            unmet.push("a routes row for /hello with rate-limit in its program".to_string());
        }
        if !dom.live() {
            unmet.push("status `live`".to_string());
        }
        if unmet.is_empty() {
            break dom;
        }
        if Instant::now() >= deadline {
            panic!(
                "after 30 s the dashboard still lacks: {}\nmax requests-per-second seen: \
                 {max_rps}\n{dom}\n{}",
                unmet.join("; "),
                b.diagnostics()
            );
        }
        thread::sleep(Duration::from_millis(200));
    };
    let statuses = traffic.join().expect("the load thread panicked");
    assert!(
        statuses.get(&200).is_some_and(|n| *n > 0) && statuses.get(&429).is_some_and(|n| *n > 0),
        "the load should get both 200 and 429: {statuses:?}"
    );
    let log = &dom.rows("recent-logs")[0];
    assert!(
        log[1] == "GET" && ["200", "429"].contains(&log[3].as_str()) && log[5] == "127.0.0.1",
        "a recent-logs row is time, method, path, status, duration, client ip; got {log:?}\n{dom}"
    );

    // A reload finds the token in sessionStorage and reconnects without asking.
    b.reload();
    let dom = wait_dom(
        &mut b,
        Duration::from_secs(10),
        "the reloaded page to reconnect with the stored token",
        |d| d.live() && d.num("requests-total").is_some(),
    );
    assert!(
        dom.stored_token() == Some(TOKEN)
            && dom.0["token-input"] == ""
            && dom.0["login-visible"] == false
            && dom.num("requests-total") >= increased.map(|(_, t)| t),
        "after the reload the stored token alone must reconnect\n{dom}"
    );
    let dom = wait_dom(
        &mut b,
        Duration::from_secs(5),
        "routes and the sparkline after the reload",
        |d| !d.rows("routes").is_empty() && d.0["sparkline-points"].as_u64() > Some(0),
    );
    assert!(dom.live(), "{dom}");

    b.click("disconnect");
    let dom = wait_dom(
        &mut b,
        Duration::from_secs(5),
        "disconnect to forget the token",
        |d| !d.live() && d.stored_token().is_none() && d.0["login-visible"] == true,
    );
    assert_eq!(dom.text("status"), "disconnected", "{dom}");

    // Failed loads (the wrong token's 401, a missing history endpoint) are expected; an
    // exception or a CSP violation is not.
    let errors: Vec<String> = b
        .page_errors()
        .into_iter()
        .filter(|e| !e.starts_with("log (network)"))
        .collect();
    assert!(
        errors.is_empty(),
        "the page logged errors (CSP violations, exceptions):\n{}",
        errors.join("\n")
    );
    eprintln!("dashboard browser test took {:?}", started.elapsed());
}
