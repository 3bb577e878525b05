//! CORS checked by a real browser: a page on one origin (`http://127.0.0.1:A`, served by
//! the test) calls the gateway on another (`http://localhost:B`) with `fetch`, and headless
//! Chromium decides which calls succeed. The page writes one line per call into
//! `<pre id="out">` and sets its title to `done`; the test reads them from `--dump-dom`.
//!
//! Needs Debian's `chromium` (installed by the test when missing and running as root; else
//! the test fails saying how to install it).

mod browser;
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

const GATEWAY: &str = r#"
    routes:
      # Origin A may call, without credentials; x-request-id is readable by the page.
      - path: /open
        methods: [GET]
        policies:
          - {type: cors, origins: ["$ORIGIN"], exposed_headers: [x-request-id]}
        upstream: $URL
      # Origin A may call with credentials, GET and PUT with a custom header. The route
      # has no OPTIONS: the gateway answers the preflight itself.
      - path: /cred
        methods: [GET, PUT]
        policies:
          - type: cors
            origins: ["$ORIGIN"]
            methods: [GET, PUT]
            allowed_headers: [x-custom, content-type]
            credentials: true
            max_age: 0
        upstream: $URL
      # Only some other origin may call.
      - path: /other
        methods: [GET]
        policies:
          - {type: cors, origins: ["http://other.example"], credentials: true}
        upstream: $URL
      # Any origin, no credentials.
      - path: /star
        methods: [GET]
        policies:
          - {type: cors, origins: "*"}
        upstream: $URL
"#;

/// The page: each call is awaited in turn and recorded as `name ok STATUS DETAIL` or
/// `name error NAME: MESSAGE`.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>pending</title></head>
<body><pre id="out"></pre>
<script>
const B = "$GATEWAY";
const lines = [];
function rec(name, outcome, detail) {
  lines.push(name + " " + outcome + " " + String(detail).replace(/\s+/g, " "));
  document.getElementById("out").textContent = lines.join("\n");
}
async function call(name, path, init, show) {
  try {
    const r = await fetch(B + path, init);
    const body = await r.text();
    rec(name, "ok", r.status + " " + (show ? show(r, body) : body));
  } catch (e) {
    rec(name, "error", e.name + ": " + e.message);
  }
}
(async () => {
  await call("plain", "/open", {},
    (r, b) => "exposed=" + (r.headers.get("x-request-id") !== null) + " body=" + JSON.parse(b).method);
  await call("credentialed", "/cred", {credentials: "include"},
    (r, b) => "body=" + JSON.parse(b).method);
  await call("other_origin", "/other", {});
  await call("other_origin_credentialed", "/other", {credentials: "include"});
  await call("preflighted_put", "/cred", {
      method: "PUT",
      credentials: "include",
      headers: {"X-Custom": "42", "Content-Type": "application/json"},
      body: JSON.stringify({a: 1}),
    },
    (r, b) => { const e = JSON.parse(b); return "body=" + e.method + " " + e.body; });
  await call("credentialed_without_allow_credentials", "/open", {credentials: "include"});
  await call("star", "/star", {}, (r, b) => "body=" + JSON.parse(b).method);
  await call("star_credentialed", "/star", {credentials: "include"});
  await call("put_not_in_open_methods", "/open", {method: "PUT", headers: {"X-Custom": "1"}});
  document.title = "done";
})();
</script></body></html>
"#;

#[test]
fn chromium_enforces_the_gateway_cors_answers() {
    // Make sure the browser is there before starting anything (installs it if allowed).
    browser::chromium();

    let up = TestUpstream::new().start();
    // Origin A: the page server, bound first so the gateway config can name its origin.
    let page = browser::PageServer::start("/index.html");
    let origin = page.origin();
    let gw = Gateway::start(
        &up.fill(
            &GATEWAY
                .replace("$URL", r#"{type: url, target: "http://127.0.0.1:$UP"}"#)
                .replace("$ORIGIN", &origin),
        ),
    );
    // Origin B: the gateway, called as `localhost` so it is a different origin (and site)
    // from 127.0.0.1 even apart from the port.
    page.set_html(PAGE.replace("$GATEWAY", &format!("http://localhost:{}", gw.port)));

    let profile = TempDir::new();
    let url = format!("{}/index.html", page.origin());
    let dump = browser::dump_dom(&url, profile.path(), 5000, Duration::from_secs(60));
    let title = browser::title(&dump.dom).unwrap_or_default();
    let out = browser::element_text(&dump.dom, "out").unwrap_or_default();
    assert!(
        page.requests() >= 1,
        "chromium never fetched the page from {url}\n--- stderr ---\n{}",
        dump.stderr
    );
    assert_eq!(
        title,
        "done",
        "the page did not finish its calls within the virtual time budget; results so far:\n{out}\n--- dom ---\n{}",
        dump.dom
    );
    let results: HashMap<String, (String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            Some((
                parts.next()?.to_string(),
                (
                    parts.next()?.to_string(),
                    parts.next().unwrap_or("").to_string(),
                ),
            ))
        })
        .collect();
    let report = format!("browser results:\n{out}");
    eprintln!("{report}");
    let outcome = |name: &str| -> (String, String) {
        results
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no result for {name}; {report}"))
    };
    let expect_ok = |name: &str, detail: &str| {
        let (o, d) = outcome(name);
        assert_eq!(
            (o.as_str(), d.as_str()),
            ("ok", detail),
            "{name} should succeed; {report}"
        );
    };
    let expect_blocked = |name: &str| {
        let (o, d) = outcome(name);
        assert_eq!(
            o, "error",
            "{name} must be blocked by the browser; {report}"
        );
        assert!(d.starts_with("TypeError"), "{name}: {d}; {report}");
    };

    expect_ok("plain", "200 exposed=true body=GET");
    expect_ok("credentialed", "200 body=GET");
    expect_blocked("other_origin");
    expect_blocked("other_origin_credentialed");
    expect_ok("preflighted_put", r#"200 body=PUT {"a":1}"#);
    // The browser's own rules, given the gateway's answers: no Allow-Credentials, or `*`,
    // refuse a credentialed call; a preflight for a method the policy does not list fails.
    expect_blocked("credentialed_without_allow_credentials");
    expect_ok("star", "200 body=GET");
    expect_blocked("star_credentialed");
    expect_blocked("put_not_in_open_methods");

    // What the gateway and upstream saw: the preflights were answered at the gateway.
    let seen = up.seen();
    assert!(
        seen.iter().all(|s| s.method != "OPTIONS"),
        "preflights must not reach the upstream: {seen:?}"
    );
    let put = seen
        .iter()
        .find(|s| s.method == "PUT" && s.target == "/cred")
        .unwrap_or_else(|| panic!("the PUT never reached the upstream: {seen:?}"));
    let header = |n: &str| {
        put.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-custom"), Some("42"));
    assert_eq!(header("origin"), Some(origin.as_str()));
    drop(gw);
}
