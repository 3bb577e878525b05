//! The control-plane API: APIs, policies and consumers sent to the admin listener are
//! enforced at once (same compile-and-swap path as a reload), refused whole when invalid,
//! idempotent, stored in SQLite under `data_dir` and loaded again at restart, including
//! after a `kill -9` in the middle of a burst of writes. Also the persisted metrics history.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-0123456789abcdef";

/// A gateway with a file route `/files/*` and an admin listener on a port of its own.
fn gateway(extra: &str) -> Gateway {
    Gateway::start(&format!(
        "admin: {{listen: \"127.0.0.1:0\", token: {TOKEN}}}\n\
         routes:\n  - path: /files/*\n    upstream: {{type: static, body: file-route}}\n{extra}"
    ))
}

/// One admin request with the token; a JSON body when `body` is not null.
fn admin(gw: &Gateway, method: &str, path: &str, body: Value) -> Response {
    admin_at(gw.admin_addr(), method, path, body)
}

fn admin_at(addr: SocketAddr, method: &str, path: &str, body: Value) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut headers = vec![("authorization", auth.as_str())];
    if !text.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    Conn::connect(addr).request(method, path, &headers, text.as_bytes())
}

/// An admin error: `{"error", "message", "statusCode"}` with `status` and `code`.
fn assert_admin_error(resp: &Response, status: u16, code: &str) {
    assert_eq!(resp.status, status, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

fn api(id: &str, prefix: &str, backend: &Upstream) -> Value {
    json!({
        "id": id, "name": format!("API {id}"), "tenant_id": "t1", "path_prefix": prefix,
        "backend_url": format!("http://127.0.0.1:{}", backend.port()),
        "methods": ["GET", "POST"], "spec_hash": format!("hash-{id}"), "activated": true
    })
}

fn backend() -> Upstream {
    TestUpstream::new()
        .route("/", Reply::text(200, "from-backend"))
        .start()
}

#[test]
fn an_api_is_served_at_once_and_its_upserts_are_idempotent() {
    let up = backend();
    let gw = gateway("");
    assert_eq!(gw.get("/orders/1").status, 404);

    let doc = api("orders", "/orders", &up);
    let created = admin(&gw, "POST", "/admin/apis", doc.clone());
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json(), json!({"id": "orders", "status": "ok"}));
    let served = gw.get("/orders/1");
    assert_eq!(
        (served.status, served.text().as_str()),
        (200, "from-backend")
    );
    assert_eq!(gw.get("/orders").status, 200, "the prefix itself matches");
    // A reload of the file keeps what the admin API added.
    assert_eq!(admin(&gw, "POST", "/admin/reload", Value::Null).status, 200);
    assert_eq!(gw.get("/orders/1").status, 200, "served after a reload");
    assert_eq!(
        gw.request("DELETE", "/orders/1", &[], b"").status,
        405,
        "methods are enforced"
    );

    // The same body again: 200, the same state and spec_hash.
    let before = admin(&gw, "GET", "/admin/apis/orders", Value::Null).json();
    let again = admin(&gw, "POST", "/admin/apis", doc.clone());
    assert_eq!(again.status, 200, "{}", again.text());
    let after = admin(&gw, "GET", "/admin/apis/orders", Value::Null).json();
    assert_eq!(before, after);
    assert_eq!(after["spec_hash"], "hash-orders");
    assert_eq!(after["tenant_id"], "t1");

    // An update moves the API.
    let mut moved = doc.clone();
    moved["path_prefix"] = json!("/v2/orders");
    assert_eq!(admin(&gw, "POST", "/admin/apis", moved).status, 200);
    assert_eq!(gw.get("/orders/1").status, 404);
    assert_eq!(gw.get("/v2/orders/1").status, 200);

    let list = admin(&gw, "GET", "/admin/apis", Value::Null).json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let of_tenant = |t: &str| {
        admin(
            &gw,
            "GET",
            &format!("/admin/apis?tenant_id={t}"),
            Value::Null,
        )
        .json()
        .as_array()
        .map(Vec::len)
    };
    assert_eq!((of_tenant("t1"), of_tenant("t2")), (Some(1), Some(0)));
    let routes = admin(&gw, "GET", "/admin/routes", Value::Null).json();
    assert!(
        routes
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/v2/orders/*"),
        "{routes}"
    );

    let deleted = admin(&gw, "DELETE", "/admin/apis/orders", Value::Null);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(gw.get("/v2/orders/1").status, 404);
    assert_admin_error(
        &admin(&gw, "DELETE", "/admin/apis/orders", Value::Null),
        404,
        "not_found",
    );
    assert_admin_error(
        &admin(&gw, "GET", "/admin/apis/orders", Value::Null),
        404,
        "not_found",
    );
}

#[test]
fn an_inactive_api_is_stored_but_not_served() {
    let up = backend();
    let gw = gateway("");
    let mut doc = api("off", "/off", &up);
    doc["activated"] = json!(false);
    assert_eq!(admin(&gw, "POST", "/admin/apis", doc.clone()).status, 201);
    assert_eq!(gw.get("/off/x").status, 404);
    doc["activated"] = json!(true);
    assert_eq!(admin(&gw, "POST", "/admin/apis", doc).status, 200);
    assert_eq!(gw.get("/off/x").status, 200);
}

#[test]
fn policies_are_enforced_and_bad_ones_change_nothing() {
    let up = backend();
    let gw = gateway("");
    assert_eq!(
        admin(&gw, "POST", "/admin/apis", api("pay", "/pay", &up)).status,
        201
    );
    let limit = json!({"id": "pay-rl", "name": "pay-limit", "policy_type": "rate_limit",
        "config": {"maxRequests": 3, "intervalSeconds": 60}, "priority": 20, "api_id": "pay"});
    let created = admin(&gw, "POST", "/admin/policies", limit.clone());
    assert_eq!(created.status, 201, "{}", created.text());
    let statuses: Vec<u16> = (0..5).map(|_| gw.get("/pay/x").status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(admin(&gw, "POST", "/admin/policies", limit).status, 200);

    // A policy in Sluice's own YAML shape, and the cors alias with camel-case keys.
    let deny = json!({"id": "pay-deny", "policy_type": "ip-filter",
        "config": {"deny": ["10.0.0.0/8"]}, "api_id": "pay"});
    assert_eq!(admin(&gw, "POST", "/admin/policies", deny).status, 201);
    let cors = json!({"id": "pay-cors", "policy_type": "cors",
        "config": {"origins": ["https://app.example"], "allowHeaders": ["x-token"], "maxAge": 600},
        "api_id": "pay"});
    assert_eq!(admin(&gw, "POST", "/admin/policies", cors).status, 201);
    let preflight = gw.request(
        "OPTIONS",
        "/pay/x",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-token"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204, "{:?}", preflight.headers);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));

    // Introspection marks what the admin API attached.
    let running = admin(&gw, "GET", "/admin/policies", Value::Null).json();
    let mine: Vec<&Value> = running
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] == "admin")
        .collect();
    assert_eq!(mine.len(), 3, "{running}");
    assert!(mine
        .iter()
        .any(|p| p["id"] == "pay-rl" && p["name"] == "pay-limit" && p["api_id"] == "pay"));
    let stored = admin(&gw, "GET", "/admin/policies?source=admin", Value::Null).json();
    assert_eq!(stored.as_array().map(Vec::len), Some(3), "{stored}");
    let of_api = |id: &str| {
        let path = format!("/admin/policies?source=admin&api_id={id}");
        admin(&gw, "GET", &path, Value::Null)
            .json()
            .as_array()
            .map(Vec::len)
    };
    assert_eq!((of_api("pay"), of_api("other")), (Some(3), Some(0)));

    // Every problem is named and nothing changes.
    let before = admin(&gw, "GET", "/admin/policies", Value::Null).json();
    let bad = json!({"id": "pay-rl", "policy_type": "rate_limit",
        "config": {"maxRequests": 0, "intervalSeconds": "soon"}, "api_id": "pay"});
    let refused = admin(&gw, "POST", "/admin/policies", bad);
    assert_eq!(refused.status, 400, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["status"], "error");
    let errors: Vec<String> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policies[\"pay-rl\"].config.maxRequests:")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policies[\"pay-rl\"].config.intervalSeconds:")),
        "{errors:?}"
    );
    let unknown = json!({"id": "x", "policy_type": "teleport", "config": {}, "api_id": "pay"});
    let refused = admin(&gw, "POST", "/admin/policies", unknown);
    assert_eq!(refused.status, 400);
    assert!(refused
        .text()
        .contains("unknown policy type \\\"teleport\\\""));
    let orphan = json!({"id": "y", "policy_type": "cors", "api_id": "nope"});
    let refused = admin(&gw, "POST", "/admin/policies", orphan);
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("no API with id \\\"nope\\\""));
    let shapeless = admin(&gw, "POST", "/admin/policies", json!({"id": "z"}));
    assert_eq!(shapeless.status, 400);
    assert!(
        shapeless.text().contains("missing field"),
        "{}",
        shapeless.text()
    );
    assert_eq!(
        admin(&gw, "GET", "/admin/policies", Value::Null).json(),
        before
    );
    assert_eq!(gw.get("/pay/x").status, 429, "the old limit still runs");

    // Deleting the policy lifts the limit; deleting the API drops its policies.
    assert_eq!(
        admin(&gw, "DELETE", "/admin/policies/pay-rl", Value::Null).status,
        204
    );
    assert_eq!(gw.get("/pay/x").status, 200);
    assert_eq!(
        admin(&gw, "DELETE", "/admin/apis/pay", Value::Null).status,
        204
    );
    let stored = admin(&gw, "GET", "/admin/policies?source=admin", Value::Null).json();
    assert_eq!(stored, json!([]));
}

#[test]
fn consumers_are_enforced_by_auth_policies_and_keys_are_never_shown() {
    let up = backend();
    let gw = gateway("");
    let key = "consumer-key-0123456789";
    let alice = json!({"id": "alice", "api_keys": [key], "roles": ["reader"]});
    assert_eq!(
        admin(&gw, "POST", "/admin/consumers", alice.clone()).status,
        201
    );
    assert_eq!(admin(&gw, "POST", "/admin/consumers", alice).status, 200);
    assert_eq!(
        admin(&gw, "POST", "/admin/apis", api("docs", "/docs", &up)).status,
        201
    );
    let auth = json!({"id": "docs-auth", "policy_type": "api-key-auth", "config": {},
        "api_id": "docs"});
    let attached = admin(&gw, "POST", "/admin/policies", auth);
    assert_eq!(attached.status, 201, "{}", attached.text());
    assert_eq!(gw.get("/docs/a").status, 401);
    assert_eq!(
        gw.request("GET", "/docs/a", &[("x-api-key", key)], b"")
            .status,
        200
    );

    let shown = admin(&gw, "GET", "/admin/consumers/alice", Value::Null);
    assert!(!shown.text().contains(key), "{}", shown.text());
    assert!(
        shown.json()["api_keys"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{}",
        shown.text()
    );
    assert_eq!(
        admin(&gw, "GET", "/admin/consumers", Value::Null)
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Removing the last consumer would leave the auth policy refusing everyone: refused.
    let refused = admin(&gw, "DELETE", "/admin/consumers/alice", Value::Null);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("every request would be refused"));
    // A second consumer takes over; then alice can go and her key stops working.
    let bob = json!({"id": "bob", "api_keys": ["bob-key-0123456789abc"]});
    assert_eq!(admin(&gw, "POST", "/admin/consumers", bob).status, 201);
    assert_eq!(
        admin(&gw, "DELETE", "/admin/consumers/alice", Value::Null).status,
        204
    );
    assert_eq!(
        gw.request("GET", "/docs/a", &[("x-api-key", key)], b"")
            .status,
        401
    );
    assert_eq!(
        gw.request(
            "GET",
            "/docs/a",
            &[("x-api-key", "bob-key-0123456789abc")],
            b""
        )
        .status,
        200
    );
}

#[test]
fn basic_credentials_and_roles_of_admin_consumers_are_enforced() {
    use base64::Engine as _;
    let up = backend();
    let gw = gateway("");
    let hash = bcrypt::hash("s3cret-pass", 4).unwrap();
    let carol = json!({"id": "carol", "basic": {"username": "carol", "password_hash": hash},
        "roles": ["ops"]});
    assert_eq!(admin(&gw, "POST", "/admin/consumers", carol).status, 201);
    assert_eq!(
        admin(&gw, "POST", "/admin/apis", api("ops", "/ops", &up)).status,
        201
    );
    for (id, kind, config) in [
        ("ops-basic", "basic-auth", json!({})),
        ("ops-rbac", "rbac", json!({"roles": ["ops"]})),
    ] {
        let doc = json!({"id": id, "policy_type": kind, "config": config, "api_id": "ops"});
        let resp = admin(&gw, "POST", "/admin/policies", doc);
        assert_eq!(resp.status, 201, "{}", resp.text());
    }
    let basic = |user_pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    };
    let status = |auth: &str| {
        gw.request("GET", "/ops/x", &[("authorization", auth)], b"")
            .status
    };
    assert_eq!(status(&basic("carol:s3cret-pass")), 200);
    assert_eq!(status(&basic("carol:wrong")), 401);
    // Carol loses the role: authenticated, but no longer allowed.
    let demoted = json!({"id": "carol", "basic": {"username": "carol",
        "password_hash": bcrypt::hash("s3cret-pass", 4).unwrap()}, "roles": ["guest"]});
    assert_eq!(admin(&gw, "POST", "/admin/consumers", demoted).status, 200);
    assert_eq!(status(&basic("carol:s3cret-pass")), 403);
}

#[test]
fn a_path_clash_with_the_file_is_refused() {
    let up = backend();
    let gw = gateway("");
    let refused = admin(&gw, "POST", "/admin/apis", api("files", "/files", &up));
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(
        refused.json()["errors"],
        json!([
            "apis[\"files\"].path_prefix: path /files/* clashes with the config file's \
                routes[0], which serves the same path and methods"
        ])
    );
    assert_eq!(gw.get("/files/a").text(), "file-route");
    assert_eq!(
        admin(&gw, "GET", "/admin/apis", Value::Null).json(),
        json!([])
    );
}

#[test]
fn the_control_plane_needs_the_token() {
    let gw = gateway("");
    let addr = gw.admin_addr();
    for (method, path) in [
        ("GET", "/admin/apis"),
        ("POST", "/admin/apis"),
        ("DELETE", "/admin/consumers/x"),
        ("GET", "/admin/metrics/history"),
    ] {
        let resp = Conn::connect(addr).request(method, path, &[], b"");
        assert_admin_error(&resp, 401, "unauthorized");
    }
}

#[test]
fn admin_state_and_metrics_history_survive_a_restart() {
    let up = backend();
    let mut gw = gateway("");
    admin(&gw, "POST", "/admin/apis", api("keep", "/keep", &up));
    let limit = json!({"id": "keep-rl", "policy_type": "rate_limit",
        "config": {"maxRequests": 1, "intervalSeconds": 3600}, "api_id": "keep"});
    assert_eq!(admin(&gw, "POST", "/admin/policies", limit).status, 201);
    assert_eq!(gw.get("/keep/a").status, 200);
    assert_eq!(gw.get("/keep/a").status, 429);
    // Wait for history samples that saw the requests.
    let history =
        |gw: &Gateway| admin(gw, "GET", "/admin/metrics/history?limit=3600", Value::Null).json();
    assert!(
        poll(Duration::from_secs(5), || history(&gw)
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["rate_limited"] == 1)),
        "{}",
        history(&gw)
    );
    assert!(
        poll(Duration::from_secs(5), || history(&gw)
            .as_array()
            .unwrap()
            .len()
            >= 3),
        "{}",
        history(&gw)
    );
    let before = history(&gw);
    let limited = admin(&gw, "GET", "/admin/metrics/history?limit=2", Value::Null).json();
    assert_eq!(limited.as_array().map(Vec::len), Some(2));

    gw.restart();
    assert!(gw.dir().join("sluice-data/sluice.db").is_file());
    assert_eq!(gw.get("/keep/a").status, 200, "the API is served again");
    assert_eq!(gw.get("/keep/a").status, 429, "with its policy");
    let after = history(&gw);
    let kept: Vec<&Value> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| before.as_array().unwrap().contains(s))
        .collect();
    assert_eq!(
        kept.len(),
        before.as_array().unwrap().len(),
        "every sample from before the restart is still there"
    );
    let cleared = admin(&gw, "DELETE", "/admin/metrics/history", Value::Null);
    assert_eq!(cleared.status, 200);
    assert!(cleared.json()["cleared"].as_u64().unwrap() >= kept.len() as u64);
    gw.restart();
    let now = history(&gw);
    assert!(
        now.as_array()
            .unwrap()
            .iter()
            .all(|s| !before.as_array().unwrap().contains(s)),
        "cleared history stays cleared: {now}"
    );
}

/// What one writer thread knows of an id when the gateway is killed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Known {
    /// Acknowledged as stored (201/200).
    Present,
    /// Acknowledged as deleted (204).
    Absent,
    /// A write was in flight: either outcome is allowed.
    Either,
}

#[test]
fn a_kill_9_during_a_burst_of_writes_loses_nothing_acknowledged() {
    let up = backend();
    let mut gw = gateway("");
    let addr = gw.admin_addr();
    let known: Arc<Mutex<BTreeMap<String, Known>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let port = up.port();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (known, stop) = (known.clone(), stop.clone());
            thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let id = format!("w{w}-{i}");
                    let doc = json!({"id": id, "path_prefix": format!("/burst/{id}"),
                        "backend_url": format!("http://127.0.0.1:{port}")});
                    known.lock().unwrap().insert(id.clone(), Known::Either);
                    let put = Conn::connect_result(addr).and_then(|mut c| {
                        c.try_request(
                            "POST",
                            "/admin/apis",
                            &[("authorization", &format!("Bearer {TOKEN}"))],
                            doc.to_string().as_bytes(),
                        )
                    });
                    match put {
                        Ok(r) if r.status == 201 => {
                            known.lock().unwrap().insert(id.clone(), Known::Present);
                        }
                        _ => return, // killed mid-write: the id stays Either
                    }
                    // Every third API is deleted again.
                    if i % 3 == 0 {
                        let old = format!("w{w}-{}", i);
                        known.lock().unwrap().insert(old.clone(), Known::Either);
                        let del = Conn::connect_result(addr).and_then(|mut c| {
                            c.try_request(
                                "DELETE",
                                &format!("/admin/apis/{old}"),
                                &[("authorization", &format!("Bearer {TOKEN}"))],
                                b"",
                            )
                        });
                        match del {
                            Ok(r) if r.status == 204 => {
                                known.lock().unwrap().insert(old, Known::Absent);
                            }
                            _ => return,
                        }
                    }
                }
            })
        })
        .collect();
    // Let the burst run, then kill the gateway in the middle of it.
    assert!(
        poll(Duration::from_secs(20), || known
            .lock()
            .unwrap()
            .values()
            .filter(|k| **k == Known::Present)
            .count()
            >= 40),
        "the burst of admin writes did not get going: {:?}",
        known.lock().unwrap().len()
    );
    gw.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let known = known.lock().unwrap().clone();

    gw.restart();
    let stored: Vec<String> = admin(&gw, "GET", "/admin/apis", Value::Null)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    for (id, state) in &known {
        let present = stored.contains(id);
        match state {
            Known::Present => assert!(present, "{id} was acknowledged but is gone"),
            Known::Absent => assert!(!present, "{id} was deleted (acknowledged) but is back"),
            Known::Either => {}
        }
    }
    // The running gateway and the stored state agree: each stored API is served, each
    // known-absent one is not, and the route table holds exactly the stored APIs.
    for id in &stored {
        let resp = gw.get(&format!("/burst/{id}/x"));
        assert_eq!(resp.status, 200, "stored API {id} is not served");
    }
    for (id, _) in known.iter().filter(|(_, k)| **k == Known::Absent) {
        assert_eq!(gw.get(&format!("/burst/{id}/x")).status, 404, "{id}");
    }
    let routes = admin(&gw, "GET", "/admin/routes", Value::Null).json();
    let mut served: Vec<String> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r["path"]
                .as_str()?
                .strip_prefix("/burst/")
                .map(str::to_owned)
        })
        .map(|p| p.trim_end_matches("/*").to_owned())
        .collect();
    served.sort();
    let mut expected = stored.clone();
    expected.sort();
    assert_eq!(served, expected);
}

/// Runs `sluice run --config FILE` expecting it to refuse to start; returns its stderr.
fn refused_start(config: &std::path::Path) -> String {
    let mut child = std::process::Command::new(SLUICE)
        .args(["run", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = poll(Duration::from_secs(10), || {
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = child.kill();
        panic!("the gateway started although it should have refused to");
    }
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    err
}

#[test]
fn stored_documents_that_no_longer_fit_the_file_are_named() {
    let up = backend();
    let mut gw = gateway("");
    assert_eq!(
        admin(&gw, "POST", "/admin/apis", api("orders", "/orders", &up)).status,
        201
    );
    // A reload with a file that now serves the same path is refused; nothing changes.
    let clashing = format!(
        "admin: {{listen: \"127.0.0.1:0\", token: {TOKEN}}}\n\
         routes:\n  - path: /orders/*\n    upstream: {{type: static, body: file}}\n"
    );
    gw.rewrite_config(&clashing);
    let refused = admin(&gw, "POST", "/admin/reload", Value::Null);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("apis[\\\"orders\\\"].path_prefix"),
        "{}",
        refused.text()
    );
    assert_eq!(gw.get("/orders/1").text(), "from-backend");

    // A start with that file stops with a message naming the document and the database.
    gw.kill9();
    let err = refused_start(gw.config_path());
    assert!(
        err.contains(
            "apis[\"orders\"].path_prefix: path /orders/* clashes with the config file's routes[0]"
        ) && err.contains("sluice-data/sluice.db"),
        "{err}"
    );
}

#[test]
fn a_data_dir_that_cannot_be_created_stops_the_start() {
    let dir = TempDir::new();
    dir.write("blocker", "a file where the data folder should be");
    let config = dir.write(
        "sluice.yaml",
        &format!(
            "name: t\nlisten: [\"127.0.0.1:0\"]\n\
             admin: {{listen: \"127.0.0.1:0\", token: {TOKEN}, data_dir: blocker/data}}\n\
             routes:\n  - path: /\n    upstream: {{type: static}}\n"
        ),
    );
    let err = refused_start(&config);
    assert!(
        err.contains("admin.data_dir: cannot create") && err.contains("blocker/data"),
        "{err}"
    );
}

/// A control plane written in Python (`requests`): it syncs an API, its policies and a
/// consumer, reads them back, and checks what the gateway then enforces.
const PYTHON_CONTROL_PLANE: &str = r#"
import sys
import requests

admin, gateway, backend, token = sys.argv[1:5]
cp = requests.Session()
cp.headers["Authorization"] = f"Bearer {token}"

api = {"id": "inventory", "name": "Inventory", "tenant_id": "acme",
       "path_prefix": "/inventory", "backend_url": backend, "methods": ["GET"],
       "spec_hash": "sha-1", "activated": True}
policies = [
    {"id": "inv-auth", "policy_type": "api-key-auth", "config": {}, "api_id": "inventory"},
    {"id": "inv-limit", "policy_type": "rate_limit",
     "config": {"maxRequests": 2, "intervalSeconds": 60}, "api_id": "inventory"},
]
consumer = {"id": "shop", "api_keys": ["shop-key-0123456789"], "roles": ["shop"]}

def sync():
    codes = [cp.post(f"{admin}/admin/apis", json=api).status_code]
    codes.append(cp.post(f"{admin}/admin/consumers", json=consumer).status_code)
    codes += [cp.post(f"{admin}/admin/policies", json=p).status_code for p in policies]
    return codes

assert sync() == [201, 201, 201, 201], "first sync creates"
assert sync() == [200, 200, 200, 200], "a second sync of the same documents changes nothing"
assert cp.get(f"{admin}/admin/apis/inventory").json()["spec_hash"] == "sha-1"

client = requests.Session()
r = client.get(f"{gateway}/inventory/items")
assert r.status_code == 401, (r.status_code, r.text)
assert r.json()["error"] == "unauthorized", r.text
key = {"X-API-Key": "shop-key-0123456789"}
codes = [client.get(f"{gateway}/inventory/items", headers=key).status_code for _ in range(3)]
assert codes == [200, 200, 429], codes
r = client.post(f"{gateway}/inventory/items", headers=key)
assert r.status_code == 405, r.status_code

bad = dict(policies[1], config={"maxRequests": -1, "intervalSeconds": 60})
r = cp.post(f"{admin}/admin/policies", json=bad)
assert r.status_code == 400 and r.json()["status"] == "error", (r.status_code, r.text)

assert cp.delete(f"{admin}/admin/apis/inventory").status_code == 204
assert client.get(f"{gateway}/inventory/items", headers=key).status_code == 404
assert cp.get(f"{admin}/admin/policies", params={"source": "admin"}).json() == []
print("OK")
"#;

#[test]
fn a_python_control_plane_syncs_and_the_gateway_enforces() {
    ensure_python_requests();
    let up = backend();
    let gw = gateway("");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            PYTHON_CONTROL_PLANE,
            &format!("http://{}", gw.admin_addr()),
            &gw.url(""),
            &format!("http://127.0.0.1:{}", up.port()),
            TOKEN,
        ])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "python control plane failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn admin_bodies_may_be_chunked_or_wait_for_100_continue_and_are_bounded() {
    use std::io::{Read, Write};
    let up = backend();
    let gw = gateway("");
    let addr = gw.admin_addr();
    let doc = api("chunky", "/chunky", &up).to_string();

    // Expect: 100-continue (what curl sends for bodies over 1 KiB): the interim answer
    // comes before the body is sent.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /admin/apis HTTP/1.1\r\nhost: a\r\nauthorization: Bearer {TOKEN}\r\n\
         expect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        doc.len()
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(doc.as_bytes()).unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 201 Created"), "{rest}");

    // A chunked body, in two chunks.
    let (a, b) = doc.split_at(doc.len() / 2);
    let mut c = Conn::connect(addr);
    c.send(
        format!(
            "POST /admin/apis HTTP/1.1\r\nhost: a\r\nauthorization: Bearer {TOKEN}\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
    let r = c.read_final("POST");
    assert_eq!(r.status, 200, "the same document again: {r}");

    // Over 1 MiB: 413, without reading it.
    let mut c = Conn::connect(addr);
    c.send(
        format!(
            "POST /admin/apis HTTP/1.1\r\nhost: a\r\nauthorization: Bearer {TOKEN}\r\n\
             content-length: {}\r\n\r\n",
            2 << 20
        )
        .as_bytes(),
    );
    assert_admin_error(&c.read_final("POST"), 413, "payload_too_large");
    assert_eq!(gw.get("/chunky/x").status, 200);
}

#[test]
fn put_state_replaces_everything_at_once_or_changes_nothing() {
    let up = backend();
    let mut gw = gateway("");
    assert_eq!(
        admin(&gw, "POST", "/admin/apis", api("old", "/old", &up)).status,
        201
    );
    let state = json!({
        "apis": [api("one", "/one", &up), api("two", "/two", &up)],
        "policies": [{"id": "two-rl", "policy_type": "rate_limit",
            "config": {"maxRequests": 1, "intervalSeconds": 60}, "api_id": "two"}],
        "consumers": [{"id": "svc", "api_keys": ["svc-key-0123456789abc"]}],
    });
    let put = admin(&gw, "PUT", "/admin/state", state.clone());
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(
        put.json(),
        json!({"status": "ok", "changed": true,
               "counts": {"apis": 2, "policies": 1, "consumers": 1}})
    );
    assert_eq!(
        gw.get("/old/x").status,
        404,
        "not in the new state: deleted"
    );
    assert_eq!(gw.get("/one/x").status, 200);
    assert_eq!(gw.get("/two/x").status, 200);
    assert_eq!(gw.get("/two/x").status, 429);
    let again = admin(&gw, "PUT", "/admin/state", state.clone());
    assert_eq!(again.json()["changed"], false, "{}", again.text());

    // One bad document refuses the whole state: nothing changes.
    let mut bad = state.clone();
    bad["apis"][1]["backend_url"] = json!("ftp://nope");
    bad["policies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "x",
        "policy_type": "cors", "api_id": "missing"}));
    let refused = admin(&gw, "PUT", "/admin/state", bad);
    assert_eq!(refused.status, 400, "{}", refused.text());
    let errors = refused.json()["errors"].to_string();
    assert!(errors.contains("apis[\\\"two\\\"].backend_url"), "{errors}");
    assert!(
        errors.contains("no API with id \\\"missing\\\""),
        "{errors}"
    );
    let mut twice = state.clone();
    twice["apis"]
        .as_array_mut()
        .unwrap()
        .push(api("one", "/other", &up));
    let refused = admin(&gw, "PUT", "/admin/state", twice);
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("appears more than once"),
        "{}",
        refused.text()
    );
    assert_eq!(gw.get("/one/x").status, 200);

    // GET /admin/state shows it, keys as digests; it survives a restart.
    let shown = admin(&gw, "GET", "/admin/state", Value::Null).json();
    assert_eq!(shown["apis"].as_array().map(Vec::len), Some(2), "{shown}");
    assert!(shown["consumers"][0]["api_keys"][0]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    gw.restart();
    assert_eq!(admin(&gw, "GET", "/admin/state", Value::Null).json(), shown);
    assert_eq!(gw.get("/old/x").status, 404);
    assert_eq!(gw.get("/one/x").status, 200);

    // An empty state removes everything.
    let cleared = admin(&gw, "PUT", "/admin/state", json!({}));
    assert_eq!(cleared.json()["counts"]["apis"], 0);
    assert_eq!(gw.get("/one/x").status, 404);
}
